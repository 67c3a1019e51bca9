"""A partner statement: what one partner earned in one period, as data a document is rendered from.

The statement does not know where its numbers come from. `from_evaluation` builds it from an
export scored on the spot, through the same functions the `points` command uses (engine.run for
the points and the trace, engine.explain for the partner-period, engine.statusrun / engine.status
for the review, engine.statusrun / engine.quality for the quality flags); a ledger builds the same
dataclasses from a recorded run. Rendering (engine.report.render) only formats what is here.

Values are kept exact (Decimal, date, the texts as the files give them); formatting for a
locale, and escaping for HTML, happen when the document is rendered.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Iterable

ZERO = Decimal(0)
TOP_CONTRACTS = 20  # a statement lists this many contracts (the most points first) unless told otherwise


@dataclass(frozen=True)
class TableRowPoints:
    """The points a rule paid through one row of a table (the keys it looked up)."""

    table: str
    keys: tuple[str, ...]
    at: str  # file:line of the table row
    points: Decimal
    contracts: int


@dataclass(frozen=True)
class RulePoints:
    """One rule's points for the partner-period, and by table row where the rule reads a table."""

    rule_id: str
    name: str
    at: str  # file:line of the rule
    points: Decimal
    contracts: int
    rows: tuple[TableRowPoints, ...] = ()


@dataclass(frozen=True)
class Adjustment:
    """A manual adjustment recorded for the partner-period (a resolved dispute, a goodwill credit)."""

    points: Decimal
    reason: str
    author: str = ""
    recorded: str = ""  # when it was recorded, as the ledger states it


@dataclass(frozen=True)
class ContractLine:
    """One contract behind the points."""

    row: int
    file: str
    contract_id: str
    signed: date | None
    product: str
    points: Decimal
    rules: tuple[tuple[str, Decimal], ...]  # (rule name, points) of the rules that paid
    version: str  # the version that scored it


@dataclass(frozen=True)
class Threshold:
    """One tier's threshold against the partner's points."""

    tier: str
    points_from: Decimal
    reached: bool
    at: str


@dataclass(frozen=True)
class Review:
    """The status the partner holds in the period and what the review at its end decides."""

    status: str  # held during the period
    decided: bool  # False: the period is under way (no review yet)
    target: Decimal  # what the status needs at the review (its `keep`, else its threshold)
    needed_to_keep: Decimal
    after: str | None  # the status the review gives; None while the period is under way
    rule: str  # the decisive rule of the policy, in the program's words
    rule_at: str  # file:line of that rule
    policy_version: str  # the version whose review policy applies
    policy_at: str  # file:line of its review block ("" for the default policy)
    next_period: str | None  # the period the new status is for
    origin: str | None = None  # how the status came about, in the engine's words
    previous_period: str | None = None  # the review that set the status, when one did
    previous_status: str | None = None  # the status before that review
    next_tier: str | None = None  # the tier above the status and the points earned
    needed_for_next: Decimal | None = None


@dataclass(frozen=True)
class QualityFlag:
    """A KPI flagged for the partner in the period (reported beside the points, never changing them)."""

    kpi: str
    name: str
    period: str  # the quality period (month or quarter) inside the statement's period
    value: str  # as the KPI writes it (its declared decimals)
    direction: str  # above / below
    threshold: Decimal
    share: bool  # a share (shown as a percentage) or a mean
    reports: int


@dataclass(frozen=True)
class RunReference:
    """Which run the numbers are from."""

    run_id: str | None  # None: scored on the spot from the inputs below
    inputs: tuple[tuple[str, str], ...]  # (file name, sha256)
    engine_version: str
    recorded: str = ""  # when a ledger recorded the run


@dataclass(frozen=True)
class VersionReference:
    name: str
    effective: date
    file: str
    sha256: str


@dataclass(frozen=True)
class Statement:
    """One partner's statement for one period."""

    program: str
    partner_id: str
    period: str
    period_first: date
    period_last: date
    run: RunReference
    version: VersionReference | None  # the version in force at the period's end (tiers, review)
    versions: tuple[VersionReference, ...]  # the versions that scored the partner's contracts
    points: Decimal  # from the rules
    adjustments: tuple[Adjustment, ...]
    earned: str | None  # the tier the points earn
    thresholds: tuple[Threshold, ...]
    by_rule: tuple[RulePoints, ...]
    contracts: tuple[ContractLine, ...]  # all, or the ones with the most points
    contracts_scored: int
    contracts_more: int  # scored contracts not listed
    contracts_more_points: Decimal
    unscored: int  # the partner's valid contracts in the period that earn nothing
    review: Review | None
    quality: tuple[QualityFlag, ...] = ()
    quality_given: bool = False  # quality reports were read (an empty list then means: no flag)

    @property
    def adjustments_total(self) -> Decimal:
        return sum((a.points for a in self.adjustments), ZERO)

    @property
    def total(self) -> Decimal:
        """The rules' points and the adjustments."""
        return self.points + self.adjustments_total


class StatementError(ValueError):
    """The statement cannot be made (no such partner, period or run), phrased for a person."""


# --------------------------------------------------------------------------- from an evaluation


@dataclass
class Evaluation:
    """The numbers behind statements, from one source: an export scored now (`run`) or a run recorded
    in a ledger (`from_ledger`). Either way the partner's contracts are traced rows (engine.run.Traced),
    so the statement is built by the same functions from both.

    `statement(partner, period)` builds one statement; several statements (`--all`) share one pass.
    """

    program: object  # engine.program.Program
    data: str  # the export(s) or the run, as messages name it
    reference: RunReference
    traced: dict = field(default_factory=dict)  # (partner, period) -> [Traced]
    report: object | None = None  # engine.statusrun.StatusReport, or one rebuilt from recorded reviews
    quality_rows: list | None = None  # KPI values as engine.quality.QualityReport.rows() gives them
    quality_unit: str = ""
    shares: dict = field(default_factory=dict)  # KPI id -> a share (shown as a percentage)?
    legacy: set = field(default_factory=set)  # partners with a legacy status (a statement without contracts)
    adjustments: dict = field(default_factory=dict)  # (partner, period) -> (Adjustment, ...)

    @classmethod
    def run(cls, program, data, partners: Iterable[str] | None = None, legacy: str | Path | None = None,
            quality: str | Path | None = None, options=None) -> "Evaluation":
        """Score `data` (one export or several), tracing the contracts of `partners` (None: every
        partner); review every partner (with `legacy` statuses) and read `quality` reports."""
        from engine.periods import period_of
        from engine.run import RunOptions, evaluate
        from engine.status import StatusError
        from engine.statusrun import default_as_of, legacy_columns, read_legacy, status_report

        options = options or RunOptions()
        wanted = None if partners is None else set(partners)
        found: list = []
        when = (lambda n, rec: True) if wanted is None else (lambda n, rec: rec["partner_id"] in wanted)
        result = evaluate(program, data, replace(options, trace_when=when, on_traced=found.append))
        traced: dict = {}
        for r in found:
            traced.setdefault((r.record["partner_id"], period_of(r.record["signed"], program.period)), []).append(r)
        legacy_map = read_legacy(legacy, *legacy_columns(program)) if legacy else {}
        points: dict = {}
        for p in result.partners:
            if wanted is None or p.partner_id in wanted:
                points.setdefault(p.partner_id, {})[p.period] = p.points
        if wanted is not None:
            legacy_map = {k: v for k, v in legacy_map.items() if k in wanted}
        report = None
        if legacy or _has_review(program):
            try:
                report = status_report(program, points, legacy_map, default_as_of(program, result.counts.last_signed)[0])
            except StatusError as err:
                raise StatementError(f"{legacy or program.versions[-1].path}: {err}") from None
        from engine.readers import sha256_of

        extra = tuple((Path(f).name, sha256_of(f)) for f in (legacy, quality) if f is not None)
        reference = RunReference(None, tuple((f.file, f.sha256) for f in result.files) + extra, _engine_version())
        book = cls(program, result.data, reference, traced, report, legacy=set(legacy_map))
        if quality is not None:
            q = _quality(program, quality, data, options)
            book.quality_rows, book.quality_unit = q.rows(), q.spec.period
            book.shares = {k.id: k.aggregate == "share" for k in q.spec.kpis}
        return book

    @classmethod
    def from_ledger(cls, ledger, run_id, partners: Iterable[str] | None = None) -> "Evaluation":
        """A run recorded in `ledger` (engine.ledger.Ledger): its program from the recorded sources, each
        contract of `partners` (None: every partner) re-derived with a tracer from its recorded record
        (and checked against the recorded points), the reviews and quality results recorded with the
        run (reviews computed from its points when `points status` recorded none), its adjustments."""
        from engine.ledger.answers import rederive
        from engine.statusrun import quality_version

        run = ledger.run(run_id)
        run_id = run["id"]
        program = ledger.program(run_id)
        wanted = None if partners is None else set(partners)
        label = f"{ledger.shown}: run {run_id}"
        traced: dict = {}
        only = next(iter(wanted)) if wanted is not None and len(wanted) == 1 else None
        for c in ledger.contracts(run_id, only):
            if wanted is not None and c["partner_id"] not in wanted:
                continue
            t, _ = rederive(ledger, run_id, c, program)
            if t.points != c["points"]:
                raise StatementError(f"{label}: contract {c['contract_id']} (row {c['row']}) re-derives to "
                                     f"{t.points} points from the recorded sources, the run recorded {c['points']}")
            traced.setdefault((c["partner_id"], c["period"]), []).append(t)
        periods = [p for p in ledger.partner_periods(run_id) if wanted is None or p["partner_id"] in wanted]
        for p in periods:  # every partner-period of the run has its statement
            traced.setdefault((p["partner_id"], p["period"]), [])
        inputs = tuple((i["name"], i["sha256"]) for i in run["inputs"])
        engine = (run["manifest"].get("engine") or {}).get("version", "")
        reference = RunReference(str(run_id), inputs, engine, run.get("recorded_at") or "")
        report = _recorded_report(program, ledger.status(run_id), periods, wanted) if _has_review(program) else None
        book = cls(program, label, reference, traced, report)
        version = quality_version(program)
        kpis = ledger.quality(run_id)["kpis"]
        if version is not None and kpis:
            from engine.quality import quality_spec

            spec = quality_spec(version.ruleset)
            book.quality_rows = [k for k in kpis if wanted is None or k["partner_id"] in wanted]
            book.quality_unit = spec.period
            book.shares = {k.id: k.aggregate == "share" for k in spec.kpis}
        adjustments: dict = {}
        for a in ledger.adjustments():
            if wanted is None or a["partner_id"] in wanted:
                adjustments.setdefault((a["partner_id"], a["period"]), []).append(
                    Adjustment(a["points"], a["reason"], a["author"], a["created_at"] or ""))
        book.adjustments = {k: tuple(v) for k, v in adjustments.items()}
        return book

    def partners(self) -> list[tuple[str, str]]:
        """Every (partner, period) with a valid contract (or a result of the run), in order."""
        from engine.periods import period_sort_key

        return sorted(self.traced, key=lambda k: (k[0], period_sort_key(k[1])))

    def statement(self, partner: str, period: str, limit: int | None = TOP_CONTRACTS) -> Statement:
        from engine.explain import explain_partner
        from engine.periods import period_bounds

        program = self.program
        try:
            first, last = period_bounds(period, program.period)
        except ValueError as err:
            raise StatementError(f"--period: {err} (the program's periods are {program.period}s)") from None
        rows = self.traced.get((partner, period))
        if rows is None:
            periods = sorted(p for q, p in self.traced if q == partner)
            known = partner in self.legacy or (partner, period) in self.adjustments
            if not periods and not known:
                raise StatementError(f"{self.data}: no valid row for partner {partner}")
            if not known:
                raise StatementError(f"{self.data}: partner {partner} has no contracts in period {period}"
                                     + (f"; its periods: {', '.join(periods)}" if periods else ""))
            rows = []
        exp = explain_partner(program, rows, partner, period)
        return Statement(
            program=program.name, partner_id=partner, period=period, period_first=first, period_last=last,
            run=self.reference, version=_version_ref(exp.tier_version),
            versions=tuple(_version_ref(v) for v in _distinct(r.version for r in rows if r.version is not None)),
            points=exp.points, adjustments=self.adjustments.get((partner, period), ()), earned=exp.tier,
            thresholds=_thresholds(exp), by_rule=_by_rule(exp),
            **_contracts(exp, limit),
            unscored=sum(1 for r in rows if r.status != "scored"),
            review=self._review(partner, period, exp),
            quality=self._flags(partner, period), quality_given=self.quality_rows is not None,
        )

    def _review(self, partner: str, period: str, exp) -> Review | None:
        from engine.explain import status_in_period
        from engine.periods import next_period
        from engine.status import policy_from_ruleset, standing

        report = self.report
        if report is None or exp.tier_version is None:
            return None
        decisions = [d for d in report.decisions if d.partner_id == partner]
        current = next((s for s in report.standings if s.partner_id == partner), None)
        version = exp.tier_version
        order = [t.name for t in sorted(version.plan.tiers, key=lambda t: t.threshold)]
        nxt = next_period(period, self.program.period)
        held = status_in_period(period, decisions, current, report.current, order, nxt)
        if held is None:
            return None
        d = next((d for d in decisions if d.period == period), None)
        policy = policy_from_ruleset(version.ruleset)
        where = standing(partner, held["status"], exp.points, policy)  # the engine's own arithmetic
        index = decisions.index(d) if d is not None else len(decisions)
        previous = decisions[index - 1] if index and not (d is not None and d.origin) else None
        block = version.ruleset.review
        return Review(
            status=held["status"], decided=held["decided"], target=held["target"],
            needed_to_keep=held["needed_to_keep"], after=held["after"],
            rule=d.rule if d is not None else "", rule_at=_where(d.span) if d is not None else "",
            policy_version=version.name, policy_at=_where(block.span) if block is not None else "",
            next_period=nxt, origin=held["origin"],
            previous_period=previous.period if previous is not None else None,
            previous_status=previous.status_before if previous is not None else None,
            next_tier=where.next_tier, needed_for_next=where.needed_for_next,
        )

    def _flags(self, partner: str, period: str) -> tuple[QualityFlag, ...]:
        from engine.periods import period_bounds, period_of

        out = []
        for v in self.quality_rows or ():
            if v["partner_id"] != partner or str(v["flagged"]).lower() != "true":  # True, or "true" as recorded
                continue
            if period_of(period_bounds(v["period"], self.quality_unit)[0], self.program.period) != period:
                continue
            out.append(QualityFlag(v["kpi"], v["name"], v["period"], v["value"] or "", v["direction"],
                                   Decimal(v["threshold"]), self.shares.get(v["kpi"], False), int(v["reports"])))
        return tuple(out)


def from_evaluation(program, data, partner: str, period: str, legacy=None, quality=None, *, options=None,
                    limit: int | None = TOP_CONTRACTS) -> Statement:
    """The statement of `partner` for `period`, scoring `data` (an export, or several) now.

    `legacy`: the legacy statuses file (as `points status --legacy`); `quality`: quality reports (as
    `points quality`, counted against the same export); `options`: engine.run.RunOptions (how to
    read the export); `limit`: how many contracts to list (the most points first; None: all).
    """
    book = Evaluation.run(program, data, [partner], legacy, quality, options)
    return book.statement(partner, period, limit)


# --------------------------------------------------------------------------- pieces


def from_ledger(ledger, run_id, partner: str, period: str, *, limit: int | None = TOP_CONTRACTS) -> Statement:
    """The statement of `partner` for `period` from run `run_id` of `ledger` (engine.ledger.open_ledger):
    the recorded results, adjustments, reviews and quality results; the table rows and contracts from
    the recorded records, re-derived with the recorded sources (and checked against the recorded points)."""
    book = Evaluation.from_ledger(ledger, run_id, [partner])
    return book.statement(partner, period, limit)


def _has_review(program) -> bool:
    return any(v.ruleset.review is not None for v in program.versions)


def _recorded_report(program, recorded: dict, periods: list[dict], wanted):
    """The reviews `points status --ledger` recorded with the run, as engine.statusrun.StatusReport holds
    them; when it recorded none, the reviews of the run's points (no legacy statuses), computed now."""
    from dsl.ast import NO_SPAN, Span
    from engine.status import Standing, StatusDecision, StatusError
    from engine.statusrun import StatusReport, status_report

    def span(at: str):
        file, _, line = (at or "").rpartition(":")
        return Span(file, int(line), 1, int(line), 1) if file and line.isdigit() else NO_SPAN

    reviews = [r for r in recorded["reviews"] if wanted is None or r["partner_id"] in wanted]
    standing = [s for s in recorded["standing"] if wanted is None or s["partner_id"] in wanted]
    if not reviews and not standing:
        points: dict = {}
        for p in periods:
            points.setdefault(p["partner_id"], {})[p["period"]] = p["points"]
        try:
            return status_report(program, points, {})
        except StatusError as err:
            raise StatementError(f"{program.versions[-1].path}: {err}") from None
    decisions = [StatusDecision(r["partner_id"], r["period"], r["status_before"], Decimal(r["points"]), r["earned"],
                                Decimal(r["target"]), r["status_after"], r["rule"], span(r.get("at", "")),
                                r.get("origin") or None) for r in reviews]
    stands = [Standing(s["partner_id"], Decimal(s["points"]), s["status"], s["earned_so_far"], Decimal(s["target"]),
                       Decimal(s["needed_to_keep"]), s["next_tier"] or None,
                       Decimal(s["needed_for_next"]) if s["needed_for_next"] not in (None, "") else None)
              for s in standing]
    current = next((s["period"] for s in standing if s["period"]), None)
    return StatusReport(decisions, stands, current)


def _engine_version() -> str:
    from engine import __version__

    return __version__


def _where(span) -> str:
    return f"{span.file}:{span.line}" if span is not None and span.line else ""


def _distinct(items) -> list:
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return sorted(out, key=lambda v: v.effective)


def _version_ref(version) -> VersionReference | None:
    if version is None:
        return None
    return VersionReference(version.name, version.effective, version.path, version.sha256)


def _thresholds(exp) -> tuple[Threshold, ...]:
    if exp.tier_version is None:
        return ()
    tiers = sorted(exp.tier_version.plan.tiers, key=lambda s: s.threshold)
    return tuple(Threshold(s.name, s.threshold, exp.points >= s.threshold, _where(s.span)) for s in tiers)


def _by_rule(exp) -> tuple[RulePoints, ...]:
    """Points per rule (most first) and, for a rule that reads a table, per table row it read."""
    from engine import trace as t

    rows: dict = {}  # rule id -> {(lookups): [points, contracts]}
    for r in exp.contracts:
        if r.status != "scored" or r.score is None:
            continue
        for c in r.score.contributions:
            lookups = tuple(dict.fromkeys(
                (e.table, tuple(_key_text(k) for k in e.keys), _where(e.row_span))
                for e in r.events if isinstance(e, t.TableLookup) and e.rule_id == c.rule_id and e.value is not None))
            if not lookups:
                continue
            entry = rows.setdefault(c.rule_id, {}).setdefault(lookups, [ZERO, 0])
            entry[0] += c.points
            entry[1] += 1
    out = []
    for rid, (name, span, pts, n) in sorted(exp.by_rule.items(), key=lambda kv: (-kv[1][2], kv[0])):
        table_rows = []
        for lookups, (p, count) in sorted(rows.get(rid, {}).items(), key=lambda kv: (-kv[1][0], kv[0])):
            table = " · ".join(dict.fromkeys(tab for tab, _, _ in lookups))
            keys = tuple(k for _, ks, _ in lookups for k in ks)
            at = ", ".join(dict.fromkeys(a for _, _, a in lookups if a))
            table_rows.append(TableRowPoints(table, keys, at, p, count))
        out.append(RulePoints(rid, name, _where(span), pts, n, tuple(table_rows)))
    return tuple(out)


def _key_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _contracts(exp, limit: int | None) -> dict:
    scored = [r for r in exp.contracts if r.status == "scored"]
    cut = limit is not None and len(scored) > limit
    shown = sorted(scored, key=lambda r: (-r.points, r.file, r.row))[:limit] if cut else scored
    lines = tuple(
        ContractLine(r.row, r.file, str(r.record["contract_id"]), r.record.get("signed"),
                     "" if r.record.get("product") is None else str(r.record.get("product")), r.points,
                     tuple((c.rule_name, c.points) for c in r.score.contributions),
                     r.version.name if r.version is not None else "")
        for r in shown)
    return {"contracts": lines, "contracts_scored": len(scored), "contracts_more": len(scored) - len(shown),
            "contracts_more_points": exp.points - sum((r.points for r in shown), ZERO)}


def _quality(program, quality, data, options):
    """The quality report of `quality`, counted against `data` as `points quality --contracts` does."""
    from engine.statusrun import ContractIndex, quality_version, run_quality

    version = quality_version(program)
    block = version.ruleset.quality if version is not None else None
    index = None
    if block is not None and block.key != "partner":
        first = data if isinstance(data, (str, Path)) else list(data)[0]
        index = ContractIndex.from_data(program, first, options)
    return run_quality(program, quality, options, index).report
