"""What a trace says: lookups name their table row, caps show before/after, conditions their values."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from dsl import parse
from engine import trace
from engine.compile import compile_ruleset

RULESET = """\
program "Trace"
version "1"
effective 2016-03-01
combine {combine}

input contract {{
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
  customer:    one of (new, existing), default new
  quantity:    integer >= 1, default 1
  pool_gb:     decimal >= 0, default 0
}}

table mobile_tariffs by product, customer {{
  "O2 Business S": new 100, existing 40
  "O2 Business M": new 180, existing 70
}}

rule "Mobile tariffs" {{
  when product in mobile_tariffs and customer == new
  points mobile_tariffs[product, customer] * quantity
}}

rule "Unite pool volume" {{
  when product == "O2 Unite Pool"
  points 3 per pool_gb, at most 3_000, rounded half up
}}

rule "Big order" {{
  when quantity >= 10
  points 50
}}
"""


def plan_for(combine: str = "sum"):
    return compile_ruleset(parse(RULESET.format(combine=combine), "trace.rules"))


def record(**kw) -> dict:
    base = {"contract_id": "c1", "partner_id": "p1", "signed": date(2016, 4, 1),
            "product": "O2 Business M", "customer": "new", "quantity": 1, "pool_gb": D(0)}
    return {**base, **kw}


def traced(plan, rec):
    tracer = trace.Tracer()
    score = plan.score(rec, tracer)
    assert score == plan.score(rec)
    return score, tracer.events


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_lookup_names_the_table_row_line():
    _, events = traced(plan_for(), record(product="O2 Business M"))
    [lookup] = of(events, trace.TableLookup)
    assert lookup.table == "mobile_tariffs" and lookup.keys == ("O2 Business M", "new")
    assert lookup.row_span.line == 18 and lookup.value == D(180)
    assert lookup.rule_id == "mobile-tariffs" and lookup.rule_span.line == 21


def test_a_capped_rule_has_a_capped_event_with_before_and_after():
    score, events = traced(plan_for(), record(product="O2 Unite Pool", pool_gb=D("1500.5")))
    assert score.points == D(3000)
    [per] = of(events, trace.PerUnit)
    assert (per.field, per.factor, per.before, per.after) == ("pool_gb", D("1500.5"), D(3), D("4501.5"))
    [capped] = of(events, trace.Capped)
    assert (capped.limit, capped.before, capped.after) == (D(3000), D("4501.5"), D(3000))
    assert capped.span.line == 28 and capped.rule_id == "unite-pool-volume"
    [rounded] = of(events, trace.Rounded)
    assert (rounded.mode, rounded.places, rounded.before, rounded.after) == ("half up", 0, D(3000), D(3000))


def test_a_cap_that_does_not_bite_keeps_the_value():
    _, events = traced(plan_for(), record(product="O2 Unite Pool", pool_gb=D("2.5")))
    [capped] = of(events, trace.Capped)
    assert capped.before == capped.after == D("7.5")
    [rounded] = of(events, trace.Rounded)
    assert rounded.after == D(8)


def test_why_not_shows_the_failing_comparison_and_its_values():
    score, events = traced(plan_for(), record(product="O2 Business S", customer="existing"))
    assert score.reason == "no rule matches"
    checks = [(e.op, e.left, e.right, e.result) for e in of(events, trace.ConditionChecked)
              if e.rule_id == "mobile-tariffs"]
    assert checks == [("in", "O2 Business S", "mobile_tariffs", True), ("==", "existing", "new", False)]
    skipped = [e.rule_id for e in of(events, trace.RuleSkipped)]
    assert skipped == ["mobile-tariffs", "big-order"]


def test_condition_span_points_at_the_atomic_test():
    _, events = traced(plan_for(), record())
    compare = [e for e in of(events, trace.ConditionChecked) if e.op == "=="][0]
    assert (compare.span.line, compare.span.column) == (22, 38)


def test_events_of_a_scored_contract_in_order():
    _, events = traced(plan_for(), record(product="O2 Business S", quantity=10))
    kinds = [trace.event_kind(e) for e in events if not isinstance(e, (trace.ValueRead, trace.ConditionChecked))]
    assert kinds == [
        "rule_considered", "rule_matched", "table_lookup", "formula_evaluated", "rule_points",
        "rule_considered", "rule_matched", "formula_evaluated", "rule_points",
    ]
    points = [(e.rule_id, e.points) for e in of(events, trace.RulePoints)]
    assert points == [("mobile-tariffs", D(1000)), ("big-order", D(50))]


def test_every_rule_event_carries_the_rule_id_and_span():
    plan = plan_for()
    spans = {r.id: r.span for r in plan.rules}
    _, events = traced(plan, record(product="O2 Unite Pool", pool_gb=D(5), quantity=12))
    for event in events:
        assert spans[event.rule_id] == event.rule_span, event


def test_value_reads_name_the_field():
    _, events = traced(plan_for(), record(product="O2 Unite Pool", pool_gb=D(5)))
    reads = {(e.field, e.value) for e in of(events, trace.ValueRead) if e.rule_id == "unite-pool-volume"}
    assert reads == {("product", "O2 Unite Pool"), ("pool_gb", D(5))}


def test_first_traces_shadowed_rules():
    score, events = traced(plan_for("first"), record(product="O2 Business S", quantity=10))
    assert [c.rule_id for c in score.contributions] == ["mobile-tariffs"]
    [shadowed] = of(events, trace.RuleShadowed)
    assert (shadowed.rule_id, shadowed.by_rule_id) == ("big-order", "mobile-tariffs")


def test_exclusive_several_matches_is_traced_as_unscored():
    score, events = traced(plan_for("exclusive"), record(product="O2 Business S", quantity=10))
    assert score.reason == 'matches several rules: "Mobile tariffs", "Big order"'
    assert [e.rule_id for e in of(events, trace.RuleMatched)] == ["mobile-tariffs", "big-order"]
    assert of(events, trace.Unscored) == [trace.Unscored(score.reason)]
    assert of(events, trace.RulePoints) == []


def test_lookup_without_cell_traces_the_row_and_no_value():
    text = RULESET.format(combine="sum").replace(" and customer == new", "").replace(", existing 70", "")
    plan = compile_ruleset(parse(text, "t.rules"))
    score, events = traced(plan, record(product="O2 Business M", customer="existing"))
    [lookup] = of(events, trace.TableLookup)
    assert lookup.row_span.line == 18 and lookup.value is None
    [unscored] = of(events, trace.Unscored)
    assert unscored.rule_id == "mobile-tariffs" and unscored.reason == score.reason
    assert "no cell for product 'O2 Business M', customer 'existing'" in score.reason


def test_events_to_json_is_plain_and_deterministic():
    plan = plan_for()
    rec = record(product="O2 Unite Pool", pool_gb=D("2.5"), signed=date(2016, 4, 1))
    _, first = traced(plan, rec)
    _, second = traced(plan, rec)
    data = trace.events_to_json(first)
    assert data == trace.events_to_json(second)
    capped = next(d for d in data if d["event"] == "capped")
    assert capped == {
        "event": "capped", "rule_id": "unite-pool-volume",
        "rule_span": {"file": "trace.rules", "line": 26, "column": 1},
        "span": {"file": "trace.rules", "line": 28, "column": 25},
        "limit": "3000", "before": "7.5", "after": "7.5",
    }


@pytest.mark.parametrize("value, expected", [
    (D("1.50"), "1.50"), (date(2016, 3, 1), "2016-03-01"), (None, None), (True, True), (3, 3),
    (("a", D(1)), ["a", "1"]),
])
def test_json_values(value, expected):
    assert trace.to_json_value(value) == expected
