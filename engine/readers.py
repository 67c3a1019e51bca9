"""Streaming readers of contract exports: CSV, JSON Lines, XLSX.

Design:
- One entry point, `open_rows(path)`, chooses the format by extension and returns a `RowSource`:
  a context manager and an iterable of `(row_number, raw)`; raw is a list of cells (CSV, XLSX)
  or a dict (JSON Lines). Memory does not grow with the number of rows: every format is read
  row by row (XLSX through openpyxl's read-only mode).
- Row numbers are what the user's tool shows. CSV and XLSX: the header is row 1, the first
  contract row 2; a CSV record whose quoted cell spans several lines still counts as one row,
  as a spreadsheet shows it (so after such a record, row numbers and text-editor line numbers
  differ). JSON Lines: the line number. Blank lines and rows whose cells are all empty are
  skipped (they are not contracts) but counted, so later numbers stay right.
- Two kinds of trouble. A row that cannot be read (wrong number of cells, a line that is not a
  JSON object) is yielded as a `BadRow`, so the caller rejects it and goes on. A file that
  cannot be read at all raises `InputError` with the path and, where known, the row or line.
- CSV goes through a text stream straight into `csv.reader`, and a runner may take the rows in
  chunks (`batches`), so reading costs what the csv module costs. A decoding error names its
  exact line all the same: the file is then decoded again line by line from bytes (JSON Lines
  always is) to find it. A UTF-8 BOM is dropped; a UTF-16 BOM (Excel's "Unicode text")
  switches to UTF-16. The delimiter is sniffed from the header line (`,` `;` or tab, the most
  frequent outside quotes) unless given. Extra cells that are all empty (a trailing delimiter)
  are dropped silently; any other difference from the header's width is a `BadRow`.
- JSON Lines floats are parsed as `Decimal` (exact); `NaN`/`Infinity` and repeated keys make a
  line a `BadRow`.
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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from dsl.errors import did_you_mean

KINDS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
         ".xlsx": "xlsx", ".xlsm": "xlsx"}
_KNOWN = ".csv, .jsonl or .xlsx"
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
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_rows(path: str | os.PathLike, *, delimiter: str | None = None, encoding: str = "utf-8",
              sheet: str | None = None) -> "RowSource":
    """A streaming source of the rows of a CSV, JSON Lines or XLSX file, chosen by extension."""
    path = Path(path)
    _check_file(path)
    kind = _kind_of(path)
    if kind == "csv":
        return _CsvSource(path, delimiter, encoding)
    if kind == "jsonl":
        return _JsonlSource(path, encoding)
    return _XlsxSource(path, sheet)


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


# --------------------------------------------------------------------------- text files


_ENCODING_HINT = "use a text encoding such as utf-8, cp1252, latin-1 or utf-16"
# Text codecs that are not the encoding of a file's text: names on the internet, or no text at all.
_NOT_FILE_ENCODINGS = {"punycode", "idna", "undefined"}


def text_encoding(encoding: str) -> str:
    """The codec name of `encoding`; ValueError (a sentence naming the option) unless it is a text encoding."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise ValueError(f"'{encoding}' is not an encoding Python knows ({_ENCODING_HINT})") from None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_FILE_ENCODINGS:
        raise ValueError(f"'{encoding}' is not a text encoding ({_ENCODING_HINT})")
    return info.name


def _codec(path: Path, encoding: str) -> str:
    try:
        name = text_encoding(encoding)
    except ValueError as error:
        raise InputError(path, f"--encoding {error}") from None
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
        if b"\r" not in start or b"\n" in start:
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

    @property
    def header_lines(self) -> int:
        """The lines the header record took (more than 1 when a quoted name holds a line break)."""
        return self._reader.line_num

    @property
    def records_read(self) -> int:
        """Records read so far, the header included, counting on from `restrict`'s `rows_before`."""
        return self._rows_read

    def restrict(self, start: int, end: int, rows_before: int, newline: str) -> None:
        """From now on read only bytes [start, end) of the file, numbering its records after
        `rows_before` (engine.parallel evaluates byte ranges of one export in several processes)."""
        self._stream.close()  # and with it the whole file's handle
        raw = io.BufferedReader(_ByteRange(self.path, start, end), buffer_size=_CHUNK)
        self._handle = raw
        self._stream = io.TextIOWrapper(raw, encoding=self.encoding, newline=newline)
        self._reader = csv.reader(self._stream, delimiter=self.delimiter, strict=False)
        self._rows_read = rows_before

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
        self._reader = csv.reader(itertools.chain((first,), self._stream), delimiter=self.delimiter,
                                  strict=False)
        names = self._guard(next, self._reader, None)
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
            newline = "\r" if b"\r" in start and b"\n" not in start else "\n"
        return io.TextIOWrapper(self._handle, encoding=self.encoding, newline=newline)

    def _guard(self, read, *args):
        """Call `read`; a decoding or CSV error becomes an InputError naming its line or row."""
        try:
            return read(*args)
        except UnicodeDecodeError:
            raise self._located_decode_error() from None
        except UnicodeError as error:  # e.g. UTF-16 without a byte-order mark
            raise self._error(f"cannot be read as {self.encoding.upper()} ({error}); check --encoding", 1) from None
        except csv.Error:
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
        width, reader = len(self.header), self._reader
        while True:
            chunk = self._guard(list, itertools.islice(reader, size))
            if not chunk:
                return
            start = self._rows_read + 1
            self._rows_read += len(chunk)
            if _plain(chunk, width):
                yield range(start, start + len(chunk)), chunk
            else:
                yield _fitted(chunk, start, width)


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


class _ByteRange(io.RawIOBase):
    """Bytes [start, end) of a file as a raw stream."""

    def __init__(self, path: Path, start: int, end: int):
        super().__init__()
        self._file = open(path, "rb", buffering=0)
        self._file.seek(start)
        self._at, self._end = start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self._end - self._at)
        if size <= 0:
            return 0
        n = self._file.readinto(memoryview(buffer).cast("B")[:size])
        self._at += n
        return n

    def tell(self) -> int:
        return self._at

    def close(self) -> None:
        self._file.close()
        super().close()


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


class _XlsxSource(RowSource):
    kind = "xlsx"

    def __init__(self, path: Path, sheet: str | None):
        super().__init__(path)
        self._book = _load_workbook(path)
        self._handle = self._book
        try:
            self._sheet = _pick_sheet(self, sheet)
            self.sheet_name = self._sheet.title
            self._rows_stated = self._sheet.max_row  # the sheet's own size claim, for progress only
            self._last_row = 0
            # Some writers store a wrong size; reading by actual cells is safe.
            self._sheet.reset_dimensions()
            self._formula_book = _formula_book(path)
            formulas = self._formula_book[self.sheet_name]
            formulas.reset_dimensions()
            self._rows = enumerate(_with_formulas(self._sheet, formulas), 1)
            first = next(self._rows, None)
            if first is None:
                raise self._error(f"the sheet '{self.sheet_name}' is empty")
            self.header = _check_header(self, _trim_trailing(list(first[1])))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Release both views of the workbook."""
        book, self._formula_book = getattr(self, "_formula_book", None), None
        if book is not None:
            book.close()
        super().close()

    def __iter__(self) -> Iterator[tuple[int, object]]:
        width = len(self.header)
        for row, values in self._rows:
            self._last_row = row
            if not any(_filled(v) for v in values):
                continue
            yield row, _fit(list(values), width, row, "xlsx")

    def fraction_read(self) -> float | None:
        """The last row read over the row count the sheet states (None if it states none)."""
        stated = self._rows_stated
        return min(self._last_row / stated, 1.0) if stated else None


def _formula_book(path: Path):
    """The same workbook with formulas instead of their saved values."""
    import openpyxl

    return openpyxl.load_workbook(path, read_only=True, data_only=False)


def _with_formulas(values_sheet, formula_sheet) -> Iterator[tuple]:
    """Rows of saved values; a formula without a saved value (a file no spreadsheet program has
    recalculated) gives its formula text, so the field is refused instead of silently empty."""
    formulas = formula_sheet.iter_rows(values_only=True)
    for values in values_sheet.iter_rows(values_only=True):
        written = next(formulas, ())
        if None in values:
            values = tuple(f if v is None and isinstance(f, str) and f.startswith("=") else v
                           for v, f in itertools.zip_longest(values, written))
        yield values


def _load_workbook(path: Path):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to open is a file-level problem
        raise InputError(path, f"cannot be opened as an Excel .xlsx workbook ({error}); if it is an "
                               "old .xls file, save it from Excel as .xlsx") from None


def _pick_sheet(source: _XlsxSource, sheet: str | None):
    book = source._book
    if sheet is None:
        return book.worksheets[0]
    if sheet in book.sheetnames:
        return book[sheet]
    guess = did_you_mean(sheet, book.sheetnames)
    hint = f" (did you mean '{guess}'?)" if guess else f" (the sheets are {', '.join(book.sheetnames)})"
    raise source._error(f"the workbook has no sheet '{sheet}'{hint}")


def _trim_trailing(values: list) -> list:
    while values and not _filled(values[-1]):
        values.pop()
    return values
