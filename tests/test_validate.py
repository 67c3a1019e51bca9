"""The compiled row validator: typed values, rejects with a reason, unique tracking."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from decimal import Decimal

import pytest

from dsl import parse
from engine.validate import RowReject, RowValidator

RULESET = """
program "Test"
version "1"
effective 2016-01-01

input contract {
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
  customer:    one of (new, existing), default new
  quantity:    integer >= 1, default 1
  pool_gb:     decimal >= 0 <= 1000, default 0
  active:      boolean, default false
  note:        text
}
"""
HEADER = ["contract_id", "partner_id", "signed", "product", "customer", "quantity", "pool_gb",
          "active", "note"]
GOOD = ["C-1", "P-1", "2016-03-01", "O2 Business M", "new", "3", "2.5", "yes", "hello"]


def block(text: str = RULESET):
    ruleset = parse(text, "test.rules")
    return ruleset.input() or ruleset.input("quality")


@pytest.fixture
def validator() -> RowValidator:
    return RowValidator(block())


def row_with(**cells) -> list[str]:
    out = list(GOOD)
    for name, value in cells.items():
        out[HEADER.index(name)] = value
    return out


def reject_of(convert, cells, row=2) -> RowReject:
    with pytest.raises(RowReject) as caught:
        convert(cells, row)
    return caught.value


def test_a_good_row_becomes_a_typed_record(validator):
    record = validator.for_header(HEADER)(GOOD, 2)
    assert record == {
        "contract_id": "C-1", "partner_id": "P-1", "signed": dt.date(2016, 3, 1),
        "product": "O2 Business M", "customer": "new", "quantity": 3, "pool_gb": Decimal("2.5"),
        "active": True, "note": "hello",
    }
    assert type(record["quantity"]) is int and type(record["pool_gb"]) is Decimal


def test_cells_are_trimmed_and_empty_cells_take_defaults_or_none(validator):
    cells = row_with(contract_id="  C-9 ", customer="", quantity=" ", pool_gb="", active="", note="  ")
    record = validator.for_header(HEADER)(cells, 2)
    assert record["contract_id"] == "C-9"
    assert (record["customer"], record["quantity"], record["pool_gb"], record["active"]) == (
        "new", 1, Decimal(0), False)
    assert record["note"] is None


def test_absent_optional_columns_take_defaults():
    header = ["signed", "contract_id", "product", "partner_id"]
    record = RowValidator(block()).for_header(header)(["01.03.2016", "C-1", "X", "P"], 2)
    assert record["signed"] == dt.date(2016, 3, 1)
    assert record["quantity"] == 1 and record["customer"] == "new" and record["note"] is None


@pytest.mark.parametrize("field, cell, reason", [
    ("quantity", "2.5", "`quantity` must be a whole number, got '2.5'"),
    ("quantity", "1_000", "`quantity` must be a whole number, got '1_000'"),
    ("quantity", "0", "`quantity` must be at least 1, got '0'"),
    ("pool_gb", "abc", "`pool_gb` must be a number like 2.5, got 'abc'"),
    ("pool_gb", "1e3", "`pool_gb` must be a number like 2.5, got '1e3'"),
    ("pool_gb", "1000.5", "`pool_gb` must be at most 1000, got '1000.5'"),
    ("pool_gb", "-1", "`pool_gb` must be at least 0, got '-1'"),
    ("signed", "", "`signed` is required"),
    ("signed", "2016-02-30", "`signed` must be a date like 2016-03-01 or 01.03.2016, got "
                             "'2016-02-30' (day is out of range for month)"),
    ("signed", "3/1/2016", "`signed` must be a date like 2016-03-01 or 01.03.2016, got '3/1/2016'"),
    ("customer", "nwe", "`customer` must be one of new, existing, got 'nwe' (did you mean new?)"),
    ("customer", "old", "`customer` must be one of new, existing, got 'old'"),
    ("active", "maybe", "`active` must be yes or no (or true/false, 1/0, ja/nein), got 'maybe'"),
])
def test_bad_cells_are_rejected_with_a_sentence(validator, field, cell, reason):
    reject = reject_of(validator.for_header(HEADER), row_with(**{field: cell}), row=7)
    assert (reject.field, reject.value, reject.reason, reject.row) == (field, cell, reason, 7)
    assert str(reject) == reason


@pytest.mark.parametrize("cell, value", [
    ("12", 12), ("+3", 3), (" 4 ", 4),
])
def test_integers(validator, cell, value):
    assert validator.for_header(HEADER)(row_with(quantity=cell))["quantity"] == value


@pytest.mark.parametrize("cell, value", [
    ("true", True), ("FALSE", False), ("Yes", True), ("no", False), ("1", True), ("0", False),
    ("ja", True), ("NEIN", False),
])
def test_booleans(validator, cell, value):
    assert validator.for_header(HEADER)(row_with(active=cell))["active"] is value


def test_choices_match_case_insensitively_in_cells(validator):
    assert validator.for_header(HEADER)(row_with(customer="Existing"))["customer"] == "existing"


def fresh(decimal_comma: bool = False):
    """A converter with nothing seen yet, so a repeated contract_id is no concern."""
    return RowValidator(block(), decimal_comma=decimal_comma).for_header(HEADER)


def test_decimal_point_and_decimal_comma():
    assert fresh()(row_with(pool_gb=".5"))["pool_gb"] == Decimal("0.5")
    assert "use --decimal-comma" in reject_of(fresh(), row_with(pool_gb="2,5")).reason
    assert "without thousands separators" in reject_of(fresh(), row_with(pool_gb="1,234.5")).reason

    assert fresh(True)(row_with(pool_gb="2,5"))["pool_gb"] == Decimal("2.5")
    assert fresh(True)(row_with(pool_gb="7"))["pool_gb"] == Decimal("7")
    # In a comma export a point is a thousands separator: rejected, never read as a fraction.
    for cell in ("1.234,5", "1.234", "2.5"):
        reject = reject_of(fresh(True), row_with(pool_gb=cell))
        assert reject.reason == (f"`pool_gb` must be a number like 2,5, got '{cell}' "
                                 "(with a decimal comma, write numbers without thousands separators)")


def test_native_xlsx_values_are_taken_by_value(validator):
    cells = ["C-1", 4711, dt.datetime(2016, 3, 1, 0, 0), "X", "new", 3.0, 2.2, True, None]
    record = validator.for_header(HEADER)(cells, 2)
    assert record["partner_id"] == "4711" and record["signed"] == dt.date(2016, 3, 1)
    assert record["quantity"] == 3 and record["pool_gb"] == Decimal("2.2") and record["active"] is True
    assert reject_of(validator.for_header(HEADER), row_with(quantity=2.5)).field == "quantity"
    assert reject_of(validator.for_header(HEADER), row_with(quantity=True)).field == "quantity"


def test_unique_repeats_name_the_first_row(validator):
    convert = validator.for_header(HEADER)
    convert(row_with(contract_id="C-17"), 12)
    convert(row_with(contract_id="C-18"), 13)
    reject = reject_of(convert, row_with(contract_id=" C-17"), row=20)
    assert (reject.field, reject.row) == ("contract_id", 20)
    assert reject.reason == "`contract_id` 'C-17' repeats row 12"


def test_a_rejected_row_does_not_claim_its_unique_value(validator):
    convert = validator.for_header(HEADER)
    reject_of(convert, row_with(contract_id="C-5", quantity="x"), row=3)
    assert convert(row_with(contract_id="C-5"), 4)["contract_id"] == "C-5"


def test_unique_values_are_shared_between_json_and_cells(validator):
    validator.convert({"contract_id": "C-1", "partner_id": "P", "signed": "2016-03-01", "product": "X"}, 1)
    assert "repeats row 1" in reject_of(validator.for_header(HEADER), GOOD, row=2).reason


def test_short_rows_read_missing_cells(validator):
    record = validator.for_header(HEADER)(GOOD[:4], 2)
    assert record["quantity"] == 1 and record["note"] is None


def test_header_problems_name_missing_required_columns_with_did_you_mean(validator):
    problems = validator.header_problems(["Contract_ID", "partner", "product", "quantity", "Signed on"])
    assert problems == [
        "the required column `contract_id` is missing (did you mean `Contract_ID`?)",
        "the required column `partner_id` is missing (did you mean `partner`?)",
        "the required column `signed` is missing (did you mean `Signed on`?)",
    ]
    assert validator.header_problems(HEADER) == []


def test_header_notes_warn_of_an_unread_column_close_to_an_optional_field(validator):
    header = ["contract_id", "partner_id", "signed", "product", "quantiy", "Customer", "pool_gb", "remark"]
    assert validator.header_notes(header) == [
        "the column `Customer` is not read; if it means `customer`, rename it: without it every row "
        "takes the default 'new' for `customer`",
        "the column `quantiy` is not read; if it means `quantity`, rename it: without it every row "
        "takes the default 1 for `quantity`",
    ]
    assert validator.header_notes(HEADER) == []


def test_absurdly_long_numbers_are_rejected_not_crashed(validator):
    reject = reject_of(validator.for_header(HEADER), row_with(quantity="9" * 5000))
    assert reject.field == "quantity" and reject.reason.startswith("`quantity` is out of range (at most 18 digits")


def test_absurd_magnitudes_are_rejected(validator):
    record = {"contract_id": "C-1", "partner_id": "P", "signed": "2016-03-01", "product": "X"}
    with pytest.raises(RowReject, match=r"`quantity` is out of range \(.*\), got 1E"):
        validator.convert({**record, "quantity": Decimal("1E+999999999")})
    with pytest.raises(RowReject, match=r"`pool_gb` is out of range \(.*\), got 1E-50"):
        validator.convert({**record, "pool_gb": Decimal("1E-50")})
    assert "is out of range" in reject_of(validator.for_header(HEADER), row_with(pool_gb="1" * 50)).reason


def test_a_date_accepted_in_a_cell_stays_a_bad_json_date(validator):
    assert validator.for_header(HEADER)(row_with(signed="01.03.2016"))["signed"] == dt.date(2016, 3, 1)
    with pytest.raises(RowReject, match="like 2016-03-01, got '01.03.2016'"):
        validator.convert({"contract_id": "C-2", "partner_id": "P", "signed": "01.03.2016", "product": "X"})


def test_a_missing_required_column_rejects_each_row(validator):
    convert = validator.for_header(["contract_id", "partner_id", "product"])
    assert reject_of(convert, ["C-1", "P", "X"]).reason == "`signed` is required"


# --------------------------------------------------------------------------- JSON records


def test_json_records_are_typed(validator):
    record = validator.convert({"contract_id": "C-1", "partner_id": " P ", "signed": "2016-03-01",
                                "product": "X", "quantity": 2, "pool_gb": Decimal("1.25"),
                                "active": True, "extra": [1, 2]}, 1)
    assert record["partner_id"] == "P" and record["quantity"] == 2
    assert record["pool_gb"] == Decimal("1.25") and record["active"] is True
    assert "extra" not in record and record["customer"] == "new"


@pytest.mark.parametrize("field, value, reason", [
    ("quantity", "3", "`quantity` must be a whole number written as a JSON number (without quotes), got the text '3'"),
    ("quantity", True, "`quantity` must be a whole number, got true"),
    ("quantity", Decimal("2.5"), "`quantity` must be a whole number, got 2.5"),
    ("signed", "01.03.2016", "`signed` must be a date like 2016-03-01, got '01.03.2016'"),
    ("active", "yes", "`active` must be yes or no (or true/false, 1/0, ja/nein), got 'yes'"),
    ("contract_id", 17, "`contract_id` must be text, got 17"),
    ("contract_id", "  ", "`contract_id` is required"),
    ("customer", "New", "`customer` must be one of new, existing, got 'New' (did you mean new?)"),
    ("pool_gb", [1], "`pool_gb` must be a number like 2.5, got a list"),
])
def test_json_values_must_have_the_schema_type(validator, field, value, reason):
    record = {"contract_id": "C-1", "partner_id": "P", "signed": "2016-03-01", "product": "X", field: value}
    with pytest.raises(RowReject) as caught:
        validator.convert(record, 5)
    assert (caught.value.field, caught.value.reason, caught.value.row) == (field, reason, 5)


def test_json_whole_decimals_are_integers_and_decimal_strings_are_exact(validator):
    record = validator.convert({"contract_id": "C-1", "partner_id": "P", "signed": "2016-03-01",
                                "product": "X", "quantity": Decimal("3.0"), "pool_gb": "0.10"})
    assert record["quantity"] == 3 and type(record["quantity"]) is int
    assert str(record["pool_gb"]) == "0.10"


def test_defaults_of_every_kind_are_typed():
    text = """program "T"
version "1"
effective 2016-01-01
input quality {
  partner_id: text, required
  reported:   date >= 2016-01-01 < 2017-01-01, default 2016-05-01
  flag:       boolean, default true
  share:      decimal > -5 <= 2.5, default 0.5
  kind:       one of (a, "b c"), default "b c"
  label:      text, default "none"
}
"""
    record = RowValidator(block(text)).convert({"partner_id": "P"})
    assert record == {"partner_id": "P", "reported": dt.date(2016, 5, 1), "flag": True,
                      "share": Decimal("0.5"), "kind": "b c", "label": "none"}
    convert = RowValidator(block(text)).for_header(["partner_id", "reported", "share"])
    assert reject_of(convert, ["P", "2017-01-01", ""]).reason == (
        "`reported` must be before 2017-01-01, got '2017-01-01'")
    assert reject_of(convert, ["P", "", "-5"]).reason == "`share` must be more than -5, got '-5'"


def test_dates_outside_1900_to_2999_are_out_of_range_on_both_paths(tmp_path):
    from engine.program import load_program
    from engine.run import RunOptions, evaluate

    program = load_program(Path(__file__).resolve().parent.parent / "rulesets" / "o2-business")
    data = tmp_path / "c.csv"
    data.write_text("contract_id,partner_id,signed,product\nC-1,P-1,9999-12-31,O2 Business S\n"
                    "C-2,P-1,01.01.1899,O2 Business S\nC-3,P-1,2016-05-01,O2 Business S\n", encoding="utf-8")
    batch = evaluate(program, data, out_dir=tmp_path / "batch")
    rows = evaluate(program, data, RunOptions(trace_when=lambda row, record: False), out_dir=tmp_path / "rows")
    for result in (batch, rows):
        assert result.counts.rejected == 2 and result.counts.scored == 1
        assert result.counts.last_signed.year == 2016
    text = (tmp_path / "batch" / "rejects.csv").read_text(encoding="utf-8")
    assert text.count(",signed,") == 2 and "out-of-range" in text and "dates from 1900-01-01 to 2999-12-31" in text
    assert text == (tmp_path / "rows" / "rejects.csv").read_text(encoding="utf-8")
