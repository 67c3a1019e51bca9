"""Damaged, hostile and unusual workbooks: an input error naming the file, or every row accounted for.

A generator takes a workbook written by openpyxl and makes mutants of it: the sheet's XML cut
short or with bits flipped, the zip itself cut or flipped, parts missing, cell references and
values that are none, shared-strings and ratio bombs, a part whose zip entry lies about its size,
billion laughs and external entities, rows out of order, repeated or unnumbered, formulas with
and without a saved value, dates as serials and as text, booleans and error cells. Each is read
through the runner as `points evaluate` reads it: it must end with an InputError that names the
file (exit 2), or with every row of the sheet scored, unscored or rejected (exit 0); never with
any other exception (exit 3).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest

from engine import readers
from engine.cli import main
from engine.program import load_program
from engine.readers import BadRow, InputError, open_rows
from engine.run import RunOptions, evaluate

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
HEADER = ["contract_id", "partner_id", "partner_name", "signed", "product", "customer", "quantity", "pool_gb",
          "sales_rep"]
SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"


@pytest.fixture(scope="module")
def program():
    return load_program(PROGRAM)


def _good_row(n: int) -> list:
    return [f"X-{n}", f"P-{n % 7}", "Alpha GmbH", dt.date(2016, 4, 1 + n % 28), "O2 Business M", "new", 1 + n % 3,
            None, "A. Rep"]


def _openpyxl_book(path: Path, rows: list[list]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Contracts"
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _zip(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def _with_sheet_data(parts: dict[str, bytes], rows_xml: str) -> dict[str, bytes]:
    """The parts with the sheet's <sheetData> replaced (inline strings and numbers, no shared strings)."""
    sheet = parts[SHEET].decode()
    head = sheet[:sheet.index("<sheetData")]
    tail = sheet[sheet.index("</sheetData>") + len("</sheetData>"):] if "</sheetData>" in sheet else "</worksheet>"
    return {**parts, SHEET: (head + "<sheetData>" + rows_xml + "</sheetData>" + tail).encode()}


def _cell(ref: str, value, extra: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"{extra}><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"{extra}><v>{value}</v></c>'


def _row_xml(number: int | None, cells: list, refs: bool = True) -> str:
    out = []
    for i, value in enumerate(cells):
        letter = chr(65 + i)
        ref = f"{letter}{number}"
        if isinstance(value, tuple):  # raw XML for the cell, "{ref}" filled in
            out.append(value[0].replace("{ref}", ref))
            continue
        xml = _cell(ref, value) if value is not None or refs else "<c/>"
        out.append(xml if refs else xml.replace(f' r="{ref}"', ""))
    attr = f' r="{number}"' if number is not None else ""
    return f"<row{attr}>" + "".join(out) + "</row>"


def _with_shared_strings(parts: dict[str, bytes], strings: bytes) -> dict[str, bytes]:
    """The parts with a shared-strings part (openpyxl writes inline strings), its first string in cell A2."""
    rels = parts["xl/_rels/workbook.xml.rels"].decode().replace("</Relationships>", (
        '<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
    types = parts["[Content_Types].xml"].decode().replace("</Types>", (
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sharedStrings+xml"/></Types>'))
    row = _plain(2)
    row[0] = ('<c r="{ref}" t="s"><v>0</v></c>',)
    parts = _with_sheet_data(parts, _header_xml() + _row_xml(2, row))
    return {**parts, "xl/_rels/workbook.xml.rels": rels.encode(), "[Content_Types].xml": types.encode(),
            STRINGS: strings}


_SST = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>X-1</t></si></sst>'


def test_shared_strings_are_read(program, tmp_path):
    parts = _with_shared_strings(_parts(_openpyxl_book(tmp_path / "b.xlsx", [])), _SST)
    kind, (contracts, _, _) = _outcome(program, _zip(tmp_path / "sst.xlsx", parts), tmp_path)
    assert kind == "rows" and [c["contract_id"] for c in contracts] == ["X-1"]


def _header_xml() -> str:
    return _row_xml(1, HEADER)


def _plain(n: int) -> list:
    """A good row as raw cell values: the date as text, which the validator reads."""
    row = _good_row(n)
    row[3] = row[3].isoformat()
    return row


def _outcome(program, data: Path, tmp_path: Path) -> tuple[str, object]:
    """("input error", message) or ("rows", (contracts, rejects, counts)); anything else propagates."""
    out = tmp_path / ("out-" + data.stem)
    try:
        result = evaluate(program, data, RunOptions(), out_dir=out)
    except InputError as error:
        return "input error", str(error)
    with open(out / "contracts.csv", newline="", encoding="utf-8") as f:
        contracts = list(csv.DictReader(f))
    with open(out / "rejects.csv", newline="", encoding="utf-8") as f:
        rejects = list(csv.DictReader(f))
    assert result.counts.reconciles
    numbers = [int(r["row"]) for r in contracts + rejects]
    assert len(numbers) == len(set(numbers)) == result.counts.rows  # every row once, scored or rejected
    return "rows", (contracts, rejects, result.counts)


def _named(message: str, path: Path) -> bool:
    return message.startswith(f"{path}: ")


# --------------------------------------------------------------------------- the mutants


def _mutants(base: Path, tmp_path: Path) -> list[Path]:
    """Deterministic damaged copies of `base`: about seventy of them."""
    rng = random.Random(8)
    parts = _parts(base)
    sheet = parts[SHEET]
    raw = base.read_bytes()
    made = []

    def add(name: str, new_parts: dict | None = None, data: bytes | None = None) -> None:
        path = tmp_path / f"{name}.xlsx"
        if data is not None:
            path.write_bytes(data)
        else:
            _zip(path, new_parts)
        made.append(path)

    for i, cut in enumerate(sorted(rng.sample(range(10, len(sheet)), 12))):
        add(f"sheet-cut-{i}", {**parts, SHEET: sheet[:cut]})
    for i in range(16):
        flipped = bytearray(sheet)
        for _ in range(1 + i % 3):
            at = rng.randrange(len(flipped))
            flipped[at] ^= 1 << rng.randrange(8)
        add(f"sheet-flip-{i}", {**parts, SHEET: bytes(flipped)})
    for i, cut in enumerate(sorted(rng.sample(range(1, len(raw)), 8))):
        add(f"zip-cut-{i}", data=raw[:cut])
    for i in range(10):
        flipped = bytearray(raw)
        at = rng.randrange(len(flipped))
        flipped[at] ^= 1 << rng.randrange(8)
        add(f"zip-flip-{i}", data=bytes(flipped))
    for i, name in enumerate(sorted(parts)):
        add(f"missing-{i}", {k: v for k, v in parts.items() if k != name})
    return made


def test_every_mutant_is_an_input_error_or_fully_accounted(program, tmp_path):
    base = _openpyxl_book(tmp_path / "base.xlsx", [_good_row(n) for n in range(30)])
    kinds = {"input error": 0, "rows": 0}
    for path in _mutants(base, tmp_path):
        kind, what = _outcome(program, path, tmp_path)
        kinds[kind] += 1
        if kind == "input error":
            assert _named(what, path), what
            assert "Traceback" not in what
    assert kinds["input error"] >= 20 and kinds["rows"] >= 5, kinds  # both outcomes are exercised


@pytest.mark.parametrize("cells, why", [
    ([("<c r=\"5A\"><v>1</v></c>",)], "'5A' is not a cell reference"),
    ([("<c r=\"A0\"><v>1</v></c>",)], "'A0' is not a cell reference"),
    ([("<c r=\"AAAA2\"><v>1</v></c>",)], "'AAAA2' is not a cell reference"),
    ([("<c r=\"B3\"><v>1</v></c>",)], "the cell B3 is written inside row 2"),
    ([("<c r=\"A2\" t=\"s\"><v>9999</v></c>",)], "shared strings"),
    ([("<c r=\"A2\" t=\"b\"><v>x</v></c>",)], "boolean"),
])
def test_broken_cells_name_the_file(program, tmp_path, cells, why):
    parts = _with_sheet_data(_parts(_openpyxl_book(tmp_path / "b.xlsx", [])), _header_xml() + _row_xml(2, cells))
    data = _zip(tmp_path / "broken.xlsx", parts)
    kind, message = _outcome(program, data, tmp_path)
    assert kind == "input error" and _named(message, data) and why in message, message


def test_a_number_cell_holding_text_is_a_rejected_value(program, tmp_path):
    row = _plain(1)
    row[6] = ("<c r=\"{ref}\"><v>three</v></c>",)
    parts = _with_sheet_data(_parts(_openpyxl_book(tmp_path / "b.xlsx", [])), _header_xml() + _row_xml(2, row))
    kind, (contracts, rejects, _) = _outcome(program, _zip(tmp_path / "three.xlsx", parts), tmp_path)
    assert kind == "rows" and [(r["row"], r["field"]) for r in rejects] == [("2", "quantity")]


def test_repeated_rows_and_cells_are_refused_not_overwritten(program, tmp_path):
    empty = _parts(_openpyxl_book(tmp_path / "b.xlsx", []))
    twice = _zip(tmp_path / "twice.xlsx", _with_sheet_data(empty, _header_xml() + _row_xml(2, _plain(1))
                                                           + _row_xml(2, _plain(2))))
    kind, message = _outcome(program, twice, tmp_path)
    assert kind == "input error" and "row 2: the row appears twice" in message
    cell = _zip(tmp_path / "cell.xlsx", _with_sheet_data(empty, _header_xml() + _row_xml(2, _plain(1) + [
        ("<c r=\"A2\" t=\"inlineStr\"><is><t>X-9</t></is></c>",)])))
    kind, message = _outcome(program, cell, tmp_path)
    assert kind == "input error" and "the cell A2 appears twice" in message


def test_rows_out_of_order_and_with_gaps_keep_their_sheet_numbers(program, tmp_path):
    rows = [_row_xml(n, _plain(n)) for n in range(2, 202)]
    random.Random(3).shuffle(rows)
    empty = _parts(_openpyxl_book(tmp_path / "b.xlsx", []))
    shuffled = _zip(tmp_path / "shuffled.xlsx", _with_sheet_data(empty, _header_xml() + "".join(rows)))
    kind, (contracts, rejects, counts) = _outcome(program, shuffled, tmp_path)
    assert kind == "rows" and counts.rows == 200 and not rejects
    assert [int(c["row"]) for c in contracts] == list(range(2, 202))  # in the sheet's order, as Excel shows it
    assert [c["contract_id"] for c in contracts] == [f"X-{n}" for n in range(2, 202)]
    gaps = _zip(tmp_path / "gaps.xlsx", _with_sheet_data(empty, _header_xml() + _row_xml(5, _plain(5))
                                                         + _row_xml(40, _plain(40))))
    kind, (contracts, _, counts) = _outcome(program, gaps, tmp_path)
    assert [c["row"] for c in contracts] == ["5", "40"] and counts.rows == 2


def test_rows_and_cells_without_numbers_count_on(program, tmp_path):
    empty = _parts(_openpyxl_book(tmp_path / "b.xlsx", []))
    xml = _header_xml() + _row_xml(None, _plain(2), refs=False) + _row_xml(None, _plain(3), refs=False)
    kind, (contracts, _, _) = _outcome(program, _zip(tmp_path / "bare.xlsx", _with_sheet_data(empty, xml)), tmp_path)
    assert kind == "rows" and [(c["row"], c["contract_id"]) for c in contracts] == [("2", "X-2"), ("3", "X-3")]


def test_formulas_without_a_saved_value_are_rejected_at_their_row_and_field(program, tmp_path):
    empty = _parts(_openpyxl_book(tmp_path / "b.xlsx", []))
    uncached_id, uncached_qty, cached, cached_text, error = (_plain(n) for n in range(2, 7))
    uncached_id[0] = ("<c r=\"{ref}\" t=\"str\"><f>CONCAT(\"X-\",2)</f></c>",)
    uncached_qty[6] = ("<c r=\"{ref}\"><f>1+1</f><v></v></c>",)
    cached[6] = ("<c r=\"{ref}\"><f>1+1</f><v>2</v></c>",)
    cached_text[8] = ("<c r=\"{ref}\" t=\"str\"><f>\"\"</f><v></v></c>",)  # a saved empty text: a value
    error[6] = ("<c r=\"{ref}\" t=\"e\"><f>1/0</f><v>#DIV/0!</v></c>",)
    na = _plain(7)
    na[1] = ("<c r=\"{ref}\" t=\"e\"><v>#N/A</v></c>",)
    xml = _header_xml() + "".join(_row_xml(n, row) for n, row in
                                  zip(range(2, 8), (uncached_id, uncached_qty, cached, cached_text, error, na)))
    kind, (contracts, rejects, counts) = _outcome(program, _zip(tmp_path / "f.xlsx", _with_sheet_data(empty, xml)),
                                                  tmp_path)
    assert kind == "rows"
    assert [(c["row"], c["contract_id"], c["quantity"] if "quantity" in c else None) for c in contracts][:1] == [
        ("4", "X-4", None)] or [c["row"] for c in contracts] == ["4", "5"]
    assert [c["row"] for c in contracts] == ["4", "5"]
    found = {r["row"]: (r["field"], r["reason"]) for r in rejects}
    assert found["2"][0] == "contract_id" and "formula =CONCAT" in found["2"][1] and "no saved value" in found["2"][1]
    assert found["3"][0] == "quantity" and "no saved value" in found["3"][1]
    assert found["6"][0] == "quantity" and "#DIV/0!" in found["6"][1]
    assert found["7"][0] == "partner_id" and "#N/A" in found["7"][1]
    assert counts.rows == 6


def test_a_formula_in_the_header_is_an_input_error(program, tmp_path):
    empty = _parts(_openpyxl_book(tmp_path / "b.xlsx", []))
    header = HEADER[:]
    header[1] = ("<c r=\"{ref}\" t=\"str\"><f>\"partner\"&amp;\"_id\"</f></c>",)
    data = _zip(tmp_path / "h.xlsx", _with_sheet_data(empty, _row_xml(1, header) + _row_xml(2, _plain(2))))
    kind, message = _outcome(program, data, tmp_path)
    assert kind == "input error" and "header (row 1), column B" in message and "no saved value" in message


def test_dates_booleans_and_serials(program, tmp_path):
    rows = [_good_row(1), _good_row(2), _good_row(3), _good_row(4), _good_row(5)]
    rows[1][3] = "2016-04-02"  # a date as text
    rows[2][3] = 42461  # a serial with no date format: not a date
    rows[3][2] = True  # a boolean in a text field
    rows[4][6] = 2.0  # a whole number stored as a float
    kind, (contracts, rejects, _) = _outcome(program, _openpyxl_book(tmp_path / "d.xlsx", rows), tmp_path)
    assert kind == "rows"
    assert [(c["row"], c["signed"]) for c in contracts] == [("2", "2016-04-02"), ("3", "2016-04-02"),
                                                           ("5", "2016-04-05"), ("6", "2016-04-06")]
    assert [(r["row"], r["field"]) for r in rejects] == [("4", "signed")] and "42461" in rejects[0]["reason"]
    with open_rows(tmp_path / "d.xlsx") as source:
        cells = dict(source)
    assert cells[5][2] is True and cells[6][6] == 2 and isinstance(cells[6][6], int)


# --------------------------------------------------------------------------- hostile XML and bombs


_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
           '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
_XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize("part, prolog, entity", [(SHEET, _LAUGHS, "lol3"), (SHEET, _XXE, "xxe"),
                                                  ("xl/workbook.xml", _XXE, None),
                                                  ("xl/_rels/workbook.xml.rels", _LAUGHS, None),
                                                  (STRINGS, _LAUGHS, "lol3"), (STRINGS, _XXE, "xxe")])
def test_entities_and_dtds_are_refused(program, tmp_path, part, prolog, entity):
    parts = _with_shared_strings(_parts(_openpyxl_book(tmp_path / "b.xlsx", [_good_row(1)])), _SST)
    body = parts[part].decode()
    body = body[body.index("?>") + 2:] if body.startswith("<?xml") else body
    if entity and part == SHEET:
        body = body.replace("<t>X-1</t>", f"<t>&{entity};</t>").replace(">X-1<", f">&{entity};<")
    if entity and part == STRINGS:
        body = body.replace("<t>X-1</t>", f"<t>&{entity};</t>")
    data = _zip(tmp_path / "hostile.xlsx", {**parts, part: (prolog + body).encode()})
    kind, message = _outcome(program, data, tmp_path)
    assert kind == "input error" and _named(message, data), message
    assert "passwd" not in message and "root:" not in message and "lollol" not in message


def _write_bomb(path: Path, parts: dict[str, bytes], name: str, size: int) -> Path:
    """The parts with `name` an XML of `size` bytes of one repeated string, deflated as it is written."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for other, data in parts.items():
            if other != name:
                z.writestr(other, data)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as part:
            head = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
            part.write(head)
            block = b"a" * (1 << 20)
            for _ in range((size - len(head)) >> 20):
                part.write(block)
            part.write(b"</t></si></sst>")
    return path


@pytest.mark.parametrize("size, why", [(17 << 20, "more than the 16 MiB a part may have"),
                                       (8 << 20, "refused as a zip bomb")])
def test_a_bomb_is_refused_before_it_is_inflated(program, tmp_path, monkeypatch, size, why):
    monkeypatch.setattr(readers, "XLSX_PART_BYTES", 16 << 20)  # the limit's logic, at a size quick to write
    parts = _with_shared_strings(_parts(_openpyxl_book(tmp_path / "b.xlsx", [])), _SST)
    data = _write_bomb(tmp_path / "bomb.xlsx", parts, STRINGS, size)
    assert data.stat().st_size < size // 100  # a small file...
    opened = []
    monkeypatch.setattr(readers, "_calamine_sheet", lambda *a: opened.append(a))
    monkeypatch.setattr(readers, "_scan_sheet", lambda *a: opened.append(a))
    import tracemalloc

    tracemalloc.start()
    try:
        kind, message = _outcome(program, data, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "input error" and _named(message, data) and why in message and STRINGS in message
    assert opened == [] and peak < 16 << 20  # ...refused from the zip's directory, nothing inflated


def test_a_part_that_lies_about_its_size_is_refused(program, tmp_path):
    """The zip's directory says a few bytes; the deflated stream holds megabytes (calamine would inflate it)."""
    parts = _with_shared_strings(_parts(_openpyxl_book(tmp_path / "b.xlsx", [])), _SST)
    small = b"<sst/>"
    truth = _SST[:-6] + b"<si><t>" + b"b" * (4 << 20) + b"</t></si></sst>"
    data = _zip(tmp_path / "liar.xlsx", {**parts, STRINGS: truth})
    blob = bytearray(data.read_bytes())
    with zipfile.ZipFile(data) as z:
        info = z.getinfo(STRINGS)
    real = info.file_size.to_bytes(4, "little")
    claimed = len(small).to_bytes(4, "little")
    count = 0
    for match in [m.start() for m in re.finditer(re.escape(real), bytes(blob))]:
        blob[match:match + 4] = claimed  # in the local header and the central directory
        count += 1
    assert count >= 2
    data.write_bytes(bytes(blob))
    kind, message = _outcome(program, data, tmp_path)
    assert kind == "input error" and _named(message, data) and STRINGS in message, message
    assert "damaged" in message


def test_a_sheet_too_large_for_memory_is_refused_before_calamine(program, tmp_path, monkeypatch):
    empty = _parts(_openpyxl_book(tmp_path / "b.xlsx", []))
    far = _row_xml(2, _plain(2)) + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    data = _zip(tmp_path / "far.xlsx", _with_sheet_data(empty, _header_xml() + far))
    monkeypatch.setattr(readers, "_calamine_sheet", lambda *a: pytest.fail("calamine was asked"))
    kind, message = _outcome(program, data, tmp_path)
    assert kind == "input error" and "more than 10,000,000 cells" in message


def test_through_the_command_line(tmp_path, capsys):
    base = _openpyxl_book(tmp_path / "base.xlsx", [_good_row(n) for n in range(5)])
    parts = _parts(base)
    cut = _zip(tmp_path / "cut.xlsx", {**parts, SHEET: parts[SHEET][:len(parts[SHEET]) // 2]})
    for data, expected in ((base, 0), (cut, 2)):
        code = main(["evaluate", str(PROGRAM), str(data), "--out", str(tmp_path / f"o-{data.stem}")])
        out, err = capsys.readouterr()
        assert code == expected and "Traceback" not in out + err and "internal error" not in err
        if expected == 2:
            assert str(cut) in err and SHEET in err
