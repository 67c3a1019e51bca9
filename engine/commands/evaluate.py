"""`points evaluate`: score a contract export and summarise it."""
from __future__ import annotations

import click

from engine.cli import FINDINGS, OK, emit_json, load
from engine.commands.common import out_console, Progress, json_option, read_options, run_options, wait_option
from engine.numbers import fmt_grouped
from engine.run import evaluate as run_evaluate, manifest

EXAMPLES = """
\b
Examples:
  points evaluate rulesets/o2-business examples/contracts.csv --out out/demo
  points evaluate rulesets/o2-business export.csv --decimal-comma --delimiter ';'
  points evaluate rulesets/o2-business/2016-03.rules contracts.jsonl --json
\b
In OUT: contracts.csv (one line per scored or unscored row), rejects.csv (row, field, reason),
partners.csv (points and tier per partner and period), partner_rules.csv (points per rule),
manifest.json (versions and sha256, input sha256, engine version, counts).
"""


@click.command(epilog=EXAMPLES)
@click.argument("program", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write result files into this folder.")
@click.option("--strict", is_flag=True, help="Exit 1 when any row is rejected.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes for a CSV of 20 MiB or more (opt-in: 2 or more split it at line ends).")
@wait_option
@read_options
@json_option
def evaluate(program, data, out_dir, strict, workers, wait, as_json, **read):
    """Score every contract in DATA by the version of PROGRAM in force on its signed date.

    PROGRAM is a folder of versions or one ruleset file; DATA a CSV, JSON Lines or XLSX export.
    Every row ends scored, unscored (with a reason) or rejected (with its row number and field).
    """
    prog = load(program, as_json)
    with Progress(f"scoring {data}", not as_json) as progress:
        options = run_options(progress=progress.update, on_source=progress.attach, workers=workers, wait=wait,
                              **read)
        result = run_evaluate(prog, data, options, out_dir=out_dir)
    if as_json:
        emit_json(manifest(result, options) | {"out": out_dir})
    else:
        print_summary(result, out_dir)
    return FINDINGS if strict and result.counts.rejected else OK


def print_summary(result, out_dir) -> None:
    """Counts by status, unscored reasons, rejects by field, partners by tier, points by period."""
    from rich.table import Table

    from engine.terminal import markup

    console = out_console()
    c = result.counts
    console.print(f"[bold]{markup(result.program.name)}[/] — {markup(result.data)}")
    t = Table(title="Rows", title_justify="left")
    for col in ("rows", "scored", "unscored", "rejected"):
        t.add_column(col, justify="right")
    t.add_row(*(f"{n:,}" for n in (c.rows, c.scored, c.unscored, c.rejected)))
    console.print(t)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {markup(note)}")
    if not c.reconciles:  # cannot happen; shown loudly if it ever does
        console.print("[bold red]rows do not reconcile[/]")
    _reasons(console, "Unscored, by reason", c.unscored_reasons)
    _reasons(console, "Rejected, by field", c.rejected_fields)
    _tiers(console, result)
    if out_dir:
        console.print(f"Results in {markup(out_dir)}/ (contracts.csv, rejects.csv, partners.csv, partner_rules.csv, manifest.json)")


def _reasons(console, title: str, counter) -> None:
    from rich.table import Table

    from engine.terminal import text

    if not counter:
        return
    t = Table(title=title, title_justify="left")
    t.add_column("reason" if "reason" in title else "field")
    t.add_column("rows", justify="right")
    for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add_row(text(key), f"{n:,}")
    console.print(t)


def _tiers(console, result) -> None:
    from rich.table import Table

    from engine.terminal import text

    periods = sorted({p.period for p in result.partners})
    if not periods:
        return
    tiers = _tier_order(result)
    t = Table(title="Partners by tier", title_justify="left")
    t.add_column("period")
    for name in tiers:
        t.add_column(text(name), justify="right")
    t.add_column("points", justify="right")
    for period in periods:
        rows = [p for p in result.partners if p.period == period]
        counts = [sum(1 for p in rows if p.tier == name) for name in tiers]
        t.add_row(text(period), *(str(n) for n in counts), fmt_grouped(sum((p.points for p in rows), start=0)))
    console.print(t)


def _tier_order(result) -> list[str]:
    names: list[str] = []
    for v in result.program.versions:
        for spec in v.plan.tiers:
            if spec.name not in names:
                names.append(spec.name)
    return names


def register(cli) -> None:
    cli.add_command(evaluate)
