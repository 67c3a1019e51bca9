"""`points diff --impact`: each side reads the rows with its own version's input block, so a change
of strictness shows as rows one side rejects and the other scores."""
from __future__ import annotations

import json

from engine.cli import main

OLD = '''program "P"
version "A"
effective 2016-01-01

input contract {
  contract_id: text, required, unique
  partner_id:  text, required
  signed:      date, required
  product:     text, required
  customer:    one of (new, existing), default new
}

tiers {
  Basic from 0
  Gold  from 20
}

rule "All" {
  points 10
}
'''
NEW = (OLD.replace('version "A"', 'version "B"').replace("effective 2016-01-01", "effective 2016-06-01")
       .replace("signed:      date, required", "signed:      date, required, iso")
       .replace("default new\n", "default new, strict\n"))
DATA = """contract_id,partner_id,signed,product,customer
C-1,P-1,2016-02-01,X,new
C-2,P-1,01.03.2016,X,new
C-3,P-2,2016-03-01,X,New
C-4,P-2,2016-03-01,X,bad
C-5,P-2,2016-03-01,X,existing
"""


def _files(tmp_path, monkeypatch, new=NEW):
    (tmp_path / "a.rules").write_text(OLD, encoding="utf-8")
    (tmp_path / "b.rules").write_text(new, encoding="utf-8")
    (tmp_path / "data.csv").write_text(DATA, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")


def test_each_side_reads_with_its_own_input_block(tmp_path, monkeypatch, capsys):
    _files(tmp_path, monkeypatch)
    assert main(["diff", "a.rules", "b.rules", "--impact", "data.csv"]) == 1
    out = capsys.readouterr().out.splitlines()
    start = out.index("Impact on 2 partners: 40 → 20 points (-20)")
    assert out[start + 1:start + 9] == [
        "Rows: 5 read; 4 compared under A, 2 under B; 1 rejected under A, 3 under B (each reads the rows with "
        "its own input block)",
        "Rejected rows, by field and code",
        "┏━━━━━━━━━━┳━━━━━━━━━━━━┳━━━┳━━━┓",
        "┃ field    ┃ code       ┃ A ┃ B ┃",
        "┡━━━━━━━━━━╇━━━━━━━━━━━━╇━━━╇━━━┩",
        "│ customer │ not-one-of │ 1 │ 2 │",
        "│ signed   │ not-a-date │ 0 │ 1 │",
        "└──────────┴────────────┴───┴───┘",
    ]


def test_the_json_counts_each_side_and_the_input_edit_alone(tmp_path, monkeypatch, capsys):
    _files(tmp_path, monkeypatch)
    assert main(["diff", "a.rules", "b.rules", "--impact", "data.csv", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    impact = found["impact"]
    rows = impact["rows"]
    assert (rows["old"]["rejected"], rows["new"]["rejected"]) == (1, 3)
    assert rows["old"]["rejected_reasons"] == {"customer": {"not-one-of": 1}}
    assert rows["new"]["rejected_reasons"] == {"customer": {"not-one-of": 2}, "signed": {"not-a-date": 1}}
    assert (rows["compared"], rows["compared_new"]) == (4, 2)
    assert impact["points"] == {"old": "40", "new": "20", "delta": "-20"}
    # the edit of the input block, applied alone to the old version, reads with the new block
    assert [(e["delta"], e.get("note") or "") for e in impact["edits"]] == [("-20", "")]


def test_the_same_block_on_both_sides_rejects_alike(tmp_path, monkeypatch, capsys):
    _files(tmp_path, monkeypatch, new=OLD.replace('version "A"', 'version "B"').replace("points 10", "points 20"))
    assert main(["diff", "a.rules", "b.rules", "--impact", "data.csv"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "Rows: 5 read; 4 compared; 1 rejected (the same under both)" in out


def test_side_by_side_names_the_reject_of_the_stricter_side(tmp_path, monkeypatch, capsys):
    _files(tmp_path, monkeypatch)
    (tmp_path / "prog").mkdir()
    for name in ("a.rules", "b.rules"):
        (tmp_path / "prog" / name).write_text((tmp_path / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["explain", "prog", "data.csv", "--partner", "P-2", "--side-by-side", "A", "B", "--json"]) == 0
    contracts = json.loads(capsys.readouterr().out)["contracts"]
    assert [(c["row"], c["old"]["status"], c["new"]["status"], c["delta"]) for c in contracts] == [
        (4, "scored", "rejected", "-10"), (6, "scored", "scored", "0")]
    assert contracts[0]["new"] == {"status": "rejected", "field": "customer", "code": "not-one-of",
                                   "reason": "`customer` must be one of new, existing, got 'New' (did you mean new?)"}
