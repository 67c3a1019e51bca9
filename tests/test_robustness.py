"""Bad input of every kind gets a clear error, never a traceback.

Everything runs through `engine.cli.main(argv)` as a person would meet it. Each case asserts the
exit code (2 for input that cannot be used at all, 1 for findings, 0 when bad rows are rejected and
the run goes on) and that the message names the file and the line:column, or the row and field.
A case that shows a defect is marked xfail(strict=True) with the defect in one line, so the test
turns green the day the defect is fixed and the mark must come off.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
V2016 = PROGRAM / "2016-03.rules"
CONTRACTS = ROOT / "examples" / "contracts.csv"
BAD = Path(__file__).resolve().parent / "fixtures" / "bad_input"
HEADER = "contract_id,partner_id,partner_name,signed,product,customer,quantity,pool_gb,sales_rep"
GOOD_ROW = "C-1,P-1,Alpha GmbH,2016-04-01,O2 Business M,new,1,,A. Rep"


def run(capsys, *argv) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command; a traceback or an internal error fails at once."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "internal error" not in err, err
    assert code != 3, err
    return code, out, err


def at(path: Path | str, line: int, column: int | None = None) -> re.Pattern:
    """The `file:line:col:` a finding starts with (the file as shown, absolute or relative)."""
    col = r"\d+" if column is None else str(column)
    return re.compile(rf"{re.escape(Path(path).name)}:{line}:{col}:")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def evaluate(capsys, tmp_path, data, *options) -> tuple[int, list[dict], list[dict], dict]:
    """Evaluate DATA with the example program; exit code, contracts, rejects and manifest counts."""
    out = tmp_path / "out"
    code, _, err = run(capsys, "evaluate", PROGRAM, data, "--out", out, *options)
    assert code == 0, err
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    return code, read_csv(out / "contracts.csv"), read_csv(out / "rejects.csv"), counts


def reject_of(rejects: list[dict], row: int) -> dict:
    found = [r for r in rejects if r["row"] == str(row)]
    assert len(found) == 1, f"row {row} in rejects.csv: {found}"
    return found[0]


def copy_program(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A program folder with the 2016 version as a.rules and an edited copy as b.rules."""
    folder = tmp_path / "program"
    folder.mkdir()
    text = V2016.read_text(encoding="utf-8")
    (folder / "a.rules").write_text(text, encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    (folder / "b.rules").write_text(text, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- rulesets


@pytest.mark.parametrize("name", ["empty.rules", "comments_only.rules"])
def test_ruleset_without_statements_names_what_is_missing(capsys, name):
    path = BAD / "rulesets" / name
    code, _, err = run(capsys, "check", path)
    assert code == 1
    assert at(path, 1, 1).search(err) and "N201" in err and "no `program` statement" in err
    code, _, err = run(capsys, "evaluate", path, CONTRACTS)
    assert code == 2 and at(path, 1, 1).search(err)


def _binary(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _cp1252(path: Path) -> Path:
    path.write_bytes('# Stra\u00dfe\nprogram "M\u00fcller"\n'.encode("cp1252"))
    return path


def _utf16(path: Path) -> Path:
    path.write_text('program "X"\nversion "1"\neffective 2016-01-01\n', encoding="utf-16")
    return path


def _oversized(path: Path) -> Path:
    rules = "".join(f'rule "R{i}" {{\n  when product == "p{i}"\n  points 1\n}}\n' for i in range(40_000))
    path.write_text(V2016.read_text(encoding="utf-8") + rules, encoding="utf-8")
    assert path.stat().st_size > 2_000_000
    return path


def _symlink_loop(path: Path) -> Path:
    other = path.with_name("other.rules")
    try:
        path.symlink_to(other.name)
        other.symlink_to(path.name)
    except OSError:
        pytest.skip("symbolic links are not available here")
    return path


UNREADABLE = {
    "binary": (_binary, "binary file"),
    "cp1252": (_cp1252, "not UTF-8 text (bad byte at line 1)"),
    "utf16": (_utf16, "binary file"),
    "oversized": (_oversized, "larger than 1 MB"),
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_unreadable_ruleset_is_a_p130_finding_naming_the_file(capsys, tmp_path, kind):
    make, phrase = UNREADABLE[kind]
    path = make(tmp_path / "bad.rules")
    code, _, err = run(capsys, "check", path)
    assert code in (1, 2)
    assert at(path, 1, 1).search(err) and "P130" in err and phrase in err
    code, _, err = run(capsys, "evaluate", path, CONTRACTS)
    assert code == 2 and "P130" in err


def test_symlink_loop_in_a_program_folder(capsys, tmp_path):
    path = _symlink_loop(tmp_path / "loop.rules")
    code, _, err = run(capsys, "check", tmp_path)
    assert code in (1, 2)
    assert at(path, 1, 1).search(err) and at("other.rules", 1, 1).search(err) and "cannot be read" in err
    code, _, err = run(capsys, "evaluate", tmp_path, CONTRACTS)
    assert code == 2 and "P130" in err
    code, _, err = run(capsys, "check", path)  # given by name, the loop is no file at all
    assert code == 2 and str(path) in err and "no such file" in err


@pytest.mark.parametrize("kind", ["binary", "cp1252", "utf16", "symlink_loop"])
def test_check_exits_2_on_an_unreadable_ruleset(capsys, tmp_path, kind):
    if kind == "symlink_loop":
        _symlink_loop(tmp_path / "loop.rules")
        path = tmp_path
    else:
        path = UNREADABLE[kind][0](tmp_path / "bad.rules")
    code, _, _ = run(capsys, "check", path)
    assert code == 2


@pytest.mark.parametrize("kind", ["binary", "cp1252", "utf16"])
def test_fmt_names_a_ruleset_that_is_not_utf8(capsys, tmp_path, kind):
    path = UNREADABLE[kind][0](tmp_path / "bad.rules")
    code, _, err = run(capsys, "fmt", path)
    assert code == 2 and "bad.rules" in err


def test_ten_thousand_nested_parentheses(capsys, tmp_path):
    deep = "(" * 10_000 + "20" + ")" * 10_000
    path = tmp_path / "deep.rules"
    path.write_text(V2016.read_text(encoding="utf-8").replace("points 20 per quantity", f"points {deep} per quantity"),
                    encoding="utf-8")
    code, _, err = run(capsys, "check", path)
    assert code == 1 and "P120" in err and "nested too deeply" in err
    assert at(path, 77).search(err)
    top = tmp_path / "top.rules"
    top.write_text('program "X"\n' + deep + "\n", encoding="utf-8")
    code, _, err = run(capsys, "check", top)
    assert code == 1 and at(top, 2, 1).search(err)


def test_unterminated_string_at_end_of_file(capsys):
    path = BAD / "rulesets" / "unterminated_string.rules"
    code, _, err = run(capsys, "check", path)
    assert code == 1 and at(path, 4, 6).search(err) and "never closed" in err


def test_lone_closing_brace(capsys):
    path = BAD / "rulesets" / "lone_brace.rules"
    code, _, err = run(capsys, "check", path)
    assert code == 1 and at(path, 1, 1).search(err) and "no block is open" in err


@pytest.mark.parametrize("text, line", [(";\n", 1), ("# draft\n;\nprogram \"X\"\n", 2), ("@\n", 1), ('"\n', 1),
                                        ("_x\n", 1), ("\n  .5\n", 2)])
def test_stray_character_opening_the_file_is_a_finding(capsys, tmp_path, text, line):
    path = tmp_path / "stray.rules"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "check", path)
    assert code == 1 and at(path, line).search(err)


def test_stray_character_after_the_first_statement_is_a_finding(capsys, tmp_path):
    path = tmp_path / "stray.rules"
    path.write_text('program "X"\n;\n', encoding="utf-8")
    code, _, err = run(capsys, "check", path)
    assert code == 1 and at(path, 2, 1).search(err) and "unexpected character `;`" in err


KEYWORDS = ["program", "version", "effective", "period", "combine", "input", "tiers", "table", "rule",
            "review", "quality", "example"]
GARBAGE = ["@@ \u00a4", "", "{", '"never closed', "123 456 )))", "}", "rule"]


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("keyword", KEYWORDS)
def test_every_top_level_keyword_followed_by_garbage(capsys, tmp_path, keyword, garbage):
    path = tmp_path / "kw.rules"
    path.write_text(f'program "X"\nversion "1"\neffective 2016-01-01\n{keyword} {garbage}\n', encoding="utf-8")
    code, _, err = run(capsys, "check", path)
    assert code == 1
    assert re.search(r"kw\.rules:[45]:\d+: error [PN]\d{3}", err), err


@pytest.mark.parametrize("edit, code_, line", [
    (("effective 2016-03-01", "effective 2016-05-01"), "V402", 20),
    (('version "2016.03"', 'version "2016.05"'), "V403", 21),
    (('program "O2 Business Partner Program"\nversion "2016.03"\neffective 2016-03-01',
      'program "Other"\nversion "2016.05"\neffective 2016-05-01'), "V404", 19),
], ids=["same-name", "same-date", "other-program"])
def test_program_folder_with_clashing_versions(capsys, tmp_path, edit, code_, line):
    folder = copy_program(tmp_path, edit)
    code, _, err = run(capsys, "check", folder)
    assert code == 1 and code_ in err and at(folder / "b.rules", line, 1).search(err)
    assert "a.rules" in err  # the other file of the clash
    for command in (["evaluate", folder, CONTRACTS], ["versions", folder], ["test", folder], ["show", folder]):
        code, _, err = run(capsys, *command)
        assert code == 2 and code_ in err, command


def test_empty_program_folder(capsys, tmp_path):
    code, _, err = run(capsys, "check", tmp_path)
    assert code == 2 and "V401" in err and "holds no .rules files" in err and str(tmp_path) in err
    for command in (["evaluate", tmp_path, CONTRACTS], ["versions", tmp_path], ["schema", tmp_path]):
        code, _, err = run(capsys, *command)
        assert code == 2 and "V401" in err, command


def test_paths_that_are_files_where_a_folder_is_wanted(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", PROGRAM, CONTRACTS, "--out", CONTRACTS)
    assert code == 2 and "contracts.csv" in err and "is a file" in err
    below_a_file = CONTRACTS / "2016-03.rules"
    code, _, err = run(capsys, "evaluate", below_a_file, CONTRACTS)
    assert code == 2 and "V401" in err and str(below_a_file) in err
    code, _, err = run(capsys, "check", below_a_file)
    assert code == 2 and str(below_a_file) in err
    code, _, err = run(capsys, "evaluate", PROGRAM, CONTRACTS, "--out", below_a_file)
    assert code == 2 and str(below_a_file) in err


def test_missing_ruleset(capsys, tmp_path):
    missing = tmp_path / "nope.rules"
    code, _, err = run(capsys, "check", missing)
    assert code == 2 and str(missing) in err and "no such file" in err
    code, _, err = run(capsys, "evaluate", missing, CONTRACTS)
    assert code == 2 and str(missing) in err


# --------------------------------------------------------------------------- data files


def test_empty_data_file(capsys, tmp_path):
    data = tmp_path / "empty.csv"
    data.write_bytes(b"")
    code, _, err = run(capsys, "evaluate", PROGRAM, data)
    assert code == 2 and str(data) in err and "empty" in err


def test_header_only_data_file_counts_nothing(capsys, tmp_path):
    data = tmp_path / "header.csv"
    data.write_text(HEADER + "\n", encoding="utf-8")
    _, contracts, rejects, counts = evaluate(capsys, tmp_path, data)
    assert contracts == [] and rejects == [] and counts["rows"] == 0


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_binary_data_file(capsys, tmp_path, name):
    data = tmp_path / name
    data.write_bytes(bytes(range(128, 256)) * 8)
    code, _, err = run(capsys, "evaluate", PROGRAM, data)
    assert code == 2 and str(data) in err and "line 1" in err and "UTF-8" in err


def test_cp1252_data_without_and_with_encoding(capsys, tmp_path):
    data = BAD / "data" / "cp1252.csv"
    code, _, err = run(capsys, "evaluate", PROGRAM, data)
    assert code == 2 and "cp1252.csv" in err and "line 2" in err and "--encoding cp1252" in err
    _, contracts, rejects, counts = evaluate(capsys, tmp_path, data, "--encoding", "cp1252")
    assert counts["scored"] == 1 and rejects == [] and contracts[0]["points"] == "140"


@pytest.mark.parametrize("command", [
    ["status", PROGRAM, "{data}"], ["quality", PROGRAM, "{data}"], ["explain", PROGRAM, "{data}", "--partner", "P-1"],
    ["check", PROGRAM, "--data", "{data}"], ["diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", "{data}"],
    ["status", PROGRAM, CONTRACTS, "--legacy", "{data}"],
], ids=["status", "quality", "explain", "check-data", "diff-impact", "legacy"])
def test_every_command_reading_data_names_the_undecodable_line(capsys, command):
    data = BAD / "data" / "cp1252.csv"
    code, _, err = run(capsys, *[str(data) if a == "{data}" else a for a in command])
    assert code == 2 and "cp1252.csv: line 2 is not valid UTF-8" in err


def test_unknown_encoding(capsys):
    code, _, err = run(capsys, "evaluate", PROGRAM, CONTRACTS, "--encoding", "klingon-8")
    assert code == 2 and "contracts.csv" in err and "unknown encoding 'klingon-8'" in err


def test_wrong_utf16_encoding_names_the_file(capsys):
    code, _, err = run(capsys, "evaluate", PROGRAM, CONTRACTS, "--encoding", "utf-16")
    assert code == 2 and "contracts.csv" in err


def test_five_megabyte_single_line(capsys, tmp_path):
    data = tmp_path / "long.csv"
    data.write_text(HEADER + "\n" + "C-1,P-1," + "x" * 5_000_000 + ",2016-04-01,O2 Business M,new,1,,A\n",
                    encoding="utf-8")
    _, contracts, rejects, counts = evaluate(capsys, tmp_path, data)  # the row is rejected, reading goes on
    assert reject_of(rejects, 2)["field"] == "(row)" and "longer than 131,072 characters" in reject_of(rejects, 2)["reason"]
    assert contracts == [] and counts["rows"] == counts["rejected"] == 1
    headerless = tmp_path / "one_line.csv"
    headerless.write_text("y" * 5_000_000, encoding="utf-8")
    code, _, err = run(capsys, "evaluate", PROGRAM, headerless)
    assert code == 2 and str(headerless) in err and "row 1" in err


def test_quote_never_closed_rejects_the_row(capsys, tmp_path):
    _, contracts, rejects, counts = evaluate(capsys, tmp_path, BAD / "data" / "unclosed_quote.csv")
    assert reject_of(rejects, 2)["field"] == "(row)"
    assert [c["row"] for c in contracts] == ["3"]  # reading goes on at the line after the quote's
    assert counts["rows"] == 2 and counts["rejected"] == 1


def test_quote_never_closed_is_named_as_such(capsys, tmp_path):
    _, _, rejects, _ = evaluate(capsys, tmp_path, BAD / "data" / "unclosed_quote.csv")
    assert "quote" in reject_of(rejects, 2)["reason"]


MESSY_REJECTS = [
    (3, "(row)", "6 cells, the header has 9"),
    (4, "(row)", "11 cells, the header has 9"),
    (5, "signed", "2016-02-30"),
    (6, "signed", "31.04.2016"),
    (7, "quantity", "at least 1"),
    (8, "quantity", "whole number"),
    (9, "quantity", "whole number"),
    (10, "pool_gb", "number"),
    (11, "customer", "one of new, existing"),
    (12, "signed", "date"),
    (13, "contract_id", "required"),
    (14, "contract_id", "repeats row 2"),
    (17, "pool_gb", "at least 0"),
    (19, "pool_gb", "NaN"),
    (20, "pool_gb", "1e400"),
    (21, "partner_id", "required"),
    (22, "signed", "2016-13-01"),
]


def test_messy_csv_rejects_name_row_field_and_reason(capsys, tmp_path):
    _, contracts, rejects, _ = evaluate(capsys, tmp_path, BAD / "data" / "messy.csv")
    for row, field, phrase in MESSY_REJECTS:
        found = reject_of(rejects, row)
        assert found["field"] == field and phrase in found["reason"], found
    unscored = {c["row"]: c["reason"] for c in contracts if c["status"] == "unscored"}
    assert "no version in force" in unscored["15"] and "unknown product" in unscored["16"]


def _data_rows(path: Path) -> set[int]:
    """Row numbers of a file without multi-line cells: every non-blank line after the header."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = 1 if path.suffix == ".jsonl" else 2
    return {n for n, line in enumerate(lines[first - 1:], first) if line.strip()}


@pytest.mark.parametrize("name", ["messy.csv", "records.jsonl"])
def test_every_row_is_accounted_for_once(capsys, tmp_path, name):
    data = BAD / "data" / name
    _, contracts, rejects, counts = evaluate(capsys, tmp_path, data)
    assert counts["rows"] == counts["scored"] + counts["unscored"] + counts["rejected"]
    seen = [int(c["row"]) for c in contracts] + [int(r["row"]) for r in rejects]
    assert len(seen) == len(set(seen)), "a row appears twice"
    assert set(seen) == _data_rows(data)
    assert counts["rows"] == len(seen) and counts["rejected"] == len(rejects)
    assert counts["scored"] == sum(c["status"] == "scored" for c in contracts)


JSONL_REJECTS = [
    (2, "(row)", "is a list, not a JSON object"),
    (3, "quantity", "whole number"),
    (4, "product", "got an object"),
    (5, "(row)", "is a string, not a JSON object"),
    (6, "(row)", "is a number, not a JSON object"),
    (8, "signed", "must be a date"),
    (9, "quantity", "got true"),
    (10, "quantity", "got a list"),
    (11, "(row)", "not valid JSON"),
    (13, "contract_id", "must be text"),
    (14, "(row)", "NaN"),
    (15, "(row)", "appears twice"),
    (16, "customer", "got an object"),
    (17, "(row)", "is null, not a JSON object"),
]


def test_json_lines_with_arrays_strings_objects_and_scalars(capsys, tmp_path):
    _, contracts, rejects, _ = evaluate(capsys, tmp_path, BAD / "data" / "records.jsonl")
    for row, field, phrase in JSONL_REJECTS:
        found = reject_of(rejects, row)
        assert found["field"] == field and phrase in found["reason"], found
    scored = {c["row"]: c["points"] for c in contracts}
    assert scored == {"1": "280", "7": "31"}  # a decimal may be a JSON string ("12.5"), as the schema says


def test_json_number_written_as_text_says_so(capsys, tmp_path):
    _, _, rejects, _ = evaluate(capsys, tmp_path, BAD / "data" / "records.jsonl")
    assert re.search(r"text|string|quot", reject_of(rejects, 3)["reason"])


def test_deeply_nested_json_line_is_rejected(capsys, tmp_path):
    data = tmp_path / "deep.jsonl"
    data.write_text(json.dumps({"contract_id": "J-1"})[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
                    encoding="utf-8")
    _, _, rejects, _ = evaluate(capsys, tmp_path, data)
    assert reject_of(rejects, 1)["field"] == "(row)"


# --------------------------------------------------------------------------- spreadsheets and paths


def _workbook(path: Path, *rows, sheet: str | None = None) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    if sheet:
        book.active.title = sheet
    for row in rows:
        book.active.append(list(row))
    book.save(path)
    return path


def test_xlsx_with_an_empty_sheet(capsys, tmp_path):
    data = _workbook(tmp_path / "empty.xlsx")
    code, _, err = run(capsys, "evaluate", PROGRAM, data)
    assert code == 2 and str(data) in err and "the sheet 'Sheet' is empty" in err
    code, _, err = run(capsys, "evaluate", PROGRAM, data, "--sheet", "Shet")
    assert code == 2 and "no sheet 'Shet'" in err and "did you mean 'Sheet'" in err


def test_xlsx_dates_as_excel_dates(capsys, tmp_path):
    day = dt.date(2016, 4, 1)
    data = _workbook(tmp_path / "dates.xlsx", HEADER.split(","),
                     ["X-1", "P-1", "A", day, "O2 Business M", "new", 1, None, "A"],
                     ["X-2", "P-1", "A", dt.datetime(2016, 4, 1), "O2 Business M", "new", 2, None, "A"],
                     ["X-3", "P-1", "A", 42461, "O2 Business M", "new", 2, None, "A"],
                     ["X-4", "P-1", "A", dt.time(12, 0), "O2 Business M", "new", 2, None, "A"],
                     ["X-5", "P-1", "A", day, "O2 Business M", "new", "#DIV/0!", None, "A"])
    _, contracts, rejects, _ = evaluate(capsys, tmp_path, data)
    assert [(c["row"], c["signed"], c["points"]) for c in contracts] == [("2", "2016-04-01", "140"),
                                                                         ("3", "2016-04-01", "280")]
    assert reject_of(rejects, 4)["field"] == "signed" and "42461" in reject_of(rejects, 4)["reason"]
    assert reject_of(rejects, 5)["field"] == "signed"
    assert reject_of(rejects, 6)["field"] == "quantity" and "#DIV/0!" in reject_of(rejects, 6)["reason"]


def test_xlsx_formula_without_a_value_is_not_silently_the_default(capsys, tmp_path):
    data = _workbook(tmp_path / "formulas.xlsx", HEADER.split(","),
                     ["X-1", "P-1", "A", dt.date(2016, 4, 1), "O2 Business M", "new", "=1+1", None, "A"])
    _, contracts, rejects, _ = evaluate(capsys, tmp_path, data)
    assert [c["points"] for c in contracts] != ["140"]
    assert reject_of(rejects, 2)["field"] == "quantity"


@pytest.mark.parametrize("name, hint", [("data.xls", "save it from Excel as .xlsx"), ("data.ods", ".xlsx"),
                                        ("data.json", ".jsonl"), ("data", "no extension")])
def test_unknown_data_extensions(capsys, tmp_path, name, hint):
    data = tmp_path / name
    data.write_text(HEADER + "\n" + GOOD_ROW + "\n", encoding="utf-8")
    code, _, err = run(capsys, "evaluate", PROGRAM, data)
    assert code == 2 and str(data) in err and hint in err


def test_not_a_workbook_with_xlsx_extension(capsys, tmp_path):
    data = tmp_path / "fake.xlsx"
    data.write_text(HEADER + "\n", encoding="utf-8")
    code, _, err = run(capsys, "evaluate", PROGRAM, data)
    assert code == 2 and str(data) in err and "cannot be opened as an Excel .xlsx workbook" in err


@pytest.mark.parametrize("command", ["evaluate", "status", "quality", "explain"])
def test_a_folder_given_as_data(capsys, tmp_path, command):
    extra = ["--partner", "P-001"] if command == "explain" else []
    code, _, err = run(capsys, command, PROGRAM, tmp_path, *extra)
    assert code == 2 and str(tmp_path) in err and "is a folder, not a file" in err


def test_missing_data_and_legacy_files(capsys, tmp_path):
    missing = tmp_path / "missing.csv"
    code, _, err = run(capsys, "evaluate", PROGRAM, missing)
    assert code == 2 and str(missing) in err and "no such file" in err
    code, _, err = run(capsys, "status", PROGRAM, CONTRACTS, "--legacy", missing)
    assert code == 2 and str(missing) in err and "no such file" in err


def test_legacy_file_with_an_unknown_status_names_the_partner_and_suggests(capsys):
    legacy = BAD / "data" / "legacy_unknown_status.csv"
    code, _, err = run(capsys, "status", PROGRAM, CONTRACTS, "--legacy", legacy)
    assert code == 2 and "legacy_unknown_status.csv" in err
    assert "P-001" in err and "'Premuim'" in err and "did you mean 'Premium'" in err


def test_explain_partner_with_an_unknown_legacy_status(capsys):
    legacy = BAD / "data" / "legacy_unknown_status.csv"
    code, _, err = run(capsys, "explain", PROGRAM, CONTRACTS, "--partner", "P-001", "--legacy", legacy)
    assert code == 2 and "P-001" in err and "did you mean 'Premium'" in err


def test_legacy_file_without_status_column_and_with_a_repeat(capsys, tmp_path):
    legacy = tmp_path / "legacy.csv"
    legacy.write_text("partner_id\nP-001\n", encoding="utf-8")
    code, _, err = run(capsys, "status", PROGRAM, CONTRACTS, "--legacy", legacy)
    assert code == 2 and str(legacy) in err and "row 1" in err and "status" in err
    legacy.write_text("partner_id,status\nP-001,Gold\nP-001,Premium\n", encoding="utf-8")
    code, _, err = run(capsys, "status", PROGRAM, CONTRACTS, "--legacy", legacy)
    assert code == 2 and str(legacy) in err and "row 3" in err and "partner_id" in err


def test_quality_data_with_bad_rows(capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = run(capsys, "quality", PROGRAM, BAD / "data" / "quality_bad.csv", "--contracts", CONTRACTS,
                       "--out", out)
    assert code == 0, err
    rejects = {r["row"]: (r["field"], r["reason"]) for r in read_csv(out / "quality_rejects.csv")}
    assert rejects["3"][0] == "reported" and "2016-04-31" in rejects["3"][1]
    assert rejects["4"][0] == "missed_payment" and "'perhaps'" in rejects["4"][1]
    assert rejects["5"] == ("usage_pct", "`usage_pct` must be at most 100, got '187.9'")
    assert rejects["6"][0] == "usage_pct" and "7" not in rejects  # reports by contract: the partner is the contract's
    assert rejects["8"][0] == "(row)" and rejects["9"][0] == "usage_pct"
    assert "2" not in rejects


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("argv, phrase", [
    (["frobnicate"], "No such command 'frobnicate'"),
    (["evaluate", "--frob", PROGRAM, CONTRACTS], "No such option '--frob'"),
    (["evaluate", PROGRAM, CONTRACTS, "--delimiter", ";;"], "'--delimiter'"),
    (["evaluate", PROGRAM, CONTRACTS, "--delimiter", "ab"], "'--delimiter'"),
    (["explain", PROGRAM, CONTRACTS], "--contract, --row or --partner"),
    (["diff", PROGRAM, PROGRAM], "@VERSION"),
    (["diff", PROGRAM, V2016], "@VERSION"),
    (["status", PROGRAM, CONTRACTS, "--as-of", "2016-02-30"], "'2016-02-30' is not a date"),
    (["show", PROGRAM, "--on", "2016-13-01"], "'2016-13-01' is not a date"),
    (["show", PROGRAM, "--version", "nope"], "2016.03, 2017.01, 2018.01"),
], ids=["command", "option", "delimiter-two", "delimiter-letters", "explain-what", "diff-folder",
        "diff-folder-file", "as-of", "on", "version"])
def test_bad_options_exit_2_with_a_sentence(capsys, argv, phrase):
    code, _, err = run(capsys, *argv)
    assert code == 2 and phrase in err, err


def test_bad_option_with_json_is_json(capsys):
    code, _, err = run(capsys, "explain", PROGRAM, CONTRACTS, "--json")
    assert code == 2 and "--contract, --row or --partner" in json.loads(err)["error"]


def test_diff_with_unknown_folder_or_version(capsys):
    code, _, err = run(capsys, "diff", "x@nope", f"{PROGRAM}@2016.03")
    assert code == 2 and "x: error V401: no such folder" in err
    code, _, err = run(capsys, "diff", f"{PROGRAM}@nope", f"{PROGRAM}@2016.03")
    assert code == 2 and 'no version "nope"' in err and "2016.03, 2017.01, 2018.01" in err


def test_explain_something_that_is_not_there(capsys):
    code, _, err = run(capsys, "explain", PROGRAM, CONTRACTS, "--contract", "C-NOPE")
    assert code == 2 and "contracts.csv" in err and "C-NOPE" in err
    code, _, err = run(capsys, "explain", PROGRAM, CONTRACTS, "--row", "1")
    assert code == 2 and "row 1" in err
    code, _, err = run(capsys, "explain", PROGRAM, CONTRACTS, "--contract", "C-000123", "--why-not", "Mobile tarifs")
    assert code == 2 and 'did you mean "Mobile tariffs"' in err


def test_delimiter_that_does_not_fit_the_file(capsys):
    code, _, err = run(capsys, "evaluate", PROGRAM, CONTRACTS, "--delimiter", ";")
    assert code == 2 and "contracts.csv" in err and "row 1" in err and "`contract_id` is missing" in err



def test_errors_under_json_are_json(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", PROGRAM, BAD / "data" / "cp1252.csv", "--json")
    assert code == 2 and "cp1252.csv: line 2" in json.loads(err)["error"]
    path = BAD / "rulesets" / "unterminated_string.rules"
    code, _, err = run(capsys, "evaluate", path, CONTRACTS, "--json")
    findings = json.loads(err.split("\n{\"error\"")[0])["findings"]
    assert code == 2 and findings[0]["code"] == "P102"
    assert (findings[0]["file"].endswith(path.name), findings[0]["line"], findings[0]["column"]) == (True, 4, 6)
