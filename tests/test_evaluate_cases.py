"""Runs the table-driven cases in tests/cases/*.yaml: a ruleset, contracts, the expected result.

A case file holds one `ruleset` (its text) and `cases`, each with a `name`, a `contract` (fields
written plainly; the rest take their default or stay empty) and either `points` (with optional
`rules`: the ids of the paying rules, in order) or `unscored` (the exact reason) with its `code`
(the stable reason code of engine.reasons; docs/reasons/).
Each case also runs traced, and the traced score must equal the untraced one; random contracts
(hypothesis) check the same, and that a score depends on the plan's key fields alone.
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from dsl import ast
from engine.compile import compile_ruleset
from engine.trace import Tracer, events_to_json

CASES = Path(__file__).parent / "cases"


class CaseLoader(yaml.SafeLoader):
    """YAML where `2.5` is an exact Decimal, never a float."""


CaseLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node).replace("_", "")))


def load(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CaseLoader)


def parse(text: str, file: str) -> ast.Ruleset:
    try:
        from dsl import parse as parse_text
    except ImportError:
        from dsl.parser import parse as parse_text
    return parse_text(text, file)


@lru_cache(maxsize=None)
def plan_of(stem: str):
    return compile_ruleset(parse(load(CASES / f"{stem}.yaml")["ruleset"], f"{stem}.rules"))


def all_cases():
    for path in sorted(CASES.glob("*.yaml")):
        for case in load(path)["cases"]:
            yield pytest.param(path.stem, case, id=f"{path.stem}: {case['name']}")


# --------------------------------------------------------------------------- typed contracts


def literal(expr, kind: str):
    """A `default` literal as a typed value."""
    if isinstance(expr, ast.Neg):
        return -literal(expr.operand, kind)
    if isinstance(expr, ast.Name):
        return {"true": True, "false": False}.get(expr.name, expr.name) if kind == "boolean" else expr.name
    return typed(expr.value, kind)


def typed(value, kind: str):
    """A plainly written YAML value as the record holds it for a field of `kind`."""
    if value is None:
        return None
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if kind == "boolean":
        return bool(value)
    return str(value)


def record_for(plan, given: dict, name: str) -> dict:
    """The contract as a validated record: given fields typed, others default or empty."""
    record = {}
    for decl in plan.ruleset.input("contract").fields:
        if decl.name in given:
            record[decl.name] = typed(given[decl.name], decl.kind)
        else:
            record[decl.name] = literal(decl.default, decl.kind) if decl.default is not None else None
    unknown = set(given) - set(record)
    assert not unknown, f"case {name!r} gives fields the ruleset does not declare: {sorted(unknown)}"
    record["contract_id"] = record.get("contract_id") or name
    record["partner_id"] = record.get("partner_id") or "partner"
    record["signed"] = record.get("signed") or plan.effective
    return record


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("stem, case", list(all_cases()))
def test_case(stem, case):
    plan = plan_of(stem)
    score = plan.score(record_for(plan, case["contract"], case["name"]))
    if "unscored" in case:
        assert (score.status, score.reason, score.code) == ("unscored", case["unscored"], case["code"])
        assert score.points == 0 and score.contributions == ()
        return
    assert score.status == "scored", score.reason
    assert score.points == Decimal(str(case["points"]))
    assert score.points == sum((c.points for c in score.contributions), Decimal(0))
    if "rules" in case:
        assert [c.rule_id for c in score.contributions] == case["rules"]


@pytest.mark.parametrize("stem, case", list(all_cases()))
def test_traced_equals_untraced(stem, case):
    plan = plan_of(stem)
    record = record_for(plan, case["contract"], case["name"])
    tracer = Tracer()
    assert plan.score(record, tracer) == plan.score(record)
    assert tracer.events, "a traced score records events"
    json.dumps(events_to_json(tracer.events))  # serialisable as it stands


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_case_file_shape(path):
    data = load(path)
    assert set(data) == {"ruleset", "cases"}
    names = [c["name"] for c in data["cases"]]
    assert len(names) == len(set(names)), "case names are unique within a file"
    for case in data["cases"]:
        assert set(case) <= {"name", "contract", "points", "rules", "unscored", "code"}, case["name"]
        assert ("points" in case) != ("unscored" in case), case["name"]
        assert ("unscored" in case) == ("code" in case), case["name"]


@pytest.mark.parametrize("stem", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_case_rulesets_pass_the_checker(stem):
    from dsl.checks import check

    errors = [d.headline() for d in check(plan_of(stem).ruleset) if d.is_error]
    assert errors == []


@pytest.mark.parametrize("stem, case", list(all_cases()))
def test_score_depends_only_on_key_fields(stem, case):
    plan = plan_of(stem)
    record = record_for(plan, case["contract"], case["name"])
    blanked = {f: (v if f in plan.key_fields else None) for f, v in record.items()}
    assert plan.score(blanked) == plan.score(record)


# --------------------------------------------------------------------------- any contract


def value_strategy(plan, decl):
    """Plausible and awkward values of one field: empty, out of range, unknown words."""
    words = sorted(plan.products | {"Fax", "north", "new"})
    kinds = {
        "text": st.sampled_from(words),
        "choice": st.sampled_from(list(decl.choices) + ["other"]),
        "integer": st.integers(-3, 200),
        "decimal": st.decimals(-1000, 10_000, places=3, allow_nan=False, allow_infinity=False),
        "date": st.dates(date(2015, 1, 1), date(2018, 12, 31)),
        "boolean": st.booleans(),
    }
    return st.one_of(st.none(), kinds[decl.kind])


@pytest.mark.parametrize("stem", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_any_contract_scores_the_same_traced_and_untraced(stem):
    plan = plan_of(stem)
    fields = {d.name: value_strategy(plan, d) for d in plan.ruleset.input("contract").fields}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.fixed_dictionaries(fields))
    def check(record):
        tracer = Tracer()
        score = plan.score(record)
        assert plan.score(record, tracer) == score
        assert isinstance(score.points, Decimal)
        assert (score.status == "unscored") == (score.reason is not None) == (score.code is not None)
        assert score.points == sum((c.points for c in score.contributions), Decimal(0))
        blanked = {f: (v if f in plan.key_fields else None) for f, v in record.items()}
        assert plan.score(blanked) == score

    check()
