"""The impact of a new version on real data: every partner's points, tier and status under both.

Both versions score the contracts of the data (as if each applied to every one of them) in one
pass over the file: the runner's fixed lanes share reading and validation, so an impact run costs
less than two evaluations. Each side reads the rows with its own version's `input` block (when the
blocks differ, a row is converted once per block), so a change of strictness shows as rows that one
side rejects and the other scores; each edit measured alone reads with the block of its version
(the old one, or the new one for the edit of the input block). A row that no
version of the program covers (signed before the program's first effective date) counts under
neither version: it is unscored on both sides, with its reason, as in a real run.

What the report holds:
- per partner and period: points and tier under both versions (`--period` restricts the
  comparison to the partner-periods of the periods named, i.e. to the rows signed in them);
- the rows each side left unscored, by reason, and the rows each side rejected, by field and code;
- the tier-transition matrix per period, with totals, and the partners who change tier;
- the status reviews under both versions (each version's review policy and tiers applied to every
  period, legacy statuses from `legacy`): upgrades, downgrades and who is held above the earned
  tier by a policy, and the partners whose status differs;
- the change of the total split by edit (engine.attribution): each unit of the diff applied alone
  to the old version, then an interaction line, so that the lines add up exactly to the total;
- the change per rule (each side's points per rule), which adds up to the total too.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from engine.attribution import CannotApply, Unit, apply, units
from engine.diff import diff_rulesets, rule_changes_by_id
from engine.numbers import fmt_points
from engine.periods import next_period, period_bounds, period_of, period_sort_key
from engine.program import Program, Version
from engine.run import RunOptions, evaluate

ZERO = Decimal(0)
MAX_UNITS = 60  # edits measured one by one; beyond, the rest is measured together with the interaction


@dataclass(frozen=True)
class PartnerImpact:
    """One partner-period under both versions."""

    partner_id: str
    period: str
    old_points: Decimal
    new_points: Decimal
    old_tier: str | None
    new_tier: str | None
    tier_order: tuple = field(default=(), compare=False, repr=False)

    @property
    def delta(self) -> Decimal:
        return self.new_points - self.old_points

    @property
    def move(self) -> str:
        return move(self.old_tier, self.new_tier, self.tier_order)

    def to_row(self) -> dict:
        return {"partner_id": self.partner_id, "period": self.period, "old_points": fmt_points(self.old_points),
                "new_points": fmt_points(self.new_points), "delta": fmt_points(self.delta),
                "old_tier": self.old_tier or "", "new_tier": self.new_tier or "", "move": self.move}


@dataclass(frozen=True)
class RuleImpact:
    """How much one rule's points changed, and the edits that explain it."""

    rule_id: str
    old_points: Decimal
    new_points: Decimal
    edits: tuple[str, ...]

    @property
    def delta(self) -> Decimal:
        return self.new_points - self.old_points


@dataclass(frozen=True)
class UnitImpact:
    """One edit (a unit of engine.attribution) applied alone to the old version."""

    unit: Unit
    delta: Decimal | None  # the change of the total; None when it cannot be applied alone
    tier_moves: int = 0  # partner-periods whose tier differs from the old version's
    status_moves: int | None = None  # partner-periods whose status after review differs (with reviews)
    note: str = ""

    def to_json(self) -> dict:
        return {"edit": self.unit.describe(), "kind": self.unit.kind, "key": list(self.unit.key),
                "delta": fmt_points(self.delta) if self.delta is not None else None,
                "tier_moves": self.tier_moves, "status_moves": self.status_moves, "note": self.note or None}


@dataclass(frozen=True)
class StatusImpact:
    """One partner-period's review under both versions."""

    partner_id: str
    period: str
    old_before: str
    old_after: str
    old_rule: str
    new_before: str
    new_after: str
    new_rule: str

    def to_row(self) -> dict:
        return {"partner_id": self.partner_id, "period": self.period, "old_status_before": self.old_before,
                "old_status_after": self.old_after, "old_rule": self.old_rule,
                "new_status_before": self.new_before, "new_status_after": self.new_after,
                "new_rule": self.new_rule}


@dataclass
class Reviews:
    """The status reviews of every partner under each version's policy."""

    periods: list[str]
    current: str | None
    old: list  # engine.status.StatusDecision
    new: list
    tier_order: tuple[str, ...]

    def pairs(self) -> list[StatusImpact]:
        new = {(d.partner_id, d.period): d for d in self.new}
        out = []
        for a in self.old:
            b = new.get((a.partner_id, a.period))
            if b is None:
                continue
            out.append(StatusImpact(a.partner_id, a.period, a.status_before, a.status_after, a.rule,
                                    b.status_before, b.status_after, b.rule))
        return out

    def changed(self) -> list[StatusImpact]:
        return [p for p in self.pairs() if p.old_after != p.new_after]

    def summary(self, side: str) -> dict[str, Counter]:
        """Per period: upgrades, downgrades, held above the earned tier by a policy, kept."""
        out: dict[str, Counter] = {}
        for d in (self.old if side == "old" else self.new):
            c = out.setdefault(d.period, Counter())
            c[_review_kind(d, self.tier_order)] += 1
        return out


def _review_kind(d, order: tuple) -> str:
    rank = {name: i for i, name in enumerate(order)}
    before, after, earned = rank.get(d.status_before, -1), rank.get(d.status_after, -1), rank.get(d.earned, -1)
    if after > before:
        return "upgraded"
    if after < before:
        return "downgraded"
    if after > earned:
        return "held"  # kept above the tier its points earned: grace, at most N levels, keep target
    return "kept"


@dataclass
class ImpactReport:
    old: Version
    new: Version
    partners: list[PartnerImpact]
    rules: list[RuleImpact]
    transitions: dict[str, Counter]  # period -> Counter[(old tier, new tier)]
    tier_order: tuple[str, ...]
    counts_old: object
    counts_new: object
    periods: tuple[str, ...] = ()  # the periods compared; () = all
    unscored_old: Counter = field(default_factory=Counter)  # reason kind -> rows, in the compared periods
    unscored_new: Counter = field(default_factory=Counter)
    rows_compared: int = 0  # valid rows in the compared periods (of the old side)
    rows_compared_new: int = 0  # the same of the new side (other rows when the input blocks differ)
    rows_outside: int = 0  # valid rows signed outside them
    edits: list[UnitImpact] = field(default_factory=list)
    reviews: Reviews | None = None

    @property
    def old_total(self) -> Decimal:
        return sum((p.old_points for p in self.partners), ZERO)

    @property
    def new_total(self) -> Decimal:
        return sum((p.new_points for p in self.partners), ZERO)

    @property
    def delta(self) -> Decimal:
        return self.new_total - self.old_total

    @property
    def interaction(self) -> Decimal:
        """What the edits do together beyond the sum of their separate effects."""
        return self.delta - sum((u.delta for u in self.edits if u.delta is not None), ZERO)

    @property
    def labels(self) -> tuple[str, str]:
        """How the two sides are named: their version names, told apart when they are the same."""
        if self.old.name != self.new.name:
            return self.old.name, self.new.name
        return f"old {self.old.name}", f"new {self.new.name}"

    def movers(self, n: int = 10) -> list[PartnerImpact]:
        """The partner-periods whose points changed most, largest change first."""
        moved = [p for p in self.partners if p.delta]
        return sorted(moved, key=lambda p: (-abs(p.delta), p.partner_id, p.period))[:n]

    def tier_changes(self, sort: str = "partner") -> list[PartnerImpact]:
        """The partner-periods whose tier differs between the versions."""
        changed = [p for p in self.partners if p.old_tier != p.new_tier]
        return sorted(changed, key=SORT_KEYS[sort])

    def to_json(self) -> dict:
        old_label, new_label = self.labels
        out = {
            "old": self.old.describe() | {"label": old_label}, "new": self.new.describe() | {"label": new_label},
            "periods": list(self.periods) or None,
            "points": {"old": fmt_points(self.old_total), "new": fmt_points(self.new_total),
                       "delta": fmt_points(self.delta)},
            "rows": {"old": self.counts_old.to_json(), "new": self.counts_new.to_json(),
                     "compared": self.rows_compared, "compared_new": self.rows_compared_new,
                     "outside_periods": self.rows_outside,
                     "unscored_old": dict(sorted(self.unscored_old.items())),
                     "unscored_new": dict(sorted(self.unscored_new.items()))},
            "transitions": {period: [{"from": a, "to": b, "partners": n} for (a, b), n in sorted(c.items())]
                            for period, c in sorted(self.transitions.items())},
            "tier_changes": [p.to_row() for p in self.tier_changes()],
            "edits": [u.to_json() for u in self.edits],
            "interaction": fmt_points(self.interaction),
            "rules": [{"rule_id": r.rule_id, "old_points": fmt_points(r.old_points), "new_points": fmt_points(r.new_points),
                       "delta": fmt_points(r.delta), "edits": list(r.edits)} for r in self.rules],
            "movers": [p.to_row() for p in self.movers()],
            "partners": [p.to_row() for p in self.partners],
        }
        if self.reviews is not None:
            r = self.reviews
            out["reviews"] = {
                "periods": r.periods, "current": r.current,
                "old": {p: dict(sorted(c.items())) for p, c in sorted(r.summary("old").items())},
                "new": {p: dict(sorted(c.items())) for p, c in sorted(r.summary("new").items())},
                "changed": [s.to_row() for s in r.changed()],
            }
        return out


SORT_KEYS = {
    "partner": lambda p: (p.partner_id, period_sort_key(p.period)),
    "period": lambda p: (period_sort_key(p.period), p.partner_id),
    "delta": lambda p: (-abs(p.delta), p.partner_id, period_sort_key(p.period)),
    "old": lambda p: (-p.old_points, p.partner_id, period_sort_key(p.period)),
    "new": lambda p: (-p.new_points, p.partner_id, period_sort_key(p.period)),
}


def move(old: str | None, new: str | None, order: tuple) -> str:
    """`up`, `down` or `` between two tiers by their order (lowest first)."""
    if old == new or old not in order or new not in order:
        return ""
    return "up" if order.index(new) > order.index(old) else "down"


def two_version_program(old: Version, new: Version, first_day: date | None = None) -> Program:
    """A program holding the two versions, for the runner's fixed lanes.

    Its one start, `first_day` (default: the earlier effective date of the two), is where the
    program begins: a row signed before it is covered by no version, on either side.
    """
    start = first_day or min(old.effective, new.effective)
    return Program(name=new.ruleset.program or "?", versions=(old, new), _starts=(start,))


def impact(old: Version, new: Version, data: str | Path, options: RunOptions | None = None, *,
           first_day: date | None = None, periods: tuple[str, ...] = (), legacy: dict[str, str] | None = None,
           as_of: date | None = None, with_edits: bool = True) -> ImpactReport:
    """Score every contract of `data` under both versions (and each edit alone) and compare.

    `first_day`: the program's first effective date (rows before it count under neither version);
    `periods`: compare only these periods; `legacy`: legacy statuses, which turn on the status
    reviews under both versions (`legacy={}` reviews without legacy statuses; None: no reviews).
    """
    program = two_version_program(old, new, first_day)
    diff = diff_rulesets(old.ruleset, new.ruleset)
    unit_list = units(diff) if with_edits else []
    hybrids, notes = _hybrids(old, new, unit_list[:MAX_UNITS])
    fixed = [old, new] + [h for h in hybrids if h is not None]
    result = evaluate(program, data, options or RunOptions(), fixed=tuple(fixed))
    lane_old, lane_new, *lane_units = result.lanes
    order = _tier_order(old, new)
    wanted = set(periods)
    start, unit_name = program._starts[0], new.ruleset.period

    def compared(key) -> bool:
        return not wanted or key[1] in wanted

    def in_program(key) -> bool:  # a period that ended before the program began has no tiers to compare
        return period_bounds(key[1], unit_name)[1] >= start

    keys = sorted(k for k in set(lane_old.partners) | set(lane_new.partners) if compared(k) and in_program(k))
    partners, transitions = [], {}
    for key in keys:
        pi = _partner_impact(key, lane_old.partners.get(key), lane_new.partners.get(key), old, new, order)
        partners.append(pi)
        transitions.setdefault(key[1], Counter())[(pi.old_tier, pi.new_tier)] += 1
    report = ImpactReport(old, new, partners, _rules(old, new, lane_old, lane_new, compared, diff), transitions,
                          order, lane_old.counts, lane_new.counts, periods=tuple(periods))
    for lane, counter in ((lane_old, report.unscored_old), (lane_new, report.unscored_new)):
        for key, pp in lane.partners.items():
            if compared(key):
                counter.update(pp.reasons)
    for key, pp in lane_old.partners.items():
        if compared(key):
            report.rows_compared += pp.scored + pp.unscored
        else:
            report.rows_outside += pp.scored + pp.unscored
    report.rows_compared_new = sum(pp.scored + pp.unscored for key, pp in lane_new.partners.items() if compared(key))
    if legacy is not None:
        report.reviews = _reviews(program, old, new, lane_old, lane_new, legacy,
                                  as_of or lane_old.counts.last_signed, order)
    lanes = iter(lane_units)
    for unit, hybrid, note in zip(unit_list[:MAX_UNITS], hybrids, notes):
        if hybrid is None:
            report.edits.append(UnitImpact(unit, None, note=note))
            continue
        lane = next(lanes)
        total = sum((pp.points for key, pp in lane.partners.items() if compared(key)), ZERO)
        moves = sum(1 for p in partners if _tier_of(lane, (p.partner_id, p.period), hybrid) != p.old_tier)
        status_moves = None
        if report.reviews is not None:
            status_moves = _status_moves(program, old, hybrid, lane_old, lane, legacy,
                                         as_of or lane_old.counts.last_signed, order, report.reviews, wanted)
        report.edits.append(UnitImpact(unit, total - report.old_total, moves, status_moves, note))
    for unit in unit_list[MAX_UNITS:]:
        report.edits.append(UnitImpact(unit, None, note=f"not measured alone (more than {MAX_UNITS} edits)"))
    return report


def _partner_impact(key, a, b, old: Version, new: Version, order) -> PartnerImpact:
    pa = a.points if a else ZERO
    pb = b.points if b else ZERO
    ta = a.tier if a else old.plan.tier_for(ZERO)
    tb = b.tier if b else new.plan.tier_for(ZERO)
    return PartnerImpact(key[0], key[1], pa, pb, ta, tb, order)


def _tier_of(lane, key, version: Version) -> str:
    pp = lane.partners.get(key)
    return pp.tier if pp is not None else version.plan.tier_for(ZERO)


def _hybrids(old: Version, new: Version, unit_list: list[Unit]) -> tuple[list[Version | None], list[str]]:
    """Per unit, the old version with that unit applied (compiled), or None and why not."""
    from engine.compile import compile_ruleset

    out, notes = [], []
    for unit in unit_list:
        try:
            ruleset = apply(old.ruleset, new.ruleset, unit)
            plan = compile_ruleset(ruleset)
        except (CannotApply, ValueError, KeyError) as err:
            out.append(None)
            notes.append(f"cannot be applied alone ({err}); measured in the interaction")
            continue
        out.append(Version(ruleset, old.path, old.source, old.sha256, plan))
        notes.append("")
    return out, notes


def _tier_order(old: Version, new: Version) -> tuple[str, ...]:
    names: list[str] = []
    for v in (old, new):
        for spec in sorted(v.plan.tiers, key=lambda s: s.threshold):
            if spec.name not in names:
                names.append(spec.name)
    return tuple(names)


def _rules(old: Version, new: Version, lane_old, lane_new, compared, diff) -> list[RuleImpact]:
    def totals(lane) -> dict:
        c: dict = {}
        for key, pp in lane.partners.items():
            if not compared(key):
                continue
            for rid, pts in pp.by_rule.items():
                c[rid] = c.get(rid, ZERO) + pts
        return c

    a, b = totals(lane_old), totals(lane_new)
    edits = rule_changes_by_id(diff)
    out = []
    for rid in sorted(set(a) | set(b) | set(edits)):
        pa, pb = a.get(rid, ZERO), b.get(rid, ZERO)
        words = tuple(e.describe() for e in edits.get(rid, ()))
        if pa != pb or words:
            out.append(RuleImpact(rid, pa, pb, words))
    return sorted(out, key=lambda r: (-abs(r.delta), r.rule_id))


# --- status reviews under each version ---------------------------------------------------------


def _review_periods(program: Program, unit: str, last_signed: date | None, as_of: date | None):
    """The periods to review (from the program's start to as_of) and the current one, if any."""
    label = period_of(program._starts[0], unit)
    day = as_of or last_signed or program._starts[0]
    last = period_of(day, unit)
    periods = []
    while period_sort_key(label) <= period_sort_key(last):
        periods.append(label)
        label = next_period(label, unit)
    current = periods.pop() if periods and period_bounds(last, unit)[1] > day else None
    return periods, current


def _side_review(version: Version, lane, legacy: dict[str, str], periods: list[str]) -> list:
    from engine.status import policy_from_ruleset, review

    points: dict[str, dict[str, Decimal]] = {}
    for (partner, period), pp in lane.partners.items():
        points.setdefault(partner, {})[period] = pp.points
    policy = policy_from_ruleset(version.ruleset)
    return review(points, periods, lambda _label: policy, legacy) if periods else []


def _reviews(program, old, new, lane_old, lane_new, legacy, as_of, order) -> Reviews:
    periods, current = _review_periods(program, new.ruleset.period, lane_old.counts.last_signed, as_of)
    return Reviews(periods, current, _side_review(old, lane_old, legacy, periods),
                   _side_review(new, lane_new, legacy, periods), order)


def _status_moves(program, old, hybrid, lane_old, lane, legacy, as_of, order, reviews: Reviews, wanted) -> int:
    decided = {(d.partner_id, d.period): d.status_after for d in reviews.old}
    moved = 0
    for d in _side_review(hybrid, lane, legacy, reviews.periods):
        if (not wanted or d.period in wanted) and decided.get((d.partner_id, d.period)) != d.status_after:
            moved += 1
    return moved


# --- one partner side by side -------------------------------------------------------------------


def side_by_side(old: Version, new: Version, data: str | Path, partner_id: str,
                 options: RunOptions | None = None, *, first_day: date | None = None,
                 periods: tuple[str, ...] = ()) -> list[dict]:
    """One partner's contracts (of `periods`, or all) with their points under both versions, in file order."""
    from dataclasses import replace

    base = options or RunOptions()
    program = two_version_program(old, new, first_day)
    unit = new.ruleset.period
    wanted = set(periods)

    def chosen(_row, rec) -> bool:
        return rec["partner_id"] == partner_id and (not wanted or period_of(rec["signed"], unit) in wanted)

    sides, refused = [], []
    for version in (old, new):  # each side reads the rows with its own version's input block
        found, rejected = [], []
        opts = replace(base, trace_when=chosen, on_traced=found.append,
                       on_reject=lambda r, rejected=rejected: rejected.append(r) if r.partner_id == partner_id else None)
        evaluate(program, data, opts, fixed=(version,))
        sides.append({t.row: t for t in found})
        refused.append({r.row: r for r in rejected})
    rows = []
    for row in sorted(set(sides[0]) | set(sides[1])):
        a, b = sides[0].get(row), sides[1].get(row)
        any_side = a or b
        old_points = a.points if a and a.status == "scored" else ZERO
        new_points = b.points if b and b.status == "scored" else ZERO
        rows.append({
            "row": row, "contract_id": any_side.record["contract_id"], "signed": any_side.record["signed"].isoformat(),
            "period": period_of(any_side.record["signed"], unit), "product": any_side.record.get("product"),
            "old": _side(a, refused[0].get(row)), "new": _side(b, refused[1].get(row)),
            "delta": fmt_points(new_points - old_points),
        })
    return rows


def _side(t, rejected=None) -> dict:
    if t is None and rejected is not None:  # this side's input block refuses the row
        return {"status": "rejected", "field": rejected.field, "code": rejected.code, "reason": rejected.reason}
    if t is None:
        return {"status": "absent"}
    if t.status != "scored":
        return {"status": t.status, "reason": t.reason}
    return {"status": "scored", "points": fmt_points(t.points),
            "rules": {c.rule_id: fmt_points(c.points) for c in t.score.contributions}}
