"""Closures that evaluate one rule of a compiled plan against one contract record.

Design:
- Each AST node is turned once, at compile time, into a Python closure `fn(record, tracer)`;
  scoring a contract calls closures only (no AST walking, no eval/exec of user text).
- Names are resolved here: a `Name` is a field when the ruleset's `input contract` declares it,
  otherwise a literal value (a `one of` value; `true` / `false` are booleans). Whatever cannot
  mean anything (a text in arithmetic, an unknown table) raises a plain `ValueError` naming the
  span: the checker should have said so already, the compiler refuses rather than guess.
- Arithmetic is exact: every operation goes through a decimal Context (prec=28) whose traps
  are on, so nothing is rounded silently; only `rounded ...` modifiers round. `+ - *`, unary
  minus and `per` also trap Inexact (EXACT): a result of more than 28 significant digits (two
  values near the bound of dsl.limits multiplied) is an unscorable contract, never a rounded one.
  Division alone computes to 28 significant digits (W307 asks for a rounding).
- A contract that cannot be scored (an empty field in arithmetic, a lookup with no row or cell,
  a division by zero) raises `Unscorable` with a reason naming the rule; the plan turns it
  into an unscored result. A comparison itself never raises: with an empty side, or sides of
  kinds that cannot be ordered, it is false (arithmetic inside it may still be unscorable).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Context,
    Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow,
)
from typing import Any, Callable

from dsl import ast
from engine import reasons, trace

CTX = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])

ROUNDING = {
    "half up": ROUND_HALF_UP, "half even": ROUND_HALF_EVEN, "half down": ROUND_HALF_DOWN,
    "up": ROUND_CEILING, "down": ROUND_FLOOR,
}
BOOLEAN_WORDS = {"true": True, "false": False}
NUMERIC_KINDS = ("integer", "decimal")

Fn = Callable[[dict, Any], Any]


class Unscorable(Exception):
    """A contract this rule cannot score; `reason` is the message for a person."""

    def __init__(self, reason: str, rule: ast.Rule | None = None, code: str = reasons.NO_RULE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule
        self.code = code  # a stable code of engine.reasons, set where the contract is found unscorable


@dataclass(frozen=True, slots=True)
class Contribution:
    """The points one rule pays for one contract."""

    rule_id: str
    rule_name: str
    points: Decimal
    span: ast.Span


@dataclass(frozen=True, slots=True)
class Score:
    """The result for one contract: `scored` with its points and contributions, or `unscored`."""

    status: str  # "scored" or "unscored"
    points: Decimal
    contributions: tuple[Contribution, ...] = ()
    reason: str | None = None
    code: str | None = None  # with `unscored`: the reason's stable code (engine.reasons)


@dataclass(frozen=True, slots=True)
class TableData:
    """A table ready for lookups: first key -> (row, {second key or None: cell value})."""

    table: ast.Table
    rows: dict

    @staticmethod
    def build(table: ast.Table) -> "TableData":
        """Index a table's rows and cells by key; of two rows with one key the first written wins."""
        rows: dict = {}
        for row in table.rows:
            rows.setdefault(row.key, (row, {c.column: c.value.value for c in row.cells}))
        return TableData(table, rows)


class Scope:
    """What a rule's closures know at compile time; `reads` collects the fields they read."""

    def __init__(self, rule: ast.Rule, fields: dict, tables: dict, reads: dict) -> None:
        self.rule = rule
        self.rid = rule.id
        self.rspan = rule.span
        self.fields = fields  # name -> FieldDecl of `input contract`
        self.tables = tables  # name -> TableData
        self.reads = reads  # an ordered set (dict) shared by every rule of the plan

    def is_field(self, name: str) -> bool:
        """Whether a bare word names a declared contract field."""
        return name in self.fields

    def fail(self, node, message: str) -> ValueError:
        """A compile error naming the node's place."""
        return ValueError(f"{node.span}: {message} (in rule \"{self.rule.name}\")")

    def unscorable(self, message: str, code: str) -> Unscorable:
        """A run-time reason naming the rule, with its code."""
        return Unscorable(f'rule "{self.rule.name}": {message}', self.rule, code)


def shown(value) -> str:
    """A value as a reason shows it: texts quoted, empty as `(empty)`."""
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


# --------------------------------------------------------------------------- values


def constant_of(expr) -> tuple[bool, Any]:
    """(True, value) when the expression is a literal known at compile time."""
    if isinstance(expr, (ast.Number, ast.Percent, ast.String, ast.DateLit)):
        return True, expr.value
    return False, None


def static_value(expr, scope: "Scope") -> tuple[bool, Any]:
    """(True, value) for a literal or a bare word that is no field: known at compile time."""
    if isinstance(expr, ast.Name) and not scope.is_field(expr.name):
        return True, literal_name(expr.name)
    return constant_of(expr)


def literal_name(name: str):
    """The value a bare word stands for when it is not a field."""
    return BOOLEAN_WORDS.get(name, name)


def choice_values(expr, scope: Scope) -> tuple[str, ...]:
    """The values of a `one of` field when `expr` reads one; () otherwise."""
    if isinstance(expr, ast.Name) and scope.is_field(expr.name):
        return scope.fields[expr.name].choices
    return ()


def compile_value(expr, scope: Scope, choices: tuple[str, ...] = ()) -> Fn:
    """Any value, as a condition sees it: a field may be empty (None).

    `choices`: the values of the `one of` field on the other side of a comparison; a bare word
    among them is that value even when a field has the same name (docs/language.md).
    """
    is_const, value = constant_of(expr)
    if is_const:
        return lambda rec, tracer: value
    if isinstance(expr, ast.Name):
        if scope.is_field(expr.name) and expr.name not in choices:
            return field_reader(expr.name, scope)
        word = literal_name(expr.name)
        return lambda rec, tracer: word
    return compile_number(expr, scope)


def field_reader(name: str, scope: Scope) -> Fn:
    """Read a field of the record, traced as ValueRead."""
    scope.reads.setdefault(name, None)
    rid, rspan = scope.rid, scope.rspan

    def read(rec, tracer):
        value = rec.get(name)
        if tracer is not None:
            tracer.emit(trace.ValueRead(rid, rspan, name, value))
        return value

    return read


def is_number(value) -> bool:
    """int or Decimal, never bool (a boolean is no quantity)."""
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def number_reader(name: str, node, scope: Scope) -> Fn:
    """Read a numeric field; empty or non-numeric makes the contract unscorable."""
    decl = scope.fields.get(name)
    if decl is None:
        raise scope.fail(node, f"`{name}` is not a field of the contract, so it is no number")
    if decl.kind not in NUMERIC_KINDS:
        raise scope.fail(node, f"field `{name}` is {decl.kind}, not a number")
    read = field_reader(name, scope)

    def read_number(rec, tracer):
        value = read(rec, tracer)
        if value is None:
            raise scope.unscorable(f"field {name} is empty", reasons.EMPTY_FIELD)
        if not is_number(value):
            raise scope.unscorable(f"field {name} is not a number ({shown(value)})", reasons.FIELD_NOT_A_NUMBER)
        return value

    return read_number


def compile_number(expr, scope: Scope) -> Fn:
    """An arithmetic expression: its closure returns an int or a Decimal, exactly."""
    if isinstance(expr, (ast.Number, ast.Percent)):
        value = expr.value
        return lambda rec, tracer: value
    if isinstance(expr, ast.Name):
        return number_reader(expr.name, expr, scope)
    if isinstance(expr, ast.TableLookup):
        return compile_lookup(expr, scope)
    if isinstance(expr, ast.BinOp):
        return compile_binop(expr, scope)
    if isinstance(expr, ast.Neg):
        inner = compile_number(expr.operand, scope)
        return lambda rec, tracer: EXACT.minus(inner(rec, tracer))
    if isinstance(expr, ast.Call):
        return compile_call(expr, scope)
    what = {ast.String: "a text", ast.DateLit: "a date"}.get(type(expr), type(expr).__name__)
    raise scope.fail(expr, f"{what} cannot be used in arithmetic")


def compile_binop(expr: ast.BinOp, scope: Scope) -> Fn:
    """`a + b`, `a - b`, `a * b`, `a / b` in the exact context; division by zero is unscorable."""
    left = compile_number(expr.left, scope)
    right = compile_number(expr.right, scope)
    if expr.op == "/":
        where = str(expr.span)

        def divide(rec, tracer):
            a, b = left(rec, tracer), right(rec, tracer)
            if b == 0:
                raise scope.unscorable(f"division by zero at {where}", reasons.DIVISION_BY_ZERO)
            return CTX.divide(a, b)

        return divide
    ops = {"+": EXACT.add, "-": EXACT.subtract, "*": EXACT.multiply}
    if expr.op not in ops:
        raise scope.fail(expr, f"unknown operator `{expr.op}`")
    op = ops[expr.op]
    return lambda rec, tracer: op(left(rec, tracer), right(rec, tracer))


def compile_call(expr: ast.Call, scope: Scope) -> Fn:
    """`min(a, b, ...)` / `max(a, b, ...)`; ints and Decimals compare exactly."""
    funcs = {"min": min, "max": max}
    if expr.func not in funcs or not expr.args:
        raise scope.fail(expr, f"`{expr.func}` needs to be min or max with at least one argument")
    func = funcs[expr.func]
    args = tuple(compile_number(a, scope) for a in expr.args)
    return lambda rec, tracer: func([a(rec, tracer) for a in args])


def table_key(value):
    """Table keys are written as text; a record's value is looked up by its text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compile_lookup(expr: ast.TableLookup, scope: Scope) -> Fn:
    """`table[k1]` or `table[k1, k2]`: traced with the row that gave the value."""
    data = scope.tables.get(expr.table)
    if data is None:
        raise scope.fail(expr, f"there is no table `{expr.table}`")
    names = data.table.keys
    if len(expr.keys) != len(names):
        raise scope.fail(expr, f"table `{expr.table}` is looked up by {len(names)} key(s), got {len(expr.keys)}")
    keys = tuple(compile_value(k, scope) for k in expr.keys)
    rid, rspan, span = scope.rid, scope.rspan, expr.span

    def lookup(rec, tracer):
        values = tuple(k(rec, tracer) for k in keys)
        row = data.rows.get(table_key(values[0]))
        column = table_key(values[1]) if len(values) > 1 else None
        cell = None if row is None else row[1].get(column)
        if tracer is not None:
            tracer.emit(trace.TableLookup(rid, rspan, span, expr.table, values, row and row[0].span, cell))
        if cell is None:
            raise scope.unscorable(missing_message(expr.table, names, values, row is None), reasons.NO_TABLE_ENTRY)
        return cell

    return lookup


def missing_message(table: str, names: tuple, values: tuple, no_row: bool) -> str:
    """`table t has no row for product 'Fax'` / `no cell for product 'X', customer 'vip'`."""
    pairs = ", ".join(f"{n} {shown(v)}" for n, v in zip(names, values))
    return f"table {table} has no {'row' if no_row else 'cell'} for {pairs}"


# --------------------------------------------------------------------------- conditions

COMPARE = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def compare(op: str, a, b) -> bool:
    """`a op b`; false with an empty side, and between kinds that cannot be compared."""
    if a is None or b is None:
        return False
    if isinstance(a, bool) != isinstance(b, bool):
        return op == "!="
    try:
        return bool(COMPARE[op](a, b))
    except TypeError:
        return False


def compile_cond(cond, scope: Scope) -> Fn:
    """A condition: its closure returns True or False and traces each atomic test."""
    if isinstance(cond, ast.And):
        items = tuple(compile_cond(c, scope) for c in cond.items)
        return lambda rec, tracer: all(c(rec, tracer) for c in items)
    if isinstance(cond, ast.Or):
        items = tuple(compile_cond(c, scope) for c in cond.items)
        return lambda rec, tracer: any(c(rec, tracer) for c in items)
    if isinstance(cond, ast.Not):
        inner = compile_cond(cond.operand, scope)
        return lambda rec, tracer: not inner(rec, tracer)
    if isinstance(cond, ast.Compare):
        return compile_compare(cond, scope)
    if isinstance(cond, ast.InList):
        return compile_in_list(cond, scope)
    if isinstance(cond, ast.InTable):
        return compile_in_table(cond, scope)
    raise scope.fail(cond, f"{type(cond).__name__} is not a condition")


def checked(scope: Scope, node, op: str, test: Callable) -> Fn:
    """Wrap a test `(rec, tracer) -> (left, right, result)` so it emits ConditionChecked."""
    rid, rspan, span = scope.rid, scope.rspan, node.span

    def run(rec, tracer):
        left, right, result = test(rec, tracer)
        if tracer is not None:
            tracer.emit(trace.ConditionChecked(rid, rspan, span, op, left, right, result))
        return result

    return run


def compile_compare(cond: ast.Compare, scope: Scope) -> Fn:
    """`left op right`."""
    if cond.op not in COMPARE:
        raise scope.fail(cond, f"unknown comparison `{cond.op}`")
    left = compile_value(cond.left, scope, choice_values(cond.right, scope))
    right = compile_value(cond.right, scope, choice_values(cond.left, scope))
    op = cond.op

    def test(rec, tracer):
        a, b = left(rec, tracer), right(rec, tracer)
        return a, b, compare(op, a, b)

    return checked(scope, cond, op, test)


def compile_in_list(cond: ast.InList, scope: Scope) -> Fn:
    """`x [not] in (a, b, ...)`; false when x is empty, whether negated or not."""
    operand = compile_value(cond.operand, scope)
    choices = choice_values(cond.operand, scope)
    items = tuple(compile_value(v, scope, choices) for v in cond.values)
    negated = cond.negated
    texts = [static_value(v, scope) for v in cond.values]
    if all(known and isinstance(v, str) for known, v in texts):
        return checked(scope, cond, "not in" if negated else "in", text_membership(operand, texts, negated))

    def test(rec, tracer):
        value = operand(rec, tracer)
        listed = tuple(i(rec, tracer) for i in items)
        if value is None:
            return value, listed, False
        found = any(compare("==", value, v) for v in listed)
        return value, listed, found != negated

    return checked(scope, cond, "not in" if negated else "in", test)


def text_membership(operand: Fn, texts: list, negated: bool):
    """The common case of a list of texts: one set lookup (a text equals only a text)."""
    listed = tuple(v for _, v in texts)
    members = frozenset(listed)

    def test(rec, tracer):
        value = operand(rec, tracer)
        if value is None:
            return value, listed, False
        return value, listed, (isinstance(value, str) and value in members) != negated

    return test


def compile_in_table(cond: ast.InTable, scope: Scope) -> Fn:
    """`x [not] in table`: membership in the table's first key; false when x is empty."""
    data = scope.tables.get(cond.table)
    if data is None:
        raise scope.fail(cond, f"there is no table `{cond.table}`")
    operand = compile_value(cond.operand, scope)
    keys, negated, name = frozenset(data.rows), cond.negated, cond.table

    def test(rec, tracer):
        value = operand(rec, tracer)
        if value is None:
            return value, name, False
        return value, name, (table_key(value) in keys) != negated

    return checked(scope, cond, "not in" if negated else "in", test)


# --------------------------------------------------------------------------- points


def as_decimal(value) -> Decimal:
    """An int result (a formula that is just `quantity`) as a Decimal."""
    return value if isinstance(value, Decimal) else Decimal(value)


def compile_points(points: ast.Points, scope: Scope) -> Fn:
    """The formula, then `per`, then the modifiers in the order written; returns a Decimal."""
    base = compile_number(points.expr, scope)
    steps = []
    if points.per is not None:
        steps.append(compile_per(points.per, scope))
    steps.extend(compile_modifier(m, scope) for m in points.modifiers)
    rid, rspan, span = scope.rid, scope.rspan, points.expr.span

    def run(rec, tracer):
        value = as_decimal(base(rec, tracer))
        if tracer is not None:
            tracer.emit(trace.FormulaEvaluated(rid, rspan, span, value))
        for step in steps:
            value = step(value, rec, tracer)
        return value

    return run


def compile_per(per: ast.Name, scope: Scope):
    """`per FIELD`: multiply by the field, traced as PerUnit."""
    factor_of = number_reader(per.name, per, scope)
    rid, rspan, name = scope.rid, scope.rspan, per.name

    def step(value, rec, tracer):
        factor = factor_of(rec, tracer)
        after = EXACT.multiply(value, factor)
        if tracer is not None:
            tracer.emit(trace.PerUnit(rid, rspan, name, factor, value, after))
        return after

    return step


def compile_modifier(mod, scope: Scope):
    """`at most N`, `at least N` or `rounded MODE [to N decimals]`."""
    if isinstance(mod, ast.Rounded):
        return compile_rounded(mod, scope)
    if not isinstance(mod, (ast.AtMost, ast.AtLeast)):
        raise scope.fail(mod, f"{type(mod).__name__} is not a modifier")
    limit_of = compile_number(mod.limit, scope)
    pick, event = (min, trace.Capped) if isinstance(mod, ast.AtMost) else (max, trace.Floored)
    rid, rspan, span = scope.rid, scope.rspan, mod.span

    def step(value, rec, tracer):
        limit = as_decimal(limit_of(rec, tracer))
        after = pick(value, limit)
        if tracer is not None:
            tracer.emit(event(rid, rspan, span, limit, value, after))
        return after

    return step


def compile_rounded(mod: ast.Rounded, scope: Scope):
    """Quantize to `places` decimals with the declared mode."""
    if mod.mode not in ROUNDING:
        raise scope.fail(mod, f"unknown rounding mode `{mod.mode}`")
    if mod.places < 0:
        raise scope.fail(mod, "cannot round to a negative number of decimals")
    rounding, quantum = ROUNDING[mod.mode], Decimal(1).scaleb(-mod.places)
    rid, rspan, span, mode, places = scope.rid, scope.rspan, mod.span, mod.mode, mod.places

    def step(value, rec, tracer):
        try:
            after = value.quantize(quantum, rounding=rounding, context=CTX)
        except InvalidOperation:
            raise scope.unscorable(f"{value} is too large to round at {span}", reasons.TOO_LARGE) from None
        if tracer is not None:
            tracer.emit(trace.Rounded(rid, rspan, span, mode, places, value, after))
        return after

    return step
