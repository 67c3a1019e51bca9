"""Programs of versions: effective dating at the boundaries, the version set's findings, impact."""
from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from dsl.errors import RulesetError
from engine.impact import impact
from engine.program import load_program
from engine.run import evaluate

ROOT = Path(__file__).resolve().parent.parent
O2 = ROOT / "rulesets" / "o2-business"
DATA = ROOT / "examples" / "contracts.csv"

TEMPLATE = '''program "{program}"
version "{name}"
effective {effective}

input contract {{
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
}}

tiers {{
  Basic from 0
  Gold  from {gold}
}}

rule "Flat" {{
  when product == "X"
  points {points}
}}
'''


def write_version(folder: Path, file: str, name: str, effective: str, points: int = 10, gold: int = 100,
                  program: str = "Dated") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(TEMPLATE.format(program=program, name=name, effective=effective, points=points,
                                               gold=gold), encoding="utf-8")


@pytest.fixture
def dated(tmp_path) -> Path:
    folder = tmp_path / "dated"
    write_version(folder, "a.rules", "1", "2016-03-01", points=10, gold=100)
    write_version(folder, "b.rules", "2", "2017-01-01", points=20, gold=50)
    return folder


@pytest.mark.parametrize("day, version", [
    ("2016-02-29", None),   # the day before the first version
    ("2016-03-01", "1"),    # its first day
    ("2016-03-02", "1"),
    ("2016-12-31", "1"),    # the day before the second
    ("2017-01-01", "2"),    # the second's first day
    ("2017-01-02", "2"),
])
def test_version_in_force_at_the_boundaries(dated, day, version):
    found = load_program(dated).version_for(date.fromisoformat(day))
    assert (found.name if found else None) == version


def test_contracts_are_scored_by_date_and_tiers_use_the_period_end(dated, tmp_path):
    data = tmp_path / "c.csv"
    rows = [("C1", "P1", "2016-02-29"), ("C2", "P1", "2016-03-01"), ("C3", "P1", "2016-12-31"),
            ("C4", "P1", "2017-01-01"), ("C5", "P2", "2017-06-30")]
    data.write_text("contract_id,partner_id,signed,product\n" + "".join(f"{c},{p},{d},X\n" for c, p, d in rows),
                    encoding="utf-8")
    result = evaluate(load_program(dated), data, out_dir=tmp_path / "out")
    with open(tmp_path / "out" / "contracts.csv", encoding="utf-8") as f:
        got = [(r["contract_id"], r["version"], r["points"], r["reason"]) for r in csv.DictReader(f)]
    assert got == [("C1", "", "", "no version in force on 2016-02-29"), ("C2", "1", "10", ""),
                   ("C3", "1", "10", ""), ("C4", "2", "20", ""), ("C5", "2", "20", "")]
    tiers = {(p.partner_id, p.period): (p.points, p.tier, p.tier_version) for p in result.partners}
    assert tiers[("P1", "2016")] == (Decimal(20), "Basic", "1")   # 20 < 100 under version 1
    assert tiers[("P1", "2017")] == (Decimal(20), "Basic", "2")   # 20 < 50 under version 2
    assert tiers[("P2", "2017")] == (Decimal(20), "Basic", "2")


def _codes(err: RulesetError) -> list[str]:
    return [d.code for d in err.diagnostics]


def test_two_versions_with_one_name_are_refused(tmp_path):
    write_version(tmp_path / "p", "a.rules", "1", "2016-01-01")
    write_version(tmp_path / "p", "b.rules", "1", "2017-01-01")
    with pytest.raises(RulesetError) as err:
        load_program(tmp_path / "p")
    assert "V402" in _codes(err.value) and 'version "1" is also declared in' in str(err.value)


def test_two_versions_with_one_date_are_refused(tmp_path):
    write_version(tmp_path / "p", "a.rules", "1", "2016-01-01")
    write_version(tmp_path / "p", "b.rules", "2", "2016-01-01")
    with pytest.raises(RulesetError) as err:
        load_program(tmp_path / "p")
    assert "V403" in _codes(err.value)


def test_versions_of_different_programs_are_refused(tmp_path):
    write_version(tmp_path / "p", "a.rules", "1", "2016-01-01", program="One")
    write_version(tmp_path / "p", "b.rules", "2", "2017-01-01", program="Other")
    with pytest.raises(RulesetError) as err:
        load_program(tmp_path / "p")
    assert "V404" in _codes(err.value)


def test_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RulesetError) as err:
        load_program(tmp_path / "empty")
    assert _codes(err.value) == ["V401"] and "holds no .rules files" in str(err.value)


def test_a_date_before_the_predecessors_is_a_warning(tmp_path):
    write_version(tmp_path / "p", "a.rules", "2016.01", "2016-06-01")
    write_version(tmp_path / "p", "b.rules", "2016.02", "2016-03-01")
    program = load_program(tmp_path / "p")
    assert [d.code for d in program.warnings] == ["V405"]
    ok = tmp_path / "q"
    write_version(ok, "a.rules", "2016.01", "2016-03-01")
    write_version(ok, "b.rules", "2016.02", "2016-06-01")
    assert load_program(ok).warnings == ()


def test_impact_totals_reconcile_with_two_plain_evaluations():
    program = load_program(O2)
    old, new = program.version_named("2016.03"), program.version_named("2017.01")
    report = impact(old, new, DATA)
    plain = {}
    for version in (old, new):
        result = evaluate(program, DATA, fixed=(version,))
        plain[version.name] = {(p.partner_id, p.period): p.points for p in result.partners}
    assert {(p.partner_id, p.period): p.old_points for p in report.partners if p.old_points} == \
        {k: v for k, v in plain["2016.03"].items() if v}
    assert {(p.partner_id, p.period): p.new_points for p in report.partners if p.new_points} == \
        {k: v for k, v in plain["2017.01"].items() if v}
    assert report.new_total - report.old_total == sum((r.delta for r in report.rules), Decimal(0))
    assert report.new_total != report.old_total
    moved = sum(n for c in report.transitions.values() for n in c.values())
    assert moved == len(report.partners)


def test_the_odd_program_out_is_the_one_flagged(tmp_path):
    write_version(tmp_path / "p", "a.rules", "1", "2016-01-01", program="Other")
    write_version(tmp_path / "p", "b.rules", "2", "2017-01-01", program="Main")
    write_version(tmp_path / "p", "c.rules", "3", "2018-01-01", program="Main")
    with pytest.raises(RulesetError) as err:
        load_program(tmp_path / "p")
    flagged = [d for d in err.value.diagnostics if d.code == "V404"]
    assert len(flagged) == 1 and flagged[0].span.file.endswith("a.rules")
