"""How strict the input is: declared forms, lenient readings counted, both validation paths alike.

The run cases are data (tests/cases/rows/*.yaml, run by tests/test_reasons.py on the batch and
the row path, which must write the same bytes, manifest included); a case with `lenient` states
the run's `counts.lenient` in manifest.json exactly. The rest are command-line checks of what a
person reads and unit checks of the readings.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dsl.formatter import format_ruleset
from dsl.parser import parse
from engine.cli import main
from engine.schema import json_schema
from engine.validate import RowReject, RowValidator
from test_reasons import CASES, _run_case

LENIENT_CASES = [p for p in sorted(CASES.glob("*.yaml")) if "lenient" in yaml.safe_load(p.read_text("utf-8"))]


def _block(body: str, strict: str = ""):
    return parse(f'program "P"\nversion "1"\neffective 2016-01-01\ninput contract{strict} {{\n{body}\n}}\n',
                 "p.rules")


@pytest.mark.parametrize("path", LENIENT_CASES, ids=lambda p: p.stem)
def test_lenient_counts_in_the_manifest(path, tmp_path, monkeypatch):
    case, batch, rows = _run_case(path, tmp_path, monkeypatch)
    for out in (batch, rows):
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["counts"].get("lenient", {}) == case["lenient"]


@pytest.mark.parametrize("path", [p for p in LENIENT_CASES if "lenient_files" in yaml.safe_load(p.read_text("utf-8"))],
                         ids=lambda p: p.stem)
def test_lenient_counts_per_file_in_the_manifest(path, tmp_path, monkeypatch):
    case, batch, rows = _run_case(path, tmp_path, monkeypatch)
    for out in (batch, rows):
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert {i["file"]: i["counts"].get("lenient", {}) for i in manifest["inputs"]} == case["lenient_files"]


def test_the_summary_says_what_was_read_leniently(tmp_path, monkeypatch, capsys):
    case, _, _ = _run_case(CASES / "lenient_counts.yaml", tmp_path, monkeypatch)
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["evaluate", "program", "jan.csv", "feb.csv"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("lenient")]
    assert lines == [
        "lenient: 5 customer values matched only ignoring case: 'New', 'EXISTING', 'eXisting'",
        "lenient: 1 partner_id value with spaces around the text, trimmed: ' P-1'",
        "lenient: 1 quantity value in a number form strict numbers refuse (+3, .5, 5., -0): '+2'",
        "lenient: 3 signed values in the German date form (01.03.2016), not ISO: '04.01.2016', '01.02.2016'",
        "lenient in jan.csv: 4 customer values matched only ignoring case: 'New', 'EXISTING', 'eXisting'",
        "lenient in jan.csv: 1 quantity value in a number form strict numbers refuse (+3, .5, 5., -0): '+2'",
        "lenient in jan.csv: 2 signed values in the German date form (01.03.2016), not ISO: '04.01.2016'",
        "lenient in feb.csv: 1 customer value matched only ignoring case: 'Existing'",
        "lenient in feb.csv: 1 partner_id value with spaces around the text, trimmed: ' P-1'",
        "lenient in feb.csv: 1 signed value in the German date form (01.03.2016), not ISO: '01.02.2016'",
    ]


def test_check_data_reports_lenient_readings(tmp_path, monkeypatch, capsys):
    _run_case(CASES / "lenient_counts.yaml", tmp_path, monkeypatch)
    assert main(["check", "program", "--data", "jan.csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Lenient: lenient: 4 customer values matched only ignoring case: 'New', 'EXISTING', 'eXisting'" in out
    assert main(["check", "program", "--data", "jan.csv", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["lenient"]
    assert [(f["field"], f["reading"], f["count"]) for f in found] == [
        ("customer", "any-case", 4), ("quantity", "number-form", 1), ("signed", "german-date", 2)]
    # several files of one run: the run's counts, then each file's, named
    assert main(["check", "program", "--data", "jan.csv", "--data", "feb.csv"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if "lenient" in line]
    assert out[:1] == ["Lenient: lenient: 5 customer values matched only ignoring case: 'New', 'EXISTING', 'eXisting'"]
    assert "Lenient: lenient in feb.csv: 1 customer value matched only ignoring case: 'Existing'" in out
    assert len(out) == 10
    assert main(["check", "program", "--data", "jan.csv", "--data", "feb.csv", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["lenient"]
    assert [(f.get("file"), f["field"], f["count"]) for f in found if f["field"] == "customer"] == [
        (None, "customer", 5), ("jan.csv", "customer", 4), ("feb.csv", "customer", 1)]


def test_a_value_from_a_file_is_escaped_in_the_summary(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.rules").write_text('program "P"\nversion "1"\neffective 2016-01-01\ninput contract {\n'
                                      '  contract_id: text, required, unique\n  partner_id: text, required\n'
                                      '  signed: date, required\n}\nrule "R" {\n  points 1\n}\n', encoding="utf-8")
    (tmp_path / "d.csv").write_text("contract_id,partner_id,signed\nC-1, \x1b[2J[bold]x ,2016-01-01\n",
                                    encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "p.rules", "d.csv"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "' \\x1b[2J[bold]x '" in out


@pytest.mark.parametrize("body, strict, cells, verdict", [
    ("d: date", "", ["01.03.2016"], "2016-03-01"),
    ("d: date, iso", "", ["01.03.2016"], "not-a-date"),
    ("d: date, german", "", ["2016-03-01"], "not-a-date"),
    ("d: date, german", "", ["1.3.2016"], "2016-03-01"),
    ("d: date", " strict", ["01.03.2016"], "not-a-date"),
    ("d: date, lenient", " strict", ["01.03.2016"], "2016-03-01"),
    ("c: one of (new, existing)", "", ["NEW"], "new"),
    ("c: one of (new, existing), strict", "", ["NEW"], "not-one-of"),
    ("t: text", "", ["  a "], "a"),
    ("t: text, strict", "", ["  a "], "  a "),
    ("t: text, strict", "", ["   "], None),
    ("n: integer, strict", "", ["+3"], "not-a-whole-number"),
    ("n: integer, strict", "", ["-00"], "not-a-whole-number"),
    ("n: integer, strict", "", ["-4"], -4),
    ("n: integer", "", ["-0"], 0),
    ("x: decimal, strict", "", [".5"], "not-a-number"),
    ("x: decimal, strict", "", ["5."], "not-a-number"),
    ("x: decimal, strict", "", ["-0.0"], "not-a-number"),
    ("x: decimal, strict", "", ["+1.5"], "not-a-number"),
    ("x: decimal, strict", "", ["-1.5"], "-1.5"),
    ("x: decimal", "", ["5."], "5"),
])
def test_readings(body, strict, cells, verdict):
    validator = RowValidator(_block(body, strict).input("contract"))
    name = body.split(":")[0]
    try:
        value = validator.for_header([name])(cells, 2)[name]
    except RowReject as reject:
        value = reject.code
    assert (str(value) if verdict is not None and not isinstance(verdict, int) else value) == verdict


def test_strict_decimals_with_a_decimal_comma():
    validator = RowValidator(_block("x: decimal, strict").input("contract"), decimal_comma=True)
    convert = validator.for_header(["x"])
    assert str(convert(["-2,5"], 2)["x"]) == "-2.5"
    for bad in (",5", "5,", "-0,0", "+2,5", "2.5"):
        with pytest.raises(RowReject):
            convert([bad], 3)


def test_json_strict_decimal_strings_agree_with_the_schema():
    from jsonschema import Draft202012Validator

    block = _block("x: decimal, strict").input("contract")
    schema = Draft202012Validator(json_schema(block))
    validator = RowValidator(block)
    for text in ("2.5", "-2.5", ".5", "5.", "-0", "-0.0", "+1", "0", "12"):
        try:
            validator.convert({"x": text})
            accepted = True
        except RowReject:
            accepted = False
        assert accepted == schema.is_valid({"x": text}), text


def test_forms_round_trip_through_fmt_and_show_in_the_schema():
    text = ('program "P"\nversion "1"\neffective 2016-01-01\n\ninput contract strict {\n'
            "  contract_id: text, required, unique\n"
            "  signed:      date, required, german\n"
            "  customer:    one of (new, existing), default new, lenient\n"
            '  pool_gb:     decimal >= 0, required when (product == "Pool" or quantity > 2), strict\n'
            '  quantity:    integer >= 1, <= 100 when (product in ("A", "B")), default 1\n'
            "  product:     text\n}\n")
    ruleset = parse(text, "p.rules")
    assert format_ruleset(ruleset) == text
    assert parse(format_ruleset(ruleset), "p.rules") == ruleset
    schema = json_schema(ruleset.input("contract"))["properties"]
    assert schema["signed"]["description"] == "date, required, German dates (01.03.2016) in cells"
    assert schema["customer"]["description"] == "one of (new, existing), default new"
    assert schema["contract_id"]["description"] == "text, required, unique, kept verbatim (spaces not trimmed)"
    assert schema["pool_gb"]["description"] == (
        'decimal >= 0, required when (product == "Pool" or quantity > 2), strict number syntax')
    assert schema["quantity"]["description"] == (
        'integer >= 1, <= 100 when (product in ("A", "B")), default 1, strict number syntax')


def test_the_default_readings_are_the_readings_of_before():
    plain = _block("d: date\n  c: one of (a, b)\n  t: text\n  n: integer\n  x: decimal").input("contract")
    explicit = _block("d: date, lenient\n  c: one of (a, b), lenient\n  t: text, lenient\n"
                      "  n: integer, lenient\n  x: decimal, lenient").input("contract")
    convert_plain = RowValidator(plain).for_header(["d", "c", "t", "n", "x"])
    convert_explicit = RowValidator(explicit).for_header(["d", "c", "t", "n", "x"])
    cells = ["01.03.2016", "A", " t ", "+3", ".5"]
    assert convert_plain(cells, 2) == convert_explicit(cells, 2) == {
        "d": __import__("datetime").date(2016, 3, 1), "c": "a", "t": "t", "n": 3,
        "x": __import__("decimal").Decimal("0.5")}
    assert json_schema(plain)["properties"]["d"]["description"] == "date"


@pytest.mark.parametrize("line, message", [
    ("  d: date, german, iso", "`form` is given twice in `field d`"),
    ("  t: text, german", "`german` does not apply to a text field"),
    ("  b: boolean, strict", "`strict` does not apply to a boolean field"),
    ("  n: integer, optional when (n > 1)", "`optional when` is not a field option"),
    ('  n: integer, required, required when (n > 1)', "field n is `required` and `required when`"),
])
def test_misplaced_forms_and_conditions_are_errors(line, message):
    from dsl.errors import RulesetError

    with pytest.raises(RulesetError) as caught:
        _block(line)
    assert message in caught.value.diagnostics[0].message


def test_a_cell_that_fails_in_a_condition_field_wins_over_the_condition(tmp_path):
    block = _block('  product: text\n  pool_gb: decimal, required when (quantity > 1)\n  quantity: integer')
    convert = RowValidator(block.input("contract")).for_header(["product", "pool_gb", "quantity"])
    with pytest.raises(RowReject) as caught:
        convert(["Pool", "", "x"], 2)
    assert (caught.value.field, caught.value.code) == ("quantity", "not-a-whole-number")
    with pytest.raises(RowReject) as caught:
        convert(["Pool", "", "2"], 2)
    assert (caught.value.field, caught.value.code) == ("pool_gb", "required-when")
    assert convert(["Pool", "", "1"], 2)["pool_gb"] is None


def test_diff_treats_a_change_of_strictness_as_a_change_of_meaning(tmp_path, monkeypatch, capsys):
    head = 'program "P"\nversion "{v}"\neffective {d}\n\ninput contract{s} {{\n'
    body = ("  contract_id: text, required, unique\n  partner_id:  text, required\n"
            "  signed:      date, required{f}\n  pool_gb:     decimal{w}\n}}\n\nrule \"R\" {{\n  points 1\n}}\n")
    (tmp_path / "a.rules").write_text((head + body).format(v="1", d="2016-01-01", s="", f="", w=""), "utf-8")
    (tmp_path / "b.rules").write_text((head + body).format(v="2", d="2016-06-01", s="", f=", iso",
                                      w=', required when (partner_id == "P-1")'), "utf-8")
    # the same meaning written the other way: the block strict, the other fields lenient again
    (tmp_path / "c.rules").write_text((head + body.replace("required, unique", "required, unique, lenient")
                                       .replace("partner_id:  text, required", "partner_id:  text, required, lenient")
                                       .replace("pool_gb:     decimal{w}", "pool_gb:     decimal, lenient{w}"))
                                      .format(v="3", d="2016-09-01", s=" strict", f="",
                                              w=', required when (partner_id == "P-1")'), "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["diff", "a.rules", "b.rules"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[1:5] == [
        "2 changes in meaning",
        "input",
        '  + input field pool_gb: required when added: required when (partner_id == "P-1")  (a.rules:9 | b.rules:9)',
        "  ~ input field signed: form ISO or German dates -> ISO dates only  (a.rules:8 | b.rules:8)",
    ]
    assert main(["diff", "b.rules", "c.rules"]) == 0
    assert "no changes in meaning" in capsys.readouterr().out
