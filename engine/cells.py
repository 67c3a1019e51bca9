"""The cells of every CSV file the project writes: values from files stay data in a spreadsheet.

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and
some strip a leading tab, CR or LF first), so a contract id `=HYPERLINK("http://x","y")` or
`+cmd|' /C calc'!A0` in an export would become a link or a command in the program manager's
sheet. The rule (docs/data.md, "Cells a spreadsheet would run"):

- a text cell that starts with `=`, `@`, tab, CR or LF, or with `+` or `-` and is not a number
  (`-0.25`, `+3`, `-1,5`, `2e3`), gets one leading `'`: `'=HYPERLINK(...)`;
- so that the prefix can always be taken off again, a text that already starts with `'`s followed
  by such a shape gets one more `'` (`'=x` is written `''=x`); `restore` undoes `neutral` exactly;
- every text cell is judged by its shape, whoever made it (an id from the export, a rule or tier
  name from the ruleset); the engine's numbers (points, row numbers, counts) are numbers in that
  sense and never get the prefix.

Every output is written by `writer` (or `DictWriter`): cells are neutralised, and a cell holding a
CR or an LF is quoted (Python's csv writer with the line end "\\n" leaves a lone CR unquoted, and
no CSV reader would then read the line back as one record). `--json` output does not pass here: it
stays exact.
"""
from __future__ import annotations

import csv
import re
from typing import Iterable

_RUNS = frozenset("=@\t\r\n")  # a first character that makes a formula, whatever follows
_SIGNS = frozenset("+-")  # a formula unless the whole cell is a number
_FIRST = _RUNS | _SIGNS | {"'"}  # the first characters `neutral` has to look further at
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?")  # ASCII digits only


def _would_run(text: str) -> bool:
    """Whether a spreadsheet would read this text as a formula (or strip a character to find one)."""
    first = text[:1]
    if first in _RUNS:
        return True
    return first in _SIGNS and _NUMBER.fullmatch(text) is None


def neutral(text: str) -> str:
    """The text as a CSV cell a spreadsheet shows as text: `'` before a formula's shape."""
    if text[:1] not in _FIRST:
        return text
    return "'" + text if _would_run(text.lstrip("'")) else text


def restore(text: str) -> str:
    """The text `neutral` was given: one leading `'` taken off where `neutral` put it."""
    if text[:1] == "'" and _would_run(text.lstrip("'")):
        return text[1:]
    return text


def neutral_row(row: Iterable) -> list:
    """A row's cells for the csv module: every text neutralised, other values (numbers, None) as they are."""
    return [neutral(c) if c.__class__ is str and c[:1] in _FIRST else c for c in row]


class _Line:
    """What a csv writer formats into: the last line it wrote."""

    __slots__ = ("line",)

    def __init__(self):
        self.line = ""

    def write(self, line: str) -> None:
        self.line = line


class Writer:
    """`writerow` / `writerows` of one output CSV: cells neutralised, CR and LF quoted, lines ending in LF.

    The csv module formats each line, ending it in CRLF so that it quotes a cell holding either
    character (with "\\n" it leaves a lone CR unquoted); the line is written ending in LF. A line
    where no cell can start with a character `neutral` looks at (no `"`, no `,` before one of them,
    not starting with one) is written as formatted; any other line (a quoted cell, a negative
    number, a hostile id) is formatted again from its cells neutralised. The check is a few scans of
    the line in C, cheaper than a look at each cell: most rows are formatted once.
    """

    __slots__ = ("_csv", "_write", "_formatted")

    def __init__(self, file):
        self._write = file.write
        self._formatted = _Line()  # apart from the writer: no reference cycle
        self._csv = csv.writer(self._formatted, lineterminator="\r\n")

    def writerow(self, row: Iterable) -> None:
        if row.__class__ is not list and row.__class__ is not tuple:
            row = list(row)
        self._csv.writerow(row)
        line = self._formatted.line
        # A two-character scan costs ~6 one-character ones: each runs only when its character is there.
        if ('"' in line or line[:1] in _FIRST or ("-" in line and ",-" in line) or ("=" in line and ",=" in line)
                or ("+" in line and ",+" in line) or ("@" in line and ",@" in line) or ("'" in line and ",'" in line)
                or ("\t" in line and ",\t" in line)):
            self._csv.writerow(neutral_row(row))
            line = self._formatted.line
        self._write(line[:-2] + "\n")

    def writerows(self, rows: Iterable[Iterable]) -> None:
        writerow = self.writerow
        for row in rows:
            writerow(row)


def writer(file) -> Writer:
    """The writer of every CSV the project writes (`file` is a text file opened with newline="")."""
    return Writer(file)


class DictWriter:
    """`csv.DictWriter` over `writer`: rows as dicts, missing keys written empty, unknown keys refused."""

    def __init__(self, file, fieldnames: Iterable[str]):
        self.fieldnames = list(fieldnames)
        self._writer = writer(file)

    def writeheader(self):
        return self._writer.writerow(self.fieldnames)

    def writerow(self, row: dict):
        return self._writer.writerow(self._cells(row))

    def writerows(self, rows: Iterable[dict]) -> None:
        self._writer.writerows(map(self._cells, rows))

    def _cells(self, row: dict) -> list:
        unknown = row.keys() - set(self.fieldnames)
        if unknown:
            raise ValueError(f"dict contains fields not in fieldnames: {', '.join(map(repr, sorted(unknown)))}")
        return [row.get(name, "") for name in self.fieldnames]


# Output dialects (`--output-dialect`): how the output CSVs are spelled for a spreadsheet. `csv` is
# the default (`,` between cells, `.` in numbers, no BOM); `excel-de` is what a German Excel opens
# into columns (`;`, decimal comma in the engine's numbers, a UTF-8 BOM first).
DIALECTS = {"csv": (",", False, False), "excel-de": (";", True, True)}  # name -> (delimiter, comma, BOM)
NUMBER_COLUMNS = frozenset({"row", "points", "contracts_scored", "contracts_unscored", "contracts"})
# ^ the columns of the evaluate outputs that hold the engine's numbers (docs/data.md)


class DialectWriter(Writer):
    """`Writer` with another delimiter: every row neutralised (the shortcut of `Writer` looks for `,`)."""

    __slots__ = ()

    def __init__(self, file, delimiter: str):
        self._write = file.write
        self._formatted = _Line()
        self._csv = csv.writer(self._formatted, lineterminator="\r\n", delimiter=delimiter)

    def writerow(self, row: Iterable) -> None:
        self._csv.writerow(neutral_row(row))
        self._write(self._formatted.line[:-2] + "\n")


def read_back(path) -> Iterable[list[str]]:
    """The rows of an output CSV in the default dialect, each text as it was before `neutral`."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            yield [restore(c) for c in row]


def number_columns(header: list[str]) -> list[int]:
    """Positions of the columns that hold the engine's numbers."""
    return [i for i, name in enumerate(header) if name in NUMBER_COLUMNS]


def write_dialect(source, target, dialect: str) -> None:
    """Rewrite the output CSV `source` (default dialect) as `target` in `dialect`: the same cells,
    neutralised again for the new delimiter; the engine's numbers with a decimal comma where the
    dialect says so."""
    from engine.outputs import create

    delimiter, comma, bom = DIALECTS[dialect]
    rows = read_back(source)
    with create(target) as f:
        if bom:
            f.write("\ufeff")
        w = DialectWriter(f, delimiter)
        header = next(rows, None)
        if header is None:
            return
        w.writerow(header)
        numbers = number_columns(header) if comma else []
        for row in rows:
            for i in numbers:
                if i < len(row):
                    row[i] = row[i].replace(".", ",")
            w.writerow(row)


# The rule in parts, for a writer that formats cells elsewhere (engine.sql.duck formats them in SQL).
RUN_FIRST = "".join(sorted(_RUNS))  # first characters that always make a formula
SIGN_FIRST = "".join(sorted(_SIGNS))  # first characters that make one unless the cell is a number
NUMBER_PATTERN = _NUMBER.pattern  # what a number is (a full match)

