"""Reason codes, rows.csv and runs over several files.

The run cases in tests/cases/rows/*.yaml are data: a `program` (file name -> ruleset text, one
version each), `files` (name and text of each export, in the order given to the run), optional
`options` (engine.run.RunOptions fields) and the expected `rows` (rows.csv exactly) and optionally
`rejects` (rejects.csv exactly). Each case runs memoised and scored afresh (every row traced),
which must write the same bytes; every run is checked to account for each input row exactly once.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from engine import reasons
from engine.program import load_program
from engine.run import OUTPUT_FILES, RunOptions, evaluate

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases" / "rows"
DOCS = ROOT / "docs" / "reasons"
PROGRAM = ROOT / "rulesets" / "o2-business"
EXAMPLE = ROOT / "examples" / "contracts.csv"
NEVER_FROM_AN_EXPORT = {
    # the fallback of a RowReject raised without a code of its own: none of today's checks
    reasons.INVALID_VALUE,
    # a typed record always holds numbers in number fields; only a record built by hand reaches it
    reasons.FIELD_NOT_A_NUMBER,
}


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _run_case(path: Path, tmp_path: Path, monkeypatch) -> tuple[dict, Path, Path]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "program"
    folder.mkdir()
    for name, text in case["program"].items():
        (folder / name).write_text(text, encoding="utf-8")
    for f in case["files"]:
        (tmp_path / f["name"]).write_text(f["text"], encoding="utf-8")
    monkeypatch.chdir(folder)  # messages name the ruleset files as `a.rules:38:10`
    program = load_program(folder)
    monkeypatch.chdir(tmp_path)
    names = [f["name"] for f in case["files"]]
    options = case.get("options", {})
    evaluate(program, names, RunOptions(**options), out_dir=tmp_path / "memo")
    evaluate(program, names, RunOptions(trace_when=lambda row, record: True, **options), out_dir=tmp_path / "afresh")
    return case, tmp_path / "memo", tmp_path / "afresh"


def assert_accounted(out: Path) -> None:
    """Every input row in rows.csv once; contracts.csv and rejects.csv split it; counts reconcile per file."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(open(out / "rows.csv", encoding="utf-8", newline="")))
    contracts = list(csv.DictReader(open(out / "contracts.csv", encoding="utf-8", newline="")))
    rejects = list(csv.DictReader(open(out / "rejects.csv", encoding="utf-8", newline="")))
    keys = [(r["file"], int(r["row"])) for r in rows]
    assert len(keys) == len(set(keys)), "a row listed twice in rows.csv"
    assert sorted(keys) == sorted([(r["file"], int(r["row"])) for r in contracts]
                                  + [(r["file"], int(r["row"])) for r in rejects])
    for listed in (rows, contracts, rejects):
        assert all(r["code"] == "" or reasons.is_code(r["code"]) for r in listed)
    assert all(r["code"] for r in rows if r["status"] != "scored")
    assert all(not r["code"] and not r["reason"] for r in rows if r["status"] == "scored")
    total = Counter()
    for entry in manifest["inputs"]:
        mine = [r for r in rows if r["file"] == entry["file"]]
        statuses = Counter(r["status"] for r in mine)
        counts = entry["counts"]
        assert counts["rows"] == len(mine) == counts["scored"] + counts["unscored"] + counts["rejected"]
        assert (counts["scored"], counts["unscored"], counts["rejected"]) == (
            statuses["scored"], statuses["unscored"], statuses["rejected"])
        assert counts["unscored_reasons"] == dict(sorted(Counter(
            r["code"] for r in mine if r["status"] == "unscored").items()))
        total.update({k: counts[k] for k in ("rows", "scored", "unscored", "rejected")})
        rows_in_file = [k for k in keys if k[0] == entry["file"]]
        assert rows_in_file == sorted(rows_in_file), "rows.csv lists a file's rows in order"
    assert {k: manifest["counts"][k] for k in total} == dict(total)
    assert [e["file"] for e in manifest["inputs"]] == list(dict.fromkeys(k[0] for k in keys))
    assert manifest["format"] == 2


# --------------------------------------------------------------------------- the run cases


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_run_case(path, tmp_path, monkeypatch):
    case, memo, afresh = _run_case(path, tmp_path, monkeypatch)
    for name in OUTPUT_FILES + ("manifest.json",):
        assert (memo / name).read_bytes() == (afresh / name).read_bytes(), name
    assert (memo / "rows.csv").read_text(encoding="utf-8") == case["rows"]
    if "rejects" in case:
        assert (memo / "rejects.csv").read_text(encoding="utf-8") == case["rejects"]
    assert_accounted(memo)


def test_every_code_is_produced_by_a_case():
    seen = set()
    for path in CASES.glob("*.yaml"):
        seen |= {row[5] for row in _csv(yaml.safe_load(path.read_text(encoding="utf-8"))["rows"])[1:]}
    for path in (ROOT / "tests" / "cases").glob("*.yaml"):
        seen |= {c["code"] for c in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"] if "code" in c}
    assert set(reasons.ALL) - NEVER_FROM_AN_EXPORT - seen == set()


def test_a_record_built_by_hand_with_text_in_a_number_field():
    from dsl.parser import parse
    from engine.compile import compile_ruleset

    plan = compile_ruleset(parse('program "P"\nversion "1"\neffective 2016-01-01\n'
                                 'input contract {\n  contract_id: text\n  quantity: integer\n}\n'
                                 'rule "R" {\n  points quantity * 2\n}\n', "p.rules"))
    score = plan.score({"contract_id": "C-1", "quantity": "three"})
    assert (score.status, score.code) == ("unscored", reasons.FIELD_NOT_A_NUMBER)
    assert score.reason == "rule \"R\": field quantity is not a number ('three')"


# --------------------------------------------------------------------------- the codes and their pages


def test_codes_are_short_stable_words():
    assert set(reasons.UNSCORED).isdisjoint(reasons.REJECTED)
    for code in reasons.ALL:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", code) and len(code) <= 24, code


def test_every_code_has_a_page_and_a_line_in_the_index():
    pages = {p.stem for p in DOCS.glob("*.md") if p.name != "README.md"}
    assert pages == set(reasons.ALL)
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for code in reasons.ALL:
        assert f"[{code}]({code}.md)" in index, code
        page = (DOCS / f"{code}.md").read_text(encoding="utf-8")
        kind = "unscored" if code in reasons.UNSCORED else "rejected"
        assert page.startswith(f"# {code}\n"), code
        assert f"Status: {kind}." in page, code
        assert "## Example" in page and "## What to do" in page, code


def test_the_pages_show_messages_the_engine_gives():
    """A page's example lines `code,message` (in a ```csv block) must occur in some case's rows.csv."""
    produced = set()
    for path in CASES.glob("*.yaml"):
        produced |= {(row[5], row[6]) for row in _csv(yaml.safe_load(path.read_text(encoding="utf-8"))["rows"])[1:]}
    for page in DOCS.glob("*.md"):
        for block in re.findall(r"^```csv\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M):
            for status, code, reason in _csv(block)[1:]:
                assert (code, reason) in produced, (page.name, code, reason)


# --------------------------------------------------------------------------- accounting over real data


def test_the_example_export_is_accounted_for(tmp_path):
    result = evaluate(load_program(PROGRAM), EXAMPLE, RunOptions(), out_dir=tmp_path)
    assert result.counts.reconciles
    assert_accounted(tmp_path)
    rejects = list(csv.DictReader(open(tmp_path / "rejects.csv", encoding="utf-8", newline="")))
    assert {r["code"] for r in rejects} >= {reasons.DUPLICATE, reasons.UNREADABLE_ROW, reasons.MISSING_REQUIRED}
    by_field = Counter((r["field"], r["code"]) for r in rejects)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["rejected_reasons"] == {
        f: {c: n for (f2, c), n in sorted(by_field.items()) if f2 == f} for f in sorted({f for f, _ in by_field})}


def test_messy_data_is_accounted_for_memoised_and_afresh(tmp_path):
    from test_perf_equivalence import _write_csv

    program = load_program(PROGRAM)
    data = _write_csv(tmp_path / "messy.csv", 2500, seed=11)
    evaluate(program, data, RunOptions(), out_dir=tmp_path / "memo")
    evaluate(program, data, RunOptions(trace_when=lambda row, record: True), out_dir=tmp_path / "afresh")
    for name in OUTPUT_FILES:
        assert (tmp_path / "memo" / name).read_bytes() == (tmp_path / "afresh" / name).read_bytes(), name
    assert_accounted(tmp_path / "memo")


def test_a_reject_carries_the_ids_as_given(tmp_path):
    rejects = _reject_rows(tmp_path, "contract_id,partner_id,signed,product\n"
                                     "  C-1 ,P-1,someday,O2 Business S\n"
                                     ",P-2,2016-05-01,O2 Business S\n"
                                     "C-3,,2016-05-01,O2 Business S\n")
    assert [(r["contract_id"], r["partner_id"], r["field"], r["code"]) for r in rejects] == [
        ("C-1", "P-1", "signed", reasons.NOT_A_DATE),
        ("", "P-2", "contract_id", reasons.MISSING_REQUIRED),
        ("C-3", "", "partner_id", reasons.MISSING_REQUIRED)]


def _reject_rows(tmp_path: Path, text: str, name: str = "c.csv") -> list[dict]:
    data = tmp_path / name
    data.write_text(text, encoding="utf-8")
    evaluate(load_program(PROGRAM), data, RunOptions(), out_dir=tmp_path / "out")
    return list(csv.DictReader(open(tmp_path / "out" / "rejects.csv", encoding="utf-8", newline="")))


def test_json_lines_rejects_carry_ids_and_codes(tmp_path):
    lines = ['{"contract_id": "C-1", "partner_id": "P-1", "signed": "2016-05-01", "product": 5}',
             '{"contract_id": 7, "partner_id": "P-1", "signed": "2016-05-01", "product": "O2 Business S"}',
             '[1, 2]']
    rejects = _reject_rows(tmp_path, "\n".join(lines) + "\n", "c.jsonl")
    assert [(r["row"], r["contract_id"], r["partner_id"], r["field"], r["code"]) for r in rejects] == [
        ("1", "C-1", "P-1", "product", reasons.NOT_TEXT), ("2", "", "P-1", "contract_id", reasons.NOT_TEXT),
        ("3", "", "", "(row)", reasons.UNREADABLE_ROW)]


# --------------------------------------------------------------------------- several files


def test_two_files_share_unique_and_name_their_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    header = "contract_id,partner_id,signed,product\n"
    Path("jan.csv").write_text(header + "C-1,P-1,2016-05-01,O2 Business S\nC-2,P-1,2016-05-02,O2 Business S\n",
                               encoding="utf-8")
    Path("feb.csv").write_text(header + "C-3,P-2,2016-06-01,O2 Business S\nC-2,P-2,2016-06-02,O2 Business S\n"
                               "C-3,P-2,2016-06-03,O2 Business S\n", encoding="utf-8")
    program = load_program(PROGRAM)
    result = evaluate(program, ["jan.csv", "feb.csv"], RunOptions(), out_dir="out")
    assert [(f.file, f.counts.rows, f.counts.rejected) for f in result.files] == [("jan.csv", 2, 0),
                                                                                  ("feb.csv", 3, 2)]
    assert Path("out/rows.csv").read_text(encoding="utf-8") == (
        "file,row,contract_id,partner_id,status,code,reason\n"
        "jan.csv,2,C-1,P-1,scored,,\n"
        "jan.csv,3,C-2,P-1,scored,,\n"
        "feb.csv,2,C-3,P-2,scored,,\n"
        "feb.csv,3,C-2,P-2,rejected,duplicate,`contract_id` 'C-2' repeats row 3 of jan.csv\n"
        "feb.csv,4,C-3,P-2,rejected,duplicate,`contract_id` 'C-3' repeats row 2 of feb.csv\n")
    manifest = json.loads(Path("out/manifest.json").read_text(encoding="utf-8"))
    assert [(i["file"], len(i["sha256"])) for i in manifest["inputs"]] == [("jan.csv", 64), ("feb.csv", 64)]
    assert_accounted(Path("out"))
    evaluate(program, ["jan.csv", "feb.csv"], RunOptions(trace_when=lambda r, rec: True), out_dir="rows")
    for name in OUTPUT_FILES + ("manifest.json",):
        assert Path("out", name).read_bytes() == Path("rows", name).read_bytes(), name


def test_several_files_of_the_example_reconcile(tmp_path, monkeypatch):
    """The example export cut in two (the second half repeating some ids of the first) and a JSON Lines file."""
    monkeypatch.chdir(tmp_path)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    Path("a.csv").write_text("".join(lines[:2001]), encoding="utf-8")
    Path("b.csv").write_text("".join(lines[:1] + lines[1990:]), encoding="utf-8")
    Path("c.jsonl").write_text('{"contract_id": "C-000005", "partner_id": "P-1", "signed": "2016-05-01", '
                               '"product": "O2 Business S"}\n{"contract_id": "J-1", "partner_id": "P-1", '
                               '"signed": "2016-05-01", "product": "O2 Business S"}\n', encoding="utf-8")
    result = evaluate(load_program(PROGRAM), ["a.csv", "b.csv", "c.jsonl"], RunOptions(), out_dir="out")
    assert_accounted(Path("out"))
    assert result.counts.rows == sum(f.counts.rows for f in result.files) == 4013
    rejects = list(csv.DictReader(open("out/rejects.csv", encoding="utf-8", newline="")))
    repeats = [r for r in rejects if r["code"] == reasons.DUPLICATE and r["file"] != "a.csv"]
    assert len([r for r in repeats if r["file"] == "b.csv" and "of a.csv" in r["reason"]]) == 11
    assert [r["reason"] for r in repeats if r["file"] == "c.jsonl"] == [
        "`contract_id` 'C-000005' repeats row 6 of a.csv"]


# --------------------------------------------------------------------------- the command line


def _cli(capsys, *argv) -> tuple[int, str, str]:
    from engine.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _two_exports(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    header = "contract_id,partner_id,signed,product,quantity\n"
    Path("jan.csv").write_text(header + "C-1,P-1,2016-05-01,O2 Business S,2\nC-2,P-1,2016-05-02,Fax,1\n",
                               encoding="utf-8")
    Path("feb.csv").write_text(header + "C-1,P-2,2016-06-01,O2 Business S,1\nC-4,,2016-06-02,O2 Business S,x\n"
                               "C-5,P-2,2016-06-03\n", encoding="utf-8")


def test_evaluate_several_files_prints_counts_per_file_and_by_code(capsys, tmp_path, monkeypatch):
    _two_exports(tmp_path, monkeypatch)
    code, out, _ = _cli(capsys, "evaluate", str(PROGRAM), "jan.csv", "feb.csv", "--out", "out")
    assert code == 0
    assert [line.rstrip() for line in out.splitlines()[:24]] == """\
O2 Business Partner Program — jan.csv, feb.csv
Rows
┏━━━━━━┳━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━┓
┃ rows ┃ scored ┃ unscored ┃ rejected ┃ file    ┃
┡━━━━━━╇━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━┩
│    2 │      1 │        1 │        0 │ jan.csv │
│    3 │      0 │        0 │        3 │ feb.csv │
│    5 │      1 │        1 │        3 │ total   │
└──────┴────────┴──────────┴──────────┴─────────┘
Unscored, by reason
┏━━━━━━━━━━━━━━━━━┳━━━━━━┓
┃ code            ┃ rows ┃
┡━━━━━━━━━━━━━━━━━╇━━━━━━┩
│ unknown-product │    1 │
└─────────────────┴──────┘
Rejected, by field and reason
┏━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━┓
┃ field       ┃ code             ┃ rows ┃
┡━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━┩
│ (row)       │ unreadable-row   │    1 │
│ contract_id │ duplicate        │    1 │
│ partner_id  │ missing-required │    1 │
└─────────────┴──────────────────┴──────┘
Partners by tier""".splitlines()
    assert_accounted(Path("out"))


def test_explain_a_rejected_row_of_one_of_several_files(capsys, tmp_path, monkeypatch):
    _two_exports(tmp_path, monkeypatch)
    code, out, _ = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "feb.csv", "--row", "2", "--file", "feb.csv")
    assert code == 0
    assert out == ("row 2 of feb.csv (contract C-1, partner P-2)\n"
                   "├── rejected: `contract_id` 'C-1' repeats row 2 of jan.csv\n"
                   "├── field contract_id, value 'C-1'\n"
                   "└── code duplicate (docs/reasons/duplicate.md)\n")
    code, out, _ = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "feb.csv", "--row", "4", "--file", "feb.csv",
                        "--json")
    assert code == 0 and json.loads(out) == {
        "file": "feb.csv", "row": 4, "status": "rejected", "contract_id": None, "partner_id": None,
        "field": "(row)", "value": "", "code": "unreadable-row",
        "reason": "row 4 has 3 cells, the header has 5 columns"}
    code, _, err = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "feb.csv", "--row", "2")
    assert code == 2 and "row 2 is in several files (feb.csv, jan.csv): say which with --file" in err
    code, _, err = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "--row", "2", "--file", "feb.csv")
    assert code == 2 and "--file feb.csv is not one of the DATA files (jan.csv)" in err
    code, _, err = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "--row", "9")
    assert code == 2 and err == "error: jan.csv: there is no row 9\n"


def test_explain_an_unscored_row_names_its_code(capsys, tmp_path, monkeypatch):
    _two_exports(tmp_path, monkeypatch)
    code, out, _ = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "--row", "3", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["status"], data["code"]) == ("unscored", reasons.UNKNOWN_PRODUCT)
    code, out, _ = _cli(capsys, "explain", str(PROGRAM), "jan.csv", "--row", "3")
    assert out.splitlines()[1] == ("└── unscored: unknown product: 'Fax' is not in version 2016.03 (no version knows "
                                   "it) (unknown-product)")
