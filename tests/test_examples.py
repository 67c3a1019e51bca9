"""`example` blocks that test every decision: points, tiers, unscored and rejected rows with their
reason codes, reviews and quality flags.

Each folder of tests/fixtures/examples is a program with examples and the exact output of
`points test . -v` run inside it (`expected.out`, `expected.err` when there is one, and the exit
code in `expected.exit`). Passing, failing and refused examples are all cases there; the tests below
add what a fixture cannot say: the JSON form, the formatter, and that an example decides what a
real run decides.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dsl.formatter import format_ruleset
from dsl.parser import parse, parse_file
from engine.cli import main
from engine.examples import run_all
from engine.program import load_program
from engine.run import evaluate

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "examples"
FOLDERS = sorted(p for p in CASES.iterdir() if p.is_dir())


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_points_test_gives_the_expected_output(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run(capsys, "test", ".", "-v")
    assert out == (folder / "expected.out").read_text(encoding="utf-8")
    expected_err = folder / "expected.err"
    assert err == (expected_err.read_text(encoding="utf-8") if expected_err.exists() else "")
    assert code == int((folder / "expected.exit").read_text())


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_fixture_rulesets_are_formatted(folder):
    for path in sorted(folder.glob("*.rules")):
        text = path.read_text(encoding="utf-8")
        ruleset = parse_file(path)
        assert format_ruleset(ruleset) == text, path.name


def test_every_kind_of_expectation_is_exercised_passing_and_failing():
    kinds = {"passing": set(), "failing": set()}
    for folder in FOLDERS:
        if folder.name == "checks":
            continue
        for run_ in run_all(load_program(folder)):
            for expect in run_.example.expects:
                kinds["passing" if run_.passed else "failing"].add(expect.kind)
    wanted = {"points", "tier", "unscored", "rejected", "status", "flag", "no flag", "sustained", "no sustained"}
    assert wanted <= kinds["passing"]
    assert {"unscored", "rejected", "status", "flag", "sustained"} <= kinds["failing"]


def test_the_example_program_runs_its_new_examples(capsys):
    code, out, _ = run(capsys, "test", str(ROOT / "rulesets" / "o2-business"), "-v")
    assert code == 0
    for name in ("a Unite volume that is not a number is rejected",
                 "a Premium partner missing Expert's target drops one level",
                 "from 2017 a partner missing its target drops to the tier it earned",
                 "an Expert partner below 12,000 points keeps Expert for a year of grace",
                 "one missed payment in five reports raises the payment flag",
                 "three flagged quarters in a row are a sustained finding"):
        assert f": {name}  " in out


def test_failures_in_json_carry_the_review_and_the_quality_values(capsys, monkeypatch):
    monkeypatch.chdir(CASES / "failing_review")
    code, out, _ = run(capsys, "test", ".", "--json")
    assert code == 1
    first = json.loads(out)["examples"][0]
    assert first["failures"] == ["expected status Expert, Expert after 2016, 2017, got Expert, Advanced"]
    assert first["statuses"] == ["Expert", "Advanced"]
    assert first["review"][1].endswith("downgrade after 1 grace period (program.rules:23) -> Advanced after 2017")
    monkeypatch.chdir(CASES / "failing_contracts")
    data = json.loads(run(capsys, "test", ".", "--json")[1])
    rejected = {e["example"]: e["rejected"] for e in data["examples"]}["rejected for another code"]
    assert rejected == [{"contract": 1, "field": "quantity", "code": "outside-bounds",
                         "reason": "`quantity` must be at least 1, got 0"}]
    monkeypatch.chdir(CASES / "failing_quality")
    data = json.loads(run(capsys, "test", ".", "--json")[1])
    assert data["examples"][0]["quality"][0].startswith("2016-Q1 Late payments: 0.2 from 5 of 5 report(s)")


def test_an_example_decides_as_a_real_run_of_the_same_row(tmp_path):
    """The 2016 example of 150 lines is read by the 2016 input block (2017 bounds quantity at 100), and
    so is the same row in a run; 150 lines signed in 2017 are refused, in the example and the run."""
    program = load_program(CASES / "versions")
    export = tmp_path / "rows.csv"
    export.write_text("contract_id,partner_id,signed,product,quantity\n"
                      "C-1,P-1,2016-01-01,Line,150\nC-2,P-1,2016-01-01,Fax,1\nC-3,P-1,2017-02-01,Line,150\n",
                      encoding="utf-8")
    evaluate(program, export, out_dir=tmp_path / "out")
    with open(tmp_path / "out" / "rows.csv", encoding="utf-8", newline="") as f:
        rows = [(row["status"], row["code"]) for row in csv.DictReader(f)]
    runs = {r.example.name: r for r in run_all(program)}
    read = runs["150 lines of 2016 are read by the 2016 input block"]
    fax = runs["a fax is not in the 2016 version"]
    assert read.passed and read.traced[0].status == "scored"
    assert rows == [("scored", ""), ("unscored", fax.traced[0].code), ("rejected", "outside-bounds")]
    assert fax.traced[0].code == "product-not-in-version"


def test_formatter_writes_every_entry_in_a_canonical_order():
    text = ('program "P"\nversion "1"\neffective 2016-01-01\n'
            'example "e" {\n  expect status Basic, Basic\n  3 reports { reported: "2016-Q1" }\n'
            '  points 1, 2_000\n  legacy "Gold Partner"\n  contract { product: "X" }\n'
            '  expect   no  sustained "Churn"\n  expect unscored  no - rule\n  report { }\n}\n')
    formatted = format_ruleset(parse(text))
    assert formatted.endswith('example "e" {\n  legacy "Gold Partner"\n  points 1, 2_000\n'
                              '  contract { product: "X" }\n  3 reports { reported: "2016-Q1" }\n  report { }\n'
                              '  expect status Basic, Basic\n  expect no sustained "Churn"\n'
                              '  expect unscored no-rule\n}\n')
    assert format_ruleset(parse(formatted)) == formatted


def test_a_report_count_out_of_range_is_a_located_error(tmp_path, capsys):
    path = tmp_path / "x.rules"
    path.write_text('program "P"\nversion "1"\neffective 2016-01-01\n'
                    'example "e" {\n  20000 reports { }\n}\n', encoding="utf-8")
    code, _, err = run(capsys, "check", str(path))
    assert code == 1
    assert "x.rules:5:3: error P115: `20000` is too large: at most 10,000 reports in one entry of an example" in err


def test_diff_lists_changed_reviews_and_reports_as_information(tmp_path, capsys):
    old = (CASES / "passing" / "program.rules").read_text(encoding="utf-8")
    new = (old.replace('version "1"', 'version "2"').replace("effective 2016-01-01", "effective 2017-01-01")
           .replace("  points 100, 100\n", "  points 100, 120\n")
           .replace('  2 reports { reported: "2016-02", late: true }', '  3 reports { reported: "2016-02", late: true }'))
    (tmp_path / "a.rules").write_text(old, encoding="utf-8")
    (tmp_path / "b.rules").write_text(new, encoding="utf-8")
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.rules"), str(tmp_path / "b.rules"))
    assert "no changes in meaning" in out
    assert 'example "a Premium partner keeps Expert for a year of grace": legacy "Premium"; points 100, 100 -> ' \
           'legacy "Premium"; points 100, 120' in out
    assert '2 reports { reported: "2016-02", late: true }; 3 reports { reported: "2016-03" } -> 3 reports' in out
