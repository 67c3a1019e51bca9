"""Options and helpers shared by the subcommands."""
from __future__ import annotations

import sys

import click

from engine.run import RunOptions

json_option = click.option("--json", "as_json", is_flag=True, help="Print results (and errors) as JSON.")
wait_option = click.option("--wait", is_flag=True,
                           help="When another run is writing the --out folder, wait for it instead of refusing.")


def read_options(f):
    """The options that say how to read a contract export (defaults: environment, points.toml, built-in)."""
    f = click.option("--sheet", help="XLSX: the sheet to read (default: the first).")(f)
    f = click.option("--encoding", help="Text encoding of CSV / JSON Lines (e.g. cp1252 for old Excel exports; "
                     "default: utf-8).")(f)
    f = click.option("--delimiter", type=click.Choice([",", ";", "tab"]),
                     help="CSV delimiter (default: detected from the header line).")(f)
    f = click.option("--decimal-comma/--no-decimal-comma", default=None,
                     help="Decimals are written 2,5 (German exports).")(f)
    return f


def output_options(f):
    """The options that say how `evaluate` writes its folder."""
    f = click.option("--carry", multiple=True, metavar="COLUMN",
                     help="Carry this export column into contracts.csv and partners.csv (repeatable).")(f)
    f = click.option("--output-format", type=click.Choice(["csv", "xlsx"]),
                     help="csv files (default) or one xlsx workbook per table.")(f)
    f = click.option("--output-dialect", type=click.Choice(["csv", "excel-de"]),
                     help="csv: `,` and `.` (default); excel-de: `;`, decimal comma, UTF-8 BOM.")(f)
    return f


def settings(**flags):
    """Every setting's effective value and source: `flags` (setting key -> the value given on the
    command line, None when not given) over the environment, points.toml and the defaults."""
    from engine.project import load, resolve

    project = load()
    return project, resolve(project, flags)


def run_options(decimal_comma: bool | None = None, delimiter: str | None = None, encoding: str | None = None,
                sheet: str | None = None, *, effective=None, **extra) -> RunOptions:
    """RunOptions from the read options, each flag not given taken from the environment, points.toml
    or the default; `effective` is a (project, settings) pair already resolved with these flags."""
    if effective is None:
        effective = settings(**{"input.decimal_comma": decimal_comma, "input.delimiter": delimiter,
                                "input.encoding": encoding, "input.sheet": sheet})
    project, values = effective
    delimiter = values["input.delimiter"].value
    return RunOptions(decimal_comma=values["input.decimal_comma"].value,
                      delimiter="\t" if delimiter == "tab" else delimiter,
                      encoding=values["input.encoding"].value, sheet=values["input.sheet"].value,
                      memory=values["memory"].value, project=project.describe(), **extra)


class Progress:
    """A progress bar on stderr for long inputs, shown only on a terminal.

    The runner reports rows; the open source (handed over through RunOptions.on_source) says how
    much of the file has been read, which makes the bar. Without it (a source that cannot tell) the bar
    is a spinner with the row count.
    """

    def __init__(self, label: str, enabled: bool):
        from engine.terminal import markup

        self.enabled = enabled and sys.stderr.isatty()
        self.label = markup(label)  # the description column reads markup; a file name is data
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
                                          TimeElapsedColumn(), console=Console(stderr=True, emoji=False),
                                          transient=True)
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
    """The console for results.

    Markup in strings is the project's own styling only: a value from a file reaches it through
    engine.terminal (`markup()` inside a markup string, `text()` / `cells()` for tables and trees).
    On a terminal rich measures it. Piped, the width is `COLUMNS` when set (as `ls` and git do),
    else 200 so that output is never cropped, and lines carry no trailing spaces (rich pads table
    titles and cells to the table's width).
    """
    import os

    from rich.console import Console

    class ResultConsole(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1 (our code for findings): let engine.cli end quietly
            raise BrokenPipeError

    if sys.stdout.isatty():
        return ResultConsole(highlight=False, emoji=False)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and 20 <= int(columns) <= 10_000 else 200
    return ResultConsole(highlight=False, emoji=False, width=width, file=_TrailingSpaceless(sys.stdout))


class _TrailingSpaceless:
    """A text stream that drops the spaces before each line end; what is left of a line waits."""

    def __init__(self, stream):
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:  # a line rich has not ended yet: kept as written
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._stream.fileno()


def format_option(formats: tuple[str, ...]):
    """`--format`: text (default), json (the same as --json), or the CI formats `formats` names."""
    return click.option("--format", "output_format", type=click.Choice(("text", "json", *formats)),
                        default="text", show_default=True,
                        help="How to print results: " + ", ".join(("text", "json", *formats))
                        + " (github: workflow annotations; sarif: SARIF 2.1.0; junit: JUnit XML).")


def read_stdin(name: str) -> str:
    """A ruleset read from standard input, as UTF-8 (a BOM is dropped)."""
    from engine.cli import Failure

    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise Failure(f"{name}: standard input is not UTF-8 text (byte {err.start + 1})") from None


def program_and_data(many: bool, optional: bool = False):
    """The `[PROGRAM] DATA` arguments of a command that reads a program and an export.

    PROGRAM may be left out when points.toml or POINTS_PROGRAM names the program (the first argument
    is then PROGRAM only when it is a folder, a .rules file or `folder@version`, as for `evaluate`).
    The command is called with `program` and `data` (a tuple when `many`, else one path); with
    `optional`, both are None when no argument is given (the command then needs none, or says so).
    """
    import functools

    def decorate(command):
        @functools.wraps(command)
        def with_program(arguments, **kwargs):
            from engine.commands.evaluate import split_program

            configured = settings()[1]["program"].value
            if optional and not arguments:
                return command(program=None, data=None, **kwargs)
            given, data = split_program(arguments, configured is not None)
            if not many and len(data) != 1:
                raise click.UsageError(f"give one DATA file after PROGRAM, not {len(data)}")
            return command(program=given or configured, data=tuple(data) if many else data[0], **kwargs)

        metavar = "[PROGRAM] DATA..." if many else "[PROGRAM] DATA"
        return click.argument("arguments", metavar=metavar, type=click.Path(), nargs=-1,
                              required=not optional)(with_program)

    return decorate
