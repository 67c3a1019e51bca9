"""Mutants of rulesets and contract exports, and the checks every command's result must pass.

Shared by the fuzz suite (tests/test_fuzz_inputs.py, driven by hypothesis, derandomized) and the
longer campaign (tests/fuzz/campaign.py, driven by `random`, counting failures by cause). A
mutator takes a `Draw` (three methods: `int(lo, hi)`, `pick(seq)`, `chance(p)`) so that the same
strategies run under both.

Data mutants mostly change values and rows (so that most of them reach validation and scoring)
and only sometimes the header or the encoding. Each data mutant carries the row numbers the
engine must account for when they follow from the file's structure alone, or None when the
structure is ambiguous (a raw quote or line break, a cut inside a quoted cell, rows out of order
in a workbook whose references are broken): then only the engine's own accounting is checked.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from dsl.errors import visible

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "rulesets" / "o2-business"
V2016 = PROGRAM / "2016-03.rules"
HEADER = ["contract_id", "partner_id", "partner_name", "signed", "product", "customer", "quantity",
          "pool_gb", "sales_rep"]
QUALITY_HEADER = ["partner_id", "contract_id", "reported", "missed_payment", "usage_pct", "cancelled"]


# --------------------------------------------------------------------------- drawing


class Draw:
    """What a mutator may ask for; see HypothesisDraw and RandomDraw."""

    def int(self, lo: int, hi: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def pick(self, seq: Sequence):
        return seq[self.int(0, len(seq) - 1)]

    def chance(self, p: float) -> bool:
        return self.int(0, 999) < p * 1000


class HypothesisDraw(Draw):
    def __init__(self, data):
        from hypothesis import strategies as st

        self._data, self._st = data, st

    def int(self, lo: int, hi: int) -> int:
        return self._data.draw(self._st.integers(lo, hi))

    def chance(self, p: float) -> bool:
        # hypothesis leans to small draws (and shrinks to 0): let 0 mean "no", so that its lean and
        # its shrinking both make plainer inputs instead of damaging every one
        return self.int(0, 999) >= 1000 - p * 1000


class RandomDraw(Draw):
    def __init__(self, rng):
        self._rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)


# --------------------------------------------------------------------------- hostile values

ESCAPES = ["\x1b[2J", "\x1b]0;owned\x07", "\x1b[6n", "\x9b31m", "\x1b[31mred\x1b[0m", "\x07", "\x00", "\x08\x08"]
HOSTILE_TEXT = [
    '=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd", "=1+1",
    "[/]", "[link=http://evil.example]x[/link]", "[bold]x", "[/bold]", "\\[x]", "{}", "%s%n", "${x}",
    "", " ", "\t", "  padded  ", "\u00a0", "\ufeff", "\u2028", "\u0085", "\x0b", "\x0c", "a\rb", "a\nb",
    "a\r\nb", 'say "hi"', '"', '""', ",", ";", "\t\t", "x,y", "x;y", "\u202eevil", "\u200b", "日本語",
    "\U0001f600", "e\u0301", "NULL", "None", "nan", "true", "-", "+", "x" * 300,
] + ESCAPES
BAD_NUMBERS = ["", " ", "0", "-1", "1.5", "1,5", "1e3", "1e400", "-1e400", "NaN", "inf", "-inf", "0x10", "１２",
               "1_000", "9" * 40, "9" * 400, "9" * 5000, "0." + "0" * 50 + "1", "1.", ".5", "+3", "--1", "3 ",
               " 3", "three", "٣", "2.5e-3", "1/2", "100%", "1 000", "1.000,5", "\x003"]
BAD_DATES = ["", "2016-02-30", "2016-02-29", "2017-02-29", "31.04.2016", "2016-13-01", "2016-4-1", "0000-01-01",
             "0001-01-01", "9999-12-31", "10000-01-01", "2016-04-01T10:00", "2016/04/01", "01.04.16", "42461",
             "2016-04-01 ", " 2016-04-01", "2O16-04-01", "2016-04-01\x00", "yesterday", "2016-W14"]
PRODUCTS = ["O2 Business M", "O2 Business XL", "O2 Unite Pool", "O2 Digital Phone", "O2 DSL Business 50",
            "O2 Business Fax", "o2 business m", "O2 Business M ", "O2  Business M", "Unknown Product",
            "O2 Business M\u200b", "[/]", "\x1b[2JO2"]
CUSTOMERS = ["new", "existing", "New", "NEW", "", "old", "existing ", "[/]", "n\x1bew"]
COLUMN_VALUES = {"signed": BAD_DATES, "quantity": BAD_NUMBERS, "pool_gb": BAD_NUMBERS, "product": PRODUCTS,
                 "customer": CUSTOMERS}
HUGE_CELLS = [131_071, 131_072, 131_073, 200_000]


def hostile_value(draw: Draw, column: str) -> str:
    """A bad or strange value for COLUMN: mostly one that fits the column's kind."""
    own = COLUMN_VALUES.get(column)
    if own and draw.chance(0.6):
        return draw.pick(own)
    if draw.chance(0.03):
        return "y" * draw.pick(HUGE_CELLS)
    value = draw.pick(HOSTILE_TEXT)
    if draw.chance(0.3):  # hidden in an otherwise plausible value
        value = "C-" + value + "-1"
    return value


def _pool() -> list[list[str]]:
    with open(ROOT / "examples" / "contracts.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    step = max(1, len(rows) // 60)
    return [r for r in rows[::step] if r[3] >= "2016-03-01"][:60]


POOL = _pool()


# --------------------------------------------------------------------------- data mutants


@dataclass
class Mutant:
    """One input file: its name, bytes, the rows it holds (None when ambiguous), how it was made."""

    name: str
    data: bytes
    expected_rows: set[int] | None
    tags: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)       # contract ids written, for explain --contract
    partners: list[str] = field(default_factory=list)  # partner ids written, for explain --partner
    header_changed: bool = False


def _base_rows(draw: Draw) -> list[list[str]]:
    return [list(draw.pick(POOL)) for _ in range(draw.int(1, 8))]


def _mutate_cells(draw: Draw, rows: list[list[str]], header: list[str], tags: list[str]) -> None:
    for _ in range(draw.int(0, 4)):
        i, j = draw.int(0, len(rows) - 1), draw.int(0, len(header) - 1)
        if j >= len(rows[i]):
            continue
        if header[j] == "contract_id" and draw.chance(0.25) and len(rows) > 1:
            rows[i][j] = rows[draw.int(0, len(rows) - 1)][j]
            tags.append("duplicate-id")
        else:
            rows[i][j] = hostile_value(draw, header[j])
            tags.append(f"value:{header[j]}")


def _mutate_rows(draw: Draw, rows: list[list[str]], tags: list[str]) -> None:
    for _ in range(draw.int(0, 2)):
        op = draw.pick(["duplicate", "delete", "swap", "blank", "delimiters", "extra", "missing", "trailing"])
        i = draw.int(0, len(rows) - 1)
        tags.append(f"row:{op}")
        if op == "duplicate":
            rows.insert(i, list(rows[i]))
        elif op == "delete" and len(rows) > 1:
            del rows[i]
        elif op == "swap":
            j = draw.int(0, len(rows) - 1)
            rows[i], rows[j] = rows[j], rows[i]
        elif op == "blank":
            rows.insert(i, [])
        elif op == "delimiters":
            rows.insert(i, [""] * draw.int(2, 12))
        elif op == "extra":
            rows[i] = rows[i] + [draw.pick(["x", "", "1", '"'])] * draw.int(1, 3)
        elif op == "missing" and rows[i]:
            rows[i] = rows[i][:-draw.int(1, len(rows[i]))]
        elif op == "trailing":
            rows[i] = rows[i] + [""]


def _mutate_header(draw: Draw, header: list[str], rows: list[list[str]], tags: list[str]) -> list[str]:
    op = draw.pick(["drop", "rename", "twice", "extra", "reorder", "case", "blank", "garbage", "spaces"])
    tags.append(f"header:{op}")
    header = list(header)
    j = draw.int(0, len(header) - 1)
    if op == "drop":
        del header[j]
        for r in rows:
            if len(r) > j:
                del r[j]
    elif op == "rename":
        header[j] = header[j] + "x"
    elif op == "twice":
        header[draw.int(0, len(header) - 1)] = header[j]
    elif op == "extra":
        header.append(draw.pick(["notes", "", "[/]", "contract_id "]))
        for r in rows:
            r.append(draw.pick(["", "n", "\x1b[2J"]))
    elif op == "reorder":
        k = draw.int(0, len(header) - 1)
        header[j], header[k] = header[k], header[j]
        for r in rows:
            if len(r) > max(j, k):
                r[j], r[k] = r[k], r[j]
    elif op == "case":
        header[j] = header[j].upper()
    elif op == "blank":
        header = [""] * len(header)
    elif op == "garbage":
        header[j] = draw.pick(ESCAPES + ["[/]", '"', "\x00", "=A1"])
    elif op == "spaces":
        header = [f" {h} " for h in header]
    return header


def _quote(cell: str, delim: str) -> str:
    if any(c in cell for c in (delim, '"', "\n", "\r")) or cell != cell.strip(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_mutant(draw: Draw, quality: bool = False) -> Mutant:
    """A CSV export with bad values and rows; sometimes a bad header, line ends or encoding."""
    tags: list[str] = []
    if quality:
        header = list(QUALITY_HEADER)
        rows = [[r[1], r[0], r[3], draw.pick(["false", "true"]), str(draw.int(0, 100)), "false"]
                for r in _base_rows(draw)]
        for _ in range(draw.int(0, 3)):
            i, j = draw.int(0, len(rows) - 1), draw.int(0, len(header) - 1)
            rows[i][j] = draw.pick(BAD_NUMBERS + BAD_DATES + ["perhaps", "TRUE", "1", "[/]"] + ESCAPES)
            tags.append(f"value:{header[j]}")
    else:
        header = list(HEADER)
        rows = _base_rows(draw)
        _mutate_cells(draw, rows, header, tags)
    ids = [r[1 if quality else 0] for r in rows if r]
    partners = [r[0 if quality else 1] for r in rows if r]
    _mutate_rows(draw, rows, tags)
    header_changed = draw.chance(0.12)
    if header_changed:
        header = _mutate_header(draw, header, rows, tags)
    delim = ";" if draw.chance(0.15) else ","
    ambiguous = False
    lines = [delim.join(_quote(h, delim) for h in header)]
    for r in rows:
        if draw.chance(0.1):  # written by hand: no quoting at all
            text = delim.join(r)
            if any(c in text for c in '"\r\n'):
                ambiguous = True
            tags.append("raw-record")
        else:
            text = delim.join(_quote(c, delim) for c in r)
        lines.append(text)
    ending = draw.pick(["\n"] * 6 + ["\r\n", "\r", "mixed"])
    if ending == "mixed":
        ends = [draw.pick(["\n", "\r\n", "\r"]) for _ in lines]
        if "\r" in ends and ("\n" in ends or "\r\n" in ends):
            ambiguous = True  # a bare CR inside a file of LF lines is a stray character
            if ends[0] == "\r":  # ... and in the header line, the header cannot be read
                header_changed = True
        tags.append("line-ends:mixed")
    else:
        ends = [ending] * len(lines)
    if not draw.chance(0.8):
        ends[-1] = ""
    text = "".join(line + end for line, end in zip(lines, ends))
    truncated = None
    if draw.chance(0.1):
        start = len(lines[0]) + len(ends[0])
        if len(text) > start + 1:
            truncated = draw.int(start + 1, len(text) - 1)
            text = text[:truncated]
            tags.append("truncated")
            if text.count('"') % 2:
                ambiguous = True
    encoding = "utf-8"
    if draw.chance(0.08):
        encoding = draw.pick(["utf-8-sig", "utf-16", "cp1252", "latin-1-bytes", "bad-byte"])
        tags.append(f"encoding:{encoding}")
    data = _encode(draw, text, encoding)
    expected = None if ambiguous or header_changed else _csv_rows(text, delim)
    return Mutant("contracts.csv" if not quality else "quality.csv", data, expected, tags, ids, partners,
                  header_changed or encoding in ("cp1252", "latin-1-bytes", "bad-byte"))


def _encode(draw: Draw, text: str, encoding: str) -> bytes:
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if encoding == "utf-16":
        return text.encode("utf-16")
    if encoding == "cp1252":
        return (text + "Müller\n").encode("cp1252", "replace")
    if encoding == "latin-1-bytes":
        return text.encode("utf-8") + "Straße;ä\n".encode("latin-1")
    if encoding == "bad-byte":
        raw = bytearray(text.encode("utf-8"))
        raw.insert(draw.int(0, len(raw)), draw.pick([0xFF, 0xC3, 0x80, 0xED]))
        return bytes(raw)
    return text.encode("utf-8")


def _csv_rows(text: str, delim: str) -> set[int]:
    """Row numbers as a spreadsheet shows them: records after the header, blank ones left out."""
    if '"' not in text:  # one record a line (the csv module would refuse a cell over 131,072 characters)
        lines = text.split("\r") if "\n" not in text else re.split(r"\r?\n", text)
        if lines and lines[-1] == "":
            lines.pop()
        return {n for n, line in enumerate(lines, 1) if n > 1 and any(c.strip() for c in line.split(delim))}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=False)
    found = set()
    try:
        for number, cells in enumerate(reader, 1):
            if number > 1 and any(c.strip() for c in cells):
                found.add(number)
    except csv.Error:
        return None
    return found


def _json_value(draw: Draw, column: str, good: str):
    if column in ("quantity", "pool_gb") and good:
        good_value = int(good) if column == "quantity" else json.loads(good) if re.fullmatch(r"\d+(\.\d+)?", good) else good
    else:
        good_value = good
    if not draw.chance(0.5):
        return good_value
    return draw.pick([
        None, True, False, [], {}, [good_value], {"v": good_value}, 10 ** 30, -(10 ** 30), 1e308, 1.5, 0, -1,
        hostile_value(draw, column), str(good_value), "\ud800", "C-\udfff", 12345678901234567890,
    ])


def jsonl_mutant(draw: Draw) -> Mutant:
    tags: list[str] = []
    keys = [h for h in HEADER if draw.chance(0.97)]
    lines: list[str] = []
    ids, partners = [], []
    for row in _base_rows(draw):
        record = {}
        for key, good in zip(HEADER, row):
            if key not in keys or (good == "" and draw.chance(0.7)):
                continue
            record[key] = _json_value(draw, key, good) if draw.chance(0.25) else (
                int(good) if key == "quantity" and good.isdigit() else good)
        ids.append(str(record.get("contract_id", "")))
        partners.append(str(record.get("partner_id", "")))
        ascii_only = draw.chance(0.5) or any("\ud800" <= c <= "\udfff" for v in record.values() if isinstance(v, str) for c in v)
        text = json.dumps(record, ensure_ascii=ascii_only)
        op = draw.pick(["none"] * 10 + ["not-object", "invalid", "truncate", "dup-key", "huge-int", "deep",
                                        "raw-control", "nan", "trailing", "bom", "blank"])
        if op != "none":
            tags.append(f"line:{op}")
        if op == "not-object":
            text = draw.pick(["[1,2]", '"x"', "3", "null", "true", "[]", "[{}]"])
        elif op == "invalid":
            at = draw.int(0, len(text))
            text = text[:at] + draw.pick(["}", "{", ",", '"', "\\", ":", "'"]) + text[at:]
        elif op == "truncate":
            text = text[:draw.int(0, len(text) - 1)]
        elif op == "dup-key":
            text = text[:-1] + ', "contract_id": "again"}' if len(text) > 2 else text
        elif op == "huge-int":
            text = text[:-1] + ', "quantity": ' + "9" * draw.pick([20, 400, 4301, 5000]) + "}" if len(text) > 2 else text
        elif op == "deep":
            depth = draw.pick([10, 100, 1000, 5000])
            text = text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}" if len(text) > 2 else text
        elif op == "raw-control":
            at = max(1, text.find('"', 2))
            text = text[:at] + draw.pick(["\x00", "\x1b[2J", "\t", "\r", "\x85", "\u2028"]) + text[at:]
        elif op == "nan":
            text = text[:-1] + ', "pool_gb": ' + draw.pick(["NaN", "Infinity", "-Infinity", "1e999"]) + "}" if len(text) > 2 else text
        elif op == "trailing":
            text = text + draw.pick([",", " ", "}", "\x00", " // comment"])
        elif op == "bom":
            text = "\ufeff" + text
        elif op == "blank":
            lines.append(draw.pick(["", " ", "\t", "\x0c"]))
        lines.append(text)
    if draw.chance(0.1):
        lines.insert(draw.int(0, len(lines)), "")
    ending = draw.pick(["\n"] * 6 + ["\r\n", "\r"])
    text = ending.join(lines) + (ending if draw.chance(0.8) else "")
    if draw.chance(0.05):
        text = text[:draw.int(1, max(1, len(text) - 1))]
        tags.append("truncated")
    encoding = "utf-8"
    if draw.chance(0.05):
        encoding = draw.pick(["utf-8-sig", "utf-16", "bad-byte"])
        tags.append(f"encoding:{encoding}")
    data = _encode(draw, text, encoding)
    if ending == "\r":
        physical = text.split("\r")
    else:
        physical = text.split("\n")
    if encoding == "utf-8-sig" or (physical and physical[0].startswith("\ufeff")):
        physical[0] = physical[0].lstrip("\ufeff") if encoding == "utf-8-sig" else physical[0]
    expected = {n for n, line in enumerate(physical, 1) if line.strip()}
    return Mutant("contracts.jsonl", data, expected, tags, ids, partners, encoding == "bad-byte")


# --------------------------------------------------------------------------- workbooks

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sharedStrings+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.styles+xml"/></Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook {_NS} xmlns:r="{_REL}">'
        '<sheets><sheet name="Contracts" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
    "xl/styles.xml":
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet {_NS}>'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '</styleSheet>',
}


def _xml_text(value: str) -> str:
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # XML 1.0 cannot hold most control characters; Excel writes them as _xHHHH_.
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 and not 0xD800 <= ord(c) <= 0xDFFF and c not in "\ufffe\uffff"
                   else f"_x{ord(c):04X}_" for c in out)


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def xlsx_mutant(draw: Draw) -> Mutant:
    tags: list[str] = []
    header = list(HEADER)
    rows = _base_rows(draw)
    _mutate_cells(draw, rows, header, tags)
    ids, partners = [r[0] for r in rows], [r[1] for r in rows]
    shared: list[str] = []
    numbers = {"quantity", "pool_gb"}
    row_numbers = list(range(1, len(rows) + 2))
    ambiguous = False
    if draw.chance(0.1):  # gaps between rows
        row_numbers = [1] + sorted({draw.int(2, 40) for _ in rows} | {2})[:len(rows)]
        row_numbers += list(range(row_numbers[-1] + 1, row_numbers[-1] + 1 + len(rows) + 1 - len(row_numbers)))
        tags.append("rows:gaps")
    order = list(range(len(rows) + 1))
    if draw.chance(0.1):
        tail = order[1:]
        tail.reverse()
        order = [0] + tail
        tags.append("rows:out-of-order")
    xml_rows = []
    all_rows = [header] + rows
    # A damaged sheet (a cell reference that is none, a shared string that does not exist, a value
    # of the wrong kind for its cell type) is refused whole, naming part and row: at most one such
    # cell per workbook, in some workbooks, so that most mutants test rows and values.
    damaged = (draw.int(1, len(rows)), draw.int(0, len(header) - 1)) if rows and draw.chance(0.15) else None
    for k in order:
        r, cells = row_numbers[k], all_rows[k]
        out = []
        for j, value in enumerate(cells):
            ref = f"{_column(j)}{r}"
            column = header[j] if j < len(header) else ""
            kind = draw.int(0, 99) if k else 0
            if damaged == (k, j) and draw.chance(0.4):
                tags.append("cell:damaged")  # a damaged sheet: refused whole, like a corrupt part
                ambiguous = True
                out.append(draw.pick([
                    f'<c r="{ref}"><v>three</v></c>', f'<c r="{ref}" t="s"><v>999</v></c>',
                    f'<c r="{ref}" t="b"><v>2</v></c>', f'<c r="{ref}"><v>1e400</v></c>',
                    f'<c r="{ref}" t="n"><v>NaN</v></c>',
                ]))
            elif kind < 6 and k:
                tags.append("cell:bad")
                out.append(draw.pick([
                    f'<c r="{ref}" t="e"><v>#DIV/0!</v></c>',
                    f'<c r="{ref}"><f>1+1</f></c>', f'<c r="{ref}"><f>1+1</f><v>2</v></c>',
                    f'<c r="{ref}" t="str"><f>A1</f></c>',
                    f'<c r="{ref}" s="1"><v>42461</v></c>', f'<c r="{ref}" s="1"><v>-5</v></c>',
                    f'<c r="{ref}" s="1"><v>9999999</v></c>', f'<c r="{ref}"><v></v></c>',
                    f'<c r="{ref}" t="d"><v>2016-04-01T00:00:00</v></c>',
                    f'<c r="{ref}" t="inlineStr"><is><t>=SUM(A1)</t></is></c>',
                ]))
            elif damaged == (k, j):
                tags.append("cell:bad-ref")
                bad = draw.pick([f"{r}{_column(j)}", f"{_column(j)}0", f"XFE{r}", "", f"{_column(j)}{r + 1000}",
                                 "A1", f"{_column(j)}-1"])
                ambiguous = True
                attr = f' r="{bad}"' if bad else ""
                out.append(f'<c{attr} t="inlineStr"><is><t>{_xml_text(value)}</t></is></c>')
            elif column in numbers and re.fullmatch(r"-?\d+(\.\d+)?", value or "-"):
                out.append(f'<c r="{ref}"><v>{value}</v></c>')
            elif value == "":
                continue
            elif draw.chance(0.5):
                shared.append(value)
                out.append(f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>')
            else:
                out.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_xml_text(value)}</t></is></c>')
        r_attr = f' r="{r}"' if not (k and draw.chance(0.01)) else ""
        if not r_attr:
            ambiguous = True
            tags.append("rows:no-ref")
        xml_rows.append(f"<row{r_attr}>{''.join(out)}</row>")
    if order != sorted(order):
        ambiguous = ambiguous or False  # the row numbers stay stated; the rows must all be read
    sheet = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS}>'
             + (f'<dimension ref="A1:I{draw.pick([1, 2, 1048576])}"/>' if draw.chance(0.1) else "")
             + f"<sheetData>{''.join(xml_rows)}</sheetData></worksheet>")
    strings = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst {_NS} count="{len(shared)}" '
               f'uniqueCount="{len(shared)}">'
               + "".join(f'<si><t xml:space="preserve">{_xml_text(s)}</t></si>' for s in shared) + "</sst>")
    parts = dict(_PARTS)
    parts["xl/worksheets/sheet1.xml"] = sheet
    parts["xl/sharedStrings.xml"] = strings
    corrupt = draw.chance(0.3)
    if corrupt:
        op = draw.pick(["drop", "sheet-truncate", "sheet-flip", "entity", "xxe", "doctype-bomb", "not-xml",
                        "zip-truncate", "zip-flip", "empty-zip", "strings-bomb"])
        tags.append(f"corrupt:{op}")
        if op == "drop":
            del parts[draw.pick(sorted(parts))]
        elif op == "sheet-truncate":
            parts["xl/worksheets/sheet1.xml"] = sheet[:draw.int(len(sheet) // 3, len(sheet) - 1)]
        elif op == "sheet-flip":
            raw = bytearray(sheet.encode("utf-8"))
            for _ in range(draw.int(1, 4)):
                raw[draw.int(0, len(raw) - 1)] ^= 1 << draw.int(0, 7)
            parts["xl/worksheets/sheet1.xml"] = bytes(raw)
        elif op == "entity":
            parts["xl/worksheets/sheet1.xml"] = sheet.replace("<sheetData>", "<sheetData>&nope;", 1)
        elif op == "xxe":
            parts["xl/sharedStrings.xml"] = strings.replace(
                "<sst", '<!DOCTYPE sst [<!ENTITY x SYSTEM "file:///etc/passwd">]><sst', 1).replace(
                "</sst>", "<si><t>&x;</t></si></sst>")
        elif op == "doctype-bomb":
            bomb = '<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">' + "".join(
                f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(6)) + "]>"
            parts["xl/sharedStrings.xml"] = strings.replace("<sst", bomb + "<sst", 1).replace(
                "</sst>", "<si><t>&g;</t></si></sst>")
        elif op == "not-xml":
            parts[draw.pick(sorted(parts))] = b"\x00\xff not xml"
        elif op == "strings-bomb":
            parts["xl/sharedStrings.xml"] = strings.replace("</sst>", "<si><t>" + "z" * 2_000_000 + "</t></si></sst>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            book.writestr(name, text)
    data = buffer.getvalue()
    if corrupt and tags[-1] == "corrupt:zip-truncate":
        data = data[:draw.int(0, len(data) - 1)]
    elif corrupt and tags[-1] == "corrupt:zip-flip":
        raw = bytearray(data)
        for _ in range(draw.int(1, 8)):
            raw[draw.int(0, len(raw) - 1)] ^= 1 << draw.int(0, 7)
        data = bytes(raw)
    elif corrupt and tags[-1] == "corrupt:empty-zip":
        data = b"PK\x05\x06" + b"\x00" * 18
    expected = None
    if not corrupt and not ambiguous:
        expected = {row_numbers[k] for k in range(1, len(all_rows))
                    if any(c.strip() for c in all_rows[k])}
    damaged_sheet = any(tag in ("cell:damaged", "cell:bad-ref") for tag in tags)
    return Mutant("contracts.xlsx", data, expected, tags, ids, partners, corrupt or damaged_sheet)


# --------------------------------------------------------------------------- ruleset mutants

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\w+|\S')
NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(?:\.\d+)?%?")
ODD = ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x1b[2J", "\x7f", "\x85", "\x9b", "\u2028", "\u2029",
       "\ufeff", "\u00a0", "\u200b", "\u202e", "\r", "\r\n", "\t", "\ud7ff", "日", "\U0001f600", "{", "}", "(",
       ")", '"', "#", ",", ":", "[/]", "\\", "->", "..", "%"]
HUGE = ["9" * 19, "1" + "0" * 40, "9" * 400, "9" * 4301, "1" + "0" * 5000, "0." + "0" * 60 + "1",
        "1_" + "000_" * 20 + "000", "99999999999999999999.99999999999", "1e5"]


def ruleset_sources() -> dict[str, str]:
    """The valid rulesets the mutants start from: the example program and the test fixtures."""
    tests = ROOT / "tests" / "fixtures"
    paths = sorted(PROGRAM.glob("*.rules")) + sorted((tests / "fmt").glob("*.in.rules")) + \
        sorted((tests / "checks").glob("*.good.rules"))[:12] + [tests / "syntax" / "full.rules"]
    return {f"{p.parent.name}--{p.name}": p.read_text(encoding="utf-8") for p in paths if p.exists()}


def ruleset_mutant(draw: Draw, text: str, tags: list[str], big: bool = False) -> str:
    """TEXT with 1-3 edits of the kinds a half-edited file or a hostile one has."""
    for _ in range(draw.int(1, 3)):
        op = draw.pick(["delete", "duplicate", "swap", "huge", "odd", "nest", "chain", "line", "block"])
        tags.append(op)
        spans = [m.span() for m in TOKEN.finditer(text)]
        if not spans:
            text += draw.pick(ODD)
            continue
        a, b = spans[draw.int(0, len(spans) - 1)]
        if op == "delete":
            text = text[:a] + text[b:]
        elif op == "duplicate":
            text = text[:a] + text[a:b] + draw.pick([" ", "", "\n"]) + text[a:]
        elif op == "swap":
            c, d = spans[draw.int(0, len(spans) - 1)]
            if (c, d) < (a, b):
                (a, b), (c, d) = (c, d), (a, b)
            if c >= b:
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        elif op == "huge":
            numbers = list(NUMBER.finditer(text))
            if numbers:
                m = draw.pick(numbers)
                text = text[:m.start()] + draw.pick(HUGE) + text[m.end():]
        elif op == "odd":
            at = draw.pick([a, b, draw.int(0, len(text))])
            text = text[:at] + draw.pick(ODD) + text[at:]
        elif op == "nest":
            numbers = list(NUMBER.finditer(text))
            if numbers:
                m = draw.pick(numbers)
                depth = draw.pick([5, 40, 200, 1000] + ([5000] if big else []))
                text = text[:m.start()] + "(" * depth + m.group() + ")" * depth + text[m.end():]
        elif op == "chain":
            whens = list(re.finditer(r"when ([^\n]+)", text))
            if whens:
                m = draw.pick(whens)
                terms = draw.pick([2, 20, 120] + ([1000, 2500] if big else []))
                cond = m.group(1)
                joined = " and ".join([cond] * terms) if draw.chance(0.5) else " and ".join(
                    f'product != "p{i}"' for i in range(terms)) + f" and {cond}"
                text = text[:m.start(1)] + joined + text[m.end(1):]
        elif op == "line":
            lines = text.split("\n")
            i = draw.int(0, len(lines) - 1)
            j = draw.int(0, len(lines) - 1)
            kind = draw.pick(["delete", "duplicate", "swap"])
            if kind == "delete":
                del lines[i]
            elif kind == "duplicate":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "block":  # a whole rule or table again (same name), or cut in half
            starts = [m.start() for m in re.finditer(r"^(rule|table|tiers|review|quality|example|input) ", text, re.M)]
            if starts:
                s = draw.pick(starts)
                e = text.find("\n}\n", s)
                e = len(text) if e < 0 else e + 3
                block = text[s:e]
                text = text[:e] + block + text[e:] if draw.chance(0.5) else text[:s] + block[:len(block) // 2] + text[e:]
    return text


# --------------------------------------------------------------------------- running and checking


class Failed(AssertionError):
    """A check failed; `cause` is a short, stable name for grouping in the campaign."""

    def __init__(self, cause: str, detail: str):
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


def run(argv: list) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one `points` command run in-process."""
    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


HEADLINE = re.compile(r"^(?P<file>[^\n]*?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning|note) (?P<code>[A-Z]\d{3})")
FINDING = re.compile(r"\b(error|warning) [A-Z]\d{3}\b")
EXCERPT = re.compile(r"^\s*(\d+) \| ?(.*)$")
LOCATION = re.compile(r"\b(row|rows|line|lines) \d+|:\d+:\d+|:\d+\b|\bcolumn \d+")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")
# Whole-file conditions, where no row or line exists to name.
FILE_LEVEL = re.compile(r"is empty|has no records|only blank lines|cannot be opened as an Excel|no sheet|"
                        r"not a zip|is a folder|no such file|larger than|unknown encoding|has no contract|"
                        r"has no partner|no contract|no partner|no row|no valid row|no version|not found|cannot be read as|"
                        r"the workbook part \S+ (would inflate|holds)|refused as a zip bomb")


def check_clean_exit(argv: list, code: int, out: str, err: str, allowed: tuple = (0, 1, 2)) -> None:
    if code == 3 or "internal error" in err:
        kind = re.search(r"internal error \((\w+)", err)
        raise Failed(f"exit 3 ({kind.group(1) if kind else '?'}) in {argv[0]}", err.strip()[-600:])
    if "Traceback (most recent call last)" in out + err:
        raise Failed(f"traceback in {argv[0]}", (out + err)[-600:])
    if code not in allowed:
        raise Failed(f"exit {code} in {argv[0]}", err.strip()[-400:])


def check_located(argv: list, err: str, files: dict[str, str | None]) -> None:
    """Every message on stderr names one of FILES and where in it (line:col, or row / line).

    FILES maps each input's path as given to its text (None for data files and workbooks), so that
    a finding's excerpt can be compared with the line it claims to show.
    """
    names = {Path(f).name for f in files}
    texts = {Path(f).name: t for f, t in files.items() if t is not None}
    lines = err.split("\n")
    saw_finding = False
    for i, line in enumerate(lines):
        m = HEADLINE.match(line)
        if m:
            saw_finding = True
            shown = Path(m["file"]).name
            if shown not in names:
                raise Failed(f"finding names another file in {argv[0]}", line[:300])
            number, column = int(m["line"]), int(m["col"])
            if number < 1 or column < 1:
                raise Failed(f"finding at line/column 0 in {argv[0]}", line[:300])
            text = texts.get(shown)
            if text is not None:
                source = [visible(part) for part in text.split("\n")]  # as the excerpt shows a line
                editor = [visible(part) for part in re.split(r"\r\n|\r|\n", text)]  # as an editor may count
                if number > len(source) + 1:
                    raise Failed(f"finding past the end of the file in {argv[0]}", line[:300])
                excerpt = EXCERPT.match(lines[i + 1]) if i + 1 < len(lines) else None
                if excerpt and int(excerpt.group(1)) != number:
                    raise Failed(f"excerpt shows another line number in {argv[0]}", "\n".join(lines[i:i + 3])[:400])
                if excerpt and number <= len(source):
                    shown_sig = re.sub(r"\W", "", excerpt.group(2))[:12]
                    if shown_sig and shown_sig not in re.sub(r"\W", "", source[number - 1]) and not (
                            number <= len(editor) and shown_sig in re.sub(r"\W", "", editor[number - 1])):
                        raise Failed(f"excerpt shows another line's text in {argv[0]}",
                                     "\n".join(lines[i:i + 3])[:400] + f"\n(line {number} is {source[number - 1][:80]!r})")
            continue
        if FINDING.search(line) and not line.startswith(" "):
            raise Failed(f"finding without file:line:col in {argv[0]}", line[:300])
        if line.startswith("error:") or line.startswith('{"error"'):
            message = line
            if "cannot be used until the errors above are fixed" in message and saw_finding:
                continue
            if not any(n in message for n in names):
                raise Failed(f"error naming no input file in {argv[0]}", message[:300])
            if not LOCATION.search(message) and not FILE_LEVEL.search(message):
                raise Failed(f"error naming no row or line in {argv[0]}", message[:300])


def check_terminal_safe(argv: list, out: str, err: str) -> None:
    """No control character from the data reaches a terminal raw (escape sequences, bells)."""
    if "--json" in argv:
        return
    found = CONTROL.search(out + err)
    if found:
        at = (out + err)[max(0, found.start() - 40):found.start() + 40]
        raise Failed(f"raw control character in {argv[0]} output", repr(at))


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        try:
            return list(csv.reader(handle))
        except csv.Error as error:  # e.g. a cell over the csv module's 131,072 characters
            raise Failed(f"{path.name} does not read back ({str(error).split(' (')[0]})", str(error)) from None


def check_accounting(folder: Path, mutant: Mutant) -> dict:
    """manifest counts add up; each input row is in contracts.csv or rejects.csv exactly once, and in
    rows.csv exactly once with the same status."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    if counts["rows"] != counts["scored"] + counts["unscored"] + counts["rejected"]:
        raise Failed("counts do not add up", json.dumps(counts))
    tables = {name: read_csv(folder / name) for name in ("contracts.csv", "rejects.csv", "rows.csv")}
    for name, table in tables.items():
        if not table or table[0][:2] != ["file", "row"]:
            raise Failed("output CSV without its header", f"{name}: {table[:1]}")
        width = len(table[0])
        for cells in table[1:]:
            if len(cells) != width or not cells[1].isdigit():
                raise Failed(f"{name} does not read back (a record of {len(cells)} cells)", repr(cells)[:300])
    contracts, rejects, rows = ([dict(zip(t[0], cells)) for cells in t[1:]] for t in tables.values())
    for cells in rejects:
        if not cells["field"] or not cells["reason"] or not cells["code"]:
            raise Failed("reject without field, code or reason", repr(cells)[:300])
    for cells in contracts:
        if cells["status"] == "unscored" and not cells["code"]:
            raise Failed("unscored row without a code", repr(cells)[:300])
    seen = [int(c["row"]) for c in contracts] + [int(r["row"]) for r in rejects]
    if len(seen) != len(set(seen)):
        twice = sorted({n for n in seen if seen.count(n) > 1})
        raise Failed("a row appears twice in the outputs", f"rows {twice[:10]}")
    if len(contracts) != counts["scored"] + counts["unscored"] or len(rejects) != counts["rejected"]:
        raise Failed("outputs disagree with manifest counts",
                     f"{len(contracts)} contracts, {len(rejects)} rejects, counts {counts}")
    listed = [int(r["row"]) for r in rows]
    if sorted(listed) != sorted(seen) or listed != sorted(listed):
        raise Failed("rows.csv does not list every row once, in order", f"{listed[:10]} vs {sorted(seen)[:10]}")
    status = {int(c["row"]): c["status"] for c in contracts} | {int(r["row"]): "rejected" for r in rejects}
    if any(status[int(r["row"])] != r["status"] for r in rows):
        raise Failed("rows.csv disagrees with contracts.csv / rejects.csv", "")
    if mutant.expected_rows is not None and set(seen) != mutant.expected_rows:
        lost = sorted(mutant.expected_rows - set(seen))
        extra = sorted(set(seen) - mutant.expected_rows)
        raise Failed("rows lost or invented", f"lost {lost[:10]}, not in the input {extra[:10]}")
    return counts
