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
