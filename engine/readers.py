"""Streaming readers of contract exports: CSV, JSON Lines, XLSX, Parquet, a table of a DuckDB database.

Design:
- One entry point, `open_rows(path)`, chooses the format by extension and returns a `RowSource`:
  a context manager and an iterable of `(row_number, raw)`; raw is a list of cells (CSV, XLSX)
  or a dict (JSON Lines). Memory does not grow with the number of rows: every format is read
  row by row, except XLSX: its sheet is checked and read whole, within limits (see the Excel
  section below).
- Row numbers are what the user's tool shows. CSV and XLSX: the header is row 1, the first
  contract row 2; a CSV record whose quoted cell spans several lines still counts as one row,
  as a spreadsheet shows it (so after such a record, row numbers and text-editor line numbers
  differ). JSON Lines: the line number. Blank lines and rows whose cells are all empty are
  skipped (they are not contracts) but counted, so later numbers stay right.
- Two kinds of trouble. A row that cannot be read (wrong number of cells, a CSV record the csv
  module refuses or whose quote never closes, a line that is not a JSON object, an XLSX formula
  without a saved value) is yielded as a `BadRow` (its `field` is `(row)` or the column at
  fault), so the caller rejects it and goes on. A file that cannot be read at all raises
  `InputError` with the path and, where known, the row, line or workbook part.
- CSV goes through a text stream into `csv.reader` (lists of lines chained in C), taken in chunks
  (`batches`), so reading costs what the csv module costs. A chunk
  with a record the csv module cannot read (a cell over its field limit, a bare CR in an
  unquoted cell, a quote still open at the end of the file, or a record that swallowed lines
  and no longer fits the header) is read again from its kept lines one record at a time: the
  bad record becomes a BadRow and reading resumes at the line after its first line. A decoding
  error names its exact line: the file is then decoded again line by line from bytes (JSON
  Lines always is) to find it. A UTF-8 BOM is dropped; a UTF-16 BOM (Excel's "Unicode text")
  switches to UTF-16. The delimiter is sniffed from the header line (`,` `;` or tab, the most
  frequent outside quotes) unless given. Extra cells that are all empty (a trailing delimiter)
  are dropped silently; any other difference from the header's width is a `BadRow`.
- JSON Lines floats are parsed as `Decimal` (exact); `NaN`/`Infinity` and repeated keys make a
  line a `BadRow`.
- Parquet files (`.parquet`) and tables of DuckDB databases (`exports.duckdb:contracts`) are read
  through DuckDB as text cells: every value cast to VARCHAR, NULL as an empty cell, rows numbered
  1, 2, ... in the file's or the table's stored order (engine/sql/sources.py, whose query the
  DuckDB engine reads too); the column names are the header.
- Line ends may be LF, CRLF or CR alone (older Excel for Mac). `fraction_read()` tells a
  progress bar how far the reading is (bytes for text files, rows for XLSX).
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import operator
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from dsl.errors import did_you_mean

KINDS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
         ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet"}
_KNOWN = ".csv, .jsonl, .xlsx, .parquet or FILE.duckdb:TABLE"
_DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 20


class InputError(Exception):
    """A file that cannot be read at all: its path, a sentence for a person, and the row if known."""

    def __init__(self, path: str | os.PathLike, message: str, row: int | None = None):
        super().__init__(message)
        self.path = str(path)
        self.message = message
        self.row = row

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"  # messages name their row or line themselves


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be read; yielded in place of the raw row so the caller can reject it."""

    row_number: int
    reason: str
    field: str = "(row)"  # the column at fault when one cell makes the row unreadable


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, read in chunks; of a DuckDB table, of its canonical dump
    (engine.sql.sources.table_digest)."""
    export = _export_of(path)
    if export is not None and export.kind == "duckdb":
        from engine.sql.sources import table_digest

        return table_digest(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_rows(path: str | os.PathLike, *, delimiter: str | None = None, encoding: str = "utf-8",
              sheet: str | None = None) -> "RowSource":
    """A streaming source of the rows of a CSV, JSON Lines, XLSX or Parquet file or a DuckDB table,
    chosen by extension."""
    path = Path(path)
    export = _export_of(path)
    if export is not None:
        _check_file(export.file)
        return _ColumnarSource(path, export)
    _check_file(path)
    kind = _kind_of(path)
    if kind == "csv":
        return _CsvSource(path, delimiter, encoding)
    if kind == "jsonl":
        return _JsonlSource(path, encoding)
    return _XlsxSource(path, sheet)


def _export_of(path: str | os.PathLike):
    """A Parquet file or a DuckDB table (engine.sql.sources.Export), or None."""
    from engine.sql.sources import export_of

    return export_of(path)


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in KINDS:
        return KINDS[suffix]
    hints = {".xls": " (save it from Excel as .xlsx)", ".json": " (JSON Lines files, one object a "
             "line, end in .jsonl)"}
    shown = f"extension '{suffix}'" if suffix else "no extension"
    raise InputError(path, f"cannot read a file with {shown}: use {_KNOWN}{hints.get(suffix, '')}")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not a file")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")


class RowSource:
    """Rows of one file: `kind`, `header` (None for JSON Lines), iterate for `(row_number, raw)`."""

    kind: str = ""

    def __init__(self, path: Path):
        self.path = path
        self.header: list[str] | None = None
        self.size = path.stat().st_size
        self._handle = None

    def __enter__(self) -> "RowSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the file; iteration ends."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __iter__(self) -> Iterator[tuple[int, object]]:
        raise NotImplementedError

    def fraction_read(self) -> float | None:
        """How much of the file has been read, 0 to 1, for a progress bar; None when unknown."""
        return None

    def _error(self, message: str, row: int | None = None) -> InputError:
        return InputError(self.path, message, row)


def _check_header(source: RowSource, header: list[str]) -> list[str]:
    """The header's names trimmed; duplicates (other than blank names) raise."""
    names = [str(c).strip() if c is not None else "" for c in header]
    if not any(names):
        raise source._error("the header row (row 1) is empty: the first row must name the columns", 1)
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name and name in seen:
            raise source._error(f"the header (row 1) names the column `{name}` twice (columns {seen[name]} "
                                f"and {position})", 1)
        seen.setdefault(name, position)
    return names


def _fit(cells: list, width: int, row: int, kind: str) -> list | BadRow:
    """The cells cut or padded to the header's width, or a BadRow when they do not fit."""
    if len(cells) > width and not any(_filled(c) for c in cells[width:]):
        return cells[:width]
    if len(cells) == width:
        return cells
    if kind == "xlsx" and len(cells) < width:
        return list(cells) + [None] * (width - len(cells))
    count = f"{len(cells)} cell" + ("" if len(cells) == 1 else "s")
    if kind == "csv" and any(isinstance(c, str) and "\n" in c for c in cells):
        return BadRow(row, f"row {row} has {count}, the header has {width} columns: a quote (\") opened in "
                           "this row is probably never closed, so the lines after it were read into one cell")
    return BadRow(row, f"row {row} has {count}, the header has {width} columns")


def _filled(cell: object) -> bool:
    return cell is not None and (not isinstance(cell, str) or cell.strip() != "")


class _ColumnarSource(RowSource):
    """A Parquet file or a DuckDB table read through DuckDB: the cells of `engine.sql.sources`' query,
    as text ("" for NULL), rows whose cells are all blank skipped but counted."""

    header_name = ("columns", None)  # where a header problem is: the row engine's and the DuckDB engine's notes

    def __init__(self, path: Path, export):
        try:
            import duckdb  # noqa: F401
        except ImportError:
            raise InputError(path, "reading Parquet files and DuckDB tables needs the duckdb package "
                                   "(pip install duckdb)") from None
        from engine.sql.sources import connect, Relation

        self.path = path
        self.kind = export.kind
        self.size = export.file.stat().st_size
        self._read = 0
        self._handle = connect()
        try:
            self._relation = Relation(self._handle, path, export)
            self.rows = self._relation.rows
            self.header = _check_header(self, self._relation.header)
        except Exception:
            self.close()
            raise

    def __iter__(self) -> Iterator[tuple[int, object]]:
        import duckdb

        from engine.sql.sources import batches

        if self._handle is None:
            return
        try:
            for batch in batches(self._handle, self._relation):
                for row, *cells in batch:
                    self._read = row
                    cells = ["" if c is None else c for c in cells]
                    if any(c.strip() for c in cells):
                        yield row, cells
        except duckdb.Error as error:
            raise self._error(f"cannot be read (after row {self._read}: {str(error).splitlines()[0]})",
                              self._read or None) from None
        self._read = self.rows

    def fraction_read(self) -> float | None:
        """Rows read over the rows of the export."""
        return min(self._read / self.rows, 1.0) if self.rows else None


# --------------------------------------------------------------------------- text files


_ENCODING_HINT = "use a text encoding such as utf-8, cp1252, latin-1 or utf-16"
# Text codecs that are not the encoding of a file's text: names on the internet, or no text at all.
_NOT_FILE_ENCODINGS = {"punycode", "idna", "undefined"}


def text_encoding(encoding: str) -> str:
    """The codec name of `encoding`; ValueError (a sentence naming the option) unless it is a text encoding."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise ValueError(f"unknown encoding '{encoding}' ({_ENCODING_HINT})") from None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_FILE_ENCODINGS:
        raise ValueError(f"'{encoding}' is not a text encoding ({_ENCODING_HINT})")
    return info.name


def _codec(path: Path, encoding: str) -> str:
    try:
        name = text_encoding(encoding)
    except ValueError as error:
        raise InputError(path, f"--encoding: {error}") from None
    if name == "utf-8":
        with open(path, "rb") as handle:
            start = handle.read(2)
        if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
    return name


class _TextSource(RowSource):
    """Decoded lines of a text file with their 1-based line numbers; bytes_read for progress."""

    def __init__(self, path: Path, encoding: str):
        super().__init__(path)
        self.encoding = _codec(path, encoding)
        self.bytes_read = 0
        try:
            self._handle = open(path, "rb")
        except OSError as error:
            raise InputError(path, f"cannot be opened ({error.strerror or error})") from None

    def fraction_read(self) -> float | None:
        """Bytes read over the file's size."""
        return min(self.bytes_read / self.size, 1.0) if self.size else None

    def _lines(self) -> Iterator[tuple[int, str]]:
        if self.encoding.startswith(("utf-16", "utf-32")):
            yield from self._wide_lines()
            return
        decode = codecs.getdecoder(self.encoding)
        for number, raw in enumerate(self._raw_lines(), 1):
            self.bytes_read += len(raw)
            try:
                text = decode(raw)[0]
            except UnicodeDecodeError as error:
                raise self._decode_error(error, number) from None
            except UnicodeError as error:  # a codec that fails without saying where
                raise self._error(f"line {number} cannot be read as {self.encoding.upper()} ({error}); "
                                  "check --encoding", number) from None
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text

    def _raw_lines(self) -> Iterator[bytes]:
        """Byte lines; a file with CR alone as line end (older Excel for Mac) is split on CR."""
        start = self._handle.read(_CHUNK)
        self._handle.seek(0)
        if not cr_alone(start):
            return iter(self._handle)
        return _split_on_cr(self._handle)

    def _wide_lines(self) -> Iterator[tuple[int, str]]:
        # UTF-16/32 cannot be split on b"\n"; decode as a stream, line numbers stay exact.
        stream = io.TextIOWrapper(self._handle, encoding=self.encoding, newline="")
        number = 0
        try:
            for number, text in enumerate(stream, 1):
                self.bytes_read = self._handle.tell()  # read-ahead included: fine for progress
                yield number, text
        except UnicodeDecodeError as error:
            raise self._decode_error(error, number + 1) from None
        except UnicodeError as error:  # e.g. UTF-16 without a byte-order mark
            raise self._error(f"cannot be read as {self.encoding.upper()} ({error}); check --encoding",
                              number + 1) from None
        self.bytes_read = self.size

    def _decode_error(self, error: UnicodeDecodeError, line: int) -> InputError:
        byte = error.object[error.start:error.start + 1].hex().upper()
        tip = ""
        if "utf" in self.encoding:
            tip = " (if it was saved by Excel on Windows, try --encoding cp1252)"
        return self._error(f"line {line} is not valid {self.encoding.upper()} (byte 0x{byte} at "
                           f"position {error.start + 1}){tip}", line)


_BREAK_OR_QUOTE = re.compile(rb'[\r\n"]')


def cr_alone(start: bytes) -> bool:
    """Whether a file beginning with `start` ends its lines with CR alone (older Excel for Mac): its
    first line break outside a quoted cell is a CR with no LF after it (an LF inside a quoted cell
    of such a file is the cell's). Without a break outside quotes, whether it has a CR and no LF."""
    quoted = False
    for found in _BREAK_OR_QUOTE.finditer(start):
        char = start[found.start():found.end()]
        if char == b'"':
            quoted = not quoted
        elif not quoted:
            after = start[found.end():found.end() + 1]
            if not after:  # the break ends what was read: a CR there may have its LF after it
                break
            return char == b"\r" and after != b"\n"
    return b"\r" in start and b"\n" not in start


def _split_on_cr(handle) -> Iterator[bytes]:
    rest = b""
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        *lines, rest = (rest + chunk).split(b"\r")
        yield from (line + b"\r" for line in lines)
    if rest:
        yield rest


class _CsvSource(_TextSource):
    """CSV through a text stream handed straight to `csv.reader` (C all the way for the common row).

    The stream splits lines exactly where the line-by-line decoder would (on LF, or on CR in a
    CR-only file), so records and row numbers are the same; a decoding or CSV error is located
    by re-reading the file the slow way, which happens at most once.
    """

    kind = "csv"

    def fraction_read(self) -> float | None:
        """The position of the file handle under the text stream over the file's size (read-ahead
        included: fine for a progress bar)."""
        try:
            return min(self._handle.tell() / self.size, 1.0) if self.size and self._handle else None
        except (OSError, ValueError):
            return None

    def __init__(self, path: Path, delimiter: str | None, encoding: str):
        if delimiter is not None and len(delimiter) != 1:
            raise InputError(path, f"the delimiter must be one character, got '{delimiter}'")
        super().__init__(path, encoding)
        self._rows_read = 0  # records taken from the reader, the header included
        self._row_iter = None
        try:
            self._start(delimiter)
        except Exception:
            self.close()
            raise

    @property
    def bytes_read(self) -> int:
        """Bytes the text stream has taken from the file (read-ahead included: fine for progress)."""
        return self._handle.tell() if self._handle is not None else self._bytes_at_close

    @bytes_read.setter
    def bytes_read(self, value: int) -> None:
        self._bytes_at_close = value

    def close(self) -> None:
        """Release the file; iteration ends."""
        if self._handle is not None:
            self._bytes_at_close = self._handle.tell()
            self._handle.close()
            self._handle = None

    def _start(self, delimiter: str | None) -> None:
        """Read the header: the first line for sniffing, the first record for the names."""
        self._stream = self._text_stream()
        first = self._guard(self._stream.readline)
        if first.startswith("\ufeff") and not self.encoding.startswith(("utf-16", "utf-32")):
            first = first[1:]
        if not first.strip():
            raise self._error("the header row (row 1) is empty: the first row must name the columns", 1)
        tsv = self.path.suffix.lower() == ".tsv"
        self.delimiter = delimiter or ("\t" if tsv else sniff(first))
        self._lines_from(self._stream, [first])
        names = self._guard(next, self._reader, None)
        self._advance()
        if names and _END_MARK in names[-1]:
            raise self._error("the header (row 1) opens a quote (\") that is never closed", 1)
        self._rows_read = 1
        # A trailing delimiter in the header makes no column; rows with one are trimmed to fit.
        self.header = _check_header(self, _trim_trailing(names or []))

    def _text_stream(self):
        """The decoded text, split into lines where `_lines` would split the bytes."""
        if self.encoding.startswith(("utf-16", "utf-32")):
            newline = ""
        else:
            start = self._handle.read(_CHUNK)
            self._handle.seek(0)
            newline = "\r" if cr_alone(start) else "\n"
        return io.TextIOWrapper(self._handle, encoding=self.encoding, newline=newline)

    def _guard(self, read, *args, rows: bool = False):
        """Call `read`; a decoding or CSV error becomes an InputError naming its line or row (a CSV
        error is passed on when reading `rows`, where it makes a BadRow)."""
        try:
            return read(*args)
        except UnicodeDecodeError:
            raise self._located_decode_error() from None
        except UnicodeError as error:  # e.g. UTF-16 without a byte-order mark
            raise self._error(f"cannot be read as {self.encoding.upper()} ({error}); check --encoding", 1) from None
        except csv.Error:
            if rows:
                raise
            raise self._located_csv_error() from None

    def _located_decode_error(self) -> InputError:
        """Decode the file again line by line to name the first line that is not valid text."""
        with _TextSource(self.path, self.encoding) as again:
            for _ in again._lines():
                pass
        return self._error(f"the file is not valid {self.encoding.upper()}")  # not reached

    def _located_csv_error(self) -> InputError:
        """Read the records again one by one to name the row that cannot be read as CSV."""
        with _TextSource(self.path, self.encoding) as again:
            lines = (text for _, text in again._lines())
            reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
            row = 0
            try:
                for row, _ in enumerate(reader, 1):
                    pass
            except csv.Error as error:
                return self._error(f"row {row + 1} cannot be read as CSV: {error}", row + 1)
        return self._error("the file cannot be read as CSV")  # not reached

    # The lines of the file reach csv.reader through one feed (itertools, C): lists of lines read
    # from the text stream, kept from the start of the current chunk on, then the end mark. A chunk
    # that cannot be read as it stands is read again from its kept lines one record at a time
    # (`_reread`): a record that cannot be read is a BadRow and reading resumes at the line after
    # its first line, so the lines a runaway quote swallowed are rows again.

    def _lines_from(self, stream, first: list) -> None:
        """Feed csv.reader from `stream` (after the lines `first`), counting lines from 0."""
        self._kept: list = []  # [first line number, lines] of the lists read from the chunk's start on
        self._fed = 0  # lines the feed has handed on
        self._end = [None]  # the line number after the end mark, once it is read
        # A function of its own, not a method: the source holds the feed, the feed must not hold it.
        self._feed = itertools.chain.from_iterable(_line_lists(stream, first, self._kept, self._end))
        self._at = 0  # the line the current reader started at
        self._reader = csv.reader(self._feed, delimiter=self.delimiter, strict=False)
        self._eof = False

    @property
    def _end_line(self) -> int | None:
        return self._end[0]

    def _advance(self) -> int:
        """The line after the current reader's last record; the feed has handed on at least that."""
        line = self._at + self._reader.line_num
        if line > self._fed:
            self._fed = line
        return line

    def _lines_after(self, line: int) -> Iterator[str]:
        """The lines from `line` on: the kept ones the feed has handed on already, then the feed."""
        if line >= self._fed:
            return self._feed
        kept = []
        for first, lines in self._kept:
            if first + len(lines) > line and first < self._fed:
                kept.append(lines[max(line - first, 0):self._fed - first])
        return itertools.chain(itertools.chain.from_iterable(kept), self._feed)

    def _restart(self, line: int) -> None:
        """Go on reading records at `line`."""
        self._at = line
        self._reader = csv.reader(self._lines_after(line), delimiter=self.delimiter, strict=False)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        # One iterator per source: a loop that stops early and a later loop share the rows.
        if self._row_iter is None:
            self._row_iter = itertools.chain.from_iterable(itertools.starmap(zip, self.batches()))
        return self._row_iter

    def batches(self, size: int = 1024) -> Iterator[tuple[range | list, list]]:
        """The rows in lists of up to `size`: `(row numbers, raws)`, blank rows left out.

        A source is read either by iterating it or through `batches`, not both.

        The common chunk (every record as wide as the header, none blank) is passed on as the
        csv module made it, with a range of row numbers; any other chunk is fitted row by row.
        """
        width = len(self.header)
        while not self._eof:
            start_line = self._advance()
            while len(self._kept) > 1 and self._kept[1][0] <= start_line:
                del self._kept[0]  # lists wholly before the chunk are not needed again
            try:
                chunk = self._guard(list, itertools.islice(self._reader, size), rows=True)
            except csv.Error:
                self._advance()  # the lines the failed read took are kept: they are read again
                chunk = None
            if chunk is not None:
                end_line = self._advance()
                if chunk and end_line == self._end_line and chunk[-1] == [_END_MARK]:
                    chunk.pop()
                    self._eof = True
                elif not chunk:
                    self._eof = True
                if chunk and (_END_MARK in chunk[-1][-1] if chunk[-1] else False):
                    chunk = None  # a quote open at the end of the file
            if chunk is None or (not _plain(chunk, width) and any(map(_runaway, chunk, itertools.repeat(width)))):
                self._eof = False
                self._restart(start_line)
                rows, raws = self._reread(size, width)
                if rows:
                    yield rows, raws
                continue
            if not chunk:
                return
            start = self._rows_read + 1
            self._rows_read += len(chunk)
            if _plain(chunk, width):
                yield range(start, start + len(chunk)), chunk
            else:
                yield _fitted(chunk, start, width)

    def _reread(self, size: int, width: int) -> tuple[list, list]:
        """Up to `size` records read one at a time from the current reader's start (see above)."""
        rows, raws = [], []
        taken = 0
        while taken < size:
            line = self._at
            try:
                cells = self._guard(next, self._reader, None, rows=True)
            except csv.Error as error:
                self._advance()
                bad = self._unreadable(str(error))
            else:
                end = self._advance()
                if cells is None or (end == self._end_line and cells == [_END_MARK]):
                    self._eof = True
                    break
                bad = None
                if cells and _END_MARK in cells[-1]:
                    bad = ("opens a quote (\") that is never closed")
                elif _runaway(cells, width):
                    bad = (f"has {len(cells)} cells, the header has {width} columns: a quote (\") opened in this "
                           "row is probably never closed")
            taken += 1
            self._rows_read += 1
            row = self._rows_read
            if bad is not None:
                rows.append(row)
                raws.append(BadRow(row, f"row {row} {bad}; the row is rejected and reading goes on at the "
                                        "next line"))
                self._restart(line + 1)
                continue
            self._restart(end)
            if not any(c.strip() for c in cells):
                continue
            rows.append(row)
            raws.append(_fit(cells, width, row, "csv"))
        return rows, raws

    @staticmethod
    def _unreadable(message: str) -> str:
        if "field larger than field limit" in message:
            return (f"has a cell longer than {csv.field_size_limit():,} characters, the longest a cell may be "
                    "(a quote that is never closed makes one)")
        if "new-line character seen in unquoted field" in message:
            return "has a line break (CR) inside a cell that is not in quotes"
        return f"cannot be read as CSV ({message})"


def _line_lists(stream, first: list, kept: list, end: list) -> Iterator[list]:
    """Lists of the stream's lines (after `first`), each noted in `kept` with its first line
    number, then the end mark, whose following line number goes to end[0]."""
    number = 0
    if first:
        kept.append([number, first])
        number += len(first)
        yield first
    while True:
        lines = stream.readlines(_LINES_READ)
        if not lines:
            break
        kept.append([number, lines])
        number += len(lines)
        yield lines
    kept.append([number, [_END_LINE]])
    end[0] = number + 1
    yield [_END_LINE]


def _runaway(cells: list, width: int) -> bool:
    """Whether a record does not fit the header and has a line break in a cell (a quote that was
    never closed took the lines after it)."""
    if len(cells) == width or (len(cells) > width and not any(map(_filled, cells[width:]))):
        return False
    return any(("\n" in c or "\r" in c) for c in cells)


_LINES_READ = 1 << 16  # characters of lines the feed reads at a time (a progress bar sees it move)
_END_MARK = "\ue000points: end of input\ue000"  # a line no export holds, after the last line
_END_LINE = _END_MARK + "\n"


def _plain(chunk: list, width: int) -> bool:
    """Whether every record has the header's width and a first cell that is not blank."""
    widths = set(map(len, chunk))
    return widths == {width} and all(map(str.strip, map(operator.itemgetter(0), chunk)))


def _fitted(chunk: list, start: int, width: int) -> tuple[list, list]:
    """Row numbers and raws of a chunk with blank rows left out and the others fitted to `width`."""
    rows, raws = [], []
    for row, cells in enumerate(chunk, start):
        if not any(c.strip() for c in cells):
            continue
        rows.append(row)
        raws.append(_fit(cells, width, row, "csv"))
    return rows, raws


def sniff(line: str) -> str:
    """The delimiter of a header line: the most frequent of `,` `;` tab outside quotes (`,` on a tie)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])  # max keeps the first on a tie: `,`
    return best if counts[best] else ","


class _JsonlSource(_TextSource):
    kind = "jsonl"

    def __init__(self, path: Path, encoding: str):
        super().__init__(path, encoding)
        self._decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant,
                                         object_pairs_hook=_object_without_repeats)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        seen_any = False
        for number, text in self._lines():
            if not text.strip():
                continue
            seen_any = True
            yield number, self._record(number, text)
        if not seen_any:
            raise self._error("the file has no records (only blank lines)")

    def _record(self, number: int, text: str) -> dict | BadRow:
        try:
            value = self._decoder.decode(text)
        except RecursionError:
            return BadRow(number, f"line {number} is nested too deeply to be a contract record")
        except json.JSONDecodeError as error:
            return BadRow(number, f"line {number} is not valid JSON: {error.msg} at column {error.colno}")
        except ValueError as error:
            return BadRow(number, f"line {number} is not valid JSON: {error}")
        if not isinstance(value, dict):
            return BadRow(number, f"line {number} is {_json_kind(value)}, not a JSON object {{...}}")
        if "\\u" in text:  # only an escape can make a lone surrogate, which no file can hold
            bad = _surrogate_field(value)
            if bad is not None:
                field, where = bad
                return BadRow(number, f"line {number}: {where} holds a \\u escape of half a character "
                                      "(a lone surrogate), which is not text", field)
        return value


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_field(record: dict) -> tuple[str, str] | None:
    """(field, where) of the first key or value holding a lone surrogate, or None."""
    for key, value in record.items():
        if not _is_text(key):
            return "(row)", "a key"
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if not item.isascii() and not _is_text(item):
                    return key, f"the value of \"{key}\""
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
    return None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def _object_without_repeats(pairs: list) -> dict:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key \"{repeated}\" appears twice")
    return record


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


# --------------------------------------------------------------------------- Excel
# A workbook is a zip of XML parts. Before any part is read, every part's stated size and
# compression ratio are checked (a zip bomb is refused without inflating it); the project's own
# look at the XML (which sheet is which part; formulas, errors and row numbers of the sheet) goes
# through defusedxml, streaming; the values, shared strings, dates and cached formula results are
# read by calamine (python-calamine, Rust), which holds the sheet's used area in memory.

XLSX_PART_BYTES = 256 << 20  # uncompressed bytes of any one part of a workbook
XLSX_TOTAL_BYTES = 512 << 20  # uncompressed bytes of all its parts together
XLSX_RATIO = 200  # uncompressed / compressed size of any part over XLSX_RATIO_FROM bytes
XLSX_RATIO_FROM = 1 << 20
XLSX_PARTS = 10_000  # files inside the zip
XLSX_CELLS = 10_000_000  # rows x columns from A1 to the last used cell (what calamine holds)
_EXCEL_ROWS, _EXCEL_COLUMNS = 1_048_576, 16_384  # the largest sheet Excel itself can hold
# What reading a damaged zip can raise (zlib.error: a deflated stream that is not one).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError,
               NotImplementedError, UnicodeDecodeError)
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NOT_A_WORKBOOK = "if it is an old .xls file, save it from Excel as .xlsx"


class _XlsxSource(RowSource):
    kind = "xlsx"

    def __init__(self, path: Path, sheet: str | None):
        super().__init__(path)
        self._last_row = 0
        self._rows_stated = 0
        self._book = None
        try:
            try:
                archive = zipfile.ZipFile(path)
            except _ZIP_ERRORS as error:
                raise self._error(f"cannot be opened as an Excel .xlsx workbook ({error}); {_NOT_A_WORKBOOK}") \
                    from None
            with archive:
                _check_parts(self, archive)
                sheets = _sheet_parts(self, archive)
                self.sheet_name, part = _pick_sheet(self, sheets, sheet)
                self._part = part
                self._marks = _scan_sheet(self, archive, part)
                _verify_parts(self, archive)
            self._rows_stated = self._marks.last_row
            self._book, values = _calamine_sheet(self, self.sheet_name)
            self._rows = enumerate(values, 1)  # calamine's rows start at row 1 (A1), gaps included
            self._first_column = values.first_column
            first = next(self._rows, None)
            header = self._cells(first[1]) if first is not None else []
            if not any(_filled(v) for v in header):
                if first is None or self._marks.last_row == 0:
                    raise self._error(f"the sheet '{self.sheet_name}' is empty")
            flagged = self._marks.cells.pop(1, None)
            if flagged:
                column, why = flagged[0]
                raise self._error(f"the header (row 1), column {column_name(column)}: {why}", 1)
            self.header = _check_header(self, _trim_trailing(header))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Release the workbook."""
        book, self._book = self._book, None
        if book is not None:
            try:
                book.close()
            except Exception:  # noqa: BLE001 - closing twice or after a failure is no news
                pass

    def _cells(self, values: list) -> list:
        """calamine's cells as the validator takes them: None for empty, whole numbers as int."""
        cells = [None] * self._first_column
        for value in values:
            if value == "" and value.__class__ is str:
                value = None
            elif value.__class__ is float and value.is_integer() and abs(value) < 2 ** 53:
                value = int(value)
            cells.append(value)
        return cells

    def __iter__(self) -> Iterator[tuple[int, object]]:
        width, names, flagged = len(self.header), self.header, self._marks.cells
        try:
            for row, values in self._rows:
                self._last_row = row
                marks = flagged.get(row)
                if marks:
                    named = [(column, why) for column, why in marks if column < width and names[column]]
                    if named:
                        column, why = named[0]
                        yield row, BadRow(row, f"row {row}, column {column_name(column)}: {why}", names[column])
                        continue
                cells = self._cells(values)
                if not any(_filled(v) for v in cells):
                    continue
                yield row, _fit(cells, width, row, "xlsx")
        except Exception as error:  # noqa: BLE001 - calamine's errors are the file's problem
            raise self._error(f"cannot be read as an Excel .xlsx workbook ({self._part}, after row "
                              f"{self._last_row}: {error})", self._last_row) from None

    def fraction_read(self) -> float | None:
        """The last row read over the sheet's last row (None if it has none)."""
        stated = self._rows_stated
        return min(self._last_row / stated, 1.0) if stated else None


def _check_parts(source: _XlsxSource, archive) -> None:
    """Refuse a workbook whose parts would inflate beyond the limits (a zip bomb), before reading any."""
    total = 0
    if len(archive.infolist()) > XLSX_PARTS:
        raise source._error(f"the workbook has {len(archive.infolist()):,} parts, more than the {XLSX_PARTS:,} "
                            "this engine opens")
    for info in archive.infolist():
        size, packed = info.file_size, max(info.compress_size, 1)
        total += size
        if size > XLSX_PART_BYTES:
            raise source._error(f"the workbook part {info.filename} would inflate to {size:,} bytes, more "
                                f"than the {XLSX_PART_BYTES >> 20} MiB a part may have")
        if size > XLSX_RATIO_FROM and size / packed > XLSX_RATIO:
            raise source._error(f"the workbook part {info.filename} would inflate {size // packed:,} times "
                                f"(to {size:,} bytes), more than the {XLSX_RATIO} times a real workbook does: "
                                "refused as a zip bomb")
    if total > XLSX_TOTAL_BYTES:
        raise source._error(f"the workbook would inflate to {total:,} bytes, more than the "
                            f"{XLSX_TOTAL_BYTES >> 20} MiB a workbook may have")


def _verify_parts(source: _XlsxSource, archive) -> None:
    """Inflate every part but the worksheets (whose chosen one the scan reads) through zipfile, which
    stops at the size the zip states and checks the CRC: a part that lies about its size is refused
    before calamine, which trusts the compressed stream, reads it."""
    for info in archive.infolist():
        if info.filename.startswith("xl/worksheets/") or info.is_dir():
            continue
        try:
            with archive.open(info) as part:
                while part.read(_CHUNK):
                    pass
        except _ZIP_ERRORS as error:
            raise source._error(f"cannot be read as an Excel .xlsx workbook: the part {info.filename} is "
                                f"damaged ({error})") from None


def _read_part(source: _XlsxSource, archive, name: str) -> bytes:
    try:
        with archive.open(name) as part:
            return part.read(XLSX_PART_BYTES + 1)[:XLSX_PART_BYTES + 1]
    except KeyError:
        raise source._error(f"cannot be read as an Excel .xlsx workbook: the part {name} is missing") from None
    except _ZIP_ERRORS as error:
        raise source._error(f"cannot be read as an Excel .xlsx workbook: the part {name} is damaged "
                            f"({error})") from None


def _xml(source: _XlsxSource, archive, name: str):
    """A small part (the workbook, its relationships) parsed by defusedxml: no DTD, no entities."""
    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    data = _read_part(source, archive, name)
    try:
        return safe_xml.fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, safe_xml.ParseError) as error:
        raise source._error(f"cannot be read as an Excel .xlsx workbook: the part {name} is not valid XML "
                            f"({_xml_reason(error)})") from None


def _xml_reason(error: Exception) -> str:
    from defusedxml import DefusedXmlException

    if isinstance(error, DefusedXmlException):
        return "it declares a DTD or entities, which a workbook never needs and which are refused"
    return str(error)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sheet_parts(source: _XlsxSource, archive) -> list[tuple[str, str]]:
    """(sheet name, part name) of each sheet, in the workbook's order."""
    names = set(archive.namelist())
    workbook = next((n for n in ("xl/workbook.xml", "xl/workbook.bin") if n in names), None)
    if workbook is None:
        raise source._error(f"cannot be opened as an Excel .xlsx workbook (it has no xl/workbook.xml); "
                            f"{_NOT_A_WORKBOOK}")
    if workbook.endswith(".bin"):
        raise source._error("is an Excel binary workbook (.xlsb): save it from Excel as .xlsx")
    rels_name = "xl/_rels/workbook.xml.rels"
    targets = {}
    if rels_name in names:
        for rel in _xml(source, archive, rels_name):
            target = rel.get("Target") or ""
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id")] = _normal_part(target)
    sheets = []
    for element in _xml(source, archive, workbook).iter():
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
            sheets.append((element.get("name") or "", targets.get(rid, "")))
    if not sheets:
        raise source._error("cannot be read as an Excel .xlsx workbook: its workbook part lists no sheets")
    return sheets


def _normal_part(name: str) -> str:
    parts: list[str] = []
    for piece in name.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


def _pick_sheet(source: _XlsxSource, sheets: list[tuple[str, str]], sheet: str | None) -> tuple[str, str]:
    if sheet is None:
        return sheets[0]
    names = [name for name, _ in sheets]
    if sheet in names:
        return sheets[names.index(sheet)]
    guess = did_you_mean(sheet, names)
    hint = f" (did you mean '{guess}'?)" if guess else f" (the sheets are {', '.join(names)})"
    raise source._error(f"the workbook has no sheet '{sheet}'{hint}")


@dataclass
class _SheetMarks:
    """What the sheet's XML says that calamine's values do not: per row, the cells to refuse."""

    last_row: int = 0
    cells: dict = None  # row -> [(0-based column, why)]


_REF = __import__("re").compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
_TEXT_TYPES = ("str", "s", "inlineStr")


_RE = __import__("re")
# Unprefixed tags with the reference first, as Excel, LibreOffice and openpyxl write them.
_ROW_NUMBER = _RE.compile(rb"<row [^>]*?\br=\"([0-9]{1,7})\"")
_CELL_REF = _RE.compile(rb"<c r=\"([A-Z]{1,3})([1-9][0-9]{0,6})\"")
# A formula (or any tag starting with f), an error cell, a DTD, comment or CDATA, a namespace
# prefix, a row or cell without attributes.
_SPECIAL = (b"<f", b' t="e"', b"<!", b":row", b"<row>", b"<row/>", b"<c>", b"<c/>")


def _scan_sheet(source: _XlsxSource, archive, part: str) -> _SheetMarks:
    """What the sheet's XML says that calamine's values do not (see `_scan_sheet_fully`).

    Most sheets hold no formula and no error cell, and number their rows and cells in order
    with unprefixed tags; that is checked by counting and matching bytes of the inflated part,
    streamed in pieces that end before a `<row ` (C speed): rows numbered upwards, every cell's
    reference first and in its own row, no reference twice. Anything else (a formula, an error
    cell, a DTD, a namespace prefix, rows out of order or unnumbered, a cell elsewhere) sends the
    sheet through the full defusedxml scan, which says what is wrong.
    """
    marks = _SheetMarks(cells={})
    previous, columns, rest = 0, set(), b""
    full = _scan_sheet_fully
    try:
        with archive.open(part) as handle:
            while True:
                block = handle.read(_CHUNK)
                data = rest + block
                cut = data.rfind(b"<row ") if block else len(data)
                if cut <= 0 and block:
                    rest = data
                    continue
                text, rest = data[:cut], data[cut:]
                if any(map(text.__contains__, _SPECIAL)):
                    return full(source, archive, part)
                rows = text.split(b"<row ")[1:]
                numbers = list(map(int, _ROW_NUMBER.findall(text)))
                refs = _CELL_REF.findall(text)
                counts = list(map(bytes.count, rows, itertools.repeat(b"<c ")))
                if (len(numbers) != len(rows) or len(refs) != sum(counts) or len(refs) != text.count(b"<c ")
                        or (numbers and numbers[0] <= previous)
                        or not all(map(operator.lt, numbers, numbers[1:]))
                        or list(map(int, map(operator.itemgetter(1), refs)))
                        != list(itertools.chain.from_iterable(map(itertools.repeat, numbers, counts)))
                        or len(set(refs)) != len(refs)):
                    return full(source, archive, part)
                columns.update(map(operator.itemgetter(0), refs))
                if numbers:
                    previous = numbers[-1]
                last_column = max((_column_index(c.decode()) for c in columns), default=-1)
                if previous > _EXCEL_ROWS or last_column >= _EXCEL_COLUMNS or previous * (last_column + 1) > XLSX_CELLS:
                    return full(source, archive, part)  # it says which limit, and where
                if not block:
                    break
    except (KeyError, *_ZIP_ERRORS):
        return full(source, archive, part)  # it names the trouble
    marks.last_row = previous
    return marks


def _scan_sheet_fully(source: _XlsxSource, archive, part: str) -> _SheetMarks:
    """Stream the sheet's XML once (defusedxml, no DTD): refuse what would lose or invent a row.

    A row number twice, a cell outside its row, a cell reference that is none, a sheet beyond
    Excel's size or XLSX_CELLS are the file's problem (InputError naming the part and row). A
    formula with no saved value and a cell holding an error (#N/A, #DIV/0!...) are noted for
    their row, which is then rejected naming the column: calamine would give both as empty.
    """
    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    marks = _SheetMarks(cells={})
    seen = bytearray(_EXCEL_ROWS // 8 + 1)
    last_column = -1
    row_number = 0
    try:
        handle = archive.open(part)
    except KeyError:
        raise source._error(f"cannot be read as an Excel .xlsx workbook: the sheet '{source.sheet_name}' has "
                            f"no part ({part or 'none named'} is missing)") from None
    except _ZIP_ERRORS as error:
        raise source._error(f"cannot be read as an Excel .xlsx workbook: the part {part} is damaged "
                            f"({error})") from None

    def refuse(why: str, after: bool = False) -> InputError:
        where = f"{part}, {'after ' if after else ''}row {row_number}" if row_number else part
        return source._error(f"cannot be read as an Excel .xlsx workbook: {where}: {why}", row_number or None)

    sheet_data = None
    try:
        with handle:
            for event, element in safe_xml.iterparse(handle, events=("start", "end"), forbid_dtd=True):
                tag = element.tag
                if event == "start":
                    if sheet_data is None and tag.endswith("sheetData"):
                        sheet_data = element
                    continue
                if not tag.endswith("}row") and tag != "row":
                    continue
                stated = element.get("r")
                if stated is None:
                    row_number += 1
                elif stated.isdigit() and 0 < int(stated) <= _EXCEL_ROWS:
                    row_number = int(stated)
                else:
                    row_number += 1
                    raise refuse(f"'{stated}' is not a row number (1 to {_EXCEL_ROWS:,})")
                if row_number > _EXCEL_ROWS:
                    raise refuse(f"the sheet goes beyond Excel's last row ({_EXCEL_ROWS:,})")
                byte, bit = divmod(row_number, 8)
                if seen[byte] >> bit & 1:
                    raise refuse("the row appears twice in the sheet")
                seen[byte] |= 1 << bit
                marks.last_row = max(marks.last_row, row_number)
                column, columns = -1, set()
                for cell in element:
                    if not cell.tag.endswith("}c") and cell.tag != "c":
                        continue
                    ref = cell.get("r")
                    if ref is None:
                        column += 1
                    else:
                        found = _REF.fullmatch(ref)
                        if found is None:
                            raise refuse(f"'{ref}' is not a cell reference (like B{row_number})")
                        if int(found[2]) != row_number:
                            raise refuse(f"the cell {ref} is written inside row {row_number}")
                        column = _column_index(found[1])
                    if column >= _EXCEL_COLUMNS:
                        raise refuse(f"the cell {ref} is beyond Excel's last column (XFD)")
                    if column in columns:
                        raise refuse(f"the cell {ref or column_name(column) + str(row_number)} appears twice")
                    columns.add(column)
                    last_column = max(last_column, column)
                    why = _refused_cell(cell)
                    if why:
                        marks.cells.setdefault(row_number, []).append((column, why))
                if (marks.last_row * (last_column + 1)) > XLSX_CELLS:
                    raise refuse(f"the sheet's used area (A1 to {column_name(last_column)}{marks.last_row}) "
                                 f"has more than {XLSX_CELLS:,} cells, the most this engine reads from a workbook")
                element.clear()
                if sheet_data is not None:
                    sheet_data.clear()  # the rows read so far: memory stays flat
    except (DefusedXmlException, safe_xml.ParseError) as error:
        raise refuse(f"the XML is damaged or not allowed ({_xml_reason(error)})", after=True) from None
    except _ZIP_ERRORS as error:
        raise refuse(f"the part is damaged ({error})", after=True) from None
    return marks


def _refused_cell(cell) -> str | None:
    """Why a cell's value cannot be taken, or None: a formula without a saved result, an error value."""
    formula = value = None
    for child in cell:
        name = _local(child.tag)
        if name == "f":
            formula = child
        elif name == "v":
            value = child
        elif name == "is":
            value = child
    kind = cell.get("t")
    if formula is not None and (value is None or (not (value.text or "") and kind not in _TEXT_TYPES
                                                  and _local(value.tag) == "v")):
        text = (formula.text or "").strip()
        shown = f" ={text[:40]}" + ("..." if len(text) > 40 else "") if text else ""
        return (f"the cell holds a formula{shown} with no saved value (the file was never recalculated: open "
                "it in a spreadsheet program and save it again)")
    if kind == "e":
        return f"the cell holds the spreadsheet error {(value.text if value is not None else '') or '(unknown)'}"
    return None


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def column_name(index: int) -> str:
    """`A`, `B`, ... `Z`, `AA` for a 0-based column index."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


class _CalamineRows:
    """The rows of a calamine sheet from row 1, with the column its cells start at."""

    def __init__(self, sheet):
        start = sheet.start
        self.first_column = start[1] if start else 0
        self._rows = sheet.iter_rows() if start else iter(())

    def __iter__(self):
        return self._rows


def _calamine_sheet(source: _XlsxSource, name: str):
    """The calamine workbook and the rows of its sheet `name`; its errors become InputError."""
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_path(str(source.path))
    except BaseException as error:  # noqa: BLE001 - calamine may also panic (a BaseException)
        if isinstance(error, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise source._error(f"cannot be opened as an Excel .xlsx workbook ({error}); {_NOT_A_WORKBOOK}") from None
    try:
        return book, _CalamineRows(book.get_sheet_by_name(name))
    except BaseException as error:  # noqa: BLE001
        book.close()
        if isinstance(error, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise source._error(f"cannot be read as an Excel .xlsx workbook: the sheet '{name}' ({source._part}) "
                            f"cannot be read ({error or type(error).__name__})") from None


def _trim_trailing(values: list) -> list:
    while values and not _filled(values[-1]):
        values.pop()
    return values
