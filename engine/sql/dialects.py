"""Spark SQL and PostgreSQL: what they spell otherwise than DuckDB, in one place.

The compiler (engine.sql.compiler, engine.sql.plan) builds SQL through a `Dialect`; a few
functions it writes in DuckDB's spelling (`ltrim(x, chars)`, `strpos`, `trunc`, `sign`,
`CAST(... AS VARCHAR)`, double-quoted names). `finish(sql)` rewrites those for the target after
the SQL is built: it walks the text as tokens (string literals, quoted names, function calls with
their balanced arguments), so it never touches a value inside a literal.

- Spark SQL (ANSI mode): names in backquotes, backslashes in literals escaped (Spark reads `\\`
  in a literal as an escape), Java regular expressions matched whole with `RLIKE '^(?:...)$'`,
  `trim(LEADING c FROM x)` for `ltrim(x, c)`, `instr` for `strpos`, no `trunc` or `sign` of a
  decimal (both written as CASE, so no DOUBLE appears), `TRY_CAST` as Spark has it.
- PostgreSQL: `~` for regular expressions (hexadecimal escapes without braces), `to_char` for
  dates, and, having no `TRY_CAST`, three small functions the script creates first
  (`points_try_date`, `points_try_bigint`, `points_try_decimal`) that return NULL where a cast fails.
"""
from __future__ import annotations

import re

from engine.sql.dialect import _SPACES, DUCKDB, Dialect


def _call_args(sql: str, start: int) -> tuple[list[str], int]:
    """The arguments of the call whose `(` is at `start`, split at top-level commas; and the
    index after its `)`."""
    depth, i, args, begin = 0, start, [], start + 1
    while i < len(sql):
        ch = sql[i]
        if ch == "'":
            i = _skip_quoted(sql, i, "'")
            continue
        if ch == '"':
            i = _skip_quoted(sql, i, '"')
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[begin:i].strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[begin:i].strip())
            begin = i + 1
        i += 1
    raise ValueError("unbalanced parentheses in generated SQL")


def _skip_quoted(sql: str, i: int, quote: str) -> int:
    """The index after the quoted token starting at i (a doubled quote stays inside)."""
    i += 1
    while i < len(sql):
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise ValueError("unterminated quote in generated SQL")


_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


class _Rewriter:
    """Rewrites calls of some functions, literals and quoted names of DuckDB-spelled SQL."""

    calls: dict = {}

    def literal(self, text: str) -> str:  # text: the literal with its quotes
        return text

    def name(self, text: str) -> str:
        return text

    def run(self, sql: str) -> str:
        out, i = [], 0
        while i < len(sql):
            ch = sql[i]
            if ch == "'":
                j = _skip_quoted(sql, i, "'")
                out.append(self.literal(sql[i:j]))
                i = j
                continue
            if ch == '"':
                j = _skip_quoted(sql, i, '"')
                out.append(self.name(sql[i:j]))
                i = j
                continue
            m = _WORD.match(sql, i)
            if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                word = m.group(0)
                j = m.end()
                handler = self.calls.get(word.lower())
                if handler is not None and j < len(sql) and sql[j] == "(":
                    args, end = _call_args(sql, j)
                    replaced = handler(self, [self.run(a) for a in args])
                    if replaced is not None:
                        out.append(replaced)
                        i = end
                        continue
                if word.upper() == "VARCHAR":
                    out.append(self.varchar())
                else:
                    out.append(word)
                i = j
                continue
            out.append(ch)
            i += 1
        return "".join(out)

    def varchar(self) -> str:
        return "VARCHAR"


class _SparkRewriter(_Rewriter):
    def literal(self, text: str) -> str:
        return text.replace("\\", "\\\\")

    def name(self, text: str) -> str:
        return "`" + text[1:-1].replace('""', '"').replace("`", "``") + "`"

    def varchar(self) -> str:
        return "STRING"

    def _ltrim(self, args):
        return f"trim(LEADING {args[1]} FROM {args[0]})" if len(args) == 2 else None

    def _rtrim(self, args):
        return f"trim(TRAILING {args[1]} FROM {args[0]})" if len(args) == 2 else None

    def _strpos(self, args):
        return f"instr({args[0]}, {args[1]})"

    def _trunc(self, args):  # of a decimal: toward zero
        if len(args) != 1:
            return None
        x = args[0]
        return f"(CASE WHEN {x} < 0 THEN ceil({x}) ELSE floor({x}) END)"

    def _sign(self, args):
        x = args[0]
        return f"(CASE WHEN {x} > 0 THEN 1 WHEN {x} < 0 THEN -1 ELSE 0 END)"

    calls = {"ltrim": _ltrim, "rtrim": _rtrim, "strpos": _strpos, "trunc": _trunc, "sign": _sign}


def _hex(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\x{ord(ch):04x}"


def _digits_at_ends(sql: str, last: bool = False) -> str:
    """Dialect.digits_at_ends by the characters' codes (a comparison of texts may follow a collation)."""
    first = f"(ascii({sql}) BETWEEN 48 AND 57)"
    return f"({first} AND ascii(right({sql}, 1)) BETWEEN 48 AND 57)" if last else first


class SparkDialect(Dialect):
    """Spark SQL with `spark.sql.ansi.enabled` and without decimal precision loss."""

    name = "spark"
    relation_cells = None
    cell_lists = False
    digits_at_ends = staticmethod(_digits_at_ends)

    @staticmethod
    def is_in(sql: str, items: list[str]) -> str:
        return f"({sql} IN ({', '.join(items)}))" if items else f"({sql} IS NOT NULL AND FALSE)"

    @staticmethod
    def decimal_type(precision: int, scale: int) -> str:
        return f"DECIMAL({max(precision, scale, 1)},{scale})"

    def strip(self, sql: str) -> str:
        cls = DUCKDB_SPACE_CLASS
        return f"regexp_replace({sql}, '^{cls}+|{cls}+$', '')"

    def full_match(self, sql: str, pattern: str) -> str:
        return f"({sql} RLIKE {self.text('^(?:' + pattern + ')$')})"

    @staticmethod
    def ascii(sql: str) -> str:
        return f"({sql} RLIKE '^[\\x00-\\x7f]*$')"

    @staticmethod
    def to_text(sql: str) -> str:
        return f"CAST({sql} AS VARCHAR)"

    DATE_FORMATS = {"date": "yyyy-MM-dd", "year": "yyyy", "month": "yyyy-MM"}

    def date_format(self, sql: str, part: str) -> str:
        return f"date_format({sql}, '{self.DATE_FORMATS[part]}')"

    def points_text(self, sql: str, scale: int) -> str:
        text = self.to_text(sql)
        if scale == 0:
            return text
        return f"rtrim(rtrim({text}, '0'), '.')"

    @staticmethod
    def try_decimal(sql: str) -> str:
        return f"TRY_CAST({sql} AS DECIMAL(28,10))"

    def finish(self, sql: str) -> str:
        return _SparkRewriter().run(sql)


# The space class in Java's syntax for code points (\x{h...h}), as DuckDB's.
DUCKDB_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACES) + "]"
PG_SPACE_CLASS = "[" + "".join(_hex(c) if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in _SPACES) + "]"


class PostgresDialect(Dialect):
    """PostgreSQL 15 or later."""

    name = "postgres"
    relation_cells = None
    cell_lists = False
    digits_at_ends = staticmethod(_digits_at_ends)

    @staticmethod
    def is_in(sql: str, items: list[str]) -> str:
        return f"({sql} IN ({', '.join(items)}))" if items else f"({sql} IS NOT NULL AND FALSE)"
    preamble = """\
-- Helpers: PostgreSQL has no TRY_CAST; these return NULL where the cast fails.
CREATE OR REPLACE FUNCTION points_try_date(t text) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN CAST(t AS date); EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION points_try_bigint(t text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN CAST(t AS bigint); EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION points_try_decimal(t text) RETURNS numeric(28,10) LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN CAST(t AS numeric(28,10)); EXCEPTION WHEN others THEN RETURN NULL; END $$;
"""

    def strip(self, sql: str) -> str:
        return f"regexp_replace({sql}, '^{PG_SPACE_CLASS}+|{PG_SPACE_CLASS}+$', '', 'g')"

    def full_match(self, sql: str, pattern: str) -> str:
        return f"({sql} ~ {self.text('^(?:' + pattern + ')$')})"

    @staticmethod
    def ascii(sql: str) -> str:
        return f"({sql} ~ '^[\\x01-\\x7f]*$')"  # a PostgreSQL text holds no NUL

    DATE_FORMATS = {"date": "YYYY-MM-DD", "year": "YYYY", "month": "YYYY-MM"}

    def date_format(self, sql: str, part: str) -> str:
        return f"to_char({sql}, '{self.DATE_FORMATS[part]}')"

    def quarter_text(self, sql: str) -> str:
        return f"to_char({sql}, 'Q')"

    @staticmethod
    def try_date(sql: str) -> str:
        return f"points_try_date({sql})"

    @staticmethod
    def try_integer(sql: str) -> str:
        return f"points_try_bigint({sql})"

    def try_decimal(self, sql: str) -> str:
        return f"points_try_decimal({sql})"

    def finish(self, sql: str) -> str:
        return sql


SPARK = SparkDialect()
POSTGRES = PostgresDialect()
DIALECTS = {"duckdb": DUCKDB, "spark": SPARK, "postgres": POSTGRES}


def finish(d: Dialect, sql: str) -> str:
    """SQL built through `d` in the target's own spelling."""
    fn = getattr(d, "finish", None)
    return sql if fn is None else fn(sql)


def preamble(d: Dialect) -> str:
    return getattr(d, "preamble", "")
