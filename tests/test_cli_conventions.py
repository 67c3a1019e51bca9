"""The conventions of well-liked command-line tools: pipes, editors, CI formats, completion."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = str(ROOT / "rulesets" / "o2-business")
DATA = str(ROOT / "examples" / "contracts.csv")
SARIF_SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "sarif" / "sarif-2.1.0.schema.json").read_text(encoding="utf-8"))
POINTS = str(Path(sys.executable).with_name("points"))

HEADER = 'program "X"\nversion "1"\neffective 2016-01-01\n'
# Two findings: W301 (a thousands separator as a decimal point) and N2xx (an unknown field).
INPUT = ('input contract {\n  contract_id: text, required, unique\n  partner_id: text, required\n'
         '  signed: date, required\n  product: text, required\n}\n')
FINDINGS = HEADER + INPUT + 'tiers {\n  Basic from 0\n  Gold from 7_500\n}\nrule "R" {\n  when prodct == "x"\n  points 1.500\n}\n'
# A failing example whose name carries what annotation and XML formats must escape.
FAILING = HEADER + INPUT + (
    'tiers {\n  Basic from 0\n}\n'
    'rule "Any" {\n  when product == "a"\n  points 10\n}\n'
    'example "100%, one: two\x07" {\n  contract { product: "a" }\n  expect 11 points\n}\n'
    'example "passes" {\n  contract { product: "a" }\n  expect 10 points\n}\n'
)


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8"))
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- pipes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["evaluate", PROGRAM, DATA], ["show", PROGRAM], ["evaluate", PROGRAM, DATA, "--json"]])
def test_a_closed_pipe_ends_quietly_with_exit_0(argv):
    proc = subprocess.Popen([POINTS, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(20)  # `| head -c 20`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_piped_output_follows_columns_and_has_no_trailing_spaces():
    env = os.environ | {"COLUMNS": "60", "NO_COLOR": "1"}
    proc = subprocess.run([POINTS, "evaluate", PROGRAM, DATA], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert all(line == line.rstrip(" ") for line in lines)
    assert any(line.startswith("Rows") for line in lines)
    wide = subprocess.run([POINTS, "evaluate", PROGRAM, DATA], capture_output=True, text=True,
                          env=os.environ | {"COLUMNS": "150", "NO_COLOR": "1"})
    assert max(len(line) for line in wide.stdout.splitlines()) > 60


# --- editors: fmt --diff, standard input -----------------------------------------------------------


UNFORMATTED = HEADER + "tiers {\n Basic from 0\n     Gold from 7_500 }\n"


def test_fmt_diff_prints_a_unified_diff_and_changes_nothing(capsys, tmp_path):
    path = write(tmp_path, "a.rules", UNFORMATTED)
    code, out, err = run(capsys, "fmt", "--diff", path)
    assert code == 0
    assert out.startswith(f"--- {path} (as is)\n+++ {path} (formatted)\n")
    assert "+  Gold  from 7_500\n" in out and "-     Gold from 7_500 }\n" in out
    assert Path(path).read_text(encoding="utf-8") == UNFORMATTED
    assert "would reformat 1" in err


def test_fmt_reads_standard_input_and_prints_the_formatted_ruleset(capsys, monkeypatch):
    code, out, _ = run(capsys, "fmt", "-", stdin=UNFORMATTED, monkeypatch=monkeypatch)
    assert code == 0
    assert out == HEADER + "\ntiers {\n  Basic from 0\n  Gold  from 7_500\n}\n"
    code, out, _ = run(capsys, "fmt", "--check", "-", stdin=UNFORMATTED, monkeypatch=monkeypatch)
    assert code == 1 and out.startswith("--- <stdin> (as is)")


def test_fmt_of_standard_input_with_a_syntax_error_names_the_given_file_name(capsys, monkeypatch):
    code, _, err = run(capsys, "fmt", "-", "--stdin-filename", "draft.rules", stdin=HEADER + "tiers {\n",
                       monkeypatch=monkeypatch)
    assert code == 2
    assert "draft.rules:4:" in err


def test_check_reads_standard_input(capsys, monkeypatch):
    code, _, err = run(capsys, "check", "-", "--stdin-filename", "draft.rules", stdin=FINDINGS,
                       monkeypatch=monkeypatch)
    assert code == 1
    assert "draft.rules:15:8: error" in err and "prodct" in err


def test_json_is_accepted_by_show_fmt_and_schema(capsys):
    code, out, _ = run(capsys, "show", PROGRAM, "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["version"] == "2018.01" and 'program "O2 Business Partner Program"' in shown["text"]
    code, out, _ = run(capsys, "fmt", "--check", "--json", PROGRAM)
    assert code == 0
    assert json.loads(out)["changed"] == 0 and len(json.loads(out)["files"]) == 3
    code, out, _ = run(capsys, "schema", PROGRAM, "--json")
    assert code == 0 and json.loads(out)["type"] == "object"


# --- points test --run ---------------------------------------------------------------------------


def test_run_selects_examples_by_name_glob_and_version(capsys):
    code, out, _ = run(capsys, "test", PROGRAM, "--run", "pool", "-v")
    assert code == 0
    assert out.splitlines()[-1] == "2 passed, 0 failed"
    code, out, _ = run(capsys, "test", PROGRAM, "--run", "2016.03:*POOL*", "-v")
    assert out.splitlines()[-1] == "1 passed, 0 failed" and "2016.03: a 100 GB pool" in out


def test_run_that_matches_nothing_is_a_usage_error(capsys):
    code, _, err = run(capsys, "test", PROGRAM, "--run", "no such example")
    assert code == 2
    assert "no example of O2 Business Partner Program matches" in err


# --- CI formats -------------------------------------------------------------------------------


def test_check_as_github_annotations(capsys, tmp_path):
    path = write(tmp_path, "f.rules", FINDINGS)
    code, out, _ = run(capsys, "check", path, "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    warning = next(line for line in lines if line.startswith("::warning "))
    assert f"file={path.replace(':', '%3A')},line=16," in warning and "title=W301::" in warning
    assert any(line.startswith("::error ") and "prodct" in line for line in lines)


def test_github_annotations_escape_values_so_no_second_command_can_start(capsys, tmp_path):
    path = write(tmp_path, "x.rules", FAILING)
    code, out, _ = run(capsys, "test", path, "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 1  # the failure's line breaks are %0A, not new lines
    line = lines[0]
    assert line.startswith(f"::error file={path.replace(':', '%3A')},line=")
    assert "title=example failed%3A 100%25%2C one%3A two\\x07::" in line
    assert "\x07" not in line


def test_check_as_sarif_is_valid_sarif_2_1_0(capsys, tmp_path):
    path = write(tmp_path, "f.rules", FINDINGS)
    code, out, _ = run(capsys, "check", path, "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    assert {r["level"] for r in results} == {"error", "warning"}
    assert {r["ruleId"] for r in results} <= {rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    region = next(r for r in results if r["level"] == "warning")["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 16


def test_clean_check_and_failed_examples_as_sarif_are_valid(capsys, tmp_path):
    code, out, _ = run(capsys, "check", PROGRAM, "--format", "sarif")
    assert code == 0
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []
    code, out, _ = run(capsys, "test", write(tmp_path, "x.rules", FAILING), "--format", "sarif")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert len(log["runs"][0]["results"]) == 1
    assert "expected 11 points, got 10" in log["runs"][0]["results"][0]["message"]["text"]


def test_examples_as_junit_xml(capsys, tmp_path):
    code, out, _ = run(capsys, "test", write(tmp_path, "x.rules", FAILING), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.encode("utf-8"))  # well-formed, control characters shown as \x07
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["100%, one: two\\x07", "passes"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "expected 11 points, got 10"
    assert cases[1].find("failure") is None


# --- completion ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F"), ("zsh", "#compdef points"),
                                           ("fish", "complete --no-files --command points")])
def test_completion_scripts(capsys, shell, marker):
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0
    assert marker in out and "_POINTS_COMPLETE" in out


def test_completion_completes_commands():
    env = os.environ | {"_POINTS_COMPLETE": "bash_complete", "COMP_WORDS": "points ev", "COMP_CWORD": "1"}
    proc = subprocess.run([POINTS], capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    assert "plain,evaluate" in proc.stdout.splitlines()
