"""The semantic diff: fixture pairs (old.rules, new.rules, expected.txt) and the example program.

Each folder under tests/fixtures/diff/ is one case: expected.txt lists the `describe()` lines
wanted, in order; its first line `# equal: yes|no` says whether the two versions mean the same.
"""
from __future__ import annotations

import json
import random
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from dsl.ast import Example, InputBlock, Quality, Review, Table
from dsl.formatter import format_ruleset
from dsl.parser import parse, parse_file
from engine.diff import Edit, diff_rulesets, rule_changes_by_id, tables_used_by_rule
from engine.diff_render import diff_to_json, render_diff_text

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
PROGRAM = Path(__file__).parent.parent / "rulesets" / "o2-business"
VERSIONS = sorted(PROGRAM.glob("*.rules"))


def _case(name: str):
    folder = FIXTURES / name
    old, new = parse_file(folder / "old.rules"), parse_file(folder / "new.rules")
    lines = (folder / "expected.txt").read_text(encoding="utf-8").splitlines()
    equal = lines[0].startswith("# equal: yes")
    return old, new, [line for line in lines if line and not line.startswith("#")], equal


@pytest.mark.parametrize("name", CASES)
def test_fixture(name):
    old, new, expected, equal = _case(name)
    diff = diff_rulesets(old, new)
    assert [e.describe() for e in diff.edits] == expected
    assert diff.equal is equal


@pytest.mark.parametrize("name", CASES)
def test_reverse_diff_swaps_sides(name):
    old, new, _, equal = _case(name)
    forward, backward = diff_rulesets(old, new), diff_rulesets(new, old)
    swap = {"added": "removed", "removed": "added", "changed": "changed"}
    assert sorted((swap[e.kind], e.area, e.key) for e in forward.edits) == sorted(
        (e.kind, e.area, e.key) for e in backward.edits)
    assert backward.equal is equal


def test_fixture_cases_cover_the_brief():
    # a runner that silently found no folders would pass; make the set of cases explicit
    assert len(CASES) >= 15 and {"reorder_only", "reformat_only", "combine_first_order"} <= set(CASES)


def test_changed_cell_carries_both_spans():
    old, new, _, _ = _case("changed_cell")
    (edit,) = diff_rulesets(old, new).edits
    assert (edit.kind, edit.area, edit.key) == ("changed", "table cell", ("mobile_tariffs", "O2 Business M", "new"))
    assert (edit.old, edit.new) == ("180", "200")
    source_line = (FIXTURES / "changed_cell" / "new.rules").read_text().splitlines()[edit.new_span.line - 1]
    assert '"O2 Business M"' in source_line and edit.old_span.line == edit.new_span.line
    assert edit.old_span.file.endswith("old.rules") and edit.new_span.file.endswith("new.rules")


def test_added_and_removed_have_one_side():
    old, new, _, _ = _case("added_removed_rule")
    added, removed = diff_rulesets(old, new).edits
    assert added.old is None and added.old_span is None and added.new_span is not None
    assert removed.new is None and removed.new_span is None and "fixed_line" in removed.old


def test_edits_are_frozen():
    old, new, _, _ = _case("changed_cell")
    edit = diff_rulesets(old, new).edits[0]
    with pytest.raises(FrozenInstanceError):
        edit.new = "300"  # type: ignore[misc]


RULE_LINES = {
    "A": 'rule "A" { when product == "a" points 1 }',
    "B": 'rule "B" { when product == "b" points 2 }',
    "C": 'rule "C" { points 3 }',
}


def _rules(header: str = "", review: str = "", order: str = "ABC") -> str:
    """A small ruleset text: rules A, B, C in `order`, an optional header line and review block."""
    head = f'program "P"\nversion "1"\neffective 2016-01-01\n{header}\ntiers {{ Basic from 0  Advanced from 100 }}\n'
    return head + "\n".join(RULE_LINES[n] for n in order) + f"\n{review}\n"


def test_rule_order_matters_only_under_combine_first():
    assert diff_rulesets(parse(_rules()), parse(_rules(order="CAB"))).equal
    assert diff_rulesets(parse(_rules("combine exclusive")), parse(_rules("combine exclusive", order="BCA"))).equal
    diff = diff_rulesets(parse(_rules("combine first")), parse(_rules("combine first", order="ACB")))
    assert [e.describe() for e in diff.edits] == ['rule "B" moved from position 2 to 3 (combine first)']
    assert not diff.equal


def test_switching_to_combine_first_reports_the_mode_and_the_moves():
    diff = diff_rulesets(parse(_rules()), parse(_rules("combine first", order="BAC")))
    assert [e.describe() for e in diff.edits] == [
        "header: combine sum -> combine first",
        'rule "A" moved from position 1 to 2 (combine first)',
    ]


def test_documented_defaults_written_out_change_nothing():
    bare = parse(_rules())
    explicit = parse(_rules("period year\ncombine sum",
                            "review { newcomers start at Basic\n downgrade to earned }"))
    assert diff_rulesets(bare, explicit).edits == ()


def test_keep_equal_to_the_threshold_is_no_change_but_a_lower_keep_is():
    plain = parse(_rules())
    assert diff_rulesets(plain, parse(_rules().replace("Advanced from 100", "Advanced from 100 keep 100"))).equal
    lower = diff_rulesets(plain, parse(_rules().replace("Advanced from 100", "Advanced from 100 keep 80")))
    assert [e.describe() for e in lower.edits] == ["tier Advanced: keep added: 80"]


def test_writing_out_the_default_downgrade_differs_from_another_policy():
    diff = diff_rulesets(parse(_rules()), parse(_rules(review="review { downgrade at most 2 levels }")))
    assert [e.describe() for e in diff.edits] == ["review: downgrade to earned -> downgrade at most 2 levels"]


def test_condition_operand_order_is_no_change_but_negation_is():
    old = parse(_rules().replace('product == "a"', 'product in ("a", "x") and quantity > 1'))
    same = parse(_rules().replace('product == "a"', 'quantity > 1 and product in ("x", "a")'))
    negated = parse(_rules().replace('product == "a"', 'product not in ("a", "x") and quantity > 1'))
    assert diff_rulesets(old, same).equal
    (edit,) = diff_rulesets(old, negated).edits
    assert edit.area == "rule condition" and "not in" in edit.new


def test_modifier_order_is_a_change():
    old = parse(_rules().replace("points 3", "points 3 per quantity, at most 10, rounded half up"))
    new = parse(_rules().replace("points 3", "points 3 per quantity, rounded half up, at most 10"))
    (edit,) = diff_rulesets(old, new).edits
    assert edit.describe() == (
        'rule "C": order of modifiers at most 10, rounded half up -> rounded half up, at most 10')
    raised = parse(_rules().replace("points 3", "points 3 per quantity, rounded half up, at most 12"))
    assert [e.describe() for e in diff_rulesets(old, raised).edits] == [
        'rule "C": order of modifiers at most 10, rounded half up -> rounded half up, at most 12',
        'rule "C": cap at most 10 -> at most 12',
    ]


def test_renaming_a_rule_is_a_removal_and_an_addition():
    diff = diff_rulesets(parse(_rules()), parse(_rules().replace('rule "B"', 'rule "Bonus"')))
    assert [(e.kind, e.key) for e in diff.edits] == [("removed", ("b",)), ("added", ("bonus",))]


def test_tables_used_by_rule_and_changes_attributed_to_rules():
    old, new, _, _ = _case("changed_cell")
    assert tables_used_by_rule(old) == {
        "mobile-tariffs": {"mobile_tariffs"}, "fixed-line-orders": {"fixed_line"}, "unite-pool-volume": set(),
    }
    by_rule = rule_changes_by_id(diff_rulesets(old, new))
    assert list(by_rule) == ["mobile-tariffs"]
    assert by_rule["mobile-tariffs"][0].area == "table cell"


def test_rule_changes_by_id_groups_rule_edits():
    old, new, _, _ = _case("cap_rounding")
    by_rule = rule_changes_by_id(diff_rulesets(old, new))
    assert {rule: [e.area for e in edits] for rule, edits in by_rule.items()} == {
        "unite-pool-volume": ["cap", "floor", "rounding"]}


# --------------------------------------------------------------------------- rendering


def test_render_groups_by_area_with_places_on_both_sides():
    old, new, _, _ = _case("added_removed_row")
    text = render_diff_text(diff_rulesets(old, new), "old.rules", "new.rules").plain
    lines = text.splitlines()
    assert lines[0] == "old.rules -> new.rules" and lines[1] == "2 changes in meaning"
    assert lines[2] == "table row"
    assert lines[3].startswith('  - product "Data Pro" removed from table fixed_line  (')
    assert lines[3].endswith("old.rules:31 | -)")
    assert lines[4].endswith("| " + str(FIXTURES / "added_removed_row" / "new.rules") + ":27)")


def test_render_says_no_changes_in_meaning_and_lists_the_rest():
    old, new, _, _ = _case("header_and_examples")
    text = render_diff_text(diff_rulesets(old, new), "a", "b").plain
    assert "no changes in meaning" in text
    assert text.index("not changing meaning") < text.index("header: version")


def test_json_is_deterministic_and_complete():
    old, new, _, _ = _case("threshold")
    data = diff_to_json(diff_rulesets(old, new))
    assert json.dumps(data) == json.dumps(diff_to_json(diff_rulesets(old, new)))
    assert data["equal"] is False and data["changes_in_meaning"] == 2 and data["rules_changed"] == []
    first = data["edits"][0]
    assert first["key"] == ["Advanced", "from"] and first["text"] == "tier Advanced: from 7_500 -> from 8_000"
    assert set(first["old_span"]) == {"file", "line", "column"} and first["new_span"]["line"] == 20


# --------------------------------------------------------------------------- the example program


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: p.stem)
def test_a_version_against_itself_and_its_formatted_text_is_equal(path):
    ruleset = parse_file(path)
    assert diff_rulesets(ruleset, ruleset).edits == ()
    formatted = parse(format_ruleset(ruleset), file="formatted.rules")
    assert diff_rulesets(ruleset, formatted).edits == ()


def _shuffled(ruleset, rng: random.Random):
    """The same ruleset with statements, rules, rows, cells, fields, legacy entries, KPIs and
    example contracts in another order (meaningless under `combine sum`)."""
    def mix(items):
        items = list(items)
        rng.shuffle(items)
        return tuple(items)

    def inner(node):
        if isinstance(node, Table):
            return replace(node, rows=mix(replace(r, cells=mix(r.cells)) for r in node.rows))
        if isinstance(node, InputBlock):
            return replace(node, fields=mix(node.fields))
        if isinstance(node, Review):
            return replace(node, legacy=mix(node.legacy))
        if isinstance(node, Quality):
            return replace(node, kpis=mix(node.kpis))
        if isinstance(node, Example):
            return replace(node, contracts=mix(node.contracts))
        return node

    return replace(ruleset, statements=mix(map(inner, ruleset.statements)))


@pytest.mark.parametrize("seed", range(5))
def test_shuffling_a_version_changes_nothing_in_meaning(seed):
    ruleset = parse_file(VERSIONS[0])
    assert ruleset.combine == "sum"
    shuffled = _shuffled(ruleset, random.Random(seed))
    assert shuffled.statements != ruleset.statements
    assert diff_rulesets(ruleset, shuffled).edits == ()


def _program_diff(old: str, new: str) -> set[str]:
    diff = diff_rulesets(parse_file(PROGRAM / old), parse_file(PROGRAM / new))
    return {e.describe() for e in diff.meaningful}


def test_o2_business_2016_to_2017_shows_the_changes_its_header_lists():
    lines = _program_diff("2016-03.rules", "2017-01.rules")
    assert {
        'rule "Digital Phone Pro licences" added',
        'product "O2 Business Start" removed from table mobile_tariffs',
        'product "O2 Business ISDN" removed from table fixed_line',
        'table mobile_tariffs, "O2 Business L" / new: 220 -> 240',
        'table mobile_tariffs, "O2 Business XL" / existing: 140 -> 160',
        'table fixed_line, "O2 DSL Business 16": 60 -> 50',
        "tier Advanced: from 7_500 -> from 8_000",
        'rule "Unite pool volume": cap at most 2_500 -> at most 3_000',
        "review: downgrade at most 1 level -> downgrade to earned",
    } <= lines


def test_o2_business_2017_to_2018_shows_the_changes_its_header_lists():
    lines = _program_diff("2017-01.rules", "2018-01.rules")
    assert lines == {
        "review: downgrade to earned -> downgrade after 1 grace period",
        "tier Expert: keep added: 12_000",
        'product "O2 VDSL Business 250" added to table fixed_line: 220',
        'table mobile_tariffs, "O2 Business M" / existing: 55 -> 60',
        'rule "Digital Phone licences": cap at most 400 -> at most 600',
    }
