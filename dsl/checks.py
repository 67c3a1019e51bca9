"""Checks of a parsed ruleset: names, meaning (errors N2xx) and static analysis (warnings W3xx).

Design:
- `check` never raises on an AST the parser can produce: each check looks only at what it needs
  and tolerates missing blocks, so one mistake does not hide the next, and all findings of a file
  come back together, sorted by position.
- Names are resolved here (the parser does not): a bare word compared to, listed for, or used as
  a key for a `one of` field is one of its values when it is one; otherwise a field; otherwise
  `true`/`false`; otherwise an error with did-you-mean.
- Types are coarse (number, text, date, boolean): enough to catch `product * 2` or
  `quantity == "ten"` without a type system the user would have to learn.
- Warnings (W3xx) live in dsl.checks_static; codes are stable and each has docs/errors/CODE.md.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from . import ast as A
from .checks_static import BOOL_WORDS, EMPTY_SCOPE, UNKNOWN, Atom, Scope, analyse, dnf, satisfiable, value_of, warn
from .errors import Diagnostic, did_you_mean, sort_diagnostics

HEADERS = ((A.ProgramDecl, "program", 'program "NAME"'), (A.VersionDecl, "version", 'version "NAME"'),
           (A.EffectiveDecl, "effective", "effective 2016-03-01"))
ONCE = ((A.PeriodDecl, "period"), (A.CombineDecl, "combine"))
REQUIRED_FIELDS = {
    "contract": (("contract_id", "text", "it names each contract"), ("partner_id", "text", "it names the partner"),
                 ("signed", "date", "the version in force on this date scores the contract")),
    "quality": (("partner_id", "text", "it names the partner"),
                ("reported", "date", "it places the report in a period")),
    # `reports by contract`: the partner is the one of the evaluated contract
    "quality by contract": (("contract_id", "text", "it names the contract, whose partner the report counts for"),
                            ("reported", "date", "it places the report in a period")),
}
# A required field that may also be declared otherwise: `reported: text` holds a period label (`2016-Q2`).
OTHER_KINDS = {("quality", "reported"): ("text",)}
KIND_TYPE = {"text": "text", "choice": "text", "integer": "number", "decimal": "number",
             "date": "date", "boolean": "boolean"}
ORDERED = ("<", "<=", ">", ">=")


def check(ruleset: A.Ruleset) -> list[Diagnostic]:
    """Every error and warning of a ruleset, sorted by position."""
    scope = Scope.of(ruleset)
    out: list[Diagnostic] = []
    for part in (_header, _inputs, _tiers, _tables, _rules, _review, _quality, _examples):
        out += part(ruleset, scope)
    out += analyse(ruleset, scope)
    return sort_diagnostics(out)


def error(code: str, message: str, span: A.Span, hint: str | None = None) -> Diagnostic:
    """An error finding."""
    return Diagnostic(code, message, span, severity="error", hint=hint)


def _names(names) -> str:
    names = list(names)
    shown = ", ".join(names[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def _guess(word: str, candidates) -> str:
    guess = did_you_mean(word, candidates)
    return f"; did you mean {guess}?" if guess else ""


def _start(ruleset: A.Ruleset) -> A.Span:
    s = ruleset.span
    return s if s.line >= 1 else A.Span(ruleset.file, 1, 1, 1, 1)


# --------------------------------------------------------------------------- header and blocks


def _header(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    for kind, word, example in HEADERS:
        if not any(isinstance(s, kind) for s in ruleset.statements):
            out.append(error("N201", f"the ruleset has no `{word}` statement", _start(ruleset),
                             f"add `{example}` at the top of the file"))
    for kind, word in [(k, w) for k, w, _ in HEADERS] + list(ONCE):
        out += _repeated([s for s in ruleset.statements if isinstance(s, kind)], "N202",
                         f"`{word}` is given twice", "keep one of them")
    blocks = ((A.Tiers, "tiers"), (A.Review, "review"), (A.Quality, "quality"))
    for kind, word in blocks:
        out += _repeated([s for s in ruleset.statements if isinstance(s, kind)], "N203",
                         f"a second `{word}` block", "merge them into one block")
    for name in ("contract", "quality"):
        found = [s for s in ruleset.statements if isinstance(s, A.InputBlock) and s.name == name]
        out += _repeated(found, "N203", f"a second `input {name}` block", "merge them into one block")
    return out


def _repeated(items: list, code: str, message: str, hint: str) -> list[Diagnostic]:
    if len(items) < 2:
        return []
    first = items[0].span.line
    return [error(code, f"{message} (first at line {first})", s.span, hint) for s in items[1:]]


# --------------------------------------------------------------------------- input blocks


def _inputs(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    if ruleset.input("contract") is None:
        out.append(error("N204", "the ruleset has no `input contract` block", _start(ruleset),
                         "declare the contract columns in `input contract { ... }`, at least "
                         "contract_id (text), partner_id (text) and signed (date)"))
    if ruleset.quality is not None and ruleset.input("quality") is None:
        out.append(error("N204", "a `quality` block needs an `input quality` block declaring the report columns",
                         ruleset.quality.span, "declare them in `input quality { ... }`, at least "
                         "partner_id (text) and reported (date)"))
    by_contract = ruleset.quality is not None and ruleset.quality.key == "contract"
    for block in ruleset.statements:
        if isinstance(block, A.InputBlock):
            out += _input_block(block, scope, "quality by contract" if block.name == "quality" and by_contract
                                else block.name)
    return out


def _input_block(block: A.InputBlock, scope: Scope, required: str) -> list[Diagnostic]:
    out = []
    seen: dict[str, A.FieldDecl] = {}
    for f in block.fields:
        if f.name in seen:
            out.append(error("N207", f"field `{f.name}` is declared twice in input {block.name} "
                             f"(first at line {seen[f.name].span.line})", f.span, "keep one of them"))
            continue
        seen[f.name] = f
        out += _field_decl(f, scope)
        out += _field_conditions(f, scope if block.name == "contract" else
                                 dataclasses.replace(scope, fields=scope.quality_fields), block.name)
    for name, kind, why in REQUIRED_FIELDS.get(required, ()):
        decl = seen.get(name)
        if decl is None:
            out.append(error("N205", f"input {block.name} must declare `{name}` ({kind}): {why}", block.span,
                             f"add `{name}: {kind}, required`" + _guess(name, seen)))
        elif decl.kind != kind and decl.kind not in OTHER_KINDS.get((block.name, name), ()):
            out.append(error("N206", f"`{name}` must be {_type_words(kind)}, not {_kind_words(decl)}", decl.span,
                             f"declare it as `{name}: {kind}, required`"))
    return out


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _type_words(kind: str) -> str:
    return kind if kind == "text" else _a(kind)


def _kind_words(decl: A.FieldDecl) -> str:
    if decl.kind == "choice":
        return f"one of ({', '.join(decl.choices)})"
    return _type_words(decl.kind)


def _field_decl(f: A.FieldDecl, scope: Scope) -> list[Diagnostic]:
    out = [d for b in f.bounds for d in _bound_findings(f, b, scope, "")]
    if f.default is not None:
        problem = _misfit(f, f.default, scope)
        if problem:
            out.append(error("N208", f"the default {_shown(f.default)} of `{f.name}` {problem}",
                             f.default.span, _fit_hint(f)))
    return out


def _bound_findings(f: A.FieldDecl, b: A.Bound, scope: Scope, suffix: str) -> list[Diagnostic]:
    """N209 for a bound (`suffix`: how the hint quotes what follows it) on a field that has no order,
    or whose value does not fit the field."""
    if f.kind not in ("integer", "decimal", "date"):
        return [error("N209", f"`{f.name}` is {_kind_words(f)}: bounds apply only to numbers and dates",
                      b.span, f"remove `{b.op} {_shown(b.value)}{suffix}`")]
    if _misfit(f, b.value, scope, bounds=False):
        return [error("N209", f"the bound `{b.op} {_shown(b.value)}` does not fit `{f.name}` "
                      f"({_kind_words(f)})", b.span, f"write a {KIND_TYPE[f.kind]} after `{b.op}`")]
    return []


def _field_conditions(f: A.FieldDecl, scope: Scope, block: str) -> list[Diagnostic]:
    """`required when COND`, bounds `when COND` and `one of (...) when COND`: conditions over the
    block's own fields, each checked alike (its names, no table, whether it can hold at all, and
    whether the bound or list under it lets any value pass)."""
    out = []
    if f.required_when is not None and f.default is not None:
        out.append(error("N232", f"`{f.name}` has a default, so `required when` never finds it empty",
                         f.required_when.span, "remove the default or the `required when`"))
    # (how the check is written, its condition, the atom a passing value satisfies or None, its span)
    checks: list[tuple[str, A.Cond, Atom | None, A.Span]] = []
    if f.required_when is not None:
        checks.append(("required when (...)", f.required_when, None, f.required_when.span))
    for item in f.bounds_when:
        found = _bound_findings(f, item.bound, scope, " when (...)")
        out += found
        limit = value_of(item.bound.value, EMPTY_SCOPE)
        atom = None if found or limit is UNKNOWN else Atom(f.name, item.bound.op, limit)
        checks.append((f"{item.bound.op} {_shown(item.bound.value)} when (...)", item.when, atom, item.span))
    for item in f.choices_when:
        found = _list_findings(f, item)
        out += found
        atom = None if found else Atom(f.name, "in", frozenset(item.choices))
        checks.append((f"one of ({', '.join(item.choices)}) when (...)", item.when, atom, item.span))
    for what, cond, allowed, span in checks:
        tables = [a for a in _cond_atoms(cond) if isinstance(a, A.InTable)]
        for a in tables:
            out.append(error("N233", f"the condition on `{f.name}` reads the table `{a.table}`: conditions "
                             f"of input {block} read only its fields", a.span,
                             "list the values instead: `product in (\"A\", \"B\")`"))
        if not tables:
            checker = _Exprs(dataclasses.replace(scope, tables={}))
            checker.cond(cond)
            out += checker.found
            if not checker.found:
                out += _never_findings(f, what, cond, allowed, span, scope)
    return out


def _list_findings(f: A.FieldDecl, item: A.WhenChoices) -> list[Diagnostic]:
    """N235 for a conditional `one of` list on a field that is neither text nor `one of`, or that
    lists a value the field's own `one of` never holds."""
    if f.kind not in ("text", "choice"):
        return [error("N235", f"`{f.name}` is {_kind_words(f)}: a `one of` list applies only to text and "
                      f"`one of` fields", item.span, "remove `one of (...) when (...)`, or use a bound with a "
                      "condition (`<= 100 when (...)`)")]
    if f.kind == "text":
        return []
    return [error("N235", f'"{value}" in the list of `{f.name}` is not one of its values '
                  f"{', '.join(f.choices)}{_guess(value, f.choices)}", item.span,
                  f"list only values of `{f.name}`'s own `one of (...)`")
            for value in item.choices if value not in f.choices]


def _never_findings(f: A.FieldDecl, what: str, cond, allowed: Atom | None, span: A.Span,
                    scope: Scope) -> list[Diagnostic]:
    """W309 for a field's condition no row can satisfy (the check never applies), or under which
    the bound or list refuses every value (every row the condition holds for is rejected)."""
    live = [c for c in dnf(cond, scope) if satisfiable(c, scope)]
    if not live:
        return [warn("W309", f"the condition of `{f.name}`'s `{what}` can never hold, so the check "
                        f"never applies", cond.span, "check the values and comparisons of the condition")]
    if allowed is not None and f.name in scope.fields and not any(satisfiable(c + (allowed,), scope)
                                                                  for c in live):
        return [warn("W309", f"when its condition holds, `{f.name}`'s `{what}` refuses every value: "
                        f"every such row with a value in `{f.name}` is rejected", span,
                        "the condition and the bound or list contradict each other; correct one of them")]
    return []


def _cond_atoms(cond):
    """The comparisons and memberships of a condition."""
    if isinstance(cond, (A.And, A.Or)):
        for item in cond.items:
            yield from _cond_atoms(item)
    elif isinstance(cond, A.Not):
        yield from _cond_atoms(cond.operand)
    else:
        yield cond


def _shown(expr) -> str:
    if isinstance(expr, A.String):
        return f'"{expr.value}"'
    if isinstance(expr, A.Neg):
        return "-" + _shown(expr.operand)
    if isinstance(expr, A.Name):
        return expr.name
    text = getattr(expr, "text", "")
    return text or str(getattr(expr, "value", "?"))


def _fit_hint(f: A.FieldDecl) -> str:
    examples = {"text": '"some text"', "integer": "a whole number like 1", "decimal": "a number like 2.5",
                "date": "a date like 2016-03-01", "boolean": "true or false"}
    if f.kind == "choice":
        return f"use one of {', '.join(f.choices)}"
    bounds = " ".join(f"{b.op} {_shown(b.value)}" for b in f.bounds)
    return f"use {examples.get(f.kind, 'a value of its type')}" + (f" that is {bounds}" if bounds else "")


def _misfit(f: A.FieldDecl, expr, scope: Scope, bounds: bool = True) -> str | None:
    """Why a literal does not fit a field's type, choices and bounds; None when it fits."""
    value = value_of(expr, scope, f)
    if f.kind == "choice":
        if value in f.choices:
            return None
        return f"is not one of {', '.join(f.choices)}" + _guess(_shown(expr).strip('"'), f.choices)
    if f.kind == "text":
        return None if isinstance(expr, A.String) else "is not text (write it in double quotes)"
    if f.kind == "boolean":
        return None if isinstance(value, bool) else "is not true or false"
    if f.kind == "date":
        if not isinstance(expr, A.DateLit):
            return "is not a date"
    elif not isinstance(value, Decimal) or isinstance(expr, A.Percent) and f.kind == "integer":
        return f"is not {_a('number')}"
    elif f.kind == "integer" and value != value.to_integral_value():
        return "is not a whole number"
    return _out_of_bounds(f, value) if bounds else None


def _out_of_bounds(f: A.FieldDecl, value) -> str | None:
    tests = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
    for b in f.bounds:
        limit = value_of(b.value, EMPTY_SCOPE)
        try:
            if limit is not UNKNOWN and b.op in tests and not tests[b.op](value, limit):
                return f"is outside its bound `{b.op} {_shown(b.value)}`"
        except TypeError:
            continue
    return None


# --------------------------------------------------------------------------- tiers and review


def _tiers(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    seen: dict[str, A.Tier] = {}
    previous: A.Tier | None = None
    for i, tier in enumerate(ruleset.tiers.tiers if ruleset.tiers else ()):
        if tier.name in seen:
            out.append(error("N220", f"tier {tier.name} is declared twice (first at line {seen[tier.name].span.line})",
                             tier.span, "give each tier its own name"))
        seen.setdefault(tier.name, tier)
        if i == 0 and tier.threshold.value != 0:
            out.append(error("N222", f"the first tier {tier.name} starts from {_shown(tier.threshold)}, not from 0",
                             tier.threshold.span, f"write `{tier.name} from 0`: every partner is in some tier"))
        if previous is not None and tier.threshold.value <= previous.threshold.value:
            out.append(error("N221", f"tier {tier.name} from {_shown(tier.threshold)} must be above "
                             f"{previous.name} from {_shown(previous.threshold)}: thresholds rise in the order written",
                             tier.threshold.span, "list the tiers from the lowest threshold to the highest"))
        if tier.keep is not None and tier.keep.value >= tier.threshold.value:
            out.append(error("N223", f"tier {tier.name}: keep {_shown(tier.keep)} must be below its threshold "
                             f"{_shown(tier.threshold)}", tier.keep.span,
                             "`keep` is the lower target to hold the tier; make it smaller or remove it"))
        previous = tier
    return out


def _tier_ref(name: str, span: A.Span, scope: Scope, where: str) -> list[Diagnostic]:
    if name in scope.tiers:
        return []
    if not scope.tiers:
        return [error("N224", f"{where} names tier {name}, but the ruleset declares no tiers", span,
                      "add a `tiers { ... }` block")]
    return [error("N224", f"there is no tier {name}" + _guess(name, scope.tiers), span,
                  f"the tiers are {_names(scope.tiers)}")]


def _review(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    for review in (s for s in ruleset.statements if isinstance(s, A.Review)):
        seen: dict[str, A.LegacyMap] = {}
        for m in review.legacy:
            out += _tier_ref(m.new, m.span, scope, f'legacy "{m.old}"')
            if m.old in seen:
                out.append(error("N230", f'legacy "{m.old}" is mapped twice (first at line {seen[m.old].span.line})',
                                 m.span, "keep one mapping per old status"))
            seen.setdefault(m.old, m)
        if review.newcomer is not None:
            where = review.newcomer_span if review.newcomer_span.line else review.span
            out += _tier_ref(review.newcomer, where, scope, "`newcomers start at`")
    return out


# --------------------------------------------------------------------------- quality


def _quality(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    for quality in (s for s in ruleset.statements if isinstance(s, A.Quality)):
        seen: dict[str, A.Kpi] = {}
        for kpi in quality.kpis:
            if kpi.id in seen:
                out.append(error("N226", f'kpi "{kpi.name}" has the same id `{kpi.id}` as "{seen[kpi.id].name}" '
                                 f"(line {seen[kpi.id].span.line})", kpi.span, "give each KPI its own name"))
            seen.setdefault(kpi.id, kpi)
            out += _kpi_field(kpi, scope)
    return out


def _kpi_field(kpi: A.Kpi, scope: Scope) -> list[Diagnostic]:
    decl = scope.quality_fields.get(kpi.field)
    if decl is None:
        if not scope.quality_fields:
            return []  # the missing `input quality` block is reported once (N204)
        return [_unknown_field(kpi.field, kpi.span, scope.quality_fields, "input quality")]
    wanted = "boolean" if kpi.aggregate == "share" else "number"
    if KIND_TYPE.get(decl.kind) != wanted:
        return [error("N229", f"`{kpi.aggregate} of {kpi.field}` needs {_a(wanted)} field, but `{kpi.field}` is "
                      f"{_kind_words(decl)}", kpi.span,
                      "`share of` counts a boolean field; `mean of` averages a number field")]
    return []


def _unknown_field(name: str, span: A.Span, fields, block: str = "input contract") -> Diagnostic:
    return error("N210", f"`{name}` is not a field of {block}" + _guess(name, fields), span,
                 f"the fields are {_names(fields)}")


# --------------------------------------------------------------------------- tables


def _tables(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    seen: dict[str, A.Table] = {}
    for table in ruleset.tables:
        if table.name in seen:
            out.append(error("N214", f"table `{table.name}` is declared twice (first at line "
                             f"{seen[table.name].span.line})", table.span, "merge the two tables or rename one"))
            continue
        seen[table.name] = table
        out += _table(table, scope)
    return out


def _table(table: A.Table, scope: Scope) -> list[Diagnostic]:
    out = [_unknown_field(k, table.span, scope.fields) for k in table.keys if k not in scope.fields]
    if not scope.fields:
        out = []  # no input block at all: reported once (N204)
    first = scope.fields.get(table.keys[0]) if table.keys else None
    second = scope.fields.get(table.keys[1]) if len(table.keys) > 1 else None
    rows: dict[str, A.TableRow] = {}
    for row in table.rows:
        if row.key in rows:
            out.append(error("N214", f'row "{row.key}" appears twice in table `{table.name}` (first at line '
                             f"{rows[row.key].span.line})", row.span, "keep one row per key"))
        rows.setdefault(row.key, row)
        if first is not None and first.kind == "choice" and row.key not in first.choices:
            out.append(_not_a_choice(row.key, first, row.span))
        out += _row_cells(table, row, second)
    return out


def _row_cells(table: A.Table, row: A.TableRow, second: A.FieldDecl | None) -> list[Diagnostic]:
    out = []
    two_keys = len(table.keys) > 1
    if not two_keys and (len(row.cells) > 1 or any(c.column is not None for c in row.cells)):
        what = "names its cells" if any(c.column for c in row.cells) else f"has {len(row.cells)} values"
        out.append(error("N213", f'row "{row.key}" of table `{table.name}` {what}, but the table has '
                         f"one key ({table.keys[0] if table.keys else '?'})", row.span,
                         f'write one number: `"{row.key}": 120`'))
        return out
    seen: set[str] = set()
    for cell in row.cells if two_keys else ():
        if cell.column is None:
            out.append(error("N213", f'a cell of row "{row.key}" has no column name; table `{table.name}` has two '
                             f"keys, so each cell names a value of {table.keys[1]}", cell.span,
                             f"name its column, e.g. `{_free_column(row, second)} {_shown(cell.value)}`"))
            continue
        if cell.column in seen:
            out.append(error("N215", f'column {cell.column} appears twice in row "{row.key}" of table '
                             f"`{table.name}`", cell.span, "keep one value per column"))
        seen.add(cell.column)
        if second is not None and second.kind == "choice" and cell.column not in second.choices:
            out.append(_not_a_choice(cell.column, second, cell.span))
    return out


def _free_column(row: A.TableRow, second: A.FieldDecl | None) -> str:
    used = {c.column for c in row.cells}
    return next((c for c in (second.choices if second else ()) if c not in used), "VALUE")


def _not_a_choice(word: str, decl: A.FieldDecl, span: A.Span) -> Diagnostic:
    return error("N216", f"`{word}` is not a value of `{decl.name}`" + _guess(word, decl.choices), span,
                 f"`{decl.name}` is one of {_names(decl.choices)}")


# --------------------------------------------------------------------------- rules


def _rules(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    seen: dict[str, A.Rule] = {}
    for rule in ruleset.rules:
        if rule.id in seen:
            first = seen[rule.id]
            out.append(error("N225", f'rule "{rule.name}" has the same id `{rule.id}` as rule "{first.name}" '
                             f"(line {first.span.line})", rule.span, "rename one of them: ids come from names"))
        seen.setdefault(rule.id, rule)
        checker = _Exprs(scope)
        if rule.when is not None:
            checker.cond(rule.when)
        checker.points(rule.points)
        out += checker.found
    return out


class _Exprs:
    """Resolves names and coarse types in conditions and formulas, collecting findings."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.found: list[Diagnostic] = []

    def points(self, p: A.Points) -> None:
        """A `points` clause: formula, `per` and modifiers."""
        self.number(p.expr, "the points formula")
        if p.per is not None:
            decl = self.scope.fields.get(p.per.name)
            if decl is None:
                self._unknown(p.per)
            elif KIND_TYPE.get(decl.kind) != "number":
                self.found.append(error("N217", f"`per {decl.name}` needs a number field, but `{decl.name}` is "
                                        f"{_kind_words(decl)}", p.per.span,
                                        "`per` multiplies by an integer or decimal field, like `per quantity`"))
        for m in p.modifiers:
            if isinstance(m, (A.AtMost, A.AtLeast)):
                self.number(m.limit, "a limit")

    def number(self, expr, role: str) -> None:
        """An expression that must be a number."""
        kind = self.expr(expr)
        if kind not in (None, "number"):
            self._not_number(expr, kind, role)

    def expr(self, expr, against: A.FieldDecl | None = None) -> str | None:
        """The coarse type of an expression (None when unknown), reporting what is wrong inside."""
        if isinstance(expr, (A.Number, A.Percent)):
            return "number"
        if isinstance(expr, A.String):
            return "text"
        if isinstance(expr, A.DateLit):
            return "date"
        if isinstance(expr, A.Name):
            return self.name(expr, against)
        if isinstance(expr, A.TableLookup):
            self.lookup(expr)
            return "number"
        if isinstance(expr, A.BinOp):
            for side in (expr.left, expr.right):
                self.number(side, f"`{expr.op}`")
            return "number"
        if isinstance(expr, A.Neg):
            self.number(expr.operand, "`-`")
            return "number"
        if isinstance(expr, A.Call):
            for arg in expr.args:
                self.number(arg, f"`{expr.func}`")
            return "number"
        return None

    def name(self, expr: A.Name, against: A.FieldDecl | None) -> str | None:
        """Resolve a bare word: a value of `against`, a field, true/false, or an error."""
        if against is not None and against.kind == "choice" and expr.name in against.choices:
            return "text"
        decl = self.scope.fields.get(expr.name)
        if decl is not None:
            return KIND_TYPE.get(decl.kind)
        if expr.name in BOOL_WORDS:
            return "boolean"
        if against is not None and against.kind == "choice":
            self.found.append(_not_a_choice(expr.name, against, expr.span))
        elif expr.name in self.scope.values:
            return "text"
        elif against is not None and against.kind == "text":
            self._unknown(expr, f'text is written in double quotes: "{expr.name}"')
        else:
            self._unknown(expr)
        return None

    def _unknown(self, expr: A.Name, hint: str | None = None) -> None:
        if not self.scope.fields:
            return  # no input block: reported once (N204)
        found = _unknown_field(expr.name, expr.span, self.scope.fields)
        self.found.append(dataclasses.replace(found, hint=hint) if hint else found)

    def lookup(self, expr: A.TableLookup) -> None:
        """`table[key, ...]`: the table exists, the number of keys fits, each key resolves."""
        table = self.scope.tables.get(expr.table)
        if table is None:
            self.found.append(self._unknown_table(expr.table, expr.span))
        elif len(expr.keys) != len(table.keys):
            self.found.append(error(
                "N212", f"table `{table.name}` has {len(table.keys)} key(s) ({', '.join(table.keys)}); "
                f"this lookup gives {len(expr.keys)}", expr.span, f"write `{table.name}[{', '.join(table.keys)}]`"))
        keys = table.keys if table is not None else ()
        for i, key in enumerate(expr.keys):
            self.expr(key, self.scope.fields.get(keys[i]) if i < len(keys) else None)

    def _unknown_table(self, name: str, span: A.Span) -> Diagnostic:
        return error("N211", f"there is no table `{name}`" + _guess(name, self.scope.tables), span,
                     f"the tables are {_names(self.scope.tables)}" if self.scope.tables else "declare it with "
                     f"`table {name} by product {{ ... }}`")

    def _not_number(self, expr, kind: str, role: str) -> None:
        self.found.append(error("N218", f"`{_shown(expr)}` is {_type_words(kind)}; {role} needs numbers", expr.span,
                                "only integer and decimal fields, numbers and table lookups can be computed with"))

    def cond(self, cond) -> None:
        """A condition: comparisons, lists, table tests and their combinations."""
        if isinstance(cond, (A.And, A.Or)):
            for item in cond.items:
                self.cond(item)
        elif isinstance(cond, A.Not):
            self.cond(cond.operand)
        elif isinstance(cond, A.Compare):
            self.compare(cond.left, cond.op, cond.right, cond.span)
        elif isinstance(cond, A.InList):
            for value in cond.values:
                self.compare(cond.operand, "in", value, cond.span)
        elif isinstance(cond, A.InTable):
            self.expr(cond.operand)
            if cond.table not in self.scope.tables:
                self.found.append(self._unknown_table(cond.table, cond.span))

    def compare(self, left, op: str, right, span: A.Span) -> None:
        """One comparison (or one listed value): names resolved against a `one of` field on the other side."""
        ldecl, rdecl = self.scope.field(left), self.scope.field(right)
        if op == "in" and ldecl is not None and ldecl.kind == "choice":
            rdecl = None  # a listed word is a value of the tested field first
        lt = self.expr(left, rdecl)
        rt = self.expr(right, ldecl)
        shown = "in" if op == "in" else op
        if lt and rt and lt != rt:
            self.found.append(error("N219", f"`{_shown(left)} {shown} {_shown(right)}` compares {_type_words(lt)} "
                                    f"with {_type_words(rt)}", span, _compare_hint(left, right, lt, rt)))
        elif op in ORDERED and (lt or rt) not in (None, "number", "date"):
            self.found.append(error("N219", f"`{_shown(left)} {op} {_shown(right)}`: only numbers and dates can be "
                                    f"compared with `{op}`", span, "use == or != (or `in (...)`) for text"))


def _compare_hint(left, right, lt: str, rt: str) -> str:
    if "text" in (lt, rt) and "number" in (lt, rt):
        return 'a number is written without quotes (10), text with quotes ("10")'
    return "compare a field with a value of its own type"


# --------------------------------------------------------------------------- examples


def _examples(ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    out = []
    seen: dict[str, A.Example] = {}
    for example in ruleset.examples:
        key = A.slug(example.name)
        if key in seen:
            out.append(error("N227", f'example "{example.name}" repeats the name of the example at line '
                             f"{seen[key].span.line}", example.span, "give each example its own name"))
        seen.setdefault(key, example)
        # A contract the example expects rejected may hold a value its field refuses: that is the test.
        rejecting = any(e.kind == "rejected" for e in example.expects)
        for contract in example.contracts:
            out += _example_contract(contract, scope, fits=not rejecting)
        for report in example.reports:
            out += _example_contract(report, scope, fields=scope.quality_fields, block="input quality",
                                     what="report")
        out += _example_review(example, ruleset, scope)
        out += _example_quality(example, ruleset)
        for expect in example.expects:
            if expect.kind == "tier" and isinstance(expect.value, str):
                out += _tier_ref(expect.value, expect.span, scope, "`expect tier`")
            elif expect.kind in ("unscored", "rejected"):
                out += _example_outcome(example, expect, scope)
    return out


def _example_outcome(example: A.Example, expect: A.Expect, scope: Scope) -> list[Diagnostic]:
    """`expect unscored CODE` / `expect rejected FIELD CODE`: a known field and a code of that kind."""
    from engine import reasons  # the engine's stable codes, so a typo is caught before a run

    out = []
    if not example.contracts:
        out.append(error("N234", f"`expect {expect.kind}` needs a contract to decide on", expect.span,
                         "add a `contract { ... }` to the example"))
    if expect.kind == "rejected" and scope.fields and expect.value not in scope.fields:
        out.append(_unknown_field(expect.value, expect.span, scope.fields))
    codes = reasons.UNSCORED if expect.kind == "unscored" else reasons.REJECTED
    if expect.code is not None and expect.code not in codes:
        other = "unscored" if expect.kind == "rejected" else "rejected"
        known = (f"; `{expect.code}` is the code of a row that is {other}"
                 if expect.code in reasons.ALL else _guess(expect.code, codes))
        out.append(error("N234", f"`{expect.code}` is not a reason code of a row that is {expect.kind}{known}",
                         expect.span, f"the codes are {_names(codes)} (docs/reasons/)"))
    return out


def _example_review(example: A.Example, ruleset: A.Ruleset, scope: Scope) -> list[Diagnostic]:
    """A review example: one start, one `points` line, tiers that exist, a status per period."""
    out = []
    for extra in example.starts[1:]:
        out.append(error("N234", "the example gives the status before its review twice", extra.span,
                         "keep one of `status`, `legacy` and `newcomer`"))
    for extra in example.points[1:]:
        out.append(error("N234", "the example gives its points twice", extra.span,
                         "give every period's points in one line: `points 1_000, 2_000`"))
    legacy_names = [m.old for m in ruleset.review.legacy] if ruleset.review else []
    for start in example.starts[:1]:
        if start.kind == "status":
            out += _tier_ref(start.value, start.span, scope, "`status`")
        elif start.kind == "legacy" and start.value not in legacy_names and start.value not in scope.tiers:
            guess = did_you_mean(start.value, legacy_names + list(scope.tiers))
            out.append(error("N234", f'the review maps no legacy status "{start.value}"'
                             + (f'; did you mean "{guess}"?' if guess else ""), start.span,
                             f"the legacy statuses are {_names(legacy_names)}" if legacy_names
                             else "add `legacy \"...\" -> TIER` to the review block"))
    periods = len(example.points[0].values) if example.points else None
    statuses = [e for e in example.expects if e.kind == "status"]
    for expect in statuses:
        for name in expect.value:
            out += _tier_ref(name, expect.span, scope, "`expect status`")
        if periods is not None and len(expect.value) not in (1, periods):
            out.append(error("N234", f"`expect status` names {len(expect.value)} statuses for "
                             f"{periods} periods of points", expect.span,
                             "name the status after every period, or only the last one"))
    if (example.starts or example.points) and not statuses:
        node = (example.starts or example.points)[0]
        out.append(error("N234", "a review example without `expect status` tests nothing", node.span,
                         "add `expect status TIER`"))
    if statuses and not example.points and not example.contracts:
        out.append(error("N234", "the review has no points to decide on", statuses[0].span,
                         "add `points N` (one per period) or the contracts that earn them"))
    return out


def _example_quality(example: A.Example, ruleset: A.Ruleset) -> list[Diagnostic]:
    """Quality reports and `expect [no] flag / sustained "KPI"`: a quality block with that KPI."""
    out = []
    kpis = [k.name for k in ruleset.quality.kpis] if ruleset.quality else []
    asks = [e for e in example.expects if e.kind in ("flag", "no flag", "sustained", "no sustained")]
    if (example.reports or asks) and (ruleset.quality is None or ruleset.input("quality") is None):
        node = (example.reports or asks)[0]
        return [error("N234", "quality reports need the `quality` and `input quality` blocks", node.span,
                      "declare them, or drop the reports from the example")]
    for expect in asks:
        if expect.value not in kpis:
            guess = did_you_mean(expect.value, kpis)
            out.append(error("N234", f'there is no KPI "{expect.value}"'
                             + (f'; did you mean "{guess}"?' if guess else ""),
                             expect.span, f"the KPIs are {_names(kpis)}"))
    if asks and not example.reports:
        out.append(error("N234", f"`expect {asks[0].kind}` needs quality reports to decide on", asks[0].span,
                         "add `report { ... }` or `N reports { ... }`"))
    if example.reports and not asks:
        out.append(error("N234", "quality reports without `expect flag` or `expect sustained` test nothing",
                         example.reports[0].span, 'add `expect flag "KPI"` or `expect no flag "KPI"`'))
    return out


def _example_contract(contract, scope: Scope, fits: bool = True, fields=None, block: str = "input contract",
                      what: str = "contract") -> list[Diagnostic]:
    """The fields of an example's contract (or report): known, given once, and (`fits`) of their type."""
    out = []
    given: set[str] = set()
    fields = scope.fields if fields is None else fields
    for name, value in contract.fields:
        span = getattr(value, "span", contract.span)
        if name in given:
            out.append(error("N207", f"field `{name}` is given twice in this {what}", span, "keep one of them"))
        given.add(name)
        decl = fields.get(name)
        if decl is None:
            if fields:
                out.append(_unknown_field(name, span, fields, block))
            continue
        if not fits:
            continue
        problem = _misfit(decl, value, scope)
        if problem:
            out.append(error("N228", f"{_shown(value)} for `{name}` {problem}", span, _fit_hint(decl)))
    return out
