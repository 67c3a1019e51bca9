"""Fuzzed rulesets, CSV, JSON Lines and XLSX exports through every command, in-process.

Every mutant goes through `engine.cli.main(argv)` as a person would run it, and every run must:
- never exit 3 (an internal error) nor print a traceback;
- name the file and where in it for every message (file:line:col for a ruleset finding, whose
  excerpt shows that line; a row or line for a data file; a file that cannot be opened at all
  names the file);
- print no raw control character from the input (escape sequences reach terminals);
- for `evaluate --out`: read the whole file unless its header, encoding or container is broken
  (a bad row is rejected and the reading goes on), and account every row once: manifest counts add up, and each input row number
  is in contracts.csv or in rejects.csv exactly once (and, when the file's structure says which
  rows it holds, exactly those rows).
Most data mutants change values and rows, so that they reach validation and scoring; each data
test counts how many got past the header and asserts it is at least half.

The mutators live in tests/fuzz/. The examples here are derandomized (the same cases on every run,
no example database) and bounded; tests/fuzz/campaign.py runs the same targets randomized, for as
long as you like, and counts failures by cause.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz import targets  # noqa: E402
from fuzz.mutants import HypothesisDraw, Mutant  # noqa: E402

# Shrinking a failing mutant can take minutes; set POINTS_FUZZ_SHRINK=1 to get the smallest case.
PHASES = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("POINTS_FUZZ_SHRINK") else [])
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False, phases=PHASES,
                suppress_health_check=list(HealthCheck))


def _fuzz(target, examples: int, **options) -> Counter:
    """Run TARGET on EXAMPLES derandomized cases; what happened, counted."""
    stats: Counter = Counter()

    @settings(FUZZ, max_examples=examples)
    @given(data=st.data())
    def one(data):
        with tempfile.TemporaryDirectory() as folder:
            result = target(HypothesisDraw(data), Path(folder), **options)
        stats["cases"] += 1
        stats.update(k for k, v in result.items() if v)

    try:
        one()
    finally:  # the volume and the share past the header, shown with a failure too
        print(f"{target.__name__}: {dict(stats)}")
    return stats


def assert_share(stats: Counter, what: str) -> None:
    past, scored = stats["past header"] / stats["cases"], stats["scored"] / stats["cases"]
    print(f"{what}: {stats['cases']} mutants, {past:.0%} past the header, {scored:.0%} with a row scored "
          "or unscored")
    assert past >= 0.5, f"only {past:.0%} of the {what} mutants got past the header: they test too little"


def test_csv_mutants_are_accounted_for():
    assert_share(_fuzz(targets.csv_case, 180, others=False), "CSV")


def test_csv_mutants_through_every_data_command():
    assert_share(_fuzz(targets.csv_case, 110), "CSV")


def test_json_lines_mutants():
    assert_share(_fuzz(targets.jsonl_case, 130), "JSON Lines")


def test_xlsx_mutants():
    assert_share(_fuzz(targets.xlsx_case, 130), "XLSX")


def test_quality_report_mutants():
    assert_share(_fuzz(targets.quality_case, 60), "quality CSV")


def test_ruleset_mutants_through_check_fmt_and_test():
    _fuzz(targets.ruleset_case, 170)


def test_mutated_version_in_a_program_through_evaluate_test_show_status_and_diff():
    _fuzz(targets.program_case, 50)


def test_unmutated_inputs_pass_every_check(tmp_path):
    """The starting points are clean, so a failure above is the mutation's."""
    mutant = Mutant("small.csv", targets.SMALL_DATA.read_bytes(), None)
    counts = targets.evaluate_mutant(tmp_path, mutant)
    assert counts is not None and counts["rows"] == counts["scored"] + counts["unscored"] == 12
    for name, text in targets.SOURCES.items():
        path = tmp_path / name.split("--")[-1]
        path.write_text(text, encoding="utf-8")
        assert targets.run_checked(["check", path], {str(path): text})[0] in (0, 1)
