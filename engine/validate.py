"""The compiled row validator: raw cells or JSON values in, typed records out, or a `RowReject`.

Design:
- The declaration is interpreted once. `RowValidator` builds one converter closure per field (and
  per input form: spreadsheet cells, JSON values); a row is then a loop over those closures with
  no look-up of kinds, bounds or defaults. This keeps a row at a few microseconds, where a
  generic JSON Schema validator costs tens.
- Two input forms, one meaning. Spreadsheet cells (CSV, XLSX) are text, trimmed, and an empty cell
  is missing; XLSX cells may already be numbers, dates or booleans and are taken by value. JSON
  values must have the JSON type the generated schema (`engine.schema`) states: the schema is
  the contract for JSON Lines and `convert` agrees with it (a test holds the two to the same
  verdict). In JSON a missing key or `null` is missing; text is trimmed and a blank text is
  missing; other strings are taken as they are (`""` is not a date).
- Numbers in text: integers are `12`, `+3`, `-4` (no `1_000`, no `2.0`: exports do not write
  those). Decimals are `2.5`, `.5`, `-3`; no exponent, no thousands separator. With
  `decimal_comma` the comma is the decimal mark (`2,5`) and any point is rejected: in a
  comma-decimal export a point is a thousands separator, and reading `1.234` as one and a bit
  would silently be off by a factor of a thousand, so we ask for an export without separators.
- Dates are `2016-03-01` or `01.03.2016` in cells, ISO only in JSON. Booleans are true/false,
  yes/no, 1/0, ja/nein in any case.
- `unique` fields remember every value seen with the row it was first seen in, so a repeat can
  name that row. This dict is the one cost that grows with the number of contracts (one entry
  per distinct value of each unique field); everything else is bounded. A value is remembered
  only once its whole row is accepted, so a rejected row never makes a later good row a repeat.
- Cells repeat a lot (a quarter has ~90 dates, a few products, quantities 1 to 10): each field
  caches the typed value of every text cell it has accepted, in a dict that stops growing at
  `CACHE_SIZE` entries, so a repeated cell costs one look-up. JSON dates are cached likewise.
- An integer or decimal must fit the language's one range of numbers (dsl.limits: at most 18
  digits before the decimal point and 10 after it, what DECIMAL(28,10) holds exactly); a value
  beyond it is rejected as out of range, naming the field, before exact arithmetic on it could
  fail later, far from the row that caused it. Text is measured before it is converted.
- How strict a value is read is declared (`FieldDecl.dates/case/spaces/numbers`, resolved against
  the block's `strict` by `InputBlock.form`); the defaults are the lenient readings above. A value
  accepted only through a lenient reading (a German date where ISO is the form, a `one of` value
  in another case, text with spaces around it, `+3` / `.5` / `5.` / `-0`) is counted in
  `RowValidator.lenient` once its row is accepted. Such a cell is never cached, so a cache hit
  is always a strict reading and the counting only looks at cache misses.
- A row's checks run in a fixed order: each field in declaration order (its form, type, bounds,
  `required`), then the conditional checks (`required when`, bounds `when`, `one of (...) when`,
  in that order for each field) in declaration order
  (their conditions read values already accepted), then `unique`. The first failure is the row's
  reject.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import operator
import re
from decimal import Decimal
from typing import Callable, Iterable

from dsl.ast import (
    LENIENT_FORMS, Bound, DateLit, Expr, FieldDecl, InputBlock, Name, Neg, Number, Percent, Rule, Points,
    String,
)
from dsl.errors import did_you_mean
from dsl.limits import MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, RANGE_TEXT, value_problem
from engine import reasons

DECIMAL_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
STRICT_DECIMAL_PATTERN = r"^(?!-0+(\.0+)?$)-?[0-9]+(\.[0-9]+)?$"  # no +3, .5, 5., -0
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ISO_DATE_IN_RANGE_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"  # the years FIRST_DAY..LAST_DAY span
CACHE_SIZE = 4096
# Longer text is out of range whatever it holds (signs, leading zeros and a point allowed for).
_MAX_MAGNITUDE = 10 ** MAX_INTEGER_DIGITS
_MAX_TEXT = 2 * (MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS) + 2

_DECIMAL_RE = re.compile(DECIMAL_PATTERN)
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_STRICT_INTEGER_RE = re.compile(r"-?[0-9]+")
_STRICT_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_STRICT_DECIMAL_SEARCH = re.compile(STRICT_DECIMAL_PATTERN)
_STRICT_DECIMAL_COMMA_RE = re.compile(r"-?[0-9]+(,[0-9]+)?")
_NEGATIVE_ZERO_RE = re.compile(r"-[0,.]*")
_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DOTTED_DATE_RE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_BOOLEANS = {
    "true": True, "false": False, "yes": True, "no": False,
    "1": True, "0": False, "ja": True, "nein": False,
}
_BOUND_WORDS = {
    "number": {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"},
    "date": {">=": "on or after", ">": "after", "<=": "on or before", "<": "before"},
}
_BOUND_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}

Converter = Callable[[object], object]

# Readings a value may be accepted through only leniently (the keys of `RowValidator.lenient`).
GERMAN_DATE = "german-date"
ANY_CASE = "any-case"
TRIMMED = "trimmed"
NUMBER_FORM = "number-form"
LABEL_FORM = "label-form"  # quality reports: a period label not written 2016-05, 2016-Q2 or 2016
LENIENT_WORDS = {
    GERMAN_DATE: "in the German date form (01.03.2016), not ISO",
    ANY_CASE: "matched only ignoring case",
    TRIMMED: "with spaces around the text, trimmed",
    NUMBER_FORM: "in a number form strict numbers refuse (+3, .5, 5., -0)",
    LABEL_FORM: "as a period label spelled otherwise than 2016-05, 2016-Q2 or 2016",
}
MAX_LENIENT_EXAMPLES = 3


def lenient_sentence(field_name: str, reading: str, count: int, examples: list) -> str:
    """`412 customer values matched only ignoring case: 'New', 'EXISTING'` (values escaped by the caller)."""
    values = "value" if count == 1 else "values"
    shown = ", ".join(repr_text(e) for e in examples)
    return f"{count:,} {field_name} {values} {LENIENT_WORDS[reading]}: {shown}"


def repr_text(value: str) -> str:
    """A value in quotes as messages show it."""
    return f"'{value}'"


def form(decl: FieldDecl, aspect: str) -> str:
    """The reading of a field for `aspect` (its own or, unresolved, the lenient default)."""
    return getattr(decl, aspect) or LENIENT_FORMS[aspect]


def resolved(block: InputBlock, decl: FieldDecl) -> FieldDecl:
    """The declaration with every form made explicit from the block's `strict`."""
    return dataclasses.replace(decl, **{a: block.form(decl, a) for a in LENIENT_FORMS})


class RowReject(Exception):
    """A row that cannot be used: the field at fault, its raw value and a sentence for a person."""

    def __init__(self, field: str | None, value: object, reason: str, row: int | None = None,
                 code: str = reasons.INVALID_VALUE):
        super().__init__(reason)
        self.field = field
        self.value = value
        self.reason = reason
        self.row = row
        self.code = code  # a stable code of engine.reasons, set where the value is refused

    def __str__(self) -> str:
        return self.reason


# --------------------------------------------------------------------------- declaration values


def literal_value(expr: Expr | None) -> object:
    """The Python value of a literal in a declaration (a default or a bound)."""
    if expr is None:
        return None
    if isinstance(expr, (Number, Percent)):
        return expr.value
    if isinstance(expr, Neg):
        return -literal_value(expr.operand)
    if isinstance(expr, (String, DateLit)):
        return expr.value
    if isinstance(expr, Name):
        return {"true": True, "false": False}.get(expr.name, expr.name)
    raise ValueError(f"not a literal: {expr!r}")


def typed_default(decl: FieldDecl) -> object:
    """The field's default converted to the field's type, or None when it has none."""
    value = literal_value(decl.default)
    if value is None:
        return None
    try:
        # The cell converter takes native values (Decimal, date, bool) as XLSX cells deliver them.
        return _field_converters(decl, False)[0](value)
    except RowReject as reject:
        raise ValueError(f"bad default: {reject.reason}") from None


def _shown(value: object) -> str:
    """A raw value as a person should see it in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    if isinstance(value, (_dt.datetime, _dt.date)):
        return f"'{value.isoformat()}'"
    if isinstance(value, (int, float, Decimal)):
        return str(value)  # unquoted: a number, as opposed to the text '3'
    text = str(value)
    if len(text) > 200:  # a message quotes the start of a long value, and says how long it is
        return f"'{text[:200]}…' ({len(text):,} characters)"
    return f"'{text}'"


# --------------------------------------------------------------------------- parsers per kind
# Each kind gives two converters of a present value: one for spreadsheet cells (a trimmed,
# non-empty string, or a native XLSX value) and one for JSON values (never None).


class _Cache(dict):
    """A dict that stops growing at CACHE_SIZE entries: repeats stay cheap, memory stays flat."""

    def put(self, key, value):
        if len(self) < CACHE_SIZE:
            self[key] = value
        return value


def _text(decl: FieldDecl, _comma: bool):
    name = decl.name

    def cell(raw):
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, float) and raw.is_integer():
            return str(int(raw))
        if isinstance(raw, _dt.datetime) and not raw.time():
            return raw.date().isoformat()
        if isinstance(raw, _dt.date):
            return raw.isoformat()
        return str(raw)

    def json(raw):
        if isinstance(raw, str):
            return raw
        raise RowReject(name, raw, f"`{name}` must be text, got {_shown(raw)}", code=reasons.NOT_TEXT)
    return cell, json


def _integer(decl: FieldDecl, _comma: bool):
    name = decl.name

    def bad(raw):
        return RowReject(name, raw, f"`{name}` must be a whole number, got {_shown(raw)}",
                         code=reasons.NOT_A_WHOLE_NUMBER)

    def out_of_range(raw):
        return RowReject(name, raw, f"`{name}` is out of range ({RANGE_TEXT}), got {_shown(raw)}",
                         code=reasons.OUT_OF_RANGE)

    def in_range(value: int, raw) -> int:
        if -_MAX_MAGNITUDE < value < _MAX_MAGNITUDE:
            return value
        raise out_of_range(raw)

    def number(raw):
        if isinstance(raw, bool):
            raise bad(raw)
        if isinstance(raw, str):  # JSON: the number is quoted, so it arrives as text
            raise RowReject(name, raw, f"`{name}` must be a whole number written as a JSON number "
                                       f"(without quotes), got the text {_shown(raw)}",
                            code=reasons.NOT_A_WHOLE_NUMBER)
        if isinstance(raw, int):
            return in_range(raw, raw)
        if isinstance(raw, float) and raw.is_integer():
            return in_range(int(raw), raw)
        # adjusted() first: int() of 1E+999999999 would build a number of a billion digits.
        if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
            if raw.adjusted() >= MAX_INTEGER_DIGITS:
                raise out_of_range(raw)
            return int(raw)
        raise bad(raw)

    strict = form(decl, "numbers") == "strict"
    pattern = _STRICT_INTEGER_RE if strict else _INTEGER_RE

    def cell(raw):
        if raw.__class__ is str:
            if pattern.fullmatch(raw) and not (strict and _NEGATIVE_ZERO_RE.fullmatch(raw)):
                if len(raw.lstrip("+-").lstrip("0")) > MAX_INTEGER_DIGITS:
                    raise out_of_range(raw)
                return int(raw)
            raise bad(raw) if not strict or not _INTEGER_RE.fullmatch(raw) else strict_bad(raw)
        return number(raw)

    def strict_bad(raw):
        return RowReject(name, raw, f"`{name}` must be a whole number written plainly (like 3 or -4: no "
                                    f"`+`, no -0), got {_shown(raw)}", code=reasons.NOT_A_WHOLE_NUMBER)
    return cell, number


def _decimal(decl: FieldDecl, comma: bool):
    name = decl.name
    like = "2,5" if comma else "2.5"

    def bad(raw, hint=""):
        return RowReject(name, raw, f"`{name}` must be a number like {like}, got {_shown(raw)}{hint}",
                         code=reasons.NOT_A_NUMBER)

    def hint_for(raw: str) -> str:
        if comma and "." in raw:
            return " (with a decimal comma, write numbers without thousands separators)"
        if not comma and "," in raw:
            if "." in raw or raw.count(",") > 1:
                return " (write numbers without thousands separators)"
            return " (for numbers with a decimal comma, use --decimal-comma)"
        return ""

    def in_range(value: Decimal, raw) -> Decimal:
        if value_problem(value) is None:
            return value
        raise RowReject(name, raw, f"`{name}` is out of range ({RANGE_TEXT}), got {_shown(raw)}",
                        code=reasons.OUT_OF_RANGE)

    strict = form(decl, "numbers") == "strict"
    strict_re = _STRICT_DECIMAL_COMMA_RE if comma else _STRICT_DECIMAL_RE

    def text(raw: str):
        plain = raw.replace(",", ".") if comma else raw
        if (comma and "." in raw) or not _DECIMAL_RE.fullmatch(plain):
            raise bad(raw, hint_for(raw))
        if strict and (not strict_re.fullmatch(raw) or _NEGATIVE_ZERO_RE.fullmatch(raw)):
            raise bad(raw, f" (strict numbers: digits on both sides of the decimal mark, no `+`, no -0)")
        if len(plain) > _MAX_TEXT and _too_long(plain):
            raise RowReject(name, raw, f"`{name}` is out of range ({RANGE_TEXT}), got {_shown(raw)}",
                            code=reasons.OUT_OF_RANGE)
        return in_range(Decimal(plain), raw)

    def number(raw):
        if isinstance(raw, bool):
            raise bad(raw)
        if isinstance(raw, int):
            return in_range(Decimal(raw), raw)
        if isinstance(raw, float) and math.isfinite(raw):
            return in_range(Decimal(str(raw)), raw)  # the shortest repr: what was typed, not binary noise
        if isinstance(raw, Decimal) and raw.is_finite():
            return in_range(raw, raw)
        raise bad(raw)

    def cell(raw):
        return text(raw) if raw.__class__ is str else number(raw)

    def json(raw):
        if isinstance(raw, str):
            # The schema's pattern is searched as jsonschema does, so the verdicts agree.
            if strict:
                if _STRICT_DECIMAL_SEARCH.search(raw):
                    return in_range(Decimal(raw.strip()), raw)
            elif _DECIMAL_RE.search(raw):
                return in_range(Decimal(raw.strip()), raw)
            raise bad(raw)
        return number(raw)
    return cell, json


def _too_long(plain: str) -> bool:
    """Whether decimal text has more digits than the range allows, however its zeros fall."""
    whole, _, fraction = plain.strip().lstrip("+-").partition(".")
    return len(whole.lstrip("0")) > MAX_INTEGER_DIGITS or len(fraction.rstrip("0")) > MAX_FRACTION_DIGITS


# Dates a contract can carry: a date outside is a typo (9999-12-31 as "open"), and a review would
# otherwise walk thousands of periods to reach it.
FIRST_DAY, LAST_DAY = _dt.date(1900, 1, 1), _dt.date(2999, 12, 31)


def _date(decl: FieldDecl, _comma: bool):
    name = decl.name
    cache = _Cache()  # JSON only: cells are cached whole by _cell_converter
    reading = form(decl, "dates")
    shown_forms = {"both": "2016-03-01 or 01.03.2016", "iso": "2016-03-01 (ISO)",
                   "german": "01.03.2016"}[reading]
    iso_re = _ISO_DATE_RE if reading != "german" else None
    dotted_re = _DOTTED_DATE_RE if reading != "iso" else None

    def bad(raw, forms=shown_forms, why=""):
        return RowReject(name, raw, f"`{name}` must be a date like {forms}, got {_shown(raw)}{why}",
                         code=reasons.NOT_A_DATE)

    def within(day: _dt.date, raw) -> _dt.date:
        if FIRST_DAY <= day <= LAST_DAY:
            return day
        raise RowReject(name, raw, f"`{name}` is out of range (dates from {FIRST_DAY} to {LAST_DAY}), "
                        f"got {_shown(raw)}", code=reasons.OUT_OF_RANGE)

    def build(raw, y, m, d, forms=shown_forms):
        try:
            day = _dt.date(int(y), int(m), int(d))
        except ValueError as error:
            raise bad(raw, forms, f" ({error})") from None
        return within(day, raw)

    def cell(raw):
        if raw.__class__ is str:
            iso = iso_re.fullmatch(raw) if iso_re else None
            if iso:
                return build(raw, *iso.groups())
            dotted = dotted_re.fullmatch(raw) if dotted_re else None
            if dotted:
                d, m, y = dotted.groups()
                return build(raw, y, m, d)
            raise bad(raw)
        if isinstance(raw, _dt.datetime):
            return within(raw.date(), raw)
        if isinstance(raw, _dt.date):
            return within(raw, raw)
        raise bad(raw)

    def json(raw):
        if isinstance(raw, str):
            found = cache.get(raw)
            if found is not None:
                return found
            iso = _ISO_DATE_RE.fullmatch(raw)
            if iso:
                return cache.put(raw, build(raw, *iso.groups(), forms="2016-03-01"))
        raise bad(raw, forms="2016-03-01")
    return cell, json


def _boolean(decl: FieldDecl, _comma: bool):
    name = decl.name

    def bad(raw):
        return RowReject(name, raw, f"`{name}` must be yes or no (or true/false, 1/0, ja/nein), "
                                    f"got {_shown(raw)}", code=reasons.NOT_YES_OR_NO)

    def cell(raw):
        if raw.__class__ is str:
            found = _BOOLEANS.get(raw.lower())
            if found is None:
                raise bad(raw)
            return found
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float)) and raw in (0, 1):
            return raw == 1
        raise bad(raw)

    def json(raw):
        if isinstance(raw, bool):
            return raw
        raise bad(raw)
    return cell, json


def _choice(decl: FieldDecl, _comma: bool):
    name = decl.name
    exact = {c: c for c in decl.choices}
    folded = {}
    for choice in decl.choices:
        folded.setdefault(choice.lower(), []).append(choice)
    # Spreadsheets capitalise; a case-insensitive match is taken when it is unambiguous.
    relaxed = {key: values[0] for key, values in folded.items() if len(values) == 1}
    if form(decl, "case") == "exact":
        relaxed = {}
    listed = ", ".join(decl.choices)

    def bad(raw):
        guess = did_you_mean(str(raw), decl.choices) if isinstance(raw, str) else None
        hint = f" (did you mean {guess}?)" if guess else ""
        return RowReject(name, raw, f"`{name}` must be one of {listed}, got {_shown(raw)}{hint}",
                         code=reasons.NOT_ONE_OF)

    def cell(raw):
        text = raw if raw.__class__ is str else str(raw)
        found = exact.get(text) or relaxed.get(text.lower())
        if found is None:
            raise bad(raw)
        return found

    def json(raw):
        found = exact.get(raw) if isinstance(raw, str) else None
        if found is None:
            raise bad(raw)
        return found
    return cell, json


_KINDS = {
    "text": _text, "integer": _integer, "decimal": _decimal,
    "date": _date, "boolean": _boolean, "choice": _choice,
}


def _field_converters(decl: FieldDecl, comma: bool) -> tuple[Converter, Converter]:
    """The (cell, json) converters of a present value of this field, bounds included."""
    if decl.kind not in _KINDS:
        raise ValueError(f"`{decl.name}` has an unknown type {decl.kind!r}")
    cell, json = _KINDS[decl.kind](decl, comma)
    check = _bounds_check(decl)
    if check is None:
        return cell, json
    return (lambda raw: check(cell(raw), raw)), (lambda raw: check(json(raw), raw))


def _bounds_check(decl: FieldDecl) -> Callable[[object, object], object] | None:
    """A function (value, raw) -> value that raises when a bound is not met; None without bounds."""
    if not decl.bounds:
        return None
    words = _BOUND_WORDS["date" if decl.kind == "date" else "number"]
    tests = [(_BOUND_OPS[b.op], _bound_limit(decl, b), words[b.op]) for b in decl.bounds]
    name = decl.name

    def check(value, raw):
        for test, limit, phrase in tests:
            if not test(value, limit):
                shown = limit.isoformat() if isinstance(limit, _dt.date) else limit
                raise RowReject(name, raw, f"`{name}` must be {phrase} {shown}, got {_shown(raw)}",
                                code=reasons.OUTSIDE_BOUNDS)
        return value
    return check


def _bound_limit(decl: FieldDecl, bound: Bound) -> object:
    limit = literal_value(bound.value)
    if decl.kind == "date" and isinstance(limit, str):
        return _dt.date.fromisoformat(limit)
    return limit


# --------------------------------------------------------------------------- the validator


def _missing_value(decl: FieldDecl) -> Callable[[object], object]:
    """What a missing value becomes: the typed default, None, or a `required` reject."""
    name = decl.name
    if decl.required and decl.default is None:
        def required(raw):
            raise RowReject(name, raw, f"`{name}` is required", code=reasons.MISSING_REQUIRED)
        return required
    default = typed_default(decl)
    return lambda raw: default


def lenient_reading(decl: FieldDecl, comma: bool = False) -> Callable[[str], str | None] | None:
    """A function telling, of a text an accepted value was read from, which lenient reading it
    needed (GERMAN_DATE, ANY_CASE, TRIMMED, NUMBER_FORM) or None; None when the field has none.

    Non-text fields are always read trimmed, so their text is looked at without its spaces."""
    if decl.kind == "text":
        if form(decl, "spaces") != "trim":
            return None
        return lambda raw: TRIMMED if raw != raw.strip() and raw.strip() else None
    if decl.kind == "date" and form(decl, "dates") == "both":
        return lambda raw: GERMAN_DATE if _DOTTED_DATE_RE.fullmatch(raw.strip()) else None
    if decl.kind == "choice" and form(decl, "case") == "any":
        exact = frozenset(decl.choices)
        return lambda raw: ANY_CASE if raw.strip() and raw.strip() not in exact else None
    if decl.kind in ("integer", "decimal") and form(decl, "numbers") == "any":
        plain = _STRICT_INTEGER_RE if decl.kind == "integer" else (
            _STRICT_DECIMAL_COMMA_RE if comma else _STRICT_DECIMAL_RE)

        def number_form(raw):
            text = raw.strip()
            if not text:
                return None
            return NUMBER_FORM if not plain.fullmatch(text) or _NEGATIVE_ZERO_RE.fullmatch(text) else None
        return number_form
    return None


def _cell_converter(decl: FieldDecl, comma: bool) -> Converter:
    """One spreadsheet cell (str, None or a native XLSX value) to the field's typed value."""
    present, _ = _field_converters(decl, comma)
    missing = _missing_value(decl)
    if decl.kind == "text" and not decl.bounds:
        if form(decl, "spaces") == "verbatim":
            def verbatim_cell(raw):
                if raw.__class__ is str:
                    return raw if raw.strip() else missing(raw)
                return missing(raw) if raw is None else present(raw)
            return verbatim_cell

        def text_cell(raw):
            if raw.__class__ is str:
                raw = raw.strip()
                return raw if raw else missing(raw)
            return missing(raw) if raw is None else present(raw)
        return text_cell
    lenient = lenient_reading(decl, comma)

    # Whole-cell cache: a repeated cell ("1", "new", "2016-03-01") costs one dict look-up.
    # Only str keys go in, so True and 1 (equal as dict keys) never meet.
    cache = _Cache()

    def cell(raw):
        found = cache.get(raw)
        if found is not None:
            return found
        if raw.__class__ is str:
            text = raw.strip()
            value = present(text) if text else missing(text)
            if value is None or (lenient is not None and lenient(raw) is not None):
                return value  # a lenient reading is never cached: it is counted at every use
            return cache.put(raw, value)
        return missing(raw) if raw is None else present(raw)
    cell.cache = cache  # the lenient counting skips a cached cell (always a strict reading)
    return cell


def _json_converter(decl: FieldDecl, comma: bool) -> Converter:
    """One JSON value (None when the key is absent) to the field's typed value."""
    _, present = _field_converters(decl, comma)
    missing = _missing_value(decl)
    is_text = decl.kind == "text" and form(decl, "spaces") == "trim"
    if decl.kind == "text" and not is_text:  # verbatim: a blank text is still missing
        def verbatim(raw):
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                return missing(raw)
            return present(raw)
        return verbatim

    def value(raw):
        if raw is None:
            return missing(raw)
        if is_text and isinstance(raw, str):
            raw = raw.strip()
            if not raw:
                return missing(raw)
        return present(raw)
    return value


class _Where:
    """What a condition's closures need of the place that holds them (engine.evaluate.Scope)."""

    def __init__(self, field_name: str, span):
        self.name, self.id, self.span = f"input {field_name}", field_name, span


def _place(span) -> str:
    """`line 14 of o2.rules`: where a condition stands, as a reject names it."""
    return f"line {span.line} of {os.path.basename(span.file)}"


def _conditional_checks(fields: tuple[FieldDecl, ...]) -> tuple:
    """`(name, test(record) -> bool, reject(raw) -> RowReject)` per conditional check, in field order."""
    from dsl.formatter import format_cond
    from engine.evaluate import Scope, Unscorable, compile_cond

    decls = {f.name: f for f in fields}
    checks = []

    def holds(cond, field_name):
        test = compile_cond(cond, Scope(_Where(field_name, cond.span), decls, {}, {}))

        def run(record):
            try:
                return test(record, None) is True
            except Unscorable:  # a condition that cannot be computed (an empty field in arithmetic)
                return False
        return run

    for decl in fields:
        name = decl.name
        if decl.required_when is not None:
            when = holds(decl.required_when, name)
            text, where = format_cond(decl.required_when), _place(decl.required_when.span)

            def required(record, when=when, name=name):
                return record[name] is not None or not when(record)

            def missing(raw, name=name, text=text, where=where):
                return RowReject(name, raw, f"`{name}` is empty, but it is required when ({text}) ({where})",
                                 code=reasons.REQUIRED_WHEN)
            checks.append((name, required, missing))
        if decl.bounds_when:
            words = _BOUND_WORDS["date" if decl.kind == "date" else "number"]
        for item in decl.bounds_when:
            when = holds(item.when, name)
            test, limit = _BOUND_OPS.get(item.bound.op), _bound_limit(decl, item.bound)
            phrase = words.get(item.bound.op)
            text, where = format_cond(item.when), _place(item.when.span)
            shown = limit.isoformat() if isinstance(limit, _dt.date) else limit

            def within(record, when=when, test=test, limit=limit, name=name):
                value = record[name]
                return value is None or test(value, limit) or not when(record)

            def outside(raw, name=name, phrase=phrase, shown=shown, text=text, where=where):
                return RowReject(name, raw, f"`{name}` must be {phrase} {shown} when ({text}) ({where}), "
                                 f"got {_shown(raw)}", code=reasons.OUTSIDE_BOUNDS_WHEN)
            checks.append((name, within, outside))
        for item in decl.choices_when:
            when = holds(item.when, name)
            allowed = frozenset(item.choices)
            listed = ", ".join(item.choices)
            text, where = format_cond(item.when), _place(item.when.span)

            def listed_value(record, when=when, allowed=allowed, name=name):
                value = record[name]
                return value is None or value in allowed or not when(record)

            def unlisted(raw, name=name, listed=listed, text=text, where=where, choices=item.choices):
                guess = did_you_mean(str(raw).strip(), choices) if isinstance(raw, str) else None
                hint = f" (did you mean {guess}?)" if guess else ""
                return RowReject(name, raw, f"`{name}` must be one of {listed} when ({text}) ({where}), "
                                 f"got {_shown(raw)}{hint}", code=reasons.NOT_ONE_OF_WHEN)
            checks.append((name, listed_value, unlisted))
    return tuple(checks)


class RowValidator:
    """Converts rows of one input block to typed records; build once per file, call per row.

    Memory is flat except for `unique` fields: each distinct value is remembered with its first
    row number for the validator's lifetime, the one cost that grows with the number of contracts.
    """

    def __init__(self, block: InputBlock, decimal_comma: bool = False):
        self.block = block
        self.decimal_comma = decimal_comma
        self.fields = tuple(f.name for f in block.fields)
        self._required = tuple(f.name for f in block.fields if f.required and f.default is None)
        # (field name, cell converter) in declaration order.
        fields = tuple(resolved(block, f) for f in block.fields)
        self.cell_converters = tuple((f.name, _cell_converter(f, decimal_comma)) for f in fields)
        self._json = tuple((f.name, _json_converter(f, decimal_comma)) for f in fields)
        # `required when`, bounds `when` and `one of (...) when`, run on the typed record after every
        # field is accepted.
        self.conditions = _conditional_checks(fields)
        # Values accepted only through a lenient reading, once their row is accepted:
        # (field, reading) -> [count, up to MAX_LENIENT_EXAMPLES distinct raw values in first-seen order].
        self.lenient: dict[tuple[str, str], list] = {}
        # (position in the field order, field, cache of its cell converter or None, reading test).
        self.lenient_checks = tuple(
            (i, f.name, getattr(convert, "cache", None), test)
            for i, (f, (_, convert)) in enumerate(zip(fields, self.cell_converters))
            if (test := lenient_reading(f, decimal_comma)) is not None)
        self._last_lenient: list = []
        # Per unique field: typed value -> the row number it was first seen in (or 0 if unknown).
        self.unique_seen: tuple[tuple[str, dict], ...] = tuple((f.name, {}) for f in block.fields if f.unique)
        # Several export files in one run: a row is remembered as row_base + its row number, and
        # `files` ((base, name) in order) names the file of the row a repeat refers to.
        self.row_base = 0
        self.files: list[tuple[int, str]] = []

    def begin_file(self, name: str, base: int) -> None:
        """The rows that follow are those of the export file `name`, remembered after `base`."""
        self.row_base = base
        self.files.append((base, name))

    def _first_row(self, first: int) -> str:
        """Where a remembered row is: `row 5`, or with several files `row 5 of jan.csv`."""
        if not first:
            return "an earlier row"
        if not self.files:
            return f"row {first}"
        base, name = max((b, n) for b, n in self.files if b < first)
        return f"row {first - base} of {name}"

    def header_problems(self, header: Iterable[str]) -> list[str]:
        """One sentence per required column the header lacks, with a did-you-mean over its columns."""
        columns = column_names(header)
        spare = [c for c in columns if c and c not in self.fields]
        problems = []
        for name in self._required:
            if name not in columns:
                guess = did_you_mean(name, spare)
                hint = f" (did you mean `{guess}`?)" if guess else ""
                problems.append(f"the required column `{name}` is missing{hint}")
        return problems

    def header_notes(self, header: Iterable[str]) -> list[str]:
        """Warnings for optional columns the header lacks while a column of a close name goes unread."""
        columns = column_names(header)
        spare = [c for c in columns if c and c not in self.fields]
        notes = []
        for decl in self.block.fields:
            if decl.name in columns or decl.name in self._required:
                continue
            guess = did_you_mean(decl.name, spare)
            if guess:
                default = typed_default(decl)
                takes = "no value" if default is None else f"the default {_shown(default)}"
                notes.append(f"the column `{guess}` is not read; if it means `{decl.name}`, rename it: "
                             f"without it every row takes {takes} for `{decl.name}`")
        return notes

    def for_header(self, header: list[str], unique: bool = True) -> Callable[..., dict]:
        """A converter `(cells, row=None) -> record` for rows under this header (positions computed once).

        With `unique=False` it converts only: no `unique` value is checked or remembered.
        """
        index: dict[str, int] = {}
        for position, column in enumerate(column_names(header)):
            index.setdefault(column, position)
        width = len(header)
        # An absent column reads the None appended after the header's width: one C-level pick
        # of every cell a record needs.
        positions = [index.get(name, width) for name, _ in self.cell_converters] + [width, width]
        pick = operator.itemgetter(*positions)
        names = self.fields
        converters = tuple(convert for _, convert in self.cell_converters)
        check_unique = self.check_unique if self.unique_seen and unique else None
        conditions = self.conditions
        note = self.note_cells if self.lenient_checks and unique else None

        def convert_row(cells, row: int | None = None) -> dict:
            if len(cells) != width:
                cells = (list(cells) + [None] * width)[:width]
            try:
                values = pick([*cells, None])
                record = {name: convert(raw) for name, convert, raw in zip(names, converters, values)}
                if conditions and not self.conditions_hold(record):
                    self.check_conditions(record, dict(zip(names, values)).get)
            except RowReject as reject:
                reject.row = row
                raise
            if check_unique is not None:
                check_unique(record, row)
            if note is not None:
                note(values)
            return record
        return convert_row

    def check_conditions(self, record: dict, raw_of: Callable[[str], object]) -> None:
        """Raise the reject of the first conditional check the record fails (`raw_of(field)`: its raw value)."""
        for name, passes, reject in self.conditions:
            if not passes(record):
                raise reject(raw_of(name))

    def conditions_hold(self, record: dict) -> bool:
        """Whether the record passes every conditional check (one pass before looking for the failing one)."""
        return all(passes(record) for _, passes, _ in self.conditions)

    def note_cells(self, values) -> None:
        """Count the lenient readings of an accepted row's raw values (in field order)."""
        last = self._last_lenient = []
        for position, name, cache, reading_of in self.lenient_checks:
            raw = values[position]
            if raw.__class__ is not str or (cache is not None and raw in cache):
                continue
            reading = reading_of(raw)
            if reading is not None:
                last.append(((name, reading), raw if self.note(name, reading, raw) else None))

    def note(self, name: str, reading: str, raw: str) -> bool:
        """Count a value of `name` read leniently as `reading`; keep the first few as examples (True
        when this one became an example)."""
        entry = self.lenient.get((name, reading))
        if entry is None:
            entry = self.lenient[(name, reading)] = [0, []]
        entry[0] += 1
        if len(entry[1]) < MAX_LENIENT_EXAMPLES and raw not in entry[1]:
            entry[1].append(raw)
            return True
        return False

    def convert(self, mapping: dict, row: int | None = None) -> dict:
        """A JSON record (floats parsed as Decimal) to a typed record, or RowReject."""
        get = mapping.get
        try:
            record = {name: convert(get(name)) for name, convert in self._json}
            if self.conditions:
                self.check_conditions(record, get)
        except RowReject as reject:
            reject.row = row
            raise
        if self.unique_seen:
            self.check_unique(record, row)
        if self.lenient_checks:
            self.note_cells([get(name) for name in self.fields])
        return record

    def check_unique(self, record: dict, row: int | None) -> None:
        """Reject a repeat of a `unique` value seen before; otherwise remember the record's values."""
        for name, seen in self.unique_seen:
            value = record[name]
            if value is not None and value in seen:
                where = self._first_row(seen[value])
                raise RowReject(name, value, f"`{name}` {_shown(value)} repeats {where}", row,
                                code=reasons.DUPLICATE)
        for name, seen in self.unique_seen:
            value = record[name]
            if value is not None:
                seen[value] = row + self.row_base if row else 0

    def forget(self, record: dict) -> None:
        """Take back the unique values of a record that was accepted here but rejected elsewhere."""
        for name, seen in self.unique_seen:
            value = record.get(name)
            if value is not None:
                seen.pop(value, None)
        self.take_back_lenient()

    def take_back_lenient(self) -> None:
        """Uncount the lenient readings of the last row accepted here (another validator read it, or it
        was rejected elsewhere), and the examples they gave."""
        for key, example in self._last_lenient:
            entry = self.lenient[key]
            entry[0] -= 1
            if example is not None:
                entry[1].remove(example)
            if not entry[0]:
                del self.lenient[key]
        self._last_lenient = []


def column_names(header: Iterable[object]) -> list[str]:
    """Header cells as column names: trimmed text, an empty cell as ''."""
    return ["" if c is None else str(c).strip() for c in header]
