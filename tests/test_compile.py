"""The compiler on hand-built ASTs: plan fields, index, key fields, tiers, compile errors."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from dsl import ast
from engine import trace
from engine.compile import compile_ruleset
from engine.periods import next_period, period_bounds, period_of, period_sort_key


def sp(line: int, column: int = 1) -> ast.Span:
    return ast.Span("t.rules", line, column, line, column + 10)


def num(text: str) -> ast.Number:
    return ast.Number(D(text), text)


def name(n: str, line: int = 1) -> ast.Name:
    return ast.Name(n, sp(line))


def field(n: str, kind: str, **kw) -> ast.FieldDecl:
    return ast.FieldDecl(n, kind, **kw)


FIELDS = ast.InputBlock("contract", (
    field("contract_id", "text"), field("partner_id", "text"), field("signed", "date"),
    field("product", "text"), field("customer", "choice", choices=("new", "existing")),
    field("quantity", "integer"), field("pool_gb", "decimal"), field("region", "text"),
))

TARIFFS = ast.Table("tariffs", ("product", "customer"), (
    ast.TableRow("S", (ast.Cell("new", num("100")), ast.Cell("existing", num("40"))), sp(10)),
    ast.TableRow("M", (ast.Cell("new", num("180")),), sp(11)),
), sp(9))


def rule(title: str, when, expr, line: int, per=None, mods=()) -> ast.Rule:
    return ast.Rule(title, when, ast.Points(expr, per, tuple(mods), sp(line + 2)), sp(line))


def ruleset(*statements, combine: str = "sum") -> ast.Ruleset:
    head = (ast.ProgramDecl("P"), ast.VersionDecl("1"), ast.EffectiveDecl(date(2016, 3, 1)),
            ast.CombineDecl(combine), FIELDS, TARIFFS)
    return ast.Ruleset("t.rules", head + statements)


def product_is(value: str, line: int) -> ast.Compare:
    return ast.Compare("==", name("product", line), ast.String(value, sp(line, 20)), sp(line, 8))


MOBILE = rule("Mobile tariffs", ast.InTable(name("product"), "tariffs", span=sp(20)),
              ast.TableLookup("tariffs", (name("product"), name("customer")), sp(21)), 19)
POOL = rule("Pool volume", product_is("Pool", 30), num("3"), 29, per=name("pool_gb"),
            mods=[ast.AtMost(num("3000"), sp(31)), ast.Rounded("half up", 0, sp(31, 20))])
BONUS = rule("Bonus", ast.Compare(">=", name("quantity"), num("10"), sp(40)), num("5"), 39)
FAX_OR_TEL = rule("Fax or phone", ast.InList(name("product"), (ast.String("Fax"), ast.String("Tel")),
                                               span=sp(50)), num("1"), 49)

BASE = {"contract_id": "c1", "partner_id": "p", "signed": date(2016, 4, 1), "product": "S",
        "customer": "new", "quantity": 1, "pool_gb": None, "region": "north"}


def rec(**kw) -> dict:
    return {**BASE, **kw}


def test_plan_header_and_tiers():
    tiers = ast.Tiers((ast.Tier("Basic", num("0")), ast.Tier("Advanced", num("7500"), num("6000"), sp(3)),
                       ast.Tier("Expert", num("15000"))))
    plan = compile_ruleset(ruleset(tiers, MOBILE, combine="first"))
    assert (plan.program, plan.version, plan.effective, plan.period, plan.combine) == (
        "P", "1", date(2016, 3, 1), "year", "first")
    assert [t.name for t in plan.tiers] == ["Basic", "Advanced", "Expert"]
    assert plan.tiers[1].keep == D(6000) and plan.tiers[1].span == sp(3)
    assert plan.tier_for(D("7499.99")) == "Basic"
    assert plan.tier_for(D(7500)) == "Advanced"
    assert plan.tier_for(D(99999)) == "Expert"
    assert plan.tier_for(D(-5)) == "Basic"


def test_no_tiers_gives_none():
    assert compile_ruleset(ruleset(MOBILE)).tier_for(D(10)) is None


def test_index_puts_pinned_rules_under_their_products_in_file_order():
    plan = compile_ruleset(ruleset(MOBILE, POOL, BONUS, FAX_OR_TEL))
    assert plan.products == frozenset({"S", "M", "Pool", "Fax", "Tel"})
    assert [r.id for r in plan.candidates("S")] == ["mobile-tariffs", "bonus"]
    assert [r.id for r in plan.candidates("Pool")] == ["pool-volume", "bonus"]
    assert [r.id for r in plan.candidates("Tel")] == ["bonus", "fax-or-phone"]
    assert [r.id for r in plan.candidates("Unknown")] == ["bonus"]


def test_index_intersects_several_pins_and_ignores_negated_ones():
    both = rule("Both", ast.And((product_is("S", 60),
                                  ast.InList(name("product"), (ast.String("S"), ast.String("M")), span=sp(60)))),
                num("1"), 59)
    negated = rule("Not S", ast.InList(name("product"), (ast.String("S"),), negated=True, span=sp(70)),
                   num("1"), 69)
    plan = compile_ruleset(ruleset(both, negated))
    assert [r.id for r in plan.candidates("S")] == ["both", "not-s"]
    assert [r.id for r in plan.candidates("M")] == ["not-s"]


def test_key_fields_are_the_fields_rules_read():
    plan = compile_ruleset(ruleset(MOBILE, POOL, BONUS))
    assert set(plan.key_fields) == {"product", "customer", "pool_gb", "quantity"}
    assert "region" not in plan.key_fields


def test_score_sum_of_table_and_bonus():
    plan = compile_ruleset(ruleset(MOBILE, POOL, BONUS))
    score = plan.score(rec(product="S", quantity=12))
    assert score.status == "scored" and score.points == D(105)
    assert [(c.rule_id, c.points) for c in score.contributions] == [("mobile-tariffs", 100), ("bonus", 5)]
    assert score.contributions[0].span == sp(19)


def test_per_cap_and_rounding():
    plan = compile_ruleset(ruleset(POOL))
    assert plan.score(rec(product="Pool", pool_gb=D("10.5"))).points == D("32")
    assert plan.score(rec(product="Pool", pool_gb=D(2000))).points == D(3000)


def test_unscored_reasons():
    plan = compile_ruleset(ruleset(MOBILE, POOL))
    assert plan.score(rec(product="Fax")).reason == "unknown product 'Fax'"
    missing = plan.score(rec(product="M", customer="existing"))
    assert missing.status == "unscored" and missing.points == 0
    assert missing.reason == 'rule "Mobile tariffs": table tariffs has no cell for product \'M\', customer \'existing\''
    assert plan.score(rec(product="Pool")).reason == 'rule "Pool volume": field pool_gb is empty'


def test_no_rule_matches_for_known_product():
    plan = compile_ruleset(ruleset(BONUS, FAX_OR_TEL, combine="first"))
    assert plan.score(rec(product="Fax", quantity=1)).status == "scored"
    plan = compile_ruleset(ruleset(BONUS))
    assert plan.score(rec(quantity=1)).reason == "no rule matches"


def test_division_by_zero_names_rule():
    div = rule("Share", None, ast.BinOp("/", num("10"), name("quantity"), sp(80)), 79)
    score = compile_ruleset(ruleset(div)).score(rec(quantity=0))
    assert score.status == "unscored"
    assert score.reason.startswith('rule "Share": division by zero at t.rules:80')


def test_first_traces_shadowed_rules_without_changing_the_score():
    plan = compile_ruleset(ruleset(BONUS, MOBILE, combine="first"))
    tracer = trace.Tracer()
    score = plan.score(rec(product="S", quantity=20), tracer)
    assert score == plan.score(rec(product="S", quantity=20))
    assert [c.rule_id for c in score.contributions] == ["bonus"]
    shadowed = [e for e in tracer.events if isinstance(e, trace.RuleShadowed)]
    assert [(e.rule_id, e.by_rule_id) for e in shadowed] == [("mobile-tariffs", "bonus")]


@pytest.mark.parametrize("statement, words", [
    (rule("Bad", None, ast.String("x", sp(5)), 4), "t.rules:5:1: a text cannot be used in arithmetic"),
    (rule("Bad", None, name("region", 6), 4), "field `region` is text, not a number"),
    (rule("Bad", None, name("nothing", 6), 4), "`nothing` is not a field"),
    (rule("Bad", None, ast.TableLookup("nope", (name("product"),), sp(7)), 4), "there is no table `nope`"),
    (rule("Bad", None, ast.TableLookup("tariffs", (name("product"),), sp(7)), 4), "looked up by 2 key(s), got 1"),
    (rule("Bad", None, num("1"), 4, per=name("region", 8)), "t.rules:8:1: field `region` is text"),
    (rule("Bad", None, ast.Call("avg", (num("1"),), sp(9)), 4), "`avg` needs to be min or max"),
])
def test_impossible_rules_raise_value_error_naming_the_span(statement, words):
    with pytest.raises(ValueError) as err:
        compile_ruleset(ruleset(statement))
    assert words in str(err.value)


def test_duplicate_rule_ids_are_refused():
    with pytest.raises(ValueError, match="same id `bonus`"):
        compile_ruleset(ruleset(BONUS, rule("BONUS!", None, num("1"), 90)))


def test_without_product_field_every_rule_is_a_candidate():
    block = ast.InputBlock("contract", (field("quantity", "integer"),))
    rs = ast.Ruleset("t.rules", (block, BONUS))
    plan = compile_ruleset(rs)
    assert plan.products == frozenset() and plan.key_fields == ("quantity",)
    assert plan.score({"quantity": 10}).points == 5
    assert plan.score({"quantity": 1}).reason == "no rule matches"


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize("unit, label", [("year", "2016"), ("quarter", "2016-Q2"), ("month", "2016-05")])
def test_period_of(unit, label):
    assert period_of(date(2016, 5, 31), unit) == label


def test_period_bounds():
    assert period_bounds("2016", "year") == (date(2016, 1, 1), date(2016, 12, 31))
    assert period_bounds("2016-Q4", "quarter") == (date(2016, 10, 1), date(2016, 12, 31))
    assert period_bounds("2016-02", "month") == (date(2016, 2, 1), date(2016, 2, 29))
    with pytest.raises(ValueError, match="no quarter period"):
        period_bounds("2016-02", "quarter")
    with pytest.raises(ValueError, match="is no period"):
        period_bounds("2016-13", "month")


def test_period_sort_key_and_next():
    labels = ["2017-Q1", "2016-Q4", "2016-Q2"]
    assert sorted(labels, key=period_sort_key) == ["2016-Q2", "2016-Q4", "2017-Q1"]
    assert sorted(["2016-10", "2016-09"], key=period_sort_key) == ["2016-09", "2016-10"]
    assert next_period("2016-Q4", "quarter") == "2017-Q1"
    assert next_period("2016-12", "month") == "2017-01"
    assert next_period("2016", "year") == "2017"
    with pytest.raises(ValueError):
        period_of(date(2016, 1, 1), "week")


def test_numbers_beyond_the_context_make_the_contract_unscored():
    huge = rule("Huge", None, ast.BinOp("*", name("pool_gb"), name("pool_gb"), sp(95)), 94)
    score = compile_ruleset(ruleset(huge)).score(rec(pool_gb=D("1E+999999")))
    assert score.status == "unscored"
    assert score.reason.startswith('rule "Huge": the numbers are too large to compute exactly '
                                   '(more than 28 significant digits) at ')
    assert score.code == "too-large"


def test_a_boolean_key_is_looked_up_by_its_word():
    block = ast.InputBlock("contract", (field("vip", "boolean"),))
    table = ast.Table("bonus", ("vip",), (ast.TableRow("true", (ast.Cell(None, num("7")),)),
                                          ast.TableRow("false", (ast.Cell(None, num("1")),))))
    plan = compile_ruleset(ast.Ruleset("t.rules", (block, table, rule("B", None, ast.TableLookup("bonus", (name("vip"),)), 1))))
    assert [plan.score({"vip": v}).points for v in (True, False)] == [7, 1]


def test_the_shipped_rulesets_compile_and_index_their_products():
    from pathlib import Path

    from dsl import parse_file

    files = sorted((Path(__file__).parent.parent / "rulesets").glob("*/*.rules"))
    assert files
    for path in files:
        plan = compile_ruleset(parse_file(str(path)))
        assert plan.products, path
        assert all(plan.candidates(p) for p in plan.products), path


def test_index_holds_each_products_candidates_in_file_order():
    """The product index as its definition says: per known product the rules pinned to it or to
    none, in file order; products with the same candidates share one key getter."""
    from engine.compile import build_index
    from engine.program import load_program

    for version in load_program("rulesets/o2-business").versions:
        plan = version.plan
        index, fallback = build_index(plan.rules, plan.products)
        assert fallback == tuple(r for r in plan.rules if r.pins is None)
        assert list(index) == sorted(plan.products)
        for product, rules in index.items():
            assert rules == tuple(r for r in plan.rules if r.pins is None or product in r.pins), product
        by_rules = {}
        for product, rules in index.items():
            getter = plan.narrow_keys[product]
            assert by_rules.setdefault(tuple(map(id, rules)), getter) is getter
