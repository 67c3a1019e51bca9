"""Mistakes that slip through and explaining a dispute, through the command line."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
FIRST = PROGRAM / "2016-03.rules"
DATA = str(ROOT / "examples" / "contracts.csv")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def variant(tmp_path: Path, old: str, new: str, name: str = "v.rules") -> str:
    text = FIRST.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return str(path)


# --- 7.500 where points are counted ---------------------------------------------------------------

N231_THRESHOLD = (
    "{path}:39:19: error N231: `7.500` as the threshold of Advanced is seven and a half points; "
    "write 7_500 for seven thousand five hundred\n"
    "  39 |   Advanced   from 7.500\n"
    "                         ^^^^^\n"
    "  hint: there is no thousands separator; write 7_500, or 7.5 if you mean seven and a half\n"
)


def test_a_thousands_dot_in_a_threshold_is_an_error_for_check(capsys, tmp_path):
    path = variant(tmp_path, "Advanced   from 7_500", "Advanced   from 7.500")
    code, out, err = run(capsys, "check", path)
    assert code == 1
    assert err == N231_THRESHOLD.format(path=path) + "1 path(s) checked: 1 error(s), 0 warning(s)\n"


@pytest.mark.parametrize("command", [
    ("evaluate", "{path}", DATA, "--out", "{out}"),
    ("test", "{path}"),
    ("diff", str(FIRST), "{path}"),
    ("explain", "{path}", DATA, "--contract", "C-000100"),
])
def test_commands_refuse_a_ruleset_with_the_error(capsys, tmp_path, command):
    path = variant(tmp_path, "Advanced   from 7_500", "Advanced   from 7.500")
    argv = [a.format(path=path, out=tmp_path / "out") for a in command]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err == N231_THRESHOLD.format(path=path) + (
        f"error: {path}: the ruleset cannot be used until the errors above are fixed\n")
    assert not (tmp_path / "out").exists()


def test_a_cap_is_an_error_and_a_rate_stays_a_warning(capsys, tmp_path):
    path = variant(tmp_path, "points 2.5 per pool_gb, at most 2_500,", "points 2.500 per pool_gb, at most 2.500,")
    code, _, err = run(capsys, "check", path)
    assert code == 1
    assert [line for line in err.splitlines() if " W301: " in line or " N231: " in line] == [
        f"{path}:84:10: warning W301: `2.500` is two and a half; write 2_500 for two thousand five hundred",
        f"{path}:84:37: error N231: `2.500` as the cap `at most` is two and a half points; "
        "write 2_500 for two thousand five hundred",
    ]


W301_RATE = (
    "{path}:84:10: warning W301: `2.500` is two and a half; write 2_500 for two thousand five hundred\n"
    "  84 |   points 2.500 per pool_gb, at most 2_500, rounded half up\n"
    "                ^^^^^\n"
    "  hint: write 2.5 if you mean two and a half\n"
)


@pytest.mark.parametrize("command", [
    ("evaluate", "{path}", DATA, "--out", "{out}"),
    ("test", "{path}"),
    ("diff", str(FIRST), "{path}"),
])
def test_commands_print_the_warnings_of_a_usable_ruleset(capsys, tmp_path, command):
    path = variant(tmp_path, "points 2.5 per pool_gb", "points 2.500 per pool_gb")
    argv = [a.format(path=path, out=tmp_path / "out") for a in command]
    code, out, err = run(capsys, *argv)
    assert code == 0 and out
    assert err.startswith(W301_RATE.format(path=path))


def test_json_output_stays_json_with_warnings(capsys, tmp_path):
    path = variant(tmp_path, "points 2.5 per pool_gb", "points 2.500 per pool_gb")
    code, out, err = run(capsys, "test", path, "--json")
    assert code == 0 and err == "" and out.startswith("{")


# --- a mistyped path ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "test", "versions"])
def test_a_mistyped_folder_has_no_position_and_a_did_you_mean(capsys, monkeypatch, command):
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, command, "rulesets/o2-busines")
    assert code == 2 and out == ""
    assert err.startswith("rulesets/o2-busines: error V401: no such folder\n"
                          "  hint: did you mean rulesets/o2-business?\n")


def test_a_mistyped_file_in_a_folder(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, _, err = run(capsys, "evaluate", "rulesets/o2-business/2016-3.rules", "examples/contracts.csv")
    assert code == 2
    assert err == ("rulesets/o2-business/2016-3.rules: error V401: no such file\n"
                   "  hint: did you mean rulesets/o2-business/2016-03.rules?\n"
                   "error: rulesets/o2-business/2016-3.rules: the ruleset cannot be used until the errors above "
                   "are fixed\n")


def test_a_path_with_nothing_near_it(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "check", "nowhere/x")
    assert code == 2
    assert err == ("nowhere/x: error V401: no such folder\n  hint: the folder nowhere does not exist either\n"
                   "1 path(s) checked: 1 error(s), 0 warning(s)\n")


# --- an export read with the wrong options -------------------------------------------------------


def german_export(tmp_path: Path) -> Path:
    """examples/contracts.csv as a German Excel writes it: `;` between cells, decimal commas."""
    import csv

    with open(DATA, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    path = tmp_path / "de.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        for row in rows:
            writer.writerow([c.replace(".", ",") if c.replace(".", "", 1).isdigit() else c for c in row])
    return path


def hint_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("hint: ")]


def test_a_decimal_comma_export_without_the_option_says_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run(capsys, "evaluate", PROGRAM, german_export(tmp_path))
    assert code == 0
    assert hint_lines(out) == [
        "hint: 258 of the 258 rows rejected for `pool_gb` (not-a-number) hold a number with a decimal comma "
        "like `579,3`: the export most likely writes decimals with a comma; run again with --decimal-comma"]
    code, out, _ = run(capsys, "evaluate", PROGRAM, german_export(tmp_path), "--decimal-comma")
    assert code == 0 and hint_lines(out) == []
    assert "pool_gb" not in out


def test_a_decimal_point_export_with_the_option_says_so(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run(capsys, "evaluate", PROGRAM, DATA, "--decimal-comma")
    assert code == 0
    assert hint_lines(out) == [
        "hint: 258 of the 258 rows rejected for `pool_gb` (not-a-number) hold a number with a decimal point "
        "like `579.3`: the export most likely writes decimals with a point; run again without --decimal-comma"]


def test_the_bundled_export_needs_no_hint(capsys):
    code, out, _ = run(capsys, "evaluate", PROGRAM, DATA)
    assert code == 0 and hint_lines(out) == []


def test_a_semicolon_export_read_with_commas_names_the_delimiter(capsys, tmp_path):
    path = german_export(tmp_path)
    code, out, err = run(capsys, "evaluate", PROGRAM, path, "--delimiter", ",")
    assert code == 2 and out == ""
    assert err == (
        f"error: {path}: header (row 1): the required column `contract_id` is missing; the required column "
        "`partner_id` is missing; the required column `signed` is missing; the required column `product` is "
        "missing\nhint: the header line is separated by `;`, not `,`: run again with --delimiter ';' "
        "(or without --delimiter: it is detected from the header line)\n")


def test_dotted_dates_in_json_lines_say_the_form_it_reads(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"contract_id":"C-1","partner_id":"P-1","signed":"01.03.2016","product":"O2 Business S"}\n'
        '{"contract_id":"C-2","partner_id":"P-1","signed":"2016-03-02","product":"O2 Business S"}\n'
        '{"contract_id":"C-3","partner_id":"P-1","signed":"15.04.2016","product":"O2 Business S"}\n',
        encoding="utf-8")
    code, out, _ = run(capsys, "evaluate", PROGRAM, path)
    assert code == 0
    assert hint_lines(out) == [
        "hint: 2 of the 2 rows rejected for `signed` (not-a-date) hold a date like `01.03.2016`: JSON Lines "
        "dates are read as 2016-03-01 only; write them so, or export the file as CSV, which reads 01.03.2016 too"]


def test_the_hint_counts_the_share_of_the_rejects(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    path = tmp_path / "x.csv"
    path.write_text("contract_id,partner_id,signed,product,pool_gb\n"
                    'C-1,P-1,2016-03-02,O2 Unite Pool,"1,5"\nC-2,P-1,2016-03-02,O2 Unite Pool,"[red]"\n'
                    'C-3,P-1,2016-03-02,O2 Unite Pool,"2,0"\n', encoding="utf-8")
    code, out, _ = run(capsys, "evaluate", PROGRAM, path)
    assert hint_lines(out) == [
        "hint: 2 of the 3 rows rejected for `pool_gb` (not-a-number) hold a number with a decimal comma like "
        "`1,5`: the export most likely writes decimals with a comma; run again with --decimal-comma"]


# --- a missing comma, and where a review's mistake stands -----------------------------------------


@pytest.mark.parametrize("old, new, expected", [
    ('"O2 Business S":     new 80,  existing 30', '"O2 Business S":     new 80  existing 30',
     "{path}:48:30: error P101: missing `,` between `80` and `existing`\n"
     "  48 |   \"O2 Business S\":     new 80  existing 30\n"
     "                                    ^\n"
     "  hint: the parts of one line are separated by commas: `\"O2 Business S\":     new 80,  existing 30`\n"),
    ("  quantity:    integer >= 1, default 1", "  quantity:    integer >= 1 default 1",
     "{path}:31:28: error P101: missing `,` between `1` and `default`\n"
     "  31 |   quantity:    integer >= 1 default 1\n"
     "                                  ^\n"
     "  hint: the parts of one line are separated by commas: `quantity:    integer >= 1, default 1`\n"),
    ("  contract_id: text, required, unique", "  contract_id: text, required unique",
     "{path}:26:30: error P101: missing `,` between `required` and `unique`\n"
     "  26 |   contract_id: text, required unique\n"
     "                                    ^\n"
     "  hint: the parts of one line are separated by commas: `contract_id: text, required, unique`\n"),
    ("points 20 per quantity, at most 400", "points 20 per quantity at most 400",
     "{path}:77:25: error P101: missing `,` between `quantity` and `at`\n"
     "  77 |   points 20 per quantity at most 400\n"
     "                               ^\n"
     "  hint: the parts of one line are separated by commas: `points 20 per quantity, at most 400`\n"),
    ("  newcomers start at Basic", "  newcomers start at Bronze",
     "{path}:95:3: error N224: there is no tier Bronze\n"
     "  95 |   newcomers start at Bronze\n"
     "         ^^^^^^^^^^^^^^^^^^^^^^^^^\n"
     "  hint: the tiers are Basic, Advanced, Expert, ExpertPlus\n"),
])
def test_the_mistake_is_named_where_it_stands(capsys, tmp_path, old, new, expected):
    path = variant(tmp_path, old, new)
    code, out, err = run(capsys, "check", path)
    assert code == 1
    assert err == expected.format(path=path) + "1 path(s) checked: 1 error(s), 0 warning(s)\n"


def test_a_missing_colon_is_still_a_missing_colon(capsys, tmp_path):
    path = variant(tmp_path, "  quantity:    integer >= 1, default 1", "  quantity    integer >= 1, default 1")
    code, _, err = run(capsys, "check", path)
    assert code == 1
    assert err.startswith(f"{path}:31:15: error P101: unexpected `integer`: expected `:`\n")


# --- explaining a dispute ------------------------------------------------------------------------


def test_a_partner_period_names_the_earned_tier_the_status_held_and_the_review(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--period", "2018")
    assert code == 0
    assert out.splitlines()[:3] == [
        "partner P-008, period 2018: 6,110 points, earned Basic; status Advanced (downgraded from Expert at the "
        "2017 review)",
        "├── reviewed at the end of 2018: 1,890 short of the Advanced target 8,000; grace period 1 of 1 -> "
        "Advanced for 2019",
        "├── earned tier (by points)",
    ]


def test_each_period_says_how_its_status_came_about(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--legacy",
                       ROOT / "examples" / "legacy.csv")
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith(("partner ", "├── reviewed"))]
    assert heads == [
        "partner P-008, period 2016: 24,657 points, earned Expert; status Expert (legacy 'Premium' -> Expert)",
        "├── reviewed at the end of 2016: the Expert target 15,000 reached; kept: target reached -> Expert for 2017",
        "partner P-008, period 2017: 10,061 points, earned Advanced; status Expert (kept at the 2016 review)",
        "├── reviewed at the end of 2017: 4,939 short of the Expert target 15,000; downgrade to earned -> Advanced "
        "for 2018",
        "partner P-008, period 2018: 6,110 points, earned Basic; status Advanced (downgraded from Expert at the "
        "2017 review)",
        "├── reviewed at the end of 2018: 1,890 short of the Advanced target 8,000; grace period 1 of 1 -> "
        "Advanced for 2019",
    ]


def test_the_json_names_both_tiers(capsys):
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--period", "2018", "--json")
    assert code == 0
    period = __import__("json").loads(out)["periods"][0]
    assert (period["earned"], period["tier"]) == ("Basic", "Basic")
    assert period["held"] == {
        "status": "Advanced", "origin": "downgraded from Expert at the 2017 review", "decided": True,
        "target": "8000", "needed_to_keep": "1890", "after": "Advanced",
        "review": "reviewed at the end of 2018: 1,890 short of the Advanced target 8,000; grace period 1 of 1 -> "
                  "Advanced for 2019"}


def test_side_by_side_honours_the_period(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-003", "--period", "2018",
                       "--side-by-side", "2017.01", "2018.01")
    assert code == 0
    assert out == (
        "partner P-003: 2017.01 vs 2018.01\n"
        "┏━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┓\n"
        "┃  row ┃ contract  ┃ signed     ┃ product            ┃ 2017.01 ┃ 2018.01 ┃ change ┃\n"
        "┡━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━┩\n"
        "│ 3286 │ C-003285  │ 2018-01-19 │ O2 DSL Business 50 │     100 │     100 │      0 │\n"
        "│ 3498 │ C-003497  │ 2018-03-09 │ O2 Digital Phone   │     340 │     340 │      0 │\n"
        "│ 3916 │ C-003915  │ 2018-06-15 │ O2 Business L      │     720 │     720 │      0 │\n"
        "│    3 │ contracts │            │                    │   1,160 │   1,160 │      0 │\n"
        "└──────┴───────────┴────────────┴────────────────────┴─────────┴─────────┴────────┘\n")
    code, _, err = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-003", "--period", "2019",
                       "--side-by-side", "2017.01", "2018.01")
    assert code == 2 and err == f"error: {DATA}: no valid row for partner P-003 signed in 2019\n"


def test_a_large_partner_period_lists_the_largest_contracts(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--period", "2016")
    assert code == 0
    lines = out.splitlines()
    start = lines.index("├── 74 scored contract(s), the 20 with the most points")
    assert lines[start + 1:start + 3] == [
        "│   ├── row 695  C-000694  2016-07-05  O2 Business L: 2,200 (Mobile tariffs +2,200)",
        "│   ├── row 539  C-000538  2016-06-04  O2 Unite Pool: 2,132 (Unite pool volume +2,132)",
    ]
    assert lines[start + 20] == "│   ├── row 1111  C-001110  2016-09-24  O2 Digital Phone: 400 (Digital Phone licences +400)"
    assert lines[start + 21] == "│   └── and 54 more contracts, 8,556 points: --all lists them"
    assert sum(1 for line in lines if " row " in line) == 22  # 20 scored, 2 unscored
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--period", "2016", "--all")
    assert code == 0
    assert "├── 74 scored contract(s)\n│   ├── row 69  C-000068  " in out and "--all lists them" not in out
    assert sum(1 for line in out.splitlines() if " row " in line) == 76
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--period", "2016", "--json")
    assert len(__import__("json").loads(out)["periods"][0]["contracts"]) == 76


def test_all_goes_with_partner(capsys):
    code, _, err = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100", "--all")
    assert code == 2 and "--all goes with --partner" in err
