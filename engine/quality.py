"""Quality KPIs per partner and period, and sustained findings.

Quality is reported beside points, never mixed into them: this module imports nothing of the
scoring or status code, and nothing it computes flows back into points or tiers.

Design:
- Memory is one small accumulator per (partner, period): for each KPI a count of non-empty
  values and their total (trues for `share`, the sum for `mean`). Rows are never kept.
- A KPI's flag is decided exactly, without division: `total > threshold * count` (or `<` for
  `below`). The reported value is the quotient, exact when it terminates within 6 decimals and
  rounded half-even to 6 decimals otherwise; it is for reading, not for deciding.
- A report row's `reported` is a date or, as operators write them, a period label (`2016-Q2`,
  `2016Q2`, `Q2 2016`, `2016-05`, `2016`; `engine.periods.period_in`): a label finer than the
  block's period is placed in the period containing it, a coarser one is refused.
- Periods are labelled as everywhere in the engine (`2016`, `2016-Q2`, `2016-03`) and numbered
  internally, so "consecutive" means consecutive on the calendar: a period in which a partner
  sent no reports, or sent too few for the KPI (`at least N reports`), or whose value was within
  the threshold, breaks a run of flagged periods.
- A sustained finding is one maximal run of at least `sustained` consecutive flagged periods for
  one partner and KPI; a run of 5 with `sustained 3` is one finding covering all 5 periods.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Iterable

from dsl.ast import NO_SPAN, Ruleset, Span
from engine.periods import period_bounds, period_in

ZERO = Decimal(0)
SHOWN_PLACES = Decimal("0.000001")


class QualityError(ValueError):
    """A quality record cannot be counted: a missing key field or a value of the wrong type."""


@dataclass(frozen=True, slots=True)
class KpiSpec:
    """One KPI: `share` of a boolean or `mean` of a number, flagged above or below a threshold."""

    id: str
    name: str
    aggregate: str  # `share` or `mean`
    field: str
    direction: str  # `above` or `below`
    threshold: Decimal  # a fraction for `share` (5% is 0.05)
    min_reports: int = 1
    span: Span = NO_SPAN
    decimals: int | None = None  # how the value is written; None: exact (at most 6 places)


@dataclass(frozen=True, slots=True)
class QualitySpec:
    """The `quality` block of one version."""

    period: str  # `month`, `quarter` or `year`
    kpis: tuple[KpiSpec, ...]
    sustained: int = 3
    span: Span = NO_SPAN
    key: str = "partner"  # report rows name their `partner` or their `contract`
    counting: str = "scored"  # by contract: `scored` or any `valid` contract counts


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One KPI for one partner and period."""

    partner_id: str
    period: str
    kpi: str  # the KPI's id
    name: str
    reports: int  # quality rows of the partner in the period
    count: int  # rows with a value for this KPI's field
    value: Decimal | None  # None when no row had a value
    threshold: Decimal
    direction: str
    flagged: bool
    decimals: int | None = None  # as the KPI declares it (`shown to N decimals`)

    @property
    def shown(self) -> str:
        """The value as written in outputs: to the declared decimals (half even), else as computed."""
        if self.value is None:
            return ""
        if self.decimals is None:
            return str(self.value)
        return str(self.value.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Finding:
    """A KPI flagged in `periods` consecutive periods, from `first` to `last`."""

    partner_id: str
    kpi: str
    name: str
    first: str
    last: str
    periods: int
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Every KPI value per partner and period, and the sustained findings."""

    spec: QualitySpec
    values: tuple[KpiValue, ...]
    findings: tuple[Finding, ...]
    records: int = 0

    def rows(self) -> list[dict]:
        """One flat dict per KPI value, ordered by partner, period and KPI, for JSON (the long form)."""
        return [_value_row(v) for v in self.values]

    def csv_rows(self) -> list[dict]:
        """The long form for a spreadsheet: as `rows()`, flags written `true` / `false`."""
        return [_csv_ready(r) for r in self.rows()]

    def wide_rows(self) -> list[dict]:
        """One row per partner and period: `reports`, then per KPI its value and flag (`ID`, `ID_flagged`)."""
        out: list[dict] = []
        for v in self.values:
            if not out or (out[-1]["partner_id"], out[-1]["period"]) != (v.partner_id, v.period):
                out.append({"partner_id": v.partner_id, "period": v.period, "reports": v.reports})
            out[-1][v.kpi] = v.shown
            out[-1][f"{v.kpi}_flagged"] = "true" if v.flagged else "false"
        return out

    def wide_header(self) -> list[str]:
        """The columns of `wide_rows()`, also when there are no rows."""
        return ["partner_id", "period", "reports"] + [c for k in self.spec.kpis for c in (k.id, f"{k.id}_flagged")]

    def finding_rows(self) -> list[dict]:
        """One flat dict per sustained finding, ordered by partner, KPI and first period."""
        return [
            {"partner_id": f.partner_id, "kpi": f.kpi, "name": f.name, "first": f.first,
             "last": f.last, "periods": f.periods, "source": _where(f.span)}
            for f in self.findings
        ]

    def to_json(self) -> dict:
        """The report as JSON-ready data (Decimals as strings, so no precision is lost)."""
        return {
            "period": self.spec.period,
            "sustained": self.spec.sustained,
            "records": self.records,
            "values": self.rows(),
            "findings": self.finding_rows(),
        }

    def dumps(self) -> str:
        """`to_json()` as text with sorted keys: the same report gives the same bytes."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2, ensure_ascii=False)


def _value_row(v: KpiValue) -> dict:
    return {
        "partner_id": v.partner_id, "period": v.period, "kpi": v.kpi, "name": v.name,
        "reports": v.reports, "count": v.count,
        "value": None if v.value is None else v.shown,
        "direction": v.direction, "threshold": str(v.threshold), "flagged": v.flagged,
    }


def _csv_ready(row: dict) -> dict:
    return {k: ("true" if v else "false") if isinstance(v, bool) else ("" if v is None else v) for k, v in row.items()}


def _where(span: Span) -> str:
    return f"{span.file}:{span.line}" if span.line > 0 else ""


# --------------------------------------------------------------------------- spec from the AST


def quality_spec(ruleset: Ruleset) -> QualitySpec | None:
    """The quality block of a ruleset as a `QualitySpec`; None when it has none."""
    block = ruleset.quality
    if block is None:
        return None
    kpis = tuple(
        KpiSpec(k.id, k.name, k.aggregate, k.field, k.direction, k.threshold.value,
                k.min_reports, k.span, k.decimals)
        for k in block.kpis
    )
    return QualitySpec(block.period, kpis, block.sustained, block.span, block.key, block.counting)


# --------------------------------------------------------------------------- periods


def period_number(day: date, unit: str) -> int:
    """A period as a number, so that consecutive periods differ by one."""
    if unit == "year":
        return day.year
    if unit == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    if unit == "month":
        return day.year * 12 + day.month - 1
    raise QualityError(f"unknown period unit {unit!r} (year, quarter or month)")


def report_period(reported, unit: str) -> int:
    """The number of the period a report row's `reported` value (a date, or a date or label as text) lies in."""
    if isinstance(reported, date):
        return period_number(reported, unit)
    if not isinstance(reported, str) or not reported.strip():
        raise QualityError(f"needs a reported date or period, got {reported!r}")
    try:
        first, _ = period_bounds(period_in(reported, unit), unit)
    except ValueError as err:
        raise QualityError(str(err)) from None
    return period_number(first, unit)


def period_label(number: int, unit: str) -> str:
    """The label of a numbered period: `2016`, `2016-Q2`, `2016-03`."""
    if unit == "year":
        return f"{number:04d}"
    if unit == "quarter":
        return f"{number // 4:04d}-Q{number % 4 + 1}"
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


# --------------------------------------------------------------------------- computing


@dataclass(slots=True)
class _Cell:
    """Running totals of one partner in one period: rows seen, and (count, total) per KPI."""

    reports: int = 0
    counts: list[int] = field(default_factory=list)
    totals: list[Decimal] = field(default_factory=list)


def compute_quality(records: Iterable[dict], spec: QualitySpec) -> QualityReport:
    """KPI values per partner and period, flags, and sustained findings over typed quality rows."""
    cells: dict[tuple[str, int], _Cell] = {}
    seen = 0
    for record in records:
        seen += 1
        _add(cells, record, spec, seen)
    values: list[KpiValue] = []
    flagged: dict[tuple[str, int], list[int]] = {}  # (partner, KPI index) -> flagged periods
    for partner, number in sorted(cells):
        for i in range(len(spec.kpis)):
            value = _value(partner, number, i, cells[(partner, number)], spec)
            values.append(value)
            if value.flagged:
                flagged.setdefault((partner, i), []).append(number)
    findings = tuple(
        finding
        for (partner, i), numbers in sorted(flagged.items())
        for finding in _runs(partner, spec.kpis[i], numbers, spec)
    )
    return QualityReport(spec, tuple(values), findings, seen)


def _add(cells: dict, record: dict, spec: QualitySpec, index: int) -> None:
    partner, reported = record.get("partner_id"), record.get("reported")
    if not partner or reported is None:
        raise QualityError(f"quality record {index}: needs partner_id and a reported date, "
                           f"got partner_id={partner!r}, reported={reported!r}")
    try:
        key = (partner, report_period(reported, spec.period))
    except QualityError as err:
        raise QualityError(f"quality record {index}: reported {err}") from None
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = _Cell(0, [0] * len(spec.kpis), [ZERO] * len(spec.kpis))
    cell.reports += 1
    for i, kpi in enumerate(spec.kpis):
        amount = _amount(kpi, record.get(kpi.field), index)
        if amount is not None:
            cell.counts[i] += 1
            cell.totals[i] += amount


def _amount(kpi: KpiSpec, value, index: int) -> Decimal | None:
    """What one row adds to a KPI's total: 1/0 for a share, the number for a mean."""
    if value is None:
        return None
    if kpi.aggregate == "share":
        if not isinstance(value, bool):
            raise QualityError(f"quality record {index}: {kpi.field} = {value!r} is not a boolean "
                               f"(KPI {kpi.name!r} is a share of it)")
        return Decimal(1) if value else ZERO
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise QualityError(f"quality record {index}: {kpi.field} = {value!r} is not a number "
                           f"(KPI {kpi.name!r} is a mean of it)")
    return Decimal(value)


def _value(partner: str, number: int, i: int, cell: _Cell, spec: QualitySpec) -> KpiValue:
    kpi, count, total = spec.kpis[i], cell.counts[i], cell.totals[i]
    flagged = count >= max(kpi.min_reports, 1) and _beyond(kpi, total, count)
    return KpiValue(
        partner, period_label(number, spec.period), kpi.id, kpi.name, cell.reports, count,
        _quotient(total, count) if count else None, kpi.threshold, kpi.direction, flagged, kpi.decimals,
    )


def _beyond(kpi: KpiSpec, total: Decimal, count: int) -> bool:
    """Strictly beyond the threshold, decided without dividing: exact for any count."""
    bound = kpi.threshold * count
    return total > bound if kpi.direction == "above" else total < bound


def _quotient(total: Decimal, count: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        exact = total / count
        shown = exact.quantize(SHOWN_PLACES, rounding=ROUND_HALF_EVEN)
    return exact if shown == exact else shown


# --------------------------------------------------------------------------- sustained findings


def _runs(partner: str, kpi: KpiSpec, numbers: list[int], spec: QualitySpec) -> list[Finding]:
    """Maximal runs of consecutive numbers at least `sustained` long."""
    found, start = [], 0
    for end in range(1, len(numbers) + 1):
        if end == len(numbers) or numbers[end] != numbers[end - 1] + 1:
            length = end - start
            if length >= spec.sustained:
                found.append(Finding(partner, kpi.id, kpi.name,
                                     period_label(numbers[start], spec.period),
                                     period_label(numbers[end - 1], spec.period), length, kpi.span))
            start = end
    return found
