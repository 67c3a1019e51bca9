"""The project file points.toml, the environment, the output dialect, xlsx output and carried columns,
through the command line."""
from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from engine.cli import main
from engine.readers import open_rows

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
HEADER = "contract_id,partner_id,partner_name,signed,product,customer,quantity,pool_gb,sales_rep"
ROWS = [
    "C-1,P-1,Funkhaus Becker GmbH,2016-03-10,O2 Business S,existing,4,,C. Schröder",
    "C-2,P-1,Funkhaus Becker (old name),2016-04-10,O2 Unite Pool,new,1,12.5,C. Schröder",
    '"=HYPERLINK(""http://x"",""y"")",P-2,"Netz\x1bwerk\rNord _x0041_",2016-05-01,O2 Business XL,new,3,,B. Neumann',
    "C-4,P-2,Netz Nord,2016-05-02,O2 Business XL,new,x,,B. Neumann",
    "C-5,P-3,Später & <Söhne>,2015-01-02,O2 Business XL,new,2,,B. Neumann",
]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A repository folder (it holds .git: the upward search stops there) with an export; cwd inside it."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "export.csv").write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def settings_json(capsys) -> dict:
    code, out, err = run(capsys, "config", "--json")
    assert code == 0, err
    return json.loads(out)


def test_upward_search_stops_at_the_repository_root(project, tmp_path, monkeypatch, capsys):
    (tmp_path / "points.toml").write_text('[output]\nfolder = "above"\n', encoding="utf-8")  # above .git
    deep = project / "data" / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert settings_json(capsys)["project"] is None
    (project / "points.toml").write_text('[output]\nfolder = "results"\n', encoding="utf-8")
    data = settings_json(capsys)
    assert data["project"] == str(project / "points.toml")
    assert data["settings"]["output.folder"] == {"value": str(project / "results"), "source": "project file",
                                                 "from": f"{project / 'points.toml'}:2:1"}
    monkeypatch.setenv("POINTS_PROJECT", "none")
    assert settings_json(capsys)["project"] is None


def test_precedence_flag_over_environment_over_file_over_default(project, monkeypatch, capsys):
    (project / "points.toml").write_text(
        f'program = "{PROGRAM}"\n\n[input]\nencoding = "cp1252"\n\n[output]\nfolder = "out/file"\n', encoding="utf-8")
    settings = settings_json(capsys)["settings"]
    assert settings["input.encoding"]["source"] == "project file"
    assert settings["input.delimiter"] == {"value": None, "source": "default", "from": "built-in"}
    # the file alone: no PROGRAM, no --out
    code, out, err = run(capsys, "evaluate", "data/export.csv", "--json")
    assert code == 0, err
    manifest = json.loads((project / "out" / "file" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["encoding"] == "cp1252"
    # the environment over the file
    monkeypatch.setenv("POINTS_ENCODING", "latin-1")
    monkeypatch.setenv("POINTS_OUT", "out/env")
    assert run(capsys, "evaluate", "data/export.csv")[0] == 0
    manifest = json.loads((project / "out" / "env" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["encoding"] == "latin-1"
    assert settings_json(capsys)["settings"]["input.encoding"] == {"value": "latin-1", "source": "environment",
                                                                   "from": "POINTS_ENCODING"}
    # a flag over both; PROGRAM given as an argument over the file's
    code, out, err = run(capsys, "evaluate", PROGRAM / "2016-03.rules", "data/export.csv", "--encoding", "utf-8",
                         "--out", "out/flag")
    assert code == 0, err
    manifest = json.loads((project / "out" / "flag" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["encoding"] == "utf-8"
    assert [v["file"] for v in manifest["versions"]] == ["2016-03.rules"]
    assert manifest["project"] == {"file": "points.toml",
                                   "sha256": hashlib.sha256((project / "points.toml").read_bytes()).hexdigest()}


def test_boolean_from_the_environment_and_the_flag_that_undoes_it(project, monkeypatch, capsys):
    (project / "points.toml").write_text("[input]\ndecimal_comma = true\n", encoding="utf-8")
    assert settings_json(capsys)["settings"]["input.decimal_comma"]["value"] is True
    monkeypatch.setenv("POINTS_DECIMAL_COMMA", "no")
    assert settings_json(capsys)["settings"]["input.decimal_comma"]["value"] is False
    monkeypatch.setenv("POINTS_DECIMAL_COMMA", "yes")
    code, out, err = run(capsys, "evaluate", PROGRAM, "data/export.csv", "--no-decimal-comma", "--json")
    assert code == 0, err
    assert json.loads(out)["options"]["decimal_comma"] is False
    assert json.loads(out)["project"]["file"] == "points.toml"


def test_config_prints_each_setting_and_its_source(project, monkeypatch, capsys):
    (project / "points.toml").write_text('[output]\ndialect = "excel-de"\n', encoding="utf-8")
    monkeypatch.setenv("POINTS_WORKERS", "2")
    monkeypatch.setenv("COLUMNS", "400")
    code, out, err = run(capsys, "config")
    assert code == 0, err
    sha = hashlib.sha256((project / "points.toml").read_bytes()).hexdigest()
    lines = out.splitlines()
    assert lines[0] == f"project file: {project / 'points.toml'} (sha256 {sha[:12]}…)"
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]] for line in lines
            if line.startswith("│")}
    assert rows["output.dialect"] == ["excel-de", f"{project / 'points.toml'}:2:1", "POINTS_OUTPUT_DIALECT",
                                      "--output-dialect"]
    assert rows["workers"] == ["2", "environment", "POINTS_WORKERS", "--workers"]
    assert rows["input.encoding"] == ["utf-8", "default", "POINTS_ENCODING", "--encoding"]


@pytest.mark.parametrize("text, message", [
    ('program = "x\n', "points.toml:1:13: not a valid TOML file: Illegal character '\\n'"),
    ("[input\n", "points.toml:1:7: not a valid TOML file: Expected ']' at the end of a table declaration"),
    ('[input]\nencoding = "cp1252"\ndelimter = ";"\n',
     "points.toml:3:1: unknown setting 'input.delimter'; did you mean 'input.delimiter'?"),
    ('workers = 1\n\n[outputs]\nfolder = "x"\n', "points.toml:3:1: unknown table [outputs]; did you mean [output]?"),
    ('[input]\ndelimiter = "|"\n', "points.toml:2:1: input.delimiter must be one of ',', ';', 'tab', not '|'"),
    ("workers = 0\n", "points.toml:1:1: workers must be a whole number of 1 or more, not 0"),
    ("[input]\ndecimal_comma = \"yes\"\n", "points.toml:2:1: input.decimal_comma must be true or false, not 'yes'"),
    ('[input]\ncarry = ["region", "region"]\n', "points.toml:2:1: input.carry: column 'region' is named twice"),
])
def test_a_bad_project_file_is_an_error_naming_file_line_and_column(project, capsys, text, message):
    (project / "points.toml").write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "evaluate", PROGRAM, "data/export.csv")
    assert code == 2
    assert err.strip() == f"error: {project / message}"


def test_a_bad_environment_variable_names_it(project, monkeypatch, capsys):
    monkeypatch.setenv("POINTS_OUTPUT_DIALECT", "excel")
    code, out, err = run(capsys, "evaluate", PROGRAM, "data/export.csv")
    assert (code, err.strip()) == (2, "error: POINTS_OUTPUT_DIALECT=excel: output.dialect must be one of 'csv', "
                                      "'excel-de', not 'excel'")
    monkeypatch.setenv("POINTS_OUTPUT_DIALECT", "csv")
    monkeypatch.setenv("POINTS_PROJECT", "nowhere.toml")
    code, out, err = run(capsys, "config")
    assert (code, err.strip()) == (2, "error: POINTS_PROJECT=nowhere.toml: no such file")


def test_without_a_program_setting_the_first_argument_is_the_program(project, capsys):
    code, out, err = run(capsys, "evaluate", "data/export.csv")
    assert code == 2
    assert err.splitlines()[0] == ("error: Missing argument 'DATA...' (or name the program in points.toml or "
                                   "POINTS_PROGRAM)")


def _fractional(project: Path) -> Path:
    """The 2016 version with its pool points not rounded: points like 31.25."""
    folder = project / "rules"
    if not folder.exists():
        folder.mkdir()
        text = (PROGRAM / "2016-03.rules").read_text(encoding="utf-8")
        assert "at most 2_500, rounded half up" in text
        (folder / "2016-03.rules").write_text(text.replace("at most 2_500, rounded half up", "at most 2_500"),
                                              encoding="utf-8")
    return folder


def _evaluate(capsys, out: str, *options) -> Path:
    program = _fractional(Path.cwd())
    code, _, err = run(capsys, "evaluate", program, "data/export.csv", "--out", out, *options)
    assert code == 0, err
    return Path(out)


def test_default_dialect_is_unchanged_and_excel_de_is_semicolons_decimal_comma_and_bom(project, capsys):
    plain = _evaluate(capsys, "out/plain")
    de = _evaluate(capsys, "out/de", "--output-dialect", "excel-de")
    again = _evaluate(capsys, "out/de2", "--output-dialect", "excel-de")
    assert not (plain / "contracts.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    for name in ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv", "manifest.json"):
        assert (de / name).read_bytes() == (again / name).read_bytes(), name
    for name in ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv"):
        assert (de / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    lines = (de / "contracts.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "file;row;contract_id;partner_id;signed;period;version;product;status;points;rules;code;reason"
    assert lines[2].startswith("export.csv;3;C-2;P-1;2016-04-10;2016;2016.03;O2 Unite Pool;scored;31,25;")
    assert (plain / "contracts.csv").read_text(encoding="utf-8").splitlines()[2].startswith(
        "export.csv,3,C-2,P-1,2016-04-10,2016,2016.03,O2 Unite Pool,scored,31.25,")
    assert lines[3].startswith("""export.csv;4;"'=HYPERLINK(""http://x"",""y"")";P-2;""")
    manifest = json.loads((de / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["output_dialect"] == "excel-de"
    assert manifest["outputs"]["contracts.csv"] == hashlib.sha256((de / "contracts.csv").read_bytes()).hexdigest()


def _cells(path: Path, **options) -> list[list[str]]:
    with open_rows(path, **options) as source:
        return [source.header, *[[("" if c is None else str(c)) for c in raw] for _, raw in source]]


def test_outputs_read_back_in_either_dialect(project, capsys):
    plain = _evaluate(capsys, "out/plain")
    de = _evaluate(capsys, "out/de", "--output-dialect", "excel-de")
    for name in ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv"):
        mine = _cells(de / name)  # delimiter and BOM found by the project's own reader
        theirs = _cells(plain / name)
        header = theirs[0]
        numbers = [i for i, n in enumerate(header) if n in ("row", "points", "contracts_scored",
                                                           "contracts_unscored", "contracts")]
        assert mine[0] == header
        assert len(mine) == len(theirs) > 1
        for a, b in zip(mine[1:], theirs[1:]):
            assert [c.replace(",", ".") if i in numbers else c for i, c in enumerate(a)] == b, name


def test_xlsx_output_is_byte_identical_with_texts_as_text_and_numbers_as_numbers(project, capsys):
    one = _evaluate(capsys, "out/x1", "--output-format", "xlsx", "--carry", "partner_name")
    two = _evaluate(capsys, "out/x2", "--output-format", "xlsx", "--carry", "partner_name")
    names = ["contracts.xlsx", "manifest.json", "partner_rules.xlsx", "partners.xlsx", "rejects.xlsx", "rows.xlsx"]
    assert sorted(p.name for p in one.iterdir()) == names
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    with zipfile.ZipFile(one / "contracts.xlsx") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        sheet = zf.read("xl/worksheets/sheet1.xml").decode("utf-8")
        assert "<f>" not in sheet and "docProps/core.xml" not in zf.namelist()
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(one / "contracts.xlsx")).get_sheet_by_name("contracts").to_python()
    assert rows[0][-1] == "partner_name"
    assert rows[3][:4] == ["export.csv", 4.0, '=HYPERLINK("http://x","y")', "P-2"]  # the text, exact
    assert rows[3][-1] == "Netz\x1bwerk\rNord _x0041_"
    assert isinstance(rows[2][9], float)  # points: a number
    # read back by the project's reader: the same cells as the CSV result
    plain = _evaluate(capsys, "out/plain", "--carry", "partner_name")
    for name in ("contracts", "rejects", "rows", "partners", "partner_rules"):
        mine = _cells(one / f"{name}.xlsx")
        theirs = [[c for c in row] for row in csv.reader(open(plain / f"{name}.csv", encoding="utf-8", newline=""))]
        from engine.cells import restore

        theirs = [[restore(c) for c in row] for row in theirs]
        assert len(mine) == len(theirs)
        for a, b in zip(mine[1:], theirs[1:]):
            assert [c.removesuffix(".0") for c in a] == b, name
    manifest = json.loads((one / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["outputs"]) == sorted(n for n in names if n != "manifest.json")
    # a csv run into the folder of an xlsx run replaces it whole
    _evaluate(capsys, "out/x1")
    assert sorted(p.name for p in one.iterdir()) == ["contracts.csv", "manifest.json", "partner_rules.csv",
                                                      "partners.csv", "rejects.csv", "rows.csv"]


def test_carried_columns_reach_contracts_and_partners(project, capsys):
    out = _evaluate(capsys, "out/carry", "--carry", "partner_name", "--carry", "sales_rep")
    contracts = list(csv.DictReader(open(out / "contracts.csv", encoding="utf-8", newline="")))
    assert [(r["contract_id"], r["partner_name"], r["sales_rep"]) for r in contracts] == [
        ("C-1", "Funkhaus Becker GmbH", "C. Schröder"),
        ("C-2", "Funkhaus Becker (old name)", "C. Schröder"),
        ("'=HYPERLINK(\"http://x\",\"y\")", "Netz\x1bwerk\rNord _x0041_", "B. Neumann"),
        ("C-5", "Später & <Söhne>", "B. Neumann"),  # unscored rows carry theirs too; C-4 is rejected
    ]
    partners = list(csv.DictReader(open(out / "partners.csv", encoding="utf-8", newline="")))
    assert [(r["partner_id"], r["period"], r["partner_name"]) for r in partners] == [
        ("P-1", "2016", "Funkhaus Becker GmbH"),  # the first valid row's value
        ("P-2", "2016", "Netz\x1bwerk\rNord _x0041_"),
        ("P-3", "2015", "Später & <Söhne>"),
    ]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["carry"] == ["partner_name", "sales_rep"]
    plain = _evaluate(capsys, "out/plain")
    assert (plain / "rows.csv").read_bytes() == (out / "rows.csv").read_bytes()
    assert (plain / "contracts.csv").read_text(encoding="utf-8").splitlines()[0].endswith(",code,reason")


def test_carried_columns_from_the_project_file_and_a_missing_one(project, capsys):
    (project / "points.toml").write_text('[input]\ncarry = ["region"]\n', encoding="utf-8")
    code, out, err = run(capsys, "evaluate", PROGRAM, "data/export.csv", "--out", "out/c")
    assert code == 2
    assert err.strip() == ("error: data/export.csv: carried column 'region' is not in the header (columns: "
                           "contract_id, partner_id, partner_name, signed, product, customer, quantity, pool_gb, "
                           "sales_rep)")
    assert not (project / "out" / "c").exists()
    code, out, err = run(capsys, "evaluate", PROGRAM, "data/export.csv", "--out", "out/c", "--carry", "status")
    assert (code, err.strip()) == (2, "error: --carry: 'status' is already a column of contracts.csv; carry "
                                      "another column")


def test_quality_reads_an_excel_de_folder_as_a_plain_one(tmp_path, capsys):
    data, quality = ROOT / "examples" / "contracts.csv", ROOT / "examples" / "quality.csv"
    results = {}
    for dialect in ("csv", "excel-de"):
        out = tmp_path / dialect
        assert run(capsys, "evaluate", PROGRAM, data, "--out", out, "--output-dialect", dialect)[0] == 0
        code, text, err = run(capsys, "quality", PROGRAM, quality, "--contracts", out, "--json")
        assert code == 0, err
        results[dialect] = json.loads(text)
    assert (tmp_path / "excel-de" / "rows.csv").read_bytes().startswith(b"\xef\xbb\xbffile;row;")
    assert results["excel-de"] == results["csv"]


def test_status_quality_and_explain_take_the_program_from_the_project_file(project, capsys):
    """With `program` in points.toml, every command reading a program and an export may leave PROGRAM
    out, and gives what it gives with PROGRAM written."""
    examples = PROGRAM.parent.parent / "examples"
    (project / "points.toml").write_text(f'program = "{PROGRAM}"\n', encoding="utf-8")
    for argv in (["status", examples / "contracts.csv", "--json"],
                 ["quality", examples / "quality.csv", "--contracts", examples / "contracts.csv", "--json"],
                 ["explain", examples / "contracts.csv", "--partner", "P-008", "--period", "2017", "--json"]):
        code, without, err = run(capsys, *argv)
        assert code == 0, err
        code, written, _ = run(capsys, argv[0], PROGRAM, *argv[1:])
        assert code == 0 and json.loads(without) == json.loads(written)
    code, _, err = run(capsys, "status", examples / "contracts.csv", examples / "legacy.csv")
    assert code == 2 and "give one DATA file after PROGRAM, not 2" in err
