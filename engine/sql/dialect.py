"""What differs between SQL dialects, in one place; the compiler builds SQL only through these.

Everything here is text in, SQL text out. The DuckDB dialect is the one the engine runs; another
dialect (Spark SQL, PostgreSQL) subclasses `Dialect` and overrides what its engine spells otherwise.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

# The characters Python's str.strip() removes (str.isspace; tests/test_sql_cells.py checks the list
# against every code point, which takes 0.1 s: too long for each run's start-up).
_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
           "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _re_char(ch: str) -> str:
    return f"\\x{{{ord(ch):x}}}"


SPACE_CLASS = "[" + "".join(_re_char(c) for c in _SPACES) + "]"


class Dialect:
    """SQL as DuckDB reads it."""

    name = "duckdb"
    max_precision = 38
    # A table of more cells than this is looked up in a relation of its own (a join in the portable
    # SQL of `points compile`; the DuckDB engine reads it by the keys' positions in an ENUM, engine.sql.
    # duck.keyed) rather than a CASE over its cells; None: always a CASE (the dialects whose scripts
    # stand alone).
    relation_cells: int | None = 64
    # A smaller table's cell is read from a list literal by the keys' positions (list_position);
    # False: a CASE over the cells.
    cell_lists = True

    @staticmethod
    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    @staticmethod
    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    @staticmethod
    def decimal_type(precision: int, scale: int) -> str:
        return f"DECIMAL({max(precision, scale, 1)},{scale})"

    def decimal(self, value: Decimal | int, precision: int, scale: int) -> str:
        """An exact decimal literal of the given type."""
        text = format(Decimal(value), "f")
        return f"CAST({self.text(text)} AS {self.decimal_type(precision, scale)})"

    def date(self, day: _dt.date) -> str:
        return f"DATE {self.text(day.isoformat())}"

    @staticmethod
    def boolean(value: bool) -> str:
        return "TRUE" if value else "FALSE"

    def strip(self, sql: str) -> str:
        """Python's str.strip() of a text: every character str.isspace() holds, off both ends.

        trim() with the ~25 characters of that set costs ~0.4 s per million cells, so a text that
        is empty, or starts and ends with a visible ASCII character (most cells), is taken as it is:
        told by comparing bytes (`x >= '!' AND x < chr(127)`: the first character is one of `!` to
        `~`), which DuckDB does on the bytes it keeps inline, ~20% cheaper than `ascii()`."""
        return (f"(CASE WHEN {sql} = '' OR ({visible_first(sql)} AND {visible_first(f'{sql}[-1]')}) "
                f"THEN {sql} ELSE trim({sql}, {self.text(_SPACES)}) END)")

    def digits_at_ends(self, sql: str, last: bool = False) -> str:
        """The text's first character (with `last`, also its last) is an ASCII digit; false for ''.
        DuckDB compares bytes, as `strip` does (~2 ns a row where a regular expression takes ~40)."""
        first = f"({sql} >= '0' AND {sql} < ':')"
        return f"({first} AND {sql}[-1] >= '0' AND {sql}[-1] < ':')" if last else first

    @staticmethod
    def is_in(sql: str, items: list[str]) -> str:
        """`sql IN (items)` for a list of literals (none NULL): NULL for a NULL value.

        DuckDB plans an IN list over a large input as a join (a mark join per use, ~0.1-0.4 s per
        million rows each); list_contains is a plain function of the row."""
        if not items:
            return f"({sql} IS NOT NULL AND FALSE)"
        return f"list_contains([{', '.join(items)}], {sql})"

    def full_match(self, sql: str, pattern: str) -> str:
        """Whether the whole text matches a regular expression (RE2 syntax)."""
        return f"regexp_full_match({sql}, {self.text(pattern)})"

    @staticmethod
    def ascii(sql: str) -> str:
        return f"regexp_full_match({sql}, '[\\x00-\\x7f]*')"

    @staticmethod
    def lower(sql: str) -> str:
        return f"lower({sql})"

    @staticmethod
    def length(sql: str) -> str:
        return f"length({sql})"

    @staticmethod
    def concat(*parts: str) -> str:
        return "(" + " || ".join(parts) + ")"

    @staticmethod
    def concat_ws(sep: str, parts: list[str]) -> str:
        """Parts joined by `sep`, NULL parts left out ('' when all are NULL)."""
        if not parts:
            return "''"
        return f"concat_ws({sep}, {', '.join(parts)})"

    @staticmethod
    def to_text(sql: str) -> str:
        return f"CAST({sql} AS VARCHAR)"

    # A date as text in the dialect's format function: "date" (YYYY-MM-DD), "year", "month" (YYYY-MM).
    DATE_FORMATS = {"date": "%Y-%m-%d", "year": "%Y", "month": "%Y-%m"}

    def date_format(self, sql: str, part: str) -> str:
        # a cast writes what strftime writes for a date field's days (dsl.limits: the years 1900 to
        # 2999), in about half the time
        if part == "date":
            return f"CAST({sql} AS VARCHAR)"
        if part == "year":
            return f"CAST(year({sql}) AS VARCHAR)"
        return f"strftime({sql}, '{self.DATE_FORMATS[part]}')"

    def quarter_text(self, sql: str) -> str:
        return f"CAST(quarter({sql}) AS VARCHAR)"

    def date_text(self, sql: str) -> str:
        return self.date_format(sql, "date")

    def period(self, sql: str, unit: str) -> str:
        """The period label engine.periods gives a date: 2016, 2016-03 or 2016-Q1."""
        if unit in ("year", "month"):
            return self.date_format(sql, unit)
        return f"({self.date_format(sql, 'year')} || '-Q' || {self.quarter_text(sql)})"

    @staticmethod
    def try_date(sql: str) -> str:
        return f"TRY_CAST({sql} AS DATE)"

    @staticmethod
    def try_integer(sql: str) -> str:
        return f"TRY_CAST({sql} AS BIGINT)"

    @staticmethod
    def try_decimal(sql: str) -> str:
        """The DECIMAL(28,10) of a text that has a decimal's form, NULL if it has more than 18 digits
        before the point. DuckDB reads a text into a DECIMAL of more than 18 digits (a 128-bit
        integer) ~30 times as slowly as into one of 18 (~2.5 us a value: 1.2 s for 500,000 values on
        these machines); a text of at most 8 characters has at most 8 digits before the point and 7
        after it, which DECIMAL(18,10) holds exactly, so that is how most values are read."""
        short = f"CAST(TRY_CAST({sql} AS DECIMAL(18,10)) AS DECIMAL(28,10))"
        return f"(CASE WHEN length({sql}) <= 8 THEN {short} ELSE TRY_CAST({sql} AS DECIMAL(28,10)) END)"

    def points_text(self, sql: str, scale: int) -> str:
        """A decimal as engine.numbers.fmt_points writes it: plain, no trailing zeros."""
        text = self.to_text(sql)
        if scale == 0:
            return text
        return f"rtrim(rtrim({text}, '0'), '.')"

    def significant_digits(self, sql: str) -> str:
        """Digits from the first to the last nonzero digit of a decimal's value (0 for zero)."""
        text = f"replace(replace({self.to_text(sql)}, '-', ''), '.', '')"
        return f"length(rtrim(ltrim({text}, '0'), '0'))"


def visible_first(sql: str) -> str:
    """DuckDB: the text begins with a visible ASCII character (`!` to `~`; `ascii(x) BETWEEN 33 AND
    126`, NULL for NULL, false for ''), by comparing its bytes (binary order, UTF-8's order of code
    points)."""
    return f"({sql} >= '!' AND {sql} < chr(127))"


DUCKDB = Dialect()
