"""Turn one Lark parse tree of dsl/grammar.lark into dsl.ast nodes (used by dsl.parser only).

Design:
- One method per grammar rule, each returning a frozen AST node with its span; the transformer is
  Lark's non-recursive one, so deep but legal input cannot exhaust the Python stack.
- Checks that need the token's value rather than the grammar's shape (impossible dates, unknown
  escapes, words of a closed set, duplicate entries) are made here and collected as P1xx
  diagnostics instead of raised, so one run reports all of them.
- Spans are shifted by the line offset of the piece being parsed (dsl.parser splits a file into
  statements), so they always refer to the whole file.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from lark import Token, Transformer_NonRecursive, v_args

from . import ast as A
from .errors import Diagnostic, did_you_mean
from .limits import RANGE_TEXT, count_problem, text_problem

FIELD_TYPES = ("text", "integer", "decimal", "date", "boolean")
FIELD_FLAGS = ("required", "unique")
# How strictly a value is read (docs/language.md): one word per field, meaning per kind.
FORM_WORDS = ("strict", "lenient", "iso", "german")
FORM_ASPECT = {"date": "dates", "choice": "case", "text": "spaces", "integer": "numbers", "decimal": "numbers"}
FORM_VALUE = {  # (aspect, word) -> the reading it stands for
    ("dates", "strict"): "iso", ("dates", "iso"): "iso", ("dates", "german"): "german",
    ("dates", "lenient"): "both", ("case", "strict"): "exact", ("case", "lenient"): "any",
    ("spaces", "strict"): "verbatim", ("spaces", "lenient"): "trim",
    ("numbers", "strict"): "strict", ("numbers", "lenient"): "any",
}
INPUT_NAMES = ("contract", "quality")
FUNCTIONS = ("min", "max")
BOUND_OPS = (">=", ">", "<=", "<")
MAX_VERSION_NAME = 100  # versions are sorted by the numbers in their names


class _Item(NamedTuple):
    """An entry of a review or quality block before it is placed into its node."""

    kind: str
    value: object
    span: A.Span


def unescape(body: str) -> tuple[str, int | None]:
    """The string's value and the offset of its first unknown escape (None when all are known)."""
    escapes = list(re.finditer(r"\\(.)", body))
    bad = next((m.start() for m in escapes if m.group(1) not in '"\\'), None)
    return re.sub(r"\\(.)", r"\1", body), bad


@v_args(meta=True)
class Builder(Transformer_NonRecursive):
    """Lark tree -> AST nodes; findings are collected in `errors`."""

    def __init__(self, file: str, line_off: int):
        super().__init__(visit_tokens=False)
        self.file, self.off = file, line_off
        self.errors: list[Diagnostic] = []

    # ------------------------------------------------------------------ helpers
    def _span(self, meta) -> A.Span:
        if meta.empty:
            return A.NO_SPAN
        return A.Span(self.file, meta.line + self.off, meta.column, meta.end_line + self.off, meta.end_column)

    def _tspan(self, tok: Token) -> A.Span:
        return A.Span(self.file, tok.line + self.off, tok.column, tok.end_line + self.off, tok.end_column)

    def _error(self, code: str, message: str, span: A.Span, hint: str | None = None) -> None:
        self.errors.append(Diagnostic(code, message, span, "error", hint))

    def _text(self, tok: Token) -> str:
        """A NAME as written, or a STRING's value."""
        if tok.type != "STRING":
            return str(tok)
        value, bad = unescape(tok[1:-1])
        if bad is not None:
            span = A.Span(self.file, tok.line + self.off, tok.column + 1 + bad, tok.line + self.off, tok.column + 3 + bad)
            self._error("P111", f"unknown escape `{tok[1 + bad:3 + bad]}` in a string", span,
                        'only `\\"` (a quote) and `\\\\` (a backslash) can be escaped')
        return value

    def _choose(self, tok: Token, allowed: tuple[str, ...], what: str) -> str:
        word = str(tok)
        if word not in allowed:
            guess = did_you_mean(word, allowed)
            hint = f"did you mean `{guess}`?" if guess else "use one of " + ", ".join(f"`{a}`" for a in allowed)
            self._error("P112", f"unknown {what} `{word}`", self._tspan(tok), hint)
        return word

    def _int(self, tok: Token, kind: str) -> int:
        """A count (`to N decimals`, `sustained N periods`, ...): whole, and within its bound."""
        if "." in tok:
            self._error("P114", f"expected a whole number, not `{tok}`", self._tspan(tok))
            return 0
        problem = count_problem(tok, kind)
        if problem is not None:
            self._error("P115", f"{_short(tok)} is too large: {problem}", self._tspan(tok),
                        "write a smaller number")
            return 0
        return int(tok.replace("_", ""))

    def _number(self, tok: Token, negative: bool = False) -> A.Number:
        problem = text_problem(tok)
        if problem is not None:
            self._range_error(tok, problem)
            return A.Number(Decimal(0), ("-" if negative else "") + str(tok), self._tspan(tok))
        value = Decimal(tok.replace("_", ""))
        return A.Number(-value if negative else value, ("-" if negative else "") + str(tok), self._tspan(tok))

    def _range_error(self, tok: Token, problem: str) -> None:
        self._error("P115", f"the number {_short(tok)} is out of range: it {problem}", self._tspan(tok),
                    f"numbers have {RANGE_TEXT}")

    def _once(self, items: list[_Item], kind: str, block: str):
        found = [i for i in items if i.kind == kind]
        for extra in found[1:]:
            self._error("P113", f"`{kind}` is given twice in `{block}`", extra.span, "keep only one")
        return found[0] if found else None

    # ------------------------------------------------------------------ header
    def start(self, meta, items):
        return items

    def program_decl(self, meta, c):
        return A.ProgramDecl(self._text(c[0]), self._span(meta))

    def version_decl(self, meta, c):
        name = self._text(c[0])
        if len(name) > MAX_VERSION_NAME:
            self._error("P115", f"the version name is too long ({len(name):,} characters): at most "
                        f"{MAX_VERSION_NAME} can be given", self._tspan(c[0]), 'use a short name such as "2017.01"')
            name = name[:MAX_VERSION_NAME]
        return A.VersionDecl(name, self._span(meta))

    def effective_decl(self, meta, c):
        return A.EffectiveDecl(self._date_value(c[0]), self._span(meta))

    def period_decl(self, meta, c):
        return A.PeriodDecl(self._choose(c[0], A.PERIODS, "period"), self._span(meta))

    def combine_decl(self, meta, c):
        return A.CombineDecl(self._choose(c[0], A.COMBINE_MODES, "combine mode"), self._span(meta))

    # ------------------------------------------------------------------ input
    def input_block(self, meta, c):
        strict = c[1] is not None
        if strict and str(c[1]) != "strict":
            self._error("P112", f"unknown input block option `{c[1]}`", self._tspan(c[1]),
                        "write `input contract strict { ... }` or leave the word out")
        return A.InputBlock(self._choose(c[0], INPUT_NAMES, "input block"), tuple(c[2:]), self._span(meta),
                            strict)

    def field_decl(self, meta, c):
        name, (kind, choices), rest = c[0], c[1], c[2:]
        bounds = tuple(x for x in rest if isinstance(x, A.Bound))
        options = [x for x in rest if isinstance(x, _Item)]
        for flag in ("required", "unique", "default", "form", "required when"):
            self._once(options, flag, f"field {name}")
        if any(o.kind == "required" for o in options) and any(o.kind == "required when" for o in options):
            extra = next(o for o in options if o.kind == "required when")
            self._error("P113", f"field {name} is `required` and `required when`", extra.span,
                        "keep `required` (always) or `required when (...)` (only then)")
        default = next((o.value for o in options if o.kind == "default"), None)
        flags = {o.kind for o in options}
        forms = {}
        for o in options:
            if o.kind != "form":
                continue
            aspect = FORM_ASPECT.get(kind)
            value = FORM_VALUE.get((aspect, o.value)) if aspect else None
            if value is None:
                words = {"dates": "`iso`, `german`, `strict` or `lenient`"}.get(aspect, "`strict` or `lenient`")
                self._error("P112", f"`{o.value}` does not apply to a {'one of' if kind == 'choice' else kind} "
                            f"field", o.span, f"{name} takes {words}" if aspect else "boolean fields have one reading")
            else:
                forms[aspect] = value
        required_when = next((o.value for o in options if o.kind == "required when"), None)
        bounds_when = tuple(o.value for o in options if o.kind == "bound when")
        choices_when = tuple(o.value for o in options if o.kind == "choices when")
        return A.FieldDecl(name, kind, choices, bounds, "required" in flags, "unique" in flags, default,
                           self._span(meta), required_when=required_when, bounds_when=bounds_when,
                           choices_when=choices_when, **forms)

    def field_name(self, meta, c):
        return self._text(c[0])

    choice = tier_name = row_key = column_name = field_name

    def simple_type(self, meta, c):
        word = str(c[0])
        if word not in FIELD_TYPES:
            guess = did_you_mean(word, FIELD_TYPES + ("one of",))
            hint = f"did you mean `{guess}`?" if guess else "use text, integer, decimal, date, boolean or one of (...)"
            self._error("P112", f"unknown field type `{word}`", self._tspan(c[0]), hint)
        return word, ()

    def choice_type(self, meta, c):
        return "choice", tuple(c)

    def bound(self, meta, c):
        op, value = c
        if op not in BOUND_OPS:
            self._error("P101", f"`{op}` cannot bound a field", self._tspan(op), "use `>=`, `>`, `<=` or `<`")
        return A.Bound(str(op), value, self._span(meta))

    def flag_option(self, meta, c):
        word = self._choose(c[0], FIELD_FLAGS + ("default",) + FORM_WORDS, "field option")
        if word in FORM_WORDS:
            return _Item("form", word, self._span(meta))
        return _Item(word, None, self._span(meta))

    def when_option(self, meta, c):
        if str(c[0]) != "required":
            self._error("P112", f"`{c[0]} when` is not a field option", self._tspan(c[0]),
                        "write `required when (CONDITION)`, or a bound with a condition: `<= 100 when (CONDITION)`")
        return _Item("required when", c[1], self._span(meta))

    def bound_when_option(self, meta, c):
        return _Item("bound when", A.WhenBound(c[0], c[1], self._span(meta)), self._span(meta))

    def choices_when_option(self, meta, c):
        return _Item("choices when", A.WhenChoices(tuple(c[:-1]), c[-1], self._span(meta)), self._span(meta))

    def default_option(self, meta, c):
        return _Item("default", c[0], self._span(meta))

    # ------------------------------------------------------------------ tiers and tables
    def tiers_block(self, meta, c):
        return A.Tiers(tuple(c), self._span(meta))

    def tier(self, meta, c):
        return A.Tier(c[0], c[1], c[2], self._span(meta))

    def signed_number(self, meta, c):
        return self._number(c[1], negative=c[0] is not None)

    def table_block(self, meta, c):
        keys = [x for x in c[1:] if isinstance(x, Token)]
        rows = tuple(x for x in c[1:] if isinstance(x, A.TableRow))
        if len(keys) > 2:
            self._error("P101", "a table has one or two keys", self._tspan(keys[2]), "remove the extra keys")
        return A.Table(str(c[0]), tuple(str(k) for k in keys), rows, self._span(meta))

    def table_row(self, meta, c):
        return A.TableRow(c[0], tuple(c[1:]), self._span(meta))

    def cell(self, meta, c):
        return A.Cell(c[0], c[1], self._span(meta))

    # ------------------------------------------------------------------ rules
    def rule_block(self, meta, c):
        return A.Rule(self._text(c[0]), c[1], c[2], self._span(meta))

    def when_clause(self, meta, c):
        return c[0]

    def points_clause(self, meta, c):
        return A.Points(c[0], c[1], tuple(c[2:]), self._span(meta))

    def per(self, meta, c):
        return A.Name(str(c[0]), self._tspan(c[0]))

    def at_most(self, meta, c):
        return A.AtMost(c[0], self._span(meta))

    def at_least(self, meta, c):
        return A.AtLeast(c[0], self._span(meta))

    def rounded(self, meta, c):
        return A.Rounded(c[0], c[1] if c[1] is not None else 0, self._span(meta))

    def rounding_mode(self, meta, c):
        return " ".join(str(t) for t in c)

    def decimals(self, meta, c):
        return self._int(c[0], "decimals")

    # ------------------------------------------------------------------ conditions
    def or_cond(self, meta, c):
        return A.Or(_flatten(A.Or, c), self._span(meta))

    def and_cond(self, meta, c):
        return A.And(_flatten(A.And, c), self._span(meta))

    def not_op(self, meta, c):
        return A.Not(c[0], self._span(meta))

    def paren_cond(self, meta, c):
        return c[0]

    paren_expr = paren_cond

    def compare(self, meta, c):
        return A.Compare(str(c[1]), c[0], c[2], self._span(meta))

    def in_list(self, meta, c, negated=False):
        return A.InList(c[0], tuple(c[1:]), negated, self._span(meta))

    def not_in_list(self, meta, c):
        return self.in_list(meta, c, negated=True)

    def in_table(self, meta, c, negated=False):
        return A.InTable(c[0], str(c[1]), negated, self._span(meta))

    def not_in_table(self, meta, c):
        return self.in_table(meta, c, negated=True)

    # ------------------------------------------------------------------ expressions
    def bin_op(self, meta, c):
        return A.BinOp(str(c[1]), c[0], c[2], self._span(meta))

    def neg(self, meta, c):
        return A.Neg(c[0], self._span(meta))

    def name(self, meta, c):
        return A.Name(str(c[0]), self._tspan(c[0]))

    def lookup(self, meta, c):
        return A.TableLookup(str(c[0]), tuple(c[1:]), self._span(meta))

    def call(self, meta, c):
        func = self._choose(c[0], FUNCTIONS, "function")
        return A.Call(func, tuple(c[1:]), self._span(meta))

    def number(self, meta, c):
        return self._number(c[0])

    def neg_number(self, meta, c):
        num = self._number(c[0], negative=True)
        return A.Number(num.value, num.text, self._span(meta))

    def percent(self, meta, c):
        text = str(c[0])
        problem = text_problem(text[:-1], percent=True)
        if problem is not None:
            self._range_error(c[0], problem)
            return A.Percent(Decimal(0), text, self._tspan(c[0]))
        return A.Percent(Decimal(text[:-1].replace("_", "")) / 100, text, self._tspan(c[0]))

    def string(self, meta, c):
        return A.String(self._text(c[0]), self._tspan(c[0]))

    def date(self, meta, c):
        return A.DateLit(self._date_value(c[0]), self._tspan(c[0]))

    def _date_value(self, tok: Token) -> date:
        try:
            return date.fromisoformat(str(tok))
        except ValueError:
            self._error("P110", f"`{tok}` is not a date of the calendar", self._tspan(tok),
                        "write a real date as YYYY-MM-DD")
            return date.min

    # ------------------------------------------------------------------ review
    def review_block(self, meta, c):
        block = "review"
        down, newcomer = self._once(c, "downgrade", block), self._once(c, "newcomers", block)
        legacy = tuple(i.value for i in c if i.kind == "legacy")
        partner_col = self._once(c, "legacy partner column", block)
        status_col = self._once(c, "legacy status column", block)
        return A.Review(legacy, down.value if down else None, newcomer.value if newcomer else None, self._span(meta),
                        partner_col.value if partner_col else None, status_col.value if status_col else None,
                        newcomer.span if newcomer else A.NO_SPAN)

    def legacy_column(self, meta, c):
        which = self._choose(c[0], A.LEGACY_COLUMNS, "legacy column")
        span = self._span(meta)
        name = self._text(c[1]).strip()
        if not name:
            self._error("P113", f"`legacy {which} column` names no column", span, 'write the header, e.g. "Partner-Nr."')
        return _Item(f"legacy {which} column", name, span)

    def legacy(self, meta, c):
        span = self._span(meta)
        return _Item("legacy", A.LegacyMap(self._text(c[0]), c[1], span), span)

    def newcomers(self, meta, c):
        return _Item("newcomers", c[0], self._span(meta))

    def downgrade(self, meta, c):
        span = self._span(meta)
        kind, count = c[0]
        return _Item("downgrade", A.Downgrade(kind, count, span), span)

    def down_levels(self, meta, c):
        return "levels", self._int(c[0], "levels")

    def down_earned(self, meta, c):
        return "earned", 1

    def down_grace(self, meta, c):
        return "grace", self._int(c[0], "grace")

    # ------------------------------------------------------------------ quality
    def quality_block(self, meta, c):
        span = self._span(meta)
        period, sustained = self._once(c, "period", "quality"), self._once(c, "sustained", "quality")
        if period is None:
            self._error("P113", "`quality` has no `period`", span, "add a line `period quarter` (or month, year)")
        kpis = tuple(i.value for i in c if i.kind == "kpi")
        reports = self._once(c, "reports", "quality")
        key, counting = reports.value if reports else ("partner", "scored")
        return A.Quality(period.value if period else "", kpis, sustained.value if sustained else 3, span,
                         key, counting)

    def reports_by(self, meta, c):
        """`reports by partner`, `reports by contract`, `reports by scored contract`, `reports by valid contract`."""
        first, second = c
        if second is None:
            key, counting = self._choose(first, A.REPORT_KEYS, "report key"), "scored"
        else:
            counting = self._choose(first, A.REPORT_COUNTING, "kind of contract")
            key = "contract"
            if str(second) != "contract":
                self._error("P112", f"unknown report key `{first} {second}`", self._tspan(second),
                            f"write `reports by {counting} contract`, or `reports by partner`")
        return _Item("reports", (key, counting), self._span(meta))

    def quality_period(self, meta, c):
        return _Item("period", self._choose(c[0], A.PERIODS, "period"), self._span(meta))

    def sustained(self, meta, c):
        return _Item("sustained", self._int(c[0], "sustained"), self._span(meta))

    def kpi(self, meta, c):
        name, agg, field, direction, threshold, reports, decimals = c
        span = self._span(meta)
        kpi = A.Kpi(self._text(name), agg, str(field), direction, threshold,
                    self._int(reports, "reports") if reports is not None else 1, span,
                    self._int(decimals, "decimals") if decimals is not None else None)
        return _Item("kpi", kpi, span)

    def aggregate(self, meta, c):
        return str(c[0])

    direction = aggregate

    # ------------------------------------------------------------------ examples
    def example_block(self, meta, c):
        items = c[1:]

        def of(kind):
            return tuple(x for x in items if isinstance(x, kind))

        return A.Example(self._text(c[0]), of(A.ExampleContract), of(A.Expect), self._span(meta),
                         of(A.ExampleReport), of(A.ExampleStart), of(A.ExamplePoints))

    def example_contract(self, meta, c):
        return A.ExampleContract(tuple(c), self._span(meta))

    def example_report(self, meta, c):
        return A.ExampleReport(tuple(c), 1, self._span(meta))

    def example_reports(self, meta, c):
        return A.ExampleReport(tuple(c[1:]), self._int(c[0], "example reports"), self._span(meta))

    def example_status(self, meta, c):
        return A.ExampleStart("status", c[0], self._span(meta))

    def example_legacy(self, meta, c):
        return A.ExampleStart("legacy", self._text(c[0]), self._span(meta))

    def example_newcomer(self, meta, c):
        return A.ExampleStart("newcomer", None, self._span(meta))

    def example_points(self, meta, c):
        return A.ExamplePoints(tuple(c), self._span(meta))

    def contract_field(self, meta, c):
        return c[0], c[1]

    def reason_code(self, meta, c):
        return "".join(str(t) for t in c)

    def expect_points(self, meta, c):
        return A.Expect("points", c[0], self._span(meta))

    def expect_tier(self, meta, c):
        return A.Expect("tier", c[0], self._span(meta))

    def expect_unscored(self, meta, c):
        return A.Expect("unscored", None, self._span(meta), c[0])

    def expect_rejected(self, meta, c):
        return A.Expect("rejected", c[0], self._span(meta), c[1])

    def expect_status(self, meta, c):
        return A.Expect("status", tuple(c), self._span(meta))

    def expect_flag(self, meta, c):
        return A.Expect("flag", self._text(c[0]), self._span(meta))

    def expect_no_flag(self, meta, c):
        return A.Expect("no flag", self._text(c[0]), self._span(meta))

    def expect_sustained(self, meta, c):
        return A.Expect("sustained", self._text(c[0]), self._span(meta))

    def expect_no_sustained(self, meta, c):
        return A.Expect("no sustained", self._text(c[0]), self._span(meta))

def _short(text: str) -> str:
    """A literal for a message, in backticks; a long one by its first and last digits and its length."""
    return f"`{text}`" if len(text) <= 40 else f"`{text[:8]}...{text[-8:]}` ({len(text):,} characters)"


def _flatten(kind: type, items: list) -> tuple:
    """`a or (b or c)` is one Or of three: the meaning is the same and the formatter writes it flat."""
    out: list = []
    for item in items:
        out.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(out)
