"""Quality KPIs: share and mean, minimum reports, threshold boundaries, sustained runs.

Most cases are YAML files in tests/fixtures/quality/: a quality block in the ruleset's own
words, the quality reports as CSV, and the expected KPI values
(`PARTNER PERIOD KPI = VALUE of COUNT reports: flagged|-`) and sustained findings. A case with a
`ruleset` (its `input quality` and `quality` blocks as written) runs through `points quality`'s own
pipeline, with the files of a run's output folder (`contracts.csv`, `rejects.csv` or `rows.csv`)
for reports keyed by contract, and lists the rows set apart and rejected as well.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from dsl.ast import Kpi, Number, Percent, Quality, Ruleset, Span, VersionDecl
from engine.quality import (QualityError, QualitySpec, compute_quality, period_label,
                            period_number, quality_spec)

FIXTURES = Path(__file__).parent / "fixtures" / "quality"
FILE = "o2.rules"


def kpi(name: str, text: str, line: int) -> Kpi:
    m = re.fullmatch(r"(share|mean) of (\w+) (above|below) ([\d_.]+)(%?)(?:, at least (\d+) reports?)?", text)
    assert m, f"bad kpi line in fixture: {text!r}"
    number = Decimal(m[4].replace("_", ""))
    threshold = Percent(number / 100) if m[5] else Number(number)
    return Kpi(name, m[1], m[2], m[3], threshold, int(m[6] or 1), Span(FILE, line, 3, line, 60))


def spec_of(block: dict) -> QualitySpec:
    kpis = tuple(kpi(name, text, 40 + i) for i, (name, text) in enumerate(block["kpis"].items()))
    quality = Quality(block["period"], kpis, block.get("sustained", 3), Span(FILE, 39, 1, 45, 2))
    spec = quality_spec(Ruleset(FILE, (VersionDecl("2016"), quality)))
    assert spec is not None
    return spec


def typed(rows_text: str, spec: QualitySpec):
    """Typed records as the validator would give them (a generator: the engine must stream)."""
    kinds = {k.field: k.aggregate for k in spec.kpis}
    for raw in csv.DictReader(io.StringIO(rows_text)):
        record = {}
        for name, cell in raw.items():
            if name == "reported":
                record[name] = date.fromisoformat(cell)
            elif cell == "" and name in kinds:
                record[name] = None
            elif kinds.get(name) == "share":
                record[name] = cell == "true"
            elif kinds.get(name) == "mean":
                record[name] = Decimal(cell)
            else:
                record[name] = cell
        yield record


def value_line(v) -> str:
    value = v.shown if v.value is not None else None
    return f"{v.partner_id} {v.period} {v.kpi} = {value} of {v.count} reports: {'flagged' if v.flagged else '-'}"


def finding_line(f) -> str:
    return f"{f.partner_id} {f.kpi} {f.first}..{f.last} ({f.periods} periods)"


PROGRAM_HEAD = """program "Fixture"
version "1"
effective 2016-01-01
input contract {
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
}
tiers {
  Basic from 0
}
"""


def run_fixture(data: dict, tmp_path: Path):
    """A fixture with a `ruleset`: through the same pipeline as `points quality` (validation, the
    contracts of a run's folder, periods from dates or labels), not through objects built by hand."""
    from engine.program import load_program
    from engine.run import RunOptions
    from engine.statusrun import ContractIndex, run_quality

    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "v1.rules").write_text(PROGRAM_HEAD + data["ruleset"], encoding="utf-8")
    (tmp_path / "reports.csv").write_text(data["reports"], encoding="utf-8")
    index = None
    files = [name for name in ("contracts.csv", "rejects.csv", "rows.csv") if name in data]
    if files:  # the files of a run's output folder, as `points evaluate --out` writes them
        (tmp_path / "run").mkdir()
        for name in files:
            (tmp_path / "run" / name).write_text(data[name], encoding="utf-8")
        index = ContractIndex.from_folder(tmp_path / "run")
    return run_quality(load_program(tmp_path / "program"), str(tmp_path / "reports.csv"), RunOptions(), index)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_fixture(path, tmp_path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "ruleset" in data:
        run = run_fixture(data, tmp_path)
        report = run.report
        assert [value_line(v) for v in report.values] == data["values"]
        assert [finding_line(f) for f in report.findings] == data["findings"]
        assert [f"row {r} {cid}: {code}" for r, cid, code, _ in run.set_aside] == data["set_aside"]
        assert [f"row {r} {field}: {why}" for r, field, why in run.rejects] == data["rejects"]
        # every report row is accounted for: counted, rejected or set apart with its reason
        assert run.rows == report.records + len(run.rejects) + len(run.set_aside)
        if "lenient" in data:  # values only a lenient reading accepted, as the manifest holds them
            from engine.run import Counts

            assert Counts(lenient=run.lenient).lenient_json() == data["lenient"]
        if "wide" in data:
            out = io.StringIO()
            w = csv.DictWriter(out, fieldnames=report.wide_header(), lineterminator="\n")
            w.writeheader()
            w.writerows(report.wide_rows())
            assert out.getvalue() == data["wide"]
        return
    spec = spec_of(data["quality"])
    report = compute_quality(typed(data["reports"], spec), spec)
    if "values" in data:
        assert [value_line(v) for v in report.values] == data["values"]
    assert [finding_line(f) for f in report.findings] == data["findings"]


# --------------------------------------------------------------------------- details

SPEC = {"period": "quarter", "sustained": 2, "kpis": {
    "Payment defaults": "share of missed_payment above 5%",
    "Low usage": "mean of usage_pct below 40, at least 2 reports"}}


def record(partner: str, day: str, missed=None, usage=None) -> dict:
    return {"partner_id": partner, "contract_id": "c", "reported": date.fromisoformat(day),
            "missed_payment": missed, "usage_pct": usage}


def test_quality_spec_from_the_ast():
    spec = spec_of(SPEC)
    first, second = spec.kpis
    assert (first.id, first.aggregate, first.threshold, first.min_reports) == (
        "payment-defaults", "share", Decimal("0.05"), 1)
    assert (second.direction, second.threshold, second.min_reports) == ("below", Decimal(40), 2)
    assert (spec.period, spec.sustained, first.span.line) == ("quarter", 2, 40)


def test_no_quality_block_gives_none():
    assert quality_spec(Ruleset(FILE, (VersionDecl("2016"),))) is None


def test_a_kpi_with_no_values_has_no_value_and_no_flag():
    spec = spec_of(SPEC)
    report = compute_quality([record("P", "2016-01-01", missed=True)], spec)
    usage = report.values[1]
    assert (usage.kpi, usage.reports, usage.count, usage.value, usage.flagged) == ("low-usage", 1, 0, None, False)


def test_rows_are_ordered_and_json_ready():
    spec = spec_of(SPEC)
    records = [record("b", "2016-05-01", True, Decimal(10)), record("a", "2016-08-01", False, Decimal(50)),
               record("a", "2016-02-01", True, Decimal(10)), record("a", "2016-02-02", True, Decimal(20))]
    report = compute_quality(records, spec)
    rows = report.rows()
    assert [(r["partner_id"], r["period"], r["kpi"]) for r in rows] == [
        ("a", "2016-Q1", "payment-defaults"), ("a", "2016-Q1", "low-usage"),
        ("a", "2016-Q3", "payment-defaults"), ("a", "2016-Q3", "low-usage"),
        ("b", "2016-Q2", "payment-defaults"), ("b", "2016-Q2", "low-usage")]
    assert rows[1] == {"partner_id": "a", "period": "2016-Q1", "kpi": "low-usage", "name": "Low usage",
                       "reports": 2, "count": 2, "value": "15", "direction": "below",
                       "threshold": "40", "flagged": True}
    data = json.loads(report.dumps())
    assert data["records"] == 4 and data["findings"] == []
    assert report.dumps() == compute_quality(reversed(records), spec).dumps()


def test_findings_export_names_the_kpi_source_line():
    spec = spec_of(SPEC)
    report = compute_quality([record("P", "2016-01-01", True), record("P", "2016-04-01", True)], spec)
    assert report.finding_rows() == [{"partner_id": "P", "kpi": "payment-defaults", "name": "Payment defaults",
                                      "first": "2016-Q1", "last": "2016-Q2", "periods": 2,
                                      "source": "o2.rules:40"}]


def test_integer_values_average_exactly():
    spec = spec_of({"period": "year", "kpis": {"Low": "mean of usage_pct below 1"}})
    report = compute_quality([record("P", "2016-01-01", usage=1), record("P", "2016-01-01", usage=2)], spec)
    assert report.values[0].value == Decimal("1.5")


@pytest.mark.parametrize("field, value, message", [
    ("missed_payment", "yes", "missed_payment = 'yes' is not a boolean"),
    ("usage_pct", True, "usage_pct = True is not a number"),
    ("usage_pct", 0.5, "usage_pct = 0.5 is not a number"),
])
def test_wrongly_typed_value_is_a_clear_error(field, value, message):
    spec = spec_of(SPEC)
    bad = record("P", "2016-01-01") | {field: value}
    with pytest.raises(QualityError, match=re.escape(f"quality record 2: {message}")):
        compute_quality([record("P", "2016-01-01"), bad], spec)


def test_record_without_partner_or_date_is_refused():
    spec = spec_of(SPEC)
    with pytest.raises(QualityError, match="needs partner_id and a reported date"):
        compute_quality([{"partner_id": "", "reported": date(2016, 1, 1)}], spec)


@pytest.mark.parametrize("day, unit, label", [
    ("2016-03-31", "year", "2016"), ("2016-03-31", "quarter", "2016-Q1"), ("2016-04-01", "quarter", "2016-Q2"),
    ("2016-12-31", "quarter", "2016-Q4"), ("2016-03-31", "month", "2016-03"), ("2016-12-01", "month", "2016-12"),
])
def test_period_labels(day, unit, label):
    assert period_label(period_number(date.fromisoformat(day), unit), unit) == label


def test_quality_does_not_import_scoring_or_status_code():
    # engine.periods is the calendar (period labels), shared by points and quality alike
    code = ("import sys, engine.quality; "
            "bad = [m for m in sys.modules if m.startswith('engine.') and m not in ('engine.quality', 'engine.periods')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, check=True)
    assert out.stdout.strip() == "[]"


def test_o2_program_quality_block():
    from dsl.parser import parse_file

    spec = quality_spec(parse_file(Path(__file__).parent.parent / "rulesets" / "o2-business" / "2016-03.rules"))
    assert [(k.id, k.aggregate, k.direction, k.threshold, k.min_reports) for k in spec.kpis] == [
        ("payment-defaults", "share", "above", Decimal("0.05"), 5),
        ("low-usage", "mean", "below", Decimal(40), 5),
        ("churn", "share", "above", Decimal("0.1"), 5)]
    assert (spec.period, spec.sustained) == ("quarter", 3)


# --------------------------------------------------------------------------- `points quality` end to end

ROOT = Path(__file__).parent.parent
O2 = str(ROOT / "rulesets" / "o2-business")
CONTRACTS = str(ROOT / "examples" / "contracts.csv")
REPORTS = str(ROOT / "examples" / "quality.csv")


def points_cmd(capsys, *argv) -> tuple[int, str, str]:
    from engine.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_quality_by_contract_from_the_export_says_what_it_set_apart(capsys, tmp_path):
    code, out, _ = points_cmd(capsys, "quality", O2, REPORTS, "--contracts", CONTRACTS, "--out", str(tmp_path))
    assert code == 0
    assert out.splitlines()[:4] == [
        "quality rows: 3,693 read, 3,605 counted, 4 rejected, 84 set aside (reports by scored contract)",
        "  1 set aside: the contract's row was rejected [rejected-contract]: C-000941",
        "  1 set aside: the contract is not in the evaluated contracts [unknown-contract]: C-999999",
        "  82 set aside: the contract is unscored, and only scored contracts count [unscored-contract]: "
        "C-000619, C-001738, C-001836",
    ]
    wide = (tmp_path / "kpis_wide.csv").read_text(encoding="utf-8").splitlines()
    assert wide[0] == ("partner_id,period,reports,payment-defaults,payment-defaults_flagged,low-usage,"
                       "low-usage_flagged,churn,churn_flagged")
    long = (tmp_path / "kpis.csv").read_text(encoding="utf-8").splitlines()
    assert len(long) - 1 == 3 * (len(wide) - 1) and all(r.endswith((",true", ",false")) for r in long[1:])
    assert "P-014,2016-Q4,29,0.0000,false,71.3,false,0.2069,true" in wide  # shown to 4 / 1 / 4 decimals
    assert "P-014,2016-Q4,churn,Churn,29,29,0.2069,above,0.1,true" in long
    aside = (tmp_path / "quality_set_aside.csv").read_text(encoding="utf-8").splitlines()
    assert aside[0] == "row,contract_id,code,reason" and len(aside) == 85


def test_quality_from_a_run_folder_agrees_with_the_export(capsys, tmp_path):
    """A run's folder (its rows.csv names every row's ids and status) sets the same reports apart,
    for the same reasons, as the export evaluated in place."""
    import json

    assert points_cmd(capsys, "evaluate", O2, CONTRACTS, "--out", str(tmp_path / "run"))[0] == 0
    assert (tmp_path / "run" / "rows.csv").exists()
    _, from_data, _ = points_cmd(capsys, "quality", O2, REPORTS, "--contracts", CONTRACTS, "--json")
    code, from_dir, _ = points_cmd(capsys, "quality", O2, REPORTS, "--contracts", str(tmp_path / "run"), "--json")
    a, b = json.loads(from_data), json.loads(from_dir)
    assert code == 0 and a["values"] == b["values"] and a["findings"] == b["findings"]
    assert a["counts"]["set_aside_reasons"] == {"rejected-contract": 1, "unknown-contract": 1, "unscored-contract": 82}
    assert b["counts"]["set_aside_reasons"] == a["counts"]["set_aside_reasons"]
    assert [f["partner_id"] for f in a["findings"]] == ["P-014"]


def test_quality_contracts_that_do_not_exist_or_are_no_run_folder(capsys, tmp_path):
    code, _, err = points_cmd(capsys, "quality", O2, REPORTS, "--contracts", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv does not exist" in err
    code, _, err = points_cmd(capsys, "quality", O2, REPORTS, "--contracts", str(tmp_path))
    assert code == 2 and "not the output folder of a run" in err


def test_reports_keyed_by_partner_still_work(capsys, tmp_path):
    """Today's form: `partner_id` and a `reported` date on every row, no --contracts needed."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "v1.rules").write_text(PROGRAM_HEAD + """
input quality {
  partner_id: text, required
  reported:   date, required
  cancelled:  boolean, default false
}
quality {
  period quarter
  kpi "Churn": share of cancelled above 10%
  sustained 2 periods
}
""", encoding="utf-8")
    (tmp_path / "q.csv").write_text("partner_id,reported,cancelled\nP1,2016-12-31,true\nP1,2017-01-01,true\n"
                                    "P2,2016-12-31,false\n", encoding="utf-8")
    import json

    code, out, _ = points_cmd(capsys, "quality", str(tmp_path / "p"), str(tmp_path / "q.csv"), "--json")
    data = json.loads(out)
    assert code == 0 and data["reports_by"] == "partner" and data["counts"]["set_aside"] == 0
    assert [(f["partner_id"], f["first"], f["last"]) for f in data["findings"]] == [("P1", "2016-Q4", "2017-Q1")]
    code, _, err = points_cmd(capsys, "quality", str(tmp_path / "p"), str(tmp_path / "q.csv"), "--contracts", CONTRACTS)
    assert code == 2 and err.strip() == (f"error: {tmp_path / 'p' / 'v1.rules'}:18:1: the quality block reads reports "
                                         "by partner, so --contracts is not used: drop it, or write "
                                         "`reports by scored contract`")


# --------------------------------------------------------------------------- the quality block as written


def _checked(block: str):
    from dsl.checks import check
    from dsl.parser import parse

    return [(d.code, d.message) for d in check(parse(PROGRAM_HEAD + block, file="q.rules"))]


def test_reports_by_contract_need_a_contract_id_not_a_partner_id():
    block = """input quality {
  partner_id: text, required
  reported:   date, required
  cancelled:  boolean, default false
}
quality {
  period quarter
  reports by valid contract
  kpi "Churn": share of cancelled above 10%
}
"""
    assert _checked(block) == [("N205", "input quality must declare `contract_id` (text): it names the contract, "
                                        "whose partner the report counts for")]
    fixed = block.replace("partner_id: text", "contract_id: text").replace("reported:   date", "reported:   text")
    assert _checked(fixed) == []


@pytest.mark.parametrize("line, message", [
    ("reports by customer", "unknown report key `customer`"),
    ("reports by counted contract", "unknown kind of contract `counted`"),
    ("reports by scored partner", "unknown report key `scored partner`"),
])
def test_a_wrong_reports_line_is_a_syntax_error_with_its_words(line, message):
    from dsl.errors import RulesetError
    from dsl.parser import parse

    with pytest.raises(RulesetError) as err:
        parse(PROGRAM_HEAD + f"quality {{\n  period quarter\n  {line}\n}}\n", file="q.rules")
    assert [(d.code, d.message) for d in err.value.diagnostics] == [("P112", message)]


def test_the_example_program_reads_reports_by_scored_contract():
    from dsl.parser import parse_file

    for version in ("2016-03", "2017-01", "2018-01"):
        spec = quality_spec(parse_file(ROOT / "rulesets" / "o2-business" / f"{version}.rules"))
        assert (spec.key, spec.counting, [k.decimals for k in spec.kpis]) == ("contract", "scored", [4, 1, 4])


def test_a_run_folder_is_read_back_with_its_cells_restored(capsys, tmp_path):
    """A contract id a spreadsheet would run is written `'=C-1` in rows.csv; reading the folder back
    takes the quote off again, so the report on `=C-1` finds its contract."""
    import json

    (tmp_path / "p").mkdir()
    text = (Path(O2) / "2018-01.rules").read_text(encoding="utf-8")
    (tmp_path / "p" / "v.rules").write_text(text, encoding="utf-8")
    data = tmp_path / "c.csv"
    data.write_text("contract_id,partner_id,signed,product,customer,quantity,pool_gb\n"
                    "=C-1,P-1,2018-02-01,O2 Business M,new,1,\n", encoding="utf-8")
    reports = tmp_path / "q.csv"
    reports.write_text("contract_id,reported,missed_payment,usage_pct,cancelled\n"
                       + "".join(f"=C-1,2018-0{m},false,50,false\n" for m in (1, 2, 3)), encoding="utf-8")
    assert points_cmd(capsys, "evaluate", str(tmp_path / "p"), str(data), "--out", str(tmp_path / "run"))[0] == 0
    assert "'=C-1" in (tmp_path / "run" / "rows.csv").read_text(encoding="utf-8")
    code, out, _ = points_cmd(capsys, "quality", str(tmp_path / "p"), str(reports), "--contracts",
                              str(tmp_path / "run"), "--json")
    assert code == 0
    data_out = json.loads(out)
    assert data_out["counts"]["counted"] == 3 and data_out["counts"]["set_aside"] == 0


def test_points_quality_prints_and_records_lenient_readings(tmp_path, monkeypatch, capsys):
    from engine.cli import main

    data = yaml.safe_load((FIXTURES / "lenient_readings.yaml").read_text(encoding="utf-8"))
    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "v1.rules").write_text(PROGRAM_HEAD + data["ruleset"], encoding="utf-8")
    (tmp_path / "reports.csv").write_text(data["reports"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["quality", "program", "reports.csv", "--out", "out"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [
        "quality rows: 9 read, 7 counted, 2 rejected",
        "lenient: 1 partner_id value with spaces around the text, trimmed: 'P1 '",
        "lenient: 1 reported value in the German date form (01.03.2016), not ISO: '30.04.2016'",
        "lenient: 3 reported values as a period label spelled otherwise than 2016-05, 2016-Q2 or 2016: "
        "'2016Q2', 'q2 2016', 'Q2-2016'",
        "lenient: 2 usage_pct values in a number form strict numbers refuse (+3, .5, 5., -0): '.5', '+50'",
    ]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["lenient"] == data["lenient"]
    assert manifest["inputs"][0]["file"] == "reports.csv" and manifest["inputs"][0]["counts"] == manifest["counts"]
    assert sorted(manifest["outputs"]) == ["findings.csv", "kpis.csv", "kpis_wide.csv", "quality_rejects.csv",
                                           "quality_set_aside.csv"]
    assert main(["quality", "program", "reports.csv", "--out", "again"]) == 0
    assert (tmp_path / "again" / "manifest.json").read_bytes() == (tmp_path / "out" / "manifest.json").read_bytes()
    capsys.readouterr()
    assert main(["quality", "program", "reports.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["lenient"] == data["lenient"]
