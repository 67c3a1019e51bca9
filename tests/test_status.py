"""Status reviews: downgrade policies, legacy tiers, newcomers, policy changes, explain, standing.

Most cases are YAML files in tests/fixtures/status/: tiers and a review written in the
ruleset's own words, points per partner and period, and the expected review lines
`PERIOD: BEFORE -> AFTER (RULE)`, with ` from ORIGIN` when the status came from legacy or
newcomer rules.
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from dsl.ast import (Downgrade, LegacyMap, Number, Review, Ruleset, Span, Tier, Tiers,
                     VersionDecl)
from engine.status import (ReviewPolicy, Standing, StatusError, explain_chain, initial_status,
                           policy_from_ruleset, review, standing)

FIXTURES = Path(__file__).parent / "fixtures" / "status"
FILE = "o2.rules"


# --------------------------------------------------------------------------- building rulesets


def span(line: int) -> Span:
    return Span(FILE, line, 1, line, 40)


def tier(text: str, line: int) -> Tier:
    m = re.fullmatch(r"(\w+) from ([\d_.]+)(?: keep ([\d_.]+))?", text)
    assert m, f"bad tier line in fixture: {text!r}"
    keep = Number(Decimal(m[3].replace("_", ""))) if m[3] else None
    return Tier(m[1], Number(Decimal(m[2].replace("_", ""))), keep, span(line))


def downgrade(text: str | None) -> Downgrade | None:
    if text is None:
        return None
    if text == "to earned":
        return Downgrade("earned", span=span(30))
    m = re.fullmatch(r"at most (\d+) levels?", text)
    if m:
        return Downgrade("levels", int(m[1]), span(30))
    m = re.fullmatch(r"after (\d+) grace periods?", text)
    assert m, f"bad downgrade in fixture: {text!r}"
    return Downgrade("grace", int(m[1]), span(30))


def ruleset(tiers: list[str], down: str | None = None, legacy: dict | None = None,
            newcomers: str | None = None, version: str = "2016.03") -> Ruleset:
    """A ruleset with tiers on lines 10.., the review on line 19, legacy on 20.., downgrade on 30."""
    maps = tuple(LegacyMap(old, new, span(20 + i)) for i, (old, new) in enumerate((legacy or {}).items()))
    return Ruleset(FILE, (
        VersionDecl(version),
        Tiers(tuple(tier(t, 10 + i) for i, t in enumerate(tiers)), span(9)),
        Review(maps, downgrade(down), newcomers, span(19)),
    ))


O2_TIERS = ["Basic from 0", "Advanced from 7_500", "Expert from 15_000", "ExpertPlus from 45_000"]
O2_LEGACY = {"Business Partner": "Basic", "Business Silber Partner": "Basic",
             "Gold": "Advanced", "Premium": "Expert"}


def one_policy(policy: ReviewPolicy):
    return lambda label: policy


def line_of(d) -> str:
    text = f"{d.period}: {d.status_before} -> {d.status_after} ({d.rule})"
    return f"{text} from {d.origin}" if d.origin else text


# --------------------------------------------------------------------------- fixture runner


def fixture_cases():
    for path in sorted(FIXTURES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "cases" in data:
            for down, lines in data["cases"].items():
                yield pytest.param(data, down, {"fallen": lines}, id=f"{path.stem}[{down}]")
        else:
            yield pytest.param(data, data.get("downgrade"), data["expect"], id=path.stem)


@pytest.mark.parametrize("data, down, expect", list(fixture_cases()))
def test_fixture(data, down, expect):
    policy = policy_from_ruleset(ruleset(data["tiers"], down, data.get("legacy"), data.get("newcomers")))
    partners = data["partners"]
    points = {p: {str(k): Decimal(str(v)) for k, v in spec.get("points", {}).items()}
              for p, spec in partners.items() if "points" in spec}
    legacy = {p: spec["legacy"] for p, spec in partners.items() if "legacy" in spec}
    decisions = review(points, [str(p) for p in data["periods"]], one_policy(policy), legacy)
    got = {}
    for d in decisions:
        got.setdefault(d.partner_id, []).append(line_of(d))
    assert got == expect


# --------------------------------------------------------------------------- decisions in detail


def test_decision_carries_points_target_earned_and_spans():
    policy = policy_from_ruleset(ruleset(["Basic from 0", "Advanced from 7_500 keep 6_000"],
                                         "at most 1 level", {"Gold": "Advanced"}))
    [d] = review({"p1": {"2016": Decimal("5999")}}, ["2016"], one_policy(policy), {"p1": "Gold"})
    assert (d.points, d.target, d.earned) == (Decimal(5999), Decimal(6000), "Basic")
    assert d.span.line == 30  # the downgrade line decided
    assert d.origin_span.line == 20  # the legacy line gave the first status


def test_decision_exports_a_flat_json_row():
    policy = policy_from_ruleset(ruleset(O2_TIERS, "at most 1 level", O2_LEGACY))
    first, second = review({"p": {"2016": Decimal("6950.50")}}, ["2016", "2017"], one_policy(policy),
                           {"p": "Gold"})
    assert first.to_json() == {
        "partner_id": "p", "period": "2016", "status_before": "Advanced", "points": "6950.50",
        "earned": "Basic", "target": "7500", "status_after": "Basic",
        "rule": "downgrade at most 1 level", "source": "o2.rules:30",
        "origin": "legacy 'Gold' -> Advanced", "origin_source": "o2.rules:22"}
    assert (second.to_json()["points"], second.to_json()["origin"]) == ("0", None)


def test_initial_status_for_a_partner_not_yet_reviewed():
    policy = policy_from_ruleset(ruleset(O2_TIERS, legacy=O2_LEGACY, newcomers="Advanced"))
    assert initial_status("p", "Premium", policy)[:2] == ("Expert", "legacy 'Premium' -> Expert")
    assert initial_status("p", None, policy)[:2] == ("Advanced", "newcomer starts at Advanced")
    assert initial_status("p", "", policy)[0] == "Advanced"
    with pytest.raises(StatusError, match="did you mean 'Premium'"):
        initial_status("p", "Premum", policy)


def test_upgrade_and_kept_point_at_tier_lines():
    policy = policy_from_ruleset(ruleset(O2_TIERS, "at most 1 level"))
    up, kept = review({"p": {"2016": Decimal(15_000), "2017": Decimal(15_000)}}, ["2016", "2017"],
                      one_policy(policy))
    assert (up.rule, up.span.line) == ("upgrade to earned", 12)  # Expert's line
    assert (kept.rule, kept.span.line) == ("kept: target reached", 12)


def test_no_review_block_means_downgrade_to_earned():
    rs = Ruleset(FILE, (Tiers((tier("Basic from 0", 10), tier("Advanced from 100", 11))),))
    policy = policy_from_ruleset(rs)
    decisions = review({"p": {"1": Decimal(100), "2": Decimal(0)}}, ["1", "2"], one_policy(policy))
    assert [d.status_after for d in decisions] == ["Advanced", "Basic"]
    assert decisions[1].rule == "downgrade to earned"


def test_negative_points_keep_the_lowest_tier():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    [d] = review({"p": {"2016": Decimal(-50)}}, ["2016"], one_policy(policy))
    assert (d.earned, d.status_after, d.rule) == ("Basic", "Basic", "kept: lowest tier")


def test_partner_absent_everywhere_gets_no_rows():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    assert review({"p": {}}, ["2016"], one_policy(policy)) == []


def test_decisions_ordered_by_partner_then_period():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    points = {"b": {"2016": Decimal(1)}, "a": {"2017": Decimal(1), "2016": Decimal(1)}}
    decisions = review(points, ["2016", "2017"], one_policy(policy))
    assert [(d.partner_id, d.period) for d in decisions] == [
        ("a", "2016"), ("a", "2017"), ("b", "2016"), ("b", "2017")]


# --------------------------------------------------------------------------- legacy names


def test_unknown_legacy_name_names_partner_known_names_and_suggestion():
    policy = policy_from_ruleset(ruleset(O2_TIERS, legacy=O2_LEGACY))
    with pytest.raises(StatusError) as err:
        review({}, ["2016"], one_policy(policy), {"p-17": "Gould"})
    text = str(err.value)
    assert "partner 'p-17'" in text and "'Gould'" in text
    assert "'Business Partner', 'Business Silber Partner', 'Gold', 'Premium'" in text
    assert text.endswith("did you mean 'Gold'?")
    assert isinstance(err.value, ValueError)


def test_unknown_legacy_name_without_legacy_lines_says_so():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    with pytest.raises(StatusError, match="review block has no `legacy` lines"):
        review({}, ["2016"], one_policy(policy), {"p": "Platin"})


def test_legacy_name_that_is_a_tier_is_taken_as_is_and_blank_is_newcomer():
    policy = policy_from_ruleset(ruleset(O2_TIERS, legacy=O2_LEGACY))
    decisions = review({"b": {"2016": Decimal(0)}}, ["2016"], one_policy(policy),
                       {"a": "Expert", "b": "  "})
    assert [(d.partner_id, d.status_before) for d in decisions] == [("a", "Expert"), ("b", "Basic")]
    assert decisions[0].origin == "legacy 'Expert' is a tier"


def test_legacy_or_newcomer_to_unknown_tier_is_refused_when_building_the_policy():
    with pytest.raises(StatusError, match=r"legacy 'Gold' -> 'Advancd'.*did you mean 'Advanced'"):
        policy_from_ruleset(ruleset(O2_TIERS, legacy={"Gold": "Advancd"}))
    with pytest.raises(StatusError, match=r"newcomers start at 'Bsic'.*did you mean 'Basic'"):
        policy_from_ruleset(ruleset(O2_TIERS, newcomers="Bsic"))


def test_no_tiers_block_is_an_error():
    with pytest.raises(StatusError, match="no `tiers` block"):
        policy_from_ruleset(Ruleset(FILE, (VersionDecl("x"),)))


# --------------------------------------------------------------------------- policy per period


def test_each_period_is_reviewed_under_its_own_policy():
    strict = policy_from_ruleset(ruleset(O2_TIERS, "to earned", version="2016"))
    lenient = policy_from_ruleset(ruleset(
        ["Basic from 0", "Advanced from 7_500 keep 5_000", "Expert from 15_000",
         "ExpertPlus from 45_000"], "after 1 grace period", version="2017"))
    policies = {"2016": strict, "2017": lenient, "2018": lenient, "2019": strict}
    points = {"p": {"2016": Decimal(15_000), "2017": Decimal(0), "2018": Decimal(7_500),
                    "2019": Decimal(7_000)}}
    decisions = review(points, ["2016", "2017", "2018", "2019"], policies.__getitem__)
    assert [line_of(d) for d in decisions] == [
        "2016: Basic -> Expert (upgrade to earned) from newcomer starts at Basic",
        "2017: Expert -> Expert (grace period 1 of 1)",
        "2018: Expert -> Advanced (downgrade after 1 grace period)",
        # 7,000 would keep Advanced under the 2017 rules (keep 5,000), not under the 2016 ones
        "2019: Advanced -> Basic (downgrade to earned)",
    ]


def test_renamed_tier_is_carried_through_the_new_versions_legacy_line():
    old = policy_from_ruleset(ruleset(["Basic from 0", "Gold from 100"]))
    new = policy_from_ruleset(ruleset(["Basic from 0", "Advanced from 100"], legacy={"Gold": "Advanced"}))
    decisions = review({"p": {"1": Decimal(100), "2": Decimal(100)}}, ["1", "2"],
                       {"1": old, "2": new}.__getitem__)
    assert [line_of(d) for d in decisions][1] == (
        "2: Advanced -> Advanced (kept: target reached) from renamed: legacy 'Gold' -> Advanced")


def test_renamed_tier_without_legacy_line_is_an_error():
    old = policy_from_ruleset(ruleset(["Basic from 0", "Gold from 100"]))
    new = policy_from_ruleset(ruleset(["Basic from 0", "Golden from 100"], version="2017"))
    with pytest.raises(StatusError, match=r"'Gold' is not a tier of version '2017'.*did you mean 'Golden'"):
        review({"p": {"1": Decimal(100), "2": Decimal(100)}}, ["1", "2"], {"1": old, "2": new}.__getitem__)


def test_repeated_period_label_is_refused():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    with pytest.raises(StatusError, match="repeat"):
        review({}, ["2016", "2016"], one_policy(policy))


# --------------------------------------------------------------------------- explain and standing


def test_explain_chain_reads_like_the_account_manager_says_it():
    policy = policy_from_ruleset(ruleset(O2_TIERS, "at most 1 level", O2_LEGACY))
    points = {"p": {"2016": Decimal(6_950), "2017": Decimal("16000.5")}}
    lines = explain_chain(review(points, ["2016", "2017"], one_policy(policy), {"p": "Gold"}))
    assert lines == [
        "2016: legacy 'Gold' -> Advanced (o2.rules:22); 2016 points 6,950 < Advanced target 7,500"
        " -> earned Basic; downgrade at most 1 level (o2.rules:30) -> Basic for 2017",
        "2017 points 16,000.5 >= Basic target 0 -> earned Expert; upgrade to earned (o2.rules:12)"
        " -> Expert after 2017",
    ]


def test_explain_chain_prefixes_partner_when_several():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    lines = explain_chain(review({"a": {"1": Decimal(0)}, "b": {"1": Decimal(0)}}, ["1"], one_policy(policy)))
    assert [line.split(":")[0] for line in lines] == ["a", "b"]
    assert "after 1" in lines[0]  # a's chain does not run on into b's periods


def test_standing_mid_period():
    policy = policy_from_ruleset(ruleset(
        ["Basic from 0", "Advanced from 7_500 keep 6_000", "Expert from 15_000"]))
    assert standing("p", "Advanced", Decimal(5_000), policy) == Standing(
        "p", Decimal(5_000), "Advanced", "Basic", Decimal(6_000), Decimal(1_000), "Expert", Decimal(10_000))


def test_standing_counts_from_earned_tier_and_stops_at_the_top():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    ahead = standing("p", "Basic", Decimal(20_000), policy)
    assert (ahead.earned, ahead.needed_to_keep, ahead.next_tier, ahead.needed_for_next) == (
        "Expert", 0, "ExpertPlus", Decimal(25_000))
    top = standing("p", "ExpertPlus", Decimal(50_000), policy)
    assert (top.next_tier, top.needed_for_next, top.needed_to_keep) == (None, None, 0)


def test_standing_with_unknown_status_suggests_a_tier():
    policy = policy_from_ruleset(ruleset(O2_TIERS))
    with pytest.raises(StatusError, match="did you mean 'Expert'"):
        standing("p", "expert", Decimal(0), policy)



def test_o2_program_versions_over_five_years():
    from dsl.parser import parse_file

    folder = Path(__file__).parent.parent / "rulesets" / "o2-business"
    versions = {name: policy_from_ruleset(parse_file(folder / f"{name}.rules"))
                for name in ("2016-03", "2017-01", "2018-01")}
    in_force = {"2016": "2016-03", "2017": "2017-01"}  # 2018 and later: 2018-01
    points = {"p": {"2016": Decimal(16_000), "2017": Decimal(15_500), "2018": Decimal(13_000),
                    "2019": Decimal(0), "2020": Decimal(0)}}
    periods = ["2016", "2017", "2018", "2019", "2020"]
    decisions = review(points, periods, lambda label: versions[in_force.get(label, "2018-01")],
                       {"p": "Premium"})
    assert [line_of(d) for d in decisions] == [
        "2016: Expert -> Expert (kept: target reached) from legacy 'Premium' -> Expert",
        "2017: Expert -> Expert (kept: target reached)",
        "2018: Expert -> Expert (kept: target reached)",  # 13,000 reaches the 2018 `keep 12_000`
        "2019: Expert -> Expert (grace period 1 of 1)",
        "2020: Expert -> Basic (downgrade after 1 grace period)",
    ]
    assert explain_chain(decisions)[0].startswith(
        "2016: legacy 'Premium' -> Expert (" + str(folder / "2016-03.rules") + ":94)")

# --------------------------------------------------------------------------- invariants

DOWNGRADES = ["at most 1 level", "at most 2 levels", "to earned", "after 1 grace period",
              "after 2 grace periods"]
POLICIES = {d: policy_from_ruleset(ruleset(
    ["Basic from 0", "Advanced from 7_500 keep 6_000", "Expert from 15_000", "ExpertPlus from 45_000"],
    d, O2_LEGACY)) for d in DOWNGRADES}


@settings(max_examples=150, deadline=None)
@given(down=st.sampled_from(DOWNGRADES), start=st.sampled_from(sorted(O2_LEGACY)),
       amounts=st.lists(st.integers(-100, 60_000), min_size=1, max_size=6))
def test_review_invariants(down, start, amounts):
    policy = POLICIES[down]
    periods = [str(2016 + i) for i in range(len(amounts))]
    points = {"p": {label: Decimal(a) for label, a in zip(periods, amounts)}}
    decisions = review(points, periods, one_policy(policy), {"p": start})
    rank = {name: i for i, name in enumerate(policy.tier_names())}
    for before, after in zip(decisions, decisions[1:]):
        assert after.status_before == before.status_after
    for d in decisions:
        moved = rank[d.status_after] - rank[d.status_before]
        assert rank[d.status_after] >= min(rank[d.earned], rank[d.status_before])  # never below earned
        assert (moved > 0) == (rank[d.earned] > rank[d.status_before])  # up only when earned
        if d.points >= d.target:
            assert moved >= 0  # reaching the target never loses the tier
        if down.startswith("at most"):
            assert moved >= -int(down.split()[2])


# --------------------------------------------------------------------------- `points status` end to end

STATUS_PROGRAM = """program "Late Partners"
version "2016"
effective 2016-01-01
period year
input contract {
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  quantity:    integer >= 0, default 1
}
tiers {
  Basic    from 0
  Advanced from 100
}
rule "Lines" {
  points 10 * quantity
}
review {
  legacy partner column "Partner-Nr."
  legacy status column "Status alt"
  legacy "Gold" -> Advanced
  downgrade to earned
}
"""
STATUS_CONTRACTS = """contract_id,partner_id,signed,quantity
C1,P-A,2016-03-01,12
C2,P-A,2017-03-01,3
C3,P-LATE,2017-06-30,20
C4,P-ZERO,2016-05-01,0
C5,,2017-07-01,1
"""
LEGACY_EXPORT = "Partner-Nr.;Name;Status alt\nP-A;Alpha;Gold\nP-OLD;Old GmbH;Gold\n"


def status_files(tmp_path: Path, program: str = STATUS_PROGRAM) -> tuple[str, str, str]:
    (tmp_path / "program").mkdir(exist_ok=True)
    (tmp_path / "program" / "2016.rules").write_text(program, encoding="utf-8")
    (tmp_path / "contracts.csv").write_text(STATUS_CONTRACTS, encoding="utf-8")
    (tmp_path / "legacy.csv").write_text(LEGACY_EXPORT, encoding="utf-8")
    return str(tmp_path / "program"), str(tmp_path / "contracts.csv"), str(tmp_path / "legacy.csv")


def points_cmd(capsys, *argv) -> tuple[int, str, str]:
    from engine.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_status_rows_for_every_known_partner_in_every_period(capsys, tmp_path):
    """P-LATE, first seen in 2017, has its 2016 row; P-OLD is only in the legacy file; P-ZERO sold
    only a contract worth nothing. The legacy export is read by the columns the review block names."""
    import json

    program, data, legacy = status_files(tmp_path)
    code, out, _ = points_cmd(capsys, "status", program, data, "--legacy", legacy, "--json")
    assert code == 0
    result = json.loads(out)
    lines = [f"{r['partner_id']} {r['period']}: {r['status_before']} {r['points']} -> {r['status_after']}"
             for r in result["reviews"]]
    assert lines == [
        "P-A 2016: Advanced 120 -> Advanced", "P-A 2017: Advanced 30 -> Basic",
        "P-LATE 2016: Basic 0 -> Basic", "P-LATE 2017: Basic 200 -> Advanced",
        "P-OLD 2016: Advanced 0 -> Basic", "P-OLD 2017: Basic 0 -> Basic",
        "P-ZERO 2016: Basic 0 -> Basic", "P-ZERO 2017: Basic 0 -> Basic",
    ]
    assert (result["as_of"], result["reviewed_periods"], result["current_period"]) == (
        "2017-12-31", ["2016", "2017"], None)
    assert result["as_of_default"] == "the end of 2017, the period of the latest valid signed date 2017-06-30"


def test_status_states_as_of_reviewed_and_current_periods(capsys, tmp_path):
    program, data, legacy = status_files(tmp_path)
    code, out, _ = points_cmd(capsys, "status", program, data, "--legacy", legacy)
    assert code == 0
    assert out.splitlines()[:3] == [
        "as of 2017-12-31 (default: the end of 2017, the period of the latest valid signed date 2017-06-30)",
        "periods reviewed: 2016 to 2017; current period: none (the as-of date ends a period)",
        "rows: every partner with a valid contract by the as-of date or in the legacy file, in every period "
        "(0 points where it sold nothing)",
    ]
    code, out, _ = points_cmd(capsys, "status", program, data, "--legacy", legacy, "--as-of", "2017-04-30")
    assert code == 0
    assert out.splitlines()[:2] == [
        "as of 2017-04-30",
        "periods reviewed: 2016; current period: 2017 (under way: a standing, no review)",
    ]


def test_as_of_before_the_program_starts_is_an_input_error(capsys, tmp_path):
    program, data, legacy = status_files(tmp_path)
    code, _, err = points_cmd(capsys, "status", program, data, "--as-of", "2015-06-30")
    assert code == 2 and err.strip() == ("error: --as-of 2015-06-30 is before the program starts (2016-01-01): "
                                         "there is nothing to review")


def test_as_of_leaves_out_partners_first_seen_later(capsys, tmp_path):
    import json

    program, data, legacy = status_files(tmp_path)
    code, out, _ = points_cmd(capsys, "status", program, data, "--legacy", legacy, "--as-of", "2016-12-31", "--json")
    partners = {r["partner_id"] for r in json.loads(out)["reviews"]}
    assert code == 0 and partners == {"P-A", "P-OLD", "P-ZERO"}  # P-LATE's first contract is from 2017


def test_legacy_columns_from_options_win_over_the_review_block(capsys, tmp_path):
    import json

    program, data, legacy = status_files(tmp_path)
    (tmp_path / "legacy2.csv").write_text("Partner;Stufe\nP-A;Basic\n", encoding="utf-8")
    code, out, _ = points_cmd(capsys, "status", program, data, "--legacy", str(tmp_path / "legacy2.csv"),
                              "--legacy-partner", "Partner", "--legacy-status", "Stufe", "--json")
    first = json.loads(out)["reviews"][0]
    assert code == 0 and (first["partner_id"], first["status_before"], first["origin"]) == (
        "P-A", "Basic", "legacy 'Basic' is a tier")


def test_a_legacy_column_missing_is_an_input_error_naming_the_header(capsys, tmp_path):
    program, data, legacy = status_files(tmp_path, STATUS_PROGRAM.replace('"Status alt"', '"Status"'))
    code, out, err = points_cmd(capsys, "status", program, data, "--legacy", legacy)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {legacy}: header (row 1): no column 'Status' for the status (did you mean 'Status alt'?); "
        "the columns are 'Partner-Nr.', 'Name', 'Status alt'; name it with --legacy-status or in the review "
        "block (`legacy status column \"...\"`)")
    code, _, err = points_cmd(capsys, "status", program, data, "--legacy-status", "Status alt")
    assert code == 2 and "give --legacy FILE" in err
