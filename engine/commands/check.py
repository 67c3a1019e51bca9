"""`points check`, `points versions`, `points show`, `points schema`: looking at rulesets."""
from __future__ import annotations

from pathlib import Path

import click

from dsl.errors import Diagnostic, RulesetError, sort_diagnostics
from engine.cli import FINDINGS, OK, USAGE, Failure, emit_json, load, show_diagnostics
from engine.commands.common import format_option, json_option, out_console, read_options, read_stdin, run_options
from engine.terminal import cells, text, visible, visible_lines

CHECK_EXAMPLES = """
\b
Examples:
  points check rulesets/o2-business
  points check draft.rules --strict
  points check rulesets/o2-business --data examples/contracts.csv
  points check rulesets/o2-business --format github     # annotations in a GitHub Actions log
  points check rulesets/o2-business --format sarif > points.sarif
  cat draft.rules | points check - --stdin-filename draft.rules
\b
Exit codes: 0 no errors (warnings are shown), 1 errors (or warnings with --strict), 2 unreadable input.
"""


@click.command(epilog=CHECK_EXAMPLES)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--strict", is_flag=True, help="Treat warnings as findings (exit 1).")
@click.option("--data", type=click.Path(), multiple=True,
              help="Also report products and customer types in DATA that no rule covers, and values read "
                   "leniently (repeat for several export files of one run).")
@read_options
@json_option
@format_option(("github", "sarif"))
@click.option("--stdin-filename", default="<stdin>", show_default=True,
              help="With `-`: the file name to show in findings.")
def check(paths, strict, data, as_json, output_format, stdin_filename, **read):
    """Check ruleset files or program folders: syntax, names, meaning, static analysis.

    All findings of all files are reported in one run, sorted by position. `-` reads one ruleset
    from standard input (for editors).
    """
    from engine.program import load_program

    as_json = as_json or output_format == "json"
    findings: list[Diagnostic] = []
    sources: dict[str, str] = {}
    programs = []
    for path in paths:
        if path == "-":
            program = _program_from_stdin(stdin_filename, findings, sources)
            if program is not None:
                programs.append(program)
            continue
        try:
            program = load_program(path)
        except RulesetError as err:
            findings += err.diagnostics
            sources |= err.sources
            continue
        programs.append(program)
        findings += program.warnings
        sources |= program.sources
    findings = sort_diagnostics(findings)
    coverage, lenient = _coverage(programs, data, read) if data and programs else ([], [])
    errors = [d for d in findings if d.is_error]
    if output_format == "github":
        from engine.commands.ci_formats import github_findings

        click.echo(github_findings(findings), nl=False)
    elif output_format == "sarif":
        from engine.commands.ci_formats import sarif_log, sarif_text

        click.echo(sarif_text(sarif_log(findings)), nl=False)
    elif as_json:
        emit_json({"findings": [d.to_json() for d in findings], "uncovered": coverage}
                  | ({"lenient": lenient} if data else {}))
    else:
        if findings:
            show_diagnostics(findings, sources, False)
        _print_coverage(coverage)
        for item in lenient:
            where = f" in {visible(item['file'])}" if "file" in item else ""
            click.echo(f"{visible(item['program'])}: lenient{where}: {visible(item['sentence'])}")
        n_err, n_warn = len(errors), len(findings) - len(errors)
        click.echo(f"{len(paths)} path(s) checked: {n_err} error(s), {n_warn} warning(s)"
                   + (f", {sum(c['rows'] for c in coverage)} row(s) not covered by any rule" if coverage else ""),
                   err=bool(findings))
    if any(d.code in UNREADABLE for d in errors):
        return USAGE  # a file that cannot be read at all is an input error, not a finding
    if errors or (strict and (findings or coverage)):
        return FINDINGS
    return OK


UNREADABLE = ("P130", "V401")


def _program_from_stdin(name: str, findings: list, sources: dict):
    """One ruleset read from standard input, loaded as a program of one version (or its findings)."""
    from engine.program import program_from_text

    text = read_stdin(name)
    try:
        program = program_from_text(text, name)
    except RulesetError as err:
        findings += err.diagnostics
        sources |= err.sources
        return None
    findings += program.warnings
    sources |= program.sources
    return program


def _coverage(programs, data: tuple[str, ...], read: dict) -> tuple[list[dict], list[dict]]:
    """Products (and customer types) in `data` (export files of one run) that no rule of the version
    in force covers, and the values accepted only through a lenient reading: of the run, then (with
    several files) of each file, an item with its `file`."""
    from engine.run import evaluate
    from engine.validate import lenient_sentence

    out, lenient = [], []
    for program in programs:
        result = evaluate(program, list(data), run_options(**read))
        for (kind, product, customer), rows in sorted(result.counts.uncovered.items()):
            out.append({"program": program.name, "reason": kind, "product": product, "customer": customer,
                        "rows": rows})
        files = [(None, result.counts)] + ([(f.file, f.counts) for f in result.files] if len(data) > 1 else [])
        for file, counts in files:
            for (name, reading), (n, examples) in sorted(counts.lenient.items()):
                lenient.append({"program": program.name, **({"file": file} if file else {}), "field": name,
                                "reading": reading, "count": n, "examples": list(examples),
                                "sentence": lenient_sentence(name, reading, n, examples)})
    return out, lenient


def _print_coverage(coverage: list[dict]) -> None:
    if not coverage:
        return
    from rich.table import Table

    t = Table(title="Rows no rule covers", title_justify="left")
    for col in ("reason", "product", "customer", "rows"):
        t.add_column(col, justify="right" if col == "rows" else "left")
    for c in coverage:
        t.add_row(*cells(c["reason"], c["product"], c["customer"]), f"{c['rows']:,}")
    out_console().print(t)


@click.command(epilog="\b\nExample:\n  points versions rulesets/o2-business")
@click.argument("program", type=click.Path())
@json_option
def versions(program, as_json):
    """List the versions of PROGRAM: name, in force from / until, file, sha256."""
    prog = load(program, as_json)
    rows = []
    for v in prog.versions:
        until = prog.until(v)
        rows.append(v.describe() | {"until": until.isoformat() if until else None})
    if as_json:
        emit_json({"program": prog.name, "versions": rows})
        return OK
    from rich.table import Table

    t = Table(title=text(prog.name), title_justify="left")
    for col in ("version", "in force from", "until", "file", "sha256"):
        t.add_column(col)
    for r in rows:
        t.add_row(*cells(r["version"], r["effective"], r["until"] or "(open)", r["file"], r["sha256"][:16]))
    out_console().print(t)
    return OK


@click.command(epilog="\b\nExamples:\n  points show rulesets/o2-business --version 2017.01\n  points show rulesets/o2-business --on 2016-07-01")
@click.argument("program", type=click.Path())
@click.option("--version", "version_name", help="The version to show (default: the newest).")
@click.option("--on", "on_date", help="Show the version in force on this date (YYYY-MM-DD).")
@json_option
def show(program, version_name, on_date, as_json):
    """Print the complete ruleset of one version of PROGRAM, in canonical layout."""
    import sys

    from dsl.formatter import format_ruleset
    from dsl.highlight import highlight

    prog = load(program, as_json)
    version = _pick_version(prog, version_name, on_date)
    if as_json:
        until = prog.until(version)
        emit_json(version.describe() | {"program": prog.name, "until": until.isoformat() if until else None,
                                        "text": format_ruleset(version.ruleset)})
        return OK
    click.echo(visible(f"# {version.path} (version {version.name}, sha256 {version.sha256[:16]})"))
    click.echo(highlight(visible_lines(format_ruleset(version.ruleset)), sys.stdout.isatty()), nl=False)
    return OK


def _pick_version(prog, version_name: str | None, on_date: str | None):
    from datetime import date

    if version_name:
        version = prog.version_named(version_name)
        if version is None:
            from dsl.errors import did_you_mean

            names = [v.name for v in prog.versions]
            guess = did_you_mean(version_name, names)
            raise Failure(f"no version \"{version_name}\" in {prog.name}"
                          + (f"; did you mean \"{guess}\"?" if guess else f"; versions: {', '.join(names)}"))
        return version
    if on_date:
        try:
            day = date.fromisoformat(on_date)
        except ValueError:
            raise Failure(f"--on: '{on_date}' is not a date like 2016-07-01") from None
        version = prog.version_for(day)
        if version is None:
            raise Failure(f"no version of {prog.name} is in force on {day}; the first starts {prog.first_day}")
        return version
    return prog.versions[-1]


@click.command(epilog="\b\nExample:\n  points schema rulesets/o2-business > contract.schema.json")
@click.argument("program", type=click.Path())
@click.option("--version", "version_name", help="The version (default: the newest).")
@click.option("--quality", is_flag=True, help="The schema of quality reports instead of contracts.")
@json_option
def schema(program, version_name, quality, as_json):
    """Print the JSON Schema generated from the ruleset's `input` block (always JSON; --json is accepted)."""
    from engine.schema import json_schema

    prog = load(program, as_json)
    version = _pick_version(prog, version_name, None)
    block = version.ruleset.input("quality" if quality else "contract")
    if block is None:
        raise Failure(f"{version.path}: no `input {'quality' if quality else 'contract'}` block", USAGE)
    emit_json(json_schema(block, title=f"{prog.name} {version.name}: {block.name}"))
    return OK


COMPLETION_EXAMPLES = """
\b
Examples:
  points completion bash > ~/.local/share/bash-completion/completions/points
  points completion zsh  > "${fpath[1]}/_points"
  points completion fish > ~/.config/fish/completions/points.fish
  eval "$(points completion bash)"        # for the current shell only
"""


@click.command(epilog=COMPLETION_EXAMPLES)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell):
    """Print the shell completion script for SHELL (commands, options, file names)."""
    from click.shell_completion import get_completion_class

    from engine.cli import cli

    script = get_completion_class(shell)(cli, {}, "points", "_POINTS_COMPLETE").source()
    click.echo(script, nl=not script.endswith("\n"))
    return OK


def register(cli) -> None:
    for command in (check, versions, show, schema, completion):
        cli.add_command(command)
