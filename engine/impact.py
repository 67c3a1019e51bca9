"""The impact of a new version on real data: every partner's points and tier under both.

Both versions score *all* contracts (as if each applied to every one of them), in one pass over
the file: the runner's two fixed lanes share reading and validation, so an impact run costs less
than two evaluations. Rows are validated with the NEW version's `input` block.

Attribution: each side keeps its points per rule, so the total change splits exactly into per-rule
changes (a removed rule loses all its points, an added one gains all of its); each rule's change is
shown beside the edits of that rule and of the tables it uses (engine.diff.rule_changes_by_id).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from engine.diff import diff_rulesets, rule_changes_by_id
from engine.numbers import fmt_points
from engine.program import Program, Version
from engine.run import RunOptions, evaluate

ZERO = Decimal(0)


@dataclass(frozen=True)
class PartnerImpact:
    """One partner-period under both versions."""

    partner_id: str
    period: str
    old_points: Decimal
    new_points: Decimal
    old_tier: str | None
    new_tier: str | None

    @property
    def delta(self) -> Decimal:
        return self.new_points - self.old_points

    def to_row(self) -> dict:
        return {"partner_id": self.partner_id, "period": self.period, "old_points": fmt_points(self.old_points),
                "new_points": fmt_points(self.new_points), "delta": fmt_points(self.delta),
                "old_tier": self.old_tier or "", "new_tier": self.new_tier or "",
                "move": move(self.old_tier, self.new_tier, self.tier_order)}

    tier_order: tuple = field(default=(), compare=False, repr=False)


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

    @property
    def old_total(self) -> Decimal:
        return sum((p.old_points for p in self.partners), ZERO)

    @property
    def new_total(self) -> Decimal:
        return sum((p.new_points for p in self.partners), ZERO)

    def movers(self, n: int = 10) -> list[PartnerImpact]:
        """The partner-periods whose points changed most, largest change first."""
        moved = [p for p in self.partners if p.delta]
        return sorted(moved, key=lambda p: (-abs(p.delta), p.partner_id, p.period))[:n]

    def to_json(self) -> dict:
        return {
            "old": self.old.describe(), "new": self.new.describe(),
            "points": {"old": fmt_points(self.old_total), "new": fmt_points(self.new_total),
                       "delta": fmt_points(self.new_total - self.old_total)},
            "rows": {"old": self.counts_old.to_json(), "new": self.counts_new.to_json()},
            "transitions": {period: [{"from": a, "to": b, "partners": n} for (a, b), n in sorted(c.items())]
                            for period, c in sorted(self.transitions.items())},
            "rules": [{"rule_id": r.rule_id, "old_points": fmt_points(r.old_points), "new_points": fmt_points(r.new_points),
                       "delta": fmt_points(r.delta), "edits": list(r.edits)} for r in self.rules],
            "movers": [p.to_row() for p in self.movers()],
            "partners": [p.to_row() for p in self.partners],
        }


def move(old: str | None, new: str | None, order: tuple) -> str:
    """`up`, `down` or `` between two tiers by their order (lowest first)."""
    if old == new or old not in order or new not in order:
        return ""
    return "up" if order.index(new) > order.index(old) else "down"


def two_version_program(old: Version, new: Version) -> Program:
    """A program holding just the two versions, for the runner's fixed lanes."""
    return Program(name=new.ruleset.program or "?", versions=(old, new), _starts=(old.effective, new.effective))


def impact(old: Version, new: Version, data: str | Path, options: RunOptions | None = None) -> ImpactReport:
    """Score every contract of `data` under both versions and compare partner by partner."""
    program = two_version_program(old, new)
    result = evaluate(program, data, options or RunOptions(), fixed=(old, new))
    lane_old, lane_new = result.lanes
    order = _tier_order(old, new)
    keys = sorted(set(lane_old.partners) | set(lane_new.partners))
    partners, transitions = [], {}
    for key in keys:
        a, b = lane_old.partners.get(key), lane_new.partners.get(key)
        pa = a.points if a else ZERO
        pb = b.points if b else ZERO
        ta = a.tier if a else old.plan.tier_for(ZERO)
        tb = b.tier if b else new.plan.tier_for(ZERO)
        partners.append(PartnerImpact(key[0], key[1], pa, pb, ta, tb, order))
        transitions.setdefault(key[1], Counter())[(ta, tb)] += 1
    return ImpactReport(old, new, partners, _rules(old, new, lane_old, lane_new), transitions, order,
                        lane_old.counts, lane_new.counts)


def _tier_order(old: Version, new: Version) -> tuple[str, ...]:
    names: list[str] = []
    for v in (old, new):
        for spec in sorted(v.plan.tiers, key=lambda s: s.threshold):
            if spec.name not in names:
                names.append(spec.name)
    return tuple(names)


def _rules(old: Version, new: Version, lane_old, lane_new) -> list[RuleImpact]:
    def totals(lane) -> Counter:
        c: dict = {}
        for pp in lane.partners.values():
            for rid, pts in pp.by_rule.items():
                c[rid] = c.get(rid, ZERO) + pts
        return c

    a, b = totals(lane_old), totals(lane_new)
    edits = rule_changes_by_id(diff_rulesets(old.ruleset, new.ruleset))
    out = []
    for rid in sorted(set(a) | set(b) | set(edits)):
        pa, pb = a.get(rid, ZERO), b.get(rid, ZERO)
        words = tuple(e.describe() for e in edits.get(rid, ()))
        if pa != pb or words:
            out.append(RuleImpact(rid, pa, pb, words))
    return sorted(out, key=lambda r: (-abs(r.delta), r.rule_id))


def side_by_side(old: Version, new: Version, data: str | Path, partner_id: str,
                 options: RunOptions | None = None) -> list[dict]:
    """One partner's contracts with their points under both versions, in file order."""
    from dataclasses import replace

    base = options or RunOptions()
    sides = []
    for version in (old, new):
        found = []
        opts = replace(base, trace_when=lambda n, rec: rec["partner_id"] == partner_id, on_traced=found.append)
        evaluate(two_version_program(old, new), data, opts, fixed=(version,))
        sides.append({t.row: t for t in found})
    rows = []
    for row in sorted(set(sides[0]) | set(sides[1])):
        a, b = sides[0].get(row), sides[1].get(row)
        any_side = a or b
        rows.append({
            "row": row, "contract_id": any_side.record["contract_id"], "signed": any_side.record["signed"].isoformat(),
            "product": any_side.record.get("product"),
            "old": _side(a), "new": _side(b),
            "delta": fmt_points((b.points if b and b.status == "scored" else ZERO)
                                - (a.points if a and a.status == "scored" else ZERO)),
        })
    return rows


def _side(t) -> dict:
    if t is None:
        return {"status": "absent"}
    if t.status != "scored":
        return {"status": t.status, "reason": t.reason}
    return {"status": "scored", "points": fmt_points(t.points),
            "rules": {c.rule_id: fmt_points(c.points) for c in t.score.contributions}}
