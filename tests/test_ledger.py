"""The run ledger, end to end through the command line and the API, against SQLite and a real
PostgreSQL server (started here as a throwaway cluster; those tests skip, saying why, without one)."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = str(ROOT / "rulesets" / "o2-business")
DATA = ROOT / "examples" / "contracts.csv"
LEGACY = str(ROOT / "examples" / "legacy.csv")
QUALITY = str(ROOT / "examples" / "quality.csv")
sys.path.insert(0, str(Path(__file__).parent))
import pg_server  # noqa: E402


@pytest.fixture(scope="session")
def postgres():
    server, why = pg_server.start()
    if server is None:
        yield None, why
        return
    try:
        yield server, ""
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path, postgres):
    if request.param == "sqlite":
        return str(tmp_path / "runs.ledger")
    server, why = postgres
    if server is None:
        pytest.skip(f"PostgreSQL ledger tests skipped: {why}")
    return server.new_database()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 1, 2), err
    return code, out, err


def evaluate(capsys, url, data=DATA, *more) -> int:
    code, out, err = run(capsys, "evaluate", PROGRAM, data, "--ledger", url, "--json", *more)
    assert code == 0, err
    return json.loads(out)["ledger"]["run"]


def changed_export(tmp_path: Path) -> tuple[Path, str]:
    """The example export with one contract of P-008 in 2017 sold in a larger quantity; its id."""
    rows = list(csv.reader(DATA.open(encoding="utf-8")))
    header = rows[0]
    at = {name: i for i, name in enumerate(header)}
    for r in rows[1:]:
        if len(r) == len(header) and r[at["partner_id"]] == "P-008" and r[at["signed"]].startswith("2017") \
                and r[at["product"]] == "O2 Business M":
            r[at["quantity"]] = str(int(r[at["quantity"]]) + 10)
            changed = r[at["contract_id"]]
            break
    path = tmp_path / "contracts-restated.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return path, changed


def test_evaluate_records_the_run_and_the_folder_names_it(capsys, url, tmp_path):
    out = tmp_path / "out"
    code, text, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", out, "--ledger", url)
    assert code == 0, err
    assert text.rstrip().endswith(f"Recorded as run 1 in {url}")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ledger"] == {"run": 1}
    from engine.ledger import open_ledger

    with open_ledger(url) as ledger:
        run_ = ledger.run(1)
        assert run_["counts"] == {"rows": 4000, "scored": 3815, "unscored": 150, "rejected": 35}
        assert run_["manifest"]["counts"] == manifest["counts"]
        assert run_["points_total"] == Decimal(manifest["points_total"])
        assert [i["sha256"] for i in run_["inputs"]] == [manifest["inputs"][0]["sha256"]]
        # every row accounted for: the contracts and rejects of the folder, row by row
        contracts = list(csv.DictReader((out / "contracts.csv").open(encoding="utf-8")))
        recorded = ledger.contracts(1)
        assert [(c["row"], c["contract_id"], c["status"], c["code"] or "") for c in recorded] == \
            [(int(c["row"]), c["contract_id"], c["status"], c["code"]) for c in contracts]
        assert sum(c["points"] for c in recorded) == run_["points_total"]
        assert len(ledger.rejects(1)) == 35
        partners = list(csv.DictReader((out / "partners.csv").open(encoding="utf-8")))
        assert [(p["partner_id"], p["period"], str(p["points"]), p["tier"]) for p in ledger.partner_periods(1)] == \
            [(p["partner_id"], p["period"], p["points"], p["tier"]) for p in partners]
        # the validated record, with its types, and the program from the recorded sources
        c = ledger.contracts(1, contract="C-000100")[0]
        record = ledger.record(1, c["row"])
        assert record["quantity"] == 4 and record["signed"].isoformat() == "2016-03-10"
        program = ledger.program(1)
        assert program.version_named(c["version"]).plan.score(record).points == c["points"]
        assert [v["sha256"] for v in ledger.sources(1)] == [v["sha256"] for v in manifest["versions"]]


def test_explain_from_the_ledger_matches_explain_from_the_files(capsys, url, tmp_path):
    evaluate(capsys, url)
    code, from_files, _ = run(capsys, "explain", PROGRAM, DATA, "--contract", "C-000100", "--full")
    assert code == 0
    code, from_ledger, _ = run(capsys, "explain", "--run", 1, "--contract", "C-000100", "--full", "--ledger", url)
    assert code == 0
    first, rest = from_ledger.split("\n", 1)
    assert first == "run 1, re-derived from the recorded sources and input record"
    assert rest == from_files
    code, short, _ = run(capsys, "explain", "--run", 1, "--contract", "C-000100", "--ledger", url)
    assert short == ("run 1 (O2 Business Partner Program)\n"
                     "contract C-000100 (row 101 of contracts.csv): partner P-001, signed 2016-03-10, version 2016.03\n"
                     "├── 120 points\n"
                     "└── +120  mobile-tariffs\n")
    code, out, _ = run(capsys, "explain", "--run", 1, "--partner", "P-008", "--period", "2017", "--ledger", url)
    lines = out.splitlines()
    assert lines[:3] == ["run 1 (O2 Business Partner Program)",
                         "partner P-008, period 2017: 10,061 points, earned Advanced",
                         "├── points by rule"]
    assert "    ├── C-003018  1,400  (row 3019, 2017-11-09, O2 Business M)" in lines
    code, out, _ = run(capsys, "explain", "--run", 1, "--contract", "C-000072", "--ledger", url)
    assert out == ("run 1: contract C-000072 (row 73 of contracts.csv) was rejected: partner_id: `partner_id` is "
                   "required (missing-required)\n")


def test_adjustments_closes_restatements_and_history(capsys, url, tmp_path, monkeypatch):
    monkeypatch.setenv("POINTS_LEDGER_NOW", "2026-01-02T03:04:05Z")
    evaluate(capsys, url)
    restated, contract = changed_export(tmp_path)
    code, out, err = run(capsys, "close", "--run", 1, "--period", "2016", "--author", "ops", "--ledger", url)
    assert (code, out) == (0, "period 2016 closed: run 1 is final\n")
    evaluate(capsys, url, restated)
    code, out, err = run(capsys, "close", "--run", 1, "--period", "2017", "--author", "ops", "--ledger", url)
    assert out.startswith("period 2017 closed: run 1 is final\nrun 2 restates it: P-008 +"), err
    code, out, _ = run(capsys, "adjust", "--partner", "P-008", "--period", "2017", "--points", "500", "--reason",
                       "dispute 17-04", "--author", "J. Weber", "--ledger", url)
    assert out == "adjustment 1: partner P-008, period 2017: +500 points (dispute 17-04; J. Weber)\n"
    code, out, _ = run(capsys, "history", "--partner", "P-008", "--ledger", url, "--json")
    history = json.loads(out)
    rows = {(h["run"], h["period"]): h for h in history["history"]}
    assert rows[(1, "2017")]["role"] == "final" and rows[(2, "2017")]["role"] == "restatement"
    assert rows[(1, "2017")]["total"] == str(Decimal(rows[(1, "2017")]["points"]) + 500)
    assert rows[(1, "2016")]["adjustments"] == "0"
    assert history["adjustments"][0]["reason"] == "dispute 17-04"
    before, after = Decimal(rows[(1, "2017")]["points"]), Decimal(rows[(2, "2017")]["points"])
    assert after > before
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "history", "--partner", "P-008", "--ledger", url)
    assert f"restates run 1: +{after - before:,}" in out
    assert "  2017: +500 points, dispute 17-04 (J. Weber, 2026-01-02T03:04:05Z)" in out
    code, out, _ = run(capsys, "history", "--partner", "P-008", "--runs", 1, 2, "--ledger", url, "--json")
    changes = json.loads(out)
    assert [c["contract_id"] for c in changes["contracts"]] == [contract]
    assert Decimal(changes["contracts"][0]["difference"]) == after - before
    assert [r["period"] for r in changes["rules"]] == ["2017"]
    code, out, _ = run(capsys, "runs", "--ledger", url, "--json")
    listed = json.loads(out)["runs"]
    assert [(r["id"], r["final"], r["restates"]) for r in listed] == [(1, ["2016", "2017"], {}),
                                                                      (2, [], {"2016": 1, "2017": 1})]
    # a closed period stays closed; a run is never edited by an adjustment
    code, _, err = run(capsys, "close", "--run", 2, "--period", "2017", "--ledger", url)
    assert code == 2 and "period 2017 is already closed with run 1" in err
    from engine.ledger import open_ledger

    with open_ledger(url) as ledger:
        assert ledger.partner_periods(1, "P-008", "2017")[0]["points"] == before


RUNS_TABLE = """\
Runs
┏━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━┓
┃ run ┃ recorded (UTC)   ┃ program              ┃ versions             ┃ input                 ┃  rows ┃ scored ┃ unscored ┃ rejected ┃    points ┃ final      ┃
┡━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━┩
│   1 │ 2026-01-02 03:04 │ O2 Business Partner  │ 2016.03, 2017.01,    │ examples/contracts.c… │ 4,000 │  3,815 │      150 │       35 │ 1,328,315 │ final 2017 │
│     │                  │ Program              │ 2018.01              │                       │       │        │          │          │           │            │
└─────┴──────────────────┴──────────────────────┴──────────────────────┴───────────────────────┴───────┴────────┴──────────┴──────────┴───────────┴────────────┘
"""


def test_runs_lists_each_run_for_a_person(capsys, url, monkeypatch):
    monkeypatch.setenv("POINTS_LEDGER_NOW", "2026-01-02T03:04:05Z")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(ROOT)
    code, _, err = run(capsys, "evaluate", "rulesets/o2-business", "examples/contracts.csv", "--ledger", url, "--json")
    assert code == 0, err
    run(capsys, "close", "--run", 1, "--period", "2017", "--ledger", url)
    code, out, _ = run(capsys, "runs", "--ledger", url)
    assert out == RUNS_TABLE


def test_verify_says_identical_or_lists_the_differences(capsys, url, tmp_path):
    evaluate(capsys, url)
    code, out, _ = run(capsys, "verify", 1, "--input", DATA, "--ledger", url)
    assert (code, out) == (0, "identical: the input has the recorded sha256 and scores as run 1 did (4,000 rows)\n")
    restated, contract = changed_export(tmp_path)
    code, out, _ = run(capsys, "verify", 1, "--input", restated, "--ledger", url, "--json")
    assert code == 1
    found = json.loads(out)
    assert not found["identical"]
    assert "sha256" in found["differences"][0]
    assert any(d.startswith(f"row ") and f"({contract}): points" in d for d in found["differences"])
    assert any(d.startswith("partner P-008, period 2017: recorded") for d in found["differences"])


def test_status_and_quality_are_recorded_with_the_run(capsys, url, tmp_path):
    out_dir = tmp_path / "out"
    run_id = evaluate(capsys, url, DATA, "--out", out_dir)
    code, out, err = run(capsys, "status", PROGRAM, DATA, "--legacy", LEGACY, "--ledger", url)
    assert code == 0 and out.endswith(f"Recorded with run {run_id} in the ledger\n"), err
    code, out, err = run(capsys, "quality", PROGRAM, QUALITY, "--contracts", out_dir, "--ledger", url)
    assert code == 0 and out.endswith(f"Recorded with run {run_id} in the ledger\n"), err
    from engine.ledger import open_ledger

    with open_ledger(url) as ledger:
        status = ledger.status(run_id, "P-008")
        assert [r["period"] for r in status["reviews"]] == ["2016", "2017", "2018"]
        assert ledger.quality(run_id, "P-008")["kpis"]
        assert [i["kind"] for i in ledger.run(run_id)["inputs"]] == ["contracts", "legacy", "quality"]
        assert ledger.history("P-008")[0]["status"] == status["reviews"][0]["status_after"]


KILLED = textwrap.dedent("""
    import sys, time
    from engine.ledger import Recording, open_ledger
    from engine.program import load_program
    from engine.run import RunOptions, evaluate

    ledger = open_ledger(sys.argv[1])
    recording = Recording()
    options = RunOptions(on_row=recording.on_row, on_reject=recording.on_reject)
    result = evaluate(load_program(sys.argv[2]), sys.argv[3], options)
    contracts = recording.contracts

    def slow(run_id):
        for n, row in enumerate(contracts(run_id)):
            if n == 2000:
                print("half way", flush=True)
                time.sleep(60)
            yield row
    recording.contracts = slow
    ledger.record_run(result, options, recording)
""")


def test_a_run_killed_half_way_leaves_nothing_visible(url, tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), url, PROGRAM, str(DATA)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline() == "half way\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    from engine.ledger import open_ledger

    with open_ledger(url) as ledger:
        assert ledger.runs() == []
        assert ledger.db.one("SELECT COUNT(*) FROM contracts")[0] == 0
        assert ledger.db.one("SELECT COUNT(*) FROM partner_periods")[0] == 0


def test_two_runs_recorded_at_once_both_land(url, tmp_path):
    points = str(Path(sys.executable).parent / "points")
    procs = [subprocess.Popen([points, "evaluate", PROGRAM, str(DATA), "--ledger", url, "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.append(json.loads(out)["ledger"]["run"])
    from engine.ledger import open_ledger

    with open_ledger(url) as ledger:
        assert sorted(r["id"] for r in ledger.runs()) == sorted(ids) and len(set(ids)) == 2
        for run_id in ids:
            assert len(ledger.contracts(run_id)) == 3965


def test_a_ledger_of_schema_1_is_migrated_and_keeps_its_runs(url):
    from engine.ledger import Recording, open_ledger, schema
    from engine.program import load_program
    from engine.run import RunOptions, evaluate as run_evaluate

    old = open_ledger(url, migrate=False)
    assert old.db.migrate(upto=1) == 1
    recording = Recording()
    options = RunOptions(on_row=recording.on_row, on_reject=recording.on_reject)
    result = run_evaluate(load_program(PROGRAM), DATA, options)
    run_id = old.record_run(result, options, recording)
    old.close()
    with open_ledger(url) as ledger:
        assert ledger.db.version() == schema.LATEST == 2
        assert [r["id"] for r in ledger.runs()] == [run_id]
        assert len(ledger.contracts(run_id)) == 3965
        ledger.adjust("P-008", "2017", "-20.5", "goodwill", "ops")
        assert ledger.partner_periods(run_id, "P-008", "2017")[0]["adjustments"] == Decimal("-20.5")


def test_errors_name_the_ledger_and_exit_2(capsys, url, tmp_path):
    evaluate(capsys, url)
    code, _, err = run(capsys, "explain", "--run", 9, "--contract", "C-000100", "--ledger", url)
    assert code == 2 and "there is no run 9 (runs 1 to 1; see `points runs`)" in err
    code, _, err = run(capsys, "explain", "--run", 1, "--contract", "C-999999", "--ledger", url)
    assert code == 2 and "run 1 has no contract C-999999" in err
    code, _, err = run(capsys, "adjust", "--partner", "P-008", "--period", "2017", "--points", "lots", "--reason",
                       "x", "--author", "y", "--ledger", url)
    assert code == 2 and "--points: 'lots' is not a number of points" in err
    code, _, err = run(capsys, "adjust", "--partner", "P-008", "--period", "17", "--points", "1", "--reason",
                       "x", "--author", "y", "--ledger", url)
    assert code == 2 and "no period" in err
    code, _, err = run(capsys, "history", "--partner", "P-404", "--ledger", url)
    assert code == 2 and "no recorded run has partner P-404" in err


def test_ledger_urls_and_the_project_file(capsys, tmp_path, monkeypatch):
    code, _, err = run(capsys, "runs")
    assert code == 2 and "no ledger: give --ledger URL" in err
    code, _, err = run(capsys, "runs", "--ledger", "mysql://x/y")
    assert code == 2 and "not a ledger URL" in err
    code, _, err = run(capsys, "runs", "--ledger", "postgresql://u:secret@127.0.0.1:1/db")
    assert code == 2 and "secret" not in err and "u:***@" in err
    code, _, err = run(capsys, "runs", "--ledger", tmp_path / "missing" / "x.ledger")
    assert code == 2 and "does not exist" in err
    not_a_ledger = tmp_path / "text.ledger"
    not_a_ledger.write_text("hello, this is no database at all\n" * 10)
    code, _, err = run(capsys, "runs", "--ledger", not_a_ledger)
    assert code == 2 and "not a ledger" in err
    (tmp_path / "points.toml").write_text('ledger = "team.ledger"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "evaluate", PROGRAM, DATA)
    assert code == 0 and "Recorded as run 1 in team.ledger" in out, err
    assert (tmp_path / "team.ledger").is_file()
    code, out, _ = run(capsys, "runs", "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [1]
    monkeypatch.setenv("POINTS_LEDGER", str(tmp_path / "other.ledger"))
    code, out, _ = run(capsys, "runs")
    assert out == "no runs recorded yet\n"


def test_record_encoding_keeps_types():
    from datetime import date

    from engine.ledger import decode_record, encode_record

    record = {"contract_id": "C-1", "quantity": 3, "pool_gb": Decimal("2.50"), "signed": date(2016, 3, 1),
              "flag": True, "missing": None, "text": '{"$d": "1"}'}
    back = decode_record(encode_record(record))
    assert back == record and str(back["pool_gb"]) == "2.50"
