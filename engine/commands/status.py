"""`points status` (reviews, downgrades, legacy tiers, standing) and `points quality` (KPIs)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import click

from engine.cells import DictWriter
from engine.cli import OK, Failure, emit_json, load
from engine.commands.common import program_and_data, out_console, json_option, read_options, run_options, wait_option
from engine.numbers import fmt_grouped, fmt_points
from engine.outputs import QUALITY_FILES, STATUS_FILES, create, optional as output_folder, program_files
from engine.terminal import cells, markup, text

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
@program_and_data(many=False)
@click.option("--legacy", type=click.Path(), help="Statuses partners enter with (CSV or XLSX; columns partner_id and "
              "status unless named otherwise).")
@click.option("--legacy-partner", "legacy_partner", metavar="COLUMN",
              help="The legacy file's partner column (default: the review block's `legacy partner column`, else partner_id).")
@click.option("--legacy-status", "legacy_status", metavar="COLUMN",
              help="The legacy file's status column (default: the review block's `legacy status column`, else status).")
@click.option("--as-of", "as_of", help="Review up to this date (YYYY-MM-DD; default: the end of the period of the latest "
              "valid signed date in DATA); a period it falls inside is current and gets a standing instead of a review.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write status.csv and standing.csv here.")
@click.option("--ledger", "ledger_url", metavar="URL",
              help="Record the results with a run in this ledger (default: points.toml's `ledger` when --run is given).")
@click.option("--run", "run_id", type=int,
              help="With the ledger: the run to record them with (default: the latest run of PROGRAM that scored DATA).")
@wait_option
@read_options
@json_option
def status(program, data, legacy, legacy_partner, legacy_status, as_of, out_dir, ledger_url, run_id, wait, as_json,
           **read):
    """Review every partner's status at the end of every period, under each period's policy.

    Every partner with a valid contract in a period up to --as-of, and every partner of the legacy
    file, gets a row in every period from the program's first (0 points where it sold nothing).
    """
    from engine.status import StatusError
    from engine.statusrun import WHO_GETS_A_ROW, default_as_of, legacy_columns, points_by_partner, read_legacy, status_report

    prog = load(program, as_json)
    folder = output_folder(out_dir, [data, legacy, *program_files(prog)], STATUS_FILES, wait)  # refuses now
    day = _date(as_of, "--as-of") if as_of else None
    if (legacy_partner or legacy_status) and not legacy:
        raise Failure("--legacy-partner and --legacy-status name columns of the --legacy file: give --legacy FILE", code=2)
    legacy_map = read_legacy(legacy, *legacy_columns(prog, legacy_partner, legacy_status)) if legacy else {}
    points, last = points_by_partner(prog, data, run_options(**read))
    how = None
    if day is None:  # never the clock: the end of the period of the latest valid signed date
        day, how = default_as_of(prog, last)
    elif day < prog.first_day:
        raise Failure(f"--as-of {day.isoformat()} is before the program starts ({prog.first_day.isoformat()}): "
                      "there is nothing to review")
    try:
        report = status_report(prog, points, legacy_map, day, how)
    except StatusError as err:
        raise Failure(f"{legacy or program}: {err}") from None
    rows = [_decision_row(d) for d in report.decisions]
    stand = [_standing_row(s, report.current) for s in report.standings]
    if folder:
        with folder:  # published whole when both are written
            _write_csv(folder.path("status.csv"), rows)
            _write_csv(folder.path("standing.csv"), stand)
    recorded = _record(ledger_url, run_id, "status", prog, data, rows, stand, legacy)
    summary = {"as_of": report.as_of.isoformat(), "as_of_default": report.as_of_default,
               "reviewed_periods": report.reviewed, "current_period": report.current, "who_gets_a_row": WHO_GETS_A_ROW}
    if as_json:
        emit_json({"program": prog.name} | summary | {"reviews": rows, "standing": stand}
                  | ({"ledger": {"run": recorded}} if recorded is not None else {}))
        return OK
    _print_status(prog, rows, stand, report.current, summary)
    _recorded_line(recorded)
    return OK


def _record(ledger_url, run_id, kind: str, prog, data, *rows) -> int | None:
    """With --ledger (or --run and a configured ledger): the results recorded with a run; its id."""
    from engine.commands import ledger

    url = ledger.resolve_ledger(ledger_url, required=run_id is not None)
    if ledger_url is None and run_id is None:
        return None  # a configured ledger records `status` and `quality` only when asked to
    if kind == "status":
        return ledger.record_status(url, run_id, prog, data, *rows)
    return ledger.record_quality(url, run_id, prog, data, *rows)


def _recorded_line(run_id: int | None) -> None:
    if run_id is not None:
        out_console().print(f"Recorded with run {run_id} in the ledger")


def _summary_lines(summary: dict) -> list[str]:
    """What was reviewed, as of when, and which period is current: stated, not left to be guessed."""
    reviewed = summary["reviewed_periods"]
    how = f" (default: {summary['as_of_default']})" if summary["as_of_default"] else ""
    periods = (f"{reviewed[0]} to {reviewed[-1]}" if len(reviewed) > 1 else reviewed[0]) if reviewed else "none"
    current = summary["current_period"]
    return [f"as of {summary['as_of']}{how}",
            f"periods reviewed: {periods}; current period: "
            + (f"{current} (under way: a standing, no review)" if current else "none (the as-of date ends a period)"),
            f"rows: {summary['who_gets_a_row']}"]


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
    "quality_set_aside.csv": ["row", "contract_id", "code", "reason"],
}


def _write_csv(path: Path, rows: list[dict], header: list[str] | None = None) -> None:
    """A CSV with its header even when there are no rows (a script reading it needs the columns)."""
    with create(path) as f:  # in an output folder's staging folder (engine.outputs)
        w = DictWriter(f, fieldnames=list(rows[0]) if rows else header or HEADERS[path.name])
        w.writeheader()
        w.writerows(rows)


def _print_status(prog, rows: list[dict], stand: list[dict], current: str | None, summary: dict) -> None:
    from rich.table import Table

    from engine.run import tier_version

    console = out_console()
    for line in _summary_lines(summary):
        console.print(markup(line))
    t = Table(title=text(f"{prog.name}: reviews"), title_justify="left")
    for col in ("partner", "period", "before", "points", "earned", "after", "rule"):
        t.add_column(col, justify="right" if col == "points" else "left")
    for r in rows:
        version = tier_version(prog, r["period"])
        moved = _arrow(r["status_before"], r["status_after"], [t.name for t in version.plan.tiers] if version else [])
        t.add_row(*cells(r["partner_id"], r["period"], r["status_before"]), fmt_grouped(_dec(r["points"])),
                  *cells(r["earned"], f"{r['status_after']}{moved}"), f"{markup(r['rule'])} [dim]{markup(r['at'])}[/]")
    console.print(t)
    if stand:
        s = Table(title=text(f"Standing in {current} (so far)"), title_justify="left")
        for col in ("partner", "status", "points", "to keep", "next tier", "to reach it"):
            s.add_column(col, justify="right" if col in ("points", "to keep", "to reach it") else "left")
        for r in stand:
            s.add_row(*cells(r["partner_id"], r["status"]), fmt_grouped(_dec(r["points"])),
                      fmt_grouped(_dec(r["needed_to_keep"])), text(r["next_tier"]), fmt_grouped(_dec(r["needed_for_next"])) if r["needed_for_next"] else "")
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
  points quality rulesets/o2-business examples/quality.csv --contracts examples/contracts.csv
  points quality rulesets/o2-business examples/quality.csv --contracts out/demo --flagged --out out/quality
\b
Reports keyed by contract (`reports by scored contract` in the quality block) count for the partner
that sold the contract: --contracts names the export (evaluated here, with the same read options) or
the output folder of `points evaluate --out`. Reports on other contracts are set apart with their reason.
Quality never changes points or tiers: it is reported beside them.
"""


@click.command(epilog=QUALITY_EXAMPLES)
@program_and_data(many=False)
@click.option("--contracts", "contracts", type=click.Path(),
              help="The contracts the reports name: an export (evaluated here) or a run's output folder.")
@click.option("--flagged", is_flag=True, help="Show only flagged KPI values.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write kpis.csv, kpis_wide.csv, findings.csv, quality_rejects.csv, quality_set_aside.csv here.")
@click.option("--ledger", "ledger_url", metavar="URL",
              help="Record the results with a run in this ledger (default: points.toml's `ledger` when --run is given).")
@click.option("--run", "run_id", type=int,
              help="With the ledger: the run to record them with (default: the latest run of PROGRAM that scored DATA).")
@wait_option
@read_options
@json_option
def quality(program, data, contracts, flagged, out_dir, ledger_url, run_id, wait, as_json, **read):
    """KPIs per partner and period from quality reports, their flags, and sustained findings."""
    from engine.statusrun import ContractIndex, quality_version, run_quality

    prog = load(program, as_json)
    read_back = ([str(Path(contracts) / name) for name in ("rows.csv", "contracts.csv", "rejects.csv")]
                 if contracts and Path(contracts).is_dir() else [contracts])
    folder = output_folder(out_dir, [data, *read_back, *program_files(prog)], QUALITY_FILES, wait)  # refuses now
    options = run_options(**read)
    index = None
    version = quality_version(prog)
    block = version.ruleset.quality if version is not None else None
    if contracts and block is not None and block.key == "partner":
        raise Failure(f"{version.path}:{block.span.line}:{block.span.column}: the quality block reads reports by "
                      "partner, so --contracts is not used: drop it, or write `reports by scored contract`")
    if contracts:
        if not Path(contracts).exists():
            raise Failure(f"--contracts: {contracts} does not exist (an export, or a run's output folder)", code=2)
        index = (ContractIndex.from_folder(contracts) if Path(contracts).is_dir()
                 else ContractIndex.from_data(prog, contracts, options))
    run = run_quality(prog, data, options, index)
    report = run.report
    rejects = [{"row": r, "field": f, "reason": why} for r, f, why in run.rejects]
    aside = [{"row": r, "contract_id": cid, "code": code, "reason": why} for r, cid, code, why in run.set_aside]
    if folder:
        with folder:  # published whole when every file is written
            _write_csv(folder.path("kpis.csv"), report.csv_rows())
            _write_csv(folder.path("kpis_wide.csv"), report.wide_rows(), report.wide_header())
            _write_csv(folder.path("findings.csv"), report.finding_rows())
            _write_csv(folder.path("quality_rejects.csv"), rejects)
            _write_csv(folder.path("quality_set_aside.csv"), aside)
            _quality_manifest(folder, prog, data, contracts, read_back, report, _quality_counts(run, rejects, aside))
    if ledger_url and run_id is None and contracts and Path(contracts, "manifest.json").is_file():  # names its run
        import json

        run_id = (json.loads(Path(contracts, "manifest.json").read_text(encoding="utf-8")).get("ledger") or {}).get("run")
    recorded = _record(ledger_url, run_id, "quality", prog, data, contracts,
                       report.csv_rows(), report.finding_rows(), run.rows)
    counts = _quality_counts(run, rejects, aside)
    if as_json:
        emit_json(report.to_json() | {"reports_by": _reports_by(report.spec), "counts": counts, "rejects": rejects,
                                      "set_aside": aside} | ({"ledger": {"run": recorded}} if recorded is not None else {}))
        return OK
    _print_quality(report, counts, rejects, flagged, aside, run.lenient)
    _recorded_line(recorded)
    return OK


def _quality_counts(run, rejects: list[dict], aside: list[dict]) -> dict:
    """Report rows by outcome, set-apart rows by code, and values read leniently (as a run's counts)."""
    from engine.run import Counts

    reasons: dict[str, int] = {}
    for a in aside:
        reasons[a["code"]] = reasons.get(a["code"], 0) + 1
    counts = {"rows": run.rows, "counted": run.report.records, "rejected": len(rejects), "set_aside": len(aside),
              "set_aside_reasons": dict(sorted(reasons.items()))}
    if run.lenient:
        counts["lenient"] = Counts(lenient=run.lenient).lenient_json()
    return counts


def _quality_manifest(folder, prog, data: str, contracts, read_back: list, report, counts: dict) -> None:
    """manifest.json of a quality folder: the program, the inputs with their sha256, the counts and the
    sha256 of every other file; no clock time, files by base name (as a run's manifest)."""
    import json

    from engine import __version__
    from engine.readers import sha256_of
    from engine.run import manifest_name

    inputs = [{"file": manifest_name(data), "sha256": sha256_of(Path(data)), "counts": counts}]
    given = [p for p in read_back if p and Path(p).is_file()] if contracts else []
    out = {
        "engine": {"name": "partner-points", "version": __version__},
        "program": prog.name,
        "versions": [v.describe() | {"file": manifest_name(v.path)} for v in prog.versions],
        "reports_by": _reports_by(report.spec),
        "inputs": inputs,
        "contracts": [{"file": manifest_name(p), "sha256": sha256_of(Path(p))} for p in given],
        "counts": counts,
        "outputs": {name: sha256_of(folder.path(name)) for name in QUALITY_FILES if name != "manifest.json"},
    }
    with create(folder.path("manifest.json")) as f:
        f.write(json.dumps(out, indent=2) + "\n")


def _reports_by(spec) -> str:
    return "partner" if spec.key == "partner" else f"{spec.counting} contract"


def _print_quality(report, counts: dict, rejects: list[dict], flagged: bool, aside: list[dict],
                   report_lenient: dict | None = None) -> None:
    from rich.table import Table

    from engine.statusrun import SET_ASIDE

    console = out_console()
    line = f"quality rows: {counts['rows']:,} read, {counts['counted']:,} counted, {counts['rejected']:,} rejected"
    if report.spec.key == "contract":
        line += f", {counts['set_aside']:,} set aside (reports by {_reports_by(report.spec)})"
    console.print(line)
    for code, n in counts["set_aside_reasons"].items():
        examples = ", ".join(sorted({a["contract_id"] for a in aside if a["code"] == code and a["contract_id"]})[:3])
        console.print(markup(f"  {n:,} set aside: {SET_ASIDE[code]} [{code}]" + (f": {examples}" if examples else "")))
    from engine.commands.evaluate import lenient_lines
    from engine.run import Counts

    for sentence in lenient_lines(Counts(lenient=report_lenient)) if report_lenient else ():
        console.print(f"[yellow]lenient:[/] {markup(sentence)}")
    shares = {k.id: k.aggregate == "share" for k in report.spec.kpis}
    t = Table(title=text(f"KPIs per partner and {report.spec.period}"), title_justify="left")
    for col in ("partner", "period", "kpi", "reports", "value", "threshold", "flag"):
        t.add_column(col)
    for v in report.values:
        if flagged and not v.flagged:
            continue
        share = shares.get(v.kpi, False)
        value = "" if v.value is None else (_as_percent(v.value) if share else fmt_points(Decimal(v.shown)))
        threshold = _as_percent(v.threshold) if share else fmt_points(v.threshold)
        t.add_row(*cells(v.partner_id, v.period, v.name, v.count, value, f"{v.direction} {threshold}"),
                  "[red]FLAG[/]" if v.flagged else "")
    console.print(t)
    f = Table(title=f"Sustained findings ({report.spec.sustained}+ consecutive periods)", title_justify="left")
    for col in ("partner", "kpi", "first", "last", "periods"):
        f.add_column(col)
    for x in report.findings:
        f.add_row(*cells(x.partner_id, x.name, x.first, x.last, x.periods))
    console.print(f if report.findings else "no sustained findings")
    for r in rejects[:20]:
        console.print(f"[yellow]rejected[/] row {r['row']}, field {markup(r['field'])}: {markup(r['reason'])}")
    if len(rejects) > 20:
        console.print(f"... and {len(rejects) - 20} more rejected rows (see --out)")


def _as_percent(value) -> str:
    """A share (0.125) as a person reads it: 12.5%."""
    return f"{fmt_points((value * 100).quantize(Decimal('0.01')))}%"


def register(cli) -> None:
    cli.add_command(status)
    cli.add_command(quality)
