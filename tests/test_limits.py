"""The language's limits: one range of numbers, bounded counts, huge rulesets, line breaks in excerpts.

- Every number a ruleset writes fits DECIMAL(28,10) (dsl.limits); beyond it `check` reports P115 at
  the number, without converting the text (Python's int() refuses more than 4,300 digits).
- Input values are held to the same range.
- A huge ruleset is refused by a documented limit (P121) or checked in time linear in its size.
- A line is what the language counts as one (`\\n` ends it); the excerpt under a message shows that
  line, whatever other line-break characters a comment holds.
"""
from __future__ import annotations

import io
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest

from dsl.checks import check
from dsl.errors import RulesetError, source_lines
from dsl.limits import text_problem, value_problem
from dsl.parser import parse
from engine.cli import main
from engine.examples import run_all
from engine.explain import source_text
from engine.program import load_program
from engine.validate import RowReject, RowValidator

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "rulesets" / "o2-business" / "2017-01.rules").read_text(encoding="utf-8")
HEAD = SOURCE.split("# Published thresholds")[0]  # header and input blocks
HUGE = "9" * 5000


def _p115(text: str) -> list[str]:
    with pytest.raises(RulesetError) as err:
        parse(text, "x.rules")
    found = [d for d in err.value.diagnostics if d.code == "P115"]
    assert found, [d.headline() for d in err.value.diagnostics]
    assert str(err.value)  # renders with its excerpt
    return [d.headline() for d in found]


def _run(argv: list[str]) -> tuple[int, str]:
    out, errs = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errs):
        code = main(argv)
    return code, out.getvalue() + errs.getvalue()


# --------------------------------------------------------------------------- numbers in a ruleset


@pytest.mark.parametrize("old, new", [
    ("sustained 3 periods", f"sustained {HUGE} periods"),
    ("at least 5 reports", f"at least {HUGE} reports"),
    ("downgrade to earned", f"downgrade at most {HUGE} levels"),
    ("downgrade to earned", f"downgrade after {HUGE} grace periods"),
    ("rounded half up", f"rounded half up to {HUGE} decimals"),
    ("rounded half up", "rounded half up to 11 decimals"),
    ("sustained 3 periods", "sustained 1_001 periods"),
    ("new 80,", f"new {HUGE},"),  # a table cell
    ("new 80,", "new 1_000_000_000_000_000_000,"),  # 19 digits
    ("new 80,", "new 0.00000000001,"),  # 11 decimals
    ("Advanced   from 8_000", "Advanced   from 10_000_000_000_000_000_000"),  # a tier
    ("quantity, at most 700", f"quantity, at most {'9' * 4200}"),  # a cap
    ("quantity:    integer >= 1, default 1", f"quantity:    integer >= 1, default {'9' * 1001}"),
    ("quantity:    integer >= 1", "quantity:    integer >= 0.000000000001"),  # a bound
    ('when product == "O2 Digital Phone"\n', 'when product == "O2 Digital Phone" and quantity < 1e\n'.replace(
        "1e", "1" + "0" * 30)),  # a condition
    ("above 5%", "above 0.000000001%"),  # a percentage: 1e-11
    ("pool_gb: 1_500 }", f"pool_gb: {HUGE} }}"),  # an example value
    ("expect 800 points", f"expect {HUGE} points"),
    ('version "2017.01"', f'version "{HUGE}"'),
])
def test_out_of_range_literals_are_p115_at_the_number(old, new):
    assert old in SOURCE
    line = SOURCE[:SOURCE.index(old)].count("\n") + 1
    found = _p115(SOURCE.replace(old, new, 1))
    assert any(h.startswith(f"x.rules:{line}:") for h in found), found


def test_numbers_at_the_bound_are_accepted():
    text = SOURCE.replace("new 80,", "new 999_999_999_999_999_999.999_999_999_9,").replace(
        "at most 700", "at most 0.0000000001").replace("above 5%", "above 99_999_999_999_999_999_999.99%").replace(
        "rounded half up", "rounded half up to 10 decimals").replace("sustained 3 periods", "sustained 1_000 periods")
    check(parse(text, "x.rules"))  # no syntax error
    assert text_problem("000_000_000_000_000_000_000_1.500000000000000") is None  # zeros do not count


def test_value_problem_counts_significant_digits():
    assert value_problem(10 ** 18 - 1) is None and value_problem(-(10 ** 18 - 1)) is None
    assert value_problem(10 ** 18) and value_problem(-(10 ** 18))
    assert value_problem(Decimal("1E+17")) is None and value_problem(Decimal("1E+18"))
    assert value_problem(Decimal("2.5000000000000000000")) is None
    assert value_problem(Decimal("1E-10")) is None and value_problem(Decimal("1E-11"))
    assert value_problem(Decimal("0E-50")) is None


@pytest.mark.parametrize("old, new", [
    ("sustained 3 periods", f"sustained {HUGE} periods"),
    ('version "2017.01"', f'version "{HUGE}"'),
    ("quantity, at most 700", f"quantity, at most {'9' * 4200}"),
    ("quantity:    integer >= 1, default 1", f"quantity:    integer >= 1, default {'9' * 1001}"),
])
def test_commands_refuse_out_of_range_rulesets_without_an_internal_error(tmp_path, old, new):
    (tmp_path / "x.rules").write_text(SOURCE.replace(old, new, 1), encoding="utf-8")
    data = tmp_path / "c.csv"
    data.write_text("contract_id,partner_id,signed,product\nC-1,P-1,2017-02-01,O2 Business S\n", encoding="utf-8")
    for argv in (["check", str(tmp_path)], ["test", str(tmp_path)],
                 ["evaluate", str(tmp_path), str(data), "--out", str(tmp_path / "out")]):
        code, text = _run(argv)
        assert code in (1, 2), (argv, code, text[-500:])
        assert "P115" in text


def test_a_product_beyond_exact_arithmetic_is_unscored_not_rounded(tmp_path):
    text = HEAD.replace('pool_gb:     decimal >= 0, required when (product == "O2 Unite Pool")', 'pool_gb:     decimal >= 0, required when (product == "O2 Unite Pool")\n  big: integer, default 0')
    text += ('tiers {\n  Basic from 0\n}\nrule "Square" {\n  points big * big\n}\n'
             'example "square" {\n  contract { product: "X", big: 999_999_999_999_999_999 }\n  expect unscored\n}\n'
             'example "exact" {\n  contract { product: "X", big: 999_999_999 }\n'
             '  expect 999_999_998_000_000_001 points\n}\n')
    (tmp_path / "x.rules").write_text(text, encoding="utf-8")
    runs = run_all(load_program(tmp_path))
    assert [r.failures for r in runs] == [[], []]
    assert "too large to compute exactly" in runs[0].traced[0].reason


# --------------------------------------------------------------------------- numbers in the data


HEADER = ["contract_id", "partner_id", "signed", "product", "quantity", "pool_gb"]
CELLS = [
    ("999999999999999999", "1"), ("1000000000000000000", "1"), ("-1000000000000000000", "1"),
    ("0001", "1"), ("+1", "1"), ("9" * 5000, "1"),
    ("1", "999999999999999999.9999999999"), ("1", "1000000000000000000"), ("1", "0.00000000001"),
    ("1", "2.500000000000000000000"), ("1", "0" * 40 + "1.5"), ("1", "1" * 50), ("1", "-0.00000000001"),
]


def _validator() -> RowValidator:
    text = SOURCE.replace("quantity:    integer >= 1, default 1", "quantity:    integer, default 1").replace(
        'pool_gb:     decimal >= 0, required when (product == "O2 Unite Pool")', "pool_gb:     decimal, default 0")
    return RowValidator(parse(text, "x.rules").input("contract"))


def test_input_values_beyond_the_range_are_rejected_naming_the_field():
    convert = _validator().for_header(HEADER)
    verdicts = []
    for i, (quantity, pool) in enumerate(CELLS):
        try:
            convert([f"C-{i}", "P", "2017-02-01", "X", quantity, pool], i + 2)
            verdicts.append(None)
        except RowReject as reject:
            assert "out of range" in reject.reason, reject.reason
            verdicts.append(reject.field)
    assert verdicts == [None, "quantity", "quantity", None, None, "quantity",
                        None, "pool_gb", "pool_gb", None, None, "pool_gb", "pool_gb"]


def test_json_values_beyond_the_range_are_rejected():
    validator = _validator()
    record = {"contract_id": "C-1", "partner_id": "P", "signed": "2017-02-01", "product": "X"}
    for field, value in [("quantity", 10 ** 18), ("quantity", 1e300), ("pool_gb", 1e19), ("pool_gb", "1" * 30),
                         ("quantity", Decimal("1E+5000"))]:
        with pytest.raises(RowReject, match="out of range") as err:
            validator.convert({**record, field: value})
        assert err.value.field == field
    assert validator.convert({**record, "quantity": 10 ** 18 - 1})["quantity"] == 10 ** 18 - 1


# --------------------------------------------------------------------------- huge rulesets


def _rules(n: int, cond: str, combine: str = "sum", expect: str = "") -> str:
    body = "".join(f'rule "R{i}" {{\n  when {cond}\n  points 1\n}}\n' for i in range(n))
    return HEAD.replace("combine sum", f"combine {combine}") + "tiers {\n  Basic from 0\n}\n" + body + expect


def test_a_50000_term_condition_is_refused_where_the_limit_is_crossed():
    cond = " and ".join(["quantity >= 1"] * 50_000)
    text = _rules(1, cond)
    assert len(text) < 1_000_000
    with pytest.raises(RulesetError) as err:
        parse(text, "x.rules")
    [diag] = err.value.diagnostics
    assert diag.code == "P121" and "rule is too long" in diag.message
    assert diag.span.line == text[:text.index(cond)].count("\n") + 1 and diag.span.column > 1


def test_a_long_condition_under_the_limit_is_checked_and_run():
    text = _rules(1, " and ".join(["quantity >= 1"] * 2_000),
                  expect='example "one" {\n  contract { product: "X" }\n  expect 1 points\n}\n')
    assert [d.code for d in check(parse(text, "x.rules"))] == []


def test_5000_matching_rules_are_checked_and_tested(tmp_path):
    example = 'example "all" {\n  contract { product: "X" }\n  expect 5_000 points\n}\n'
    (tmp_path / "x.rules").write_text(_rules(5_000, "quantity >= 1", expect=example), encoding="utf-8")
    [run] = run_all(load_program(tmp_path))
    assert run.passed and run.points == 5_000


def test_5000_overlapping_rules_under_first_give_one_warning_each():
    found = check(parse(_rules(5_000, "quantity >= 1", "first"), "x.rules"))
    assert [d.code for d in found] == ["W303"] * 4_999
    assert all('shadowed by "R0"' in d.message for d in found)


def test_rules_pinned_to_products_are_compared_only_within_their_product():
    body = "".join(f'rule "R{i}" {{\n  when product == "P{i % 1000}"\n  points 1\n}}\n' for i in range(2_000))
    text = HEAD.replace("combine sum", "combine exclusive") + "tiers {\n  Basic from 0\n}\n" + body
    found = check(parse(text, "x.rules"))
    assert len(found) == 1_000 and all(d.code == "W303" for d in found)
    assert found[0].message.startswith('rule "R1000" can match the same contract as "R0"')


# W308 (comparisons stop after MAX_OVERLAP_TESTS pairs) is shown by tests/fixtures/checks/W308.bad.rules.


# --------------------------------------------------------------------------- line breaks


BREAKS = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r"]


@pytest.mark.parametrize("char", BREAKS, ids=[f"U+{ord(c):04X}" for c in BREAKS])
def test_the_excerpt_shows_the_line_the_headline_names(char):
    text = f'program "P"\n# a comment{char}with a break\nversion "1"\neffective 2017-01-01\nperiod fortnight\n'
    with pytest.raises(RulesetError) as err:
        parse(text, "x.rules")
    [diag] = err.value.diagnostics
    assert diag.span.line == 5
    lines = str(err.value).split("\n")
    assert lines[0].startswith("x.rules:5:8: error P112")
    assert lines[1] == "   5 | period fortnight"
    assert lines[2] == "              ^^^^^^^^^"


@pytest.mark.parametrize("char", BREAKS, ids=[f"U+{ord(c):04X}" for c in BREAKS])
def test_an_excerpt_of_a_line_holding_a_break_character_stays_one_line(char):
    text = f'program "P"\nversion "1"  # odd{char}comment\neffective 2017-02-30\n'
    with pytest.raises(RulesetError) as err:
        parse(text, "x.rules")
    assert str(err.value).split("\n")[1] == "   3 | effective 2017-02-30"
    assert source_lines(text)[1] == 'version "1"  # odd' + char + "comment"
    shown = [line for line in (d.render(f'program "P"\n# odd{char}x\nperiod fortnight\n')
                               for d in err.value.diagnostics)]
    assert all(char not in line for line in shown)


def test_windows_line_ends_count_once():
    text = 'program "P"\r\nversion "1"\r\neffective 2017-01-01\r\nperiod fortnight\r\n'
    with pytest.raises(RulesetError) as err:
        parse(text, "x.rules")
    assert str(err.value).split("\n")[:2] == ["x.rules:4:8: error P112: unknown period `fortnight`",
                                              "   4 | period fortnight"]


@pytest.mark.parametrize("char", BREAKS, ids=[f"U+{ord(c):04X}" for c in BREAKS])
def test_explain_quotes_the_source_of_the_right_line(char):
    text = SOURCE.replace("# Fixed-line orders:", f"# Fixed-line{char}orders:")
    ruleset = parse(text, "x.rules")
    rule = next(r for r in ruleset.rules if r.name == "Fixed-line orders")
    assert source_text({"x.rules": text}, rule.when.span) == "product in fixed_line"
