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
    """A progress bar on stderr for long inputs, shown only on a terminal.

    The runner reports rows; the open source (handed over through RunOptions.on_source) says how
    much of the file has been read, which makes the bar. Without it (a split run's ranges) the bar
    is a spinner with the row count.
    """

    def __init__(self, label: str, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.source = None
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn, Progress as RichProgress, SpinnerColumn, TaskProgressColumn, TextColumn,
                TimeElapsedColumn,
            )

            self._progress = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                          TaskProgressColumn(), TextColumn("{task.fields[rows]:,} rows"),
                                          TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None, rows=0)
        return self

    def attach(self, source) -> None:
        """The source being read: its fraction_read() drives the bar."""
        self.source = source

    def update(self, rows: int) -> None:
        if self._progress is None:
            return
        fraction = self.source.fraction_read() if self.source is not None else None
        if fraction is None:
            self._progress.update(self._task, rows=rows)
        else:
            self._progress.update(self._task, total=1000, completed=int(fraction * 1000), rows=rows)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
        return False


def out_console():
    """The console for results: wide when not a terminal, so piped output is never cropped."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)
