"""Options and helpers shared by the subcommands."""
from __future__ import annotations

import sys

import click

from engine.run import RunOptions

json_option = click.option("--json", "as_json", is_flag=True, help="Print results (and errors) as JSON.")


def read_options(f):
    """The options that say how to read a contract export."""
    f = click.option("--sheet", help="XLSX: the sheet to read (default: the first).")(f)
    f = click.option("--encoding", default="utf-8", show_default=True,
                     help="Text encoding of CSV / JSON Lines (e.g. cp1252 for old Excel exports).")(f)
    f = click.option("--delimiter", type=click.Choice([",", ";", "tab"]),
                     help="CSV delimiter (default: detected from the header line).")(f)
    f = click.option("--decimal-comma", is_flag=True, help="Decimals are written 2,5 (German exports).")(f)
    return f


def run_options(decimal_comma: bool, delimiter: str | None, encoding: str, sheet: str | None, **extra) -> RunOptions:
    """RunOptions from the read options."""
    return RunOptions(decimal_comma=decimal_comma, delimiter="\t" if delimiter == "tab" else delimiter,
                      encoding=encoding, sheet=sheet, **extra)


class Progress:
    """A progress line on stderr for long inputs, shown only on a terminal."""

    def __init__(self, label: str, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                                          TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                                          console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None)
        return self

    def update(self, rows: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=rows)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
        return False


def out_console():
    """The console for results: wide when not a terminal, so piped output is never cropped."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)
