"""`points compile`: a program as readable SQL for DuckDB, Spark SQL or PostgreSQL."""
from __future__ import annotations

import re

import click

from engine.cli import OK, USAGE, Failure, load

EXAMPLES = """
\b
Examples:
  points compile rulesets/o2-business
  points compile rulesets/o2-business --dialect spark > o2.sql
  points compile rulesets/o2-business --dialect postgres | psql -d warehouse
\b
The script reads a table `contracts` (a text column per input field and `row`, the row number)
and creates temporary tables: outcome (per contract), rejected, partner_tiers and partner_rules.
Exit codes: 0 printed, 2 a program the SQL compiler cannot take (the message says why) or
unreadable input.
"""


@click.command(epilog=EXAMPLES)
@click.argument("program", type=click.Path(), required=False)
@click.option("--dialect", type=click.Choice(["duckdb", "spark", "postgres"]), default="duckdb", show_default=True,
              help="The SQL dialect to write.")
def compile_command(program, dialect):
    """Print PROGRAM compiled to SQL, one commented table per stage (validation, version choice,
    lookups, rules, totals, tiers), for running it inside a warehouse. See docs/sql.md.
    """
    from engine.commands.common import settings
    from engine.sql.compiler import NotCompiled
    from engine.sql.dialects import DIALECTS
    from engine.sql.script import program_script, render

    if program is None:
        program = settings()[1]["program"].value
        if program is None:
            raise click.UsageError("give PROGRAM (or name it in points.toml or POINTS_PROGRAM)")
    loaded = load(program)
    d = DIALECTS[dialect]
    try:
        script = program_script(loaded, d)
    except NotCompiled as err:
        raise Failure(f"{located(loaded, str(err))}: cannot be compiled to {dialect} SQL: {unlocated(str(err))}",
                      USAGE) from None
    click.echo(render(script, d, program), nl=False)
    return OK


_AT = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<rest>.*)$", re.S)


def unlocated(reason: str) -> str:
    m = _AT.match(reason)
    return m.group("rest") if m else reason


def located(program, reason: str) -> str:
    """file:line:column of what the reason is about: the place it names (at its first word), else the
    input block (or the first line of the newest version's file)."""
    m = _AT.match(reason)
    if m:
        file, line = m.group("file"), int(m.group("line"))
        source = program.sources.get(file, "")
        lines = source.splitlines()
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        column = len(text) - len(text.lstrip()) + 1
        return f"{file}:{line}:{column}"
    newest = program.versions[-1]
    block = newest.ruleset.input("contract")
    if block is not None:
        return f"{block.span.file}:{block.span.line}:{block.span.column}"
    return f"{newest.path}:1:1"


def register(cli) -> None:
    cli.add_command(compile_command, name="compile")
