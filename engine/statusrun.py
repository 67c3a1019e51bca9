"""Status and quality over real files: the glue between the runner and the pure review/KPI logic.

- Statuses: partner points per period come from a normal run (`engine.run.evaluate`); periods
  run from the program's first period to the last period with contracts (or to `as_of`); each
  period is reviewed with the policy of the version in force on its last day. A period that
  `as_of` falls inside is the current one: it gets a *standing* (points so far, points still
  needed to keep the tier and to reach the next), not a review.
- Legacy statuses come from a CSV or XLSX with columns `partner_id` and `status`.
- Quality rows are read and validated like contracts, against the `input quality` block of the
  newest version that has a `quality` block; bad rows are rejected with row number and field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from engine.periods import next_period, period_bounds, period_of, period_sort_key
from engine.program import Program
from engine.readers import BadRow, InputError, open_rows
from engine.run import RunOptions, evaluate
from engine.status import (
    Standing, StatusDecision, explain_chain, initial_status, policy_from_ruleset, review, standing,
)


def read_legacy(path: str | Path) -> dict[str, str]:
    """partner_id -> old status name; an unusable row is an InputError naming row and field."""
    out: dict[str, str] = {}
    with open_rows(Path(path)) as rows:
        header = [h.strip().lower() for h in (rows.header or [])]
        if rows.header is not None and ("partner_id" not in header or "status" not in header):
            raise InputError(Path(path), "header (row 1): a legacy file needs the columns partner_id and status", row=1)
        for n, raw in rows:
            if isinstance(raw, BadRow):
                raise InputError(Path(path), f"row {n}: {raw.reason}", row=n)
            cells = dict(zip(header, raw)) if rows.header is not None else {k.lower(): v for k, v in raw.items()}
            partner = str(cells.get("partner_id") or "").strip()
            status = str(cells.get("status") or "").strip()
            if not partner:
                raise InputError(Path(path), f"row {n}, field partner_id: empty", row=n)
            if partner in out:
                raise InputError(Path(path), f"row {n}, field partner_id: '{partner}' has a second legacy status", row=n)
            out[partner] = status
    return out


@dataclass
class StatusReport:
    """Reviews per partner and period, and the standing in the current period."""

    decisions: list[StatusDecision]
    standings: list[Standing] = field(default_factory=list)
    current: str | None = None  # the period `as_of` falls in, reviewed later


def periods_to_review(program: Program, last_label: str) -> list[str]:
    """Every period from the program's first to `last_label`, in order."""
    unit = program.period
    label = period_of(program.first_day, unit)
    out = []
    while period_sort_key(label) <= period_sort_key(last_label):
        out.append(label)
        label = next_period(label, unit)
    return out


def status_report(program: Program, points: dict[str, dict[str, Decimal]], legacy: dict[str, str],
                  as_of: date | None = None) -> StatusReport:
    """Review every partner in every complete period; the standing in the period of `as_of`."""
    unit = program.period
    labels = {p for per in points.values() for p in per}
    if as_of is not None:
        last = period_of(as_of, unit)
    elif labels:
        last = max(labels, key=period_sort_key)
    else:
        last = period_of(program.first_day, unit)
    periods = periods_to_review(program, last)
    current = None
    if as_of is not None and period_bounds(last, unit)[1] > as_of:
        current = periods.pop()
    policies = {}

    def policy_for(label: str):
        if label not in policies:
            version = program.version_for(period_bounds(label, unit)[1])
            if version is None:
                raise InputError(Path(program.versions[0].path), f"no version is in force at the end of {label}")
            policies[label] = policy_from_ruleset(version.ruleset)
        return policies[label]

    decisions = review(points, periods, policy_for, legacy) if periods else []
    report = StatusReport(decisions, current=current)
    if current is not None:
        report.standings = _standings(points, legacy, decisions, current, policy_for)
    return report


def _standings(points, legacy, decisions, current, policy_for) -> list[Standing]:
    policy = policy_for(current)
    status_now: dict[str, str] = {}
    for d in decisions:
        status_now[d.partner_id] = d.status_after
    out = []
    for partner in sorted(set(points) | set(legacy)):
        status = status_now.get(partner)
        if status is None:
            status = initial_status(partner, legacy.get(partner), policy)[0]
        out.append(standing(partner, status, points.get(partner, {}).get(current, Decimal(0)), policy))
    return out


def points_by_partner(program: Program, data: str, options: RunOptions) -> tuple[dict[str, dict[str, Decimal]], date | None]:
    """partner -> period -> points, from a normal run; and the latest signed date in the data."""
    result = evaluate(program, data, options)
    out: dict[str, dict[str, Decimal]] = {}
    for p in result.partners:
        out.setdefault(p.partner_id, {})[p.period] = p.points
    return out, result.counts.last_signed


def partner_chain(program: Program, partner_id: str, points: dict[str, Decimal], legacy: str | None,
                  as_of: date | None) -> list[str]:
    """The chain of status decisions of one partner across periods, as lines with `file:line`.

    `points` is the partner's points per period and `legacy` its legacy status: a review looks at
    nothing else of other partners, so explaining one partner needs no second pass over the data.
    """
    legacy_map = {partner_id: legacy} if legacy else {}
    report = status_report(program, {partner_id: points} if points else {}, legacy_map, as_of)
    lines = explain_chain((d for d in report.decisions if d.partner_id == partner_id), report.current)
    lines += [standing_line(s, report.current) for s in report.standings if s.partner_id == partner_id]
    return lines


def standing_line(s: Standing, period: str | None) -> str:
    """What an account manager tells a partner mid-period, in one line."""
    from engine.numbers import fmt_grouped

    keep = ("target reached" if not s.needed_to_keep
            else f"{fmt_grouped(s.needed_to_keep)} more to keep it (target {fmt_grouped(s.target)})")
    line = f"{period} so far: {fmt_grouped(s.points)} points; status {s.status}: {keep}"
    if s.next_tier:
        line += f"; {fmt_grouped(s.needed_for_next)} more to reach {s.next_tier}"
    return line


# --------------------------------------------------------------------------- quality


@dataclass
class QualityRun:
    """A quality report and the rows it rejected."""

    report: object  # engine.quality.QualityReport
    rows: int
    rejects: list[tuple[int, str, str]]  # (row, field, reason)


def quality_version(program: Program):
    """The newest version that declares `quality` (and `input quality`)."""
    for v in reversed(program.versions):
        if v.ruleset.quality is not None and v.ruleset.input("quality") is not None:
            return v
    return None


def run_quality(program: Program, data: str, options: RunOptions) -> QualityRun:
    """Read, validate and aggregate quality reports; rows that do not validate are rejected."""
    from engine.quality import compute_quality, quality_spec
    from engine.validate import RowReject, RowValidator

    version = quality_version(program)
    if version is None:
        raise InputError(Path(program.versions[-1].path), "no version declares `quality` and `input quality`")
    validator = RowValidator(version.ruleset.input("quality"), decimal_comma=options.decimal_comma)
    rejects: list[tuple[int, str, str]] = []
    count = 0

    def records():
        nonlocal count
        with open_rows(Path(data), delimiter=options.delimiter, encoding=options.encoding) as rows:
            if rows.header is not None:
                problems = validator.header_problems(rows.header)
                if problems:
                    raise InputError(Path(data), "header (row 1): " + "; ".join(problems), row=1)
                convert = validator.for_header(rows.header)
            else:
                convert = validator.convert
            for n, raw in rows:
                count += 1
                if isinstance(raw, BadRow):
                    rejects.append((n, raw.field, raw.reason))
                    continue
                try:
                    yield convert(raw, n)
                except RowReject as rej:
                    rejects.append((n, rej.field, rej.reason))

    report = compute_quality(records(), quality_spec(version.ruleset))
    return QualityRun(report, count, rejects)
