"""`points diff OLD NEW [--impact DATA]`: what a new version changes, and what it does to partners."""
from __future__ import annotations

from pathlib import Path

import click

from engine.cells import DictWriter
from engine.cli import FINDINGS, OK, Failure, emit_json, load
from engine.commands.common import out_console, json_option, read_options, run_options, wait_option
from engine.numbers import fmt_grouped
from engine.terminal import cells, markup, text

EXAMPLES = """
\b
OLD and NEW are ruleset files, or versions of a program written FOLDER@VERSION.
\b
Examples:
  points diff rulesets/o2-business/2016-03.rules rulesets/o2-business/2017-01.rules
  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --json
  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --impact examples/contracts.csv
  points diff rulesets/o2-business@2017.01 rulesets/o2-business@2018.01 --impact examples/contracts.csv \\
      --period 2017 --legacy examples/legacy.csv --sort delta
  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --impact examples/contracts.csv --partner P-007
\b
Exit codes: 0 equal in meaning, 1 different, 2 unreadable input.
"""


@click.command(epilog=EXAMPLES)
@click.argument("old")
@click.argument("new")
@click.option("--impact", "data", type=click.Path(), help="Score DATA under both versions and compare partner by partner.")
@click.option("--period", "periods", multiple=True, metavar="PERIOD",
              help="With --impact: compare only the contracts signed in PERIOD (e.g. 2017; repeat for more).")
@click.option("--legacy", type=click.Path(), help="With --impact: statuses partners enter with, for the status reviews.")
@click.option("--as-of", "as_of", help="With --impact: review statuses up to this date (default: the latest signed date).")
@click.option("--partner", "partner_id", help="With --impact: one partner's contracts side by side.")
@click.option("--sort", "sort", type=click.Choice(["partner", "period", "delta", "old", "new"]), default="partner",
              show_default=True, help="With --impact: the order of the partners who change tier.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="With --impact: write impact.csv (per partner) here.")
@click.option("--top", default=10, show_default=True, help="With --impact: how many biggest movers to show.")
@click.option("--verbose", "-v", is_flag=True, help="List every example edit instead of a count.")
@wait_option
@read_options
@json_option
def diff(old, new, data, periods, legacy, as_of, partner_id, sort, out_dir, top, verbose, wait, as_json, **read):
    """Compare two ruleset versions in meaning: tables, rules, thresholds, policies, fields.

    With --impact, both versions score the same contracts: each partner's points, tier and status
    under both, who changes tier, and the change of the total split by edit (each applied alone to
    OLD) plus their interaction, adding up exactly.
    """
    from engine.diff import diff_rulesets
    from engine.diff_render import diff_to_json, render_diff_text

    if (partner_id or out_dir or periods or legacy or as_of or wait) and not data:
        raise click.UsageError("--partner, --period, --legacy, --as-of, --out and --wait go with --impact DATA")
    (v_old, first_old), (v_new, first_new) = resolve_with_start(old, as_json), resolve_with_start(new, as_json)
    folder = None
    if out_dir and not partner_id:
        from engine.outputs import IMPACT_FILES, optional as output_folder

        inputs = [data, v_old.path, v_new.path] + ([legacy] if legacy else [])
        folder = output_folder(out_dir, inputs, IMPACT_FILES, wait)  # refuses now
    result = diff_rulesets(v_old.ruleset, v_new.ruleset)
    same_name = v_old.name == v_new.name
    label_old = f"{'old ' if same_name else ''}{v_old.name} ({v_old.path})"
    label_new = f"{'new ' if same_name else ''}{v_new.name} ({v_new.path})"
    changed = OK if result.equal else FINDINGS
    if data is None:
        if as_json:
            emit_json(diff_to_json(result))
        else:
            _print(render_diff_text(result, label_old, label_new, verbose))
        return changed
    options = run_options(**read)
    first_day = min(first_old, first_new)
    periods = tuple(dict.fromkeys(periods))
    if partner_id:
        print_side_by_side(v_old, v_new, data, partner_id, options, as_json, first_day, periods)
        return changed
    from engine.impact import impact

    legacy_map = {}
    if legacy:
        from engine.statusrun import read_legacy

        legacy_map = read_legacy(legacy)
    day = _date(as_of) if as_of else None
    try:
        report = impact(v_old, v_new, data, options, first_day=first_day, periods=periods, legacy=legacy_map,
                        as_of=day)
    except ValueError as err:  # engine.status.StatusError: a legacy status no policy knows
        raise Failure(f"{legacy or data}: {err}") from None
    if folder:
        with folder:
            _write_impact(folder.staging, report)
    if as_json:
        emit_json({"diff": diff_to_json(result), "impact": report.to_json()})
    else:
        _print(render_diff_text(result, label_old, label_new, verbose))
        _print_impact(report, top, sort)
    return changed


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Failure(f"--as-of: '{text}' is not a date like 2018-06-30") from None


def resolve_with_start(ref: str, as_json: bool):
    """A Version from `FILE` or `FOLDER@VERSION`, and the first effective date of its program."""
    path, _, name = ref.partition("@") if "@" in ref and not Path(ref).exists() else (ref, "", "")
    program = load(path, as_json)
    return _version(program, path, name), program.first_day


def resolve(ref: str, as_json: bool):
    """A Version from `FILE` or `FOLDER@VERSION`."""
    return resolve_with_start(ref, as_json)[0]


def _version(program, path: str, name: str):
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


def _print_impact(report, top: int, sort: str) -> None:
    from rich.table import Table

    console = out_console()
    old_label, new_label = report.labels
    scope = f" in {', '.join(report.periods)}" if report.periods else ""
    console.print(f"\n[bold]Impact on {len({p.partner_id for p in report.partners}):,} partners{markup(scope)}[/]: "
                  f"{fmt_grouped(report.old_total)} → {fmt_grouped(report.new_total)} points "
                  f"({_signed(report.delta)})")
    _print_rows(console, report, old_label, new_label)
    for period, counter in sorted(report.transitions.items()):
        console.print(_matrix(f"Tier transitions, {period}", counter, report.tier_order, old_label, new_label))
    changes = report.tier_changes(sort)
    if changes:
        t = Table(title=f"Partners who change tier ({len(changes):,}, by {sort})", title_justify="left")
        for col in ("partner", "period", old_label, new_label, "change", "tier"):
            t.add_column(text(col), justify="right" if col in (old_label, new_label, "change") else "left")
        for p in changes:
            t.add_row(markup(p.partner_id), p.period, fmt_grouped(p.old_points), fmt_grouped(p.new_points),
                      _signed(p.delta), markup(f"{p.old_tier} → {p.new_tier} ({p.move})"))
        console.print(t)
    _print_edits(console, report)
    rules = Table(title="Change by rule", title_justify="left")
    for col in ("rule", old_label, new_label, "change", "because"):
        rules.add_column(text(col), justify="right" if col not in ("rule", "because") else "left")
    for r in report.rules:
        rules.add_row(markup(r.rule_id), fmt_grouped(r.old_points), fmt_grouped(r.new_points), _signed(r.delta),
                      markup("; ".join(r.edits[:3]) + (f" (+{len(r.edits) - 3} more)" if len(r.edits) > 3 else "")))
    rules.add_row("[bold]total[/]", fmt_grouped(report.old_total), fmt_grouped(report.new_total),
                  _signed(report.delta), "", end_section=True)
    console.print(rules)
    if report.reviews is not None:
        _print_reviews(console, report, old_label, new_label)
    movers = Table(title=f"Biggest movers (top {top})", title_justify="left")
    for col in ("partner", "period", old_label, new_label, "change", "tier"):
        movers.add_column(text(col), justify="right" if col not in ("partner", "period", "tier") else "left")
    for p in report.movers(top):
        tier = p.old_tier if p.old_tier == p.new_tier else f"{p.old_tier} → {p.new_tier}"
        movers.add_row(markup(p.partner_id), p.period, fmt_grouped(p.old_points), fmt_grouped(p.new_points),
                       _signed(p.delta), markup(tier))
    console.print(movers)


def _print_rows(console, report, old_label: str, new_label: str) -> None:
    """What was compared: valid rows in the periods, and what each side left unscored, by reason."""
    from rich.table import Table

    counts, counts_new = report.counts_old, report.counts_new
    alike = counts.rejected_reasons == counts_new.rejected_reasons
    line = f"Rows: {counts.rows:,} read; {report.rows_compared:,} compared"
    if not alike:
        line += f" under {old_label}, {report.rows_compared_new:,} under {new_label}"
    if report.periods:
        line += f", {report.rows_outside:,} signed outside {', '.join(report.periods)}"
    if alike:
        line += f"; {counts.rejected:,} rejected (the same under both)"
    else:
        line += (f"; {counts.rejected:,} rejected under {old_label}, {counts_new.rejected:,} under {new_label} "
                 "(each reads the rows with its own input block)")
    console.print(markup(line))
    if not alike:
        t = Table(title="Rejected rows, by field and code", title_justify="left")
        for col in ("field", "code", old_label, new_label):
            t.add_column(text(col), justify="right" if col in (old_label, new_label) else "left")
        for key in sorted(set(counts.rejected_reasons) | set(counts_new.rejected_reasons)):
            t.add_row(*cells(*key), f"{counts.rejected_reasons.get(key, 0):,}",
                      f"{counts_new.rejected_reasons.get(key, 0):,}")
        console.print(t)
    reasons = sorted(set(report.unscored_old) | set(report.unscored_new))
    if not reasons:
        return
    t = Table(title="Unscored rows, by reason", title_justify="left")
    for col in ("reason", old_label, new_label):
        t.add_column(text(col), justify="left" if col == "reason" else "right")
    for reason in reasons:
        t.add_row(markup(reason), f"{report.unscored_old.get(reason, 0):,}", f"{report.unscored_new.get(reason, 0):,}")
    t.add_row("[bold]total[/]", f"{sum(report.unscored_old.values()):,}", f"{sum(report.unscored_new.values()):,}",
              end_section=True)
    console.print(t)


def _matrix(title: str, counter, order, old_label: str, new_label: str) -> "Table":
    """A transition matrix with row and column totals; rows are the old version's tiers."""
    from rich.table import Table

    t = Table(title=text(title), title_justify="left")
    t.add_column(text(f"{old_label} ↓  {new_label} →"))
    for name in order:
        t.add_column(text(name), justify="right")
    t.add_column("total", justify="right")
    for a in order:
        cells = []
        for b in order:
            n = counter.get((a, b), 0)
            cells.append(f"[bold]{n:,}[/]" if n and a != b else (f"{n:,}" if n else "·"))
        t.add_row(markup(a), *cells, f"{sum(counter.get((a, b), 0) for b in order):,}")
    t.add_row("total", *(f"{sum(counter.get((a, b), 0) for a in order):,}" for b in order),
              f"{sum(counter.values()):,}", end_section=True)
    return t


def _print_edits(console, report) -> None:
    """Each edit applied alone, the interaction, and the total they add up to."""
    from rich.table import Table

    if not report.edits:
        return
    with_status = report.reviews is not None
    t = Table(title="Change by edit (each applied alone to the old version)", title_justify="left")
    t.add_column("edit")
    t.add_column("points", justify="right")
    t.add_column("tier moves", justify="right")
    if with_status:
        t.add_column("status moves", justify="right")
    for u in report.edits:
        points = _signed(u.delta) if u.delta is not None else "—"
        cells = [markup(u.unit.describe() + (f" ({u.note})" if u.note else "")), points, f"{u.tier_moves:,}"]
        if with_status:
            cells.append(f"{u.status_moves:,}" if u.status_moves is not None else "—")
        t.add_row(*cells)
    tail = ["", ""] if with_status else [""]
    t.add_row("interaction (the edits together, beyond their sum)", _signed(report.interaction), *tail,
              end_section=True)
    t.add_row("[bold]total[/]", _signed(report.delta), *tail)
    console.print(t)


def _print_reviews(console, report, old_label: str, new_label: str) -> None:
    """Status reviews under both versions: per period, how many partners each outcome had."""
    from rich.table import Table

    reviews = report.reviews
    if not reviews.periods:
        return
    kinds = ("upgraded", "downgraded", "held", "kept")
    shown = [p for p in reviews.periods if not report.periods or p in report.periods]
    t = Table(title="Status reviews (held: kept above the earned tier by the policy)", title_justify="left")
    t.add_column("period")
    for kind in kinds:
        t.add_column(text(f"{kind}\n{old_label}"), justify="right")
        t.add_column(text(f"{kind}\n{new_label}"), justify="right")
    a, b = reviews.summary("old"), reviews.summary("new")
    for period in shown:
        cells = []
        for kind in kinds:
            cells += [f"{a.get(period, {}).get(kind, 0):,}", f"{b.get(period, {}).get(kind, 0):,}"]
        t.add_row(period, *cells)
    console.print(t)
    changed = [s for s in reviews.changed() if not report.periods or s.period in report.periods]
    if changed:
        c = Table(title=f"Partners whose status differs ({len(changed):,})", title_justify="left")
        for col in ("partner", "period", old_label, new_label):
            c.add_column(text(col))
        for s in changed:
            c.add_row(markup(s.partner_id), s.period, markup(f"{s.old_before} → {s.old_after} ({s.old_rule})"),
                      markup(f"{s.new_before} → {s.new_after} ({s.new_rule})"))
        console.print(c)
    if reviews.current:
        console.print(f"{reviews.current} is under way: reviewed at its end.")


def _signed(value) -> str:
    return ("+" if value > 0 else "") + fmt_grouped(value)


def _write_impact(out: Path, report) -> None:
    from engine.outputs import create

    rows = [p.to_row() for p in report.partners]
    with create(out / "impact.csv") as f:  # in an output folder's staging folder (engine.outputs)
        w = DictWriter(f, fieldnames=list(rows[0]) if rows else ["partner_id"])
        w.writeheader()
        w.writerows(rows)


def print_side_by_side(v_old, v_new, data, partner_id, options, as_json, first_day=None, periods=()) -> None:
    """One partner's contracts under two versions, as a table or JSON."""
    from decimal import Decimal


    from engine.impact import side_by_side

    rows = side_by_side(v_old, v_new, data, partner_id, options, first_day=first_day, periods=periods)
    if not rows:
        scope = f" signed in {', '.join(periods)}" if periods else ""
        raise Failure(f"{data}: no valid row for partner {partner_id}{scope}")
    if as_json:
        emit_json({"partner_id": partner_id, "old": v_old.describe(), "new": v_new.describe(),
                   "periods": list(periods) or None, "contracts": rows})
        return
    from rich.table import Table

    same = v_old.name == v_new.name
    old_label, new_label = (f"old {v_old.name}", f"new {v_new.name}") if same else (v_old.name, v_new.name)
    t = Table(title=text(f"partner {partner_id}: {old_label} vs {new_label}"), title_justify="left")
    for col in ("row", "contract", "signed", "product", old_label, new_label, "change"):
        t.add_column(text(col), justify="right" if col in ("row", old_label, new_label, "change") else "left",
                     max_width=48 if col in (old_label, new_label) else None)
    totals = [Decimal(0), Decimal(0)]
    for r in rows:
        for i, side in enumerate((r["old"], r["new"])):
            if side["status"] == "scored":
                totals[i] += Decimal(side["points"])
        t.add_row(str(r["row"]), markup(r["contract_id"]), r["signed"], markup(r["product"] or ""),
                  markup(_side_text(r["old"])), markup(_side_text(r["new"])), _signed(Decimal(r["delta"])))
    t.add_row(f"{len(rows):,}", "contracts", "", "", fmt_grouped(totals[0]), fmt_grouped(totals[1]),
              _signed(totals[1] - totals[0]), end_section=True)
    out_console().print(t)


def _side_text(side: dict) -> str:
    if side["status"] == "scored":
        from decimal import Decimal

        return fmt_grouped(Decimal(side["points"]))
    return f"{side['status']}: {side.get('reason') or ''}"


def register(cli) -> None:
    cli.add_command(diff)
