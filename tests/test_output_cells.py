"""Values from files stay data in every CSV the project writes (engine/cells.py, docs/data.md).

A cell a spreadsheet would run (`=`, `@`, tab, CR, LF first, or `+` / `-` when it is not a number)
gets one leading `'`; the engine's numbers never do; a CR or LF in a cell is quoted; every output
reads back through the project's own reader (`open_rows`) and `restore` to the values written.
The end-to-end tests run every command that writes CSV files over an export full of hostile values
and compare what each writer was handed with what its file reads back as.
"""
from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from engine import cells
from engine.cells import DictWriter, neutral, restore, writer
from engine.cli import main
from engine.numbers import fmt_points
from engine.readers import open_rows

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd", "\tx", "a\rb", "a\nb",
           "a\r\nb", "\r=lead", "\n@lead", 'say "hi"', "a,b;c", "Grüße—東京", "-0.25", "'=already", "''@twice",
           "+", "-", "'"]
RUNS = ('=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd")  # kept by the validator
HEADER = ["contract_id", "partner_id", "signed", "product", "customer", "quantity", "pool_gb"]


def runs_in_a_spreadsheet(cell: str) -> bool:
    """The shape of a formula, independently of engine.cells: what the tests hold every cell against."""
    if cell[:1] in ("=", "@", "\t", "\r", "\n"):
        return True
    if cell[:1] in ("+", "-"):
        try:
            Decimal(cell.replace(",", "."))
        except ArithmeticError:
            return True
        return not cell[1:2].isdigit() and cell[1:2] not in (".", ",")
    return False


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("text, cell", [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("-2+3+cmd", "'-2+3+cmd"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("\nx", "'\nx"),
    ("-", "'-"), ("+", "'+"), ("--5", "'--5"), ("-1e5x", "'-1e5x"), ("- 1", "'- 1"), ("-\u0663", "'-\u0663"),
    ("'=x", "''=x"), ("''-cmd", "'''-cmd"),  # a quote already there: one more, so restore is exact
    # left as they are: numbers, and texts no spreadsheet runs
    ("-0.25", "-0.25"), ("+3", "+3"), ("-1,5", "-1,5"), ("-.5", "-.5"), ("+2E-3", "+2E-3"), ("-7.", "-7."),
    ("C-1", "C-1"), ("a=b", "a=b"), (" =x", " =x"), ("'x", "'x"), ("'", "'"), ("''", "''"), ("", ""),
    ("0", "0"), ("Grüße", "Grüße"),
])
def test_neutral_prefixes_what_a_spreadsheet_would_run(text, cell):
    assert neutral(text) == cell
    assert restore(cell) == text


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.text(alphabet=st.sampled_from("=@+-'\t\r\n0123456789.,eE xA\"é"), max_size=8) | st.text(max_size=12))
def test_restore_undoes_neutral_and_no_neutral_cell_runs(text):
    cell = neutral(text)
    assert restore(cell) == text
    assert not runs_in_a_spreadsheet(cell)
    assert cell == text or cell == "'" + text


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12, places=4))
def test_the_engines_numbers_are_never_prefixed(value):
    text = fmt_points(value)
    assert neutral(text) == text


# --------------------------------------------------------------------------- the writers


def written(rows: list[list], dict_rows: bool = False) -> str:
    out = io.StringIO()
    if dict_rows:
        w = DictWriter(out, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    else:
        writer(out).writerows(rows)
    return out.getvalue()


def test_a_lone_cr_is_quoted_and_every_line_ends_in_lf():
    text = written([["a\rb", "x"], ["a\nb", "a\r\nb"], ["plain", 1]])
    assert text == '"a\rb",x\n"a\nb","a\r\nb"\nplain,1\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["a\rb", "x"], ["a\nb", "a\r\nb"], ["plain", "1"]]


def test_without_hostile_cells_the_writer_writes_what_the_csv_module_writes():
    rows = [["C-1", "P-1", "2016-05-01", 12, "-0.25", None, "a,b", 'q"'], ["", "x y", Decimal("-1.5"), 0]]
    plain = io.StringIO()
    csv.writer(plain, lineterminator="\n").writerows(rows)
    assert written(rows) == plain.getvalue()
    dicts = [{"a": "x", "b": 1}, {"a": "-2", "b": None}]
    plain = io.StringIO()
    w = csv.DictWriter(plain, fieldnames=["a", "b"], lineterminator="\n")
    w.writeheader()
    w.writerows(dicts)
    assert written(dicts, dict_rows=True) == plain.getvalue()


def test_the_dict_writer_refuses_an_unknown_key_and_writes_a_missing_one_empty():
    out = io.StringIO()
    w = DictWriter(out, fieldnames=["a", "b"])
    w.writerow({"a": "=1"})
    assert out.getvalue() == "'=1,\n"
    with pytest.raises(ValueError):
        w.writerow({"c": 1})


# --------------------------------------------------------------------------- every output, end to end


@pytest.fixture
def handed(monkeypatch) -> dict[tuple, list[list]]:
    """The rows each output file's writer was handed (its header first), by the file's header."""
    seen: dict[tuple, list[list]] = {}
    real = cells.writer

    class Spy:
        def __init__(self, file):
            self.inner, self.rows = real(file), None

        def writerow(self, row):
            row = list(row)
            if self.rows is None:
                self.rows = seen.setdefault(tuple(row), [])
            self.rows.append(row)
            return self.inner.writerow(row)

        def writerows(self, rows):
            for row in rows:
                self.writerow(row)

    monkeypatch.setattr(cells, "writer", Spy)
    return seen


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert "Traceback" not in out + err
    return code, out


def read_back(path: Path) -> list[list[str]]:
    """An output file as the project reads it, prefixes taken off: the header, then the rows."""
    with open_rows(path) as source:
        rows = [source.header] + [raw for _, raw in source]
    return [[restore(cell) for cell in row] for row in rows]


def raw_cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def assert_round_trip(folder: Path, handed: dict, names: tuple[str, ...]) -> None:
    for name in names:
        back = read_back(folder / name)
        expected = [["" if c is None else str(c) for c in row] for row in handed[tuple(back[0])]]
        assert len(expected) > 1, f"{name}: nothing but a header was written"
        assert back == expected, name
        for row in raw_cells(folder / name):
            for cell in row:
                assert not runs_in_a_spreadsheet(cell), (name, cell)


def hostile_export(path: Path) -> Path:
    """Contracts whose ids, partners and products are hostile, and rejects whose values are."""
    rows = []
    for i, value in enumerate(HOSTILE):
        rows.append([value, value, "2016-05-01", "O2 Business S" if i % 2 else value, "new", "2", ""])
        rows.append([f"{value}#2", value, "2017-03-01", "O2 Business M", "existing", "1", ""])
        rows.append([f"R-{i}", "P-1", "2016-05-01", "O2 Business S", "new", value, ""])  # a refused quantity
    rows.append(["R-date", "P-1", "@SUM(A1)", "O2 Business S", "new", "1", ""])
    with open(path, "w", encoding="utf-8", newline="") as f:  # quoted: a lone CR must reach the reader
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def test_evaluate_outputs_read_back_to_the_values_written(capsys, tmp_path, handed):
    data = hostile_export(tmp_path / "hostile.csv")
    out = tmp_path / "out"
    run(capsys, "evaluate", PROGRAM, data, "--out", out)
    names = ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv")
    assert_round_trip(out, handed, names)

    contracts = named(raw_cells(out / "contracts.csv"))
    ids = {row["contract_id"]: row for row in contracts}
    for value in RUNS:  # neutralised in the raw file, restored by restore
        assert ids["'" + value]["partner_id"] == "'" + value
        assert "'" + value + "#2" in ids
    assert ids["'=HYPERLINK(\"http://x\",\"y\")"]["product"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert ids["-0.25"]["partner_id"] == "-0.25"  # a number-shaped text id: as it is
    assert ids["''=already"]["partner_id"] == "''=already"
    assert ids["a\rb"]["partner_id"] == "a\rb"
    assert all(row["row"].isdigit() for row in contracts)  # row numbers
    assert all(row["points"] == "" or not row["points"].startswith("'") for row in contracts)
    rejects = named(raw_cells(out / "rejects.csv"))
    shown = {row["value"] for row in rejects if row["field"] == "quantity"}
    assert {"'=HYPERLINK(\"http://x\",\"y\")", "'+cmd|' /C calc'!A0", "'@SUM(A1)", "'-2+3+cmd", "-0.25"} <= shown
    assert any(row["field"] == "signed" and row["value"] == "'@SUM(A1)" for row in rejects)
    rows = named(raw_cells(out / "rows.csv"))
    assert {"'" + value for value in RUNS} <= {row["contract_id"] for row in rows}
    partners = {row[0] for row in raw_cells(out / "partners.csv")[1:]}
    assert {"'" + value for value in RUNS} | {"-0.25"} <= partners


def named(table: list[list[str]]) -> list[dict]:
    """The rows of a CSV read raw, as dicts by its header."""
    return [dict(zip(table[0], row)) for row in table[1:]]


def test_negative_points_and_hostile_ruleset_names(capsys, tmp_path, handed):
    """Points the engine writes (-0.75) are never prefixed; a version name from the ruleset that
    starts like a formula is, like any other text."""
    text = (PROGRAM / "2016-03.rules").read_text(encoding="utf-8")
    text = text.replace('version "2016.03"', 'version "-1+2"').replace(
        'points 20 per quantity, at most 400', 'points 0 - 0.25 * quantity')
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a.rules").write_text(text, encoding="utf-8")
    data = tmp_path / "c.csv"
    data.write_text("contract_id,partner_id,signed,product,quantity\n=A,-P,2016-05-01,O2 Digital Phone,3\n"
                    "B,-5,2016-05-01,O2 Digital Phone,1\n", encoding="utf-8")
    out = tmp_path / "out"
    run(capsys, "evaluate", tmp_path / "p", data, "--out", out)
    contracts = named(raw_cells(out / "contracts.csv"))
    first, second = contracts
    assert [first["row"], first["contract_id"], first["partner_id"], first["version"]] == ["2", "'=A", "'-P", "'-1+2"]
    assert first["points"] == "-0.75" and first["rules"].endswith("=-0.75")
    assert second["partner_id"] == "-5" and second["points"] == "-0.25"
    partners = raw_cells(out / "partners.csv")
    assert ["-5", "2016", "-0.25"] == partners[1][:3]  # sorted by partner id
    assert ["'-P", "2016", "-0.75"] == partners[2][:3] and partners[2][4] == "'-1+2"
    assert_round_trip(out, handed, ("contracts.csv", "partners.csv", "partner_rules.csv"))


def test_status_outputs_read_back_and_json_stays_exact(capsys, tmp_path, handed):
    data = hostile_export(tmp_path / "hostile.csv")
    legacy = tmp_path / "legacy.csv"
    with open(legacy, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        w.writerow(["partner_id", "status"])
        w.writerows([[value, "Gold"] for value in RUNS])
    out = tmp_path / "out"
    run(capsys, "status", PROGRAM, data, "--legacy", legacy, "--as-of", "2017-06-30", "--out", out)
    assert_round_trip(out, handed, ("status.csv", "standing.csv"))
    partners = {row[0] for row in raw_cells(out / "status.csv")[1:]}
    assert {"'" + value for value in RUNS} | {"-0.25"} <= partners
    _, printed = run(capsys, "status", PROGRAM, data, "--legacy", legacy, "--as-of", "2017-06-30", "--json")
    ids = {r["partner_id"] for r in json.loads(printed)["reviews"]}
    assert set(RUNS) | {"-0.25"} <= ids  # JSON is exact: no prefix


def test_quality_outputs_read_back(capsys, tmp_path, handed):
    rows = []
    for value in RUNS + ("-0.25", "a\rb"):
        for n in range(18):  # six reports in each of three quarters: KPI values and a sustained finding
            rows.append([value, f"{value}/{n}", f"2016-{4 + n % 9:02d}-15", "true", "20", "true"])
    rows.append(["P-1", "C-1", "2016-04-15", "maybe", "=1+1", "false"])  # refused, its value hostile
    data = tmp_path / "quality.csv"
    with open(data, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        w.writerow(["partner_id", "contract_id", "reported", "missed_payment", "usage_pct", "cancelled"])
        w.writerows(rows)
    # the example program counts reports by contract; a copy of it counts them by partner, so the
    # hostile partner ids of the reports reach every output as they are
    program = tmp_path / "by-partner"
    program.mkdir()
    for source in Path(PROGRAM).glob("*.rules"):
        text = source.read_text(encoding="utf-8").replace("  reports by scored contract\n", "")
        text = text.replace("input quality {\n  contract_id:    text, required\n",
                            "input quality {\n  partner_id:     text, required\n  contract_id:    text\n")
        (program / source.name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    run(capsys, "quality", program, data, "--out", out)
    assert_round_trip(out, handed, ("kpis.csv", "kpis_wide.csv", "findings.csv", "quality_rejects.csv"))
    partners = {row[0] for row in raw_cells(out / "kpis.csv")[1:]}
    assert {"'" + value for value in RUNS} | {"-0.25", "a\rb"} <= partners


def test_diff_impact_output_reads_back_and_json_stays_exact(capsys, tmp_path, handed):
    data = hostile_export(tmp_path / "hostile.csv")
    out = tmp_path / "out"
    run(capsys, "diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", data, "--out", out)
    assert_round_trip(out, handed, ("impact.csv",))
    partners = {row[0] for row in raw_cells(out / "impact.csv")[1:]}
    assert {"'" + value for value in RUNS} | {"-0.25"} <= partners
    _, printed = run(capsys, "diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", data, "--json")
    assert '"=HYPERLINK(\\"http://x\\",\\"y\\")"' in printed and "\"'=HYPERLINK" not in printed


# --------------------------------------------------------------------------- XLSX input


def test_an_xlsx_formula_without_a_cached_value_is_rejected_at_its_row(capsys, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()  # openpyxl writes formulas without a cached value, as a script would
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(['=CONCATENATE("C-","1")', "P-1", "2016-05-01", "O2 Business S", "new", 1, None])
    sheet.append(["C-2", "P-1", "2016-05-01", "O2 Business S", "new", "=1+1", None])
    sheet.append(["C-3", "P-1", "2016-05-01", "O2 Business S", "new", 2, None])
    book.save(tmp_path / "formulas.xlsx")
    out = tmp_path / "out"
    run(capsys, "evaluate", PROGRAM, tmp_path / "formulas.xlsx", "--out", out)
    rejects = {row["row"]: row for row in named(raw_cells(out / "rejects.csv"))}
    assert rejects["2"]["field"] == "contract_id" and "formula" in rejects["2"]["reason"]
    assert rejects["3"]["field"] == "quantity" and "formula" in rejects["3"]["reason"]
    assert [row["contract_id"] for row in named(raw_cells(out / "contracts.csv"))] == ["C-3"]
