"""The bundled demo data: reproducible, with its deliberate bad rows and its designed tier spread.

The points are recomputed here by a small calculation written apart from both the engine and the
generator (the invented values of rulesets/o2-business, copied by hand), so a wrong sizing in the
generator or a drift between the data and the rulesets shows up as a failing test.
"""
from __future__ import annotations

import csv
import importlib.util
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from dsl.parser import parse_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROGRAM = ROOT / "rulesets" / "o2-business"
FILES = ("contracts.csv", "legacy.csv", "quality.csv")
TIER_ORDER = ("Basic", "Advanced", "Expert", "ExpertPlus")
OLD_STATUSES = {"Business Partner", "Business Silber Partner", "Gold", "Premium"}


def load_generator():
    spec = importlib.util.spec_from_file_location("examples_generate", EXAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(name: str) -> tuple[list[str], list[list[str]]]:
    with open(EXAMPLES / name, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


# --------------------------------------------------------------------------- independent points

_MOBILE_16 = {"O2 Business Start": (40, 15), "O2 Business S": (80, 30), "O2 Business M": (140, 55),
              "O2 Business L": (220, 90), "O2 Business XL": (340, 140)}
_MOBILE_17 = {"O2 Business S": (80, 30), "O2 Business M": (140, 55), "O2 Business L": (240, 90),
              "O2 Business XL": (340, 160)}
VERSIONS = {  # effective date -> (mobile, fixed, {product: (per unit, cap)}, unite cap, tiers)
    date(2016, 3, 1): (
        _MOBILE_16,
        {"O2 Business ISDN": 50, "O2 DSL Business 16": 60, "O2 DSL Business 50": 100,
         "O2 VDSL Business 100": 150},
        {"O2 Digital Phone": (20, 400)}, 2_500, (0, 7_500, 15_000, 45_000)),
    date(2017, 1, 1): (
        _MOBILE_17,
        {"O2 DSL Business 16": 50, "O2 DSL Business 50": 100, "O2 VDSL Business 100": 150},
        {"O2 Digital Phone": (20, 400), "O2 Digital Phone Pro": (35, 700)}, 3_000,
        (0, 8_000, 15_000, 45_000)),
    date(2018, 1, 1): (
        {**_MOBILE_17, "O2 Business M": (140, 60)},
        {"O2 DSL Business 16": 50, "O2 DSL Business 50": 100, "O2 VDSL Business 100": 150,
         "O2 VDSL Business 250": 220},
        {"O2 Digital Phone": (20, 600), "O2 Digital Phone Pro": (35, 700)}, 3_000,
        (0, 8_000, 15_000, 45_000)),
}


def version_for(day: date):
    """The values in force on `day`, or None before the program starts."""
    starts = [start for start in VERSIONS if start <= day]
    return VERSIONS[max(starts)] if starts else None


def points(day: date, product: str, customer: str, quantity: int, pool_gb: Decimal) -> Decimal | None:
    """Points of one valid contract, None when unscored."""
    version = version_for(day)
    if version is None:
        return None
    mobile, fixed, licences, unite_cap, _ = version
    if product in mobile:
        new, existing = mobile[product]
        return Decimal((existing if customer == "existing" else new) * quantity)
    if product in fixed:
        return Decimal(fixed[product] * quantity)
    if product in licences:
        per, cap = licences[product]
        return Decimal(min(per * quantity, cap))
    if product == "O2 Unite Pool":
        return min(Decimal("2.5") * pool_gb, Decimal(unite_cap)).quantize(Decimal(1), ROUND_HALF_UP)
    return None


def valid_contracts():
    """(partner_id, signed, points-or-None) of the rows the input block accepts."""
    header, rows = read_csv("contracts.csv")
    seen = set()
    for cells in rows:
        if len(cells) != len(header):
            continue
        row = dict(zip(header, cells))
        if not row["partner_id"] or row["contract_id"] in seen:
            continue
        seen.add(row["contract_id"])
        try:
            signed = date.fromisoformat(row["signed"])
        except ValueError:
            continue
        quantity = row["quantity"] or "1"
        if not quantity.isdigit() or int(quantity) < 1 or row["customer"] not in ("", "new", "existing"):
            continue
        pool = Decimal(row["pool_gb"] or "0")
        yield row["partner_id"], signed, points(signed, row["product"], row["customer"], int(quantity), pool)


def earned_tiers() -> dict[int, dict[str, str]]:
    """The earned tier of every partner per year (by the thresholds in force at year end)."""
    totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for partner, signed, value in valid_contracts():
        totals[signed.year, partner] += value or 0
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for (year, partner), total in totals.items():
        thresholds = version_for(date(year, 12, 31))[4]
        level = sum(1 for t in thresholds if total >= t) - 1
        out[year][partner] = TIER_ORDER[level]
    return out


@pytest.fixture(scope="module")
def tiers():
    return earned_tiers()


@pytest.fixture(scope="module")
def generator():
    return load_generator()


# --------------------------------------------------------------------------- reproducibility


def test_regenerating_gives_byte_identical_files(tmp_path, generator):
    generator.write(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name


def test_another_seed_gives_other_data(generator):
    assert generator.generate(seed=7)["contracts.csv"] != (EXAMPLES / "contracts.csv").read_text("utf-8")


def test_rows_option_sets_the_number_of_rows(generator):
    text = generator.generate(rows=800)["contracts.csv"]
    assert len(text.splitlines()) == 801


# --------------------------------------------------------------------------- contracts


def test_about_four_thousand_rows_over_36_partners():
    header, rows = read_csv("contracts.csv")
    assert len(rows) == 4_000
    partners = {dict(zip(header, r))["partner_id"] for r in rows if len(r) == len(header)}
    assert len(partners - {""}) == 36


def test_deliberate_bad_rows_are_present():
    header, rows = read_csv("contracts.csv")
    good = [dict(zip(header, r)) for r in rows if len(r) == len(header)]
    assert any(len(r) != len(header) for r in rows), "ragged row"
    assert any(r["partner_id"] == "" for r in good)
    assert any(r["signed"] == "2016-02-30" for r in good)
    assert any(r["quantity"] == "0" for r in good)
    assert any(r["quantity"] == "2.5" for r in good)
    assert any(r["customer"] == "nwe" for r in good)
    assert any(r["product"] == "O2 Business Fax" for r in good)
    ids = Counter(r[0] for r in rows)
    assert any(n > 1 for n in ids.values()), "duplicate contract_id"


def test_bad_rows_are_about_one_percent():
    header, rows = read_csv("contracts.csv")
    valid = sum(1 for _ in valid_contracts())
    assert 0.005 * len(rows) <= len(rows) - valid <= 0.02 * len(rows)


def test_dates_span_the_program_and_some_precede_it():
    days = sorted(signed for _, signed, _ in valid_contracts())
    assert days[0] >= date(2016, 1, 15) and days[-1] <= date(2018, 6, 30)
    assert any(d < date(2016, 3, 1) for d in days)
    assert days[-1].year == 2018


def test_products_removed_in_2017_still_sell_and_are_unscored():
    header, rows = read_csv("contracts.csv")
    removed = {"O2 Business Start", "O2 Business ISDN"}
    late = [dict(zip(header, r)) for r in rows if len(r) == len(header)]
    late = [r for r in late if r["product"] in removed and r["signed"] >= "2017-01-01"]
    assert late
    assert all(points(date.fromisoformat(r["signed"]), r["product"], "new", 1, Decimal(0)) is None
               for r in late)


def test_every_tier_is_reached_in_2016_and_2017(tiers):
    for year in (2016, 2017):
        counts = Counter(tiers[year].values())
        assert set(counts) == set(TIER_ORDER), (year, counts)
        assert 1 <= counts["ExpertPlus"] <= 5
        assert counts["Basic"] == max(counts.values())


def test_earned_tiers_match_the_design(tiers, generator):
    for partner_id, _, _, t2016, t2017, _ in generator.PARTNERS:
        assert (tiers[2016][partner_id], tiers[2017][partner_id]) == (t2016, t2017), partner_id


def test_some_partners_fall_two_levels_and_some_rise(tiers):
    moves = [TIER_ORDER.index(tiers[2017][p]) - TIER_ORDER.index(tiers[2016][p]) for p in tiers[2016]]
    assert any(m <= -2 for m in moves)
    assert any(m > 0 for m in moves)


# --------------------------------------------------------------------------- legacy


def test_legacy_file_has_old_statuses_a_departed_partner_and_newcomers():
    header, rows = read_csv("legacy.csv")
    assert header == ["partner_id", "status"]
    legacy = dict(rows)
    assert set(legacy.values()) == OLD_STATUSES
    c_header, c_rows = read_csv("contracts.csv")
    active = {r[1] for r in c_rows if len(r) == len(c_header) and r[1]}
    assert legacy.keys() - active, "a partner only in the legacy file"
    assert active - legacy.keys(), "newcomers without a legacy status"
    assert len(legacy.keys() & active) >= 0.8 * len(active)


# --------------------------------------------------------------------------- quality


def scored_contracts() -> dict[str, str]:
    """contract_id -> partner_id of the contracts that earn points (the ones quality reports count for)."""
    header, rows = read_csv("contracts.csv")
    out: dict[str, str] = {}
    for cells in rows:
        row = dict(zip(header, cells))
        if len(cells) != len(header) or not row["partner_id"] or row["contract_id"] in out:
            continue
        try:
            signed = date.fromisoformat(row["signed"])
        except ValueError:
            continue
        quantity = row["quantity"] or "1"
        if not quantity.isdigit() or int(quantity) < 1 or row["customer"] not in ("", "new", "existing"):
            continue
        if points(signed, row["product"], row["customer"], int(quantity), Decimal(row["pool_gb"] or "0")) is not None:
            out[row["contract_id"]] = row["partner_id"]
    return out


def quarterly_flags() -> dict[str, dict[str, set[int]]]:
    """{kpi: {partner: quarter indexes with the flag raised}} over the counted quality rows."""
    header, rows = read_csv("quality.csv")
    partners = scored_contracts()
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for cells in rows:
        row = dict(zip(header, cells))
        year, _, month = row["reported"].partition("-")  # a month label, `2016-04`
        if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
            continue
        usage = Decimal(row["usage_pct"])
        if row["contract_id"] not in partners or row["missed_payment"] not in ("true", "false") \
                or not 0 <= usage <= 100:
            continue
        groups[partners[row["contract_id"]], int(year) * 4 + (int(month) - 1) // 3].append(row)
    flags: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for (partner, quarter), reports in groups.items():
        if len(reports) < 5:
            continue
        share = lambda f: Decimal(sum(r[f] == "true" for r in reports)) / len(reports)  # noqa: E731
        mean_usage = sum(Decimal(r["usage_pct"]) for r in reports) / len(reports)
        for kpi, raised in (("payment", share("missed_payment") > Decimal("0.05")),
                            ("usage", mean_usage < 40), ("churn", share("cancelled") > Decimal("0.10"))):
            if raised:
                flags[kpi][partner].add(quarter)
    return flags


def sustained(quarters: set[int], run: int = 3) -> bool:
    return any(all(q + i in quarters for i in range(run)) for q in quarters)


def test_one_partner_has_a_sustained_churn_finding():
    flags = quarterly_flags()
    assert {p for p, q in flags["churn"].items() if sustained(q)} == {"P-014"}
    assert not any(sustained(q) for q in flags["payment"].values())
    assert not any(sustained(q) for q in flags["usage"].values())


def test_short_quality_findings_are_flagged_but_not_sustained():
    flags = quarterly_flags()
    assert flags["payment"]["P-012"]
    assert (2017 * 4 + 2) in flags["usage"]["P-005"]


def test_quality_file_has_its_bad_rows():
    header, rows = read_csv("quality.csv")
    records = [dict(zip(header, r)) for r in rows]
    assert any(r["usage_pct"] == "140" for r in records)
    assert any(r["reported"] == "2017-13" for r in records)
    assert any(r["missed_payment"] == "vielleicht" for r in records)
    assert any(r["contract_id"] == "" for r in records)


def test_quality_reports_name_contracts_the_program_does_not_count():
    header, rows = read_csv("contracts.csv")
    contracts = {r[0] for r in rows}
    q_header, q_rows = read_csv("quality.csv")
    reported = {dict(zip(q_header, r))["contract_id"] for r in q_rows}
    assert "C-999999" in reported and "C-999999" not in contracts  # in no export
    unscored = reported & contracts - set(scored_contracts())
    assert len(unscored) >= 2  # an unknown product, a rejected row, products no longer in the program


# --------------------------------------------------------------------------- against the rulesets


@pytest.mark.parametrize("version", ["2016-03", "2017-01", "2018-01"])
def test_columns_match_the_input_blocks(version):
    ruleset = parse_file(PROGRAM / f"{version}.rules")
    contract_fields = {f.name for f in ruleset.input("contract").fields}
    header, _ = read_csv("contracts.csv")
    assert set(header) - contract_fields == {"partner_name", "sales_rep"}
    assert contract_fields <= set(header)
    quality_fields = {f.name for f in ruleset.input("quality").fields}
    assert set(read_csv("quality.csv")[0]) == quality_fields


def _cap(rule) -> Decimal:
    return next(m.limit.value for m in rule.points.modifiers if type(m).__name__ == "AtMost")


@pytest.mark.parametrize("version", ["2016-03", "2017-01", "2018-01"])
def test_the_independent_values_match_the_rulesets(version):
    ruleset = parse_file(PROGRAM / f"{version}.rules")
    mobile, fixed, licences, unite_cap, thresholds = VERSIONS[ruleset.effective]
    rows = ruleset.table("mobile_tariffs").rows
    cells = {row.key: {c.column: c.value.value for c in row.cells} for row in rows}
    assert {k: (c["new"], c["existing"]) for k, c in cells.items()} == mobile
    table = {row.key: row.cells[0].value.value for row in ruleset.table("fixed_line").rows}
    assert table == {k: Decimal(v) for k, v in fixed.items()}
    rules = {rule.when.right.value: rule for rule in ruleset.rules if type(rule.when).__name__ == "Compare"}
    assert {p: (rules[p].points.expr.value, _cap(rules[p])) for p in licences} == licences
    assert set(rules) == set(licences) | {"O2 Unite Pool"}
    assert _cap(rules["O2 Unite Pool"]) == unite_cap
    assert tuple(t.threshold.value for t in ruleset.tiers.tiers) == thresholds
    assert {m.old for m in ruleset.review.legacy} == OLD_STATUSES
