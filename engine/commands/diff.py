"""`points diff OLD NEW [--impact DATA]`: what a new version changes, and what it does to partners."""
from __future__ import annotations

from pathlib import Path

import click

from engine.cells import DictWriter
from engine.cli import FINDINGS, OK, Failure, emit_json, load
from engine.commands.common import out_console, json_option, read_options, run_options
from engine.numbers import fmt_grouped

EXAMPLES = """
\b
OLD and NEW are ruleset files, or versions of a program written FOLDER@VERSION.
\b
Examples:
  points diff rulesets/o2-business/2016-03.rules rulesets/o2-business/2017-01.rules
  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --json
  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --impact examples/contracts.csv
  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --impact examples/contracts.csv --partner P-007
\b
Exit codes: 0 equal in meaning, 1 different, 2 unreadable input.
"""


@click.command(epilog=EXAMPLES)
@click.argument("old")
@click.argument("new")
@click.option("--impact", "data", type=click.Path(), help="Score DATA under both versions and compare partner by partner.")
@click.option("--partner", "partner_id", help="With --impact: one partner's contracts side by side.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="With --impact: write impact.csv (per partner) here.")
@click.option("--top", default=10, show_default=True, help="With --impact: how many biggest movers to show.")
@click.option("--verbose", "-v", is_flag=True, help="List every example edit instead of a count.")
@read_options
@json_option
def diff(old, new, data, partner_id, out_dir, top, verbose, as_json, **read):
    """Compare two ruleset versions in meaning: tables, rules, thresholds, policies, fields."""
    from engine.diff import diff_rulesets
    from engine.diff_render import diff_to_json, render_diff_text

    if (partner_id or out_dir) and not data:
        raise click.UsageError("--partner and --out go with --impact DATA")
    v_old, v_new = resolve(old, as_json), resolve(new, as_json)
    result = diff_rulesets(v_old.ruleset, v_new.ruleset)
    label_old, label_new = f"{v_old.name} ({v_old.path})", f"{v_new.name} ({v_new.path})"
    if data is None:
        if as_json:
            emit_json(diff_to_json(result))
        else:
            _print(render_diff_text(result, label_old, label_new, verbose))
        return OK if result.equal else FINDINGS
    options = run_options(**read)
    if partner_id:
        return print_side_by_side(v_old, v_new, data, partner_id, options, as_json)
    from engine.impact import impact

    report = impact(v_old, v_new, data, options)
    if out_dir:
        _write_impact(Path(out_dir), report)
    if as_json:
        emit_json({"diff": diff_to_json(result), "impact": report.to_json()})
    else:
        _print(render_diff_text(result, label_old, label_new, verbose))
        _print_impact(report, top)
    return OK if result.equal else FINDINGS


def resolve(ref: str, as_json: bool):
    """A Version from `FILE` or `FOLDER@VERSION`."""
    path, _, name = ref.partition("@") if "@" in ref and not Path(ref).exists() else (ref, "", "")
    program = load(path, as_json)
    if not name:
        if len(program.versions) > 1:
            names = ", ".join(v.name for v in program.versions)
            raise Failure(f"{path} holds {len(program.versions)} versions ({names}): write {path}@VERSION")
        return program.versions[0]
    version = program.version_named(name)
    if version is None:
        from dsl.errors import did_you_mean

        names = [v.name for v in program.versions]
        guess = did_you_mean(name, names)
        raise Failure(f"{path}: no version \"{name}\"" + (f"; did you mean \"{guess}\"?" if guess else f"; versions: {', '.join(names)}"))
    return version


def _print(renderable) -> None:
    out_console().print(renderable)


def _print_impact(report, top: int) -> None:
    from rich.table import Table

    console = out_console()
    delta = report.new_total - report.old_total
    console.print(f"\n[bold]Impact on {len({p.partner_id for p in report.partners})} partners[/]: "
                  f"{fmt_grouped(report.old_total)} → {fmt_grouped(report.new_total)} points "
                  f"({'+' if delta >= 0 else ''}{fmt_grouped(delta)})")
    for period, counter in sorted(report.transitions.items()):
        t = Table(title=f"Tier transitions, {period} (rows: {report.old.name}, columns: {report.new.name})",
                  title_justify="left")
        t.add_column("")
        for name in report.tier_order:
            t.add_column(name, justify="right")
        for a in report.tier_order:
            cells = []
            for b in report.tier_order:
                n = counter.get((a, b), 0)
                cells.append(f"[bold]{n}[/]" if n and a != b else (str(n) if n else "·"))
            t.add_row(a, *cells)
        console.print(t)
    rules = Table(title="Change by rule", title_justify="left")
    for col in ("rule", report.old.name, report.new.name, "change", "because"):
        rules.add_column(col, justify="right" if col not in ("rule", "because") else "left")
    for r in report.rules:
        rules.add_row(r.rule_id, fmt_grouped(r.old_points), fmt_grouped(r.new_points), _signed(r.delta),
                      "; ".join(r.edits[:3]) + (f" (+{len(r.edits) - 3} more)" if len(r.edits) > 3 else ""))
    console.print(rules)
    movers = Table(title=f"Biggest movers (top {top})", title_justify="left")
    for col in ("partner", "period", report.old.name, report.new.name, "change", "tier"):
        movers.add_column(col, justify="right" if col not in ("partner", "period", "tier") else "left")
    for p in report.movers(top):
        tier = p.old_tier if p.old_tier == p.new_tier else f"{p.old_tier} → {p.new_tier}"
        movers.add_row(p.partner_id, p.period, fmt_grouped(p.old_points), fmt_grouped(p.new_points), _signed(p.delta), tier)
    console.print(movers)


def _signed(value) -> str:
    return ("+" if value > 0 else "") + fmt_grouped(value)


def _write_impact(out: Path, report) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = [p.to_row() for p in report.partners]
    with open(out / "impact.csv", "w", encoding="utf-8", newline="") as f:
        w = DictWriter(f, fieldnames=list(rows[0]) if rows else ["partner_id"])
        w.writeheader()
        w.writerows(rows)


def print_side_by_side(v_old, v_new, data, partner_id, options, as_json) -> int:
    """One partner's contracts under two versions, as a table or JSON."""
    from engine.impact import side_by_side

    rows = side_by_side(v_old, v_new, data, partner_id, options)
    if not rows:
        raise Failure(f"{data}: no valid row for partner {partner_id}")
    if as_json:
        emit_json({"partner_id": partner_id, "old": v_old.describe(), "new": v_new.describe(), "contracts": rows})
        return OK
    from rich.table import Table

    t = Table(title=f"partner {partner_id}: {v_old.name} vs {v_new.name}", title_justify="left")
    for col in ("row", "contract", "signed", "product", v_old.name, v_new.name, "change"):
        t.add_column(col, justify="right" if col in ("row", v_old.name, v_new.name, "change") else "left",
                     max_width=48 if col in (v_old.name, v_new.name) else None)
    for r in rows:
        delta = r["delta"] if r["delta"].startswith("-") or r["delta"] == "0" else f"+{r['delta']}"
        t.add_row(str(r["row"]), r["contract_id"], r["signed"], r["product"] or "", _side_text(r["old"]),
                  _side_text(r["new"]), delta)
    out_console().print(t)
    return OK


def _side_text(side: dict) -> str:
    if side["status"] == "scored":
        return side["points"]
    return f"{side['status']}: {side.get('reason') or ''}"


def register(cli) -> None:
    cli.add_command(diff)
