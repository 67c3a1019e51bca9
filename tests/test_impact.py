"""`points diff --impact`: what a new version does to every partner, split edit by edit."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.attribution import apply, units
from engine.cli import main
from engine.diff import diff_rulesets
from engine.impact import impact
from engine.program import load_program, program_from_text
from engine.run import evaluate

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
DATA = str(ROOT / "examples" / "contracts.csv")
LEGACY = str(ROOT / "examples" / "legacy.csv")

HEADER = '''program "Small"
version "{name}"
effective {effective}

input contract {{
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
  quantity:    integer >= 1, default 1
}}

tiers {{
  Basic from 0
  Gold  from {gold}
}}

table prices by product {{
  "A": {a}
  "B": 10
}}

rule "Prices" {{
  when product in prices
  points prices[product] * quantity, at most {cap}
}}

review {{
  downgrade {downgrade}
}}
'''
SMALL_DATA = (
    "contract_id,partner_id,signed,product,quantity\n"
    "C1,P1,2015-12-31,A,1\n"        # before the program: no version covers it
    "C2,P1,2016-02-01,A,3\n"
    "C3,P1,2016-05-01,B,2\n"
    "C4,P2,2016-06-01,A,9\n"
    "C5,P2,2017-03-01,A,1\n"
    "C6,P3,2017-04-01,X,1\n"        # a product no rule covers
    "C7,P3,2017-04-02,,1\n"         # rejected: product is required
)


def small(tmp_path: Path, name: str, **values) -> Path:
    fields = {"name": name, "effective": "2016-01-01", "gold": "50", "a": "20", "cap": "100",
              "downgrade": "to earned"} | values
    folder = tmp_path / name
    folder.mkdir()
    (folder / "v.rules").write_text(HEADER.format(**fields), encoding="utf-8")
    return folder


def small_data(tmp_path: Path) -> str:
    path = tmp_path / "data.csv"
    path.write_text(SMALL_DATA, encoding="utf-8")
    return str(path)


def one(folder: Path):
    return load_program(folder).versions[0]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("a, b", [(0, 1), (1, 2), (0, 2), (2, 0)])
def test_edits_and_interaction_add_up_exactly_to_the_total(a, b):
    program = load_program(PROGRAM)
    old, new = program.versions[a], program.versions[b]
    report = impact(old, new, DATA, first_day=program.first_day, legacy={})
    measured = [u.delta for u in report.edits if u.delta is not None]
    assert measured, "every edit of the example versions can be applied alone"
    assert sum(measured, Decimal(0)) + report.interaction == report.delta
    assert sum((r.delta for r in report.rules), Decimal(0)) == report.delta


def test_an_edit_alone_is_what_the_old_version_with_just_that_change_gives():
    program = load_program(PROGRAM)
    old, new = program.versions[0], program.versions[1]
    report = impact(old, new, DATA, first_day=program.first_day)
    edit = next(u for u in report.edits if u.unit.describe().startswith('table mobile_tariffs, "O2 Business L" / new'))
    # the same change written by hand into the old file
    text = old.source.replace('"O2 Business L":     new 220, existing 90', '"O2 Business L":     new 240, existing 90')
    assert text != old.source
    by_hand = program_from_text(text, "by-hand.rules").versions[0]
    alone = impact(old, by_hand, DATA, first_day=program.first_day, with_edits=False)
    assert edit.delta == alone.delta
    assert edit.delta > 0


def test_interaction_of_a_raised_cell_and_a_raised_cap_in_one_rule(tmp_path):
    data = small_data(tmp_path)
    old = one(small(tmp_path, "1", a="20", cap="50"))
    new = one(small(tmp_path, "2", a="30", cap="100"))
    report = impact(old, new, data)
    by_kind = {u.unit.kind: u for u in report.edits}
    # P2's 9 x A: old 180 capped at 50; the cell alone: 270 capped at 50 (+0); the cap alone: 100 (+50);
    # both: 100 (+50). C2 (3 x A): 60 -> 50 capped; cell alone 90 -> 50; cap alone 60; both 90.
    assert by_kind["cell"].delta == Decimal(0) + Decimal(10)  # C5: 20 -> 30
    assert by_kind["modifiers"].delta == Decimal(50) + Decimal(10)  # C4 capped at 100 instead of 50, C2 60
    assert report.delta == Decimal(50) + Decimal(40) + Decimal(10)
    assert report.interaction == report.delta - by_kind["cell"].delta - by_kind["modifiers"].delta == Decimal(30)


def test_rows_no_version_covers_count_under_neither_side(tmp_path):
    data = small_data(tmp_path)
    old = one(small(tmp_path, "1", effective="2016-01-01"))
    new = one(small(tmp_path, "2", effective="2017-01-01", a="25"))
    report = impact(old, new, data, first_day=old.effective)
    assert report.unscored_old["no-version"] == report.unscored_new["no-version"] == 1
    assert report.unscored_old["unknown-product"] == 1  # X is in no version
    assert report.counts_old.rejected == 1
    # P1 2015 lies before the program: its row is unscored on both sides, and no tiers are compared
    assert ("P1", "2015") not in {(p.partner_id, p.period) for p in report.partners}
    assert report.old_total == 80 + 100 + 20 and report.new_total == 95 + 100 + 25


def test_period_restricts_the_comparison_to_contracts_signed_in_it():
    program = load_program(PROGRAM)
    old, new = program.versions[0], program.versions[1]
    full = impact(old, new, DATA, first_day=program.first_day, with_edits=False)
    only = impact(old, new, DATA, first_day=program.first_day, periods=("2017",))
    assert {p.period for p in only.partners} == {"2017"}
    assert only.old_total == sum((p.old_points for p in full.partners if p.period == "2017"), Decimal(0))
    assert only.new_total == sum((p.new_points for p in full.partners if p.period == "2017"), Decimal(0))
    assert only.rows_compared + only.rows_outside == full.rows_compared
    assert sum((u.delta for u in only.edits if u.delta is not None), Decimal(0)) + only.interaction == only.delta
    assert set(only.transitions) == {"2017"}


def test_a_changed_downgrade_policy_is_measured_in_the_status_reviews():
    program = load_program(PROGRAM)
    old, new = program.versions[0], program.versions[1]  # at most one level -> to earned
    from engine.statusrun import read_legacy

    report = impact(old, new, DATA, first_day=program.first_day, legacy=read_legacy(LEGACY))
    policy = next(u for u in report.edits if u.unit.kind == "review")
    assert policy.delta == 0 and policy.status_moves > 0
    changed = {(s.partner_id, s.period): s for s in report.reviews.changed()}
    assert changed
    for s in changed.values():
        assert s.old_rule == "downgrade at most 1 level" and s.new_rule == "downgrade to earned"
        order = report.tier_order
        assert order.index(s.new_after) < order.index(s.old_after)  # to earned falls further
    assert report.reviews.current == "2018"


def test_tier_changes_are_listed_with_points_under_both(capsys):
    code, out, _ = run(capsys, "diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", DATA, "--json",
                       "--sort", "delta")
    assert code == 1
    data = json.loads(out)["impact"]
    changes = data["tier_changes"]
    assert changes and all(c["old_tier"] != c["new_tier"] for c in changes)
    listed = {(c["partner_id"], c["period"]) for c in changes}
    assert listed == {(p["partner_id"], p["period"]) for p in data["partners"] if p["old_tier"] != p["new_tier"]}
    assert data["interaction"] is not None and data["edits"]


def test_same_version_names_are_told_apart_and_numbers_are_grouped(capsys, tmp_path):
    data = small_data(tmp_path)
    a, b = small(tmp_path, "1", cap="100000"), tmp_path / "copy"
    b.mkdir()
    (b / "v.rules").write_text((a / "v.rules").read_text(encoding="utf-8").replace('"A": 20', '"A": 2000'),
                               encoding="utf-8")
    code, out, _ = run(capsys, "diff", a, b, "--impact", data)
    assert code == 1
    assert "old 1 ↓  new 1 →" in out  # the matrix says which side is which
    assert "+17,820" in out  # P2 2016: 9 x A, 180 -> 18,000, grouped


def test_side_by_side_exits_1_when_the_versions_differ_and_0_when_equal(capsys, tmp_path):
    data = small_data(tmp_path)
    a, b = small(tmp_path, "1", cap="100000"), small(tmp_path, "2", a="2000", cap="100000")
    code, out, _ = run(capsys, "diff", a, b, "--impact", data, "--partner", "P2")
    assert code == 1
    assert "18,000" in out and "+19,800" in out  # grouped points; the totals line: 200 -> 20,000
    assert out.splitlines()[-2].split() == ["│", "2", "│", "contracts", "│", "│", "│", "200", "│", "20,000", "│",
                                            "+19,800", "│"]
    code, _, _ = run(capsys, "diff", a, a, "--impact", data, "--partner", "P2")
    assert code == 0


def test_side_by_side_honours_period(capsys, tmp_path):
    data = small_data(tmp_path)
    a, b = small(tmp_path, "1"), small(tmp_path, "2", a="30")
    code, out, _ = run(capsys, "diff", a, b, "--impact", data, "--partner", "P2", "--period", "2017", "--json")
    rows = json.loads(out)["contracts"]
    assert [r["contract_id"] for r in rows] == ["C5"]


def test_change_by_edit_exact_output(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # piped output: as wide as COLUMNS says
    data = small_data(tmp_path)
    a = small(tmp_path, "1", a="20", cap="50", gold="50")
    b = small(tmp_path, "2", a="30", cap="100", gold="60", downgrade="at most 1 level")
    code, out, _ = run(capsys, "diff", a, b, "--impact", data)
    assert code == 1
    start = out.index("Change by edit")
    table = out[start:out.index("Change by rule")]
    assert table.splitlines() == [
        "Change by edit (each applied alone to the old version)",
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓",
        "┃ edit                                                     ┃ points ┃ tier moves ┃ status moves ┃",
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩",
        # P2 2016 has 50 points: Gold under `from 50`, Basic under `from 60`; reviewed so too
        "│ tier Gold: from 50 -> from 60                            │      0 │          1 │            1 │",
        "│ table prices, \"A\": 20 -> 30                              │    +10 │          0 │            0 │",
        "│ rule \"Prices\": cap at most 50 -> at most 100             │    +60 │          0 │            0 │",
        "│ review: downgrade to earned -> downgrade at most 1 level │      0 │          0 │            0 │",
        "│ interaction (the edits together, beyond their sum)       │    +30 │            │              │",
        "├──────────────────────────────────────────────────────────┼────────┼────────────┼──────────────┤",
        "│ total                                                    │   +100 │            │              │",
        "└──────────────────────────────────────────────────────────┴────────┴────────────┴──────────────┘",
    ]
    assert "Tier transitions, 2015" not in out  # before the program: its row is unscored, no tiers
    assert "Tier transitions, 2016" in out


def test_units_apply_one_change_each():
    program = load_program(PROGRAM)
    old, new = program.versions[0], program.versions[2]
    diff = diff_rulesets(old.ruleset, new.ruleset)
    for unit in units(diff):
        hybrid = apply(old.ruleset, new.ruleset, unit)
        left = diff_rulesets(hybrid, new.ruleset).meaningful
        # applying a unit removes exactly its edits from what still separates old from new
        assert not set(e.describe() for e in unit.edits) & set(e.describe() for e in left)
        assert len(diff_rulesets(old.ruleset, hybrid).meaningful) == len(unit.edits)


def test_impact_counts_reconcile_with_a_real_run():
    program = load_program(PROGRAM)
    report = impact(program.versions[0], program.versions[1], DATA, first_day=program.first_day,
                    with_edits=False)
    run_counts = evaluate(program, DATA).counts
    assert report.counts_old.rows == run_counts.rows
    assert report.counts_old.rejected == run_counts.rejected
    assert report.rows_compared == run_counts.scored + run_counts.unscored
