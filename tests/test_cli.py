"""The `points` command end to end: in-process through main(argv), and as the installed command."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = str(ROOT / "rulesets" / "o2-business")
V2016 = str(ROOT / "rulesets" / "o2-business" / "2016-03.rules")
V2017 = str(ROOT / "rulesets" / "o2-business" / "2017-01.rules")
DATA = str(ROOT / "examples" / "contracts.csv")
LEGACY = str(ROOT / "examples" / "legacy.csv")
QUALITY = str(ROOT / "examples" / "quality.csv")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_check_example_program_is_clean(capsys):
    code, out, err = run(capsys, "check", PROGRAM)
    assert code == 0
    assert "0 error(s), 0 warning(s)" in out + err


def test_check_reports_every_error_with_place_and_exits_1(capsys, tmp_path):
    bad = tmp_path / "bad.rules"
    text = Path(V2016).read_text(encoding="utf-8").replace("Expert     from 15_000", "Expert     from 5_000")
    text = text.replace("when product in fixed_line", "when prodct in fixed_line")
    bad.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "check", str(bad))
    assert code == 1
    assert "must be above" in err  # thresholds out of order
    assert "prodct" in err and "did you mean" in err.lower()
    assert err.count(f"{bad.name}:") >= 2 or err.count("bad.rules:") >= 2


def test_check_json_findings(capsys, tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text('program "X"\nversion "1"\neffective 2016-01-01\nrule "A" {\n  when product == "x"\n', encoding="utf-8")
    code, out, err = run(capsys, "check", str(bad), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["findings"] and all({"code", "line", "column", "file", "message"} <= set(f) for f in data["findings"])


def test_evaluate_writes_results_and_is_deterministic(capsys, tmp_path):
    code, out, _ = run(capsys, "evaluate", PROGRAM, DATA, "--out", str(tmp_path / "a"))
    assert code == 0
    assert "rejected" in out and "Partners by tier" in out
    run(capsys, "evaluate", PROGRAM, DATA, "--out", str(tmp_path / "b"))
    for name in ("contracts.csv", "partners.csv", "partner_rules.csv", "rejects.csv", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_evaluate_json_counts_reconcile(capsys):
    code, out, _ = run(capsys, "evaluate", PROGRAM, DATA, "--json")
    data = json.loads(out)
    c = data["counts"]
    assert code == 0
    assert c["rows"] == c["scored"] + c["unscored"] + c["rejected"] and c["rejected"] > 0


def test_evaluate_strict_exits_1_on_rejects(capsys):
    code, _, _ = run(capsys, "evaluate", PROGRAM, DATA, "--strict")
    assert code == 1


def test_evaluate_missing_file_is_a_clear_error(capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", PROGRAM, str(tmp_path / "nope.csv"))
    assert code == 2
    assert "nope.csv" in err


def test_evaluate_header_without_required_column(capsys, tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("contract_id,partner,signed,product\nC1,P1,2016-05-01,O2 Business M\n", encoding="utf-8")
    code, _, err = run(capsys, "evaluate", PROGRAM, str(data))
    assert code == 2
    assert "x.csv" in err and "partner_id" in err and "partner" in err


def test_evaluate_broken_ruleset_names_file_line_column(capsys, tmp_path):
    bad = tmp_path / "broken.rules"
    bad.write_text('program "X"\nversion "1"\neffective 2016-01-01\ntiers {\n  Basic from 0\n', encoding="utf-8")
    code, _, err = run(capsys, "evaluate", str(bad), DATA)
    assert code == 2
    assert "broken.rules:4:" in err or "broken.rules:5:" in err or "broken.rules:6:" in err


def test_explain_contract_short_full_and_json(capsys):
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100")
    assert code == 0 and "Mobile tariffs" in out and "2016-03.rules:" in out
    code, full, _ = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100", "--full")
    assert "mobile_tariffs[" in full and "row at" in full and len(full) > len(out)
    code, js, _ = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100", "--json", "--full")
    data = json.loads(js)
    assert data["status"] == "scored"
    assert sum(int(r["points"]) for r in data["rules"] if r["points"]) == int(data["points"])
    assert any(e["event"] == "table_lookup" for r in data["rules"] for e in r["events"])


def test_explain_why_not(capsys):
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100", "--why-not", "Unite pool volume")
    assert code == 0
    assert "condition is false" in out and "O2 Unite Pool" in out
    code, _, err = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100", "--why-not", "Unite pol volume")
    assert code == 2 and "did you mean" in err


def test_explain_partner_period(capsys):
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-007", "--period", "2016", "--legacy", LEGACY)
    assert code == 0
    assert "partner P-007, period 2016" in out and "points by rule" in out and ">=" in out
    assert "legacy" in out  # the status chain starts from the legacy status


def test_explain_partner_shows_chain_and_standing(capsys):
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-008", "--legacy", LEGACY, "--json")
    data = json.loads(out)
    assert code == 0 and [p["period"] for p in data["periods"]] == ["2016", "2017", "2018"]
    chain = data["status"]
    assert chain[0].startswith("2016: legacy 'Premium' -> Expert (")
    assert "downgrade to earned" in chain[1] and chain[1].endswith("-> Advanced for 2018")
    # by default reviewed up to the end of 2018, the period of the latest signed date: no standing
    assert len(chain) == 3 and chain[-1].startswith("2018 points ") and chain[-1].endswith(" after 2018")


def test_explain_unknown_contract(capsys):
    code, _, err = run(capsys, "explain", PROGRAM, DATA, "--contract", "NOPE")
    assert code == 2 and "NOPE" in err


def test_versions_and_show(capsys):
    code, out, _ = run(capsys, "versions", PROGRAM, "--json")
    data = json.loads(out)
    assert [v["version"] for v in data["versions"]] == ["2016.03", "2017.01", "2018.01"]
    assert data["versions"][0]["until"] == "2016-12-31" and data["versions"][-1]["until"] is None
    code, out, _ = run(capsys, "show", PROGRAM, "--on", "2017-06-30")
    assert code == 0 and 'version "2017.01"' in out


def test_schema_is_json_schema(capsys):
    code, out, _ = run(capsys, "schema", PROGRAM)
    schema = json.loads(out)
    assert code == 0 and "contract_id" in schema["properties"] and "signed" in schema["required"]


def test_test_command_runs_examples(capsys, tmp_path):
    code, out, _ = run(capsys, "test", PROGRAM)
    assert code == 0 and " passed, 0 failed" in out
    wrong = tmp_path / "wrong.rules"
    wrong.write_text(Path(V2016).read_text(encoding="utf-8").replace("expect 140 points", "expect 141 points"), encoding="utf-8")
    code, out, _ = run(capsys, "test", str(wrong))
    assert code == 1 and "expected 141 points, got 140" in out and "1 failed" in out


def test_fmt_check(capsys, tmp_path):
    messy = tmp_path / "messy.rules"
    messy.write_text(Path(V2016).read_text(encoding="utf-8").replace("Basic      from 0", "Basic from    0"), encoding="utf-8")
    code, out, _ = run(capsys, "fmt", "--check", str(messy))
    assert code == 1 and "Basic from    0" in out
    code, _, _ = run(capsys, "fmt", str(messy))
    assert code == 0 and messy.read_text(encoding="utf-8") == Path(V2016).read_text(encoding="utf-8")


def test_diff_and_impact(capsys, tmp_path):
    code, out, _ = run(capsys, "diff", V2016, V2017)
    assert code == 1 and "->" in out
    code, out, _ = run(capsys, "diff", V2016, V2016)
    assert code == 0 and "no changes in meaning" in out
    code, out, _ = run(capsys, "diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", DATA, "--json",
                       "--out", str(tmp_path))
    data = json.loads(out)["impact"]
    assert (tmp_path / "impact.csv").exists()
    from decimal import Decimal

    rules_delta = sum(Decimal(r["delta"]) for r in data["rules"])
    assert rules_delta == Decimal(data["points"]["delta"])  # attribution reconciles with the total


def test_status_and_quality(capsys, tmp_path):
    code, out, _ = run(capsys, "status", PROGRAM, DATA, "--legacy", LEGACY, "--json")
    data = json.loads(out)
    assert code == 0 and data["reviews"] and data["current_period"] is None
    assert (data["as_of"], data["reviewed_periods"]) == ("2018-12-31", ["2016", "2017", "2018"])
    assert {r["rule"].split(":")[0] for r in data["reviews"]} >= {"upgrade to earned", "downgrade at most 1 level"}
    code, out, _ = run(capsys, "quality", PROGRAM, QUALITY, "--contracts", DATA, "--json")
    q = json.loads(out)
    assert code == 0 and q["findings"] and q["counts"]["rejected"] > 0 and q["counts"]["set_aside"] > 0
    assert q["counts"]["rows"] == q["counts"]["counted"] + q["counts"]["rejected"] + q["counts"]["set_aside"]
    code, _, err = run(capsys, "quality", PROGRAM, QUALITY)  # reports by contract need the contracts
    assert code == 2 and "--contracts" in err


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "evaluate")[0] == 2
    assert run(capsys, "explain", PROGRAM, DATA)[0] == 2
    assert run(capsys, "nosuchcommand")[0] == 2


@pytest.mark.skipif(shutil.which("points") is None and not (Path(sys.executable).parent / "points").exists(),
                    reason="the console script is not installed in this environment")
def test_installed_command():
    exe = shutil.which("points") or str(Path(sys.executable).parent / "points")
    proc = subprocess.run([exe, "check", PROGRAM], capture_output=True, text=True, env=os.environ | {"NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([exe, "evaluate", PROGRAM, "/nonexistent.csv"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "nonexistent.csv" in proc.stderr


def test_check_with_data_lists_what_no_rule_covers(capsys):
    code, out, _ = run(capsys, "check", PROGRAM, "--data", DATA, "--json")
    data = json.loads(out)
    assert code == 0
    products = {(u["product"], u["reason"]) for u in data["uncovered"]}
    assert ("O2 Business Fax", "unknown-product") in products
    assert all(u["rows"] > 0 for u in data["uncovered"])
    code, _, _ = run(capsys, "check", PROGRAM, "--data", DATA, "--strict")
    assert code == 1  # uncovered rows are findings under --strict


def test_explain_side_by_side(capsys):
    code, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-007", "--side-by-side", "2016.03", "2017.01",
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["old"]["version"] == "2016.03" and data["new"]["version"] == "2017.01"
    changed = [c for c in data["contracts"] if c["delta"] != "0"]
    assert changed and all(c["old"]["status"] in ("scored", "unscored") for c in data["contracts"])
    code, _, err = run(capsys, "explain", PROGRAM, DATA, "--partner", "P-007", "--side-by-side", "2016.03", "2099.01")
    assert code == 2 and "2099.01" in err


def test_status_files_have_headers_even_when_empty(capsys, tmp_path):
    code, _, _ = run(capsys, "status", PROGRAM, DATA, "--legacy", LEGACY, "--as-of", "2017-12-31", "--out", str(tmp_path))
    assert code == 0
    assert (tmp_path / "standing.csv").read_text().splitlines() == [
        "partner_id,period,status,points,earned_so_far,target,needed_to_keep,next_tier,needed_for_next"]
    reviews = (tmp_path / "status.csv").read_text().splitlines()
    assert reviews[0].startswith("partner_id,period,status_before") and len(reviews) > 36


@pytest.mark.parametrize("partner", ["P-008", "P-009", "P-037", "P-033"])
def test_explain_chain_agrees_with_status(capsys, partner):
    _, out, _ = run(capsys, "status", PROGRAM, DATA, "--legacy", LEGACY, "--json")
    status = json.loads(out)
    reviews = [r for r in status["reviews"] if r["partner_id"] == partner]
    _, out, _ = run(capsys, "explain", PROGRAM, DATA, "--partner", partner, "--legacy", LEGACY, "--json")
    chain = json.loads(out)["status"]
    assert reviews and len(chain) == len(reviews)  # one line per review (2018 is reviewed: no standing)
    for review, line in zip(reviews, chain):
        assert f"-> {review['status_after']} " in line or line.endswith(f"-> {review['status_after']}")


def _without_quality(text: str) -> str:
    """The ruleset with its `input quality` and `quality` blocks cut out, and the examples that
    read quality reports (they need those blocks)."""
    import re

    for head in (r"input quality \{", r"\nquality \{"):
        match = re.search(head, text)
        assert match, head
        end = text.index("\n}", match.start()) + 2
        text = text[:match.start()] + "\n" + text[end:]
    return re.sub(r'\nexample "[^"\n]*" \{\n(?:(?!\}\n).*\n)*?(?:  \d+ reports? |  report ).*\n(?:(?!\}\n).*\n)*?\}\n',
                  "\n", text)


def test_quality_never_changes_points_or_tiers(capsys, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in sorted(Path(PROGRAM).glob("*.rules")):
        (bare / f.name).write_text(_without_quality(f.read_text(encoding="utf-8")), encoding="utf-8")
    assert "kpi" not in (bare / "2016-03.rules").read_text(encoding="utf-8")
    for program, out in ((PROGRAM, tmp_path / "with"), (str(bare), tmp_path / "without")):
        assert run(capsys, "evaluate", program, DATA, "--out", str(out))[0] == 0
        code, status, _ = run(capsys, "status", program, DATA, "--legacy", LEGACY, "--json")
        decisions = [{k: v for k, v in r.items() if k != "at"} for r in json.loads(status)["reviews"]]
        (out / "status.json").write_text(json.dumps(decisions), encoding="utf-8")  # `at` names the file
    for name in ("contracts.csv", "partners.csv", "partner_rules.csv", "status.json"):
        assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "without" / name).read_bytes(), name


def test_example_data_falls_two_levels_under_each_policy(capsys):
    code, out, _ = run(capsys, "status", PROGRAM, DATA, "--legacy", LEGACY, "--as-of", "2018-12-31", "--json")
    order = ["Basic", "Advanced", "Expert", "ExpertPlus"]
    falls = {}
    for r in json.loads(out)["reviews"]:
        before, earned, after = (order.index(r[k]) for k in ("status_before", "earned", "status_after"))
        if before - earned >= 2:
            falls.setdefault(r["rule"].split(" (")[0].split(" 1 of")[0], []).append(before - after)
    assert code == 0
    assert set(falls["downgrade at most 1 level"]) == {1}   # 2016.03: one level, whatever was earned
    assert set(falls["downgrade to earned"]) >= {2}         # 2017.01: straight to the earned tier
    assert set(falls["grace period"]) == {0}                # 2018.01: kept for the year of grace


def test_fmt_on_a_folder_without_rulesets_is_an_input_error(capsys, tmp_path):
    code, _, err = run(capsys, "fmt", str(tmp_path))
    assert code == 2 and "no .rules files" in err


WORKERS_NOTE = ("is deprecated and has no effect: the row engine runs in one process, and large CSV exports go "
                "to the DuckDB engine with --engine auto (docs/sql.md)\n")


def test_workers_is_accepted_without_effect_with_one_note(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()  # the project file is looked for up to here
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", "plain", "--json")
    assert (code, err) == (0, "")
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", "flag", "--json", "--workers", "2")
    assert (code, err) == (0, "note: --workers " + WORKERS_NOTE)
    monkeypatch.setenv("POINTS_WORKERS", "3")
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", "env", "--json")
    assert (code, err) == (0, "note: POINTS_WORKERS " + WORKERS_NOTE)
    monkeypatch.delenv("POINTS_WORKERS")
    (tmp_path / "points.toml").write_text("workers = 2\n", encoding="utf-8")
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", "file", "--json")
    assert (code, err) == (0, f"note: `workers` ({tmp_path / 'points.toml'}:1:1) " + WORKERS_NOTE)
    for name in ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv"):
        assert {(tmp_path / out / name).read_bytes() for out in ("plain", "flag", "env", "file")} == {
            (tmp_path / "plain" / name).read_bytes()}, name
    with pytest.warns(DeprecationWarning, match="RunOptions.workers is deprecated and has no effect"):
        from engine.run import RunOptions

        RunOptions(workers=2)


def test_every_command_is_found_by_the_module_that_registers_it():
    """engine.commands.COMMANDS names each command's module: a command missing from it would be
    unknown to `points NAME` (the modules are imported only when their command runs)."""
    import importlib
    import pkgutil

    import click

    from engine import commands

    registered = {}
    for found in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"engine.commands.{found.name}")
        if hasattr(module, "register"):
            group = click.Group()
            module.register(group)
            registered.update({command: found.name for command in group.commands})
    assert registered == commands.COMMANDS


def test_a_command_imports_its_own_module_and_not_the_others():
    code = ("import sys; from engine.cli import main; code = main(['evaluate', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('engine.commands.'))); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1]
    assert "engine.commands.evaluate" in loaded
    assert "engine.commands.ledger" not in loaded and "engine.commands.serve" not in loaded


def test_help_lists_every_command(capsys):
    from engine.commands import COMMANDS

    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    for command in COMMANDS:
        assert f"  {command} " in shown, command
