"""Partner status over time: year-end (period-end) reviews, downgrades, legacy tiers.

The review is pure logic over plain data: points per partner and period in, one frozen
`StatusDecision` per partner and period out. It knows nothing of contracts, files or the runner.

Design:
- A `ReviewPolicy` is built from one version's `tiers` and `review` blocks (`policy_from_ruleset`).
  The caller passes `policy_for_period(label)`, so each period is reviewed under the version in
  force on its last day; policies may change from one period to the next.
- Each decision names the decisive rule in words and the span of the node that decided it
  (the Tier, Downgrade, Review or LegacyMap), so `explain` can print `file:line`.
- Who gets rows: every partner with an entry in `points` (the caller passes the partners with a
  valid contract in the run, even at zero points) and every partner of the legacy file, in every period given, from the first: a
  period without an entry counts as zero points. A partner first seen in 2017 is reviewed in 2016
  too, from its legacy status or, without one, as a newcomer.
- A status name that the period's policy does not know (a later version renamed its tiers) is
  mapped through that policy's `legacy` entries; without such an entry it is a `StatusError`.
- A legacy value that is already a tier name of the first policy is taken as that tier.
- "Missed in a row" (for grace periods) counts consecutive reviews whose points missed the
  status's target; reaching the target, an upgrade or a downgrade resets it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterable, Mapping, Sequence

from dsl.ast import NO_SPAN, Review, Ruleset, Span
from dsl.errors import did_you_mean
from engine.numbers import fmt_grouped

ZERO = Decimal(0)


class StatusError(ValueError):
    """A status cannot be decided: unknown legacy name, unknown tier, missing tiers block."""


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """One tier: the points that earn it and the (lower) points that keep it at a review."""

    name: str
    threshold: Decimal
    keep: Decimal | None = None
    span: Span = NO_SPAN

    @property
    def target(self) -> Decimal:
        """What a partner in this tier must reach at a review to keep it."""
        return self.keep if self.keep is not None else self.threshold


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """Tiers and review rules of one version, as the status review needs them."""

    tiers: tuple[TierPolicy, ...]  # in rising order of threshold
    downgrade: str = "earned"  # `levels`, `earned` or `grace`
    count: int = 1  # levels for `levels`, grace periods for `grace`
    downgrade_span: Span = NO_SPAN  # the Downgrade node, else the Review, else the Tiers block
    legacy: tuple[tuple[str, str, Span], ...] = ()  # (old name, tier name, span)
    newcomer: str | None = None  # None: the lowest tier
    newcomer_span: Span = NO_SPAN
    version: str | None = None  # for messages: which version this policy comes from

    def index(self, name: str) -> int | None:
        """The position of tier `name`, or None when this policy has no such tier."""
        return next((i for i, t in enumerate(self.tiers) if t.name == name), None)

    def earned_index(self, points: Decimal) -> int:
        """The highest tier whose threshold `points` reach; the lowest when none is reached."""
        reached = [i for i, t in enumerate(self.tiers) if points >= t.threshold]
        return reached[-1] if reached else 0

    def newcomer_index(self) -> int:
        """The tier a partner without a legacy status starts in."""
        if self.newcomer is None:
            return 0
        return self.require_index(self.newcomer, "newcomers start at")

    def legacy_target(self, old: str) -> tuple[str, Span] | None:
        """The tier name and span a legacy status maps to, or None."""
        return next(((new, span) for o, new, span in self.legacy if o == old), None)

    def require_index(self, name: str, where: str) -> int:
        """The position of tier `name`; a `StatusError` starting with `where` when unknown."""
        found = self.index(name)
        if found is None:
            raise StatusError(f"{where} {name!r}: {self.describe()} has no such tier"
                              f"{_suggest(name, self.tier_names())}")
        return found

    def tier_names(self) -> list[str]:
        """The tier names, lowest first."""
        return [t.name for t in self.tiers]

    def describe(self) -> str:
        """The policy's origin for messages: `version '2016.03'`."""
        return f"version {self.version!r}" if self.version else "the ruleset"


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """The review of one partner at the end of one period."""

    partner_id: str
    period: str
    status_before: str
    points: Decimal
    earned: str
    target: Decimal  # keep (or threshold) of status_before
    status_after: str
    rule: str  # the decisive rule in words
    span: Span  # the node that decided, for `file:line`
    origin: str | None = None  # how status_before came about when not carried over
    origin_span: Span = NO_SPAN

    def to_json(self) -> dict:
        """A flat, JSON-ready row (Decimals as strings) for CSV or JSON export."""
        return {
            "partner_id": self.partner_id, "period": self.period,
            "status_before": self.status_before, "points": str(self.points),
            "earned": self.earned, "target": str(self.target), "status_after": self.status_after,
            "rule": self.rule, "source": _where(self.span), "origin": self.origin,
            "origin_source": _where(self.origin_span) if self.origin else None,
        }


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a partner stands within the current period."""

    partner_id: str
    points: Decimal
    status: str
    earned: str
    target: Decimal
    needed_to_keep: Decimal  # 0 when the target is already reached
    next_tier: str | None  # None at the top
    needed_for_next: Decimal | None


# --------------------------------------------------------------------------- policy from the AST


def policy_from_ruleset(ruleset: Ruleset) -> ReviewPolicy:
    """The review policy of one version: its `tiers` block and its `review` block (or defaults)."""
    if ruleset.tiers is None or not ruleset.tiers.tiers:
        raise StatusError(f"{ruleset.file}: no `tiers` block, so there is no status to review")
    tiers = tuple(
        TierPolicy(t.name, t.threshold.value, t.keep.value if t.keep else None, t.span)
        for t in ruleset.tiers.tiers
    )
    review = ruleset.review or Review(span=ruleset.tiers.span)
    down = review.downgrade
    policy = ReviewPolicy(
        tiers=tiers,
        downgrade=down.kind if down else "earned",
        count=down.count if down else 1,
        downgrade_span=down.span if down else review.span,
        legacy=tuple((m.old, m.new, m.span) for m in review.legacy),
        newcomer=review.newcomer,
        newcomer_span=review.span,
        version=ruleset.version,
    )
    _check_names(policy)
    return policy


def _check_names(policy: ReviewPolicy) -> None:
    policy.newcomer_index()
    for old, new, span in policy.legacy:
        policy.require_index(new, f"{span.file}:{span.line}: legacy {old!r} ->")


# --------------------------------------------------------------------------- the review


@dataclass(slots=True)
class _State:
    """A partner's running state between reviews."""

    status: str
    missed: int = 0
    origin: str | None = None
    origin_span: Span = NO_SPAN


def review(
    points: Mapping[str, Mapping[str, Decimal]],
    periods: Sequence[str],
    policy_for_period: Callable[[str], ReviewPolicy],
    legacy: Mapping[str, str] | None = None,
) -> list[StatusDecision]:
    """Review every partner at the end of every period; decisions ordered by partner, then period."""
    legacy = {p: s.strip() for p, s in (legacy or {}).items() if s and s.strip()}
    if len(set(periods)) != len(periods):
        raise StatusError(f"periods to review repeat a label: {list(periods)}")
    policies = [policy_for_period(label) for label in periods]
    out: list[StatusDecision] = []
    for partner in sorted({p for p, own in points.items() if own} | set(legacy)):
        out.extend(_review_partner(partner, points.get(partner, {}), periods, policies,
                                   legacy.get(partner)))
    return out


def _review_partner(partner, own_points, periods, policies, legacy_name) -> list[StatusDecision]:
    state: _State | None = None
    decisions = []
    for label, policy in zip(periods, policies):
        if state is None:
            state = _initial_state(partner, label, own_points, policy, legacy_name)
        else:
            _carry_over(partner, state, policy)
        decision = _decide(partner, label, own_points.get(label, ZERO), policy, state)
        decisions.append(decision)
    return decisions


def _initial_state(partner, label, own_points, policy, legacy_name) -> _State:
    tier, how, span = initial_status(partner, legacy_name, policy)
    return _State(tier, origin=how, origin_span=span)


def initial_status(partner: str, legacy_name: str | None, policy: ReviewPolicy) -> tuple[str, str, Span]:
    """A partner's status before its first review: (tier, how in words, deciding span)."""
    if legacy_name is not None and legacy_name.strip():
        tier, span, how = _map_legacy(partner, legacy_name.strip(), policy)
        return tier, how, span
    tier = policy.tiers[policy.newcomer_index()].name
    return tier, f"newcomer starts at {tier}", policy.newcomer_span


def _map_legacy(partner: str, old: str, policy: ReviewPolicy) -> tuple[str, Span, str]:
    mapped = policy.legacy_target(old)
    if mapped is not None:
        return mapped[0], mapped[1], f"legacy {old!r} -> {mapped[0]}"
    index = policy.index(old)
    if index is not None:
        return old, policy.tiers[index].span, f"legacy {old!r} is a tier"
    known = [o for o, _, _ in policy.legacy]
    listing = ", ".join(repr(k) for k in known) or "none (the review block has no `legacy` lines)"
    raise StatusError(
        f"partner {partner!r}: legacy status {old!r} is not mapped by {policy.describe()}; "
        f"known legacy names: {listing}; tiers: {', '.join(policy.tier_names())}"
        f"{_suggest(old, known + policy.tier_names())}"
    )


def _carry_over(partner: str, state: _State, policy: ReviewPolicy) -> None:
    """Keep the status valid under this period's policy, renaming through `legacy` if needed."""
    state.origin, state.origin_span = None, NO_SPAN
    if policy.index(state.status) is not None:
        return
    mapped = policy.legacy_target(state.status)
    if mapped is None:
        raise StatusError(
            f"partner {partner!r}: status {state.status!r} is not a tier of {policy.describe()} "
            f"(tiers: {', '.join(policy.tier_names())}) and no `legacy` line maps it"
            f"{_suggest(state.status, policy.tier_names())}"
        )
    state.origin = f"renamed: legacy {state.status!r} -> {mapped[0]}"
    state.origin_span = mapped[1]
    state.status = mapped[0]


def _decide(partner, label, pts: Decimal, policy: ReviewPolicy, state: _State) -> StatusDecision:
    s = policy.index(state.status)
    e = policy.earned_index(pts)
    current = policy.tiers[s]
    after, rule, span = _outcome(policy, s, e, pts, state)
    decision = StatusDecision(
        partner, label, current.name, pts, policy.tiers[e].name, current.target,
        policy.tiers[after].name, rule, span, state.origin, state.origin_span,
    )
    state.status = policy.tiers[after].name
    return decision


def _outcome(policy: ReviewPolicy, s: int, e: int, pts: Decimal, state: _State) -> tuple[int, str, Span]:
    """The status index after the review, the rule in words and the deciding span."""
    if e > s:
        state.missed = 0
        return e, "upgrade to earned", policy.tiers[e].span
    if pts >= policy.tiers[s].target:
        state.missed = 0
        return s, "kept: target reached", policy.tiers[s].span
    if s == 0:
        # Nothing lies below the lowest tier (points below its target are negative).
        return s, "kept: lowest tier", policy.tiers[s].span
    return _downgrade(policy, s, e, state)


def _downgrade(policy: ReviewPolicy, s: int, e: int, state: _State) -> tuple[int, str, Span]:
    span, n = policy.downgrade_span, policy.count
    if policy.downgrade == "levels":
        state.missed = 0
        return max(e, s - n), f"downgrade at most {n} {_plural(n, 'level')}", span
    if policy.downgrade == "grace":
        state.missed += 1
        if state.missed <= n:
            return s, f"grace period {state.missed} of {n}", span
        state.missed = 0
        return e, f"downgrade after {n} grace {_plural(n, 'period')}", span
    state.missed = 0
    return e, "downgrade to earned", span


# --------------------------------------------------------------------------- explaining and standing


def explain_chain(decisions: Iterable[StatusDecision], current: str | None = None) -> list[str]:
    """One line per review, in the words an account manager reads to a partner.

    `current`: the period after the last review (the one under way), named as the status's period.
    """
    ordered = list(decisions)
    several = len({d.partner_id for d in ordered}) > 1
    lines = []
    for i, d in enumerate(ordered):
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        same = following is not None and following.partner_id == d.partner_id
        line = _explain_one(d, following.period if same else (None if several else current))
        lines.append(f"{d.partner_id}: {line}" if several else line)
    return lines


def _explain_one(d: StatusDecision, next_period: str | None) -> str:
    parts = []
    if d.origin:
        parts.append(f"{d.period}: {d.origin} ({_where(d.origin_span)})")
    compare = ">=" if d.points >= d.target else "<"
    parts.append(f"{d.period} points {fmt_grouped(d.points)} {compare} {d.status_before} target "
                 f"{fmt_grouped(d.target)} -> earned {d.earned}")
    when = f"for {next_period}" if next_period else f"after {d.period}"
    parts.append(f"{d.rule} ({_where(d.span)}) -> {d.status_after} {when}")
    return "; ".join(parts)


def standing(partner: str, status: str, points_so_far: Decimal, policy: ReviewPolicy) -> Standing:
    """Where a partner stands mid-period: what it needs to keep its status and to reach the next tier."""
    s = policy.require_index(status, f"partner {partner!r}: status")
    e = policy.earned_index(points_so_far)
    target = policy.tiers[s].target
    top = max(s, e)
    nxt = policy.tiers[top + 1] if top + 1 < len(policy.tiers) else None
    return Standing(
        partner, points_so_far, status, policy.tiers[e].name, target,
        max(ZERO, target - points_so_far),
        nxt.name if nxt else None,
        max(ZERO, nxt.threshold - points_so_far) if nxt else None,
    )


# --------------------------------------------------------------------------- small helpers


def _where(span: Span) -> str:
    return f"{span.file}:{span.line}" if span.line > 0 else "default"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _suggest(word: str, candidates: Iterable[str]) -> str:
    guess = did_you_mean(word, candidates)
    return f"; did you mean {guess!r}?" if guess and guess != word else ""
