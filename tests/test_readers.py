"""Streaming readers: row numbers as the user's tool shows them, bad rows yielded, bad files raised."""
from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from dsl import parse
from engine.readers import BadRow, InputError, open_rows, sha256_of, sniff
from engine.validate import RowReject, RowValidator

DATA = Path(__file__).parent / "fixtures" / "data"
O2_2016 = Path(__file__).parents[1] / "rulesets" / "o2-business" / "2016-03.rules"


def rows_of(path: Path, **options) -> list:
    with open_rows(path, **options) as source:
        return list(source)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def input_error(path: Path, **options) -> InputError:
    with pytest.raises(InputError) as caught:
        rows_of(path, **options)
    assert caught.value.path == str(path)
    return caught.value


# --------------------------------------------------------------------------- CSV


def test_an_excel_csv_with_bom_semicolons_and_decimal_commas():
    """BOM, `;`, CRLF, a quoted delimiter, a blank row, a cell over two lines, a ragged row."""
    with open_rows(DATA / "contracts-excel-de.csv") as source:
        assert (source.kind, source.delimiter) == ("csv", ";")
        assert source.header[0] == "contract_id" and source.header[-1] == "remark"
        rows = list(source)
    assert [number for number, _ in rows] == [2, 3, 5, 6, 7]
    assert rows[0][1][-1] == "Rahmenvertrag; Teil 1"
    assert rows[3][1][-1] == "zwei\r\nZeilen"
    assert rows[4] == (7, BadRow(7, "row 7 has 6 cells, the header has 8 columns"))


def test_the_excel_csv_through_the_validator():
    block = parse(O2_2016.read_text(encoding="utf-8"), str(O2_2016)).input()
    validator = RowValidator(block, decimal_comma=True)
    outcomes = {}
    with open_rows(DATA / "contracts-excel-de.csv") as source:
        assert validator.header_problems(source.header) == []
        convert = validator.for_header(source.header)
        for number, raw in source:
            if isinstance(raw, BadRow):
                outcomes[number] = raw.reason
                continue
            try:
                outcomes[number] = convert(raw, number)
            except RowReject as reject:
                outcomes[number] = (reject.field, reject.reason)
    assert outcomes[2]["signed"] == dt.date(2016, 3, 1) and outcomes[2]["pool_gb"] is None  # not a pool product
    assert outcomes[3]["pool_gb"] == Decimal("250.5")
    assert outcomes[5] == ("customer",
                           "`customer` must be one of new, existing, got 'Neu' (did you mean new?)")
    assert outcomes[6][0] == "pool_gb" and "thousands separators" in outcomes[6][1]
    assert outcomes[7] == "row 7 has 6 cells, the header has 8 columns"


@pytest.mark.parametrize("line, delimiter", [
    ("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ('"x,y";b;c', ";"), ("single", ","),
    ("a;b,c", ","),
])
def test_the_delimiter_is_sniffed_from_the_header(line, delimiter):
    assert sniff(line) == delimiter


def test_a_given_delimiter_wins_and_tsv_means_tab(tmp_path):
    path = write(tmp_path, "x.csv", "a;b|c\n1;2|3\n")
    assert rows_of(path, delimiter="|") == [(2, ["1;2", "3"])]
    assert rows_of(write(tmp_path, "x.tsv", "a,b\tc\n1,2\t3\n")) == [(2, ["1,2", "3"])]


def test_a_trailing_delimiter_is_dropped_but_extra_values_are_a_bad_row(tmp_path):
    path = write(tmp_path, "x.csv", "a,b\n1,2,\n1,2,3\n\n1\n")
    assert rows_of(path) == [
        (2, ["1", "2"]),
        (3, BadRow(3, "row 3 has 3 cells, the header has 2 columns")),
        (5, BadRow(5, "row 5 has 1 cell, the header has 2 columns")),
    ]


def test_a_trailing_delimiter_in_the_header_makes_no_column(tmp_path):
    with open_rows(write(tmp_path, "x.csv", "a;b;\n1;2;\n3;4\n")) as source:
        assert source.header == ["a", "b"]
        assert list(source) == [(2, ["1", "2"]), (3, ["3", "4"])]


def test_old_mac_line_ends_are_read(tmp_path):
    path = write(tmp_path, "mac.csv", 'a,b\r1,"x\ry"\r\r3,4')
    assert rows_of(path) == [(2, ["1", "x\ry"]), (4, ["3", "4"])]


def test_old_mac_line_ends_with_a_line_feed_in_a_quoted_cell(tmp_path):
    """The line end is the first one outside a quoted cell: an LF inside a cell of a CR-ended file is
    the cell's, and does not make the file's lines end in LF (the header would be read as one cell
    running into the rows)."""
    path = write(tmp_path, "mac.csv", 'a,b\r1,"x\ny"\r3,4\r5\r')
    assert rows_of(path) == [(2, ["1", "x\ny"]), (3, ["3", "4"]), (4, BadRow(4, "row 4 has 1 cell, the header has 2 columns"))]
    path = write(tmp_path, "lf.csv", '"a\rb",c\n1,2\n')  # a CR in a quoted header cell, LF line ends
    with open_rows(path) as source:
        assert source.header == ["a\rb", "c"]
        assert list(source) == [(2, ["1", "2"])]


def test_a_file_that_is_not_utf8_names_the_line_and_suggests_cp1252():
    error = input_error(DATA / "contracts-cp1252.csv")
    assert error.row == 3
    assert error.message == ("line 3 is not valid UTF-8 (byte 0xFC at position 6) (if it was saved by "
                             "Excel on Windows, try --encoding cp1252)")


def test_the_same_file_reads_with_its_encoding():
    rows = rows_of(DATA / "contracts-cp1252.csv", encoding="cp1252")
    assert rows[1] == (3, ["C-2", "Müller GmbH", "2016-03-02", "O2 Business S"])


def test_a_utf16_file_with_bom_is_read(tmp_path):
    path = write(tmp_path, "unicode.txt", "a\tb\r\nä\t2\r\n".encode("utf-16"))
    with open_rows(path) as source:
        assert source.header == ["a", "b"]
        assert list(source) == [(2, ["ä", "2"])]


def test_duplicate_header_columns_stop_the_file(tmp_path):
    error = input_error(write(tmp_path, "x.csv", "id,name, id\n1,2,3\n"))
    assert error.message == "the header (row 1) names the column `id` twice (columns 1 and 3)"
    assert error.row == 1


@pytest.mark.parametrize("name, data, message", [
    ("empty.csv", b"", "the file is empty"),
    ("empty.jsonl", b"", "the file is empty"),
    ("blank.csv", b"\n\nid\n", "the header row (row 1) is empty: the first row must name the columns"),
    ("blank.jsonl", b"\n  \n", "the file has no records (only blank lines)"),
    ("data.json", b"{}", "cannot read a file with extension '.json': use .csv, .jsonl, .xlsx, .parquet or "
                         "FILE.duckdb:TABLE (JSON Lines files, one object a line, end in .jsonl)"),
    ("old.xls", b"x", "cannot read a file with extension '.xls': use .csv, .jsonl, .xlsx, .parquet or "
                      "FILE.duckdb:TABLE (save it from Excel as .xlsx)"),
])
def test_unreadable_files_raise_one_clear_error(tmp_path, name, data, message):
    assert input_error(write(tmp_path, name, data)).message == message


def test_missing_files_and_folders(tmp_path):
    assert input_error(tmp_path / "nope.csv").message == "no such file"
    assert input_error(tmp_path).message == "is a folder, not a file"
    assert str(InputError("a.csv", "no such file")) == "a.csv: no such file"


def test_an_unknown_encoding_is_an_input_error(tmp_path):
    error = input_error(write(tmp_path, "x.csv", "a\n"), encoding="klingon")
    assert error.message == ("--encoding: unknown encoding 'klingon' (use a text encoding such as utf-8, "
                             "cp1252, latin-1 or utf-16)")


@pytest.mark.parametrize("encoding", ["rot13", "hex", "base64", "zlib", "punycode", "idna", "undefined"])
def test_an_encoding_that_is_not_for_text_is_an_input_error(tmp_path, encoding):
    path = write(tmp_path, "x.csv", "a\n")
    error = input_error(path, encoding=encoding)
    assert error.path == str(path)
    assert error.message.startswith(f"--encoding: '{encoding}' is not a text encoding (use a text encoding such as utf-8")
    with pytest.raises(InputError):
        open_rows(write(tmp_path, "x.jsonl", '{"a": 1}\n'), encoding=encoding)


def test_reading_streams(tmp_path):
    """A large file is read lazily: the first row arrives before the rest is read."""
    path = write(tmp_path, "big.csv", "a,b\n" + "1,2\n" * 200_000)
    with open_rows(path) as source:
        first = next(iter(source))
        assert first == (2, ["1", "2"])
        assert source.bytes_read < source.size / 10
        assert 0 < source.fraction_read() < 0.1
        assert sum(1 for _ in source) == 199_999
        assert source.fraction_read() == 1.0


def _reasons(rows: list) -> list:
    return [(n, raw.reason if isinstance(raw, BadRow) else raw) for n, raw in rows]


@pytest.mark.parametrize("bad, reason", [
    ("C-2," + "x" * 140_000 + ",2", "row 3 has a cell longer than 131,072 characters"),
    ("C-2,P\r2,2", "row 3 has a line break (CR) inside a cell that is not in quotes"),
    ('C-2,"P-2,2', 'row 3 opens a quote (") that is never closed'),
])
def test_a_row_the_csv_module_cannot_read_is_rejected_and_reading_goes_on(tmp_path, bad, reason):
    path = write(tmp_path, "c.csv", f"id,p,n\nC-1,P-1,1\n{bad}\nC-3,P-3,3\nC-4,P-4,4\n")
    rows = _reasons(rows_of(path))
    assert [n for n, _ in rows] == [2, 3, 4, 5]
    assert rows[0] == (2, ["C-1", "P-1", "1"]) and rows[2:] == [(4, ["C-3", "P-3", "3"]), (5, ["C-4", "P-4", "4"])]
    assert rows[1][1].startswith(reason) and "reading goes on at the next line" in rows[1][1]


def test_a_quote_closed_lines_later_gives_the_swallowed_lines_back(tmp_path):
    path = write(tmp_path, "c.csv", 'id,p,n\nC-1,"P-1,1\nC-2,P-2,2\nC-3,P"-3,3,x\nC-4,P-4,4\n')
    rows = _reasons(rows_of(path))
    assert rows[0][0] == 2 and "probably never closed" in rows[0][1]
    assert rows[1:] == [(3, ["C-2", "P-2", "2"]), (4, BadRow(4, "row 4 has 4 cells, the header has 3 columns").reason),
                        (5, ["C-4", "P-4", "4"])]


def test_a_quote_open_at_the_end_of_a_file_without_a_last_line_end(tmp_path):
    rows = _reasons(rows_of(write(tmp_path, "c.csv", 'id,p\nC-1,P-1\nC-2,"P-2')))
    assert rows[0] == (2, ["C-1", "P-1"]) and rows[1][0] == 3 and "never closed" in rows[1][1]


def test_a_quoted_line_break_is_one_row_and_a_bad_header_stops(tmp_path):
    path = write(tmp_path, "c.csv", 'id,p\r\nC-1,"P\r\n1"\r\nC-2,P-2\r\n')
    assert rows_of(path) == [(2, ["C-1", "P\r\n1"]), (3, ["C-2", "P-2"])]
    error = input_error(write(tmp_path, "h.csv", 'id,"p\nC-1,P-1\n'))
    assert error.row == 1 and "never closed" in error.message
    error = input_error(write(tmp_path, "w.csv", "id," + "y" * 140_000 + "\nC-1,P\n"))
    assert error.row == 1


# --------------------------------------------------------------------------- JSON Lines


def test_json_lines_numbers_rows_by_line_and_yields_bad_lines(tmp_path):
    text = ('{"contract_id": "C-1", "pool_gb": 2.50}\n'
            "\n"
            '[1, 2]\n'
            '{"contract_id": "C-2",, }\n'
            '{"a": 1, "a": 2}\n'
            '{"a": NaN}\n'
            '"text"\n')
    rows = rows_of(write(tmp_path, "x.jsonl", text))
    assert rows[0] == (1, {"contract_id": "C-1", "pool_gb": Decimal("2.50")})
    assert str(rows[0][1]["pool_gb"]) == "2.50"
    assert rows[1:] == [
        (3, BadRow(3, "line 3 is a list, not a JSON object {...}")),
        (4, BadRow(4, "line 4 is not valid JSON: Expecting property name enclosed in double quotes "
                      "at column 23")),
        (5, BadRow(5, 'line 5 is not valid JSON: the key "a" appears twice')),
        (6, BadRow(6, "line 6 is not valid JSON: NaN is not a number JSON allows")),
        (7, BadRow(7, "line 7 is a string, not a JSON object {...}")),
    ]


def test_the_sample_json_lines_through_the_validator():
    block = parse(O2_2016.read_text(encoding="utf-8"), str(O2_2016)).input()
    validator = RowValidator(block)
    with open_rows(DATA / "contracts.jsonl") as source:
        assert source.kind == "jsonl" and source.header is None
        results = []
        for number, raw in source:
            try:
                results.append((number, validator.convert(raw, number)["contract_id"]))
            except RowReject as reject:
                results.append((number, reject.field))
    assert results == [(1, "C-1001"), (2, "C-1002"), (4, "C-1003"), (5, "signed")]


def test_json_lines_decoding_errors_name_the_line(tmp_path):
    error = input_error(write(tmp_path, "x.ndjson", b'{"a": 1}\n{"a": "\xe4"}\n'))
    assert error.row == 2 and error.message.startswith("line 2 is not valid UTF-8")


def test_json_lines_lone_surrogates_are_rejected_rows_naming_the_field(tmp_path):
    path = write(tmp_path, "c.jsonl", '{"id": "C-\\ud800", "n": 1}\n{"id": "C-\\ud83d\\ude00"}\n'
                                       '{"id": "C-3", "tags": ["\\udfff"]}\n{"\\ud800": 1}\n')
    rows = rows_of(path)
    assert [(n, raw.field) if isinstance(raw, BadRow) else (n, raw) for n, raw in rows] == [
        (1, "id"), (2, {"id": "C-\U0001f600"}), (3, "tags"), (4, "(row)")]
    assert "lone surrogate" in rows[0][1].reason and rows[0][1].reason.startswith("line 1:")


# --------------------------------------------------------------------------- XLSX


def make_workbook(path: Path, rows: list[list], sheet: str = "Contracts", first: str | None = None) -> Path:
    book = openpyxl.Workbook()
    if first:
        book.active.title = first
        book.active.append(["unrelated"])
        sheet_ = book.create_sheet(sheet)
    else:
        sheet_ = book.active
        sheet_.title = sheet
    for row in rows:
        sheet_.append(row)
    book.save(path)
    return path


def test_xlsx_rows_keep_their_native_values_and_spreadsheet_numbers(tmp_path):
    path = make_workbook(tmp_path / "c.xlsx", [
        ["contract_id", "signed", "quantity", "pool_gb", None],
        ["C-1", dt.datetime(2016, 3, 1), 3, 2.5],
        [None, None, None, None],
        ["C-2", "01.03.2016", None, None],
        ["C-3", None, None, None, "surplus"],
        [],
    ])
    with open_rows(path) as source:
        assert (source.kind, source.header) == ("xlsx", ["contract_id", "signed", "quantity", "pool_gb"])
        rows = list(source)
        assert source.fraction_read() == 1.0
    assert rows == [
        (2, ["C-1", dt.date(2016, 3, 1), 3, 2.5]),  # a date-time at midnight is read as its date
        (4, ["C-2", "01.03.2016", None, None]),
        (5, BadRow(5, "row 5 has 5 cells, the header has 4 columns")),
    ]
    block = parse(O2_2016.read_text(encoding="utf-8"), str(O2_2016)).input()
    header = ["contract_id", "partner_id", "signed", "product", "quantity", "pool_gb"]
    record = RowValidator(block).for_header(header)(["C-1", 7, dt.datetime(2016, 3, 1), "X", 3, 2.2], 2)
    assert record["partner_id"] == "7" and record["pool_gb"] == Decimal("2.2")


def test_xlsx_sheet_by_name_with_did_you_mean(tmp_path):
    path = make_workbook(tmp_path / "c.xlsx", [["id"], ["C-1"]], sheet="Contracts", first="Notes")
    assert rows_of(path) == []  # the first sheet holds only its header
    assert rows_of(path, sheet="Contracts") == [(2, ["C-1"])]
    assert input_error(path, sheet="contract").message == (
        "the workbook has no sheet 'contract' (did you mean 'Contracts'?)")


def test_a_file_that_is_not_a_workbook(tmp_path):
    message = input_error(write(tmp_path, "c.xlsx", "id,name\n")).message
    assert message.startswith("cannot be opened as an Excel .xlsx workbook")


# --------------------------------------------------------------------------- hash


def test_sha256_of_streams_the_file(tmp_path):
    data = b"x" * (3 << 20) + b"tail"
    path = write(tmp_path, "big.csv", data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
