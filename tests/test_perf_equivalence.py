"""The row engine's memoised scoring against scoring afresh, and against the DuckDB engine: the same
bytes in every output file.

A plain `evaluate` scores through the lane's memo (a score per distinct key); a `trace_when` that
traces every row scores each one afresh with a tracer, and the DuckDB engine scores the whole file
in SQL. The data is generated with every kind of trouble the row engine must pass on exactly:
unreadable and blank rows, refused cells, repeated ids (near and far apart), unknown products,
contracts signed before the first version, cells the CSV writer must quote, versions in force by
date. The reader's chunk size (`RowSource.batches`) varies too: chunk boundaries change nothing.
"""
from __future__ import annotations

import functools
import json
import random
from pathlib import Path

import pytest

from engine import readers
from engine.program import load_program
from engine.run import RunOptions, evaluate

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
OUTPUTS = ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv", "manifest.json")
PRODUCTS = ["O2 Business S", "O2 Business M", "O2 Business XL", "O2 Business Start", "O2 VDSL Business 250",
            "O2 DSL Business 50", "O2 Business ISDN", "O2 Digital Phone", "O2 Digital Phone Pro",
            "O2 Unite Pool", "Fax Line", "o2 business s"]
HEADER = ["contract_id", "partner_id", "signed", "product", "customer", "quantity", "pool_gb"]
HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd", "'=x", "\tx", "-", "'+"]


def _hostile(rng: random.Random, cells: list[str], n: int) -> list[str]:
    """About one row in thirteen with a cell a spreadsheet would run (engine.cells prefixes it) or a look-alike.

    Its own random stream: `_row` (which tests/test_reasons.py shares) stays as it was. Line
    breaks in cells are tests/test_output_cells.py's.
    """
    kind = rng.randrange(40)
    if kind == 0 and len(cells) > 1:
        cells[0] = rng.choice(HOSTILE) + str(n) if rng.random() < 0.7 else rng.choice(("-0.25", "+3", "-1,5")) + f"/{n}"
    elif kind == 1 and len(cells) > 1:
        cells[1] = rng.choice(HOSTILE + ["-0.25", "-7", "+3", "a\0=b"])
    elif kind == 2 and len(cells) > 3:
        cells[3] = rng.choice(HOSTILE + ["-0.25"])
    return cells


@pytest.fixture(scope="module")
def program():
    return load_program(PROGRAM)


def _row(rng: random.Random, n: int) -> list[str]:
    """One contract row; about one in eight has something wrong or unusual in it."""
    day = f"{rng.choice((2015, 2016, 2017, 2018))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    cells = [f"C-{n:05d}", f"P-{rng.randint(1, 25):03d}", day, rng.choice(PRODUCTS),
             rng.choice(("new", "existing", "New", "")), str(rng.randint(1, 12)),
             rng.choice(("", "", "20", "2.5", "250.25", "0"))]
    trouble = rng.randrange(40)
    if trouble == 0:
        cells[0] = f"C-{rng.randrange(max(n, 1)):05d}"  # a repeat of an earlier id (or of itself: fine)
    elif trouble == 1:
        cells[5] = rng.choice(("0", "x", "1.5", ""))
    elif trouble == 2:
        cells[2] = rng.choice(("2016-02-30", "01.03.2016", "yesterday", ""))
    elif trouble == 3:
        cells[6] = rng.choice(("-1", "1,5", "abc"))
    elif trouble == 4:
        cells[1] = rng.choice(('P-"quoted"', "P-1, Berlin", "  P-002  ", ""))
    elif trouble == 5:
        cells[3] = rng.choice(("  O2 Business S ", "", "Fax, Line"))
    elif trouble == 6:
        cells = cells[:4]  # too few cells
    elif trouble == 7:
        cells = [""] * len(cells)  # blank
    elif trouble == 8:
        cells = cells + [""]  # a trailing delimiter
    return cells


def _write_csv(path: Path, rows: int, seed: int) -> Path:
    import csv

    rng, hostile = random.Random(seed), random.Random(seed + 1000)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for n in range(rows):
            w.writerow(_hostile(hostile, _row(rng, n), n))
    return path


def _chunks(monkeypatch, size: int) -> None:
    """The CSV reader hands the rows over in chunks of `size` (the default is 1024)."""
    monkeypatch.setattr(readers._CsvSource, "batches", functools.partialmethod(readers._CsvSource.batches, size))


def _both_paths(program, data, tmp_path: Path, **options) -> tuple[Path, Path]:
    """The run memoised and the run scored afresh (every row traced), into two folders."""
    memo, afresh = tmp_path / "memo", tmp_path / "afresh"
    result = evaluate(program, data, RunOptions(**options), out_dir=memo)
    assert result.counts.reconciles
    evaluate(program, data, RunOptions(trace_when=lambda row, record: True, **options), out_dir=afresh)
    return memo, afresh


def _assert_same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("seed, rows, batch", [(1, 3000, 4096), (2, 3000, 64), (3, 500, 7), (4, 40, 1)])
def test_generated_data_gives_the_same_bytes_both_ways(program, tmp_path, monkeypatch, seed, rows, batch):
    _chunks(monkeypatch, batch)
    data = _write_csv(tmp_path / "contracts.csv", rows, seed)
    memo_out, afresh_out = _both_paths(program, data, tmp_path)
    _assert_same_outputs(memo_out, afresh_out)
    counts = json.loads((memo_out / "manifest.json").read_text())["counts"]
    assert counts["rejected"] and counts["unscored"] and counts["scored"]  # the data has every outcome
    if rows >= 500:  # and cells written with engine.cells' prefix
        text = (memo_out / "contracts.csv").read_text(encoding="utf-8")
        assert ",'@SUM(A1)" in text and ",'-2+3+cmd" in text


def test_the_example_export_gives_the_same_bytes_both_ways(program, tmp_path, monkeypatch):
    _chunks(monkeypatch, 333)
    memo_out, afresh_out = _both_paths(program, ROOT / "examples" / "contracts.csv", tmp_path)
    _assert_same_outputs(memo_out, afresh_out)


def test_semicolons_decimal_commas_and_a_bom(program, tmp_path):
    text = "\ufeffcontract_id;partner_id;signed;product;quantity;pool_gb\r\n"
    text += "C-1;P-1;01.03.2016;O2 Unite Pool;1;12,5\r\nC-2;P-1;2017-02-01;O2 Unite Pool;1;1.000\r\n"
    text += "C-3;P-2;2017-02-01;O2 Business S;3;\r\n;;;;;\r\nC-1;P-2;2017-02-01;O2 Business S;3;\r\n"
    data = tmp_path / "export.csv"
    data.write_text(text, encoding="utf-8")
    memo_out, afresh_out = _both_paths(program, data, tmp_path, decimal_comma=True)
    _assert_same_outputs(memo_out, afresh_out)
    assert (memo_out / "rejects.csv").read_text().count("\n") == 3  # header, 1.000, the repeated C-1


def test_progress_reports_the_rows_read(program, tmp_path, monkeypatch):
    from engine import run

    _chunks(monkeypatch, 100)
    monkeypatch.setattr(run, "PROGRESS_EVERY", 250)
    seen = []
    data = _write_csv(tmp_path / "c.csv", 1000, seed=5)
    result = evaluate(program, data, RunOptions(progress=seen.append))
    assert seen == sorted(seen) and len(seen) >= 4
    assert seen[-1] == result.counts.rows < 1000  # blank rows are not contracts


def test_json_lines_give_the_same_bytes_both_ways(program, tmp_path):
    rng = random.Random(9)
    records = [dict(zip(HEADER, _row(rng, n)[:7])) for n in range(300)]
    lines = [json.dumps({k: v for k, v in r.items() if v and k not in ("quantity", "pool_gb")}) for r in records]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    memo_out, afresh_out = _both_paths(program, tmp_path / "c.jsonl", tmp_path)
    _assert_same_outputs(memo_out, afresh_out)


def _write_faulty_csv(path: Path, rows: int, seed: int, unclosed_at_end: bool) -> Path:
    """Generated rows with lines no csv.reader reads as they stand: a cell over the field limit, a
    bare CR in a cell that is not quoted, a quote opened and closed many lines later by a stray
    one, and (at the end) a quote never closed."""
    import csv
    import io

    rng = random.Random(seed)
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    for n in range(rows):
        w.writerow(_row(rng, n))
    lines = text.getvalue().splitlines(keepends=True)
    for at in sorted(rng.sample(range(len(lines)), 12), reverse=True):
        kind = at % 3
        if kind == 0:
            lines.insert(at, f"C-X{at},P-001,2017-01-01,{'x' * 140_000},new,1,\n")
        elif kind == 1:
            lines.insert(at, f"C-Y{at},P-0\r01,2017-01-01,O2 Business S,new,1,\n")
        else:
            lines.insert(at, f'C-Z{at},"P-001,2017-01-01,O2 Business S,new,1,\n')
            lines.insert(min(at + 5, len(lines)), f'C-W{at},P-002,2017-01-01,O2 Business S",new,1,\n')
    if unclosed_at_end:
        lines.append('C-END,"P-001,2017-01-01,O2 Business S,new,1,\n')
    path.write_text(",".join(HEADER) + "\n" + "".join(lines), encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("seed, rows, batch, unclosed", [(11, 2000, 1024, True), (12, 600, 5, False),
                                                         (13, 300, 1, True)])
def test_unreadable_rows_give_the_same_bytes_both_ways(program, tmp_path, monkeypatch, seed, rows, batch, unclosed):
    _chunks(monkeypatch, batch)
    data = _write_faulty_csv(tmp_path / "contracts.csv", rows, seed, unclosed)
    memo_out, afresh_out = _both_paths(program, data, tmp_path)
    _assert_same_outputs(memo_out, afresh_out)
    rejects = (memo_out / "rejects.csv").read_text(encoding="utf-8")
    assert "longer than 131,072 characters" in rejects and "line break (CR)" in rejects
    assert "probably never closed" in rejects or "never closed" in rejects
    counts = json.loads((memo_out / "manifest.json").read_text())["counts"]
    assert counts["scored"] and counts["rows"] == counts["scored"] + counts["unscored"] + counts["rejected"]


def test_unreadable_rows_are_the_same_in_any_chunk_size(tmp_path):
    from engine.readers import open_rows

    data = _write_faulty_csv(tmp_path / "contracts.csv", 400, 21, True)
    seen = []
    for size in (1, 3, 64, 1024):
        with open_rows(data) as source:
            seen.append([(row, raw) for rows, raws in source.batches(size) for row, raw in zip(rows, raws)])
    assert seen[0] == seen[1] == seen[2] == seen[3]
    numbers = [row for row, _ in seen[0]]
    assert numbers == sorted(set(numbers))
    with open(data, encoding="utf-8", newline="") as f:
        lines = f.read().count("\n")
    assert numbers[-1] == lines  # every line after the header starts a row (no quoted line break is legal here)


@pytest.mark.parametrize("batch", [4096, 13])
def test_several_files_give_the_same_bytes_both_ways(program, tmp_path, monkeypatch, batch):
    """Three generated exports in one run (ids repeat within and across files): rows.csv, the codes,
    the file column and the per-file counts of the manifest are the same on both paths."""
    _chunks(monkeypatch, batch)
    files = [_write_csv(tmp_path / f"part{i}.csv", 700, seed=20 + i) for i in range(3)]
    memo_out, afresh_out = _both_paths(program, files, tmp_path)
    _assert_same_outputs(memo_out, afresh_out)
    result = evaluate(program, files, RunOptions())
    assert result.counts.rows == sum(f.counts.rows for f in result.files)
    rows_csv = (memo_out / "rows.csv").read_text(encoding="utf-8")
    assert "part0.csv\n" in rows_csv and "part1.csv," in rows_csv  # ids of part0 repeated in part1
    assert len(rows_csv.splitlines()) == 1 + result.counts.rows


STRICT_PROGRAM = """program "Strict"
version "1"
effective 2016-01-01

input contract strict {
  contract_id: text, required, unique
  partner_id:  text, required, lenient
  signed:      date, required, lenient
  product:     text, required
  customer:    one of (new, existing), default new
  quantity:    integer >= 1, <= 10 when (product in ("O2 Business S", "O2 Business M")), default 1
  pool_gb:     decimal >= 0, required when (product == "O2 Unite Pool" or customer == existing), lenient
}

rule "All" {
  points 1 * quantity
}
"""


@pytest.mark.parametrize("seed, rows, batch", [(6, 3000, 64), (7, 400, 5)])
def test_declared_forms_and_conditions_give_the_same_bytes_both_ways(tmp_path, monkeypatch, seed, rows, batch):
    """Strict forms, lenient fields, conditional checks and lenient counts (in the manifest) agree."""
    _chunks(monkeypatch, batch)
    (tmp_path / "strict.rules").write_text(STRICT_PROGRAM, encoding="utf-8")
    program = load_program(tmp_path / "strict.rules")
    data = _write_csv(tmp_path / "contracts.csv", rows, seed)
    memo_out, afresh_out = _both_paths(program, data, tmp_path)
    _assert_same_outputs(memo_out, afresh_out)
    counts = json.loads((memo_out / "manifest.json").read_text())["counts"]
    assert {"required-when", "outside-bounds-when", "not-one-of"} <= set(counts["rejected_reasons"].get(
        "pool_gb", {})) | set(counts["rejected_reasons"].get("quantity", {})) | set(
        counts["rejected_reasons"].get("customer", {}))
    assert set(counts["lenient"]) == {"partner_id", "signed"}  # "  P-002  ", "01.03.2016"


def _write_plain_csv(path: Path, rows: int, seed: int) -> Path:
    """The generated rows the DuckDB engine reads itself: no quote, comma or NUL in a cell, every row as
    wide as the header (values may still be refused, ids repeat, products be unknown)."""
    rng, hostile = random.Random(seed), random.Random(seed + 1000)
    lines = [",".join(HEADER)]
    for n in range(rows):
        cells = _hostile(hostile, _row(rng, n), n)
        if len(cells) != len(HEADER) or any('"' in c or "," in c or "\0" in c for c in cells):
            continue
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("seed, rows", [(31, 3000), (32, 400)])
def test_the_duckdb_engine_gives_the_row_engines_bytes(program, tmp_path, seed, rows):
    pytest.importorskip("duckdb", reason="the DuckDB engine needs the duckdb package (pip install duckdb)")
    data = _write_plain_csv(tmp_path / "contracts.csv", rows, seed)
    evaluate(program, data, RunOptions(engine="python"), out_dir=tmp_path / "python")
    duck = evaluate(program, data, RunOptions(engine="duckdb"), out_dir=tmp_path / "duckdb")
    assert duck.engine == "duckdb", duck.engine_reason  # falling back cannot pass for identity
    _assert_same_outputs_but_the_engine(tmp_path / "python", tmp_path / "duckdb")
    counts = duck.counts
    assert counts.rejected and counts.unscored and counts.scored


def _assert_same_outputs_but_the_engine(a: Path, b: Path) -> None:
    for name in OUTPUTS[:-1]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    manifests = [json.loads((folder / "manifest.json").read_text(encoding="utf-8")) for folder in (a, b)]
    engines = [m.pop("engine")["evaluator"] for m in manifests]
    assert engines == ["python", "duckdb"] and manifests[0] == manifests[1]
