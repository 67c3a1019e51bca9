"""Compile a ruleset into a Plan: closures per rule, an index by product, tiers.

Design:
- `compile_ruleset` runs once per ruleset version; `Plan.score` runs once per contract and only
  calls closures built here (engine/evaluate.py), never walks the AST.
- Index: scoring must not scan every rule. A rule whose top-level conjunct pins `product`
  (`product == "X"`, `product in ("X", "Y")`, `product in table`) is a candidate for those
  products only; every other rule is a candidate for every product. Candidate lists keep file
  order, so `combine first` still means "first in the file". An unknown product gets the list of
  unpinned rules.
- `key_fields` are the fields any rule reads (plus `product` when the index or the reason
  "unknown product" depends on it): a score is a function of these alone, which lets the runner
  memoise scores on the untraced path. `narrow_key` is finer: a contract's score depends only on
  its product and the fields read by that product's candidate rules, so a Unite Pool contract's
  quantity or a mobile line's pool volume does not split the memo.
- Traced and untraced scoring run the same closures. The one extra thing a tracer gets is, with
  `combine first`, the check of the rules after the winner, to trace which ones were shadowed;
  those checks cannot change the score (their failures are ignored).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Callable, Iterator

from dsl import ast
from engine import reasons, trace
from engine.evaluate import (
    EXACT, Contribution, Score, Scope, TableData, Unscorable, compile_cond, compile_points, literal_name,
)

ZERO = Decimal(0)
PRODUCT = "product"


@dataclass(frozen=True, slots=True)
class TierSpec:
    """A tier: reached at `threshold` points; `keep` is the lower target to hold it at a review."""

    name: str
    threshold: Decimal
    keep: Decimal | None
    span: ast.Span


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its condition (None: always) and its points, as closures."""

    id: str
    name: str
    span: ast.Span
    rule: ast.Rule = field(repr=False)
    pins: frozenset | None  # the products the rule is limited to; None: any product
    condition: Callable | None = field(repr=False)
    points: Callable = field(repr=False)
    reads: tuple[str, ...] = ()  # the contract fields its condition and points read

    def matches(self, record: dict, tracer) -> bool:
        """Check the condition, traced as RuleConsidered and one ConditionChecked per test."""
        if tracer is not None:
            tracer.emit(trace.RuleConsidered(self.id, self.name, self.span))
        try:
            return self.condition is None or self.condition(record, tracer)
        except ArithmeticError as e:
            raise self.out_of_range(e) from None

    def pay(self, record: dict, tracer) -> Contribution:
        """Compute the points of a matching rule, traced as RulePoints."""
        try:
            points = self.points(record, tracer)
        except ArithmeticError as e:
            raise self.out_of_range(e) from None
        if tracer is not None:
            tracer.emit(trace.RulePoints(self.id, self.name, self.span, points))
        return Contribution(self.id, self.name, points, self.span)

    def out_of_range(self, error: ArithmeticError) -> Unscorable:
        """A number beyond 28 digits (or otherwise not computable) as a reason naming the rule."""
        return Unscorable(f'rule "{self.name}": the numbers are too large to compute exactly '
                          f'(more than 28 significant digits) at {self.span.file}:{self.span.line}',
                          self.rule, reasons.TOO_LARGE)


@dataclass(frozen=True, slots=True)
class Plan:
    """An executable ruleset version; `score(record)` scores one contract."""

    program: str | None
    version: str | None
    effective: date | None
    period: str
    combine: str
    ruleset: ast.Ruleset = field(repr=False)
    tiers: tuple[TierSpec, ...]
    key_fields: tuple[str, ...]
    products: frozenset
    rules: tuple[CompiledRule, ...] = field(repr=False)
    index: dict = field(repr=False, compare=False)  # product -> tuple of candidate rules
    fallback: tuple[CompiledRule, ...] = field(repr=False)  # candidates for any other product
    indexed: bool = False  # whether `product` is a declared field the index is keyed on
    key_of: Callable = field(default=None, repr=False, compare=False)  # record -> tuple of its key_fields' values
    narrow_keys: dict = field(default=None, repr=False, compare=False)  # product -> key getter of its rules' reads

    def narrow_key(self, record: dict) -> tuple:
        """A memo key of the record's score: its product and what that product's candidate rules read."""
        product = record.get(PRODUCT)
        keys = self.narrow_keys
        if keys is None:
            return (product, self.key_of(record))
        return (product, keys.get(product, keys[None])(record))

    def candidates(self, product) -> tuple[CompiledRule, ...]:
        """The rules that may match a contract of this product, in file order."""
        if not self.indexed:
            return self.fallback
        try:
            return self.index.get(product, self.fallback)
        except TypeError:  # an unhashable value cannot name a product
            return self.fallback

    def tier_for(self, points: Decimal) -> str | None:
        """The highest tier whose threshold `points` reach; the lowest when none; None without tiers."""
        if not self.tiers:
            return None
        reached = [t for t in self.tiers if points >= t.threshold]
        pool = reached or [min(self.tiers, key=lambda t: t.threshold)]
        return max(pool, key=lambda t: t.threshold).name

    def score(self, record: dict, tracer=None) -> Score:
        """Score one typed contract record; pass a `trace.Tracer` to record why."""
        rules = self.candidates(record.get(PRODUCT))
        try:
            return COMBINERS[self.combine](self, rules, record, tracer)
        except Unscorable as e:
            rule = e.rule
            if tracer is not None:
                tracer.emit(trace.Unscored(e.reason, rule and rule.id, rule and rule.span))
            return Score("unscored", ZERO, (), e.reason, e.code)

    def no_match(self, record: dict) -> Unscorable:
        """Why a contract matched no rule: an unknown product, or simply no rule."""
        product = record.get(PRODUCT)
        if self.indexed and self.products and product is not None and product not in self.products:
            return Unscorable(f"unknown product '{product}'", code=reasons.UNKNOWN_PRODUCT)
        return Unscorable("no rule matches", code=reasons.NO_RULE)


# --------------------------------------------------------------------------- combine modes


def combine_sum(plan: Plan, rules, record: dict, tracer) -> Score:
    """Every matching rule pays."""
    paid = []
    for rule in rules:
        if rule.matches(record, tracer):
            emit_outcome(tracer, trace.RuleMatched, rule)
            paid.append(rule.pay(record, tracer))
        else:
            emit_outcome(tracer, trace.RuleSkipped, rule)
    if not paid:
        raise plan.no_match(record)
    try:
        total = sum((c.points for c in paid), ZERO) if len(paid) < 2 else _exact_total(paid)
    except ArithmeticError:
        raise Unscorable("the points of the rules that paid add up to more than 28 digits, "
                         "more than exact arithmetic holds") from None
    return Score("scored", total, tuple(paid))


def _exact_total(paid) -> Decimal:
    """The sum of several contributions, exact or an Inexact error (never rounded silently)."""
    total = ZERO
    for c in paid:
        total = EXACT.add(total, c.points)
    return total


def combine_first(plan: Plan, rules, record: dict, tracer) -> Score:
    """The first matching rule in file order pays; the later matching ones are traced as shadowed."""
    for i, rule in enumerate(rules):
        if rule.matches(record, tracer):
            emit_outcome(tracer, trace.RuleMatched, rule)
            paid = rule.pay(record, tracer)
            if tracer is not None:
                trace_shadowed(rule, rules[i + 1:], record, tracer)
            return Score("scored", paid.points, (paid,))
        emit_outcome(tracer, trace.RuleSkipped, rule)
    raise plan.no_match(record)


def trace_shadowed(winner: CompiledRule, rest, record: dict, tracer) -> None:
    """For the trace only: which later rules would have matched too."""
    for rule in rest:
        try:
            matched = rule.matches(record, tracer)
        except Unscorable:
            matched = False
        if matched:
            tracer.emit(trace.RuleShadowed(rule.id, rule.name, rule.span, winner.id))
        else:
            emit_outcome(tracer, trace.RuleSkipped, rule)


def combine_exclusive(plan: Plan, rules, record: dict, tracer) -> Score:
    """At most one rule may match; several make the contract unscored, naming them."""
    matched = []
    for rule in rules:
        if rule.matches(record, tracer):
            emit_outcome(tracer, trace.RuleMatched, rule)
            matched.append(rule)
        else:
            emit_outcome(tracer, trace.RuleSkipped, rule)
    if len(matched) > 1:
        raise Unscorable("matches several rules: " + ", ".join(f'"{r.name}"' for r in matched),
                         code=reasons.SEVERAL_RULES)
    if not matched:
        raise plan.no_match(record)
    paid = matched[0].pay(record, tracer)
    return Score("scored", paid.points, (paid,))


def emit_outcome(tracer, kind, rule: CompiledRule) -> None:
    """RuleMatched / RuleSkipped for a rule, when tracing."""
    if tracer is not None:
        tracer.emit(kind(rule.id, rule.name, rule.span))


COMBINERS = {"sum": combine_sum, "first": combine_first, "exclusive": combine_exclusive}


# --------------------------------------------------------------------------- compilation


def compile_ruleset(ruleset: ast.Ruleset) -> Plan:
    """Compile a (checked) ruleset into a Plan; raise ValueError naming the span if impossible."""
    if ruleset.combine not in COMBINERS:
        raise ValueError(f"{ruleset.file}: unknown combine mode `{ruleset.combine}`")
    block = ruleset.input("contract")
    fields = {f.name: f for f in block.fields} if block else {}
    tables = {t.name: TableData.build(t) for t in ruleset.tables}
    rules = tuple(compile_rule(r, Scope(r, fields, tables, {}), ruleset) for r in ruleset.rules)
    reads: dict = dict.fromkeys(name for rule in rules for name in rule.reads)
    check_unique_ids(rules)
    indexed = PRODUCT in fields
    products = known_products(rules, fields, ruleset) if indexed else frozenset()
    index, fallback = build_index(rules, products) if indexed else ({}, rules)
    if indexed and (products or any(r.pins is not None for r in rules)):
        reads.setdefault(PRODUCT, None)
    return Plan(
        program=ruleset.program, version=ruleset.version, effective=ruleset.effective,
        period=ruleset.period, combine=ruleset.combine, ruleset=ruleset,
        tiers=compile_tiers(ruleset.tiers), key_fields=tuple(reads), products=products,
        rules=rules, index=index, fallback=fallback, indexed=indexed, key_of=key_getter(tuple(reads)),
        narrow_keys=narrow_key_getters(index, fallback) if indexed else None,
    )


def narrow_key_getters(index: dict, fallback: tuple) -> dict:
    """Per known product (and None for any other) the key getter of its candidate rules' reads."""
    made: dict = {}  # products with the same candidate rules (most, in a large table) share one getter
    seen: dict = {}  # id of a candidates tuple -> its getter (build_index shares the tuples; all live here)

    def getter(rules) -> Callable[[dict], tuple]:
        found = seen.get(id(rules))
        if found is not None:
            return found
        key = tuple(map(id, rules))
        if key not in made:
            made[key] = key_getter(tuple(dict.fromkeys(name for rule in rules for name in rule.reads)))
        seen[id(rules)] = made[key]
        return made[key]

    getters = {product: getter(rules) for product, rules in index.items()}
    getters[None] = getter(fallback)
    return getters


def key_getter(names: tuple[str, ...]) -> Callable[[dict], tuple]:
    """`record -> (values of names)`, as cheap as Python allows: the memo key of a score."""
    if not names:
        return lambda record: ()
    if len(names) == 1:
        name = names[0]
        return lambda record: (record.get(name),)
    getters = names

    def key(record: dict) -> tuple:
        try:
            return pick(record)
        except KeyError:  # a record without one of the fields (a test's hand-made record)
            return tuple(record.get(n) for n in getters)

    import operator

    pick = operator.itemgetter(*names)
    return key


def compile_rule(rule: ast.Rule, scope: Scope, ruleset: ast.Ruleset) -> CompiledRule:
    """One rule's condition and points as closures, and the products it is pinned to."""
    condition = compile_cond(rule.when, scope) if rule.when is not None else None
    points = compile_points(rule.points, scope)
    pins = product_pins(rule.when, scope, ruleset) if PRODUCT in scope.fields else None
    return CompiledRule(rule.id, rule.name, rule.span, rule, pins, condition, points, tuple(scope.reads))


def check_unique_ids(rules) -> None:
    """Rule ids are how traces and results name rules: two rules may not share one."""
    seen: dict = {}
    for rule in rules:
        if rule.id in seen:
            raise ValueError(f"{rule.span}: rule \"{rule.name}\" has the same id `{rule.id}` "
                             f"as rule \"{seen[rule.id].name}\" at {seen[rule.id].span}")
        seen[rule.id] = rule


def compile_tiers(tiers: ast.Tiers | None) -> tuple[TierSpec, ...]:
    """The tiers in the order written, thresholds as Decimal."""
    if tiers is None:
        return ()
    return tuple(
        TierSpec(t.name, t.threshold.value, t.keep.value if t.keep else None, t.span)
        for t in tiers.tiers
    )


# --------------------------------------------------------------------------- the product index


def conjuncts(cond) -> tuple:
    """The top-level `and` items of a condition (the condition itself when it is no `and`)."""
    if cond is None:
        return ()
    if isinstance(cond, ast.And):
        return tuple(c for item in cond.items for c in conjuncts(item))
    return (cond,)


def product_pins(cond, scope: Scope, ruleset: ast.Ruleset) -> frozenset | None:
    """The products a condition limits a rule to (intersection of its pinning conjuncts), or None."""
    pins = None
    for item in conjuncts(cond):
        values = pinned_values(item, scope.fields, ruleset)
        if values is not None:
            pins = values if pins is None else pins & values
    return pins


def is_product(expr) -> bool:
    """Whether an expression is the `product` field itself."""
    return isinstance(expr, ast.Name) and expr.name == PRODUCT


def literal_text(expr, fields: dict):
    """The text a literal stands for (a string or a bare word that is no field), else None."""
    if isinstance(expr, ast.String):
        return expr.value
    if isinstance(expr, ast.Name) and expr.name not in fields:
        value = literal_name(expr.name)
        return value if isinstance(value, str) else None
    return None


def pinned_values(cond, fields: dict, ruleset: ast.Ruleset) -> frozenset | None:
    """Products one conjunct pins: `product == "X"`, `product in (...)`, `product in table`."""
    if isinstance(cond, ast.Compare) and cond.op == "==":
        side = cond.right if is_product(cond.left) else cond.left if is_product(cond.right) else None
        text = literal_text(side, fields) if side is not None else None
        return frozenset([text]) if text is not None else None
    if isinstance(cond, ast.InList) and not cond.negated and is_product(cond.operand):
        texts = [literal_text(v, fields) for v in cond.values]
        return frozenset(texts) if all(t is not None for t in texts) else None
    if isinstance(cond, ast.InTable) and not cond.negated and is_product(cond.operand):
        table = ruleset.table(cond.table)
        return frozenset(r.key for r in table.rows) if table else None
    return None


def atoms(cond) -> Iterator:
    """Every atomic test of a condition, at any depth."""
    if isinstance(cond, (ast.And, ast.Or)):
        for item in cond.items:
            yield from atoms(item)
    elif isinstance(cond, ast.Not):
        yield from atoms(cond.operand)
    elif cond is not None:
        yield cond


def known_products(rules, fields: dict, ruleset: ast.Ruleset) -> frozenset:
    """Every product the plan knows: named in a `product ==/in` test anywhere in a condition,
    or a first key of a table by product."""
    known: set = set()
    for rule in rules:
        for atom in atoms(rule.rule.when):
            known |= pinned_values(atom, fields, ruleset) or set()
    for table in ruleset.tables:
        if table.keys and table.keys[0] == PRODUCT:
            known |= {row.key for row in table.rows}
    return frozenset(known)


def build_index(rules, products: frozenset) -> tuple[dict, tuple]:
    """For each known product its candidate rules in file order; the unpinned rules for the rest."""
    fallback = tuple(r for r in rules if r.pins is None)
    pinned: dict = {}  # product -> the indices of the pinned rules that name it, in file order
    for i, rule in enumerate(rules):
        if rule.pins is not None:
            for p in rule.pins:
                pinned.setdefault(p, []).append(i)
    shared: dict = {(): fallback}  # products with the same candidates (most, in a large table) share one tuple
    index = {}
    for p in sorted(products):
        which = tuple(pinned.get(p, ()))
        found = shared.get(which)
        if found is None:
            named = set(which)
            found = shared[which] = tuple(r for i, r in enumerate(rules) if r.pins is None or i in named)
        index[p] = found
    return index, fallback
