"""The DuckDB engine writes contracts.csv and rows.csv with DuckDB's COPY; every cell must come out
as engine.cells.writer writes it (neutralised formulas, Python's quoting, empty cells bare)."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st

from engine import cells

duckdb = pytest.importorskip("duckdb", reason="the DuckDB engine needs the duckdb package")

from engine.sql.duck import copy_csv, neutral_macro  # noqa: E402

# The characters that decide neutralising and quoting, and some that must change nothing.
ALPHABET = st.sampled_from(list("=@+-'\t\r\n,\";.eE0123456789 aZA/:<>?[~\x7f") + ["\x00", "\x01", "\u00e9", "\u2028",
                                                                        "\u0301", "\U0001f600", "\u00a0"])
TEXTS = st.text(ALPHABET, max_size=8)


def python_lines(rows: list[list[str]]) -> str:
    out = io.StringIO()
    w = cells.writer(out)
    w.writerow(["n", "a", "b"])
    w.writerows([[str(n), *row] for n, row in enumerate(rows)])
    return out.getvalue()


def duckdb_lines(rows: list[list[str]], tmp_path) -> str:
    con = duckdb.connect()
    neutral_macro(con)
    con.execute("CREATE TABLE t (n BIGINT, a VARCHAR, b VARCHAR)")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(n, *row) for n, row in enumerate(rows)])
    target = tmp_path / "out.csv"
    target.unlink(missing_ok=True)
    copy_csv(con, "SELECT n, NULLIF(pp_neutral(a), '') AS a, NULLIF(pp_neutral(b), '') AS b FROM t ORDER BY n",
             target)
    return target.read_bytes().decode("utf-8")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(TEXTS, min_size=2, max_size=2), max_size=30))
def test_copy_writes_cells_as_the_python_writer(tmp_path_factory, rows):
    tmp_path = tmp_path_factory.mktemp("cells")
    assert duckdb_lines(rows, tmp_path) == python_lines(rows)


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+cmd|' /C calc'!A0", "-1,5", "-0.25", "+3", "2e3", "'=x",
                                  "''@", "-", "@", "\tx", "a,b", 'q"', "", "'''", "-.5", "+-1", "1,2,3"])
def test_known_shapes(tmp_path, text):
    assert duckdb_lines([[text, "x"]], tmp_path) == python_lines([[text, "x"]])


def test_neutral_in_sql_for_every_first_character():
    """pp_neutral tells most texts by comparing their first bytes before any function runs: for every
    character of the first planes first, alone or before a digit, a letter, a formula or a number,
    the SQL gives engine.cells.neutral's text."""
    texts = [chr(c) + tail for c in range(0x3100) if not 0xD800 <= c < 0xE000
             for tail in ("", "1", "x", "=1", "1+1", "'=1")]
    con = duckdb.connect()
    neutral_macro(con)
    got = [r[0] for r in con.execute("SELECT pp_neutral(t) FROM unnest($1) WITH ORDINALITY AS u(t, i) ORDER BY i",
                                     [texts]).fetchall()]
    assert got == [cells.neutral(t) for t in texts]


def test_a_visible_first_character_told_by_bytes_as_by_its_code():
    """visible_first (a comparison of bytes, in stripping and in the blank-row test) is `ascii(x)
    BETWEEN 33 AND 126` for every first character of the first planes, '' and NULL; and the strip
    it guards is Python's."""
    from engine.sql.dialect import DUCKDB, visible_first

    texts = [chr(c) + tail for c in range(0x3100) if not 0xD800 <= c < 0xE000 for tail in ("", "x", " ", "\u3000")]
    con = duckdb.connect()
    rows = con.execute(f"SELECT t, ascii(t) BETWEEN 33 AND 126, {visible_first('t')}, {DUCKDB.strip('t')} "
                       "FROM unnest($1) WITH ORDINALITY AS u(t, i) ORDER BY i", [texts + [""]]).fetchall()
    assert [r[1] for r in rows] == [r[2] for r in rows]
    assert [r[3] for r in rows] == [t.strip() for t in texts + [""]]
    assert con.execute(f"SELECT {visible_first('CAST(NULL AS VARCHAR)')}").fetchone() == (None,)


def test_the_spaces_strip_removes_are_every_space_python_knows():
    from engine.sql.dialect import _SPACES

    assert _SPACES == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from(list(" \t\x0b\x0c\x1c\x1f\x85\xa0\u2000\u3000\u200bab=1\u00e9\U0001f600")),
                        max_size=6), min_size=1, max_size=20))
def test_strip_is_python_strip(texts):
    """Dialect.strip (the fast path for visible ends, trim() for the rest) is str.strip."""
    from engine.sql.dialect import DUCKDB

    con = duckdb.connect()
    got = con.execute(f"SELECT {DUCKDB.strip('x')} FROM unnest(CAST(? AS VARCHAR[])) AS t(x)", [texts]).fetchall()
    assert [g for (g,) in got] == [t.strip() for t in texts]
