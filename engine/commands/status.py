"""`points status` (reviews, downgrades, legacy tiers, standing) and `points quality` (KPIs)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import click

from engine.cells import DictWriter
from engine.cli import OK, Failure, emit_json, load
from engine.commands.common import out_console, json_option, read_options, run_options
from engine.numbers import fmt_grouped, fmt_points

STATUS_EXAMPLES = """
\b
Examples:
  points status rulesets/o2-business examples/contracts.csv --legacy examples/legacy.csv
  points status rulesets/o2-business examples/contracts.csv --legacy examples/legacy.csv --as-of 2018-06-30
  points status rulesets/o2-business examples/contracts.csv --legacy examples/legacy.csv --out out/status --json
\b
Each row: a partner's status before the review, its points, the tier they earn, its status after,
and the rule that decided (with file:line). With --as-of inside a period, that period is current:
the standing shows the points so far and what is still needed to keep the tier and to reach the next.
"""


@click.command(epilog=STATUS_EXAMPLES)
@click.argument("program", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--legacy", type=click.Path(), help="Statuses partners enter with (CSV: partner_id,status).")
@click.option("--as-of", "as_of", help="Review up to this date (YYYY-MM-DD; default: the latest signed date in DATA); "
              "a period it falls inside is current and gets a standing instead of a review.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write status.csv and standing.csv here.")
@read_options
@json_option
def status(program, data, legacy, as_of, out_dir, as_json, **read):
    """Review every partner's status at the end of every period, under each period's policy."""
    from engine.status import StatusError
    from engine.statusrun import points_by_partner, read_legacy, status_report

    prog = load(program, as_json)
    day = _date(as_of, "--as-of") if as_of else None
    legacy_map = read_legacy(legacy) if legacy else {}
    points, last = points_by_partner(prog, data, run_options(**read))
    day = day or last  # by default the data's latest date: the period it falls in is current
    try:
        report = status_report(prog, points, legacy_map, day)
    except StatusError as err:
        raise Failure(f"{legacy or program}: {err}") from None
    rows = [_decision_row(d) for d in report.decisions]
    stand = [_standing_row(s, report.current) for s in report.standings]
    if out_dir:
        _write_csv(Path(out_dir) / "status.csv", rows)
        _write_csv(Path(out_dir) / "standing.csv", stand)
    if as_json:
        emit_json({"program": prog.name, "reviews": rows, "current_period": report.current, "standing": stand})
        return OK
    _print_status(prog, rows, stand, report.current)
    return OK


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Failure(f"{option}: '{text}' is not a date like 2016-06-30") from None


def _decision_row(d) -> dict:
    return {"partner_id": d.partner_id, "period": d.period, "status_before": d.status_before,
            "points": fmt_points(d.points), "earned": d.earned, "target": fmt_points(d.target),
            "status_after": d.status_after, "rule": d.rule, "origin": d.origin or "",
            "at": f"{d.span.file}:{d.span.line}" if d.span.line else ""}


def _standing_row(s, period) -> dict:
    return {"partner_id": s.partner_id, "period": period, "status": s.status, "points": fmt_points(s.points),
            "earned_so_far": s.earned, "target": fmt_points(s.target), "needed_to_keep": fmt_points(s.needed_to_keep),
            "next_tier": s.next_tier or "", "needed_for_next": fmt_points(s.needed_for_next) if s.needed_for_next is not None else ""}


HEADERS = {
    "status.csv": ["partner_id", "period", "status_before", "points", "earned", "target", "status_after", "rule",
                   "origin", "at"],
    "standing.csv": ["partner_id", "period", "status", "points", "earned_so_far", "target", "needed_to_keep",
                     "next_tier", "needed_for_next"],
    "kpis.csv": ["partner_id", "period", "kpi", "name", "reports", "count", "value", "direction", "threshold",
                 "flagged"],
    "findings.csv": ["partner_id", "kpi", "name", "first", "last", "periods", "source"],
    "quality_rejects.csv": ["row", "field", "reason"],
}


def _write_csv(path: Path, rows: list[dict]) -> None:
    """A CSV with its header even when there are no rows (a script reading it needs the columns)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = DictWriter(f, fieldnames=list(rows[0]) if rows else HEADERS[path.name])
        w.writeheader()
        w.writerows(rows)


def _print_status(prog, rows: list[dict], stand: list[dict], current: str | None) -> None:
    from rich.table import Table

    from engine.run import tier_version

    console = out_console()
    t = Table(title=f"{prog.name}: reviews", title_justify="left")
    for col in ("partner", "period", "before", "points", "earned", "after", "rule"):
        t.add_column(col, justify="right" if col == "points" else "left")
    for r in rows:
        version = tier_version(prog, r["period"])
        moved = _arrow(r["status_before"], r["status_after"], [t.name for t in version.plan.tiers] if version else [])
        t.add_row(r["partner_id"], r["period"], r["status_before"], fmt_grouped(_dec(r["points"])), r["earned"],
                  f"{r['status_after']}{moved}", f"{r['rule']} [dim]{r['at']}[/]")
    console.print(t)
    if stand:
        s = Table(title=f"Standing in {current} (so far)", title_justify="left")
        for col in ("partner", "status", "points", "to keep", "next tier", "to reach it"):
            s.add_column(col, justify="right" if col in ("points", "to keep", "to reach it") else "left")
        for r in stand:
            s.add_row(r["partner_id"], r["status"], fmt_grouped(_dec(r["points"])), fmt_grouped(_dec(r["needed_to_keep"])),
                      r["next_tier"], fmt_grouped(_dec(r["needed_for_next"])) if r["needed_for_next"] else "")
        console.print(s)


def _arrow(before: str, after: str, tiers: list[str]) -> str:
    """▲ or ▼ when the status moved, by the order of the period's tiers (lowest first)."""
    if before == after or before not in tiers or after not in tiers:
        return ""
    return " ▲" if tiers.index(after) > tiers.index(before) else " ▼"


def _dec(text: str) -> Decimal:
    return Decimal(text)


QUALITY_EXAMPLES = """
\b
Examples:
  points quality rulesets/o2-business examples/quality.csv
  points quality rulesets/o2-business examples/quality.csv --flagged --out out/quality
\b
Quality never changes points or tiers: it is reported beside them.
"""


@click.command(epilog=QUALITY_EXAMPLES)
@click.argument("program", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--flagged", is_flag=True, help="Show only flagged KPI values.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write kpis.csv, findings.csv, quality_rejects.csv here.")
@read_options
@json_option
def quality(program, data, flagged, out_dir, as_json, **read):
    """KPIs per partner and period from quality reports, their flags, and sustained findings."""
    from engine.statusrun import run_quality

    prog = load(program, as_json)
    run = run_quality(prog, data, run_options(**read))
    report = run.report
    rejects = [{"row": r, "field": f, "reason": why} for r, f, why in run.rejects]
    if out_dir:
        _write_csv(Path(out_dir) / "kpis.csv", report.rows())
        _write_csv(Path(out_dir) / "findings.csv", report.finding_rows())
        _write_csv(Path(out_dir) / "quality_rejects.csv", rejects)
    counts = {"rows": run.rows, "counted": report.records, "rejected": len(rejects)}
    if as_json:
        emit_json(report.to_json() | {"counts": counts, "rejects": rejects})
        return OK
    _print_quality(report, counts, rejects, flagged)
    return OK


def _print_quality(report, counts: dict, rejects: list[dict], flagged: bool) -> None:
    from rich.table import Table

    console = out_console()
    console.print(f"quality rows: {counts['rows']:,} read, {counts['counted']:,} counted, {counts['rejected']:,} rejected")
    shares = {k.id: k.aggregate == "share" for k in report.spec.kpis}
    t = Table(title=f"KPIs per partner and {report.spec.period}", title_justify="left")
    for col in ("partner", "period", "kpi", "reports", "value", "threshold", "flag"):
        t.add_column(col)
    for v in report.values:
        if flagged and not v.flagged:
            continue
        share = shares.get(v.kpi, False)
        value = "" if v.value is None else (_as_percent(v.value) if share else fmt_points(v.value))
        threshold = _as_percent(v.threshold) if share else fmt_points(v.threshold)
        t.add_row(v.partner_id, v.period, v.name, str(v.count), value, f"{v.direction} {threshold}",
                  "[red]FLAG[/]" if v.flagged else "")
    console.print(t)
    f = Table(title=f"Sustained findings ({report.spec.sustained}+ consecutive periods)", title_justify="left")
    for col in ("partner", "kpi", "first", "last", "periods"):
        f.add_column(col)
    for x in report.findings:
        f.add_row(x.partner_id, x.name, x.first, x.last, str(x.periods))
    console.print(f if report.findings else "no sustained findings")
    for r in rejects[:20]:
        console.print(f"[yellow]rejected[/] row {r['row']}, field {r['field']}: {r['reason']}")
    if len(rejects) > 20:
        console.print(f"... and {len(rejects) - 20} more rejected rows (see --out)")


def _as_percent(value) -> str:
    """A share (0.125) as a person reads it: 12.5%."""
    return f"{fmt_points((value * 100).quantize(Decimal('0.01')))}%"


def register(cli) -> None:
    cli.add_command(status)
    cli.add_command(quality)
