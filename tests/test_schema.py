"""The JSON Schema of an input block, and its agreement with the compiled validator."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import parse
from dsl.ast import Bound, FieldDecl, InputBlock, Number
from engine.schema import json_schema
from engine.validate import RowReject, RowValidator

DATA = Path(__file__).parent / "fixtures" / "data"
O2_2016 = Path(__file__).parents[1] / "rulesets" / "o2-business" / "2016-03.rules"

RULESET = """
program "Test"
version "1"
effective 2016-01-01
input contract {
  contract_id: text, required, unique
  signed:      date >= 2016-01-01, required
  customer:    one of (new, existing, "key account"), default new
  quantity:    integer >= 1 < 100, default 1
  pool_gb:     decimal > 0 <= 2.5
  active:      boolean, default false
}
"""


def checker(schema: dict) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def schema() -> dict:
    return json_schema(parse(RULESET, "test.rules").input(), title="test contracts")


def test_the_schema_is_a_valid_draft_2020_12_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "test contracts"
    assert schema["required"] == ["contract_id", "signed"]
    assert schema["additionalProperties"] is True


def test_each_kind_maps_to_its_json_type(schema):
    props = schema["properties"]
    assert props["contract_id"] == {"description": "text, required, unique", "type": "string",
                                    "pattern": r"\S"}
    assert props["signed"]["type"] == "string" and props["signed"]["format"] == "date"
    assert props["customer"]["enum"] == ["new", "existing", "key account", None]
    assert props["customer"]["default"] == "new"
    assert props["quantity"] == {"description": "integer >= 1 < 100, default 1", "type": ["integer", "null"],
                                 "minimum": 1, "exclusiveMaximum": 100, "default": 1}
    assert props["pool_gb"]["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0, "maximum": 2.5}
    assert props["active"]["default"] is False


def test_the_schema_is_json_with_a_fixed_key_order():
    """The O2 program's schema, as `points schema` prints it, is kept as a golden file."""
    block = parse(O2_2016.read_text(encoding="utf-8"), str(O2_2016)).input()
    printed = json.dumps(json_schema(block, title="O2 Business Partner Program 2016.03"), indent=2) + "\n"
    assert printed == (DATA / "o2-2016-contract.schema.json").read_text(encoding="utf-8")


def test_the_sample_export_validates_against_the_schema():
    block = parse(O2_2016.read_text(encoding="utf-8"), str(O2_2016)).input()
    valid = checker(json_schema(block))
    lines = (DATA / "contracts.jsonl").read_text(encoding="utf-8").splitlines()
    verdicts = [valid.is_valid(json.loads(line)) for line in lines if line.strip()]
    assert verdicts == [True, True, True, False]


@pytest.mark.parametrize("record, valid", [
    ({"contract_id": "C", "signed": "2016-03-01"}, True),
    ({"contract_id": "C", "signed": "2016-02-30"}, False),
    ({"contract_id": "C", "signed": "01.03.2016"}, False),
    ({"contract_id": " ", "signed": "2016-03-01"}, False),
    ({"contract_id": "C", "signed": "2016-03-01", "pool_gb": "2.5", "quantity": None}, True),
    ({"contract_id": "C", "signed": "2016-03-01", "pool_gb": "2,5"}, False),
    ({"contract_id": "C", "signed": "2016-03-01", "quantity": 100}, False),
    ({"contract_id": "C", "signed": "2016-03-01", "customer": "New"}, False),
])
def test_the_schema_accepts_what_the_validator_accepts(schema, record, valid):
    block = parse(RULESET, "test.rules").input()
    assert checker(schema).is_valid(record) is valid
    assert accepts(RowValidator(block), record) is valid


def accepts(validator: RowValidator, record: dict) -> bool:
    try:
        validator.convert(record)
    except RowReject:
        return False
    return True


# --------------------------------------------------------------------------- property: same verdict


class Raw(str):
    """A JSON number written as given (`2.50`, `1e2`): what an exporter writes."""


def to_json(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


HALVES = st.integers(-6, 6).map(lambda n: Decimal(n) / 2)
NUMBER_TEXT = st.from_regex(r"\A-?(0|[1-9][0-9]?)(\.[0-9]{1,2})?([eE][0-2])?\Z").map(Raw)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4), st.just([1]))


def bounds(kind: str):
    if kind not in ("integer", "decimal"):
        return st.just(())
    bound = st.builds(lambda op, v: Bound(op, Number(v)), st.sampled_from([">=", ">", "<=", "<"]), HALVES)
    return st.lists(bound, max_size=2).map(tuple)


@st.composite
def declarations(draw) -> InputBlock:
    kinds = draw(st.lists(st.sampled_from(["text", "integer", "decimal", "date", "boolean", "choice"]),
                          min_size=1, max_size=5))
    fields = []
    for n, kind in enumerate(kinds):
        choices = tuple(draw(st.lists(st.sampled_from(["new", "existing", "key account", "New"]),
                                      min_size=1, max_size=3, unique=True))) if kind == "choice" else ()
        fields.append(FieldDecl(f"f{n}", kind, choices=choices, bounds=draw(bounds(kind)),
                                required=draw(st.booleans())))
    return InputBlock("contract", tuple(fields))


def values_for(decl: FieldDecl):
    """Good and bad JSON values for one field. Decimal strings only when unbounded: the schema
    cannot bound a number written as a string (documented in engine.schema)."""
    kind = {
        "text": st.text(max_size=6),
        "integer": st.one_of(st.integers(-4, 4), NUMBER_TEXT),
        "decimal": st.one_of(NUMBER_TEXT, st.integers(-4, 4), st.sampled_from(["2,5", "1e2", "NaN"]),
                             *([] if decl.bounds else [st.from_regex(r"\A-?[0-9]{0,2}\.?[0-9]{0,2}\Z")])),
        "date": st.one_of(st.dates().map(lambda d: d.isoformat()),
                          st.sampled_from(["2016-02-30", "01.03.2016", "2016-3-1", "2016-03-01\n"])),
        "boolean": st.one_of(st.booleans(), st.sampled_from(["yes", "true", 1, 0])),
        "choice": st.one_of(st.sampled_from(decl.choices), st.sampled_from(["nwe", "NEW", " new", ""])),
    }[decl.kind]
    return st.one_of(kind, JUNK)


@st.composite
def cases(draw) -> tuple[InputBlock, str]:
    block = draw(declarations())
    record = {}
    for decl in block.fields:
        if draw(st.integers(0, 5)):  # now and then the key is absent
            record[decl.name] = draw(values_for(decl))
    record["extra"] = draw(JUNK)
    return block, to_json(record)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_convert_and_jsonschema_give_the_same_verdict(case):
    block, text = case
    as_schema_sees_it = json.loads(text)
    as_the_reader_gives_it = json.loads(text, parse_float=Decimal)
    errors = list(checker(json_schema(block)).iter_errors(as_schema_sees_it))
    try:
        RowValidator(block).convert(as_the_reader_gives_it)
    except RowReject as reject:
        assert errors, f"convert rejected ({reject}), jsonschema accepted"
        reported = {e.absolute_path[0] for e in errors if e.absolute_path}
        reported |= {name for e in errors if e.validator == "required" for name in e.validator_value
                     if name not in as_schema_sees_it}
        assert reject.field in reported, f"{reject} but jsonschema reports {[e.message for e in errors]}"
    else:
        assert not errors, f"convert accepted, jsonschema says {[e.message for e in errors]}"
