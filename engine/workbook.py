"""Output tables as `.xlsx` workbooks (`--output-format xlsx`), written by hand with zipfile.

One workbook per table (`contracts.xlsx` holds the sheet `contracts`), so that the folder keeps the
shape of the CSV result and the manifest names one file per table. Deterministic to the byte: the
parts in a fixed order, every zip entry dated 1980-01-01 00:00 with fixed permissions, no document
properties (so no creation or modification date), the same deflate level. Nothing can be a formula:
a text is an inline string cell (`t="inlineStr"`), never a formula cell, so `=HYPERLINK(...)` stays
the text it is; the engine's numbers (points, row numbers, counts) are number cells; an empty cell
is left out.

Characters XML cannot hold (C0 controls other than tab and line break, a carriage return, which an
XML reader would turn into a line break) are written `_xHHHH_`, and a text that already holds such a
shape has its `_` written `_x005F_`, as Excel itself does: a reader gives back the exact text.
"""
from __future__ import annotations

import re
import zipfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable

MAX_ROWS = 1_048_576  # a sheet's rows in Excel, the header included
_DATE = (1980, 1, 1, 0, 0, 0)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_|[\x00-\x08\x0b-\x0c\x0d\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PLAIN = re.compile(r"[^&<>_\x00-\x1f\ufffe\uffff\ud800-\udfff]*")  # a text written as it is
CACHE = 65_536  # distinct texts remembered as written (products, statuses, codes, periods repeat)


class TooManyRows(Exception):
    """A table longer than a sheet can hold."""


def _parts(sheet: str) -> list[tuple[str, str]]:
    return [
        ("[Content_Types].xml", _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
         '<Default Extension="xml" ContentType="application/xml"/>'
         '<Override PartName="/xl/workbook.xml" '
         'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
         '<Override PartName="/xl/styles.xml" '
         'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
         '<Override PartName="/xl/worksheets/sheet1.xml" '
         'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        ("_rels/.rels", _HEAD + f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
         f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        ("xl/workbook.xml", _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
         f'<sheet name="{_xml(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        ("xl/_rels/workbook.xml.rels", _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
         f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
         f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'),
        ("xl/styles.xml", _HEAD + f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/>'
         '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
         '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/>'
         '<top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" '
         'fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
         'borderId="0" xfId="0"/></cellXfs></styleSheet>'),
    ]


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    info.create_system = 3
    return info


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _cell_text(text: str) -> str:
    """A text as the `<t>` of an inline string: XML-escaped, the characters XML cannot hold as `_xHHHH_`."""
    if _PLAIN.fullmatch(text):
        return text
    text = _ESCAPE.sub(_escape_one, text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_one(match: re.Match) -> str:
    found = match.group(0)
    if len(found) > 1:  # a literal `_xHHHH_`: its `_` escaped, so a reader does not decode it
        return "_x005F_" + found[1:]
    return f"_x{ord(found):04X}_"


def column_letters(index: int) -> str:
    """`A`, `B`, ... `Z`, `AA` for a 0-based column index (as the workbook reader names columns)."""
    from engine.readers import column_name

    return column_name(index)


def write(path: str | Path, sheet: str, header: list[str], rows: Iterable[list[str]],
          number_columns: Iterable[int] = ()) -> None:
    """A workbook at `path` (created fresh, engine.outputs.create) with one sheet: `header`, then `rows`
    of texts; a cell of a column in `number_columns` that is a plain number is a number cell."""
    from engine.outputs import create

    numbers = frozenset(number_columns)
    letters = [column_letters(i) for i in range(len(header))]
    with create(path, binary=True) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        parts = _parts(sheet)
        for name, text in parts[:2]:
            zf.writestr(_entry(name), text.encode("utf-8"))
        with zf.open(_entry("xl/worksheets/sheet1.xml"), "w") as out:
            out.write((_HEAD + f'<worksheet xmlns="{_MAIN}"><sheetData>').encode("utf-8"))
            buffer: list[str] = []
            texts: dict[str, str] = {}
            for r, row in enumerate(_with_header(header, rows), 1):
                if r > MAX_ROWS:
                    raise TooManyRows(f"more than {MAX_ROWS:,} rows do not fit a sheet")
                cells = []
                for i, value in enumerate(row):
                    if value == "":
                        continue
                    ref = f"{letters[i] if i < len(letters) else column_letters(i)}{r}"
                    if r > 1 and i in numbers and _NUMBER.fullmatch(value) and _exact(value):
                        cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                        continue
                    written = texts.get(value)
                    if written is None:
                        written = f'" t="inlineStr"><is><t xml:space="preserve">{_cell_text(value)}</t></is></c>'
                        if len(texts) < CACHE:
                            texts[value] = written
                    cells.append(f'<c r="{ref}{written}')
                buffer.append(f'<row r="{r}">{"".join(cells)}</row>')
                if len(buffer) >= 1024:
                    out.write("".join(buffer).encode("utf-8", "surrogatepass"))
                    buffer.clear()
            buffer.append("</sheetData></worksheet>")
            out.write("".join(buffer).encode("utf-8", "surrogatepass"))
        for name, text in parts[2:]:
            zf.writestr(_entry(name), text.encode("utf-8"))


def _with_header(header, rows):
    yield header
    yield from rows


def _exact(value: str) -> bool:
    """Whether a spreadsheet's number (a double, 15 significant digits) holds this number exactly as
    written; a longer one stays a text cell, so no digit is lost."""
    try:
        digits = Decimal(value).as_tuple().digits
    except InvalidOperation:
        return False
    return len(digits) <= 15
