"""`points explain --contract` reads only the lines that can hold the contract (engine.explain.
contract_prefilter); every answer must be the one of reading the whole file."""
from __future__ import annotations

from pathlib import Path

import pytest

import engine.explain
from engine.cli import main
from engine.program import load_program

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = str(ROOT / "rulesets" / "o2-business")
LINES = (ROOT / "examples" / "contracts.csv").read_text(encoding="utf-8").splitlines()
HEADER, BODY = LINES[0], LINES[1:120]


def messy(newline: str = "\n", final: bool = True) -> str:
    """Duplicates (valid and invalid first), blank lines, rows too wide, bad values, ids inside ids."""
    body = list(BODY)
    body.insert(5, "")
    body.insert(9, body[3])                                   # a valid duplicate of C-000003... later
    body.insert(12, body[20].replace("2016-", "2016/", 1))      # a bad date
    body.append(body[20])                                     # the same id as a bad row above, valid
    body.append(body[30] + ",x,y")                            # too many cells
    body.append("  " + body[40].split(",", 1)[0] + "  ," + body[40].split(",", 1)[1])  # spaces around the id
    body.append(body[50].replace(body[50].split(",")[0], body[50].split(",")[0] + "9"))  # a longer id
    body.append("")
    text = newline.join([HEADER, *body])
    return text + newline if final else text


IDS = ["C-000003", "C-000020", "C-000021", "C-000031", "C-000041", "C-000051", "C-0000519", "C-00005",
       "C-999999", "P-003", "2016", "C-000119"]


def explain(capsys, monkeypatch, data: Path, contract: str, fast: bool, *extra) -> tuple[int, str, str]:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(engine.explain, "contract_prefilter", lambda program, cid: None)
        code = main(["explain", PROGRAM, str(data), "--contract", contract, *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("newline,final", [("\n", True), ("\r\n", True), ("\n", False)])
def test_prefilter_answers_as_the_whole_file(capsys, monkeypatch, tmp_path, newline, final):
    data = tmp_path / "contracts.csv"
    data.write_bytes(messy(newline, final).encode("utf-8"))
    for cid in IDS:
        for extra in ((), ("--json",), ("--full",)):
            assert explain(capsys, monkeypatch, data, cid, True, *extra) == \
                explain(capsys, monkeypatch, data, cid, False, *extra), (cid, extra)


def test_prefilter_across_several_files(capsys, monkeypatch, tmp_path):
    first, second = tmp_path / "jan.csv", tmp_path / "feb.csv"
    first.write_text("\n".join([HEADER, *BODY[:60]]) + "\n", encoding="utf-8")
    second.write_text("\n".join([HEADER, BODY[10], *BODY[60:]]) + "\n", encoding="utf-8")  # C-000011 again
    for cid in ("C-000011", "C-000070", "C-000001"):
        with monkeypatch.context() as m:
            fast = main(["explain", PROGRAM, str(first), str(second), "--contract", cid, "--json"]), capsys.readouterr()
            m.setattr(engine.explain, "contract_prefilter", lambda program, c: None)
            slow = main(["explain", PROGRAM, str(first), str(second), "--contract", cid, "--json"]), capsys.readouterr()
        assert fast == slow


def test_prefilter_reads_only_lines_with_the_id(tmp_path):
    data = tmp_path / "contracts.csv"
    data.write_bytes(messy().encode("utf-8"))
    picked, lines = engine.explain._picked_lines(data, "utf-8", b"C-00002")
    every = messy().splitlines()
    assert lines == [n for n, line in enumerate(every, 1) if "C-00002" in line and n > 1]
    assert len(lines) == 11 and lines[0] == 24  # the line numbers of the file: three lines inserted before
    assert picked.decode().splitlines() == [HEADER, *(every[n - 1] for n in lines)]


def test_prefilter_steps_aside_where_it_could_differ(tmp_path):
    data = tmp_path / "quoted.csv"
    data.write_text(HEADER + "\n" + BODY[0].replace("new", '"new"') + "\n", encoding="utf-8")
    assert engine.explain._picked_lines(data, "utf-8", b"C-000001") is None  # a quote: lines may not be rows
    data.write_bytes((HEADER + "\r" + BODY[0] + "\r").encode())
    assert engine.explain._picked_lines(data, "utf-8", b"C-000001") is None  # lone CR line ends
    data.write_bytes((HEADER + "\n" + BODY[0] + "\n").encode() + b"\xff\n")
    assert engine.explain._picked_lines(data, "utf-8", b"C-000001") is None  # not UTF-8: the reader says so
    assert engine.explain._picked_lines(data, "cp1252", b"C-000001") is None
    program = load_program(PROGRAM)
    assert engine.explain.contract_prefilter(program, "C-000001") is not None
    assert engine.explain.contract_prefilter(program, "") is None
    other = tmp_path / "other.rules"
    other.write_text((ROOT / "rulesets" / "o2-business" / "2018-01.rules").read_text(encoding="utf-8")
                     .replace("partner_id:  text, required", "partner_id:  text, required, unique", 1)
                     .replace("partner_id: text, required", "partner_id: text, required, unique", 1),
                     encoding="utf-8")
    assert engine.explain.contract_prefilter(load_program(other), "C-000001") is None  # another unique field
