"""A program's versions compiled to SQL: validation of the input fields, and each version's rules.

Design:
- The compiler works on the same AST and Plan as the row engine (engine.compile) and gives the
  same meaning: a rule is considered only for the products the Plan's index gives it, conditions
  short-circuit left to right, a run-time failure (an empty field in arithmetic, a missing table
  cell, a number beyond 28 significant digits) makes the contract unscored with the row engine's
  code and sentence, and the first failure in the row engine's order of evaluation is the one
  reported. A failure is carried as a text `code<TAB>reason` beside each value (NULL: none).
- Exactness: every number has a static bound (digits before the point, scale) from its literals,
  the declared bounds of its fields and dsl.limits; each arithmetic step is cast to the DECIMAL
  the bound proves exact. A step whose bound exceeds 28 significant digits is checked at run time
  and makes the contract unscored as the row engine does; one beyond what DECIMAL holds, a
  division, or a rounding that could exceed 28 digits is not compiled (`NotCompiled`).
- Dialect-specific spelling lives in engine.sql.dialect; this module builds SQL through it.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal

from dsl import ast
from engine import reasons
from engine.evaluate import TableData, literal_name
from engine.sql.dialect import DUCKDB, Dialect

EXACT_DIGITS = 28  # what the row engine's exact context holds
FIELD_INTEGER_DIGITS = 18
FIELD_SCALE = 10


@dataclass(frozen=True)
class Relation:
    """The rows of a table's keys or cells, for lookups as joins: `columns` are `name` (VARCHAR) or
    `name TYPE`."""

    key: tuple
    columns: tuple[str, ...]
    rows: list


class NotCompiled(Exception):
    """A construct the SQL engine does not compile; the message is the fallback reason."""


@dataclass(frozen=True)
class Val:
    """A compiled value: its SQL, its failure (SQL text of `code<TAB>reason`, or None: never fails),
    its kind (text, number, date, bool, or None for the empty literal) and, for numbers, the
    static bound: `digits` before the point and `scale` after it."""

    sql: str
    err: str | None
    kind: str | None
    lo: Decimal = Decimal(0)  # the static range of a number: lo <= value <= hi
    hi: Decimal = Decimal(0)
    scale: int = 0

    @property
    def digits(self) -> int:
        """Digits before the point any value in the range can need."""
        return integer_digits(max(abs(self.lo), abs(self.hi)))


def coalesce(*errs: str | None) -> str | None:
    items = [e for e in errs if e is not None]
    if not items:
        return None
    return items[0] if len(items) == 1 else f"COALESCE({', '.join(items)})"


def bound_of(value: Decimal | int) -> tuple[int, int]:
    """(digits before the point, scale) of an exact literal."""
    value = Decimal(value)
    if value == 0:
        return 1, 0
    _, digits, exponent = value.normalize().as_tuple()
    scale = max(0, -exponent)
    whole = max(1, len(digits) + exponent)
    return whole, scale


_CELLS: dict[int, tuple] = {}  # id(ast.Table) -> (the table, its table_cells)


def table_cells(data: TableData) -> tuple[list, Decimal, Decimal, int]:
    """(cells, lowest, highest, scale) of a table: (row key, column or None, Decimal value) per cell
    and the bounds of the values. A program's tables are compiled once per version and again on the
    rows' observed bounds: the cells of a 5,000-product table are read once (~40 ms a time)."""
    known = _CELLS.get(id(data.table))
    if known is not None and known[0] is data.table:
        return known[1]
    cells = [(row_key, column, Decimal(value)) for row_key, (_, row_cells) in data.rows.items()
             for column, value in row_cells.items()]
    if cells:
        values = {v for *_, v in cells}  # a value repeated in many cells is bounded once
        lo, hi = interval(values)
        scale = max(bound_of(v)[1] for v in values)
    else:
        lo, hi, scale = Decimal(0), Decimal(0), 0
    if len(_CELLS) >= 64:  # a long process (the workbench) compiles many programs
        _CELLS.clear()
    _CELLS[id(data.table)] = (data.table, (cells, lo, hi, scale))
    return cells, lo, hi, scale


def integer_digits(m: Decimal) -> int:
    return max(1, len(str(int(m))))


def interval(values) -> tuple[Decimal, Decimal]:
    values = list(values)
    return min(values), max(values)


def exact_inverse(expr) -> Decimal | None:
    """1/N as an exact Decimal for a nonzero literal N made of the primes 2 and 5 only, else None."""
    if not isinstance(expr, (ast.Number, ast.Percent)) or expr.value == 0:
        return None
    from decimal import Context, Inexact

    ctx = Context(prec=60, traps=[Inexact])
    try:
        inverse = ctx.divide(Decimal(1), Decimal(expr.value))
    except Inexact:
        return None
    return inverse.normalize() if bound_of(inverse)[1] <= FIELD_SCALE else None


KIND_OF_FIELD = {"text": "text", "choice": "text", "integer": "number", "decimal": "number",
                 "date": "date", "boolean": "bool"}


def kind_of_python(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, Decimal)):
        return "number"
    if isinstance(value, _dt.date):
        return "date"
    return "text"


class Compiler:
    """Compiles conditions and points of one ruleset (or one input block's conditional checks)."""

    def __init__(self, fields: dict, tables: dict, columns: dict, d: Dialect = DUCKDB, prefix: str = "lk"):
        self.fields = fields  # name -> FieldDecl
        self.tables = tables  # name -> TableData
        self.columns = columns  # field name -> SQL of its typed value
        self.d = d
        self.rule: ast.Rule | None = None
        self.prefix = prefix  # of the relations a large table is looked up in
        self.relations: dict[str, Relation] = {}  # relation name -> its rows (engine.sql.duck creates them)
        # When a dict: each table lookup's value becomes a column computed once per row before the
        # rules (name -> SQL), instead of its expression written out wherever the value is used.
        self.staged: dict[str, str] | None = None
        self.staged_prefix = ""  # of the staged columns' names
        # the SQL of each read of a relation -> (relation, key SQLs): a large table's cell (a correlated
        # subquery) and whether a key is one of a relation's (an IN over it). Portable SQL, for `points
        # compile`; engine.sql.duck reads them by the keys' positions instead (no join: DuckDB keeps the
        # rows in order)
        self.reads: dict[str, tuple[str, tuple[str, ...]]] = {}
        # field name -> (lowest, highest, scale) of the values the rows being scored hold (engine.sql.duck
        # observes them once the rows are checked): the field's bound is its declared one narrowed to
        # these, and so is the DECIMAL of each step computed from it
        self.observed: dict[str, tuple[Decimal, Decimal, int]] = {}

    def relation(self, name: str, columns: tuple[str, ...], rows: list[tuple]) -> str:
        """The name of a relation holding `rows` (text keys, then a DECIMAL value if any): one relation
        for the same rows, whatever asked for them (a rule's products and the rows of the table its
        condition names are often one list: one join, and its uses one staged column)."""
        key = (name, columns)
        for rel_name, rel in self.relations.items():
            if rel.key == key or (rel.columns == columns and len(rel.rows) == len(rows) and set(rel.rows) == set(rows)):
                return rel_name
        rel_name = f"{self.prefix}{len(self.relations)}"
        self.relations[rel_name] = Relation(key, columns, rows)
        return rel_name

    def stage(self, sql: str) -> str:
        """A column computed once per row before the rules (a lookup, a join's membership) when the
        version's SELECT stages them, else the SQL itself; the same SQL is one column."""
        if self.staged is None:
            return sql
        name = next((n for n, known in self.staged.items() if known == sql), None)
        if name is None:
            name = f"{self.staged_prefix}lv{len(self.staged)}"
            self.staged[name] = sql
        return name

    def among_rows(self, key: str, table: str, data: TableData) -> str:
        """Whether a key is a row of a large table: a read of its rows' relation (Compiler.reads),
        staged so that its uses share it."""
        rows = self.relation(table + ":rows", ("k1",), [(k,) for k in data.rows])
        return self.stage(self.member(key, rows))

    def member(self, key: str, relation: str) -> str:
        """Whether `key` is one of the keys of `relation` (NULL for a NULL key), a read of it."""
        sql = f"({key} IN (SELECT k1 FROM {relation}))"
        self.reads[sql] = (relation, (key,))
        return sql

    def large(self, data: TableData) -> bool:
        """Whether a table is looked up in a relation rather than a CASE over its cells."""
        limit = self.d.relation_cells
        return limit is not None and sum(len(cells) for _, cells in data.rows.values()) > limit

    # ------------------------------------------------------------------ helpers

    def fail(self, code: str, message_sql: str) -> str:
        """The failure text of the current rule: `code<TAB>rule "NAME": message`."""
        prefix = f'{code}\trule "{self.rule.name}": ' if self.rule is not None else f"{code}\t"
        return self.d.concat(self.d.text(prefix), message_sql)

    def is_field(self, name: str) -> bool:
        return name in self.fields

    def literal(self, value) -> Val:
        d = self.d
        if value is None:
            return Val("NULL", None, None)
        if isinstance(value, bool):
            return Val(d.boolean(value), None, "bool")
        if isinstance(value, (int, Decimal)):
            digits, scale = bound_of(value)
            return Val(d.decimal(value, digits + scale, scale), None, "number", Decimal(value), Decimal(value), scale)
        if isinstance(value, _dt.date):
            return Val(d.date(value), None, "date")
        return Val(d.text(str(value)), None, "text")

    def field(self, name: str) -> Val:
        decl = self.fields[name]
        kind = KIND_OF_FIELD.get(decl.kind)
        if kind is None:
            raise NotCompiled(f"field `{name}` has a type the SQL engine does not read ({decl.kind})")
        lo, hi, scale = field_bound(decl)
        seen = self.observed.get(name)
        if seen is not None:
            lo, hi, scale = max(lo, seen[0]), min(hi, seen[1]), min(scale, seen[2])
        return Val(self.columns[name], None, kind, lo, hi, scale)

    def numeric(self, v: Val, lo: Decimal, hi: Decimal, scale: int, err: str | None, span) -> Val:
        """A number step cast to the DECIMAL its bound proves exact; checked at run time beyond 28 digits."""
        d = self.d
        digits = integer_digits(max(abs(lo), abs(hi)))
        if digits + scale > d.max_precision:
            raise NotCompiled(f"{span.file}:{span.line}: a number here may need more than "
                              f"{d.max_precision} digits, more than SQL DECIMAL holds")
        sql = f"CAST({v.sql} AS {d.decimal_type(digits + scale, scale)})"
        if digits + scale > EXACT_DIGITS and self.rule is not None:
            too_large = d.concat(d.text(f"{reasons.TOO_LARGE}\t"), d.text(
                f'rule "{self.rule.name}": the numbers are too large to compute exactly (more than 28 '
                f'significant digits) at {self.rule.span.file}:{self.rule.span.line}'))
            check = f"CASE WHEN {d.significant_digits(sql)} > {EXACT_DIGITS} THEN {too_large} END"
            err = coalesce(err, check)
        elif digits + scale > EXACT_DIGITS:
            raise NotCompiled(f"{span.file}:{span.line}: a number here may need more than 28 digits")
        return Val(sql, err, "number", lo, hi, scale)

    # ------------------------------------------------------------------ values

    def choices_of(self, expr) -> tuple[str, ...]:
        if isinstance(expr, ast.Name) and self.is_field(expr.name):
            return self.fields[expr.name].choices
        return ()

    def value(self, expr, choices: tuple[str, ...] = ()) -> Val:
        """A value as a condition sees it (engine.evaluate.compile_value)."""
        if isinstance(expr, (ast.Number, ast.Percent, ast.String, ast.DateLit)):
            return self.literal(expr.value)
        if isinstance(expr, ast.Name):
            if self.is_field(expr.name) and expr.name not in choices:
                return self.field(expr.name)
            return self.literal(literal_name(expr.name))
        return self.number(expr)

    def number_field(self, name: str, node) -> Val:
        decl = self.fields.get(name)
        if decl is None or decl.kind not in ("integer", "decimal"):
            raise NotCompiled(f"{node.span.file}:{node.span.line}: `{name}` is no number field")
        v = self.field(name)
        err = f"CASE WHEN {v.sql} IS NULL THEN {self.fail(reasons.EMPTY_FIELD, self.d.text(f'field {name} is empty'))} END"
        return Val(v.sql, err, "number", v.lo, v.hi, v.scale)

    def number(self, expr) -> Val:
        d = self.d
        if isinstance(expr, (ast.Number, ast.Percent)):
            return self.literal(expr.value)
        if isinstance(expr, ast.Name):
            return self.number_field(expr.name, expr)
        if isinstance(expr, ast.TableLookup):
            return self.lookup(expr)
        if isinstance(expr, ast.Neg):
            inner = self.number(expr.operand)
            return self.numeric(Val(f"(-{inner.sql})", None, "number"), -inner.hi, -inner.lo, inner.scale,
                                inner.err, expr.span)
        if isinstance(expr, ast.BinOp):
            if expr.op == "/":
                return self.divide(expr)
            if expr.op not in ("+", "-", "*"):
                raise NotCompiled(f"{expr.span.file}:{expr.span.line}: `{expr.op}` is not compiled")
            a, b = self.number(expr.left), self.number(expr.right)
            if expr.op == "*":
                lo, hi = interval(x * y for x in (a.lo, a.hi) for y in (b.lo, b.hi))
                scale = a.scale + b.scale
            elif expr.op == "+":
                lo, hi, scale = a.lo + b.lo, a.hi + b.hi, max(a.scale, b.scale)
            else:
                lo, hi, scale = a.lo - b.hi, a.hi - b.lo, max(a.scale, b.scale)
            return self.numeric(Val(f"({a.sql} {expr.op} {b.sql})", None, "number"), lo, hi, scale,
                                coalesce(a.err, b.err), expr.span)
        if isinstance(expr, ast.Call):
            if expr.func not in ("min", "max") or not expr.args:
                raise NotCompiled(f"{expr.span.file}:{expr.span.line}: `{expr.func}` is not compiled")
            args = [self.number(a) for a in expr.args]
            digits, scale = max(a.digits for a in args), max(a.scale for a in args)
            typ = d.decimal_type(digits + scale, scale)
            func = "least" if expr.func == "min" else "greatest"
            pick = min if expr.func == "min" else max
            # least/greatest pass over a NULL (an empty field, whose failure the row carries): its
            # value would be another argument's, perhaps outside the bound its DECIMAL is cast to
            present = " AND ".join(f"{a.sql} IS NOT NULL" for a in args)
            sql = f"(CASE WHEN {present} THEN {func}({', '.join(f'CAST({a.sql} AS {typ})' for a in args)}) END)"
            return Val(sql, coalesce(*(a.err for a in args)), "number", pick(a.lo for a in args),
                       pick(a.hi for a in args), scale)
        raise NotCompiled(f"{expr.span.file}:{expr.span.line}: {type(expr).__name__} is not compiled")

    def divide(self, expr: ast.BinOp) -> Val:
        """`a / N` for a literal N whose inverse is an exact decimal (N = 2^i * 5^j * 10^k): a * (1/N),
        exact; any other division is the row engine's (a quotient is not always exact in DECIMAL)."""
        inverse = exact_inverse(expr.right)
        if inverse is None:
            raise NotCompiled(f"{expr.span.file}:{expr.span.line}: division is computed by the row engine "
                              f"(its result is not always exact in DECIMAL)")
        a = self.number(expr.left)
        b = self.literal(inverse)
        lo, hi = interval(x * inverse for x in (a.lo, a.hi))
        scale = a.scale + b.scale
        if integer_digits(max(abs(lo), abs(hi))) + scale > EXACT_DIGITS:
            raise NotCompiled(f"{expr.span.file}:{expr.span.line}: a quotient that may need more than 28 digits "
                              f"is computed by the row engine")
        return self.numeric(Val(f"({a.sql} * {b.sql})", None, "number"), lo, hi, scale, a.err, expr.span)

    def cell_list(self, texts: list[str], data: TableData, cells: list, typ_args: tuple[int, int]) -> str:
        """A small table's cell as an item of a list literal: row i, column j at (i - 1) * width + j
        by list_position of the keys (NULL where a key is not in the table or the cell is empty).
        DuckDB runs it ~3x faster than the CASE over the cells it stands for."""
        d = self.d
        row_keys = list(data.rows)
        if len(texts) > 1:
            columns = list(dict.fromkeys(c for _, c, _ in cells if c is not None))
            at = {(r, c): v for r, c, v in cells if c is not None}
            grid = [at.get((r, c)) for r in row_keys for c in columns]
        else:
            columns = []
            at = {r: v for r, c, v in cells if c is None}
            grid = [at.get(r) for r in row_keys]
        items = ", ".join("NULL" if v is None else d.decimal(v, *typ_args) for v in grid)
        index = f"list_position([{', '.join(d.text(r) for r in row_keys)}], {texts[0]})"
        if columns:
            index = (f"({index} - 1) * {len(columns)} + "
                     f"list_position([{', '.join(d.text(c) for c in columns)}], {texts[1]})")
        return f"(CAST([{items}] AS {d.decimal_type(*typ_args)}[])[{index}])"

    def key_text(self, v: Val) -> str:
        """engine.evaluate.table_key of a key value, as SQL text (NULL for an empty value)."""
        if v.kind == "text" or v.kind is None:
            return v.sql
        if v.kind == "bool":
            return f"CASE WHEN {v.sql} THEN 'true' WHEN NOT {v.sql} THEN 'false' END"
        raise NotCompiled("a table looked up by a number or a date is looked up by the row engine")

    def shown(self, v: Val) -> str:
        """engine.evaluate.shown of a key value in a reason."""
        if v.kind == "bool":
            return f"CASE WHEN {v.sql} IS NULL THEN '(empty)' WHEN {v.sql} THEN 'True' ELSE 'False' END"
        if v.kind == "text" or v.kind is None:
            return f"CASE WHEN {v.sql} IS NULL THEN '(empty)' ELSE '''' || {v.sql} || '''' END"
        raise NotCompiled("a table looked up by a number or a date is looked up by the row engine")

    def lookup(self, expr: ast.TableLookup) -> Val:
        d = self.d
        data: TableData | None = self.tables.get(expr.table)
        if data is None or len(expr.keys) != len(data.table.keys):
            raise NotCompiled(f"{expr.span.file}:{expr.span.line}: the lookup of `{expr.table}` is not compiled")
        keys = [self.value(k) for k in expr.keys]
        texts = [self.key_text(k) for k in keys]
        cells, lo, hi, scale = table_cells(data)
        digits = integer_digits(max(abs(lo), abs(hi)))
        typ_args = (digits + scale, scale)
        if self.large(data):  # a join on the table's cells (a subquery DuckDB turns into a hash join)
            typ = d.decimal_type(*typ_args)
            if len(keys) > 1:
                cells_of = self.relation(f"{expr.table}:cells", ("k1", "k2", f"v {typ}"),
                                         [(k, c, v) for k, c, v in cells if c is not None])
                sql = (f"(SELECT max(v) FROM {cells_of} WHERE {cells_of}.k1 = {texts[0]} "
                       f"AND {cells_of}.k2 = {texts[1]})")
            else:
                cells_of = self.relation(f"{expr.table}:cell", ("k1", f"v {typ}"),
                                         [(k, v) for k, c, v in cells if c is None])
                sql = f"(SELECT max(v) FROM {cells_of} WHERE {cells_of}.k1 = {texts[0]})"
            self.reads[sql] = (cells_of, tuple(texts))
            row_known = self.among_rows(texts[0], expr.table, data)
        elif d.cell_lists and cells:
            sql = self.cell_list(texts, data, cells, typ_args)
            row_known = d.is_in(texts[0], [d.text(k) for k in data.rows])
        else:
            whens = []
            for row_key, column, value in cells:
                test = f"{texts[0]} = {d.text(row_key)}"
                if len(keys) > 1:
                    test += f" AND {texts[1]} = {d.text(column)}"
                elif column is not None:
                    continue  # a one-key lookup reads the cell without a column
                whens.append(f"WHEN {test} THEN {d.decimal(value, *typ_args)}")
            sql = f"(CASE {' '.join(whens)} END)" if whens else "NULL"
            row_known = " OR ".join(f"{texts[0]} = {d.text(k)}" for k in data.rows) or "FALSE"
        names = data.table.keys
        pairs = [f"{d.text(n + ' ')} || {self.shown(k)}" for n, k in zip(names, keys)]
        pairs_sql = " || ', ' || ".join(pairs)
        message = (f"(CASE WHEN {texts[0]} IS NOT NULL AND ({row_known}) THEN 'table {expr.table} has no cell for ' "
                   f"ELSE 'table {expr.table} has no row for ' END) || {pairs_sql}")
        sql = self.stage(sql)
        err = coalesce(*(k.err for k in keys), f"CASE WHEN {sql} IS NULL THEN {self.fail(reasons.NO_TABLE_ENTRY, message)} END")
        return Val(sql, err, "number", lo, hi, scale)

    # ------------------------------------------------------------------ conditions

    def cond(self, c) -> Val:
        """A condition: (boolean SQL, failure). The boolean is meaningful only without a failure."""
        if isinstance(c, (ast.And, ast.Or)):
            items = [self.cond(i) for i in c.items]
            is_and = isinstance(c, ast.And)
            sql = "(" + (" AND " if is_and else " OR ").join(f"COALESCE({i.sql}, FALSE)" for i in items) + ")"
            whens = []
            for item in items:
                if item.err is not None:
                    whens.append(f"WHEN {item.err} IS NOT NULL THEN {item.err}")
                stop = f"NOT COALESCE({item.sql}, FALSE)" if is_and else f"COALESCE({item.sql}, FALSE)"
                whens.append(f"WHEN {stop} THEN NULL")
            err = f"(CASE {' '.join(whens)} END)" if any(i.err is not None for i in items) else None
            return Val(sql, err, "bool")
        if isinstance(c, ast.Not):
            inner = self.cond(c.operand)
            return Val(f"(NOT COALESCE({inner.sql}, FALSE))", inner.err, "bool")
        if isinstance(c, ast.Compare):
            a = self.value(c.left, self.choices_of(c.right))
            b = self.value(c.right, self.choices_of(c.left))
            return Val(self.compare(c.op, a, b), coalesce(a.err, b.err), "bool")
        if isinstance(c, ast.InList):
            operand = self.value(c.operand)
            choices = self.choices_of(c.operand)
            items = [self.value(v, choices) for v in c.values]
            if operand.kind is None:
                return Val("FALSE", None, "bool")
            found = " OR ".join(self.compare("==", operand, i) for i in items) or "FALSE"
            sql = f"({operand.sql} IS NOT NULL AND ({'NOT ' if c.negated else ''}({found})))"
            return Val(sql, coalesce(operand.err, *(i.err for i in items)), "bool")
        if isinstance(c, ast.InTable):
            data = self.tables.get(c.table)
            if data is None:
                raise NotCompiled(f"{c.span.file}:{c.span.line}: there is no table `{c.table}`")
            operand = self.value(c.operand)
            if operand.kind is None:
                return Val("FALSE", None, "bool")
            key = self.key_text(operand)
            if not data.rows:
                inside = "FALSE"
            elif self.large(data):
                inside = self.among_rows(key, c.table, data)
            else:
                inside = self.d.is_in(key, [self.d.text(k) for k in data.rows])
            sql = f"({operand.sql} IS NOT NULL AND {'NOT ' if c.negated else ''}({inside}))"
            return Val(sql, operand.err, "bool")
        raise NotCompiled(f"{type(c).__name__} is not compiled")

    def compare(self, op: str, a: Val, b: Val) -> str:
        """engine.evaluate.compare: false with an empty side; kinds that cannot be compared."""
        if a.kind is None or b.kind is None:
            return "FALSE"
        both = f"{a.sql} IS NOT NULL AND {b.sql} IS NOT NULL"
        if a.kind != b.kind:
            if op == "!=":
                return f"({both})"
            return "FALSE"
        sql_op = {"==": "=", "!=": "<>"}.get(op, op)
        return f"COALESCE({a.sql} {sql_op} {b.sql}, FALSE)"

    # ------------------------------------------------------------------ points

    def points(self, p: ast.Points) -> Val:
        v = self.number(p.expr)
        if p.per is not None:
            f = self.number_field(p.per.name, p.per)
            lo, hi = interval(x * y for x in (v.lo, v.hi) for y in (f.lo, f.hi))
            v = self.numeric(Val(f"({v.sql} * {f.sql})", None, "number"), lo, hi, v.scale + f.scale,
                             coalesce(v.err, f.err), p.per.span)
        for mod in p.modifiers:
            if isinstance(mod, (ast.AtMost, ast.AtLeast)):
                limit = self.number(mod.limit)
                digits, scale = max(v.digits, limit.digits), max(v.scale, limit.scale)
                typ = self.d.decimal_type(digits + scale, scale)
                func = "least" if isinstance(mod, ast.AtMost) else "greatest"
                pick = min if isinstance(mod, ast.AtMost) else max
                # NULL stays NULL (least/greatest would give the limit, outside the bound when the
                # value's range lies within the limit)
                sql = (f"(CASE WHEN {v.sql} IS NOT NULL AND {limit.sql} IS NOT NULL THEN "
                       f"{func}(CAST({v.sql} AS {typ}), CAST({limit.sql} AS {typ})) END)")
                v = Val(sql, coalesce(v.err, limit.err), "number", pick(v.lo, limit.lo), pick(v.hi, limit.hi), scale)
            elif isinstance(mod, ast.Rounded):
                v = self.rounded(v, mod)
            else:
                raise NotCompiled(f"{type(mod).__name__} is not compiled")
        return v

    def rounded(self, v: Val, mod: ast.Rounded) -> Val:
        """Quantize to `places` decimals in the declared mode, in exact DECIMAL arithmetic."""
        d, q = self.d, mod.places
        if v.digits + 1 + q > EXACT_DIGITS:
            raise NotCompiled(f"{mod.span.file}:{mod.span.line}: a rounding whose value may need more than 28 digits")
        if q >= v.scale:
            return v
        digits = v.digits + 1
        shifted_scale = v.scale - q
        # x = v * 10^q (exact: the scale drops by q), t = x truncated toward zero, r = x - t
        x = f"CAST({v.sql} * {d.decimal(10 ** q, q + 1, 0)} AS {d.decimal_type(digits + q + shifted_scale, shifted_scale)})"
        t = f"CAST(trunc({x}) AS {d.decimal_type(digits + q, 0)})"
        half = d.decimal(Decimal("0.5"), 2, 1)
        frac = f"abs({x} - {t})"
        sign = f"CAST(sign({x}) AS {d.decimal_type(digits + q, 0)})"
        mode = mod.mode
        if mode == "up":
            whole = f"CAST(ceil({x}) AS {d.decimal_type(digits + q, 0)})"
        elif mode == "down":
            whole = f"CAST(floor({x}) AS {d.decimal_type(digits + q, 0)})"
        elif mode in ("half up", "half down", "half even"):
            at_half = {"half up": f"{t} + {sign}", "half down": t,
                       "half even": f"CASE WHEN {t} % 2 = 0 THEN {t} ELSE {t} + {sign} END"}[mode]
            whole = (f"(CASE WHEN {frac} > {half} THEN {t} + {sign} WHEN {frac} < {half} THEN {t} "
                     f"ELSE {at_half} END)")
        else:
            raise NotCompiled(f"rounding mode `{mode}` is not compiled")
        unit = d.decimal(Decimal(1).scaleb(-q), q + 1, q)
        sql = f"CAST(CAST({whole} AS {d.decimal_type(digits + q, 0)}) * {unit} AS {d.decimal_type(digits + q, q)})"
        return Val(f"(CASE WHEN {v.sql} IS NOT NULL THEN {sql} END)", v.err, "number", v.lo - 1, v.hi + 1, q)


def field_bound(decl) -> tuple[Decimal, Decimal, int]:
    """(lowest, highest, scale) a field's values can have, from dsl.limits and its declared bounds."""
    if decl.kind not in ("integer", "decimal"):
        return Decimal(0), Decimal(0), 0
    from engine.validate import literal_value

    scale = 0 if decl.kind == "integer" else FIELD_SCALE
    top = Decimal(10) ** FIELD_INTEGER_DIGITS - Decimal(1).scaleb(-scale)  # dsl.limits: below 10^18
    lo, hi = -top, top
    for b in decl.bounds:
        try:
            limit = Decimal(literal_value(b.value))
        except (ValueError, TypeError, ArithmeticError):
            continue
        if b.op in (">", ">="):
            lo = max(lo, limit)
        elif b.op in ("<", "<="):
            hi = min(hi, limit)
    if decl.default is not None:  # a default is no value the bounds refuse, but take it in anyway
        try:
            value = Decimal(literal_value(decl.default))
            lo, hi = min(lo, value), max(hi, value)
        except (ValueError, TypeError, ArithmeticError):
            return -top, top, scale
    return lo, hi, scale
