"""`one of (...) when (COND)`: a list of values that holds only when a condition holds.

The run case is data (tests/cases/rows/conditional_lists.yaml, run by tests/test_reasons.py on the
batch and the row path). Here: the layout `points fmt` and `points show` print, the JSON Schema's
if/then agreeing with the validator, `points diff`, examples that expect the reject, and the
checker's findings.
"""
from __future__ import annotations

from functools import lru_cache

import pytest
from hypothesis import given, settings, strategies as st

from dsl.checks import check
from dsl.formatter import format_ruleset
from dsl.parser import parse
from engine.cli import main
from engine.schema import json_schema
from engine.validate import RowReject, RowValidator

HEAD = 'program "P"\nversion "{v}"\neffective {d}\n\n'
BLOCK = ("input contract {{\n"
         "  contract_id: text, required, unique\n"
         "  partner_id:  text, required\n"
         "  signed:      date, required\n"
         "  product:     text, required\n"
         "  tariff:      text, one of ({tariffs}) when ({cond})\n"
         "}}\n\n"
         'rule "All" {{\n  points 1\n}}\n')


def _write(tmp_path, name, version, day, tariffs='"Business S", "Business M"', cond='product == "Mobile"', extra=""):
    text = HEAD.format(v=version, d=day) + BLOCK.format(tariffs=tariffs, cond=cond) + extra
    (tmp_path / name).write_text(text, encoding="utf-8")
    return text


def test_fmt_writes_the_list_after_the_bounds_and_show_prints_it(tmp_path, monkeypatch, capsys):
    messy = ('program "P"\nversion "1"\neffective 2016-01-01\ninput contract {\n'
             " contract_id: text, required, unique\n partner_id: text, required\n signed: date, required\n"
             ' product: text\n quantity: integer\n'
             ' size: one of (small,big,"x l"),one of ( small ,"x l" ) when (product=="Fixed"),'
             ' required when (quantity>1)\n}\nrule "All" {\n points 1\n}\n')
    (tmp_path / "p.rules").write_text(messy, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    line = ('  size:        one of (small, big, "x l"), required when (quantity > 1), '
            'one of (small, "x l") when (product == "Fixed")')
    assert main(["fmt", "--check", "p.rules"]) == 1
    assert main(["fmt", "p.rules"]) == 0
    formatted = (tmp_path / "p.rules").read_text(encoding="utf-8")
    assert line in formatted.splitlines()
    assert parse(formatted, "p.rules") == parse(messy, "p.rules")  # the same nodes, spans aside
    assert format_ruleset(parse(formatted, "p.rules")) == formatted
    assert main(["fmt", "--check", "p.rules"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["show", "p.rules"]) == 0
    assert line in capsys.readouterr().out.splitlines()


BODY = ("  product: text\n  plain: text, strict\n  size: one of (small, big, huge)\n  n: integer\n"
        "  flag: boolean\n  day: date\n  x: decimal\n"
        '  t1: text, one of ("S", "M l") when (product == "Mobile" or product in ("A", "B"))\n'
        '  t2: text, one of ("S") when (not (size != big) and n >= 3)\n'
        '  t3: text, strict, one of ("S", " ") when (flag == true and day == 2016-01-01)\n'
        '  t4: text, one of ("S") when (product not in ("A") and n < 2 and plain == "P")\n'
        "  size2: one of (small, big, huge), one of (small) when (n > 1 and n != 5)\n")
# Conditions JSON Schema cannot say: left to the engine, and to the description.
UNSAID = ('  t5: text, one of ("S") when (x > 2)\n'
          '  t6: text, one of ("S") when (n * 2 > 3)\n')


def _convert_ok(validator: RowValidator, record: dict) -> bool:
    try:
        validator.convert(record)
        return True
    except RowReject:
        return False


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "product": st.sampled_from(["Mobile", " Mobile ", "A", "B", "C", "", None]),
    "plain": st.sampled_from(["P", " P", "Q", None]),
    "size": st.sampled_from(["small", "big", "huge", None]),
    "n": st.sampled_from([0, 1, 2, 3, 5, 7, None]),
    "flag": st.sampled_from([True, False, None]),
    "day": st.sampled_from(["2016-01-01", "2016-01-02", None]),
    "x": st.sampled_from([1, 3, "2.5", None]),
    **{name: st.sampled_from(["S", " S ", "M l", "s", "X", "", "  ", None]) for name in ("t1", "t2", "t3", "t4")},
    "size2": st.sampled_from(["small", "big", None]),
}))
def test_the_schema_if_then_agrees_with_the_validator(record):
    validator, schema = _block_and_schema()
    assert _convert_ok(validator, record) == schema.is_valid(record), record


@lru_cache(maxsize=1)
def _block_and_schema():
    """The row validator of BODY (no unique field: it can be shared) and its JSON Schema."""
    from jsonschema import Draft202012Validator

    block = parse(f'program "P"\nversion "1"\neffective 2016-01-01\ninput contract {{\n{BODY}}}\n',
                  "p.rules").input("contract")
    return RowValidator(block), Draft202012Validator(json_schema(block))


def test_the_schema_states_what_it_cannot_say_in_the_description():
    block = parse(f'program "P"\nversion "1"\neffective 2016-01-01\ninput contract {{\n{BODY}{UNSAID}}}\n',
                  "p.rules").input("contract")
    schema = json_schema(block)
    listed = [next(iter(part["then"]["properties"])) for part in schema["allOf"]]
    assert listed == ["t1", "t2", "t3", "t4", "size2"]  # t5 (a decimal) and t6 (arithmetic): the engine's
    assert schema["properties"]["t6"]["description"] == 'text, one of (S) when (n * 2 > 3)'
    assert schema["allOf"][4] == {
        "if": {"allOf": [
            {"required": ["n"], "properties": {"n": {"type": "number", "exclusiveMinimum": 1}}},
            {"required": ["n"], "properties": {"n": {"allOf": [
                {"type": "number"}, {"not": {"type": "number", "minimum": 5, "maximum": 5}}]}}}]},
        "then": {"properties": {"size2": {"enum": ["small", None]}}}}
    assert list(schema) == ["$schema", "title", "description", "type", "properties", "required", "allOf",
                            "additionalProperties"]


def test_diff_a_changed_list_or_condition_is_a_change_of_meaning(tmp_path, monkeypatch, capsys):
    _write(tmp_path, "a.rules", "1", "2016-01-01")
    _write(tmp_path, "b.rules", "2", "2016-06-01", tariffs='"Business M", "Business S"')  # reordered
    _write(tmp_path, "c.rules", "3", "2016-09-01", tariffs='"Business S"', cond='product == "Mobile"')
    _write(tmp_path, "d.rules", "4", "2016-10-01", cond='product in ("Mobile", "Mobile XL")')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "240")
    assert main(["diff", "a.rules", "b.rules"]) == 0
    assert "no changes in meaning" in capsys.readouterr().out
    assert main(["diff", "a.rules", "c.rules"]) == 1
    assert capsys.readouterr().out.splitlines()[1:4] == [
        "1 change in meaning",
        "input",
        '  ~ input field tariff: list when one of ("Business S", "Business M") when (product == "Mobile") '
        '-> one of ("Business S") when (product == "Mobile")  (a.rules:10 | c.rules:10)',
    ]
    assert main(["diff", "a.rules", "d.rules"]) == 1
    assert capsys.readouterr().out.splitlines()[3] == (
        '  ~ input field tariff: list when one of ("Business S", "Business M") when (product == "Mobile") '
        '-> one of ("Business S", "Business M") when (product in ("Mobile", "Mobile XL"))  (a.rules:10 | d.rules:10)')


EXAMPLES = '''
example "a mobile line with a fixed-line tariff is rejected" {
  contract { product: "Mobile", tariff: "DSL 50" }
  expect rejected tariff not-one-of-when
}

example "a fixed line takes any tariff" {
  contract { product: "Fixed", tariff: "DSL 50" }
  expect 1 points
}
'''


def test_examples_expect_the_reject_by_field_and_code(tmp_path, monkeypatch, capsys):
    _write(tmp_path, "a.rules", "1", "2016-01-01", extra=EXAMPLES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["test", "a.rules"]) == 0
    assert "2 passed" in capsys.readouterr().out
    _write(tmp_path, "a.rules", "1", "2016-01-01", extra=EXAMPLES.replace('"Fixed", tariff', '"Mobile", tariff'))
    assert main(["test", "a.rules"]) == 1
    out = capsys.readouterr().out
    assert ("`tariff` must be one of Business S, Business M when (product == \"Mobile\") (line 10 of a.rules), "
            "got 'DSL 50'") in out


@pytest.mark.parametrize("field, finding", [
    ('  tariff: text, one of (S) when (prodct == "Mobile")',
     "error N210: `prodct` is not a field of input contract; did you mean product?"),
    ('  tariff: text, one of (S) when (product in mobile)',
     "error N233: the condition on `tariff` reads the table `mobile`: conditions of input contract read only its fields"),
    ('  n: integer, one of (a) when (product == "x")',
     "error N235: `n` is an integer: a `one of` list applies only to text and `one of` fields"),
    ('  size: one of (small, big), one of (small, bgi) when (product == "Fixed")',
     'error N235: "bgi" in the list of `size` is not one of its values small, big; did you mean big?'),
    ('  tariff: text, one of (S) when (product == "A" and product == "B")',
     "warning W309: the condition of `tariff`'s `one of (S) when (...)` can never hold, so the check never applies"),
    ('  tariff: text, one of (S, M) when (tariff == "L")',
     "warning W309: when its condition holds, `tariff`'s `one of (S, M) when (...)` refuses every value: "
     "every such row with a value in `tariff` is rejected"),
    ('  n: integer, <= 3 when (n > 5)',
     "warning W309: when its condition holds, `n`'s `<= 3 when (...)` refuses every value: "
     "every such row with a value in `n` is rejected"),
    ('  r: text, required when (product == "A" and product == "B")',
     "warning W309: the condition of `r`'s `required when (...)` can never hold, so the check never applies"),
])
def test_checker_findings_of_conditional_checks(field, finding):
    text = ('program "P"\nversion "1"\neffective 2016-01-01\ninput contract {\n'
            "  contract_id: text, required, unique\n  partner_id: text, required\n  signed: date, required\n"
            f"  product: text, required\n{field}\n}}\n"
            'table mobile by product {\n  "M": 1\n}\nrule "All" {\n  when product in mobile\n  points 1\n}\n')
    found = [f"{d.severity} {d.code}: {d.message}" for d in check(parse(text, "p.rules"))]
    assert found == [finding]


def test_a_list_on_a_field_the_condition_does_not_constrain_is_no_finding():
    text = ('program "P"\nversion "1"\neffective 2016-01-01\ninput contract {\n'
            "  contract_id: text, required, unique\n  partner_id: text, required\n  signed: date, required\n"
            '  product: text, required\n  tariff: text, one of (S, M) when (product == "Mobile" and tariff != "L")\n}\n'
            'rule "All" {\n  points 1\n}\n')
    assert check(parse(text, "p.rules")) == []
