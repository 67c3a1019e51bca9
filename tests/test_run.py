"""The runner over the bundled example data: accounting, determinism, traced = untraced."""
from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.program import load_program
from engine.run import RunOptions, evaluate

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
DATA = ROOT / "examples" / "contracts.csv"


@pytest.fixture(scope="module")
def program():
    return load_program(PROGRAM)


def _csv_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _data_rows() -> int:
    with open(DATA, encoding="utf-8-sig", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def test_every_row_is_accounted_for(program, tmp_path):
    result = evaluate(program, DATA, out_dir=tmp_path)
    c = result.counts
    assert c.rows == _data_rows()
    assert c.rows == c.scored + c.unscored + c.rejected
    contracts, rejects = _csv_rows(tmp_path / "contracts.csv"), _csv_rows(tmp_path / "rejects.csv")
    assert len(contracts) + len(rejects) == c.rows
    assert sum(1 for r in contracts if r["status"] == "scored") == c.scored
    assert all(r["reason"] for r in contracts if r["status"] == "unscored")
    assert all(r["row"] and r["field"] and r["reason"] for r in rejects)
    rows_seen = sorted(int(r["row"]) for r in contracts + rejects)
    assert rows_seen == list(range(2, c.rows + 2))  # header is row 1: every data row exactly once
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["rows"] == c.rows


def test_partner_totals_add_up_to_contract_points(program, tmp_path):
    result = evaluate(program, DATA, out_dir=tmp_path)
    contracts = _csv_rows(tmp_path / "contracts.csv")
    by_partner: dict = {}
    for r in contracts:
        if r["status"] == "scored":
            key = (r["partner_id"], r["period"])
            by_partner[key] = by_partner.get(key, Decimal(0)) + Decimal(r["points"])
    partners = {(r["partner_id"], r["period"]): Decimal(r["points"]) for r in _csv_rows(tmp_path / "partners.csv")}
    assert {k: v for k, v in partners.items() if v} == {k: v for k, v in by_partner.items() if v}
    per_rule: dict = {}
    for r in _csv_rows(tmp_path / "partner_rules.csv"):
        key = (r["partner_id"], r["period"])
        per_rule[key] = per_rule.get(key, Decimal(0)) + Decimal(r["points"])
    assert {k: v for k, v in per_rule.items() if v} == {k: v for k, v in partners.items() if v}
    assert sum(partners.values()) == result.points_total


def test_unscored_reasons_name_the_versions(program, tmp_path):
    evaluate(program, DATA, out_dir=tmp_path)
    reasons = {r["reason"] for r in _csv_rows(tmp_path / "contracts.csv") if r["status"] == "unscored"}
    assert any(r.startswith("no version in force on 2016-0") for r in reasons)
    assert any("is not in version 2017.01; it is in 2016.03" in r for r in reasons)
    assert any("(no version knows it)" in r for r in reasons)


def test_same_inputs_give_byte_identical_outputs(program, tmp_path):
    evaluate(program, DATA, out_dir=tmp_path / "a")
    evaluate(load_program(PROGRAM), DATA, out_dir=tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["contracts.csv", "manifest.json", "partner_rules.csv", "partners.csv", "rejects.csv", "rows.csv"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_traced_and_untraced_paths_give_the_same_results(program, tmp_path):
    traced = []
    evaluate(program, DATA, out_dir=tmp_path / "fast")
    options = RunOptions(trace_when=lambda row, rec: True, on_traced=traced.append)
    evaluate(program, DATA, options, out_dir=tmp_path / "traced")
    for name in ("contracts.csv", "partners.csv", "partner_rules.csv", "rejects.csv", "rows.csv"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "traced" / name).read_bytes(), name
    # and the traced path really traced: every scored contract has a RulePoints event per contribution
    from engine.trace import RulePoints

    scored = [t for t in traced if t.status == "scored"]
    assert scored
    for t in scored:
        paid = [e for e in t.events if isinstance(e, RulePoints)]
        assert [(e.rule_id, e.points) for e in paid] == [(c.rule_id, c.points) for c in t.score.contributions]
        assert sum(e.points for e in paid) == t.points


def test_manifest_names_versions_hashes_and_engine(program, tmp_path):
    import hashlib

    evaluate(program, DATA, out_dir=tmp_path)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["inputs"][0]["sha256"] == hashlib.sha256(DATA.read_bytes()).hexdigest()
    assert [v["version"] for v in m["versions"]] == ["2016.03", "2017.01", "2018.01"]
    for v in m["versions"]:
        assert v["sha256"] == hashlib.sha256((Path(PROGRAM) / v["file"]).read_bytes()).hexdigest()  # base names
    assert m["engine"]["name"] == "partner-points"
    for name, digest in m["outputs"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest


def test_contract_is_scored_by_the_version_in_force(program, tmp_path):
    evaluate(program, DATA, out_dir=tmp_path)
    for r in _csv_rows(tmp_path / "contracts.csv"):
        if r["version"]:
            expected = program.version_for(date.fromisoformat(r["signed"])).name
            assert r["version"] == expected


VERSION = '''program "Two blocks"
version "{name}"
effective {date}

input contract {{
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
  quantity:    integer >= 1 <= {max_q}, default 1
}}

rule "Flat" {{
  points 10 * quantity
}}
'''


def _two_block_program(tmp_path: Path) -> Path:
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "a.rules").write_text(VERSION.format(name="1", date="2016-01-01", max_q=10), encoding="utf-8")
    (folder / "b.rules").write_text(VERSION.format(name="2", date="2017-01-01", max_q=100), encoding="utf-8")
    return folder


def test_rows_are_validated_by_the_version_in_force(tmp_path):
    data = tmp_path / "c.csv"
    data.write_text("contract_id,partner_id,signed,product,quantity\n"
                    "C1,P1,2016-05-01,X,50\n"   # too many for version 1: rejected
                    "C1,P1,2016-05-02,X,5\n"    # the rejected row's id does not block this one
                    "C2,P1,2017-05-01,X,50\n",  # fine under version 2
                    encoding="utf-8")
    result = evaluate(load_program(_two_block_program(tmp_path)), data, out_dir=tmp_path / "out")
    rejects = _csv_rows(tmp_path / "out" / "rejects.csv")
    assert [(r["row"], r["field"]) for r in rejects] == [("2", "quantity")]
    assert result.counts.scored == 2 and result.points_total == Decimal(550)


def test_a_misspelt_optional_column_is_noted(tmp_path):
    data = tmp_path / "c.csv"
    data.write_text("contract_id,partner_id,signed,product,quantiy\nC1,P1,2017-05-01,X,5\n", encoding="utf-8")
    result = evaluate(load_program(_two_block_program(tmp_path)), data, out_dir=tmp_path / "out")
    assert any("`quantiy`" in n and "`quantity`" in n for n in result.notes)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["notes"] == result.notes
