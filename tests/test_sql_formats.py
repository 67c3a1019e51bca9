"""Parquet files and DuckDB tables as exports: the row engine and the DuckDB engine read the same
text cells, so their output folders are byte-identical (manifests equal but the engine entry) on
Parquet and DuckDB-table versions of the tests' exports; rows are numbered 1, 2, ... in the
export's order; bad paths and tables are one clear error naming the file and the table.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
import yaml

duckdb = pytest.importorskip("duckdb", reason="Parquet and DuckDB exports need the duckdb package (pip install duckdb)")

from engine.cli import main  # noqa: E402
from engine.program import load_program  # noqa: E402
from engine.readers import InputError, open_rows, sha256_of  # noqa: E402
from engine.run import OUTPUT_FILES, RunOptions, evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROW_CASES = ROOT / "tests" / "cases" / "rows"
PROGRAM = ROOT / "rulesets" / "o2-business"
EXAMPLE = ROOT / "examples" / "contracts.csv"
BAD = ROOT / "tests" / "fixtures" / "bad_input" / "data"
DATA = ROOT / "tests" / "fixtures" / "data"

# Run cases whose program the DuckDB engine does not compile (the reason is the program's, not the file's).
PROGRAM_FALLBACKS = {
    "unscored": "division is computed by the row engine",
    "stricter_version": "versions with different input blocks",
    "conditional_lists": "a `one of (...) when` list",
}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def exports_of(text: str, folder: Path, stem: str = "export", delimiter: str = ",") -> tuple[Path, str]:
    """The CSV text as a Parquet file (empty cells NULL) and as the table `contracts` of a DuckDB
    database (empty cells '', rows a structural fault would spoil left out, one row deleted after a
    first row inserted and removed, so that rowids have a gap)."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    database = folder / f"{stem}.duckdb"
    parquet = folder / f"{stem}.parquet"
    con = duckdb.connect(str(database))
    columns = ", ".join(f"{q(h)} VARCHAR" for h in header)
    con.execute(f"CREATE TABLE contracts ({columns})")
    con.execute(f"INSERT INTO contracts VALUES ({', '.join('NULL' for _ in header)})")
    con.execute("DELETE FROM contracts")
    if body:
        con.executemany(f"INSERT INTO contracts VALUES ({', '.join('?' for _ in header)})", body)
    nulls = ", ".join(f"NULLIF({q(h)}, '') AS {q(h)}" for h in header)
    con.execute(f"COPY (SELECT {nulls} FROM contracts ORDER BY rowid) TO '{parquet}' (FORMAT parquet)")
    con.close()
    return parquet, f"{database}:contracts"


def run_both(program, path, tmp_path: Path, **options):
    """Both engines into two folders; assert identical files; return the DuckDB run's result."""
    name = Path(str(path)).name.replace(":", "-")
    py_out, duck_out = tmp_path / f"{name}-python", tmp_path / f"{name}-duckdb"
    py = evaluate(program, [path], RunOptions(engine="python", **options), out_dir=py_out)
    duck = evaluate(program, [path], RunOptions(engine="duckdb", **options), out_dir=duck_out)
    for file in OUTPUT_FILES:
        assert (py_out / file).read_bytes() == (duck_out / file).read_bytes(), file
    a = json.loads((py_out / "manifest.json").read_text("utf-8"))
    b = json.loads((duck_out / "manifest.json").read_text("utf-8"))
    assert a.pop("engine")["evaluator"] == "python" and py.engine == "python"
    assert b.pop("engine")["evaluator"] == duck.engine
    assert a == b
    return duck


@pytest.mark.parametrize("path", sorted(ROW_CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_run_cases_as_parquet_and_duckdb_table(path, tmp_path, monkeypatch):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    files = [f for f in case["files"] if f["name"].endswith(".csv")]
    if len(files) != 1:
        pytest.skip("not a case of one CSV export")
    folder = tmp_path / "program"
    folder.mkdir()
    for name, text in case["program"].items():
        (folder / name).write_text(text, encoding="utf-8")
    program = load_program(folder)
    monkeypatch.chdir(tmp_path)
    for export in exports_of(files[0]["text"], tmp_path):
        result = run_both(program, export, tmp_path, **case.get("options", {}))
        expected = PROGRAM_FALLBACKS.get(path.stem)
        if expected is None:
            assert result.engine == "duckdb", result.engine_reason
        else:
            assert result.engine == "python" and expected in result.engine_reason


@pytest.mark.parametrize("source, options", [
    (EXAMPLE, {}),  # rows of the wrong width left out; quoted cells with commas, quotes and line breaks kept
    (BAD / "messy.csv", {}),
    (DATA / "contracts-excel-de.csv", {"decimal_comma": True}),
], ids=lambda v: v.name if isinstance(v, Path) else "")
def test_the_example_and_messy_exports(source, options, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    text = source.read_text(encoding="utf-8")
    delimiter = ";" if options.get("decimal_comma") else ","
    parquet, table = exports_of(text, tmp_path, delimiter=delimiter)
    for export in (parquet,) if source == EXAMPLE else (parquet, table):  # 4,000 rows: once is enough
        result = run_both(load_program(PROGRAM), export, tmp_path, **options)
        assert result.engine == "duckdb", result.engine_reason
        assert result.counts.rows > 0


def test_typed_columns_are_read_as_duckdb_writes_them(tmp_path, monkeypatch):
    """DATE, DECIMAL, INTEGER, BOOLEAN, DOUBLE and TIMESTAMP WITH TIME ZONE columns: each value as
    DuckDB casts it to text, the same in both engines, and validated as that text."""
    (tmp_path / "p.rules").write_text(
        'program "Typed"\nversion "A"\neffective 2016-01-01\n\n'
        "input contract {\n  contract_id: text, required, unique\n  partner_id: text, required\n"
        "  signed: date, required\n  product: text, required\n  volume: decimal\n  loyal: boolean, default false\n"
        "  score: decimal\n  stamp: text\n}\n\n"
        'rule "All" {\n  when product == "Mobile"\n  points volume * 2\n}\n', encoding="utf-8")
    program = load_program(tmp_path / "p.rules")
    database = tmp_path / "typed.duckdb"
    con = duckdb.connect(str(database))
    con.execute("SET TimeZone = 'Europe/Berlin'")  # the export's zone is not the reading's
    con.execute("CREATE TABLE contracts (contract_id BIGINT, partner_id VARCHAR, signed DATE, product VARCHAR, "
                "volume DECIMAL(10,2), loyal BOOLEAN, score DOUBLE, stamp TIMESTAMPTZ)")
    con.execute("INSERT INTO contracts VALUES "
                "(1, 'P-1', DATE '2016-02-01', 'Mobile', 12.50, true, 0.1, TIMESTAMPTZ '2016-02-01 10:00:00+01'), "
                "(2, 'P-1', DATE '2016-02-02', 'Mobile', NULL, true, NULL, NULL), "
                "(1, 'P-2', DATE '2016-02-03', 'Mobile', 3.00, false, NULL, NULL), "
                "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
                "(4, '', DATE '2016-02-04', 'Mobile', 1.25, true, NULL, NULL), "
                "(6, 'P-1', DATE '2016-02-05', 'Mobile', 1.00, true, 1e300, NULL)")
    con.execute(f"COPY contracts TO '{tmp_path / 'typed.parquet'}' (FORMAT parquet)")
    con.close()
    monkeypatch.chdir(tmp_path)
    for export in ("typed.parquet", "typed.duckdb:contracts", "typed.duckdb"):
        result = run_both(program, Path(export), tmp_path)
        assert result.engine == "duckdb", result.engine_reason
        label = Path(export).name
        out = tmp_path / f"{label.replace(':', '-')}-python"
        assert (out / "contracts.csv").read_text("utf-8").splitlines()[1:] == [
            f"{label},1,1,P-1,2016-02-01,2016,A,Mobile,scored,25,all=25,,",
            f"{label},2,2,P-1,2016-02-02,2016,A,Mobile,unscored,,,empty-field,\"rule \"\"All\"\": field volume is empty\"",
        ]
        assert (out / "rejects.csv").read_text("utf-8").splitlines()[1:] == [
            f"{label},3,1,P-2,contract_id,1,duplicate,`contract_id` '1' repeats row 1",
            f"{label},5,4,,partner_id,,missing-required,`partner_id` is required",
            f"{label},6,6,P-1,score,1e+300,not-a-number,\"`score` must be a number like 2.5, got '1e+300'\"",
        ]
        with open_rows(export) as rows:
            assert rows.header == ["contract_id", "partner_id", "signed", "product", "volume", "loyal", "score",
                                   "stamp"]
            got = list(rows)
        assert [n for n, _ in got] == [1, 2, 3, 5, 6]  # row 4 (every cell NULL) is blank: skipped, counted
        assert got[0][1] == ["1", "P-1", "2016-02-01", "Mobile", "12.50", "true", "0.1", "2016-02-01 09:00:00+00"]
        assert got[1][1][4:7] == ["", "true", ""] and got[4][1][4:7] == ["1.00", "true", "1e+300"]


SMALL = ("contract_id,partner_id,signed,product,customer,quantity,pool_gb,sales_rep\n"
         "C-1,P-1,2016-04-01,O2 Business M,new,1,,A. Rep\n"
         "C-2,P-1,2016-04-31,O2 Business M,new,1,,A. Rep\n"
         "C-3,P-2,2016-05-02,O2 Business M,new,2,,A. Rep\n")


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_rows_are_numbered_from_1_in_the_exports_order(tmp_path, monkeypatch, capsys):
    """The table's rowids have gaps (a row deleted before and one among them): rows count 1, 2, 3."""
    monkeypatch.chdir(tmp_path)
    database = duckdb.connect("gap.duckdb")
    database.execute("CREATE TABLE contracts (contract_id VARCHAR, partner_id VARCHAR, signed VARCHAR, "
                     "product VARCHAR, customer VARCHAR, quantity VARCHAR, pool_gb VARCHAR, sales_rep VARCHAR)")
    rows = [r.split(",") for r in SMALL.splitlines()[1:]]
    database.executemany("INSERT INTO contracts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [rows[0], rows[0], rows[1]])
    database.execute("DELETE FROM contracts WHERE rowid = 1")
    database.executemany("INSERT INTO contracts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [rows[2]])
    database.close()
    parquet, _ = exports_of(SMALL, tmp_path)
    for export in ("gap.duckdb:contracts", parquet.name):
        for engine in ("python", "duckdb"):
            out = f"out-{engine}-{export.replace(':', '-')}"
            code, stdout, _ = cli(capsys, "evaluate", str(PROGRAM), export, "--engine", engine, "--out", out)
            assert code == 0
            assert (tmp_path / out / "rows.csv").read_text("utf-8") == (
                "file,row,contract_id,partner_id,status,code,reason\n"
                f"{export},1,C-1,P-1,scored,,\n"
                f"{export},2,C-2,P-1,rejected,not-a-date,\"`signed` must be a date like 2016-03-01 or 01.03.2016, "
                "got '2016-04-31' (day is out of range for month)\"\n"
                f"{export},3,C-3,P-2,scored,,\n")
        assert (tmp_path / f"out-python-{export.replace(':', '-')}" / "rows.csv").read_bytes() == \
            (tmp_path / f"out-duckdb-{export.replace(':', '-')}" / "rows.csv").read_bytes()


def test_input_hashes(tmp_path, monkeypatch):
    """A Parquet file's: the file's sha256. A table's: its canonical dump's, the same in a new database
    file with the same rows, another when a value changes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    parquet, table = exports_of(SMALL, tmp_path / "a")
    _, same = exports_of(SMALL, tmp_path / "b")
    assert sha256_of(parquet) == hashlib.sha256(parquet.read_bytes()).hexdigest()
    rows = list(csv.reader(io.StringIO(SMALL)))
    dump = json.dumps([[c or None for c in r] for r in rows], ensure_ascii=False, separators=(",", ":"))
    assert sha256_of(table) == hashlib.sha256(dump.encode("utf-8")).hexdigest()
    assert sha256_of(same) == sha256_of(table)
    changed = tmp_path / "b" / "export.duckdb"
    con = duckdb.connect(str(changed))
    con.execute("UPDATE contracts SET quantity = '3' WHERE contract_id = 'C-3'")
    con.close()
    assert sha256_of(same) != sha256_of(table)
    result = evaluate(load_program(PROGRAM), [table], RunOptions(engine="duckdb"), out_dir=tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    assert manifest["inputs"][0]["file"] == "export.duckdb:contracts"
    assert manifest["inputs"][0]["sha256"] == sha256_of(table) == result.files[0].sha256


def test_bad_paths_and_tables_are_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exports_of(SMALL, tmp_path)
    con = duckdb.connect("export.duckdb")
    con.execute("CREATE SCHEMA sales")
    con.execute("CREATE TABLE sales.contracts AS SELECT * EXCLUDE (signed) FROM contracts")
    con.execute("CREATE VIEW recent AS SELECT * FROM contracts")
    con.close()
    duckdb.connect("empty.duckdb").close()
    Path("notes.parquet").write_text("not a parquet file\n", encoding="utf-8")
    duckdb.sql("COPY (SELECT 1 AS file_row_number, 'C-1' AS contract_id) TO 'numbered.parquet' (FORMAT parquet)")
    Path("numbered.parquet").rename("one[1].parquet")
    duckdb.sql("COPY (SELECT 1 AS file_row_number, 'C-1' AS contract_id) TO 'numbered.parquet' (FORMAT parquet)")
    Path("notes.duckdb").write_text("not a database\n", encoding="utf-8")
    cases = [
        ("missing.parquet", "missing.parquet: no such file"),
        ("missing.duckdb:contracts", "missing.duckdb: no such file"),
        ("export.duckdb:contract", "export.duckdb:contract: the database has no table `contract` (did you mean "
                                   "`contracts`? its tables: contracts, sales.contracts)"),
        ("export.duckdb:recent", "export.duckdb:recent: `recent` is a view: its rows have no stored order; read a "
                                 "table (CREATE TABLE ... AS SELECT ... ORDER BY ...)"),
        ("export.duckdb", "export.duckdb: name the table to read, as export.duckdb:TABLE (its tables: contracts, "
                          "sales.contracts)"),
        ("export.duckdb:", "export.duckdb:: no table named after the `:` (its tables: contracts, sales.contracts)"),
        ("empty.duckdb", "empty.duckdb: name the table to read, as empty.duckdb:TABLE (it has no tables)"),
        ("export.duckdb:sales.contracts", "export.duckdb:sales.contracts: columns: the required column `signed` is "
                                          "missing"),
        ("numbered.parquet", "numbered.parquet: has a column named `file_row_number`, the name DuckDB gives the row "
                             "number it reads: rename that column"),
        ("one[1].parquet", "one[1].parquet: the path has a `*`, `?` or `[`, which DuckDB reads as a pattern of "
                           "several files: rename the file"),
    ]
    for engine in ("python", "duckdb"):
        for export, message in cases:
            code, out, err = cli(capsys, "evaluate", str(PROGRAM), export, "--engine", engine, "--out", "out")
            assert (code, err.splitlines()[0]) == (2, f"error: {message}"), (engine, export)
        for export, start in [("notes.parquet", "notes.parquet: cannot be read as a Parquet file ("),
                              ("notes.duckdb:contracts", "notes.duckdb:contracts: cannot be opened as a DuckDB "
                                                         "database (")]:
            code, out, err = cli(capsys, "evaluate", str(PROGRAM), export, "--engine", engine, "--out", "out")
            assert code == 2 and err.startswith(f"error: {start}"), err
    assert not Path("out").exists()


def test_spark_leaves_parquet_and_tables_to_the_row_engine(tmp_path, monkeypatch):
    from engine.sql.duck import Fallback, checked_header

    monkeypatch.chdir(tmp_path)
    parquet, table = exports_of(SMALL, tmp_path)
    program = load_program(PROGRAM)
    for export, what in ((parquet, "a Parquet file"), (table, "a DuckDB table")):
        with pytest.raises(Fallback, match=f"^{what} \\(Spark reads CSV here\\)$"):
            checked_header(program, Path(export), RunOptions(), "Spark")


def test_the_reader_names_its_columns_and_reads_no_view(tmp_path):
    parquet, table = exports_of(SMALL, tmp_path)
    with open_rows(parquet) as rows:
        assert rows.kind == "parquet" and rows.header[:3] == ["contract_id", "partner_id", "signed"]
        assert [n for n, _ in rows] == [1, 2, 3] and rows.fraction_read() == 1.0
    with pytest.raises(InputError, match="no such file"):
        open_rows(tmp_path / "nope.duckdb:contracts")


TRICKY = ['a"b', "a,b", "line\nbreak", "cr\ralone", "crlf\r\nend", " lead", "trail ", "=1+1", "@sum", "+49 30",
          "-5", "'quoted", "tab\tin", "\u00e9t\u00e9 \u20ac", "\u2028sep", "\x7fdel", "\\back", "semi;colon", "  ",
          "\u00a0nbsp\u00a0", "x\x1fy"]


def test_cells_no_csv_export_could_carry_to_duckdb(tmp_path, monkeypatch):
    """Quotes, delimiters, line breaks, formula starts, spaces and control characters in ids and
    products (cells a CSV with them would take to the row engine): the same bytes from both engines."""
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect("tricky.duckdb")
    con.execute("CREATE TABLE contracts (contract_id VARCHAR, partner_id VARCHAR, signed VARCHAR, product VARCHAR, "
                "customer VARCHAR, quantity VARCHAR, pool_gb VARCHAR, sales_rep VARCHAR)")
    rows = []
    for i, value in enumerate(TRICKY):
        rows.append([f"C-{i}{value}", value, "2016-04-01", "O2 Business M", "new", "1", None, value])
        rows.append([f"K-{i}", f"P-{i}", "2016-04-01", value, "new", "1", value, None])
    rows.append(["C-0a\"b", "P-1", "2016-04-01", "O2 Business M", "new", "1", None, None])  # a duplicate id
    con.executemany("INSERT INTO contracts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("COPY contracts TO 'tricky.parquet' (FORMAT parquet)")
    con.close()
    for export in ("tricky.duckdb:contracts", "tricky.parquet"):
        result = run_both(load_program(PROGRAM), Path(export), tmp_path)
        assert result.engine == "duckdb", result.engine_reason
        assert result.counts.rows == len(rows) and result.counts.rejected and result.counts.scored
