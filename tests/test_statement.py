"""Partner statements: the data model, the HTML (exact values, German and English, escaping), the PDF
(text, page count, one rendered page against a stored image) and `points statement` end to end."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("jinja2", reason="statements need Jinja2 (the `statements` extra: pip install -e '.[dev]')")
pytest.importorskip("babel", reason="statements need Babel (the `statements` extra: pip install -e '.[dev]')")

from engine.cli import main  # noqa: E402
from engine.program import load_program  # noqa: E402
from engine.report.model import Evaluation, StatementError, from_evaluation  # noqa: E402
from engine.report.render import html  # noqa: E402
from statement_html import tables  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "rulesets/o2-business"
DATA = "examples/contracts.csv"
LEGACY = "examples/legacy.csv"
QUALITY = "examples/quality.csv"
FIXTURES = Path(__file__).parent / "fixtures" / "statement"
HEADER = "contract_id,partner_id,partner_name,signed,product,customer,quantity,pool_gb,sales_rep\n"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the statement names the ruleset files as given, relative to the repository


@pytest.fixture(scope="module")
def program():
    return load_program(PROGRAM)


@pytest.fixture(scope="module")
def p008(program):
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return from_evaluation(program, DATA, "P-008", "2017", legacy=LEGACY, quality=QUALITY, limit=5)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def flagged(program):
    """Two partners with quality flags in 2017, from one pass over the export and the reports."""
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return Evaluation.run(program, DATA, ["P-012", "P-005"], quality=QUALITY)
    finally:
        os.chdir(old)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed (poppler-utils; .ci/run installs it)")


def need_pdf() -> None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as err:
        pytest.skip(f"PDF statements need WeasyPrint and Pango (the `pdf` extra): {err}")


# --------------------------------------------------------------------------- the model


def test_model_p008_2017(p008):
    s = p008
    assert (s.partner_id, s.period, s.points, s.earned) == ("P-008", "2017", Decimal(10061), "Advanced")
    assert sum(r.points for r in s.by_rule) == s.points
    mobile = s.by_rule[0]
    assert (mobile.name, mobile.points, mobile.contracts) == ("Mobile tariffs", Decimal(7140), 17)
    assert sum(t.points for t in mobile.rows) == mobile.points  # every point of a table rule is in one row
    assert sum(t.contracts for t in mobile.rows) == mobile.contracts
    assert (s.contracts_scored, len(s.contracts), s.contracts_more) == (30, 5, 25)
    assert sum(c.points for c in s.contracts) + s.contracts_more_points == s.points
    r = s.review
    assert (r.status, r.decided, r.target, r.needed_to_keep, r.after, r.rule) == (
        "Expert", True, Decimal(15000), Decimal(4939), "Advanced", "downgrade to earned")
    assert (r.next_tier, r.needed_for_next, r.policy_version) == ("ExpertPlus", Decimal(34939), "2017.01")
    assert s.version.name == "2017.01" and len(s.version.sha256) == 64
    assert s.quality == () and s.quality_given


def test_model_agrees_with_explain(capsys, p008):
    """The statement and `points explain` are the same numbers (one implementation)."""
    code, out, err = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--period", "2017", "--legacy", LEGACY,
                         "--json")
    import json

    period = json.loads(out)["periods"][0]
    assert Decimal(period["points"]) == p008.points and period["earned"] == p008.earned
    assert {r["rule"]: Decimal(r["points"]) for r in period["by_rule"]} == {r.name: r.points for r in p008.by_rule}
    assert period["held"]["after"] == p008.review.after
    assert Decimal(period["held"]["needed_to_keep"]) == p008.review.needed_to_keep


def test_model_quality_flags_of_the_period(program, flagged):
    s = flagged.statement("P-012", "2017")
    assert [(q.name, q.period, q.value, q.reports) for q in s.quality] == [
        ("Payment defaults", "2017-Q1", "0.3077", 39), ("Payment defaults", "2017-Q2", "0.2326", 43)]
    assert s.points == from_evaluation(program, DATA, "P-012", "2017").points  # quality never changes points


def test_model_unknown_partner_and_period(program):
    with pytest.raises(StatementError, match="no valid row for partner P-999"):
        from_evaluation(program, DATA, "P-999", "2017")
    with pytest.raises(StatementError, match=r"partner P-008 has no contracts in period 2031; its periods: 2016, 2017, 2018"):
        from_evaluation(program, DATA, "P-008", "2031")
    with pytest.raises(StatementError, match="--period: `17` is no period"):
        from_evaluation(program, DATA, "P-008", "17")


# --------------------------------------------------------------------------- HTML


def test_html_english_exact(p008):
    t = tables(html(p008, "en"))
    assert t["summary"] == [["Points from the rules", "10,061"], ["Tier earned by the points", "Advanced"],
                            ["Status held in the period", "Expert"]]
    assert t["by-rule"][:4] == [
        ["Rule", "Contracts", "Points", "Source"],
        ["Mobile tariffs", "17", "7,140", "rulesets/o2-business/2017-01.rules:52"],
        ["table row mobile_tariffs[O2 Business M, new]", "4", "3,080", "rulesets/o2-business/2017-01.rules:47"],
        ["table row mobile_tariffs[O2 Business L, new]", "3", "1,680", "rulesets/o2-business/2017-01.rules:48"],
    ]
    assert t["tiers"] == [
        ["Tier", "from", "", "Source"],
        ["Basic", "0", "reached", "rulesets/o2-business/2017-01.rules:37"],
        ["Advanced ✓", "8,000", "reached", "rulesets/o2-business/2017-01.rules:38"],
        ["Expert", "15,000", "not reached", "rulesets/o2-business/2017-01.rules:39"],
        ["ExpertPlus", "45,000", "not reached", "rulesets/o2-business/2017-01.rules:40"],
    ]
    assert t["review"] == [
        ["Status held", "Expert – kept at the 2016 review"],
        ["Target to keep the status", "15,000"],
        ["Points still needed to keep Expert", "4,939"],
        ["Points still needed to reach ExpertPlus", "34,939"],
        ["Review at the end of the period", "Advanced for 2018"],
        ["Policy", "review of version 2017.01 rulesets/o2-business/2017-01.rules:92"],
        ["Decisive rule", "downgrade to earned rulesets/o2-business/2017-01.rules:98"],
    ]
    assert t["contracts"][:3] == [
        ["Contract", "Signed", "Product", "Rules that paid", "Points"],
        ["C-003018", "9 November 2017", "O2 Business M", "Mobile tariffs +1,400", "1,400"],
        ["C-001646", "6 January 2017", "O2 Business M", "Mobile tariffs +980", "980"],
    ]
    assert t["ruleset"][0] == ["Version", "2017.01 (in force from 1 January 2017)"]
    assert t["ruleset"][1] == ["SHA-256", p008.version.sha256]
    page = html(p008, "en")
    assert "and 25 more contracts with 5,311 points" in page
    assert "Quality flags are reported beside the points: they do not change points or tiers." in page
    assert "No quality flag in this period." in page


def test_html_german_exact(p008):
    t = tables(html(p008, "de"))
    assert t["summary"] == [["Punkte aus den Regeln", "10.061"], ["Mit den Punkten erreichte Stufe", "Advanced"],
                            ["Status im Zeitraum", "Expert"]]
    assert t["review"][:4] == [
        ["Status", "Expert – bestätigt bei der Überprüfung 2016"],
        ["Ziel für den Erhalt des Status", "15.000"],
        ["Noch nötige Punkte für den Erhalt von Expert", "4.939"],
        ["Noch nötige Punkte für ExpertPlus", "34.939"],
    ]
    assert t["contracts"][1] == ["C-003018", "9. November 2017", "O2 Business M", "Mobile tariffs +1.400", "1.400"]
    assert t["ruleset"][0] == ["Version", "2017.01 (gültig ab 1. Januar 2017)"]
    page = html(p008, "de")
    assert '<html lang="de">' in page
    assert "und 25 weitere Verträge mit 5.311 Punkten" in page


def test_html_quality_flags_as_percent(flagged):
    s = flagged.statement("P-012", "2017")
    assert tables(html(s, "en"))["quality"] == [
        ["KPI", "Period", "Reports", "Value", "Flagged"],
        ["Payment defaults", "2017-Q1", "39", "30.77%", "above 5%"],
        ["Payment defaults", "2017-Q2", "43", "23.26%", "above 5%"],
    ]
    assert tables(html(s, "de"))["quality"][1] == ["Payment defaults", "2017-Q1", "39", "30,77 %", "über 5 %"]
    mean = flagged.statement("P-005", "2017")
    assert tables(html(mean, "de"))["quality"][1] == ["Low usage", "2017-Q3", "70", "25,9", "unter 40"]


def test_html_values_from_files_are_text(program, tmp_path):
    data = tmp_path / "hostile.csv"
    data.write_text(HEADER
                    + '"<script>alert(1)</script>",P-X,A,2017-03-01,O2 Business M,new,1,,r\n'
                    + '"=HYPERLINK(""http://evil"",""x"")",P-X,A,2017-03-02,O2 Business M,new,2,,r\n'
                    + "C-\x1b[2J1,P-X,A,2017-03-03,O2 Business S,new,1,,r\n", encoding="utf-8")
    s = from_evaluation(program, str(data), "P-X", "2017")
    page = html(s, "en")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "C-\\x1b[2J1" in page
    assert [r[0] for r in tables(page)["contracts"][1:]] == [
        "<script>alert(1)</script>", '=HYPERLINK("http://evil","x")', "C-\\x1b[2J1"]  # all: in file order


def test_html_is_deterministic(p008):
    assert html(p008, "en") == html(p008, "en")


# --------------------------------------------------------------------------- PDF


@pytest.fixture(scope="module")
def p008_pdf(tmp_path_factory, program):
    need_pdf()
    from engine.report.render import pdf

    old = os.getcwd()
    os.chdir(ROOT)
    try:
        s = from_evaluation(program, DATA, "P-008", "2017", legacy=LEGACY, quality=QUALITY, limit=5)
    finally:
        os.chdir(old)
    path = tmp_path_factory.mktemp("pdf") / "p008.pdf"
    path.write_bytes(pdf(s, "de"))
    return path


def test_pdf_text_and_pages(p008_pdf):
    need("pdftotext")
    need("pdfinfo")
    text = subprocess.run(["pdftotext", "-layout", str(p008_pdf), "-"], capture_output=True, text=True, check=True).stdout
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Punkteabrechnung" in lines
    assert "Punkte aus den Regeln 10.061" in lines
    assert "Noch nötige Punkte für ExpertPlus 34.939" in lines
    assert any(line.startswith("Tabellenzeile mobile_tariffs[O2 Business M, new] 4 3.080") for line in lines)
    assert "Partner P-008 · Zeitraum 2017 Seite 1 von 2" in lines
    info = subprocess.run(["pdfinfo", str(p008_pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           2" in info
    assert "Page size:       595.276 x 841.89 pts (A4)" in info


def test_pdf_same_bytes_twice(p008_pdf, program):
    from engine.report.render import pdf

    s = from_evaluation(program, DATA, "P-008", "2017", legacy=LEGACY, quality=QUALITY, limit=5)
    assert pdf(s, "de") == p008_pdf.read_bytes()


def test_pdf_first_page_looks_as_stored(p008_pdf, tmp_path):
    """The first page rendered at 40 dpi, grey, against tests/fixtures/statement/page1.png: at most 1%
    of the pixels may differ by more than a quarter of the grey range (a hash or a number that changed)."""
    need("pdftoppm")
    from PIL import Image, ImageChops

    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-gray", "-png", "-singlefile", str(p008_pdf),
                    str(tmp_path / "page")], check=True)
    got = Image.open(tmp_path / "page.png").convert("L")
    stored = Image.open(FIXTURES / "page1.png").convert("L")
    assert got.size == stored.size
    diff = ImageChops.difference(got, stored)
    differing = sum(diff.histogram()[64:])
    assert differing <= 0.01 * got.size[0] * got.size[1], f"{differing} pixels differ"
    blank = Image.new("L", got.size, 255)  # the comparison can fail: an empty page is far from the stored one
    assert sum(ImageChops.difference(blank, stored).histogram()[64:]) > 0.01 * got.size[0] * got.size[1]


# --------------------------------------------------------------------------- the command


def test_command_html_to_stdout(capsys):
    code, out, err = run(capsys, "statement", PROGRAM, DATA, "--partner", "P-008", "--period", "2017", "--locale", "de",
                         "--contracts", "3")
    assert code == 0, err
    t = tables(out)
    assert t["summary"][0] == ["Punkte aus den Regeln", "10.061"]
    assert len(t["contracts"]) == 4


def test_command_out_file_and_pdf(capsys, tmp_path):
    need_pdf()
    out = tmp_path / "s.pdf"
    code, _, err = run(capsys, "statement", PROGRAM, DATA, "--partner", "P-008", "--period", "2018", "--format", "pdf",
                       "--out", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF-")
    assert [p.name for p in tmp_path.iterdir()] == ["s.pdf"]  # no temporary file left beside it


@pytest.mark.parametrize("argv, message", [
    (["--partner", "P-008"], "give --partner and --period (or --all --out DIR)"),
    (["--all", "--period", "2017"], "--all writes one file per statement: give the folder with --out DIR"),
    (["--partner", "P-008", "--period", "2017", "--contracts", "x"], "--contracts: 'x' is not a number"),
    (["--partner", "P-999", "--period", "2017"], "examples/contracts.csv: no valid row for partner P-999"),
    (["--partner", "P-008", "--period", "2017", "--out", DATA], "is an input of this command"),
])
def test_command_errors(capsys, argv, message):
    code, out, err = run(capsys, "statement", PROGRAM, DATA, *argv)
    assert code == 2
    assert message in " ".join(err.split())
    assert out == ""


def test_command_all_writes_a_folder_with_locales(capsys, tmp_path):
    partners = tmp_path / "partners.csv"
    partners.write_text("partner_id,locale\nP-002,de\nP-001,en\n", encoding="utf-8")
    folder = tmp_path / "statements"
    code, out, err = run(capsys, "statement", PROGRAM, DATA, "--all", "--period", "2016", "--partners", str(partners),
                         "--locale", "de", "--out", str(folder))
    assert code == 0, err
    with open(folder / "index.csv", encoding="utf-8", newline="") as f:
        index = list(csv.DictReader(f))
    book = Evaluation.run(load_program(PROGRAM), DATA)
    expected = [p for p, y in book.partners() if y == "2016"]
    assert [r["partner_id"] for r in index] == expected
    assert sorted(p.name for p in folder.iterdir()) == sorted(["index.csv", *(f"{p}_2016.html" for p in expected)])
    locales = {r["partner_id"]: r["locale"] for r in index}
    assert locales["P-001"] == "en" and locales["P-002"] == "de" and locales[expected[-1]] == "de"
    assert '<html lang="en">' in (folder / "P-001_2016.html").read_text(encoding="utf-8")
    assert '<html lang="de">' in (folder / "P-002_2016.html").read_text(encoding="utf-8")
    from engine.run import evaluate

    points = {p.partner_id: p.points for p in evaluate(load_program(PROGRAM), DATA).partners if p.period == "2016"}
    assert {r["partner_id"]: Decimal(r["points"]) for r in index} == points
    assert f"[1/{len(expected)}] {expected[0]} 2016: {expected[0]}_2016.html" in err  # progress on stderr
    assert out == f"{len(expected)} statements written to {folder}/ (the list: {folder}/index.csv)\n"
    # a second run replaces the folder whole; a folder with other files is refused
    code, _, err = run(capsys, "statement", PROGRAM, DATA, "--all", "--period", "2018", "--out", str(folder))
    assert code == 0, err
    assert not any(p.name.endswith("_2016.html") for p in folder.iterdir())
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    code, _, err = run(capsys, "statement", PROGRAM, DATA, "--all", "--out", str(folder))
    assert code == 2 and "holds files this command does not write (notes.txt)" in err


def test_command_partners_file_errors_name_row_and_field(capsys, tmp_path):
    partners = tmp_path / "partners.csv"
    partners.write_text("partner_id,locale\nP-001,en\nP-002,fr\n", encoding="utf-8")
    code, _, err = run(capsys, "statement", PROGRAM, DATA, "--all", "--partners", str(partners),
                       "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"{partners}: row 3, field locale: 'fr' is not a locale of statements (de, en)" in " ".join(err.split())
    assert not (tmp_path / "out").exists()


def test_file_names_cannot_escape_the_folder():
    from engine.commands.statement import file_name

    assert file_name("P-001", "2017", "pdf") == "P-001_2017.pdf"
    odd = file_name("../../etc/passwd", "2017", "html")
    assert "/" not in odd and not odd.startswith(".") and odd.endswith("_2017.html")
    assert file_name("a/b", "2017", "html") != file_name("a_b", "2017", "html")


# --------------------------------------------------------------------------- from the ledger


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory):
    """A SQLite ledger with run 1 of the example export, its reviews, quality results and one adjustment."""
    pytest.importorskip("engine.ledger", reason="the run ledger (engine/ledger) is not in this tree")
    where = tmp_path_factory.mktemp("ledger")
    url = str(where / "ledger.db")
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        for argv in (["evaluate", PROGRAM, DATA, "--out", str(where / "run"), "--ledger", url],
                     ["status", PROGRAM, DATA, "--legacy", LEGACY, "--ledger", url, "--run", "1"],
                     ["quality", PROGRAM, QUALITY, "--contracts", str(where / "run"), "--ledger", url, "--run", "1"],
                     ["adjust", "--partner", "P-012", "--period", "2017", "--points", "-250.5", "--reason",
                      "dispute <17-04>: =HYPERLINK(\"x\")", "--author", "J. Weber", "--ledger", url]):
            assert main(argv) == 0, argv
    finally:
        os.chdir(old)
    return url


def test_ledger_statement_is_the_evaluation_statement(ledger_file, flagged):
    """The same partner-period from the recorded run and from the export: the same statement, but for the
    run reference and the adjustment only the ledger knows."""
    import dataclasses

    from engine.ledger import open_ledger
    from engine.report.model import from_ledger

    with open_ledger(ledger_file) as ledger:
        recorded = from_ledger(ledger, 1, "P-012", "2017")
    legacy_now = from_evaluation(load_program(PROGRAM), DATA, "P-012", "2017", legacy=LEGACY, quality=QUALITY)
    differ = [f.name for f in dataclasses.fields(recorded) if getattr(recorded, f.name) != getattr(legacy_now, f.name)]
    assert differ == ["run", "adjustments"]
    assert recorded.run.run_id == "1" and recorded.run.inputs == legacy_now.run.inputs
    assert [(a.points, a.reason, a.author) for a in recorded.adjustments] == [
        (Decimal("-250.5"), 'dispute <17-04>: =HYPERLINK("x")', "J. Weber")]
    assert recorded.total == recorded.points - Decimal("250.5")


def test_ledger_statement_command(capsys, ledger_file):
    code, out, err = run(capsys, "statement", "--run", "1", "--ledger", ledger_file, "--partner", "P-012",
                         "--period", "2017", "--locale", "de")
    assert code == 0, err
    t = tables(out)
    assert t["summary"][:3] == [["Punkte aus den Regeln", "20.886"], ["Korrekturen", "-250,5"],
                                ["Punkte gesamt", "20.635,5"]]
    assert t["adjustments"][1][0] == 'dispute <17-04>: =HYPERLINK("x")'
    assert "dispute &lt;17-04&gt;" in out
    code, out, err = run(capsys, "statement", "--run", "9", "--ledger", ledger_file, "--partner", "P-012",
                         "--period", "2017")
    assert code == 2 and "there is no run 9 (runs 1 to 1; see `points runs`)" in err
    code, out, err = run(capsys, "statement", "--run", "1", "--ledger", ledger_file, "--partner", "P-012",
                         "--period", "2017", "--quality", QUALITY)
    assert code == 2 and "--run uses the reviews and quality results recorded with the run" in " ".join(err.split())


def test_ledger_statements_for_every_partner(capsys, ledger_file, tmp_path):
    folder = tmp_path / "st"
    code, out, err = run(capsys, "statement", "--run", "1", "--ledger", ledger_file, "--all", "--period", "2018",
                         "--out", str(folder))
    assert code == 0, err
    with open(folder / "index.csv", encoding="utf-8", newline="") as f:
        index = list(csv.DictReader(f))
    from engine.ledger import open_ledger

    with open_ledger(ledger_file) as ledger:
        recorded = {p["partner_id"]: p["total"] for p in ledger.partner_periods(1, period="2018")}
    assert {r["partner_id"]: Decimal(r["points"]) for r in index} == recorded
