"""Static analysis of a ruleset (warnings W3xx) and the name scope the checks share.

Design:
- Conditions are turned into a small disjunctive normal form of *atoms* (`field op value`).
  An atom is only built when one side is a declared field and the other a literal; anything
  else (field against field, arithmetic) becomes "unknown", which counts as always true. This
  keeps every warning sound in the direction that matters: "can never match" and "row never
  reached" are only said when proven; "can overlap" is said unless disjointness is proven.
- A missing optional field makes every comparison false, but `not (x == a)` true. Atoms that
  come from a negation therefore do not require the field to be present; a conjunction is
  satisfiable when some present value fits all atoms, or when the field may be absent and no
  atom requires it.
- The DNF is capped (MAX_DISJUNCTS); a larger condition is treated as unknown.
- `Scope` lives here (not in dsl.checks) so both modules can use it without a cycle.
"""
from __future__ import annotations

import dataclasses
import heapq
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import product as cartesian
from typing import Iterator

from . import ast as A
from .errors import Diagnostic, did_you_mean

MAX_DISJUNCTS = 256
MAX_OVERLAPS_SHOWN = 5  # under exclusive, the earlier rules named for one rule
MAX_OVERLAP_TESTS = 100_000  # pairs of rules compared for W303; then W308 says where it stopped
BOOL_WORDS = {"true": True, "false": False}  # as the engine reads bare words
UNKNOWN = object()  # a value the analysis cannot know statically
FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "notin", "notin": "in"}


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class Scope:
    """The names a ruleset declares: contract fields, quality fields, tables, tiers."""

    file: str
    fields: dict[str, A.FieldDecl]
    quality_fields: dict[str, A.FieldDecl]
    tables: dict[str, A.Table]
    tiers: tuple[str, ...]
    values: frozenset[str] = frozenset()  # every value of every `one of` field

    @classmethod
    def of(cls, ruleset: A.Ruleset) -> "Scope":
        """The scope of a ruleset; the first declaration of a duplicated name wins."""
        tables: dict[str, A.Table] = {}
        for t in ruleset.tables:
            tables.setdefault(t.name, t)
        tiers = ruleset.tiers.tiers if ruleset.tiers else ()
        fields = _fields(ruleset.input("contract"))
        values = frozenset(c for f in fields.values() for c in f.choices)
        return cls(ruleset.file, fields, _fields(ruleset.input("quality")), tables,
                   tuple(dict.fromkeys(t.name for t in tiers)), values)

    def field(self, expr) -> A.FieldDecl | None:
        """The contract field a bare word names, or None."""
        return self.fields.get(expr.name) if isinstance(expr, A.Name) else None


def _fields(block: A.InputBlock | None) -> dict[str, A.FieldDecl]:
    out: dict[str, A.FieldDecl] = {}
    for f in block.fields if block else ():
        out.setdefault(f.name, f)
    return out


EMPTY_SCOPE = Scope("<none>", {}, {}, {}, ())  # for literals that need no names


def value_of(expr, scope: Scope, against: A.FieldDecl | None = None):
    """The Python value of a literal (a `one of` value or true/false for a bare word), else UNKNOWN."""
    if isinstance(expr, (A.Number, A.Percent)):
        return expr.value
    if isinstance(expr, (A.String, A.DateLit)):
        return expr.value
    if isinstance(expr, A.Neg) and isinstance(expr.operand, A.Number):
        return -expr.operand.value
    if isinstance(expr, A.Name):
        if against is not None and expr.name in against.choices:
            return expr.name
        if expr.name in scope.fields:
            return UNKNOWN
        if expr.name in BOOL_WORDS:
            return BOOL_WORDS[expr.name]
        if expr.name in scope.values:
            return expr.name
    return UNKNOWN


def walk(node) -> Iterator:
    """Every AST node under `node` (itself included), depth first, in field order.

    Iterative, with each node class's field names looked up once: a 5,000-row table is a large
    tree, and every check that walks it stays linear and cheap.
    """
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(reversed(item))
            continue
        names = _child_fields(type(item))
        if names is None:
            continue
        yield item
        stack.extend(getattr(item, name) for name in reversed(names))


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _child_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of an AST node class that can hold nodes (not `span`); None for a non-node."""
    try:
        return _FIELDS[cls]
    except KeyError:
        names = None
        if dataclasses.is_dataclass(cls) and cls is not A.Span:
            names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "span")
        _FIELDS[cls] = names
        return names


def warn(code: str, message: str, span: A.Span, hint: str | None = None) -> Diagnostic:
    """A warning finding."""
    return Diagnostic(code, message, span, severity="warning", hint=hint)


# --------------------------------------------------------------------------- conditions as DNF


@dataclass(frozen=True)
class Atom:
    """`field op value`; op also `in` / `notin` with a frozenset. `presence`: false when absent."""

    field: str
    op: str
    value: object
    presence: bool = True
    span: A.Span = A.NO_SPAN


Conj = tuple[Atom, ...]
TRUE: list[Conj] = [()]


def dnf(cond, scope: Scope, negate: bool = False) -> list[Conj]:
    """The condition as a list of conjunctions of atoms (unknown parts are left out)."""
    if cond is None:
        return TRUE
    if isinstance(cond, A.Not):
        return dnf(cond.operand, scope, not negate)
    if isinstance(cond, (A.And, A.Or)):
        parts = [dnf(c, scope, negate) for c in cond.items]
        conjunctive = isinstance(cond, A.And) != negate
        return _conjoin(parts) if conjunctive else _disjoin(parts)
    atom = _atom(cond, scope)
    if atom is None:
        return TRUE
    if negate:
        atom = dataclasses.replace(atom, op=NEGATE[atom.op], presence=False)
    return [(atom,)]


def _conjoin(parts: list[list[Conj]]) -> list[Conj]:
    size = 1
    for p in parts:
        size *= len(p)
        if size > MAX_DISJUNCTS:  # stop at once: the product of thousands of parts is a huge number
            return TRUE
    return [tuple(a for conj in combo for a in conj) for combo in cartesian(*parts)]


def _disjoin(parts: list[list[Conj]]) -> list[Conj]:
    out = [c for p in parts for c in p]
    return TRUE if len(out) > MAX_DISJUNCTS or () in out else out


def _atom(cond, scope: Scope) -> Atom | None:
    if isinstance(cond, A.Compare):
        return _compare_atom(cond, scope)
    decl = scope.field(getattr(cond, "operand", None))
    if decl is None:
        return None
    op = "notin" if cond.negated else "in"
    if isinstance(cond, A.InList):
        values = [value_of(v, scope, decl) for v in cond.values]
        if any(v is UNKNOWN or not _fits_kind(v, decl) for v in values):
            return None
        return Atom(decl.name, op, frozenset(values), span=cond.span)
    table = scope.tables.get(cond.table)
    if table is None or decl.kind not in ("text", "choice"):
        return None
    return Atom(decl.name, op, frozenset(r.key for r in table.rows), span=cond.span)


def _compare_atom(cond: A.Compare, scope: Scope) -> Atom | None:
    left, op, right = cond.left, cond.op, cond.right
    if scope.field(left) is None:
        left, op, right = right, FLIP[op], left
    decl = scope.field(left)
    if decl is None:
        return None
    value = value_of(right, scope, decl)
    if value is UNKNOWN or not _fits_kind(value, decl):
        return None
    return Atom(decl.name, op, value, span=cond.span)


def _fits_kind(value, decl: A.FieldDecl) -> bool:
    """Whether a literal can be compared with the field at all (type errors are N2xx, not here)."""
    if decl.kind in ("text", "choice"):
        return isinstance(value, str)
    if decl.kind in ("integer", "decimal"):
        return isinstance(value, Decimal)
    if decl.kind == "date":
        return isinstance(value, date)
    if decl.kind == "boolean":
        return isinstance(value, bool)
    return False


# --------------------------------------------------------------------------- satisfiability


def satisfiable(conj: Conj, scope: Scope) -> bool:
    """Whether some contract can make every atom of the conjunction true."""
    return all(field_satisfiable(f, atoms, scope) for f, atoms in _by_field(conj).items())


def _by_field(conj: Conj) -> dict[str, list[Atom]]:
    out: dict[str, list[Atom]] = {}
    for a in conj:
        out.setdefault(a.field, []).append(a)
    return out


def field_satisfiable(name: str, atoms: list[Atom], scope: Scope) -> bool:
    """Whether one field can satisfy all its atoms (being present, or absent when allowed)."""
    decl = scope.fields[name]
    may_be_absent = not decl.required and decl.default is None
    if may_be_absent and not any(a.presence for a in atoms):
        return True
    values = possible_values(decl, atoms)
    if values is not None:
        return bool(values)
    lo, hi = _interval(decl, atoms)
    return _interval_nonempty(decl, lo, hi, _excluded(atoms))


def possible_values(decl: A.FieldDecl, atoms: list[Atom]) -> set | None:
    """The finite set of present values the atoms allow, or None when it is not finite."""
    domain = _domain(decl)
    for a in atoms:
        if a.op == "==":
            domain = {a.value} if domain is None else domain & {a.value}
        elif a.op == "in":
            domain = set(a.value) if domain is None else domain & set(a.value)
    if domain is None:
        return None
    lo, hi = _interval(decl, atoms)
    excluded = _excluded(atoms)
    return {v for v in domain if v not in excluded and _within(v, lo, hi)}


def _domain(decl: A.FieldDecl) -> set | None:
    if decl.kind == "choice":
        return set(decl.choices)
    if decl.kind == "boolean":
        return {True, False}
    return None


def _excluded(atoms: list[Atom]) -> set:
    out: set = set()
    for a in atoms:
        if a.op == "!=":
            out.add(a.value)
        elif a.op == "notin":
            out |= a.value
    return out


def _interval(decl: A.FieldDecl, atoms: list[Atom]):
    """The (value, inclusive) lower and upper limits from the field's bounds and the atoms."""
    lo = hi = None
    limits = [(b.op, value_of(b.value, EMPTY_SCOPE)) for b in decl.bounds]
    limits += [(a.op, a.value) for a in atoms if a.op in ("<", "<=", ">", ">=")]
    for op, v in limits:
        if not isinstance(v, (Decimal, date)) or isinstance(v, bool):
            continue
        try:
            if op in (">", ">="):
                lo = _tighter(lo, (v, op == ">="), higher=True)
            elif op in ("<", "<="):
                hi = _tighter(hi, (v, op == "<="), higher=False)
        except TypeError:  # a date bound against a number: a type error reported elsewhere
            continue
    return lo, hi


def _tighter(old, new, higher: bool):
    if old is None or (new[0] > old[0] if higher else new[0] < old[0]):
        return new
    if new[0] == old[0]:
        return (old[0], old[1] and new[1])
    return old


def _within(v, lo, hi) -> bool:
    try:
        above = lo is None or v > lo[0] or (v == lo[0] and lo[1])
        below = hi is None or v < hi[0] or (v == hi[0] and hi[1])
    except TypeError:  # a value of another type: not this analysis' business
        return True
    return above and below


def _interval_nonempty(decl: A.FieldDecl, lo, hi, excluded: set) -> bool:
    if lo is None or hi is None:
        return True
    try:
        if decl.kind == "integer":
            first, last = _whole(lo, up=True), _whole(hi, up=False)
            return first < last or (first == last and Decimal(first) not in excluded)
        if lo[0] < hi[0]:
            return True
        return lo[0] == hi[0] and lo[1] and hi[1] and lo[0] not in excluded
    except (TypeError, ArithmeticError):
        return True


def _whole(limit, up: bool) -> int:
    """The first whole number inside an interval limit (`up` for a lower limit)."""
    v, inclusive = limit
    n = int(v.to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR"))
    if inclusive or n != v:
        return n
    return n + 1 if up else n - 1



# --------------------------------------------------------------------------- the warnings


def analyse(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    """Every W3xx warning of a ruleset."""
    live = {id(r): [c for c in dnf(r.when, scope) if satisfiable(c, scope)] for r in ruleset.rules}
    out = list(thousands_literals(ruleset))
    out += unused_tables(ruleset)
    out += never_matching(ruleset, scope, live)
    out += unreachable_rows(ruleset, scope, live)
    out += overlapping(ruleset, scope, live)
    for rule in ruleset.rules:
        out += cap_below_floor(rule)
        out += unrounded_division(rule)
    return out


THOUSANDS = re.compile(r"^[0-9_]*[0-9]\.[0-9]{3}$")


def thousands_literals(ruleset: A.Ruleset) -> Iterator[Diagnostic]:
    """W301: `7.500` read as seven and a half where seven thousand five hundred was meant.

    Where a count of points is meant (a tier threshold, a `keep` target, the number of a cap
    `at most` or a floor `at least`) the same literal is error N231: there a fraction of a point is
    almost never meant, and a wrong threshold moves partners between tiers silently.
    """
    counts = {id(n): what for n, what in _point_counts(ruleset)}
    for node in _numbers(ruleset):
        if "." in node.text and THOUSANDS.match(node.text):
            text = node.text
            meant = text.replace(".", "_")
            short = text.rstrip("0").rstrip(".")
            as_is = number_words(short)
            what = counts.get(id(node))
            if what is None:
                yield warn("W301", f"`{node.text}` is {as_is}; write {meant} for {number_words(meant)}",
                           node.span, f"write {short} if you mean {as_is}")
            else:
                unit = "point" if as_is == "one" else "points"
                yield Diagnostic("N231", f"`{node.text}` as {what} is {as_is} {unit}; "
                                         f"write {meant} for {number_words(meant)}", node.span,
                                 severity="error",
                                 hint=f"there is no thousands separator; write {meant}, or {short} "
                                      f"if you mean {as_is}")


def _numbers(ruleset: A.Ruleset) -> Iterator[A.Number]:
    """Every number literal of a ruleset, in the order `walk` meets them.

    A table's cells are read straight from its rows (a cell holds a number and nothing else), so a
    5,000-row table costs a loop over its cells and not a walk over some 50,000 nodes.
    """
    for statement in ruleset.statements:
        if isinstance(statement, A.Table):
            for row in statement.rows:
                for cell in row.cells:
                    if type(cell.value) is A.Number:
                        yield cell.value
                    else:
                        yield from (n for n in walk(cell.value) if isinstance(n, A.Number))
        else:
            yield from (n for n in walk(statement) if isinstance(n, A.Number))


def _point_counts(ruleset: A.Ruleset) -> Iterator[tuple[A.Number, str]]:
    """The number literals that count points: tier thresholds, `keep` targets, caps and floors."""
    if ruleset.tiers is not None:
        for tier in ruleset.tiers.tiers:
            yield tier.threshold, f"the threshold of {tier.name}"
            if tier.keep is not None:
                yield tier.keep, f"the `keep` target of {tier.name}"
    for node in (n for rule in ruleset.rules for n in walk(rule)):  # caps and floors stand in rules only
        if isinstance(node, (A.AtMost, A.AtLeast)):
            word = "at most" if isinstance(node, A.AtMost) else "at least"
            limit = node.limit.operand if isinstance(node.limit, A.Neg) else node.limit
            if isinstance(limit, A.Number):
                yield limit, "the cap `at most`" if word == "at most" else "the floor `at least`"


def unused_tables(ruleset: A.Ruleset) -> Iterator[Diagnostic]:
    """W302: a table no rule looks up or tests."""
    used = {n.table for r in ruleset.rules for n in walk(r) if isinstance(n, (A.TableLookup, A.InTable))}
    for table in ruleset.tables:
        if table.name not in used:
            yield warn("W302", f"table `{table.name}` is not used by any rule", table.span,
                       f"look it up in a rule (`{table.name}[{', '.join(table.keys)}]`) or remove it")


def never_matching(ruleset: A.Ruleset, scope: Scope, live: dict) -> Iterator[Diagnostic]:
    """W305: a rule whose condition no contract can satisfy."""
    for rule in ruleset.rules:
        if rule.when is None or live[id(rule)]:
            continue
        reason, hint = _why_never(rule.when, scope)
        yield warn("W305", f'rule "{rule.name}" can never match: {reason}', rule.when.span, hint)


def _why_never(cond, scope: Scope) -> tuple[str, str]:
    conjs = dnf(cond, scope)
    for atom in (a for conj in conjs[:1] for a in conj):
        decl = scope.fields[atom.field]
        if decl.kind == "choice" and not field_satisfiable(atom.field, [atom], scope):
            shown = ", ".join(sorted(map(str, atom.value))) if atom.op == "in" else atom.value
            choices = ", ".join(decl.choices)
            guess = did_you_mean(str(shown), decl.choices) if atom.op == "==" else None
            hint = f"did you mean {guess}?" if guess else f"`{decl.name}` is one of {choices}"
            return f'`{decl.name}` is one of {choices}, never "{shown}"', hint
    for conj in conjs[:1]:
        for name, atoms in _by_field(conj).items():
            if not field_satisfiable(name, atoms, scope):
                shown = ", ".join(_atom_text(a) for a in atoms)
                return f"its conditions on `{name}` contradict each other ({shown})", \
                    "check the values and comparisons; one of them is probably mistyped"
    return "its conditions contradict each other", "check the values and comparisons"


def _atom_text(a: Atom) -> str:
    op = {"in": "in", "notin": "not in"}.get(a.op, a.op)
    if a.op in ("in", "notin"):
        return f"{a.field} {op} (" + ", ".join(_value_text(v) for v in sorted(a.value, key=str)) + ")"
    text = f"{a.field} {op} {_value_text(a.value)}"
    return text if a.presence else f"not ({a.field} {NEGATE[a.op]} {_value_text(a.value)})"


def _value_text(v, decl: A.FieldDecl | None = None) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if decl is not None and decl.kind == "choice":
        return str(v)
    return f'"{v}"' if isinstance(v, str) else str(v)


def unreachable_rows(ruleset: A.Ruleset, scope: Scope, live: dict) -> Iterator[Diagnostic]:
    """W304: table rows that no rule using the table can look up."""
    for table in ruleset.tables:
        reach = _reachable_keys(table, ruleset, scope, live)
        if not reach:  # all reachable (None), or only dead rules use it (reported as W305)
            continue
        shown = ", ".join(f'"{k}"' for k in sorted(reach))
        for row in table.rows:
            if row.key not in reach:
                yield warn("W304", f'row "{row.key}" of table `{table.name}` is never looked up: '
                           f"the rules using it only match {table.keys[0]} {shown}", row.span,
                           "add a rule that reaches it, widen a rule's condition, or remove the row")


def _reachable_keys(table: A.Table, ruleset: A.Ruleset, scope: Scope, live: dict) -> set | None:
    reach: set = set()
    lookups = 0
    for rule in ruleset.rules:
        for node in walk(rule.points):
            if isinstance(node, A.TableLookup) and node.table == table.name and node.keys:
                lookups += 1
                keys = _lookup_keys(node.keys[0], scope, live[id(rule)])
                if keys is None:
                    return None
                reach |= keys
    return reach if lookups else None


def _lookup_keys(key, scope: Scope, conjs: list[Conj]) -> set | None:
    if isinstance(key, A.String):
        return {key.value}
    decl = scope.field(key)
    if decl is None or decl.kind not in ("text", "choice"):
        return None
    out: set = set()
    for conj in conjs:
        values = possible_values(decl, _by_field(conj).get(decl.name, []))
        if values is None:
            return None
        out |= values
    return out


def overlapping(ruleset: A.Ruleset, scope: Scope, live: dict) -> Iterator[Diagnostic]:
    """W303: under `combine exclusive` or `first`, a rule that can match a contract an earlier rule matches.

    Under `first` a rule is reported once, naming the first earlier rule it meets (that one
    shadows it); under `exclusive` once per earlier rule it meets, for the first
    MAX_OVERLAPS_SHOWN of them. Rules pinned to values of
    one field (the field most rules pin, e.g. `product == "X"`) are only compared with earlier rules
    that share a value or pin nothing, and at most MAX_OVERLAP_TESTS pairs are compared in all (W308).
    """
    mode = ruleset.combine
    if mode not in ("exclusive", "first"):
        return
    rules = [r for r in ruleset.rules if live[id(r)]]
    pins = [_pins(live[id(r)], scope) for r in rules]
    counts = Counter(f for p in pins for f in p)
    key = max(counts, key=lambda f: (counts[f], f)) if counts else None
    by_value: dict = {}  # a value of the key field -> earlier rules pinned to it, in order
    unpinned: list[int] = []  # earlier rules that can match any value of the key field
    budget = MAX_OVERLAP_TESTS
    for j, later in enumerate(rules):
        mine = pins[j]
        if key in mine:
            candidates = heapq.merge(unpinned, *(by_value.get(v, ()) for v in sorted(mine[key], key=str)))
        else:
            candidates = iter(range(j))
        last, found = -1, 0
        for i in candidates:
            if i == last:
                continue  # an earlier rule pinned to several of this rule's values
            last = i
            if budget == 0:
                yield _analysis_stopped(later)
                return
            budget -= 1
            both = _overlap(live[id(rules[i])], live[id(later)], scope) if _pins_meet(pins[i], mine) else None
            if both is not None:
                yield _overlap_warning(mode, rules[i], later, _witness(both, scope))
                found += 1
                if mode == "first" or found == MAX_OVERLAPS_SHOWN:  # under first, the first one shadows it
                    break
        if key in mine:
            for v in mine[key]:
                by_value.setdefault(v, []).append(j)
        else:
            unpinned.append(j)


def _analysis_stopped(rule: A.Rule) -> Diagnostic:
    return warn("W308", f"overlaps between rules were checked for the first {MAX_OVERLAP_TESTS:,} pairs only; "
                f'rule "{rule.name}" and the rules after it were not checked', rule.span,
                "tell rules apart by a field they compare with `==` or `in` (such as product), "
                "so that only rules for the same values need comparing")


def _pins(conjs: list[Conj], scope: Scope) -> dict[str, set]:
    """Per field, the finite set of values a rule can match (fields with no finite set left out)."""
    out: dict[str, set] = {}
    for name in {a.field for conj in conjs for a in conj}:
        decl = scope.fields[name]
        may_be_absent = not decl.required and decl.default is None
        values: set = set()
        for conj in conjs:
            atoms = _by_field(conj).get(name, [])
            found = possible_values(decl, atoms)
            if found is None or (may_be_absent and not any(a.presence for a in atoms)):
                break
            values |= found
        else:
            out[name] = values
    return out


def _pins_meet(a: dict[str, set], b: dict[str, set]) -> bool:
    """A quick filter before the full test: false when some field's pinned values cannot meet."""
    return all(a[f] & b[f] for f in a.keys() & b.keys())


def _overlap(a: list[Conj], b: list[Conj], scope: Scope) -> Conj | None:
    """A satisfiable conjunction of both rules' conditions, or None when they cannot meet."""
    return next((x + y for x in a for y in b if satisfiable(x + y, scope)), None)


def _witness(conj: Conj, scope: Scope) -> str:
    """A few field values a contract matching the conjunction can have, for the hint."""
    parts = []
    for name, atoms in _by_field(conj).items():
        values = possible_values(scope.fields[name], atoms)
        if values:
            parts.append(f"{name} {_value_text(min(values, key=str), scope.fields[name])}")
    return "e.g. a contract with " + " and ".join(parts[:3]) + "; " if parts else ""


def _overlap_warning(mode: str, earlier: A.Rule, later: A.Rule, example: str) -> Diagnostic:
    where = f'"{earlier.name}" (line {earlier.span.line})'
    if mode == "exclusive":
        return warn("W303", f'rule "{later.name}" can match the same contract as {where}; '
                    "under combine exclusive such a contract is unscored", later.span,
                    f"{example}add a condition that tells them apart (e.g. customer == new / customer == existing)")
    return warn("W303", f'rule "{later.name}" is shadowed by {where} for contracts that match both '
                "(combine first: the first matching rule pays)", later.span,
                f"{example}put the more specific rule first, or make the conditions exclusive")


def cap_below_floor(rule: A.Rule) -> Iterator[Diagnostic]:
    """W306: `at most` below `at least` (both literal numbers): the formula no longer matters."""
    caps: list[A.AtMost] = []
    floors: list[A.AtLeast] = []
    for m in rule.points.modifiers:
        limit = value_of(getattr(m, "limit", None), EMPTY_SCOPE)
        if not isinstance(limit, Decimal):
            continue
        mine, others = (caps, floors) if isinstance(m, A.AtMost) else (floors, caps)
        clash = next((o for o in others if _clashes(m, o)), None)
        if clash is not None:
            cap, floor = (m, clash) if isinstance(m, A.AtMost) else (clash, m)
            yield warn("W306", f'rule "{rule.name}": the cap (at most {_text(cap.limit)}) is below the '
                       f"floor (at least {_text(floor.limit)}), so the formula no longer matters",
                       m.span, "swap the two numbers or remove one of them")
        mine.append(m)


def _clashes(m, other) -> bool:
    cap, floor = (m, other) if isinstance(m, A.AtMost) else (other, m)
    return value_of(cap.limit, EMPTY_SCOPE) < value_of(floor.limit, EMPTY_SCOPE)


def _text(expr) -> str:
    if isinstance(expr, A.Neg):
        return "-" + _text(expr.operand)
    return getattr(expr, "text", "") or str(getattr(expr, "value", "?"))


def unrounded_division(rule: A.Rule) -> Iterator[Diagnostic]:
    """W307: a division with no `rounded`: the points can have unbounded decimals."""
    if any(isinstance(m, A.Rounded) for m in rule.points.modifiers):
        return
    division = next((n for n in walk(rule.points.expr) if isinstance(n, A.BinOp) and n.op == "/"), None)
    if division is not None:
        yield warn("W307", f'rule "{rule.name}" divides but never rounds: its points can have many decimals',
                   division.span, "add a rounding, e.g. `, rounded half up` or `, rounded half even to 2 decimals`")


# --------------------------------------------------------------------------- numbers in words

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_FRACTIONS = {"5": "and a half", "25": "and a quarter", "75": "and three quarters"}


def number_words(text: str) -> str:
    """A number literal in English words: `7.5` -> seven and a half, `7_500` -> seven thousand five hundred."""
    whole, _, frac = text.replace("_", "").partition(".")
    frac = frac.rstrip("0")
    words = _int_words(int(whole or "0"))
    if not frac:
        return words
    if frac in _FRACTIONS:
        return f"{words} {_FRACTIONS[frac]}" if words != "zero" else _FRACTIONS[frac].removeprefix("and ")
    return f"{words} point " + " ".join(_ONES[int(d)] for d in frac)


def _int_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    for size, word in _SCALES:
        if n >= size:
            rest = n % size
            return f"{_int_words(n // size)} {word}" + (f" {_int_words(rest)}" if rest else "")
    return str(n)
