"""`points compile`: the script of each dialect, run on DuckDB and on a real PostgreSQL server, gives
the row engine's results (every contract's status, points, rules, code and reason; every partner's
points and tier; every rule's totals; the rows rejected), and a program the compiler cannot take
exits 2 with a located reason.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from engine.cli import main
from engine.numbers import fmt_points
from engine.program import load_program
from engine.readers import open_rows
from engine.run import RunOptions, evaluate
from engine.sql.compiler import NotCompiled
from engine.sql.dialects import DIALECTS, POSTGRES, SPARK, finish
from engine.sql.script import program_script, render

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
EXAMPLE = ROOT / "examples" / "contracts.csv"

CONTRACT_SQL = ('SELECT "row", contract_id, partner_id, signed, period, version, product, status, points_text, '
                'rules_text, code, reason FROM outcome ORDER BY "row"')
PARTNER_SQL = "SELECT * FROM partner_tiers ORDER BY partner_id, period"
RULE_SQL = "SELECT * FROM partner_rules ORDER BY partner_id, period, rule"
REJECT_SQL = 'SELECT "row" FROM rejected ORDER BY "row"'


def export_rows(program, data: Path) -> tuple[list[str], list[list]]:
    """The `contracts` table of an export: the row reader's rows (structural faults left out) as
    row number and one text per input field."""
    fields = program_script(program, DIALECTS["duckdb"]).header
    with open_rows(data) as source:
        header = list(source.header)
        rows = [(n, cells) for n, cells in source if isinstance(cells, list)]
    index: dict = {}
    for i, name in enumerate(header):
        index.setdefault(name, i)
    table = [[n, *[cells[index[f]] if f in index and index[f] < len(cells) else None for f in fields]]
             for n, cells in rows]
    return fields, table


def expected(program, data: Path, folder: Path) -> dict:
    """The row engine's results, as the script's views give them."""
    evaluate(program, [data], RunOptions(engine="python"), out_dir=folder)

    def read(name):
        with open(folder / name, encoding="utf-8", newline="") as f:
            return list(csv.reader(f))[1:]

    return {"contracts": [r[1:] for r in read("contracts.csv")], "partners": read("partners.csv"),
            "rules": read("partner_rules.csv"),
            "rejected": sorted(int(r[1]) for r in read("rejects.csv") if r[6] != "unreadable-row")}


def as_text(contracts, partners, rules, rejected) -> dict:
    return {"contracts": [[str(v) for v in r] for r in contracts],
            "partners": [[p, period, fmt_points(points), tier or "", version or "", str(s), str(u)]
                         for p, period, points, tier, version, s, u in partners],
            "rules": [[p, period, rule, fmt_points(points), str(n)] for p, period, rule, points, n in rules],
            "rejected": [int(r[0]) for r in rejected]}


def run_duckdb(program, data: Path) -> dict:
    import duckdb

    fields, table = export_rows(program, data)
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "contracts.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["" if v is None else v for v in row] for row in table])
        columns = ", ".join(["'row': 'BIGINT'", *[f"'{f}': 'VARCHAR'" for f in fields]])
        con.execute(f"CREATE TABLE contracts AS SELECT * FROM read_csv('{path}', header=false, "
                    f"columns={{{columns}}}, auto_detect=false, quote='\"', escape='\"')")
    con.execute(render(program_script(program, DIALECTS["duckdb"]), DIALECTS["duckdb"], "p"))
    return as_text(*(con.execute(sql).fetchall() for sql in (CONTRACT_SQL, PARTNER_SQL, RULE_SQL, REJECT_SQL)))


def run_cli(*args, capsys):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_example_program_on_duckdb(tmp_path):
    program = load_program(PROGRAM)
    got = run_duckdb(program, EXAMPLE)
    want = expected(program, EXAMPLE, tmp_path / "out")
    assert len(got["contracts"]) == 3965 and len(got["rejected"]) == 30
    assert got == want


def test_example_program_on_duckdb_with_tables_as_relations(tmp_path, monkeypatch):
    """Large tables become relations of their own (a stage each, from a VALUES list) and are joined."""
    from engine.sql.dialect import Dialect

    monkeypatch.setattr(Dialect, "relation_cells", 0)
    program = load_program(PROGRAM)
    script = render(program_script(program, DIALECTS["duckdb"]), DIALECTS["duckdb"], "p")
    assert "CREATE TEMPORARY TABLE lk0_0 AS" in script and "(VALUES (" in script
    assert run_duckdb(program, EXAMPLE) == expected(program, EXAMPLE, tmp_path / "out")


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "cases").glob("*.yaml")), ids=lambda p: p.stem)
def test_scoring_cases_on_duckdb(path, tmp_path, monkeypatch):
    """Every contract of a scoring case file, as rows of one export, through the script."""
    from tests.test_sql_identity import CaseLoader, cell

    import yaml

    case = yaml.load(path.read_text(encoding="utf-8"), Loader=CaseLoader)
    (tmp_path / "p.rules").write_text(case["ruleset"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    program = load_program(Path("p.rules"))
    fields = [f.name for f in program.versions[-1].ruleset.input("contract").fields]
    lines = [",".join(fields)]
    for i, c in enumerate(case["cases"], 1):
        given = {"contract_id": f"C-{i}", "partner_id": f"P-{i % 3}", "signed": "2016-06-01", **c["contract"]}
        lines.append(",".join(cell(given.get(name)) for name in fields))
    (tmp_path / "export.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if path.stem == "modifiers":
        with pytest.raises(NotCompiled, match="division is computed by the row engine"):
            program_script(program, DIALECTS["duckdb"])
        return
    assert run_duckdb(program, Path("export.csv")) == expected(program, Path("export.csv"), tmp_path / "out")


def test_compile_prints_commented_stages(capsys):
    code, out, err = run_cli("compile", str(PROGRAM), "--dialect", "duckdb", capsys=capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[:3] == [
        f"-- {PROGRAM} compiled to duckdb SQL by partner-points (`points compile`).",
        "-- Input: a table `contracts` with a text column per input field (contract_id, partner_id, signed, "
        "product, customer, quantity, pool_gb) and `row`, the row number (the header is row 1).",
        "-- Output tables: outcome (per contract), rejected, partner_tiers (per partner and period), partner_rules.",
    ]
    views = [line.split()[3] for line in lines if line.startswith("CREATE TEMPORARY TABLE")]
    assert views == ["raw", "checked", "ranked", "valid", "scored0", "scored1", "scored2", "outcome", "rejected",
                     "partner_totals", "partner_rules", "partner_tiers"]
    comments = [line for line in lines if line.startswith("-- valid:") or line.startswith("-- partner_tiers:")]
    assert comments == [
        "-- valid: Version choice: vidx, the version in force on the signed date (1: 2016.03 from 2016-03-01; "
        "2: 2017.01 from 2017-01-01; 3: 2018.01 from 2018-01-01; 0: none).",
        "-- partner_tiers: Tiers: by the thresholds of the version in force on the period's last day (a version "
        "is in force then when its effective date's period is not later).",
    ]
    assert any("Lookups: table" in line for line in lines if line.startswith("-- scored0:"))
    code, again, _ = run_cli("compile", str(PROGRAM), "--dialect", "duckdb", capsys=capsys)
    assert again == out  # same inputs, same text


def test_compile_refuses_a_division_with_its_place(tmp_path, capsys):
    program = tmp_path / "third.rules"
    program.write_text("""program "Third"
version "1"
effective 2016-01-01

input contract {
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  quantity:    integer >= 1, default 1
}

rule "A third" {
  points quantity / 3, rounded half up
}
""", encoding="utf-8")
    for dialect in ("duckdb", "spark", "postgres"):
        code, out, err = run_cli("compile", str(program), "--dialect", dialect, capsys=capsys)
        assert (code, out) == (2, "")
        assert err.splitlines()[-1] == (f"error: {program}:13:3: cannot be compiled to {dialect} SQL: division is computed "
                               f"by the row engine (its result is not always exact in DECIMAL)")


def test_compile_refuses_two_unique_fields_at_the_input_block(tmp_path, capsys):
    program = tmp_path / "two.rules"
    program.write_text('program "Two"\nversion "1"\neffective 2016-01-01\n\ninput contract {\n'
                       '  contract_id: text, required, unique\n  partner_id: text, required\n'
                       '  signed: date, required\n  order: text, unique\n}\n\nrule "All" {\n  points 1\n}\n',
                       encoding="utf-8")
    code, out, err = run_cli("compile", str(program), "--dialect", "postgres", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (f"error: {program}:5:1: cannot be compiled to postgres SQL: more than one "
                                    f"`unique` field")


def test_spark_spelling():
    sql = finish(SPARK, """SELECT "row", ltrim(ltrim(s5, '+-'), '0'), strpos(err, chr(9)), trunc(x * 2),
        sign(x), CAST(NULL AS VARCHAR), 'ltrim(a, b) \\x{9}', rtrim(t, '0') FROM "we""ird\"""")
    assert sql == ("""SELECT `row`, trim(LEADING '0' FROM trim(LEADING '+-' FROM s5)), instr(err, chr(9)), """
                   """(CASE WHEN x * 2 < 0 THEN ceil(x * 2) ELSE floor(x * 2) END),
        (CASE WHEN x > 0 THEN 1 WHEN x < 0 THEN -1 ELSE 0 END), CAST(NULL AS STRING), 'ltrim(a, b) \\\\x{9}', """
                   """trim(TRAILING '0' FROM t) FROM `we"ird`""")
    assert SPARK.full_match("s", "[0-9]+") == "(s RLIKE '^(?:[0-9]+)$')"
    assert POSTGRES.full_match("s", "[0-9]+") == "(s ~ '^(?:[0-9]+)$')"
    assert POSTGRES.try_date("s") == "points_try_date(s)"


# --------------------------------------------------------------------------- PostgreSQL

class Postgres:
    """psql on the ledger tests' throwaway server (tests/pg_server.py)."""

    def __init__(self, server):
        self.server = server

    def psql(self, sql: str) -> str:
        s = self.server
        done = subprocess.run([*s.as_user, str(s.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                               str(s.folder), "-p", str(s.port), "-U", "postgres", "-d", "postgres"],
                              input=sql, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        return done.stdout


@pytest.fixture(scope="module")
def postgres():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pg_server

    server, why = pg_server.start()
    if server is None:
        pytest.skip(f"PostgreSQL: {why}")
    yield Postgres(server)
    server.stop()


def test_example_program_on_postgres(postgres, tmp_path):
    from decimal import Decimal

    program = load_program(PROGRAM)
    data = tmp_path / "head.csv"  # the example's first 300 lines: each contract is a few function calls
    data.write_text("".join(EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:300]), encoding="utf-8")
    fields, table = export_rows(program, data)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([["" if v is None else v for v in row] for row in table])
    script = render(program_script(program, POSTGRES), POSTGRES, "p")
    # temporary views live in one session: the data, the script and every query go to one psql call
    queries = "\\echo ====\n".join(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv);\n"
                                     for sql in (CONTRACT_SQL, PARTNER_SQL, RULE_SQL, REJECT_SQL))
    out = postgres.psql("CREATE TEMPORARY TABLE contracts ("
                        + ", ".join(['"row" bigint', *[f'"{f}" text' for f in fields]]) + ");\n"
                        + "COPY contracts FROM STDIN WITH (FORMAT csv);\n" + buffer.getvalue() + "\\.\n"
                        + script + "\n" + queries)
    parts = [list(csv.reader(io.StringIO(part))) for part in out.split("====\n")]
    contracts, partners, rules, rejected = parts
    want = expected(program, data, tmp_path / "out")
    assert len(contracts) > 290 and want["rejected"]
    assert contracts == want["contracts"]
    assert [[p, q, fmt_points(Decimal(x)), *rest] for p, q, x, *rest in partners] == want["partners"]
    assert [[p, q, r, fmt_points(Decimal(x)), n] for p, q, r, x, n in rules] == want["rules"]
    assert [int(r[0]) for r in rejected] == want["rejected"]
