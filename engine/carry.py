"""Carried columns (`--carry COLUMN`, `carry` in points.toml): export columns the engine does not
score by (a partner's name, a region) copied into the outputs.

The output files are written first as always; with carried columns, `contracts.csv` then gets one
column per carried column, after its own, holding the cell of the row it came from (trimmed, as the
export gave it), and `partners.csv` gets the same columns holding the partner's first valid row's
cells (the first in input order, across the files of the run). A second pass reads the exports
beside `contracts.csv`: both are in input order, so the pass keeps one row of each in memory. Without
carried columns nothing of this runs.
"""
from __future__ import annotations

import os
from pathlib import Path

from engine.readers import BadRow, InputError, open_rows


def _names(header) -> list[str]:
    from engine.validate import column_names

    return column_names(header)


def check(paths: list[Path], columns: tuple[str, ...], options, taken: list[str]) -> None:
    """Before any work: every carried column is in every export's header (JSON Lines: any key) and is
    not a column the output already has."""
    from dsl.errors import did_you_mean

    for name in columns:
        if name in taken:
            raise InputError("--carry", f"'{name}' is already a column of contracts.csv; carry another column")
    for path in paths:
        with _open(path, options) as source:
            if source.header is None:
                continue
            names = _names(source.header)
            for name in columns:
                if name not in names:
                    hint = did_you_mean(name, [n for n in names if n])
                    near = f"; did you mean '{hint}'?" if hint else ""
                    raise InputError(path, f"carried column '{name}' is not in the header (columns: "
                                     f"{', '.join(n for n in names if n)}){near}")


def _open(path: Path, options):
    return open_rows(path, delimiter=options.delimiter, encoding=options.encoding,
                     **({"sheet": options.sheet} if options.sheet else {}))


def add(out_dir: Path, files: list[tuple[str, str]], columns: tuple[str, ...], options) -> None:
    """Add the carried `columns` to contracts.csv and partners.csv in `out_dir`; `files` are the run's
    exports in order as (name in the outputs, path to open)."""
    from engine import cells
    from engine.outputs import create
    from engine.run import _given

    contracts, partners = out_dir / "contracts.csv", out_dir / "partners.csv"
    first: dict[str, list[str]] = {}
    staged = out_dir / ".contracts.csv.carry"
    blank = [""] * len(columns)
    sources = iter(files)
    current_label, rows, getter = None, iter(()), None
    with create(staged) as f:
        w = cells.writer(f)
        lines = cells.read_back(contracts)
        header = next(lines)
        w.writerow(header + list(columns))
        file_at, row_at, partner_at = header.index("file"), header.index("row"), header.index("partner_id")
        for line in lines:
            label, number = line[file_at], int(line[row_at])
            while label != current_label:
                if getter is not None:
                    source.close()
                current_label, path = next(sources)
                source = _open(Path(path), options).__enter__()
                rows, getter = iter(source), _getter(source.header, columns, _given)
            for at, raw in rows:
                if at == number:
                    break
            else:  # cannot happen: contracts.csv holds rows of this file
                raise InputError(path, f"row {number}: not found again when reading carried columns")
            values = blank if isinstance(raw, BadRow) else getter(raw)
            first.setdefault(line[partner_at], values)
            w.writerow(line + values)
        if getter is not None:
            source.close()
    os.replace(staged, contracts)
    staged = out_dir / ".partners.csv.carry"
    with create(staged) as f:
        w = cells.writer(f)
        lines = cells.read_back(partners)
        header = next(lines)
        w.writerow(header + list(columns))
        at = header.index("partner_id")
        for line in lines:
            w.writerow(line + first.get(line[at], blank))
    os.replace(staged, partners)


def _getter(header, columns, given):
    if header is None:  # JSON objects: a missing key is an empty cell
        return lambda raw: [given(raw.get(c)) if isinstance(raw, dict) else "" for c in columns]
    names = _names(header)
    where = [names.index(c) for c in columns]
    return lambda raw: [given(raw[i]) if i < len(raw) else "" for i in where]
