"""`points fmt`: golden files, round trips over every ruleset, and the words for single nodes."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl import parse
from dsl.errors import RulesetError
from dsl.formatter import (
    HEADER_ORDER, KEYWORDS, format_cond, format_expr, format_modifier, format_node, format_points, format_ruleset,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fmt"
# Files or folders named like this hold syntax errors on purpose (parser tests): no layout to keep.
ERROR_MARKS = ("error", "invalid", "broken", "syntax", "malformed")


def fmt(text: str, file: str = "<string>") -> str:
    return format_ruleset(parse(text, file))


def same_meaning(a: A.Ruleset, b: A.Ruleset) -> bool:
    """Equal trees once the header is in its canonical order (fmt moves it to the top)."""
    return _header_first(a) == _header_first(b)


def _header_first(ruleset: A.Ruleset) -> A.Ruleset:
    rank = {kind: i for i, kind in enumerate(HEADER_ORDER)}
    ordered = sorted(ruleset.statements, key=lambda s: rank.get(type(s), len(rank)))
    return A.Ruleset(ruleset.file, tuple(ordered))


# --------------------------------------------------------------------------- golden files


def _golden_names() -> list[str]:
    return sorted(p.name[: -len(".in.rules")] for p in FIXTURES.glob("*.in.rules"))


@pytest.mark.parametrize("name", _golden_names())
def test_golden_file(name):
    source = (FIXTURES / f"{name}.in.rules").read_text(encoding="utf-8")
    expected = (FIXTURES / f"{name}.out.rules").read_text(encoding="utf-8")
    assert fmt(source, f"{name}.in.rules") == expected
    assert fmt(expected) == expected
    assert same_meaning(parse(expected), parse(source))


def test_every_golden_input_has_an_output():
    outs = {p.name[: -len(".out.rules")] for p in FIXTURES.glob("*.out.rules")}
    assert len(_golden_names()) >= 6
    assert outs == set(_golden_names())


# --------------------------------------------------------------------------- every ruleset


def _ruleset_files() -> list[Path]:
    found = sorted((ROOT / "rulesets").rglob("*.rules")) + sorted((ROOT / "tests" / "fixtures").rglob("*.rules"))
    return [p for p in found if not any(m in part.lower() for part in p.relative_to(ROOT).parts for m in ERROR_MARKS)]


def _parsed(path: Path):
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except (RulesetError, UnicodeDecodeError):
        pytest.skip(f"{path.name} does not parse")


@pytest.mark.parametrize("path", _ruleset_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip_keeps_meaning_and_is_idempotent(path):
    original = _parsed(path)
    once = format_ruleset(original)
    again = parse(once, str(path))
    assert same_meaning(again, original)
    assert format_ruleset(again) == once
    # No comment is lost or doubled (their order may change where the header or a block moves).
    assert sorted(c.text for c in again.comments) == sorted(c.text for c in original.comments)


def test_example_program_is_already_canonical():
    # The shipped example rulesets are written by hand in the canonical layout; fmt leaves them be.
    files = sorted((ROOT / "rulesets").rglob("*.rules"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert fmt(text, str(path)) == text, f"{path} is not in canonical layout: run `points fmt {path}`"


# --------------------------------------------------------------------------- layout


def test_header_is_reordered_and_defaults_are_not_added():
    source = 'combine first\nrule "A" { points 1 }\nversion "v"\nprogram "P"\n'
    out = fmt(source)
    assert parse(out) != parse(source)  # statements are kept in source order ...
    assert same_meaning(parse(out), parse(source))  # ... and only the header moved
    assert out == 'program "P"\nversion "v"\ncombine first\n\nrule "A" {\n  points 1\n}\n'


def test_blank_lines_between_statements_become_one():
    out = fmt('rule "A" { points 1 }\n\n\n\nrule "B" { points 2 }')
    assert out == 'rule "A" {\n  points 1\n}\n\nrule "B" {\n  points 2\n}\n'


def test_numbers_keep_their_text_but_long_integers_are_grouped():
    out = fmt("tiers { A from 0 B from 7500 C from 45000 D from 7_500 E from 1234567 F from 12345.5 }")
    assert "B from 7500\n" in out
    assert "C from 45_000\n" in out
    assert "D from 7_500\n" in out
    assert "E from 1_234_567\n" in out
    assert "F from 12345.5\n" in out


def test_empty_ruleset_is_empty_text():
    assert fmt("") == ""
    assert fmt("# only a comment\n") == "# only a comment\n"


def test_comment_on_the_line_of_a_closing_brace_stays_there():
    out = fmt('rule "A" {\n  points 1 }  # done\n')
    assert out == 'rule "A" {\n  points 1\n}  # done\n'
    assert fmt(out) == out


def test_comment_before_a_closing_brace_stays_inside_the_block():
    out = fmt("tiers {\n  A from 0\n# last\n}\n")
    assert out == "tiers {\n  A from 0\n  # last\n}\n"


def test_comments_move_with_a_reordered_header():
    out = fmt('# the version\nversion "v"\n# the program\nprogram "P"\n')
    assert out == '# the program\nprogram "P"\n# the version\nversion "v"\n'


# --------------------------------------------------------------------------- single nodes


def _n(text: str) -> A.Number:
    return A.Number(Decimal(text.replace("_", "")), text)


def test_format_expr_minimal_parentheses():
    a, b, c = A.Name("a"), A.Name("b"), A.Name("c")
    assert format_expr(A.BinOp("-", a, A.BinOp("-", b, c))) == "a - (b - c)"
    assert format_expr(A.BinOp("-", A.BinOp("-", a, b), c)) == "a - b - c"
    assert format_expr(A.BinOp("*", A.BinOp("+", a, b), c)) == "(a + b) * c"
    assert format_expr(A.BinOp("+", a, A.BinOp("*", b, c))) == "a + b * c"
    assert format_expr(A.Neg(A.BinOp("*", a, b))) == "-(a * b)"
    assert format_expr(A.BinOp("*", A.Neg(a), b)) == "-a * b"
    assert format_expr(A.Neg(A.Neg(a))) == "-(-a)"


def test_format_expr_atoms():
    assert format_expr(A.String('say "hi" \\ bye')) == r'"say \"hi\" \\ bye"'
    assert format_expr(A.DateLit(date(2016, 3, 1))) == "2016-03-01"
    assert format_expr(A.Percent(Decimal("0.05"), "5%")) == "5%"
    assert format_expr(A.Percent(Decimal("0.125"))) == "12.5%"
    assert format_expr(A.Number(Decimal("1E+5"))) == "100_000"
    assert format_expr(A.TableLookup("t", (A.Name("p"), A.Name("c")))) == "t[p, c]"
    assert format_expr(A.Call("max", (_n("1"), A.Name("q")))) == "max(1, q)"


def test_format_cond_minimal_parentheses():
    x, y, z = (A.Compare("==", A.Name(n), _n("1")) for n in "xyz")
    assert format_cond(A.And((A.Or((x, y)), z))) == "(x == 1 or y == 1) and z == 1"
    assert format_cond(A.Or((A.And((x, y)), z))) == "x == 1 and y == 1 or z == 1"
    assert format_cond(A.Not(A.And((x, y)))) == "not (x == 1 and y == 1)"
    assert format_cond(A.And((A.Not(x), y))) == "not x == 1 and y == 1"
    assert format_cond(A.InList(A.Name("p"), (A.String("A"), A.String("B")), negated=True)) == 'p not in ("A", "B")'
    assert format_cond(A.InTable(A.Name("p"), "tariffs")) == "p in tariffs"


def test_format_points_and_modifiers():
    points = A.Points(_n("3"), A.Name("pool_gb"), (A.AtMost(_n("3_000")), A.Rounded("half up")))
    assert format_points(points) == "3 per pool_gb, at most 3_000, rounded half up"
    assert format_modifier(A.Rounded("down", 2)) == "rounded down to 2 decimals"
    assert format_modifier(A.Rounded("up", 1)) == "rounded up to 1 decimal"
    assert format_node(points) == "points 3 per pool_gb, at most 3_000, rounded half up"


def test_format_node_statements_and_members():
    rule = A.Rule("Mobile", A.InTable(A.Name("product"), "mobile"), A.Points(A.Name("x")))
    assert format_node(rule) == 'rule "Mobile" {\n  when product in mobile\n  points x\n}'
    assert format_node(A.Tier("Advanced", _n("7_500"), _n("6_000"))) == "Advanced from 7_500 keep 6_000"
    assert format_node(A.Tier("keep", _n("0"))) == '"keep" from 0'
    decl = A.FieldDecl("customer", "choice", ("new", "walk in"), default=A.Name("new"))
    assert format_node(decl) == 'customer: one of (new, "walk in"), default new'
    assert format_node(A.Downgrade("grace", 2)) == "downgrade after 2 grace periods"


@pytest.mark.parametrize("node", [object(), A.Span("f", 1, 1, 1, 1), "text"])
def test_unknown_node_fails_loudly(node):
    with pytest.raises(TypeError):
        format_node(node)
    with pytest.raises(TypeError):
        format_expr(node)
    with pytest.raises(TypeError):
        format_ruleset(A.Ruleset("f", (node,)))


# --------------------------------------------------------------------------- generated trees

NAMES = st.sampled_from(["a", "qty", "new", "pool_gb", "Größe"])
NUMBERS = st.one_of(
    st.integers(0, 10**9).map(lambda i: A.Number(Decimal(i))),
    st.decimals(0, 10**6, places=2, allow_nan=False, allow_infinity=False).map(A.Number),
)
ATOMS = st.one_of(
    NUMBERS,
    st.integers(0, 200).map(lambda i: A.Percent(Decimal(i) / 100)),
    st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=8).map(A.String),
    st.dates(date(1990, 1, 1), date(2100, 12, 31)).map(A.DateLit),
    NAMES.map(A.Name),
)


def _compound_expr(inner):
    return st.one_of(
        st.builds(A.BinOp, st.sampled_from("+-*/"), inner, inner),
        st.builds(A.Neg, inner),
        st.builds(A.TableLookup, st.sampled_from(["t", "rates"]), st.lists(inner, min_size=1, max_size=2).map(tuple)),
        st.builds(A.Call, st.sampled_from(["min", "max"]), st.lists(inner, min_size=1, max_size=3).map(tuple)),
    )


EXPRS = st.recursive(ATOMS, _compound_expr, max_leaves=12)
TESTS = st.one_of(
    st.builds(A.Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), EXPRS, EXPRS),
    st.builds(A.InList, EXPRS, st.lists(EXPRS, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(A.InTable, EXPRS, st.sampled_from(["t", "rates"]), st.booleans()),
)


def _compound_cond(inner):
    # The parser flattens `a and (b and c)`, so a junction never holds one of its own kind.
    def items(kind):
        return st.lists(inner.filter(lambda c: not isinstance(c, kind)), min_size=2, max_size=3).map(tuple)
    return st.one_of(st.builds(A.And, items(A.And)), st.builds(A.Or, items(A.Or)), st.builds(A.Not, inner))


CONDS = st.recursive(TESTS, _compound_cond, max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=CONDS, expr=EXPRS)
def test_generated_conditions_and_formulas_parse_back_to_the_same_tree(cond, expr):
    text = f'rule "generated" {{\n  when {format_cond(cond)}\n  points {format_expr(expr)}\n}}\n'
    rule = parse(text).rules[0]
    assert rule.when == cond
    assert rule.points.expr == expr
    assert fmt(text) == text


@pytest.mark.parametrize("value", ["a\\b", "C:\\temp\\", 'say "\\no"'])
def test_strings_with_backslashes_round_trip(value):
    text = format_node(A.Rule("r", A.Compare("==", A.Name("x"), A.String(value)), A.Points(_n("1"))))
    assert parse(text).rules[0].when.right == A.String(value)


# Names where the grammar takes a name or a string: keywords and odd text must come back as written.
WORDS = st.one_of(
    st.sampled_from(sorted(KEYWORDS) + ["new", "Basic", "Größe", "x_1"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), min_size=1, max_size=10),
)
IDENTS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda w: w not in KEYWORDS)
WHOLE = st.integers(0, 10**7).map(lambda i: A.Number(Decimal(i)))
SIGNED = st.integers(-1000, 10**7).map(lambda i: A.Number(Decimal(i)))
LITERALS = st.one_of(SIGNED, st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=8).map(A.String),
                     IDENTS.map(A.Name), st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(A.DateLit))


def _field(name, kind, choices, required, unique, default):
    return A.FieldDecl(name, kind, choices if kind == "choice" else (), (), required, unique, default)


FIELDS = st.builds(_field, WORDS, st.sampled_from(A.FIELD_KINDS), st.lists(WORDS, min_size=1, max_size=3).map(tuple),
                   st.booleans(), st.booleans(), st.none() | LITERALS)
TIERS = st.builds(A.Tier, WORDS, SIGNED, st.none() | WHOLE)


def _table(name, keys, rows):
    two = len(keys) == 2
    return A.Table(name, keys, tuple(A.TableRow(k, cells if two else cells[:1]) for k, cells in rows))


CELLS = st.lists(st.builds(A.Cell, WORDS, SIGNED), min_size=1, max_size=3).map(tuple)
ONE_KEY_CELLS = SIGNED.map(lambda n: (A.Cell(None, n),))
TABLES = st.one_of(
    st.builds(_table, IDENTS, IDENTS.map(lambda k: (k,)), st.lists(st.tuples(WORDS, ONE_KEY_CELLS), max_size=3)),
    st.builds(_table, IDENTS, st.tuples(IDENTS, IDENTS), st.lists(st.tuples(WORDS, CELLS), max_size=3)),
)
EXPECTS = st.one_of(st.builds(A.Expect, st.just("points"), SIGNED), st.builds(A.Expect, st.just("tier"), WORDS),
                    st.just(A.Expect("unscored")))
CONTRACTS = st.lists(st.tuples(WORDS, LITERALS), max_size=3).map(lambda fs: A.ExampleContract(tuple(fs)))
DOWNGRADES = st.one_of(st.just(A.Downgrade("earned")),
                       st.builds(A.Downgrade, st.sampled_from(["levels", "grace"]), st.integers(1, 3)))
STATEMENTS = st.one_of(
    st.builds(A.InputBlock, st.sampled_from(["contract", "quality"]), st.lists(FIELDS, max_size=4).map(tuple)),
    st.builds(A.Tiers, st.lists(TIERS, max_size=4).map(tuple)),
    TABLES,
    st.builds(A.Example, WORDS, st.lists(CONTRACTS, max_size=2).map(tuple), st.lists(EXPECTS, max_size=3).map(tuple)),
    st.builds(A.Review, st.lists(st.builds(A.LegacyMap, WORDS, WORDS), max_size=3).map(tuple),
              st.none() | DOWNGRADES, st.none() | WORDS),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements=st.lists(STATEMENTS, min_size=1, max_size=4))
def test_generated_statements_parse_back_to_the_same_tree(statements):
    ruleset = A.Ruleset("generated.rules", tuple(statements))
    text = format_ruleset(ruleset)
    assert parse(text, "generated.rules") == ruleset
    assert fmt(text) == text


def _commented_bases() -> list[str]:
    names = ("every_statement.in.rules", "comments.in.rules", "messy_spacing.in.rules", "precedence.in.rules")
    return [(FIXTURES / n).read_text(encoding="utf-8") for n in names]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(_commented_bases()), data=st.data())
def test_comments_anywhere_are_kept_and_formatting_is_idempotent(base, data):
    lines = base.split("\n")
    picks = data.draw(st.lists(st.tuples(st.integers(0, len(lines) - 1), st.booleans()), max_size=8))
    for n, (index, trailing) in enumerate(sorted(picks, reverse=True)):
        if trailing:
            lines[index] += f"  # trailing {n}"
        else:
            lines.insert(index, f"# own line {n}")
    text = "\n".join(lines)
    once = fmt(text)
    assert fmt(once) == once
    assert sorted(c.text for c in parse(once).comments) == sorted(c.text for c in parse(text).comments)
    assert same_meaning(parse(once), parse(text))


def test_opening_comments_stay_at_the_top_when_the_header_moves():
    source = '# Program of 2019.\n\n# Why A.\nrule "A" { points 1 }\nprogram "P"\n'
    out = fmt(source)
    assert out == '# Program of 2019.\n\nprogram "P"\n\n# Why A.\nrule "A" {\n  points 1\n}\n'
    assert fmt(out) == out
