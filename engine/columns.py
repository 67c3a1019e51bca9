"""Batches of CSV rows validated a column at a time, with the same verdicts as `RowValidator`.

Design:
- This is the validating half of the runner's batch path (`engine.batch`); `engine.validate`
  holds the row validator, whose per-field cell converters this module reuses, so a cell means
  the same thing on either path.
- A column of cells is converted at once: a cached cell is one C-level `map` over the column
  (`cache.get`), a text cell one `map(str.strip)`; only cache misses, empty cells and failures
  run Python per cell.
- A row that fails is converted again alone by the row converter, so its reject (the first
  failing field in declaration order) is the one the row path gives.
- Unique values are claimed with one `setdefault` per value; a batch with any empty value or
  repeat (within the batch or with an earlier row) takes the row-by-row check in row order, so
  the reject names the same earlier row as on the row path.
- Conditional checks (`required when`, bounds `when`) run on each row the columns accepted, after
  every field and before `unique`, as on the row path; a row that fails one is refused like a
  row with a bad cell (its reject comes from the row converter).
- Lenient readings are counted for the rows kept, in row order, from the cells the cache does not
  hold (a lenient reading is never cached; see engine.validate), so the counts and their
  examples are those of the row path.
- Kept rejects are detached from their tracebacks: the batch path runs with the cyclic garbage
  collector paused and must make no reference cycles.
"""
from __future__ import annotations

import itertools
from itertools import repeat
from operator import is_, is_not, not_
from typing import Callable

from engine.validate import Converter, RowReject, RowValidator, column_names

ColumnConverter = Callable[[tuple], tuple[list, list[int]]]
BatchConverter = Callable[[object, list], tuple[dict, list, list]]


def column_converter(cell: Converter) -> ColumnConverter:
    """The column form of a row validator's cell converter (one with a cache, or a plain text one)."""
    cache = getattr(cell, "cache", None)
    if getattr(cell, "verbatim", False):
        return _verbatim_column(cell)
    return _text_column(cell.missing) if cache is None else _cached_column(cache, cell)


def _verbatim_column(cell: Converter) -> ColumnConverter:
    """A column of text cells kept as they are; blank cells take the missing value."""
    def column(cells: tuple) -> tuple[list, list[int]]:
        values = list(cells)
        if all(map(str.strip, values)):
            return values, []
        return _fill(values, lambda value: not value.strip(), cell, cells)
    return column


def _text_column(missing: Converter) -> ColumnConverter:
    """A column of CSV text cells: stripped in C; empty cells take the missing value."""
    def column(cells: tuple) -> tuple[list, list[int]]:
        values = list(map(str.strip, cells))
        if all(values):  # no empty text (truth is a length test: cheaper than comparing with "")
            return values, []
        return _fill(values, "".__eq__, missing)
    return column


def _cached_column(cache: dict, cell: Converter) -> ColumnConverter:
    """A column of CSV cells: cached cells in one C-level map, the others one by one."""
    def column(cells: tuple) -> tuple[list, list[int]]:
        values = list(map(cache.get, cells))
        # `is` in C: `None in values` would compare each Decimal with None the slow way.
        if all(map(is_not, values, repeat(None))):
            return values, []
        return _fill(values, None.__eq__, cell, cells)
    return column


def _fill(values: list, pending: Callable, convert: Converter, cells=None) -> tuple[list, list[int]]:
    """Convert the pending places of `values` (from `cells`, else from the value); failures' indices."""
    bad = []
    for i, value in enumerate(values):
        if pending(value) is True:
            try:
                values[i] = convert(value if cells is None else cells[i])
            except RowReject:
                bad.append(i)
    return values, bad


def _absent_column(convert: Converter, size: int) -> tuple[list, list[int]]:
    """A column the header lacks: every row takes the missing value (or every row fails)."""
    try:
        return [convert(None)] * size, []
    except RowReject:
        return [None] * size, list(range(size))


def batch_converter(validator: RowValidator, header: list[str]) -> BatchConverter:
    """A converter of batches of CSV rows `(row numbers, cells of header width)` under this header.

    It returns `(columns, rows, rejects)`: the typed values by field name of the rows kept, their
    row numbers, and `(row, RowReject)` for the others, in row order; the `unique` values of the
    rows kept are remembered, exactly as converting the rows one by one would.
    """
    index: dict[str, int] = {}
    for position, column in enumerate(column_names(header)):
        index.setdefault(column, position)
    one_row = validator.for_header(header, unique=False)  # a refused row's reject: conversion only
    fields = [(name, index.get(name), convert, column_converter(convert))
              for name, convert in validator.cell_converters]
    claim = _claim_unique if validator.unique_seen else None
    conditions = validator.conditions_hold if validator.conditions else None
    names = [name for name, _ in validator.cell_converters]
    lenient = [(index.get(name), name, cache, reading_of)
               for _, name, cache, reading_of in validator.lenient_checks if index.get(name) is not None]

    def convert_batch(rows, cells: list) -> tuple[dict, list, list]:
        original = rows
        by_position = list(zip(*cells))
        columns, bad = {}, set()
        for name, position, convert, column in fields:
            if position is None:
                values, failed = _absent_column(convert, len(cells))
            else:
                values, failed = column(by_position[position])
            columns[name] = values
            bad.update(failed)
        if conditions is not None:
            for i in range(len(cells)):
                if i not in bad and not conditions({name: columns[name][i] for name in names}):
                    bad.add(i)
        kept = range(len(cells))
        rejects = []
        if bad:
            rejects = [(rows[i], _reject_of(one_row, cells[i], rows[i])) for i in sorted(bad)]
            keep = [i not in bad for i in range(len(cells))]
            rows = list(itertools.compress(rows, keep))
            columns = {name: list(itertools.compress(values, keep)) for name, values in columns.items()}
            kept = list(itertools.compress(kept, keep))
        if claim is not None:
            before = len(rows)
            rows, columns = claim(validator, rows, columns, rejects)
            if len(rows) != before:
                refused = {row for row, _ in rejects}
                kept = [i for i in kept if original[i] not in refused]
        if lenient:
            _note_lenient(validator, lenient, by_position, kept)
        return columns, rows, rejects
    return convert_batch


def _note_lenient(validator: RowValidator, lenient: list, by_position: list, kept) -> None:
    """Count the lenient readings of the kept rows' cells, row by row as the row path does."""
    found = []
    kept = kept if isinstance(kept, range) else set(kept)
    for position, name, cache, reading_of in lenient:
        column = by_position[position]
        # In C: a cached cell is a strict reading; a text cell strip() leaves as it is has no spaces.
        strict = map(cache.__contains__, column) if cache is not None else map(is_, column, map(str.strip, column))
        for i in itertools.compress(itertools.count(), map(not_, strict)):
            if i not in kept:
                continue
            raw = column[i]
            reading = reading_of(raw)
            if reading is not None:
                found.append((i, position, name, reading, raw))
    found.sort(key=lambda item: (item[0], item[1]))  # row order, then field order: the row path's order
    for _, _, name, reading, raw in found:
        validator.note(name, reading, raw)


def _reject_of(one_row: Callable, cells: list, row: int) -> RowReject:
    """The reject the row converter gives for cells a column converter refused."""
    try:
        one_row(cells, row)
    except RowReject as reject:
        return _detached(reject)
    raise AssertionError(f"row {row}: a cell was refused in its column but not in its row")


def _claim_unique(validator: RowValidator, rows, columns: dict, rejects: list) -> tuple[object, dict]:
    """Remember the batch's unique values; a batch with a repeat is checked row by row."""
    remembered = [row + validator.row_base for row in rows] if validator.row_base else list(rows)
    if _claim_all_new(validator.unique_seen, remembered, columns):
        return rows, columns
    keep = []
    for i, row in enumerate(rows):
        try:
            validator.check_unique({name: columns[name][i] for name, _ in validator.unique_seen}, row)
            keep.append(True)
        except RowReject as reject:
            rejects.append((row, _detached(reject)))
            keep.append(False)
    rejects.sort(key=lambda pair: pair[0])
    rows = list(itertools.compress(rows, keep))
    return rows, {name: list(itertools.compress(values, keep)) for name, values in columns.items()}


def _claim_all_new(unique_seen: tuple, rows: list, columns: dict) -> bool:
    """Remember each unique value with its row when none is empty, repeated or seen; else change nothing.

    `setdefault` in C both looks a value up and remembers it: it hands back the row given
    exactly when the value is new, so one comparison of lists finds any repeat.
    """
    claimed = []
    for name, seen in unique_seen:
        values = columns[name]
        if not all(map(is_not, values, repeat(None))):
            break
        firsts = list(map(seen.setdefault, values, rows))
        claimed.append((seen, values, firsts))
        if firsts != rows:
            break
    else:
        return True
    for seen, values, firsts in claimed:  # take back what this batch added
        for value, row, first in zip(values, rows, firsts):
            if first == row:
                del seen[value]
    return False


def _detached(reject: RowReject) -> RowReject:
    """A reject to keep in a list: without the traceback (or the error it replaced) that would hold
    the frames keeping the list, a cycle only the garbage collector could free."""
    reject.__traceback__ = None
    reject.__context__ = None
    return reject
