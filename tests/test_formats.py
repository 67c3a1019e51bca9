"""The same contracts as CSV, German CSV, JSON Lines and XLSX give the same partner results."""
from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from engine.program import load_program
from engine.run import RunOptions, evaluate

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
DATA = ROOT / "examples" / "contracts.csv"


@pytest.fixture(scope="module")
def program():
    return load_program(PROGRAM)


@pytest.fixture(scope="module")
def clean_rows() -> list[dict]:
    """The example contracts that are well-formed (ragged rows left out), as dicts of strings."""
    with open(DATA, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return [dict(zip(header, cells)) for cells in reader if len(cells) == len(header)]


def _typed(name: str, value: str):
    """A cell as a typed export would carry it; values that do not parse stay text."""
    if value == "":
        return None
    try:
        if name == "quantity":
            return int(value)
        if name == "pool_gb":
            return Decimal(value)
    except (ValueError, InvalidOperation):
        return value
    return value


def _write_csv(path: Path, rows: list[dict], encoding: str = "utf-8", **dialect) -> None:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator=dialect.pop("lineterminator", "\n"), **dialect)
        w.writeheader()
        w.writerows(rows)


def _partners(tmp: Path) -> bytes:
    return (tmp / "partners.csv").read_bytes()


def _evaluate(program, path: Path, out: Path, **options):
    return evaluate(program, path, RunOptions(**options), out_dir=out)


def test_json_lines_and_csv_agree(program, clean_rows, tmp_path):
    csv_path, jsonl = tmp_path / "c.csv", tmp_path / "c.jsonl"
    _write_csv(csv_path, clean_rows)
    with open(jsonl, "w", encoding="utf-8") as f:
        for row in clean_rows:
            obj = {k: _typed(k, v) for k, v in row.items() if v != ""}
            f.write(json.dumps(obj, default=str) + "\n")
    a = _evaluate(program, csv_path, tmp_path / "csv")
    b = _evaluate(program, jsonl, tmp_path / "jsonl")
    assert _partners(tmp_path / "csv") == _partners(tmp_path / "jsonl")
    assert (a.counts.scored, a.counts.unscored) == (b.counts.scored, b.counts.unscored)


def _german(row: dict) -> dict:
    de = dict(row)
    de["pool_gb"] = de["pool_gb"].replace(".", ",")
    try:
        de["signed"] = date.fromisoformat(de["signed"]).strftime("%d.%m.%Y")
    except ValueError:
        pass  # the deliberately impossible dates stay as they are, and are rejected either way
    return de


def test_german_csv_with_semicolons_decimal_commas_and_bom(program, clean_rows, tmp_path):
    plain, german = tmp_path / "c.csv", tmp_path / "de.csv"
    _write_csv(plain, clean_rows)
    _write_csv(german, [_german(row) for row in clean_rows], encoding="utf-8-sig", delimiter=";",
               lineterminator="\r\n")
    _evaluate(program, plain, tmp_path / "plain")
    _evaluate(program, german, tmp_path / "de", decimal_comma=True)
    assert _partners(tmp_path / "plain") == _partners(tmp_path / "de")


def test_xlsx_and_csv_agree(program, clean_rows, tmp_path):
    from openpyxl import Workbook

    rows = clean_rows[:800]
    csv_path, xlsx = tmp_path / "c.csv", tmp_path / "c.xlsx"
    _write_csv(csv_path, rows)
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        cells = []
        for k, v in row.items():
            value = _typed(k, v)
            if k == "signed":
                try:
                    value = date.fromisoformat(v)
                except ValueError:
                    value = v
            cells.append(float(value) if isinstance(value, Decimal) else value)
        sheet.append(cells)
    book.save(xlsx)
    _evaluate(program, csv_path, tmp_path / "csv")
    _evaluate(program, xlsx, tmp_path / "xlsx")
    assert _partners(tmp_path / "csv") == _partners(tmp_path / "xlsx")
