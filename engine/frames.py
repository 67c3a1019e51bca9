"""Contracts from a DataFrame, results as DataFrames: the Python API for a notebook, no files.

    from engine.frames import evaluate_frame
    result = evaluate_frame(program, polars_or_pandas_frame_or_arrow_table_or_duckdb_relation)
    result.contracts, result.partners   # in the input's kind: polars, pandas (Arrow-backed), Arrow

Design:
- The table is taken as Arrow (polars `to_arrow`, pandas `Table.from_pandas` without the index, a
  DuckDB relation's Arrow table) and hashed as a canonical Arrow IPC stream: one record batch, no
  schema metadata, so the same values give the same sha256 however the frame was chunked or which
  library made it. The hash is the input's sha256 in the manifest and in `input_sha256`.
- Each value is given to the engine as the text a CSV export would hold (None -> empty, a date
  `2016-03-10`, a bool `true` / `false`, an integer or Decimal as written, a float by its shortest
  repr), so a frame is validated, scored and rejected exactly as the same table read from a CSV file;
  row numbers are 1-based positions in the frame. Floats are inexact: give decimals as Decimal or
  text columns where cents matter.
- The run is engine.run.evaluate itself, into a temporary output folder; the tables returned are its
  output files read back (text cells restored from their formula-safe form, `row` and counts as
  int64, `points` as an exact decimal128, empty cells as null), without the `file` column.

pyarrow is needed (the `frames` extra: pyarrow, polars, pandas, duckdb); polars and pandas only
for frames of their kind.
"""
from __future__ import annotations

import csv
import hashlib
import tempfile
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

INTEGER_COLUMNS = frozenset({"row", "contracts_scored", "contracts_unscored", "contracts"})
OUTPUTS = {"contracts": "contracts.csv", "partners": "partners.csv", "partner_rules": "partner_rules.csv",
           "rejects": "rejects.csv", "rows": "rows.csv"}


class FrameError(ValueError):
    """The object given is not a table this API reads."""


@dataclass
class FrameResult:
    """The results of a frame: each table in the input's kind (polars, pandas or Arrow)."""

    contracts: object  # every valid row: points, rules, or why it is unscored
    partners: object  # points and tier per partner and period
    partner_rules: object  # points per partner, period and rule
    rejects: object  # every rejected row: field, value, code, reason
    rows: object  # every input row once, with its status
    input_sha256: str  # sha256 of the canonical Arrow IPC stream of the input
    run: object  # the engine.run.RunResult (counts, partners, notes)
    arrow: dict  # the same tables as pyarrow Tables, by name


def to_arrow(contracts):
    """The input as a pyarrow Table (and its kind: "polars", "pandas", "arrow" or "duckdb")."""
    import pyarrow as pa

    module = type(contracts).__module__.split(".")[0]
    if isinstance(contracts, pa.Table):
        return contracts, "arrow"
    if isinstance(contracts, pa.RecordBatch):
        return pa.Table.from_batches([contracts]), "arrow"
    if module == "polars" and hasattr(contracts, "to_arrow"):
        return contracts.to_arrow(), "polars"
    if module == "pandas" and hasattr(contracts, "columns"):
        return pa.Table.from_pandas(contracts, preserve_index=False), "pandas"
    if module in ("duckdb", "_duckdb"):
        for name in ("to_arrow_table", "arrow", "fetch_arrow_table"):
            method = getattr(contracts, name, None)
            if method is not None:
                table = method()
                if hasattr(table, "read_all"):  # a RecordBatchReader
                    table = table.read_all()
                return table, "duckdb"
    raise FrameError(f"cannot read contracts from a {type(contracts).__name__}: give a polars or pandas "
                     "DataFrame, a pyarrow Table or a DuckDB relation")


def canonical_ipc(table) -> bytes:
    """The table as one Arrow IPC stream: a single record batch, no schema metadata."""
    import pyarrow as pa

    table = table.replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches():
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def cell_text(value) -> str:
    """A value as a CSV export holds it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return "" if value != value else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() and value.tzinfo is None \
            else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _FrameRows:
    """A RowSource over an Arrow table: the header its column names, each row its cells as text."""

    kind = "frame"

    def __init__(self, table, path: Path):
        self.table = table
        self.path = path
        self.header = [str(name) for name in table.column_names]
        self.size = max(table.num_rows, 1)
        self._read = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._read = self.table.num_rows

    def fraction_read(self) -> float:
        return self._read / self.size

    def __iter__(self):
        row = 0
        for batch in self.table.to_batches(max_chunksize=8192):
            columns = [[cell_text(v) for v in column.to_pylist()] for column in batch.columns]
            for cells in zip(*columns):
                row += 1
                self._read = row
                yield row, list(cells)


def evaluate_frame(program, contracts, options=None) -> FrameResult:
    """Score the contracts of a DataFrame / Arrow table / DuckDB relation as `points evaluate` scores
    a file; the results as tables of the input's kind."""
    from engine.run import RunOptions, evaluate

    table, kind = to_arrow(contracts)
    options = replace(options or RunOptions(), workers=1, carry=())
    with tempfile.TemporaryDirectory(prefix="points-frame-") as work:
        source = Path(work) / "contracts.arrows"  # the canonical stream: its sha256 is the input's
        source.write_bytes(canonical_ipc(table))
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        options = replace(options, open_source=lambda path, _: _FrameRows(table, path))
        out = Path(work) / "out"
        run = evaluate(program, source, options, out_dir=out)
        arrow = {name: _read_back(out / file) for name, file in OUTPUTS.items()}
    frames = {name: _as_kind(t, kind) for name, t in arrow.items()}
    return FrameResult(**frames, input_sha256=digest, run=run, arrow=arrow)


def _read_back(path: Path):
    """An output CSV as an Arrow table: texts restored, counts int64, points exact, empty cells null."""
    import pyarrow as pa

    from engine.cells import restore

    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    arrays, names = [], []
    for i, name in enumerate(header):
        if name == "file":
            continue
        values = [r[i] for r in rows]
        names.append(name)
        if name in INTEGER_COLUMNS:
            arrays.append(pa.array([int(v) if v else None for v in values], pa.int64()))
        elif name == "points":
            arrays.append(_decimals(values))
        else:
            arrays.append(pa.array([restore(v) if v else None for v in values], pa.string()))
    return pa.Table.from_arrays(arrays, names=names)


def _decimals(values: list[str]):
    """Exact points as decimal128, with as many places as the most precise value."""
    import pyarrow as pa

    numbers = [Decimal(v) if v else None for v in values]
    scale = max((-n.as_tuple().exponent for n in numbers if n is not None and n.as_tuple().exponent < 0),
                default=0)
    return pa.array(numbers, pa.decimal128(38, scale))


def _as_kind(table, kind: str):
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if kind == "pandas":
        import pandas as pd

        return table.to_pandas(types_mapper=pd.ArrowDtype)
    return table
