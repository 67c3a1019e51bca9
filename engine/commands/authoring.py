"""`points fmt` and `points test`: the tools for editing rulesets."""
from __future__ import annotations

import difflib
from pathlib import Path

import click

from dsl.errors import RulesetError
from engine.cli import FINDINGS, OK, USAGE, Failure, emit_json, load, show_diagnostics
from engine.commands.common import format_option, json_option, out_console
from engine.terminal import markup, visible_lines

FMT_EXAMPLES = """
\b
Examples:
  points fmt rulesets/o2-business/2018-01.rules
  points fmt --check rulesets/o2-business
  points fmt --diff rulesets/o2-business                  # show what would change, change nothing
  cat draft.rules | points fmt - > formatted.rules         # editors: standard input to standard output
\b
Exit codes: 0 formatted (or already canonical), 1 with --check when a file would change, 2 a file does not parse.
"""


@click.command(epilog=FMT_EXAMPLES)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; show what would change and exit 1 if anything would.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print what would change as a unified diff.")
@click.option("--stdin-filename", default="<stdin>", show_default=True, help="With `-`: the name to show in findings.")
@json_option
def fmt(paths, check_only, show_diff, stdin_filename, as_json):
    """Rewrite ruleset files in the one canonical layout, keeping comments.

    `-` reads one ruleset from standard input and prints it formatted on standard output.
    """
    from dsl.formatter import format_ruleset
    from dsl.parser import parse, parse_file

    from engine.program import display_path, ruleset_files

    if "-" in paths:
        if len(paths) > 1:
            raise Failure("`-` (standard input) cannot be mixed with files")
        from engine.commands.common import read_stdin

        text = read_stdin(stdin_filename)
        try:
            formatted = format_ruleset(parse(text, file=stdin_filename))
        except RulesetError as err:
            show_diagnostics(err.diagnostics, err.sources, as_json)
            return USAGE
        if as_json:
            emit_json({"files": [{"file": stdin_filename, "changed": formatted != text, "errors": 0,
                                  "formatted": formatted}]})
        elif show_diff or check_only:
            click.echo(visible_lines(_unified(text, formatted, stdin_filename)), nl=False)
        else:
            click.echo(formatted, nl=False)
        return FINDINGS if check_only and formatted != text else OK
    files = [f for p in paths for f in _existing(p, ruleset_files)]
    if not files:
        raise Failure(f"{', '.join(paths)}: no .rules files to format")
    write = not (check_only or show_diff)
    changed, broken, report = [], 0, []
    for f in files:
        shown = display_path(f)
        try:
            ruleset = parse_file(shown)  # unreadable, binary or non-UTF-8 files are P130 findings
        except RulesetError as err:
            show_diagnostics(err.diagnostics, err.sources, as_json)
            broken += 1
            report.append({"file": shown, "changed": False, "errors": len(err.diagnostics)})
            continue
        text = f.read_text(encoding="utf-8")
        formatted = format_ruleset(ruleset)
        report.append({"file": shown, "changed": formatted != text, "errors": 0})
        if formatted == text:
            continue
        changed.append(shown)
        if write:
            f.write_text(formatted, encoding="utf-8")
        elif not as_json:
            click.echo(visible_lines(_unified(text, formatted, shown)), nl=False)
    if as_json:
        emit_json({"files": report, "changed": len(changed), "with_errors": broken, "written": write})
    else:
        verb = "reformatted" if write else "would reformat"
        click.echo(f"{len(files)} file(s): {verb} {len(changed)}" + (f", {broken} with errors" if broken else ""),
                   err=True)
    if broken:
        return USAGE
    return FINDINGS if check_only and changed else OK


def _unified(text: str, formatted: str, shown: str) -> str:
    return "".join(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                        f"{shown} (as is)", f"{shown} (formatted)"))


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
  points test rulesets/o2-business --run "pool"              # the examples whose name contains "pool"
  points test rulesets/o2-business --format junit > examples.xml
\b
Exit codes: 0 every example passed, 1 an example failed, 2 the ruleset has errors or --run matches nothing.
"""


@click.command(name="test", epilog=TEST_EXAMPLES)
@click.argument("program", type=click.Path())
@click.option("--verbose", "-v", is_flag=True, help="List passing examples too.")
@click.option("--run", "pattern", metavar="PATTERN",
              help="Run only the examples whose name contains PATTERN (ignoring case), or matches it as a glob "
                   "(`*`, `?`); `VERSION:PATTERN` limits it to one version.")
@json_option
@format_option(("github", "sarif", "junit"))
def test_cmd(program, verbose, pattern, as_json, output_format):
    """Run the `example` blocks of every version as tests; a failure shows expected, actual and the trace."""
    from engine.examples import run_all
    from engine.explain import contract_json, contract_tree

    as_json = as_json or output_format == "json"
    prog = load(program, as_json)
    runs = run_all(prog, _selector(prog, pattern) if pattern else None)
    failed = [r for r in runs if not r.passed]
    code = FINDINGS if failed else OK
    if output_format in ("github", "sarif", "junit"):
        from engine.commands import ci_formats

        if output_format == "github":
            click.echo(ci_formats.github_examples(runs), nl=False)
        elif output_format == "sarif":
            click.echo(ci_formats.sarif_text(ci_formats.sarif_examples(runs)), nl=False)
        else:
            click.echo(ci_formats.junit_examples(runs, prog.name), nl=False)
        return code
    if as_json:
        emit_json({"passed": len(runs) - len(failed), "failed": len(failed), "examples": [
            {"version": r.version.name, "example": r.example.name, "at": r.where, "passed": r.passed,
             "failures": r.failures, "points": str(r.points), "tier": r.tier,
             "contracts": [contract_json(t, prog.sources, "full") for t in r.traced] if not r.passed else [],
             "rejected": [{"contract": j.row, "field": j.field, "code": j.code, "reason": j.reason}
                          for j in r.rejected] if not r.passed else [],
             "statuses": r.statuses, "review": r.review if not r.passed else [],
             "quality": r.quality if not r.passed else []}
            for r in runs]})
        return code
    console = out_console()
    for r in runs:
        if r.passed:
            if verbose:
                console.print(f"[green]pass[/] {markup(r.version.name)}: {markup(r.example.name)}  [dim]{markup(r.where)}[/]")
            continue
        console.print(f"[bold red]FAIL[/] {markup(r.version.name)}: {markup(r.example.name)}  [dim]{markup(r.where)}[/]")
        for line in r.failures:
            console.print(f"  {visible_lines(line)}", markup=False)
        for line in r.notes:  # the review's chain and the quality KPIs, as `status` / `quality` say them
            console.print(f"    {visible_lines(line)}", markup=False)
        for t in r.traced:
            console.print(contract_tree(t, prog.sources, "full"))
    console.print(f"{len(runs) - len(failed)} passed, {len(failed)} failed")
    return code


def _selector(prog, pattern: str):
    """A test of (version, example) for `--run PATTERN`; a pattern that selects nothing is a usage error."""
    import fnmatch

    version_name, _, name_pattern = pattern.rpartition(":") if ":" in pattern else ("", "", pattern)
    if version_name and prog.version_named(version_name) is None:
        version_name, name_pattern = "", pattern  # a colon inside an example's name
    wanted = name_pattern.casefold()
    glob = any(c in wanted for c in "*?[")

    def selected(version, example) -> bool:
        if version_name and version.name != version_name:
            return False
        name = example.name.casefold()
        return fnmatch.fnmatchcase(name, wanted) if glob else wanted in name

    names = [(v, ex) for v in prog.versions for ex in v.ruleset.examples]
    if not any(selected(v, ex) for v, ex in names):
        from dsl.errors import did_you_mean

        guess = did_you_mean(name_pattern, [ex.name for _, ex in names])
        raise Failure(f"--run {pattern!r}: no example of {prog.name} matches"
                      + (f"; did you mean \"{guess}\"?" if guess else f" ({len(names)} examples)"))
    return selected


def register(cli) -> None:
    cli.add_command(fmt)
    cli.add_command(test_cmd)
