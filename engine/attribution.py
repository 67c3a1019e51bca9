"""One edit at a time: the old version with a single change of the new one applied.

`points diff --impact` says what each change does on its own. The meaningful edits of the semantic
diff (engine.diff) are grouped into *units*, each a change a program owner decides on:

| unit | the edits it holds |
| --- | --- |
| a table cell | one cell of one row (`table mobile_tariffs, "O2 Business L" / new: 220 -> 240`) |
| a table row | a product added to or removed from a table |
| a table | a whole table added or removed, or its key columns changed |
| a rule | a rule added or removed |
| a rule's condition / formula / caps, floors and roundings | one part of a changed rule |
| the order of rules | under `combine first`, the new order of the rules both versions have |
| a tier | a tier's threshold and `keep` target, or the tier added or removed |
| the review policy | legacy statuses, downgrade policy, newcomers |
| the period, the combine mode, the input block | each as a whole |

Units are listed in the diff's own order (areas as engine.diff.AREAS, then keys), so the same two
versions always give the same list. `apply(old, new, unit)` builds the old ruleset with that one
unit taken from the new one; the impact report scores the data under each such ruleset in the
same pass as the two versions, and reports each unit's change alone. What the units do together
beyond the sum of their separate effects is the *interaction*; by construction the separate
changes plus the interaction add up exactly to the total change.

Examples and quality KPIs never change points or statuses, and header names and dates are
informational: they make no unit.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from dsl import ast as A
from engine.diff import Edit, RulesetDiff


@dataclass(frozen=True)
class Unit:
    """A change that can be applied on its own: its kind, what it is about, and its edits."""

    kind: str  # cell | row | table | rule | when | formula | modifiers | order | tier | review | period | combine | input
    key: tuple[str, ...]
    edits: tuple[Edit, ...]

    def describe(self) -> str:
        return "; ".join(e.describe() for e in self.edits)


_RULE_KINDS = {"rule condition": "when", "rule formula": "formula", "cap": "modifiers", "floor": "modifiers",
               "rounding": "modifiers"}
_REVIEW_AREAS = ("review", "legacy", "downgrade")


def units(diff: RulesetDiff) -> list[Unit]:
    """The meaningful edits of `diff` grouped into units, in the diff's order."""
    order: list[tuple] = []
    grouped: dict[tuple, list[Edit]] = {}
    for e in diff.meaningful:
        key = _unit_key(e)
        if key is None:
            continue
        if key not in grouped:
            grouped[key] = []
            order.append(key)
        grouped[key].append(e)
    return [Unit(k[0], k[1:], tuple(grouped[k])) for k in order]


def _unit_key(e: Edit) -> tuple | None:
    if e.area == "table cell":
        return ("cell", *e.key)
    if e.area == "table row":
        return ("row", *e.key)
    if e.area == "table":
        return ("table", e.key[0])
    if e.area == "rule":
        if e.key[-1:] == ("position",):
            return ("order",)
        if len(e.key) == 1:
            return ("rule", e.key[0])
        return None  # a rule's new name: the rule's id, and so its points, stay
    if e.area in _RULE_KINDS:
        kind = _RULE_KINDS[e.area]
        if e.area == "rule formula" and e.key[1:] == ("order",):
            kind = "modifiers"
        return (kind, e.key[0])
    if e.area == "tier":
        return ("tier", e.key[0])
    if e.area in _REVIEW_AREAS:
        return ("review",)
    if e.area == "header":
        return (e.key[0],) if e.key[0] in ("period", "combine") else None
    if e.area == "input":
        return ("input",)
    return None  # quality, KPIs and examples change neither points nor statuses


class CannotApply(Exception):
    """The unit cannot stand without another one (e.g. a rule reading a table that is new too)."""


def apply(old: A.Ruleset, new: A.Ruleset, unit: Unit) -> A.Ruleset:
    """`old` with `unit` taken from `new`."""
    kind, key = unit.kind, unit.key
    if kind in ("cell", "row", "table"):
        return _apply_table(old, new, kind, key)
    if kind == "rule":
        return _apply_rule(old, new, key[0])
    if kind in ("when", "formula", "modifiers"):
        return _apply_rule_part(old, new, kind, key[0])
    if kind == "order":
        return _apply_order(old, new)
    if kind == "tier":
        return _apply_tier(old, new, key[0])
    statement_type = {"review": A.Review, "period": A.PeriodDecl, "combine": A.CombineDecl}.get(kind)
    if statement_type is not None:
        return _swap_statement(old, _first(old, statement_type), _first(new, statement_type))
    if kind == "input":
        return _swap_statement(old, old.input("contract"), new.input("contract"))
    raise CannotApply(f"no way to apply a change of kind {kind}")


# --- statements ------------------------------------------------------------------------------


def _first(rs: A.Ruleset, kind: type):
    return next((s for s in rs.statements if isinstance(s, kind)), None)


def _swap_statement(rs: A.Ruleset, old_node, new_node, before=None) -> A.Ruleset:
    """`old_node` replaced by `new_node` (None: removed; no old one: added before `before` or at the end)."""
    statements = list(rs.statements)
    if old_node is not None:
        i = next(i for i, s in enumerate(statements) if s is old_node)
        if new_node is None:
            del statements[i]
        else:
            statements[i] = new_node
    elif new_node is not None:
        i = next((i for i, s in enumerate(statements) if s is before), len(statements)) if before is not None \
            else len(statements)
        statements.insert(i, new_node)
    return replace(rs, statements=tuple(statements))


# --- tables ----------------------------------------------------------------------------------


def _apply_table(old: A.Ruleset, new: A.Ruleset, kind: str, key: tuple) -> A.Ruleset:
    name = key[0]
    table_a, table_b = old.table(name), new.table(name)
    if kind == "table":
        return _swap_statement(old, table_a, table_b, before=old.rules[0] if old.rules else None)
    if table_a is None or table_b is None:
        raise CannotApply(f"table {name} is not in both versions")
    rows_a = {r.key: r for r in table_a.rows}
    rows_b = {r.key: r for r in table_b.rows}
    row_key = key[1]
    if kind == "row":
        if row_key in rows_a:
            rows = tuple(r for r in table_a.rows if r.key != row_key)
        else:
            rows = table_a.rows + (rows_b[row_key],)
        return _swap_statement(old, table_a, replace(table_a, rows=rows))
    column = key[2] if len(key) > 2 else None
    row_a, row_b = rows_a[row_key], rows_b[row_key]
    cell_b = next((c for c in row_b.cells if c.column == column), None)
    cells = [c for c in row_a.cells if c.column != column]
    if cell_b is not None:
        at = next((i for i, c in enumerate(row_a.cells) if c.column == column), len(cells))
        cells.insert(at, cell_b)
    rows = tuple(replace(row_a, cells=tuple(cells)) if r is row_a else r for r in table_a.rows)
    return _swap_statement(old, table_a, replace(table_a, rows=rows))


# --- rules -----------------------------------------------------------------------------------


def _rule(rs: A.Ruleset, rule_id: str) -> A.Rule | None:
    return next((r for r in rs.rules if r.id == rule_id), None)


def _apply_rule(old: A.Ruleset, new: A.Ruleset, rule_id: str) -> A.Ruleset:
    rule_a, rule_b = _rule(old, rule_id), _rule(new, rule_id)
    if rule_a is not None:
        return _swap_statement(old, rule_a, None)
    # an added rule goes before the first old rule that follows it in the new version, which
    # keeps its place under `combine first`
    ids_b = [r.id for r in new.rules]
    later = ids_b[ids_b.index(rule_id) + 1:]
    before = next((r for rid in later for r in old.rules if r.id == rid), None)
    return _swap_statement(old, None, rule_b, before=before)


def _apply_rule_part(old: A.Ruleset, new: A.Ruleset, kind: str, rule_id: str) -> A.Ruleset:
    rule_a, rule_b = _rule(old, rule_id), _rule(new, rule_id)
    if rule_a is None or rule_b is None:
        raise CannotApply(f"rule {rule_id} is not in both versions")
    if kind == "when":
        changed = replace(rule_a, when=rule_b.when)
    elif kind == "formula":
        changed = replace(rule_a, points=replace(rule_a.points, expr=rule_b.points.expr, per=rule_b.points.per))
    else:
        changed = replace(rule_a, points=replace(rule_a.points, modifiers=rule_b.points.modifiers))
    return _swap_statement(old, rule_a, changed)


def _apply_order(old: A.Ruleset, new: A.Ruleset) -> A.Ruleset:
    """The rules both versions have, in the new version's order, in the places old's rules stand."""
    ids_a = {r.id for r in old.rules}
    common_b = [r.id for r in new.rules if r.id in ids_a]
    by_id = {r.id: r for r in old.rules}
    queue = iter(by_id[rid] for rid in common_b)
    statements = tuple(next(queue) if isinstance(s, A.Rule) and s.id in ids_a else s for s in old.statements)
    return replace(old, statements=statements)


# --- tiers -----------------------------------------------------------------------------------


def _apply_tier(old: A.Ruleset, new: A.Ruleset, name: str) -> A.Ruleset:
    tiers_a, tiers_b = old.tiers, new.tiers
    if tiers_a is None or tiers_b is None:
        return _swap_statement(old, tiers_a, tiers_b)
    tier_b = next((t for t in tiers_b.tiers if t.name == name), None)
    kept = [t for t in tiers_a.tiers if t.name != name]
    if tier_b is not None:
        kept.append(tier_b)
    kept.sort(key=lambda t: t.threshold.value)
    return _swap_statement(old, tiers_a, replace(tiers_a, tiers=tuple(kept)))
