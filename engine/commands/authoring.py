"""`points fmt` and `points test`: the tools for editing rulesets."""
from __future__ import annotations

import difflib
from pathlib import Path

import click

from dsl.errors import RulesetError
from engine.cli import FINDINGS, OK, USAGE, Failure, emit_json, load, show_diagnostics
from engine.commands.common import out_console, json_option
from engine.terminal import markup, visible_lines

FMT_EXAMPLES = """
\b
Examples:
  points fmt rulesets/o2-business/2018-01.rules
  points fmt --check rulesets/o2-business
\b
Exit codes: 0 formatted (or already canonical), 1 with --check when a file would change, 2 a file does not parse.
"""


@click.command(epilog=FMT_EXAMPLES)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; show what would change and exit 1 if anything would.")
def fmt(paths, check_only):
    """Rewrite ruleset files in the one canonical layout, keeping comments."""
    from dsl.formatter import format_ruleset
    from dsl.parser import parse_file

    from engine.program import display_path, ruleset_files

    files = [f for p in paths for f in _existing(p, ruleset_files)]
    if not files:
        raise Failure(f"{', '.join(paths)}: no .rules files to format")
    changed, broken = [], 0
    for f in files:
        shown = display_path(f)
        try:
            ruleset = parse_file(shown)  # unreadable, binary or non-UTF-8 files are P130 findings
        except RulesetError as err:
            show_diagnostics(err.diagnostics, err.sources, False)
            broken += 1
            continue
        text = f.read_text(encoding="utf-8")
        formatted = format_ruleset(ruleset)
        if formatted == text:
            continue
        changed.append(shown)
        if check_only:
            diff = difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                        f"{shown} (as is)", f"{shown} (formatted)")
            click.echo(visible_lines("".join(diff)), nl=False)
        else:
            f.write_text(formatted, encoding="utf-8")
    verb = "would reformat" if check_only else "reformatted"
    click.echo(f"{len(files)} file(s): {verb} {len(changed)}" + (f", {broken} with errors" if broken else ""), err=True)
    if broken:
        return USAGE
    return FINDINGS if check_only and changed else OK


def _existing(path: str, ruleset_files) -> list[Path]:
    """The `.rules` files at `path`: the file itself, or every one below the folder."""
    p = Path(path)
    if not p.exists():
        raise Failure(f"{path}: no such file or folder")
    return sorted(p.rglob("*.rules")) if p.is_dir() else ruleset_files(p)


TEST_EXAMPLES = """
\b
Examples:
  points test rulesets/o2-business
  points test rulesets/o2-business/2016-03.rules --verbose
"""


@click.command(name="test", epilog=TEST_EXAMPLES)
@click.argument("program", type=click.Path())
@click.option("--verbose", "-v", is_flag=True, help="List passing examples too.")
@json_option
def test_cmd(program, verbose, as_json):
    """Run the `example` blocks of every version as tests; a failure shows expected, actual and the trace."""
    from engine.examples import run_all
    from engine.explain import contract_json, contract_tree

    prog = load(program, as_json)
    runs = run_all(prog)
    failed = [r for r in runs if not r.passed]
    if as_json:
        emit_json({"passed": len(runs) - len(failed), "failed": len(failed), "examples": [
            {"version": r.version.name, "example": r.example.name, "at": r.where, "passed": r.passed,
             "failures": r.failures, "points": str(r.points), "tier": r.tier,
             "contracts": [contract_json(t, prog.sources, "full") for t in r.traced] if not r.passed else []}
            for r in runs]})
        return FINDINGS if failed else OK
    console = out_console()
    for r in runs:
        if r.passed:
            if verbose:
                console.print(f"[green]pass[/] {markup(r.version.name)}: {markup(r.example.name)}  [dim]{markup(r.where)}[/]")
            continue
        console.print(f"[bold red]FAIL[/] {markup(r.version.name)}: {markup(r.example.name)}  [dim]{markup(r.where)}[/]")
        for line in r.failures:
            console.print(f"  {visible_lines(line)}", markup=False)
        for t in r.traced:
            console.print(contract_tree(t, prog.sources, "full"))
    console.print(f"{len(runs) - len(failed)} passed, {len(failed)} failed")
    return FINDINGS if failed else OK


def register(cli) -> None:
    cli.add_command(fmt)
    cli.add_command(test_cmd)
