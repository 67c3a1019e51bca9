"""The ruleset AST: frozen nodes, each with the source span that defined it.

Design:
- Every node is a frozen, slotted dataclass. Nothing downstream of the parser (checker,
  compiler, formatter, diff) ever sees a Lark tree.
- `span` (and `comments` on the root) are excluded from equality: two nodes are equal when they
  *mean* the same, wherever they stand. This is what makes "reformatting alone is no change in
  meaning" true for the diff, and `parse(fmt(x)) == parse(x)` a one-line test.
- A ruleset keeps its top-level statements in source order (`statements`), so the formatter can
  write them back in order; the properties below give the typed views the engine uses.
- Names in expressions are not resolved by the parser: a bare word `new` may be a field or a
  value of a `one of` field. `dsl.checks` resolves them, with did-you-mean on failure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterator, Union


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node stands: 1-based line and column of its first and last character (end exclusive)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<none>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Number:
    """A number literal. `text` is the literal as written (`7_500`, `0.5`), for the formatter."""

    value: Decimal
    text: str = field(default="", compare=False)
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Percent:
    """`5%`: `value` is the fraction (0.05)."""

    value: Decimal
    text: str = field(default="", compare=False)
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class DateLit:
    value: date
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Name:
    """A bare word: a field reference or a `one of` value; resolved by dsl.checks."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TableLookup:
    """`mobile_tariffs[product, customer]`."""

    table: str
    keys: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BinOp:
    """Arithmetic: op is one of `+ - * /`."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Neg:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """A built-in function: `min(a, b, ...)` or `max(a, b, ...)`."""

    func: str
    args: tuple["Expr", ...]
    span: Span = _span()


Expr = Union[Number, Percent, String, DateLit, Name, TableLookup, BinOp, Neg, Call]

# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class Compare:
    """`left op right`, op one of `== != < <= > >=`."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InList:
    """`operand [not] in ("A", "B")`."""

    operand: Expr
    values: tuple[Expr, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InTable:
    """`operand [not] in table_name`: membership in the table's first key."""

    operand: Expr
    table: str
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class And:
    items: tuple["Cond", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple["Cond", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Cond"
    span: Span = _span()


Cond = Union[Compare, InList, InTable, And, Or, Not]

# --------------------------------------------------------------------------- points formulas


@dataclass(frozen=True, slots=True)
class AtMost:
    """A cap: `at most 3_000`."""

    limit: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AtLeast:
    """A floor: `at least 10`."""

    limit: Expr
    span: Span = _span()


ROUNDING_MODES = ("half up", "half even", "half down", "up", "down")


@dataclass(frozen=True, slots=True)
class Rounded:
    """`rounded half up` (to whole points) or `rounded down to 2 decimals`."""

    mode: str  # one of ROUNDING_MODES
    places: int = 0
    span: Span = _span()


Modifier = Union[AtMost, AtLeast, Rounded]


@dataclass(frozen=True, slots=True)
class Points:
    """`points EXPR [per FIELD] [, modifier]*`; modifiers apply in the order written."""

    expr: Expr
    per: Name | None = None
    modifiers: tuple[Modifier, ...] = ()
    span: Span = _span()


# --------------------------------------------------------------------------- declarations

FIELD_KINDS = ("text", "integer", "decimal", "date", "boolean", "choice")


@dataclass(frozen=True, slots=True)
class Bound:
    """`>= 1` on a numeric or date field; op one of `>= > <= <`."""

    op: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FieldDecl:
    """`quantity: integer >= 1, default 1` in an input block."""

    name: str
    kind: str  # one of FIELD_KINDS; `choice` is `one of (...)`
    choices: tuple[str, ...] = ()
    bounds: tuple[Bound, ...] = ()
    required: bool = False
    unique: bool = False
    default: Expr | None = None
    span: Span = _span()
    # The accepted forms of a value (docs/language.md, "How strict the input is"); None takes the
    # block's `strict` or else the lenient reading of before: dates "both" | "iso" | "german",
    # case "any" | "exact" (`one of`), spaces "trim" | "verbatim" (text), numbers "any" | "strict".
    dates: str | None = None
    case: str | None = None
    spaces: str | None = None
    numbers: str | None = None
    # `required when COND`, and bounds that hold only `when COND` (`<= 100 when ...`).
    required_when: Cond | None = None
    bounds_when: tuple["WhenBound", ...] = ()
    # `one of (a, b) when COND`: lists of values that hold only when the condition holds.
    choices_when: tuple["WhenChoices", ...] = ()


@dataclass(frozen=True, slots=True)
class WhenBound:
    """`<= 100 when product == "X"` on a field: a bound that holds only when the condition holds."""

    bound: Bound
    when: Cond
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WhenChoices:
    """`one of ("S", "M") when (product == "X")` on a field: a list of values that holds only when
    the condition holds."""

    choices: tuple[str, ...]
    when: Cond
    span: Span = _span()


STRICT_FORMS = {"dates": "iso", "case": "exact", "spaces": "verbatim", "numbers": "strict"}
LENIENT_FORMS = {"dates": "both", "case": "any", "spaces": "trim", "numbers": "any"}


@dataclass(frozen=True, slots=True)
class InputBlock:
    """`input contract [strict] { ... }` or `input quality { ... }`."""

    name: str
    fields: tuple[FieldDecl, ...]
    span: Span = _span()
    strict: bool = False  # `input contract strict { ... }`: every field's forms strict unless it says

    def form(self, decl: FieldDecl, aspect: str) -> str:
        """The reading in force for `aspect` of a field: its own, else the block's."""
        own = getattr(decl, aspect)
        if own is not None:
            return own
        return (STRICT_FORMS if self.strict else LENIENT_FORMS)[aspect]


@dataclass(frozen=True, slots=True)
class Tier:
    """`Advanced from 7_500 [keep 6_000]`: `keep` is the lower target to hold the tier at a review."""

    name: str
    threshold: Number
    keep: Number | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Tiers:
    tiers: tuple[Tier, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Cell:
    """One value of a table row; `column` is None in a one-key table."""

    column: str | None
    value: Number
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TableRow:
    key: str
    cells: tuple[Cell, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Table:
    """`table mobile_tariffs by product, customer { "O2 Business S": new 100, existing 40 }`."""

    name: str
    keys: tuple[str, ...]  # one or two field names
    rows: tuple[TableRow, ...]
    span: Span = _span()


def slug(name: str) -> str:
    """The stable id of a rule or KPI: its name, lower-cased, non-alphanumerics folded to `-`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "rule"


@dataclass(frozen=True, slots=True)
class Rule:
    """`rule "Mobile tariffs" { when COND  points FORMULA }`; no `when` matches every contract."""

    name: str
    when: Cond | None
    points: Points
    span: Span = _span()

    @property
    def id(self) -> str:
        return slug(self.name)


@dataclass(frozen=True, slots=True)
class LegacyMap:
    """`legacy "Gold" -> Advanced`."""

    old: str
    new: str
    span: Span = _span()


DOWNGRADE_KINDS = ("levels", "earned", "grace")


@dataclass(frozen=True, slots=True)
class Downgrade:
    """`downgrade at most 1 level` | `downgrade to earned` | `downgrade after 1 grace period`."""

    kind: str  # one of DOWNGRADE_KINDS
    count: int = 1  # levels for `levels`, grace periods for `grace`; unused for `earned`
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Review:
    """The status review at the end of every period."""

    legacy: tuple[LegacyMap, ...] = ()
    downgrade: Downgrade | None = None  # None: the default, `downgrade to earned`
    newcomer: str | None = None  # `newcomers start at Basic`; None: the lowest tier
    span: Span = _span()
    legacy_partner: str | None = None  # `legacy partner column "Partner-Nr."`; None: `partner_id`
    legacy_status: str | None = None  # `legacy status column "Status"`; None: `status`
    newcomer_span: Span = _span()  # where `newcomers start at ...` stands


KPI_AGGREGATES = ("share", "mean")
REPORT_KEYS = ("partner", "contract")  # `reports by partner` | `reports by contract`
REPORT_COUNTING = ("scored", "valid")  # `reports by scored contract` | `reports by valid contract`
LEGACY_COLUMNS = ("partner", "status")  # `legacy partner column "..."` | `legacy status column "..."`


@dataclass(frozen=True, slots=True)
class Kpi:
    """`kpi "Churn": share of cancelled above 10%, at least 5 reports`."""

    name: str
    aggregate: str  # `share` of a boolean field, `mean` of a numeric one
    field: str
    direction: str  # `above` or `below`: the flag is raised when the value is beyond the threshold
    threshold: Number | Percent
    min_reports: int = 1
    span: Span = _span()
    decimals: int | None = None  # `shown to 2 decimals`: how values are written; flags use the exact value

    @property
    def id(self) -> str:
        return slug(self.name)


@dataclass(frozen=True, slots=True)
class Quality:
    """KPIs over `input quality` rows, per partner and period; never feed points or tiers."""

    period: str  # `month`, `quarter` or `year`
    kpis: tuple[Kpi, ...]
    sustained: int = 3  # consecutive flagged periods that make a finding sustained
    span: Span = _span()
    key: str = "partner"  # `reports by partner` (a report names its partner) or `by contract`
    counting: str = "scored"  # by contract: the contracts whose reports count, `scored` or `valid`


@dataclass(frozen=True, slots=True)
class ExampleContract:
    """`contract { product: "O2 Business M", customer: new }`: fields not given take defaults."""

    fields: tuple[tuple[str, Expr], ...]
    span: Span = _span()


EXPECT_KINDS = ("points", "tier", "unscored", "rejected", "status", "flag", "no flag", "sustained",
                "no sustained")


@dataclass(frozen=True, slots=True)
class Expect:
    """What an example must give.

    `expect 180 points` (value: Number) | `expect tier Advanced` (value: tier name) |
    `expect unscored [CODE]` (code) | `expect rejected FIELD [CODE]` (value: field, code) |
    `expect status A, B` (value: tuple of tier names, one per reviewed period, or the last) |
    `expect [no] flag "KPI"` / `expect [no] sustained "KPI"` (value: the KPI's name).
    """

    kind: str
    value: Number | str | tuple | None = None
    span: Span = _span()
    code: str | None = None  # a reason code (engine.reasons), for `unscored` and `rejected`


@dataclass(frozen=True, slots=True)
class ExampleReport:
    """`report { ... }` or `3 reports { ... }`: quality report rows, each with these fields."""

    fields: tuple[tuple[str, Expr], ...]
    count: int = 1
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExampleStart:
    """A review example's status before its first period: `status Expert`, `legacy "Premium"` or
    `newcomer` (value None)."""

    kind: str  # `status`, `legacy` or `newcomer`
    value: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExamplePoints:
    """`points 10_000` or `points 1_000, 2_000`: a review example's points, one per period."""

    values: tuple[Number, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    contracts: tuple[ExampleContract, ...]
    expects: tuple[Expect, ...]
    span: Span = _span()
    reports: tuple[ExampleReport, ...] = ()
    starts: tuple[ExampleStart, ...] = ()
    points: tuple[ExamplePoints, ...] = ()



# --------------------------------------------------------------------------- header statements


@dataclass(frozen=True, slots=True)
class ProgramDecl:
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class VersionDecl:
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EffectiveDecl:
    value: date
    span: Span = _span()


PERIODS = ("year", "quarter", "month")


@dataclass(frozen=True, slots=True)
class PeriodDecl:
    unit: str  # one of PERIODS
    span: Span = _span()


COMBINE_MODES = ("sum", "first", "exclusive")


@dataclass(frozen=True, slots=True)
class CombineDecl:
    mode: str  # one of COMBINE_MODES
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Comment:
    """`# text` (text without the `#`); kept for the formatter, never part of the meaning."""

    text: str
    span: Span = _span()


Statement = Union[
    ProgramDecl, VersionDecl, EffectiveDecl, PeriodDecl, CombineDecl,
    InputBlock, Tiers, Table, Rule, Review, Quality, Example,
]


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One ruleset file: its statements in source order, and its comments."""

    file: str
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = _span()

    def _all(self, kind: type) -> Iterator:
        return (s for s in self.statements if isinstance(s, kind))

    def _one(self, kind: type):
        return next(self._all(kind), None)

    @property
    def program(self) -> str | None:
        decl = self._one(ProgramDecl)
        return decl.name if decl else None

    @property
    def version(self) -> str | None:
        decl = self._one(VersionDecl)
        return decl.name if decl else None

    @property
    def effective(self) -> date | None:
        decl = self._one(EffectiveDecl)
        return decl.value if decl else None

    @property
    def period(self) -> str:
        decl = self._one(PeriodDecl)
        return decl.unit if decl else "year"

    @property
    def combine(self) -> str:
        decl = self._one(CombineDecl)
        return decl.mode if decl else "sum"

    def input(self, name: str = "contract") -> InputBlock | None:
        return next((b for b in self._all(InputBlock) if b.name == name), None)

    @property
    def tiers(self) -> Tiers | None:
        return self._one(Tiers)

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(self._all(Table))

    def table(self, name: str) -> Table | None:
        return next((t for t in self._all(Table) if t.name == name), None)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._all(Rule))

    @property
    def review(self) -> Review | None:
        return self._one(Review)

    @property
    def quality(self) -> Quality | None:
        return self._one(Quality)

    @property
    def examples(self) -> tuple[Example, ...]:
        return tuple(self._all(Example))
