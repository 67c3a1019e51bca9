"""dsl.checks: one runner over tests/fixtures/checks, exact renderings, and robustness.

Fixtures: `CODE.bad.rules` must give exactly the findings listed (as headlines) in
`CODE.bad.expected`; `CODE.good.rules` must give no finding at all. A suffix after the code
(`N204-quality`) names a second case of the same code.
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from dsl import ast as A
from dsl import parse
from dsl.checks import check
from dsl.checks_static import number_words

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
DOCS = Path(__file__).parent.parent / "docs" / "errors"
BAD = sorted(FIXTURES.glob("*.bad.rules"))
GOOD = sorted(FIXTURES.glob("*.good.rules"))


def _findings(path: Path):
    return check(parse(path.read_text(encoding="utf-8"), path.name))


def _code(path: Path) -> str:
    return path.name.split(".")[0].split("-")[0]


@pytest.mark.parametrize("path", BAD, ids=[p.name.removesuffix(".rules") for p in BAD])
def test_bad_fixture_gives_exactly_the_expected_findings(path):
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    got = [d.headline() for d in _findings(path)]
    assert got == expected
    assert any(f" {_code(path)}: " in line for line in got)


@pytest.mark.parametrize("path", GOOD, ids=[p.name.removesuffix(".rules") for p in GOOD])
def test_good_fixture_gives_no_finding(path):
    assert [d.headline() for d in _findings(path)] == []


def _codes_in_source() -> set[str]:
    root = Path(__file__).parent.parent / "dsl"
    text = (root / "checks.py").read_text() + (root / "checks_static.py").read_text()
    return set(re.findall(r'"([NW][23]\d\d)"', text))


def test_every_code_has_a_bad_and_a_good_fixture_and_a_doc_page():
    codes = _codes_in_source()
    assert len(codes) >= 30
    for code in sorted(codes):
        assert (FIXTURES / f"{code}.bad.rules").exists(), code
        assert (FIXTURES / f"{code}.good.rules").exists(), code
        assert (DOCS / f"{code}.md").exists(), code
        assert f"[{code}]({code}.md)" in (DOCS / "README.md").read_text(), code


def _render(text: str) -> str:
    return "\n".join(d.render(text) for d in check(parse(text, "demo.rules")))


def _fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_unknown_field_rendered_with_did_you_mean():
    assert _render(_fixture_text("N210.bad.rules")) == (
        "demo.rules:29:46: error N210: `quantiy` is not a field of input contract; did you mean quantity?\n"
        "  29 |   points mobile_tariffs[product, customer] * quantiy\n"
        "                                                    ^^^^^^^\n"
        "  hint: the fields are contract_id, partner_id, signed, product, customer, quantity, pool_gb"
    )


def test_tier_typo_rendered_with_did_you_mean():
    assert _render(_fixture_text("N224.bad.rules")) == (
        "demo.rules:45:3: error N224: there is no tier Expret; did you mean Expert?\n"
        "  45 |   expect tier Expret\n"
        "         ^^^^^^^^^^^^^^^^^^\n"
        "  hint: the tiers are Basic, Advanced, Expert"
    )


def test_thresholds_out_of_order_rendered():
    assert _render(_fixture_text("N221.bad.rules")) == (
        "demo.rules:19:17: error N221: tier Expert from 10_000 must be above Advanced from 15_000: "
        "thresholds rise in the order written\n"
        "  19 |   Expert   from 10_000\n"
        "                       ^^^^^^\n"
        "  hint: list the tiers from the lowest threshold to the highest"
    )


def test_thousands_dot_literal_rendered():
    assert _render(_fixture_text("W301.bad.rules")) == (
        "demo.rules:34:10: warning W301: `1.500` is one and a half; write 1_500 for one thousand five hundred\n"
        "  34 |   points 1.500 per pool_gb, at most 3_000, rounded half up\n"
        "                ^^^^^\n"
        "  hint: write 1.5 if you mean one and a half"
    )


def test_thousands_dot_where_points_are_counted_is_an_error():
    assert _render(_fixture_text("N231.bad.rules").split("\ntable ")[0]) == (
        "demo.rules:18:17: error N231: `7.500` as the threshold of Advanced is seven and a half points; "
        "write 7_500 for seven thousand five hundred\n"
        "  18 |   Advanced from 7.500 keep 6.000\n"
        "                       ^^^^^\n"
        "  hint: there is no thousands separator; write 7_500, or 7.5 if you mean seven and a half\n"
        "demo.rules:18:28: error N231: `6.000` as the `keep` target of Advanced is six points; "
        "write 6_000 for six thousand\n"
        "  18 |   Advanced from 7.500 keep 6.000\n"
        "                                  ^^^^^\n"
        "  hint: there is no thousands separator; write 6_000, or 6 if you mean six"
    )


@pytest.mark.parametrize("text, words", [
    ("7.5", "seven and a half"), ("7_500", "seven thousand five hundred"), ("1", "one"),
    ("15_000", "fifteen thousand"), ("0.25", "a quarter"), ("2.125", "two point one two five"),
    ("1_234_567", "one million two hundred thirty-four thousand five hundred sixty-seven"),
])
def test_number_words(text, words):
    assert number_words(text) == words


def test_w301_for_one_thousand_and_fifteen_thousand():
    text = _fixture_text("W301.good.rules").replace("points 3 per pool_gb", "points 1.000 * 15.000 * pool_gb")
    messages = [d.message for d in check(parse(text, "x.rules")) if d.code == "W301"]
    assert messages == ["`1.000` is one; write 1_000 for one thousand",
                        "`15.000` is fifteen; write 15_000 for fifteen thousand"]


def test_n231_for_caps_and_floors_and_w301_inside_their_formulas():
    text = _fixture_text("W301.good.rules").replace("at most 3_000", "at most 1.000, at least 2 * 1.125")
    found = [(d.code, d.message) for d in check(parse(text, "x.rules")) if d.code in ("W301", "N231")]
    assert found == [("N231", "`1.000` as the cap `at most` is one point; write 1_000 for one thousand"),
                     ("W301", "`1.125` is one point one two five; write 1_125 for one thousand one hundred "
                              "twenty-five")]


def test_findings_are_sorted_and_carry_hints():
    text = _fixture_text("N210.bad.rules").replace("Advanced from 7_500", "Advanced from 7.500")
    found = check(parse(text, "x.rules"))
    assert [d.code for d in found] == ["N231", "N210"]
    assert all(d.hint for d in found)


def test_rules_whose_products_do_not_meet_do_not_overlap_under_exclusive():
    text = _fixture_text("W303.good.rules").replace(
        '\nexample', '\nrule "Existing M" {\n  when product == "O2 Business M" and customer == existing\n'
        '  points 5\n}\n\nrule "New M" {\n  when product == "O2 Business M" and not (customer != new)\n'
        '  points 6\n}\n\nexample')
    pairs = [d.message for d in check(parse(text, "x.rules")) if d.code == "W303"]
    assert len(pairs) == 2  # each of the two new rules overlaps "Mobile tariffs", not each other
    assert all('"Mobile tariffs"' in m for m in pairs)


def test_optional_field_negation_is_not_a_contradiction():
    text = _fixture_text("W305.good.rules").replace(
        "input contract {", "input contract {\n  region: text").replace(
        'when product == "O2 Unite Pool" or product == "O2 Unite"',
        'when product == "O2 Unite Pool" and not (region == "A") and not (region != "A")')
    assert [d.code for d in check(parse(text, "x.rules"))] == []  # a missing region satisfies both


SHIPPED = sorted((Path(__file__).parent.parent / "rulesets").glob("*/*.rules"))


def test_the_shipped_rulesets_are_clean():
    assert SHIPPED
    for path in SHIPPED:
        assert _findings(path) == [], path


def test_the_shipped_rulesets_have_no_overlap_even_under_combine_exclusive():
    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        assert "combine sum" in text
        found = check(parse(text.replace("combine sum", "combine exclusive"), path.name))
        assert found == [], path


# --------------------------------------------------------------------------- robustness

S = A.Span("h.rules", 1, 1, 1, 2)
_names = st.sampled_from(["product", "customer", "quantity", "nwe", "new", "true", "x", "mobile_tariffs"])
_exprs = st.recursive(
    st.one_of(_names.map(A.Name), st.just(A.Number(Decimal("7.500"), "7.500")), st.just(A.String("S")),
              st.just(A.DateLit(__import__("datetime").date(2016, 1, 1))), st.just(A.Percent(Decimal("0.05"), "5%"))),
    lambda inner: st.one_of(
        st.builds(A.BinOp, st.sampled_from("+-*/"), inner, inner), st.builds(A.Neg, inner),
        st.builds(A.Call, st.just("min"), st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(A.TableLookup, st.sampled_from(["mobile_tariffs", "nope"]), st.lists(inner, max_size=3).map(tuple))),
    max_leaves=6)
_conds = st.recursive(
    st.one_of(st.builds(A.Compare, st.sampled_from(["==", "!=", "<", ">="]), _exprs, _exprs),
              st.builds(A.InList, _exprs, st.lists(_exprs, min_size=1, max_size=3).map(tuple), st.booleans()),
              st.builds(A.InTable, _exprs, st.sampled_from(["mobile_tariffs", "nope"]), st.booleans())),
    lambda inner: st.one_of(st.builds(A.And, st.lists(inner, min_size=1, max_size=3).map(tuple)),
                            st.builds(A.Or, st.lists(inner, min_size=1, max_size=3).map(tuple)),
                            st.builds(A.Not, inner)),
    max_leaves=8)
_mods = st.lists(st.one_of(st.builds(A.AtMost, _exprs), st.builds(A.AtLeast, _exprs),
                           st.builds(A.Rounded, st.just("half up"))), max_size=3).map(tuple)
_rules = st.builds(A.Rule, st.sampled_from(["A", "a", "B"]), st.one_of(st.none(), _conds),
                   st.builds(A.Points, _exprs, st.one_of(st.none(), _names.map(A.Name)), _mods))


@settings(max_examples=60, deadline=None)
@given(rules=st.lists(_rules, max_size=4), mode=st.sampled_from(["sum", "first", "exclusive"]))
def test_check_never_raises_on_odd_rules(rules, mode):
    base = parse(_fixture_text("N210.good.rules"), "h.rules")
    ruleset = A.Ruleset("h.rules", base.statements + (A.CombineDecl(mode),) + tuple(rules))
    for d in check(ruleset):
        assert d.code[0] in "NW" and d.message and d.span is not None


def _doc_message(code: str) -> str:
    doc = (DOCS / f"{code}.md").read_text(encoding="utf-8")
    match = re.search(rf"gives\n\n```\n(?:error|warning) {code}: (.*)\n```", doc)
    assert match, code
    return match.group(1)


@pytest.mark.parametrize("code", sorted(_codes_in_source()))
def test_doc_page_shows_a_message_the_checker_really_gives(code):
    def norm(message: str) -> str:  # doc snippets are shorter than fixtures: line numbers differ
        return re.sub(r"line \d+", "line N", message)
    given = {norm(line.split(f" {code}: ", 1)[1]) for f in FIXTURES.glob(f"{code}*.bad.expected")
             for line in f.read_text(encoding="utf-8").splitlines() if f" {code}: " in line}
    assert norm(_doc_message(code)) in given


@settings(max_examples=60, deadline=None)
@given(picks=st.lists(st.integers(min_value=0, max_value=200), max_size=14))
def test_check_never_raises_on_missing_or_repeated_statements(picks):
    statements = parse(_fixture_text("N226.good.rules") + _fixture_text("N224-review.good.rules"), "h.rules").statements
    chosen = tuple(statements[i % len(statements)] for i in picks)
    for d in check(A.Ruleset("h.rules", chosen)):
        assert d.severity in ("error", "warning") and d.message


@pytest.mark.parametrize("condition, never", [
    ("quantity > 2 and quantity < 3", True),        # no whole number between
    ("pool_gb > 2 and pool_gb < 3", False),         # decimals fit between
    ("quantity >= 3 and quantity <= 3", False),
    ("quantity > 3 and quantity <= 3", True),
    ("quantity < 1", True),                         # below the declared bound `>= 1`
    ("signed >= 2016-06-01 and signed < 2016-01-01", True),
    ("customer != new and customer != existing", True),
    ("customer in (new, existing) and not (customer in (new))", False),
    ("product in mobile_tariffs and product == \"O2 Unite Pool\"", True),
    ("product not in mobile_tariffs and product == \"O2 Business S\"", True),
    ("(product == \"A\" or product == \"B\") and product != \"A\"", False),
])
def test_never_matching_conditions(condition, never):
    text = _fixture_text("W305.good.rules").replace(
        'when product == "O2 Unite Pool" or product == "O2 Unite"', f"when {condition}")
    codes = [d.code for d in check(parse(text, "x.rules"))]
    assert ("W305" in codes) == never, codes
