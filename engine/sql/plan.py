"""The relational plan of a program: SQL that validates the input rows and scores the valid ones.

Tables, in the order the runner builds them (engine.sql.duck):
- `raw`: the export as text, one column per header cell (`c0`, `c1`, ...), and `row` as the row
  reader numbers it.
- `checked` (`validation_sql`): per field its typed value `v<i>`, and `ok` when the row passes every
  check the row engine makes before `unique` (form, type, bounds, `required`, `required when`,
  bounds `when`). The checks here are conservative: a row they refuse is handed to the row engine's
  validator for its field, code and sentence, and a row that validator accepts would be a
  disagreement (the run then goes to the row engine). Lenient readings are flagged per field
  (`l<i>`, with the raw text `r<i>` of such a value).
- `valid`: the rows that are `ok` and do not repeat a `unique` value of an earlier valid row.
- per version `scored<k>` (`version_sql`): each valid row signed while that version is in force,
  with its status, points, rules, code and reason, and per rule whether it paid and how much.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dsl import ast
from engine import reasons
from engine.evaluate import TableData
from engine.program import Program, Version
from engine.sql.compiler import EXACT_DIGITS, Compiler, NotCompiled, Val, bound_of, integer_digits
from engine.sql.dialect import DUCKDB, Dialect
from engine.validate import (
    DECIMAL_PATTERN, FIRST_DAY, LAST_DAY, column_names, resolved, typed_default,
    _bound_limit,
)

SUPPORTED_KINDS = ("text", "integer", "decimal", "date", "boolean", "choice")
BOOLEAN_TRUE = ("true", "yes", "1", "ja")
BOOLEAN_FALSE = ("false", "no", "0", "nein")
SQL_OPS = {">=": ">=", ">": ">", "<=": "<=", "<": "<"}


@dataclass
class FieldSQL:
    name: str
    decl: object  # the resolved FieldDecl
    column: int | None  # its position in the header, None when the header lacks it
    lenient: str | None = None  # SQL flag: the accepted value needed this lenient reading
    reading: str | None = None  # which (engine.validate GERMAN_DATE, ...)
    slot: int | None = None  # packed: the position of its raw text in the list `lx` (1-based)


@dataclass
class InputSQL:
    fields: list[FieldSQL]
    sql: str  # SELECT of `checked` from `raw`
    unique: str | None  # the one `unique` field, or None
    columns: dict = field(default_factory=dict)  # field name -> column of its typed value
    packed: bool = False  # the lenient readings' raw texts in one list `lx`, no l<i>/r<i> columns


def qualify_block(block: ast.InputBlock | None) -> None:
    """Raise NotCompiled when the SQL engine cannot validate this input block."""
    if block is None:
        raise NotCompiled("the program declares no `input contract` block")
    names = {f.name: f for f in block.fields}
    for f in block.fields:
        if f.kind not in SUPPORTED_KINDS:
            raise NotCompiled(f"field `{f.name}` has a type the SQL engine does not read ({f.kind})")
        if f.kind == "text" and (f.bounds or f.bounds_when):
            raise NotCompiled(f"field `{f.name}` is text with bounds")
        if getattr(f, "choices_when", ()):
            raise NotCompiled(f"field `{f.name}` has a `one of (...) when` list (checked by the row engine)")
    for needed in ("contract_id", "partner_id", "signed"):
        if needed not in names:
            raise NotCompiled(f"the input block has no `{needed}` field")
    signed = names["signed"]
    if signed.kind != "date" or not (signed.required or signed.default is not None):
        raise NotCompiled("`signed` is not a required date")
    if names["contract_id"].kind not in ("text", "choice", "integer"):
        raise NotCompiled("`contract_id` is neither text nor a whole number")
    if names["partner_id"].kind not in ("text", "choice"):
        raise NotCompiled("`partner_id` is not text (partners are sorted by their typed id)")
    if not (names["partner_id"].required or names["partner_id"].default is not None):
        raise NotCompiled("`partner_id` is not required")
    for name in ("product", "customer"):
        if name in names and names[name].kind not in ("text", "choice"):
            raise NotCompiled(f"`{name}` is not text")
    unique = [f for f in block.fields if f.unique]
    if len(unique) > 1:
        raise NotCompiled("more than one `unique` field")
    if unique and unique[0].kind not in ("text", "choice", "integer", "date"):
        raise NotCompiled(f"`unique` field `{unique[0].name}` is a {unique[0].kind}")


def validation_sql(block: ast.InputBlock, header: list[str], decimal_comma: bool, d: Dialect = DUCKDB,
                   examples: bool = True, stripped: bool = False, source: str = "raw",
                   carry: tuple[str, ...] = ('"row"',), packed: bool = False) -> InputSQL:
    """The SELECT that types and checks every raw row (see the module docstring); `examples`: with
    the raw text r<i> of each lenient reading (else the runner finds its examples in `raw`);
    `packed` (with `examples`): those texts in one list column `lx` instead, NULL on a row read with
    no lenient reading (as most are: a flag and a text column per field, NULL on almost every row,
    took ~30% of the DuckDB engine's typing statement and a quarter of its table's memory);
    `stripped`: no cell begins or ends with a space character (engine.sql.prescan), so a cell's
    stripped text is the cell and spaces are never a lenient reading; `source`: the relation of the
    cells c0, c1, ... (`raw`, or a reader's call); `carry`: its columns kept unchanged through every
    stage, first in the result ("row", or the cells themselves where the row's number is the
    position the rows are stored in)."""
    qualify_block(block)
    index: dict[str, int] = {}
    for position, column in enumerate(column_names(header)):
        index.setdefault(column, position)
    fields = [FieldSQL(f.name, resolved(block, f), index.get(f.name)) for f in block.fields]
    columns = {f.name: f"v{i}" for i, f in enumerate(fields)}
    # stage 1: raw text r<i> and stripped text s<i>
    stage1 = list(carry)
    for i, f in enumerate(fields):
        raw = "''" if f.column is None else f"COALESCE(c{f.column}, '')"
        stage1.append(f"{raw} AS r{i}")
        stage1.append(f"{raw if stripped else d.strip(raw)} AS s{i}")
    # stage 2a: each present value typed once (p<i>); stage 2: typed values and per-field verdicts
    stage2a = list(carry)
    for i, f in enumerate(fields):
        present_value, _ = present_sql(f.decl, f"r{i}", f"s{i}", decimal_comma, d)
        stage2a += [f"r{i}", f"s{i}", f"{present_value} AS p{i}"]
    stage2 = list(carry)
    oks = []
    lenient_cols = []
    packed_texts = []  # packed: (flag, raw text) of each lenient field, in the list's order
    for i, f in enumerate(fields):
        value, ok = field_sql(f, f"r{i}", f"s{i}", decimal_comma, d, typed=f"p{i}")
        stage2 += [f"r{i}", f"s{i}", f"{value} AS v{i}", f"({ok}) AS ok{i}"]
        oks.append(f"ok{i}")
        flag, reading = lenient_sql(f, f"r{i}", f"s{i}", decimal_comma, d, stripped)
        if flag is not None and f.column is not None:
            f.lenient, f.reading = flag, reading
            if packed and examples:
                packed_texts.append((flag, f"r{i}"))
                f.slot = len(packed_texts)
                continue
            lenient_cols.append(f"({flag}) AS l{i}")
            # the raw text is kept only where it is a lenient reading's example (the rest is NULL)
            if examples:
                lenient_cols.append(f"CASE WHEN {flag} THEN r{i} END AS r{i}")
    if packed_texts:
        texts = ", ".join(f"CASE WHEN {flag} THEN {raw} END" for flag, raw in packed_texts)
        any_lenient = " OR ".join(f"({flag})" for flag, _ in packed_texts)
        lenient_cols.append(f"CASE WHEN {any_lenient} THEN [{texts}] END AS lx")
    # stage 3: conditional checks on the typed values
    decls = {f.name: f.decl for f in fields}
    compiler = Compiler(decls, {}, columns, d)
    conditions = []
    for i, f in enumerate(fields):
        decl = f.decl
        if decl.required_when is not None:
            held = holds(compiler, decl.required_when)
            conditions.append(f"(v{i} IS NOT NULL OR NOT {held})")
        for item in decl.bounds_when:
            held = holds(compiler, item.when)
            limit = bound_literal(decl, item.bound, d)
            conditions.append(f"(v{i} IS NULL OR v{i} {SQL_OPS[item.bound.op]} {limit} OR NOT {held})")
    fields_ok = " AND ".join(oks) or "TRUE"  # each ok<i> is TRUE or FALSE (field_sql)
    ok = f"CASE WHEN {fields_ok} THEN {' AND '.join(conditions)} ELSE FALSE END" if conditions else fields_ok
    stage3 = [*carry, *[f"v{i}" for i in range(len(fields))], f"({ok}) AS ok", *lenient_cols]
    sql = (f"SELECT {', '.join(stage3)} FROM (SELECT {', '.join(stage2)} FROM (SELECT {', '.join(stage2a)} FROM "
           f"(SELECT {', '.join(stage1)} FROM {source}) t1) t2a) t2")
    unique = next((f.name for f in fields if f.decl.unique), None)
    return InputSQL(fields, sql, unique, columns, packed=packed and examples)


def holds(compiler: Compiler, cond) -> str:
    """engine.validate's `holds`: the condition is true, and computing it did not fail."""
    c = compiler.cond(cond)
    if c.err is None:
        return f"COALESCE({c.sql}, FALSE)"
    return f"({c.err} IS NULL AND COALESCE({c.sql}, FALSE))"


def bound_literal(decl, bound: ast.Bound, d: Dialect) -> str:
    limit = _bound_limit(decl, bound)
    if decl.kind == "date":
        return d.date(limit)
    digits, scale = bound_of(limit)
    return d.decimal(limit, digits + scale, scale)


def default_sql(decl, d: Dialect) -> str:
    value = typed_default(decl)
    if value is None:
        return "NULL"
    if decl.kind in ("text", "choice"):
        return d.text(value)
    if decl.kind == "integer":
        return f"CAST({int(value)} AS BIGINT)"
    if decl.kind == "decimal":
        return f"CAST({d.text(format(value, 'f'))} AS DECIMAL(28,10))"
    if decl.kind == "date":
        return d.date(value)
    return d.boolean(bool(value))


def field_sql(f: FieldSQL, r: str, s: str, comma: bool, d: Dialect, typed: str | None = None) -> tuple[str, str]:
    """(typed value, accepted) of one field; conservative: refusing more than the row engine is
    safe (the row engine's validator has the last word on a refused row), accepting more is not.
    `typed`: a column already holding the present value's typed form (computed once, not per use)."""
    decl = f.decl
    kind = decl.kind
    missing_ok = "FALSE" if decl.required and decl.default is None else "TRUE"
    default = default_sql(decl, d)
    present_value, present_ok = present_sql(decl, r, s, comma, d)
    if typed is not None:
        present_ok = present_ok.replace(present_value, typed)
        present_value = typed
    if kind in ("integer", "decimal", "date") and decl.bounds:
        tests = " AND ".join(f"{present_value} {SQL_OPS[b.op]} {bound_literal(decl, b, d)}" for b in decl.bounds)
        present_ok = f"({present_ok}) AND COALESCE({tests}, FALSE)"
    value = f"CASE WHEN {s} = '' THEN {default} ELSE {present_value} END"
    ok = f"CASE WHEN {s} = '' THEN {missing_ok} ELSE COALESCE({present_ok}, FALSE) END"
    return value, ok


NEGATIVE_ZERO = r"-[0,.]*"


def present_sql(decl, r: str, s: str, comma: bool, d: Dialect) -> tuple[str, str]:
    kind = decl.kind
    if kind == "text":
        return (r if decl.spaces == "verbatim" else s), "TRUE"
    if kind == "integer":
        strict = decl.numbers == "strict"
        pattern = r"-?[0-9]+" if strict else r"[+-]?[0-9]+"
        value = d.try_integer(f"CASE WHEN {d.full_match(s, pattern)} THEN {s} END")
        # a value only where the text has the form; at most 18 digits (dsl.limits) is a range of
        # the value then (a BIGINT holds 19), a test of two integers rather than of the text
        top = "9" * 18
        ok = f"{value} IS NOT NULL AND {value} BETWEEN -{top} AND {top}"
        if strict:
            ok += f" AND NOT {d.full_match(s, NEGATIVE_ZERO)}"
        return value, ok
    if kind == "decimal":
        plain = f"replace({s}, ',', '.')" if comma else s
        value = f"CASE WHEN {d.full_match(plain, DECIMAL_PATTERN.strip('^$'))} THEN {d.try_decimal(plain)} END"
        # a value only where the text has the form, and only with at most 18 digits before the point
        # (its DECIMAL(28,10) holds no more); the digits after it are counted in the text (the cast
        # would round beyond 10)
        ok = f"{value} IS NOT NULL"
        if comma:
            ok += f" AND strpos({s}, '.') = 0"
        if decl.numbers == "strict":
            strict = r"-?[0-9]+(,[0-9]+)?" if comma else r"-?[0-9]+(\.[0-9]+)?"
            ok += f" AND {d.full_match(s, strict)} AND NOT {d.full_match(s, NEGATIVE_ZERO)}"
        ok += f" AND length(rtrim(split_part({plain}, '.', 2), '0')) <= 10"
        return value, ok
    if kind == "date":
        reading = decl.dates
        parts = []
        if reading != "german":
            parts.append(f"WHEN {d.full_match(s, '[0-9]{4}-[0-9]{2}-[0-9]{2}')} THEN {s}")
        if reading != "iso":
            dotted = r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}"
            iso = (f"split_part({s}, '.', 3) || '-' || lpad(split_part({s}, '.', 2), 2, '0') || '-' || "
                   f"lpad(split_part({s}, '.', 1), 2, '0')")
            parts.append(f"WHEN {d.full_match(s, dotted)} THEN {iso}")
        value = d.try_date(f"CASE {' '.join(parts)} END")
        ok = f"{value} IS NOT NULL AND {value} BETWEEN {d.date(FIRST_DAY)} AND {d.date(LAST_DAY)}"
        return value, ok
    if kind == "boolean":
        value = d.is_in(f"lower({s})", [d.text(w) for w in BOOLEAN_TRUE])
        return value, f"{d.ascii(s)} AND {d.is_in(f'lower({s})', [d.text(w) for w in BOOLEAN_TRUE + BOOLEAN_FALSE])}"
    if kind == "choice":
        whens = [f"WHEN {d.is_in(s, [d.text(c) for c in decl.choices])} THEN {s}"] if decl.choices else []
        if decl.case != "exact":
            folded: dict = {}
            for choice in decl.choices:
                folded.setdefault(choice.lower(), []).append(choice)
            for key, values in folded.items():
                if len(values) == 1 and key.isascii():
                    whens.append(f"WHEN {d.ascii(s)} AND lower({s}) = {d.text(key)} THEN {d.text(values[0])}")
        value = f"(CASE {' '.join(whens)} END)" if whens else "NULL"
        return value, f"{value} IS NOT NULL"
    raise NotCompiled(f"field `{decl.name}` of type {kind}")


def lenient_sql(f: FieldSQL, r: str, s: str, comma: bool, d: Dialect,
                stripped: bool = False) -> tuple[str | None, str | None]:
    """engine.validate.lenient_reading as SQL, true or false as it is for an accepted value (of a
    refused one it means nothing); `stripped`: as validation_sql's.

    A cheap test comes first where it settles most values: an accepted integer whose text begins
    with a digit, or an accepted decimal whose text begins and ends with one, has the plain form;
    a German date holds a `.` where an ISO one does not. Only the other texts are matched by a
    regular expression (a million rows of four lenient fields: 0.03 s of the typing statement's
    0.48; ten million: 4.99 -> 4.68 s)."""
    from engine.validate import ANY_CASE, GERMAN_DATE, NUMBER_FORM, TRIMMED

    decl = f.decl
    if decl.kind == "text":
        if decl.spaces != "trim" or stripped:
            return None, None
        return f"{r} <> {s} AND {s} <> ''", TRIMMED
    if decl.kind == "date" and decl.dates == "both":
        dotted = d.full_match(s, r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}")
        return f"(strpos({s}, '.') > 0 AND {dotted})", GERMAN_DATE
    if decl.kind == "choice" and decl.case == "any":
        if not decl.choices:
            return "FALSE", ANY_CASE
        return f"{s} <> '' AND NOT {d.is_in(s, [d.text(c) for c in decl.choices])}", ANY_CASE
    if decl.kind in ("integer", "decimal") and decl.numbers == "any":
        plain = r"-?[0-9]+" if decl.kind == "integer" else (r"-?[0-9]+(,[0-9]+)?" if comma else r"-?[0-9]+(\.[0-9]+)?")
        settled = d.digits_at_ends(s, last=decl.kind == "decimal")  # plain where accepted ("5." is not)
        return (f"{s} <> '' AND NOT {settled} AND (NOT {d.full_match(s, plain)} OR {d.full_match(s, NEGATIVE_ZERO)})"
                ), NUMBER_FORM
    return None, None


# --------------------------------------------------------------------------- scoring


@dataclass
class VersionSQL:
    version: Version
    sql: str  # SELECT from `valid` of the rows this version scores
    rules: list  # (rule id, paid column, points column)
    scale: int  # the scale of the `points` column
    relations: dict = field(default_factory=dict)  # name -> engine.sql.compiler.Relation the SQL reads
    # The stages of `sql`, for a SELECT of its own over every version (engine.sql.duck): lookups
    # staged once per row, the rules' columns, the combined columns (each "SQL AS name", the names
    # prefixed by version_sql's `q`), the outcome's columns (name, SQL) and per rule (paid, points)
    staged: dict = field(default_factory=dict)
    inner: list = field(default_factory=list)
    mid: list = field(default_factory=list)
    outcome: list = field(default_factory=list)
    paid_points: list = field(default_factory=list)
    rule_types: list = field(default_factory=list)  # per rule (integer digits, scale) of its points
    digits: int = 1  # the integer digits of the `points` column (its DECIMAL: digits + scale, scale)
    reads: dict = field(default_factory=dict)  # SQL -> (relation, key SQLs): Compiler.reads


def narrow_type(bound: tuple) -> tuple[int, int]:
    """(precision, scale) of the DECIMAL holding every value of an observed bound (lowest, highest, scale)."""
    lo, hi, scale = bound
    return integer_digits(max(abs(lo), abs(hi))) + scale, scale


def narrowed(observed: dict, columns: dict, d: Dialect) -> str:
    """The REPLACE list reading each observed field's column as the DECIMAL of its bound."""
    return ", ".join(f"CAST({columns[name]} AS {d.decimal_type(*narrow_type(bound))}) AS {columns[name]}"
                     for name, bound in observed.items())


def version_sql(program: Program, k: int, columns: dict, d: Dialect = DUCKDB, q: str = "",
                observed: dict | None = None) -> VersionSQL:
    """The SELECT scoring the valid rows of version k (its `vidx` = k + 1); `q`: a prefix of the
    names of the columns computed on the way (the stages of VersionSQL), so that several versions'
    stages can share one SELECT; `observed`: number fields' bounds in the rows scored
    (Compiler.observed), whose columns the SELECT reads as the DECIMAL those bounds give (narrowed)."""
    version = program.versions[k]
    ruleset, plan = version.ruleset, version.plan
    block = ruleset.input("contract")
    fields = {f.name: f for f in block.fields}
    tables = {t.name: TableData.build(t) for t in ruleset.tables}
    compiler = Compiler(fields, tables, columns, d, prefix=f"lk{k}_")
    compiler.staged = {}
    compiler.staged_prefix = q
    compiler.observed = dict(observed or {})
    product = columns.get("product")

    def among(sql: str, name: str, values, staged: bool = False) -> str:
        """Whether `sql` is one of these names: in a list, or in a relation (a join) when it is long
        (`staged`: a column of the staged rows, for the rules' stage)."""
        values = sorted(values)
        if d.relation_cells is not None and len(values) > d.relation_cells:
            member = compiler.member(sql, compiler.relation(name, ("k1",), [(v,) for v in values]))
            return compiler.stage(member) if staged else member
        return d.is_in(sql, [d.text(v) for v in values])

    inner = ['"row"', *([f"{product} AS prod_"] if product else [])]
    compiled = []
    for j, crule in enumerate(plan.rules):
        compiler.rule = crule.rule
        cond = compiler.cond(crule.rule.when) if crule.rule.when is not None else Val("TRUE", None, "bool")
        pts = compiler.points(crule.rule.points)
        if crule.pins is None or product is None:
            cand = "TRUE"
        else:
            cand = f"COALESCE({among(product, f'pins:{j}', crule.pins, staged=True)}, FALSE)"
        matched = f"({cand}) AND {cond.err or 'NULL'} IS NULL AND COALESCE({cond.sql}, FALSE)"
        inner.append(f"({matched}) AS {q}m{j}")
        cerr = f"CASE WHEN {cand} THEN {cond.err} END" if cond.err else "NULL"
        inner.append(f"{cerr} AS {q}ce{j}")
        inner.append(f"{pts.err or 'CAST(NULL AS VARCHAR)'} AS {q}pe{j}")
        inner.append(f"{pts.sql} AS {q}p{j}")
        compiled.append((crule, pts))
    compiler.rule = None
    scale = max((p.scale for _, p in compiled), default=0)
    n = len(compiled)
    if plan.combine == "sum":
        lo = sum((min(p.lo, 0) for _, p in compiled), Decimal(0))
        hi = sum((max(p.hi, 0) for _, p in compiled), Decimal(0))
    else:
        lo = min((p.lo for _, p in compiled), default=Decimal(0))
        hi = max((p.hi for _, p in compiled), default=Decimal(0))
    digits = integer_digits(max(abs(lo), abs(hi)))
    if digits + scale > d.max_precision:
        raise NotCompiled(f"{ruleset.file}: the points of a contract may need more than {d.max_precision} digits")
    # several rules' points that add up to more than 28 significant digits: unscored, as the row engine does
    check_sum = plan.combine == "sum" and n > 1 and digits + scale > EXACT_DIGITS
    typ = d.decimal_type(digits + scale, scale)
    zero = f"CAST(0 AS {typ})"

    def e(j):  # the failure of rule j, once considered: its condition's, or its points' when it matched
        return f"(CASE WHEN {q}ce{j} IS NOT NULL THEN {q}ce{j} WHEN {q}m{j} THEN {q}pe{j} END)"

    if plan.combine == "sum":
        err = f"COALESCE({', '.join(e(j) for j in range(n))})" if n else "CAST(NULL AS VARCHAR)"
        count = " + ".join(f"(CASE WHEN {q}m{j} THEN 1 ELSE 0 END)" for j in range(n)) or "0"
        total = " + ".join(f"(CASE WHEN {q}m{j} THEN CAST({q}p{j} AS {typ}) ELSE {zero} END)" for j in range(n)) or zero
        paid = [f"{q}m{j}" for j in range(n)]
        several = None
    elif plan.combine == "first":
        whens = " ".join(f"WHEN {e(j)} IS NOT NULL THEN {-(j + 1)} WHEN {q}m{j} THEN {j + 1}" for j in range(n))
        state = f"(CASE {whens} ELSE 0 END)" if n else "0"
        err = (f"(CASE {' '.join(f'WHEN {state} = {-(j + 1)} THEN {e(j)}' for j in range(n))} END)" if n
               else "CAST(NULL AS VARCHAR)")
        count = f"(CASE WHEN {state} > 0 THEN 1 ELSE 0 END)"
        total = (f"(CASE {' '.join(f'WHEN {state} = {j + 1} THEN CAST({q}p{j} AS {typ})' for j in range(n))} "
                 f"ELSE {zero} END)" if n else zero)
        paid = [f"({state} = {j + 1})" for j in range(n)]
        several = None
    else:  # exclusive
        cerr = f"COALESCE({', '.join(f'{q}ce{j}' for j in range(n))})" if n else "CAST(NULL AS VARCHAR)"
        count = " + ".join(f"(CASE WHEN {q}m{j} THEN 1 ELSE 0 END)" for j in range(n)) or "0"
        perr = f"(CASE {' '.join(f'WHEN {q}m{j} THEN {q}pe{j}' for j in range(n))} END)" if n else "NULL"
        err = f"COALESCE({cerr}, CASE WHEN ({count}) = 1 THEN {perr} END)"
        total = " + ".join(f"(CASE WHEN {q}m{j} THEN CAST({q}p{j} AS {typ}) ELSE {zero} END)" for j in range(n)) or zero
        paid = [f"{q}m{j}" for j in range(n)]
        names = d.concat_ws("', '", [f"CASE WHEN {q}m{j} THEN {d.text(chr(34) + r.name + chr(34))} END"
                                     for j, (r, _) in enumerate(compiled)])
        several = f"'matches several rules: ' || {names}"
    # why no rule matched (engine.compile.Plan.no_match and the runner's unknown-product reason)
    no_match_code, no_match_reason = d.text(reasons.NO_RULE), d.text("no rule matches")
    through = []  # staged columns the outcome reads, carried through the rules' stages
    if product is not None:
        product = "prod_"
        if plan.indexed and plan.products:
            # a long list staged (on the field's own column, which the staged columns read): the code
            # and the reason both ask, one join answers
            known = among(columns["product"], "products", plan.products, staged=True)
            if known in compiler.staged:
                through.append(known)
            else:
                known = among(product, "products", plan.products)
            unknown = f"{product} IS NOT NULL AND NOT {known}"
        else:
            unknown = f"{product} IS NOT NULL"
        others: dict = {}
        for v in program.versions:
            for p in v.plan.products:
                if p not in plan.products:
                    others.setdefault(p, []).append(v.name)
        prefix = f"'unknown product: ''' || {product} || ''' is not in version {version.name.replace(chr(39), chr(39) * 2)}'"
        whens = " ".join(f"WHEN {product} = {d.text(p)} THEN {d.text('; it is in ' + ', '.join(vs))}"
                         for p, vs in sorted(others.items()))
        tail = f"(CASE {whens} ELSE ' (no version knows it)' END)" if whens else "' (no version knows it)'"
        known_elsewhere = among(product, "elsewhere", others) if others else "FALSE"
        code_tail = (f"(CASE WHEN {known_elsewhere} THEN {d.text(reasons.PRODUCT_NOT_IN_VERSION)} "
                     f"ELSE {d.text(reasons.UNKNOWN_PRODUCT)} END)")
        no_match_code = f"(CASE WHEN {unknown} THEN {code_tail} ELSE {no_match_code} END)"
        no_match_reason = f"(CASE WHEN {unknown} THEN {prefix} || {tail} ELSE {no_match_reason} END)"
    over = ""
    over_code = over_reason = ""
    if check_sum:
        # engine.compile.combine_sum: an Unscorable of the default code (no-rule), which the runner's
        # unknown-product reason may then rename
        over = f"OR ({q}err IS NULL AND {q}cnt > 1 AND {d.significant_digits(q + 'total')} > {EXACT_DIGITS}) "
        sentence = d.text("the points of the rules that paid add up to more than 28 digits, more than exact "
                          "arithmetic holds")
        unknown_code, unknown_reason = (no_match_code, no_match_reason) if product is not None else ("''", "''")
        test = f"{q}cnt > 1 AND {d.significant_digits(q + 'total')} > {EXACT_DIGITS}"
        if product is not None:
            over_code = f"WHEN {test} THEN (CASE WHEN {unknown} THEN {code_tail} ELSE {d.text(reasons.NO_RULE)} END) "
            over_reason = f"WHEN {test} THEN (CASE WHEN {unknown} THEN {prefix} || {tail} ELSE {sentence} END) "
        else:
            over_code = f"WHEN {test} THEN {d.text(reasons.NO_RULE)} "
            over_reason = f"WHEN {test} THEN {sentence} "
        del unknown_code, unknown_reason
    status = (f"CASE WHEN {q}err IS NOT NULL OR {q}cnt = 0 {over}{f'OR {q}cnt > 1 ' if several else ''}THEN 'unscored' "
              f"ELSE 'scored' END")
    code = (f"CASE WHEN {q}err IS NOT NULL THEN split_part({q}err, chr(9), 1) {over_code}"
            f"{'WHEN ' + q + 'cnt > 1 THEN ' + d.text(reasons.SEVERAL_RULES) + ' ' if several else ''}"
            f"WHEN {q}cnt = 0 THEN {no_match_code} ELSE '' END")
    reason = (f"CASE WHEN {q}err IS NOT NULL THEN substr({q}err, strpos({q}err, chr(9)) + 1) {over_reason}"
              f"{'WHEN ' + q + 'cnt > 1 THEN ' + several + ' ' if several else ''}"
              f"WHEN {q}cnt = 0 THEN {no_match_reason} ELSE '' END")
    rule_texts = [f"CASE WHEN {paid[j]} THEN {d.text(r.id + '=')} || {d.points_text(f'{q}p{j}', p.scale)} END"
                  for j, (r, p) in enumerate(compiled)]
    mid_computed = [f"{err} AS {q}err", f"{count} AS {q}cnt", f"{total} AS {q}total",
                    f"{d.concat_ws(chr(39) + ';' + chr(39), rule_texts)} AS {q}rules_paid"]
    mid = ['"row"', *(["prod_"] if columns.get("product") else []), *[f"{q}m{j}" for j in range(n)],
           *[f"{q}ce{j}" for j in range(n)], *[f"{q}pe{j}" for j in range(n)], *[f"{q}p{j}" for j in range(n)],
           *mid_computed]
    ok = f"({q}err IS NULL AND {q}cnt = 1)" if several else f"({q}err IS NULL AND {q}cnt > 0)"
    if check_sum:
        ok = (f"({q}err IS NULL AND {q}cnt > 0 AND NOT ({q}cnt > 1 AND {d.significant_digits(q + 'total')} > "
              f"{EXACT_DIGITS}))")
    outcome = [("status", f"({status})"), ("points", f"CASE WHEN {ok} THEN {q}total END"),
               ("points_text", f"CASE WHEN {ok} THEN {d.points_text(q + 'total', scale)} ELSE '' END"),
               ("rules_text", f"CASE WHEN {ok} THEN {q}rules_paid ELSE '' END"),
               ("code", f"({code})"), ("reason", f"({reason})")]
    paid_points = [(f"({ok} AND COALESCE({paid[j]}, FALSE))", f"{q}p{j}") for j in range(n)]
    outer = ['"row"', *(f"{sql} AS {name}" for name, sql in outcome)]
    for j, (paid_sql, points_sql) in enumerate(paid_points):
        outer.append(f"{paid_sql} AS paid{j}")
        outer.append(points_sql if points_sql == f"p{j}" else f"{points_sql} AS p{j}")
    rows = f"valid WHERE vidx = {k + 1}"
    if observed:
        rows = f"(SELECT * REPLACE ({narrowed(observed, columns, d)}) FROM {rows}) narrow"
    if compiler.staged:  # each lookup's value once per row
        looked_up = ", ".join(f"{sql} AS {name}" for name, sql in compiler.staged.items())
        rows = f"(SELECT *, {looked_up} FROM {rows}) staged"
    sql = (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(mid + through)} FROM (SELECT {', '.join(inner + through)} "
           f"FROM {rows}) a) b")
    return VersionSQL(version, sql, [(r.id, f"paid{j}", f"p{j}") for j, (r, _) in enumerate(compiled)], scale,
                      compiler.relations, staged=dict(compiler.staged),
                      inner=inner[1 + (1 if columns.get("product") else 0):], mid=mid_computed,
                      outcome=outcome, paid_points=paid_points,
                      rule_types=[(integer_digits(max(abs(p.lo), abs(p.hi))), p.scale) for _, p in compiled],
                      digits=digits, reads=dict(compiler.reads))
