"""The `points` command: a thin layer over the Python API.

`main(argv) -> int` runs one command and returns its exit code; it never lets a traceback reach
a person. Exit codes (named below): 0 success, 1 findings (failed examples, findings of `check`,
differences of `diff`, rejected rows under `--strict`), 2 usage or input errors (an unreadable
ruleset or export, a bad option). Results go to stdout (JSON with `--json`); errors to stderr
(JSON with `--json` too, so a script always gets JSON).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dsl.errors import RulesetError, render_all

OK, FINDINGS, USAGE = 0, 1, 2


class Failure(Exception):
    """A problem with the user's input, already phrased for a person."""

    def __init__(self, message: str, code: int = USAGE):
        super().__init__(message)
        self.code = code


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def tolerant_streams() -> None:
    """stdout and stderr never fail on a character their encoding lacks (an ascii or latin-1 terminal,
    LANG=C): such a character is written as a backslash escape (\\u2014) instead."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) not in ("strict", "surrogateescape"):
            continue
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a text stream of io, or already closed
            pass


def emit_json(data) -> None:
    """Deterministic JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def show_diagnostics(diags, sources: dict[str, str], as_json: bool) -> None:
    """Findings on stderr: rendered with source and caret, or as JSON."""
    if as_json:
        click.echo(json.dumps({"findings": [d.to_json() for d in diags]}, indent=2, ensure_ascii=False), err=True)
        return
    from engine.terminal import visible_lines

    text = visible_lines(render_all(diags, sources))
    try:
        from dsl.highlight import highlight_diagnostics

        text = highlight_diagnostics(text, sys.stderr.isatty())
    except ImportError:
        pass
    click.echo(text, err=True)


def load(path: str, as_json: bool = False):
    """The program at `path`, or a Failure carrying its rendered findings."""
    from engine.program import load_program

    try:
        program = load_program(path)
    except RulesetError as err:
        show_diagnostics(err.diagnostics, err.sources, as_json)
        raise Failure(f"{path}: the ruleset cannot be used until the errors above are fixed", USAGE) from None
    if program.warnings and not as_json:  # a usable ruleset that probably does not mean what it says
        show_diagnostics(program.warnings, program.sources, False)
    if _ONE_COMMAND:
        # The process lives as long as its program: out of the collector's sight, the program's tree
        # (some 50,000 objects for a 5,000-row table) is not walked again by every collection the
        # command's own allocations trigger (0.1 - 0.3 s of a 5,000-product run's start-up).
        # Reference counting still frees what is dropped.
        import gc

        gc.freeze()
    return program


class _PipeClosed(Exception):
    """stdout's reader went away; raised past click, which would otherwise exit 1 (the code for findings)."""


class _Points(click.Group):
    """The `points` group: a command's module imported when it is asked for (engine.commands)."""

    def get_command(self, ctx, name):
        if name not in self.commands:
            from engine.commands import register_command

            register_command(self, name)
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        from engine.commands import register_all

        register_all(self)
        return super().list_commands(ctx)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as err:
            raise _PipeClosed() from err


@click.group(cls=_Points, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="partner-points", prog_name="points")
def cli() -> None:
    """Partner Points: score channel-partner contracts by versioned rulesets and explain every point.

    \b
    A five-minute tour:
      points check rulesets/o2-business
      points evaluate rulesets/o2-business examples/contracts.csv --out out/demo
      points explain rulesets/o2-business examples/contracts.csv --contract C-000123
      points explain rulesets/o2-business examples/contracts.csv --partner P-007 --period 2016
      points diff rulesets/o2-business/2016-03.rules rulesets/o2-business/2017-01.rules
    """


def main(argv: list[str] | None = None) -> int:
    """Run one `points` command; returns the exit code and never raises."""
    args = list(sys.argv[1:] if argv is None else argv)
    tolerant_streams()
    as_json = "--json" in args
    try:
        result = cli.main(args=args, prog_name="points", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.format_message() if hasattr(err, "format_message") else str(err), err=True)
        return USAGE
    except click.UsageError as err:
        _error(f"{err.format_message()}\n(see `points {_command(args)} --help`)", as_json)
        return USAGE
    except click.exceptions.Abort:
        _error("aborted", as_json)
        return USAGE
    except click.exceptions.Exit as ex:
        return ex.exit_code
    except Failure as f:
        _error(str(f), as_json)
        return f.code
    except _input_errors() as err:
        _error(str(err), as_json)
        return USAGE
    except BrokenPipeError:
        return _closed_pipe()
    except _PipeClosed:
        return _closed_pipe()
    except KeyboardInterrupt:
        _error("interrupted", as_json)
        return USAGE
    except Exception as err:  # a bug: say so plainly, without a traceback, and how to report it
        _error(f"internal error ({type(err).__name__}: {err}); please report this with the command you ran",
               as_json)
        return 3
    return result if isinstance(result, int) else OK


def _command(args: list[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _input_errors() -> tuple[type[BaseException], ...]:
    from engine.project import ProjectError
    from engine.readers import InputError

    return (InputError, ProjectError, OSError, UnicodeError)


def _error(message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": message}, ensure_ascii=False), err=True)
    else:
        from rich.markup import escape

        from engine.terminal import visible_lines

        _stderr_console().print(f"[bold red]error:[/] {escape(visible_lines(message))}")


def _closed_pipe() -> int:
    """The reader of stdout went away (`points ... | head`): end quietly, as `cat` would.

    What is still buffered for stdout goes to /dev/null, so that the flush at exit cannot fail
    again; the run's own work (an output folder) is complete or untouched either way.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return OK


# True in the console script, a process for one command; not where commands run in-process (tests).
_ONE_COMMAND = False


def entry() -> None:
    """The console script."""
    global _ONE_COMMAND
    _ONE_COMMAND = True
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _closed_pipe() if code == OK else code
    sys.exit(code)

