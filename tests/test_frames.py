"""engine.frames: contracts from polars / pandas / Arrow / DuckDB, results as DataFrames, the same
numbers as the file path."""
from __future__ import annotations

import csv
import hashlib
import re
from decimal import Decimal
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="the frames extra (pyarrow) is not installed")

from engine.cells import restore  # noqa: E402
from engine.frames import FrameError, canonical_ipc, evaluate_frame  # noqa: E402
from engine.program import load_program  # noqa: E402
from engine.run import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = load_program(ROOT / "rulesets" / "o2-business")
with open(ROOT / "examples" / "contracts.csv", encoding="utf-8", newline="") as _f:
    _ALL = list(csv.reader(_f))
HEADER = _ALL[0]
ROWS = [r for r in _ALL[1:] if len(r) == len(HEADER)]  # a frame has no row of the wrong width


def texts() -> "pa.Table":
    return pa.table({name: [r[i] for r in ROWS] for i, name in enumerate(HEADER)})


@pytest.fixture(scope="module")
def by_file(tmp_path_factory):
    """The same rows as a CSV file, evaluated by the file path."""
    folder = tmp_path_factory.mktemp("frames")
    data = folder / "contracts.csv"
    with open(data, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([HEADER, *ROWS])
    evaluate(PROGRAM, data, out_dir=folder / "out")
    out = {}
    for name in ("contracts", "partners", "partner_rules", "rejects", "rows"):
        with open(folder / "out" / f"{name}.csv", encoding="utf-8", newline="") as f:
            out[name] = list(csv.DictReader(f))
    return out


def as_text(value) -> str:
    return "" if value is None else str(value)


def same_as_file(result, by_file) -> None:
    for name, expected in by_file.items():
        got = result.arrow[name].to_pylist()
        assert len(got) == len(expected), name
        for mine, theirs in zip(got, expected):
            for column, value in theirs.items():
                if column == "file":
                    continue
                if column == "row":
                    assert mine["row"] == int(value) - 1  # a 1-based position; the CSV's header is row 1
                elif column == "points" and value:
                    assert mine["points"] == Decimal(value)
                elif column == "reason":  # a duplicate names the earlier row: a position too
                    assert as_text(mine[column]) == re.sub(r"repeats row (\d+)",
                                                           lambda m: f"repeats row {int(m[1]) - 1}", value)
                else:
                    assert as_text(mine[column]) == restore(value), (name, column)


def test_arrow_table_gives_the_numbers_of_the_file(by_file):
    result = evaluate_frame(PROGRAM, texts())
    same_as_file(result, by_file)
    assert result.run.counts.reconciles
    assert result.input_sha256 == hashlib.sha256(canonical_ipc(texts())).hexdigest()
    assert result.arrow["partners"].schema.field("points").type == pa.decimal128(38, 0)


def test_hash_does_not_depend_on_chunks_or_metadata():
    table = texts()
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=50)).replace_schema_metadata({"x": "y"})
    assert canonical_ipc(chunked) == canonical_ipc(table)
    assert canonical_ipc(table.slice(1)) != canonical_ipc(table)


def test_polars_typed_frame(tmp_path):
    """Typed columns (integers, dates, nulls where a text was no number) as polars writes them to CSV."""
    pl = pytest.importorskip("polars", reason="polars is not installed")
    frame = pl.from_arrow(texts()).with_columns(pl.col("quantity").cast(pl.Int64, strict=False),
                                                pl.col("signed").str.to_date(strict=False))
    result = evaluate_frame(PROGRAM, frame)
    assert isinstance(result.contracts, pl.DataFrame) and isinstance(result.partners, pl.DataFrame)
    frame.write_csv(tmp_path / "typed.csv")
    run = evaluate(PROGRAM, tmp_path / "typed.csv")
    assert {(p.partner_id, p.period, p.points, p.tier) for p in run.partners} == \
        {(p["partner_id"], p["period"], p["points"], p["tier"]) for p in result.partners.to_dicts()}
    assert run.counts.to_json() == result.run.counts.to_json()
    assert result.contracts["row"].to_list()[:3] == [1, 2, 3]


def test_pandas_frame_arrow_backed(by_file):
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    frame = pd.DataFrame(ROWS, columns=HEADER)
    result = evaluate_frame(PROGRAM, frame)
    assert isinstance(result.contracts, pd.DataFrame)
    assert isinstance(result.contracts["points"].dtype, pd.ArrowDtype)
    same_as_file(result, by_file)


def test_duckdb_relation(by_file):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    con = duckdb.connect()
    given = texts()  # noqa: F841 (read by DuckDB by its name)
    relation = con.sql("select * from given")
    result = evaluate_frame(PROGRAM, relation)
    same_as_file(result, by_file)


def test_not_a_table():
    with pytest.raises(FrameError, match="polars or pandas DataFrame"):
        evaluate_frame(PROGRAM, [{"contract_id": "C-1"}])
