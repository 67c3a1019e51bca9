"""The DuckDB engine against the row engine: the same output files, byte for byte, on every data
set the tests evaluate (the run cases, the scoring cases as an export, the example program and data,
the messy fixtures); the manifests equal except the engine entry. Each data set also says which
engine must take it, so that falling back to the row engine cannot pass for identity.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from engine.program import load_program

pytest.importorskip("duckdb", reason="the DuckDB engine needs the duckdb package (pip install duckdb)")
from engine.run import OUTPUT_FILES, RunOptions, evaluate

ROOT = Path(__file__).resolve().parent.parent
ROW_CASES = ROOT / "tests" / "cases" / "rows"
SCORE_CASES = ROOT / "tests" / "cases"
PROGRAM = ROOT / "rulesets" / "o2-business"
EXAMPLE = ROOT / "examples" / "contracts.csv"
BAD = ROOT / "tests" / "fixtures" / "bad_input" / "data"
DATA = ROOT / "tests" / "fixtures" / "data"


@pytest.fixture(autouse=True, params=["lists", "case", "joins"])
def lookups(request, monkeypatch):
    """Every data set three times: point tables read from list literals by the keys' positions
    (DuckDB's way with a small table), as CASE expressions (the other dialects' way), and as
    relations of their own (what a large table takes: joins in the portable SQL, which the DuckDB
    engine reads by the keys' positions in an ENUM of them)."""
    from engine.sql.dialect import Dialect

    monkeypatch.setattr(Dialect, "relation_cells", 0 if request.param == "joins" else None)
    monkeypatch.setattr(Dialect, "cell_lists", request.param == "lists")
    return request.param


def run_both(program, paths, tmp_path: Path, **options):
    """Both engines into two folders; assert identical files; return the DuckDB run's result."""
    py = evaluate(program, paths, RunOptions(engine="python", **options), out_dir=tmp_path / "python")
    duck = evaluate(program, paths, RunOptions(engine="duckdb", **options), out_dir=tmp_path / "duckdb")
    for name in OUTPUT_FILES:
        assert (tmp_path / "python" / name).read_bytes() == (tmp_path / "duckdb" / name).read_bytes(), name
    a = json.loads((tmp_path / "python" / "manifest.json").read_text("utf-8"))
    b = json.loads((tmp_path / "duckdb" / "manifest.json").read_text("utf-8"))
    assert a.pop("engine")["evaluator"] == "python" and py.engine == "python"
    engine = b.pop("engine")
    assert engine["evaluator"] == duck.engine
    assert engine.get("fallback") == duck.engine_reason
    assert a == b
    return duck


def write_program(case: dict, folder: Path) -> None:
    folder.mkdir()
    for name, text in case["program"].items():
        (folder / name).write_text(text, encoding="utf-8")


# Run cases whose exports the row engine reads (the reason is part of the expectation).
ROW_FALLBACKS = {
    "json_lines": "a .jsonl file",
    "rejected": "the file has a row whose cells do not fit the header (line 15)",
    "unscored": "division is computed by the row engine",
    "stricter_version": "versions with different input blocks",
    "conditional_lists": "a `one of (...) when` list",
}


@pytest.mark.parametrize("path", sorted(ROW_CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_run_cases(path, tmp_path, monkeypatch):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    folder = tmp_path / "program"
    write_program(case, folder)
    for f in case["files"]:
        (tmp_path / f["name"]).write_text(f["text"], encoding="utf-8")
    monkeypatch.chdir(folder)
    program = load_program(folder)
    monkeypatch.chdir(tmp_path)
    result = run_both(program, [f["name"] for f in case["files"]], tmp_path, **case.get("options", {}))
    expected = ROW_FALLBACKS.get(path.stem)
    if len(case["files"]) > 1:
        expected = "several export files"
    if expected is None:
        assert result.engine == "duckdb", result.engine_reason
    else:
        assert result.engine == "python" and expected in result.engine_reason


class CaseLoader(yaml.SafeLoader):
    """YAML where `2.5` is an exact Decimal."""


CaseLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node).replace("_", "")))


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize("path", sorted(SCORE_CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_scoring_cases_as_an_export(path, tmp_path, monkeypatch):
    """Every contract of a scoring case file, as rows of one export."""
    case = yaml.load(path.read_text(encoding="utf-8"), Loader=CaseLoader)
    folder = tmp_path / "program"
    write_program({"program": {"p.rules": case["ruleset"]}}, folder)
    monkeypatch.chdir(folder)
    program = load_program(folder)
    monkeypatch.chdir(tmp_path)
    fields = [f.name for f in program.versions[-1].ruleset.input("contract").fields]
    lines = [",".join(fields)]
    for i, c in enumerate(case["cases"], 1):
        given = {"contract_id": f"C-{i}", "partner_id": f"P-{i % 3}", "signed": "2016-06-01", **c["contract"]}
        lines.append(",".join(cell(given.get(name)) for name in fields))
    (tmp_path / "export.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_both(program, ["export.csv"], tmp_path)
    if path.stem in SCORE_FALLBACKS:
        assert result.engine == "python" and SCORE_FALLBACKS[path.stem] in result.engine_reason
    else:
        assert result.engine == "duckdb", result.engine_reason


SCORE_FALLBACKS = {"modifiers": "division is computed by the row engine"}


def test_the_example_program_and_data(tmp_path, monkeypatch):
    """The example export has rows of the wrong width: the row engine reads it, and says so."""
    monkeypatch.chdir(ROOT)
    result = run_both(load_program(PROGRAM), [EXAMPLE], tmp_path)
    assert result.engine == "python"
    assert "line" in result.engine_reason


def test_the_example_data_without_its_structural_faults(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    width = lines[0].count(",")
    kept = [line for line in lines if line.count(",") == width and '"' not in line]
    assert len(kept) > 3900
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = run_both(load_program(PROGRAM), [clean], tmp_path)
    assert result.engine == "duckdb", result.engine_reason
    assert result.counts.rejected and result.counts.unscored


@pytest.mark.parametrize("name, options, reason", [
    ("messy.csv", {}, "a quote character"),
    ("cp1252.csv", {"encoding": "cp1252"}, "the cp1252 encoding"),
    ("unclosed_quote.csv", {}, "a quote character"),
    ("records.jsonl", {}, "a .jsonl file"),
])
def test_messy_inputs(name, options, reason, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run_both(load_program(PROGRAM), [BAD / name], tmp_path, **options)
    assert result.engine == "python" and reason in result.engine_reason


def test_a_german_export(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run_both(load_program(PROGRAM), [DATA / "contracts-excel-de.csv"], tmp_path, decimal_comma=True)
    assert result.engine_reason is None or result.engine == "python"


def test_the_summary_names_the_engine_and_why_not_duckdb(tmp_path, monkeypatch, capsys):
    from engine.cli import main

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(lines[:50]) + "\n", encoding="utf-8")
    assert main(["evaluate", str(PROGRAM), str(clean), "--engine", "duckdb"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("engine")] == [
        "engine: duckdb"]
    assert main(["evaluate", str(PROGRAM), str(EXAMPLE), "--engine", "duckdb", "--json"]) == 0
    engine = json.loads(capsys.readouterr().out)["engine"]
    assert engine["evaluator"] == "python"
    assert engine["fallback"] == "the file has a row whose cells do not fit the header (line 440)"
    assert main(["evaluate", str(PROGRAM), str(EXAMPLE), "--engine", "duckdb"]) == 0
    out = capsys.readouterr().out
    assert ("engine: python (DuckDB could not take the input: the file has a row whose cells do not fit the "
            "header (line 440))") in out
    assert main(["evaluate", str(PROGRAM), str(clean)]) == 0  # auto: a small file goes to the row engine
    assert "engine" not in capsys.readouterr().out


def one_version(name: str, fields: str) -> str:
    """A one-version program's head: its name, and an input block of the three fields every export
    has and `fields` (the block's closing brace and the rules follow)."""
    return (f'program "{name}"\nversion "1"\neffective 2016-01-01\n\ninput contract {{\n'
            "  contract_id: text, required, unique\n  partner_id:  text, required\n  signed:      date, required\n"
            + fields)


BOUNDED = one_version("Bounded", """  product:     text, required
  quantity:    integer >= 1, default 1
  amount:      decimal <= 50
}

rule "Pool" {
  when product == "Pool"
  points amount * 2.5, at most 100, rounded half up
}

rule "Capped" {
  when product == "Capped"
  points min(amount, 40) * 2
}

rule "Licences" {
  when product == "Licence"
  points 25 per quantity
}
""")


def bounded_export(path: Path, quantities: list[str], amounts: list[str]) -> Path:
    lines = ["contract_id,partner_id,signed,product,quantity,amount"]
    for n, (quantity, amount) in enumerate(zip(quantities, amounts)):
        product = ("Pool", "Capped", "Licence")[n % 3]
        lines.append(f"C-{n},P-{n % 2},2016-0{1 + n % 9}-15,{product},{quantity},{amount}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("quantities, amounts", [
    # small values: every number column read as a narrow DECIMAL; empty amounts (unscored, the
    # rule's failure) where a cap or min() would otherwise stand in for the missing value
    (["1", "2", "", "3", "1", "2", "4", "1", "2"], ["1.5", "", "-1.75", "", "0.0001", "", "3", "", "2.25"]),
    # values at the declared limits: 18-digit quantities, amounts far below zero (not narrowed)
    (["999999999999999999", "1", "2", "123456789012345678", "5", "1"],
     ["-99999999999999999.9", "", "7", "-0.0000000001", "49.9999999999", "1"]),
])
def test_numbers_computed_on_the_bounds_the_rows_hold(quantities, amounts, tmp_path):
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "v1.rules").write_text(BOUNDED, encoding="utf-8")
    export = bounded_export(tmp_path / "export.csv", quantities, amounts)
    result = run_both(load_program(folder), [export], tmp_path)
    assert result.engine == "duckdb", result.engine_reason
    assert result.counts.scored and result.counts.unscored


def test_observed_bounds_narrow_each_step(tmp_path):
    import re

    import duckdb

    from engine.sql.duck import observed_bounds
    from engine.sql.plan import validation_sql, version_sql

    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "v1.rules").write_text(BOUNDED, encoding="utf-8")
    program = load_program(folder)
    block = program.versions[0].ruleset.input("contract")
    header = ["contract_id", "partner_id", "signed", "product", "quantity", "amount"]
    checks = validation_sql(block, header, False, examples=False)
    con = duckdb.connect()
    con.execute("CREATE TABLE valid (v4 BIGINT, v5 DECIMAL(28,10))")
    con.execute("INSERT INTO valid VALUES (1, 12.5), (30, NULL), (7, -1.75)")
    observed = observed_bounds(con, checks)
    assert observed == {"quantity": (1, 30, 0), "amount": (Decimal("-1.75"), Decimal("12.5"), 10)}

    def widest(sql: str) -> int:
        return max(int(p) for p in re.findall(r"DECIMAL\((\d+),", sql))

    declared = version_sql(program, 0, checks.columns)
    narrow = version_sql(program, 0, checks.columns, observed=observed)
    assert widest(declared.sql) > 18 >= widest(narrow.sql)
    assert "REPLACE (CAST(v4 AS DECIMAL(2,0)) AS v4, CAST(v5 AS DECIMAL(12,10)) AS v5)" in narrow.sql
    # beyond 18 digits a column stays as validation typed it (a DECIMAL of 128 bits either way)
    con.execute("INSERT INTO valid VALUES (1, 123456789.5)")
    assert set(observed_bounds(con, checks)) == {"quantity"}


def test_an_export_whose_cells_need_no_stripping(tmp_path):
    """No cell begins or ends with a space (engine.sql.prescan): the cells are read as they are, and
    the other lenient readings (German dates, any case, number forms) are still counted."""
    from engine.sql.prescan import scan

    case = yaml.safe_load((ROW_CASES / "lenient_counts.yaml").read_text(encoding="utf-8"))
    folder = tmp_path / "program"
    write_program(case, folder)
    jan = next(f for f in case["files"] if f["name"] == "jan.csv")
    export = tmp_path / "jan.csv"
    export.write_text(jan["text"], encoding="utf-8")
    assert scan(export, ",", 5).edge_spaces is False
    result = run_both(load_program(folder), [export], tmp_path)
    assert result.engine == "duckdb", result.engine_reason
    assert {(field, reading) for (field, reading) in result.counts.lenient} == {
        ("customer", "any-case"), ("signed", "german-date"), ("quantity", "number-form")}


LIMITS = one_version("Limits", """  n:           integer
  amount:      decimal
}

rule "All" {
  points 1
}
""")


def test_numbers_at_the_limits_of_their_digits(tmp_path):
    """At most 18 digits before the point and 10 after it (dsl.limits), read as the row engine reads
    them: the SQL checks the typed value's range and the text's decimals."""
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "v1.rules").write_text(LIMITS, encoding="utf-8")
    pairs = [("999999999999999999", "999999999999999999.9999999999"), ("-999999999999999999", "-0.0000000001"),
             ("1000000000000000000", "1000000000000000000"), ("-9223372036854775808", "1.00000000001"),
             ("9223372036854775808", "1.000000000000"), ("+000000000000000000001", "0000000000000000000012.5"),
             ("-0", "-0.0"), ("12", "999999999999999999.99999999999"), ("1", ".5"), ("2", "5.")]
    lines = ["contract_id,partner_id,signed,n,amount"]
    lines += [f"C-{i},P-1,2016-03-01,{n},{a}" for i, (n, a) in enumerate(pairs)]
    export = tmp_path / "limits.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_both(load_program(folder), [export], tmp_path)
    assert result.engine == "duckdb", result.engine_reason
    assert result.counts.rejected == 4 and result.counts.scored == 6  # rows 4, 5, 6 and 9 refused


def test_a_large_table_is_read_by_position_not_joined(monkeypatch, tmp_path):
    """Tables as relations (every table one): a list of names that a rule's products, a table's rows
    and the version's products share is one relation; the SELECT that scores the rows reads each by
    the keys' positions (an ENUM of its keys; a cell from its grid, cross-joined once), with no join
    and no subquery, so that DuckDB inserts the scored rows in their order (no sort)."""
    import duckdb

    from engine.sql.dialect import Dialect
    from engine.sql.duck import cells_source, create_checked, create_relations, keys_type, read_header, scored_sql
    from engine.sql.plan import validation_sql, version_sql

    monkeypatch.setattr(Dialect, "relation_cells", 0)
    program = load_program(PROGRAM)
    export = tmp_path / "contracts.csv"
    export.write_text("\n".join(clean_example_lines()) + "\n", encoding="utf-8")
    block, header, delimiter, _, _ = read_header(program, export, RunOptions(), "DuckDB")
    source, carry = cells_source(export, header, delimiter)
    checks = validation_sql(block, header, False, source=source, carry=carry)
    versions = [version_sql(program, k, checks.columns, q=f"k{k}_") for k in range(len(program.versions))]
    scored = scored_sql(program, checks, versions)
    for v in versions:
        assert v.relations
        contents = [(r.columns, frozenset(r.rows)) for r in v.relations.values()]
        assert len(set(contents)) == len(contents)
        for name, rel in v.relations.items():
            assert f"FROM {name}" not in scored.sql and f"JOIN {name} " not in scored.sql, name
            assert rel.rows and f"AS {keys_type(rel)})" in scored.sql, name
            assert scored.sql.count(f"CROSS JOIN {name}_grid") == (len(rel.columns) > 1), name
    assert " IN (SELECT" not in scored.sql and "SELECT max(v)" not in scored.sql
    con = duckdb.connect(config={"preserve_insertion_order": True, "temp_directory": str(tmp_path)})
    create_checked(con, program, export, header, delimiter, checks)
    con.execute("CREATE TEMP VIEW valid AS SELECT * FROM checked WHERE ok")
    create_relations(con, {n: r for v in versions for n, r in v.relations.items()})
    plan = "".join(r[1] for r in con.execute(f"EXPLAIN CREATE TABLE scored AS {scored.sql}").fetchall())
    assert "BATCH_CREATE_TABLE_AS" in plan and "JOIN" not in plan.replace("CROSS_PRODUCT", "")


def clean_example_lines() -> list[str]:
    """examples/contracts.csv without the lines DuckDB may not read as the row reader does."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    width = lines[0].count(",")
    return [line for line in lines if line.count(",") == width and '"' not in line]


def test_an_export_found_to_have_spaced_cells_while_duckdb_reads_it(tmp_path, monkeypatch):
    """DuckDB types the rows for cells without edge spaces while the pre-scan reads the file; when
    the scan finds a cell with one, the rows are typed again, stripped: the output is the row
    engine's, byte for byte, and nothing of the first typing is left."""
    from engine.sql.prescan import scan

    monkeypatch.chdir(ROOT)
    lines = clean_example_lines()
    spaced = [lines[0]]
    for n, line in enumerate(lines[1:]):
        cells = line.split(",")
        if n % 7 == 3:  # a space before the partner id, a tab after the customer type, ...
            cells[1] = f" {cells[1]}"
            cells[-1] = f"{cells[-1]}\t"
        spaced.append(",".join(cells))
    export = tmp_path / "spaced.csv"
    export.write_text("\n".join(spaced) + "\n", encoding="utf-8")
    assert scan(export, ",", len(lines[0].split(","))).edge_spaces is True
    result = run_both(load_program(PROGRAM), [export], tmp_path)
    assert result.engine == "duckdb", result.engine_reason
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = evaluate(load_program(PROGRAM), [plain], RunOptions(engine="duckdb"), out_dir=tmp_path / "plain")
    assert again.engine == "duckdb"
    assert (again.counts.scored, again.counts.rejected) == (result.counts.scored, result.counts.rejected)


def test_a_file_the_scan_refuses_after_duckdb_has_read_it(tmp_path, monkeypatch):
    """A blank line deep in the file: DuckDB's reader skips it (its rows would be numbered wrong
    from there on), the scan refuses the file; the run is the row engine's, with the scan's reason."""
    monkeypatch.chdir(ROOT)
    lines = clean_example_lines()
    lines.insert(len(lines) - 3, "")
    export = tmp_path / "blank.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_both(load_program(PROGRAM), [export], tmp_path)
    assert result.engine == "python" and result.engine_reason == "the file has a blank line"


def test_a_statement_on_a_thread_is_stopped():
    """engine.sql.duck._stop: a long statement another thread runs on the connection is interrupted
    (no waiting for it to finish), and the connection takes the next statement."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import duckdb

    from engine.sql.duck import _stop

    con = duckdb.connect()
    long = "CREATE TEMP TABLE t AS SELECT sum(a.range * b.range) AS s FROM range(1000000) a, range(100000) b"
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(con.execute, long)
        time.sleep(0.2)
        began = time.monotonic()
        _stop(con, pending)
        assert time.monotonic() - began < 10  # the statement alone would take hours
        assert isinstance(pending.exception(), duckdb.InterruptException)
    assert con.execute("SELECT 41 + 1").fetchone() == (42,)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'").fetchone() == (0,)
    con.close()
