"""The DuckDB engine keeps the rows' order on exports larger than one of DuckDB's row groups, read
by two threads: the typed rows, the scored rows and the per-contract files come out in row order
without a sort where DuckDB's plan keeps its input's order, and sorted where it does not (a large
table looked up by a join). Checked against the row engine, byte for byte, on 250,000 rows with
repeats, refused rows and two versions interleaved.
"""
from __future__ import annotations

import random

import pytest

duckdb = pytest.importorskip("duckdb", reason="the DuckDB engine needs the duckdb package (pip install duckdb)")
from engine.program import load_program
from engine.run import OUTPUT_FILES, RunOptions, evaluate
from engine.sql.duck import create_in_row_order

ROWS = 250_000  # two of DuckDB's row groups (122,880 rows each) and a part

PROGRAM = """program "Order"
version "{name}"
effective {effective}

input contract {{
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
  quantity:    integer >= 1, default 1
}}

tiers {{
  Basic from 0
  Gold from {gold}
}}

table points by product {{
{rows}
}}

rule "Sold" {{
  when product in points
  points points[product] * quantity
}}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("order")
    program = folder / "program"
    program.mkdir()
    products = [f"P{i:02d}" for i in range(40)]
    for k, (name, effective) in enumerate((("2016.01", "2016-01-01"), ("2017.01", "2017-01-01"))):
        rows = "\n".join(f'  "{p}": {(i + 1) * (k + 2)}' for i, p in enumerate(products))
        (program / f"v{k}.rules").write_text(PROGRAM.format(name=name, effective=effective, gold=500 + k,
                                                            rows=rows), encoding="utf-8")
    rng = random.Random(11)
    lines = ["contract_id,partner_id,signed,product,quantity"]
    for n in range(ROWS):
        cid = f"C{rng.randrange(n) if n and n % 1_009 == 0 else n}"  # now and then a repeat of an earlier id
        quantity = "x" if n % 997 == 0 else str(rng.randint(1, 9))  # now and then a refused row
        product = "Unknown" if n % 503 == 0 else rng.choice(products)
        signed = f"{rng.choice((2015, 2016, 2017))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        lines.append(f"{cid},R{rng.randrange(300):03d},{signed},{product},{quantity}")
    export = folder / "contracts.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = folder / "python"
    evaluate(load_program(program), [export], RunOptions(engine="python"), out_dir=out)
    return program, export, out


@pytest.mark.parametrize("cells", [None, 0], ids=["case", "joins"])
def test_large_export_in_row_order(data, tmp_path, monkeypatch, cells):
    from engine.sql.dialect import Dialect

    monkeypatch.setattr(Dialect, "relation_cells", cells)
    program, export, expected = data
    result = evaluate(load_program(program), [export], RunOptions(engine="duckdb"), out_dir=tmp_path)
    assert result.engine == "duckdb", result.engine_reason
    for name in OUTPUT_FILES:
        assert (tmp_path / name).read_bytes() == (expected / name).read_bytes(), name


def test_create_in_row_order_sorts_what_a_join_reorders():
    con = duckdb.connect(config={"preserve_insertion_order": True, "threads": 2})
    con.execute('CREATE TABLE t AS SELECT range AS "row", \'C\' || (range % 5000) AS k FROM range(600000)')
    con.execute("CREATE TABLE small AS SELECT 'C' || range AS k, range AS v FROM range(5000)")
    create_in_row_order(con, "kept", 'SELECT "row", k || \'!\' AS k FROM t WHERE "row" % 3 <> 0')
    create_in_row_order(con, "joined", 'SELECT t."row", small.v FROM t JOIN small USING (k)')
    for name, n in (("kept", 400_000), ("joined", 600_000)):
        rows = [r for (r,) in con.execute(f'SELECT "row" FROM {name}').fetchall()]
        assert len(rows) == n and rows == sorted(rows), name


def test_lenient_examples_found_past_the_first_rows(tmp_path):
    """The first three distinct texts of a lenient reading, the third far past the first rows read
    so (the DuckDB engine looks a few rows up first, then more): as the row engine lists them."""
    import json

    program = tmp_path / "program"
    program.mkdir()
    rows = "\n".join(f'  "P{i:02d}": {i + 1}' for i in range(3))
    (program / "v.rules").write_text(PROGRAM.format(name="2016.01", effective="2016-01-01", gold=50, rows=rows),
                                     encoding="utf-8")
    lines = ["contract_id,partner_id,signed,product,quantity"]
    for n in range(3_000):
        partner = "R003 " if n == 2_500 else ("R001 " if n % 2 else "R002 ") if n < 1_000 else "R004"
        lines.append(f"C{n},{partner},2016-05-01,P0{n % 3},1")
    export = tmp_path / "contracts.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifests = []
    for engine in ("python", "duckdb"):
        result = evaluate(load_program(program), [export], RunOptions(engine=engine), out_dir=tmp_path / engine)
        assert result.engine == engine
        manifest = json.loads((tmp_path / engine / "manifest.json").read_text("utf-8"))
        manifest.pop("engine")
        manifests.append(manifest)
    assert manifests[0] == manifests[1]
    assert "R003 " in json.dumps(manifests[1])


def test_relations_load_every_value_exactly(tmp_path):
    """A large table's cells as create_relations loads them and `keyed` reads them (an ENUM of the
    keys, the cells as one list): every cell's number exactly (cast from its text), NULL for a cell
    the table lacks and for a key it does not hold, whatever the keys hold (quotes, line breaks,
    NUL, non-ASCII); and whether a key is one of a list of names, NULL for no key."""
    from engine.sql.compiler import Relation
    from engine.sql.duck import create_relations, keyed

    con = duckdb.connect(config={"temp_directory": str(tmp_path)})
    keys = [f"k{i}'\"\n\x00\u00e9\U0001f600" for i in range(15_000)]
    cells = [(k, column, f"{i}.25") for i, k in enumerate(keys) for column in ("new", "existing")
             if (i + len(column)) % 7]  # some cells missing
    columns = ("k1", "k2", "v DECIMAL(9,2)")
    names = [(k,) for k in keys[::3]]
    relations = {"rel": Relation(("t", columns), columns, cells), "names": Relation(("n", ("k1",)), ("k1",), names)}
    create_relations(con, relations)
    assert list(tmp_path.iterdir()) == []  # the files the rows came through are gone
    con.execute("CREATE TABLE probe (a VARCHAR, b VARCHAR)")
    con.executemany("INSERT INTO probe VALUES (?, ?)",
                    [(k, c) for k in keys[:700] for c in ("new", "existing", "other")] + [("nobody", "new"), (None, "new")])
    cell = "(SELECT max(v) FROM rel WHERE rel.k1 = a AND rel.k2 = b)"
    member = "(a IN (SELECT k1 FROM names))"
    reads = {cell: ("rel", ("a", "b")), member: ("names", ("a",))}
    grids = []
    sql = keyed(f"SELECT a, b, CAST({cell} AS VARCHAR), {member} FROM probe", reads, relations, grids)
    assert cell not in sql and member not in sql and grids == ["rel_grid"]
    got = con.execute(sql.replace(" FROM probe", " FROM probe CROSS JOIN rel_grid")).fetchall()
    want = {(k, c): v for k, c, v in cells}
    listed = set(keys[::3])
    assert len(got) == 700 * 3 + 2
    for a, b, value, known in got:
        assert value == want.get((a, b)), (a, b)
        assert known == (None if a is None else a in listed), a
