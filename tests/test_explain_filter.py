"""`points explain --partner` (and `--contract` where the line pre-filter steps aside) traces only the
rows DuckDB picks (engine.sql.filter); every answer must be the one of reading the whole files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
import engine.commands.explain  # noqa: E402  (after engine.cli, which registers the commands)
import engine.explain
from engine.commands.common import run_options
from engine.program import load_program
from engine.sql.filter import Selection, select_rows
from datetime import date

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = str(ROOT / "rulesets" / "o2-business")
LEGACY = str(ROOT / "examples" / "legacy.csv")
LINES = (ROOT / "examples" / "contracts.csv").read_text(encoding="utf-8").splitlines()
HEADER = LINES[0]
# the example export's rows that fit the header (it also holds five that do not: those go to a test of their own)
BODY = [line for line in LINES[1:] if line.count(",") == HEADER.count(",")][::5]  # 2016 to 2018
WIDE = [line for line in LINES[1:] if line.count(",") != HEADER.count(",")]


def cells(line: str) -> list[str]:
    return line.split(",")


def with_cells(line: str, **changes) -> str:
    names = cells(HEADER)
    out = cells(line)
    for name, value in changes.items():
        out[names.index(name)] = value
    return ",".join(out)


def of(partner: str, nth: int = 0) -> str:
    return [line for line in BODY if cells(line)[1] == partner][nth]


def messy() -> list[str]:
    """Rows of P-003 and P-005 whose fate depends on rows of other partners, and other mischief."""
    body = list(BODY)
    a, b, c, d = of("P-003", 3), of("P-003", 5), of("P-005", 2), of("P-003", 7)
    first = [
        with_cells(a, partner_id="P-011"),                         # another partner claims P-003's id first
        with_cells(b, partner_id="P-004", signed="2016/05/01"),     # an invalid earlier row does not claim it
        with_cells(c, partner_id="P-003", quantity="0"),            # P-005's id on a rejected P-003 row
        with_cells(d, contract_id="  " + cells(d)[0] + "\u00a0"),   # the id with spaces around it, first
        with_cells(of("P-001", 1), partner_id=" P-003"),            # P-003 with a space before it
        with_cells(of("P-001", 2), partner_id="P-0031"),            # an id holding the id
        with_cells(of("P-001", 3), partner_id="p-003"),             # another case: another partner
        ",,,,,,,,",                                                 # every cell blank: left out, counted
        with_cells(of("P-002", 4), signed="30.12.2019"),            # the latest valid date, German form
        with_cells(of("P-002", 5), signed="2019-12-31", quantity="x"),  # later, but rejected
        with_cells(of("P-003", 12), signed="2019-01-15"),           # P-003's latest: the same period
        with_cells(of("P-002", 6), signed="2020-13-01"),            # no date at all
    ]
    body[10:10] = first
    body.insert(200, with_cells(of("P-005", 4), quantity="-1"))     # a rejected P-005 row ...
    body.append(of("P-005", 4))                                     # ... and the same contract, valid, later
    body.append(with_cells(of("P-003", 9), partner_id="P-007"))     # a later duplicate from another partner
    return [HEADER, *body]


def day(cell: str):
    """A signed cell's date as the row reader reads it, or None."""
    import re
    from datetime import date

    iso, dotted = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", cell), re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", cell)
    try:
        return date(*map(int, iso.groups())) if iso else date(*map(int, reversed(dotted.groups()))) if dotted else None
    except ValueError:
        return None


def write(path: Path, lines: list[str], newline: str = "\n", final: bool = True, bom: bool = False) -> Path:
    text = newline.join(lines) + (newline if final else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def explain(capsys, monkeypatch, argv: list[str], fast: bool) -> tuple[int, str, str]:
    with monkeypatch.context() as m:
        m.setattr(engine.explain, "contract_prefilter", lambda program, cid: None)
        if not fast:
            m.setattr(engine.explain, "filtered_source", lambda *a, **k: (None, "off"))
        code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def taken(monkeypatch) -> list:
    """The selections the command makes (a spy on engine.explain.filtered_source)."""
    seen = []
    real = engine.explain.filtered_source

    def spy(*args, **kwargs):
        source, selection = real(*args, **kwargs)
        seen.append(selection)
        return source, selection
    monkeypatch.setattr(engine.explain, "filtered_source", spy)
    return seen


PARTNERS = ["P-003", "P-005", "P-011", "P-004", "P-002", "P-999"]
ASKS = [(), ("--json",), ("--period", "2017"), ("--legacy", LEGACY, "--json"), ("--full", "--period", "2016", "--all")]


@pytest.mark.parametrize("newline,final,bom", [("\n", True, False), ("\r\n", False, True)])
def test_a_partner_from_the_picked_rows_is_the_partner_of_the_whole_file(capsys, monkeypatch, tmp_path,
                                                                        newline, final, bom):
    data = write(tmp_path / "contracts.csv", messy(), newline, final, bom)
    seen, codes = taken(monkeypatch), set()
    runs = runs_of(monkeypatch)
    for partner in PARTNERS:
        for ask in ASKS:
            argv = ["explain", PROGRAM, str(data), "--partner", partner, *ask]
            runs.clear()
            fast = explain(capsys, monkeypatch, argv, True)
            assert runs == [True], (partner, ask, runs)  # the picked rows only
            assert fast == explain(capsys, monkeypatch, argv, False), (partner, ask)
            codes.add(fast[0])
    assert codes == {0, 2}  # P-999 has no rows
    assert seen and all(s.__class__.__name__ == "Selection" for s in seen)  # never the whole file
    assert max(s.rows() for s in seen) < len(messy()) // 3


def test_the_rows_picked_for_a_partner(tmp_path):
    data = write(tmp_path / "contracts.csv", messy())
    lines = messy()
    selection = select_rows(load_program(PROGRAM), [data], run_options(), "partner_id", "P-003", latest=False)
    header, rows = selection.picked[data]
    ids = {cells(line)[0].strip() for line in lines[1:] if "P-003" in cells(line)[1]}
    expected = [n for n, line in enumerate(lines, 1)
                if n > 1 and ("P-003" in cells(line)[1] or (cells(line)[0].strip() in ids and cells(line)[0].strip()))]
    assert rows == expected
    assert header.decode().splitlines() == [HEADER, *(lines[n - 1] for n in rows)]
    latest = select_rows(load_program(PROGRAM), [data], run_options(), "partner_id", "P-003", latest=True)
    extra = sorted(set(latest.picked[data][1]) - set(rows))
    days = {n: day(cells(line)[3]) for n, line in enumerate(lines, 1) if n > 1}
    last = sorted({d for d in days.values() if d is not None})[-3]
    seeds = {n for n, d in days.items() if d is None or d >= last}  # no date, or the three latest dates
    seed_ids = {cells(lines[n - 1])[0] for n in seeds} - {""}  # and the rows that share their ids
    assert extra == [n for n in sorted(days) if n not in rows and (n in seeds or cells(lines[n - 1])[0] in seed_ids)]
    assert {",,,,,,,,", *(line for line in lines if "2019-12-31" in line or "2020-13-01" in line)} \
        <= {lines[n - 1] for n in extra}
    assert {"30.12.2019", "2019-01-15"} <= {cells(lines[n - 1])[3] for n in seeds}  # German dates are read
    assert latest.bound == sorted({d for d in days.values() if d is not None})[-4]
    late = Selection(bound=date(2019, 12, 30), latest=True)
    assert not late.exact_for(None, "year") and late.exact_for(late.bound, "year")
    assert late.exact_for(date(2019, 1, 1), "year") and not late.exact_for(date(2019, 1, 1), "quarter")
    assert not late.exact_for(date(2018, 12, 31), "year")
    assert selection.exact_for(None, "year")


def runs_of(monkeypatch) -> list:
    """Whether each run of the row engine reads picked rows (a spy on engine.run.evaluate)."""
    import engine.run

    runs, real = [], engine.run.evaluate

    def counted(*args, **kwargs):
        runs.append(args[2].open_source is not None)
        return real(*args, **kwargs)
    monkeypatch.setattr(engine.run, "evaluate", counted)
    return runs


def test_the_latest_valid_date_on_a_row_left_out_reads_the_whole_file(capsys, monkeypatch, tmp_path):
    # the three latest dates are on rejected rows: the latest valid one, 30.12.2019, is on a row left out;
    # P-003 has a row in 2019 (the period under way is known), P-005 has not (it is not)
    lines = [*messy(), *(with_cells(of("P-009", n), signed=f"2021-06-0{n}", quantity="y") for n in (1, 2, 3))]
    data = write(tmp_path / "contracts.csv", lines)
    runs = runs_of(monkeypatch)
    for partner, whole in (("P-003", False), ("P-005", True)):
        argv = ["explain", PROGRAM, str(data), "--partner", partner, "--json"]
        runs.clear()
        assert explain(capsys, monkeypatch, argv, True) == explain(capsys, monkeypatch, argv, False)
        assert runs == ([True, False, False] if whole else [True, False]), partner  # (the last: the reference run)


def test_several_files_and_two_unique_fields(capsys, monkeypatch, tmp_path):
    """`unique` holds across files, and a chain of shared values through a second unique field."""
    folder = tmp_path / "program"
    shutil.copytree(PROGRAM, folder)
    for rules in folder.glob("*.rules"):
        text = rules.read_text(encoding="utf-8")
        marker = "  pool_gb:"
        rules.write_text(text.replace(marker, "  ref:         text, unique\n" + marker, 1), encoding="utf-8")
    assert "ref:" in (folder / "2016-03.rules").read_text(encoding="utf-8")
    header = HEADER + ",ref"
    body = [f"{line},R{n % 500}" for n, line in enumerate(messy()[1:])]  # refs repeat across partners
    jan = write(tmp_path / "jan.csv", [header, *body[:400]])
    feb = write(tmp_path / "feb.csv", [header, of("P-003", 20) + ",R7", *body[400:]])  # an id of jan again
    seen = taken(monkeypatch)
    for partner in ("P-003", "P-005", "P-017"):
        for ask in ((), ("--json",)):
            argv = ["explain", str(folder), str(jan), str(feb), "--partner", partner, *ask]
            assert explain(capsys, monkeypatch, argv, True) == explain(capsys, monkeypatch, argv, False), partner
    contract = cells(of("P-003", 20))[0]
    for ask in ((), ("--json",), ("--full",)):
        argv = ["explain", str(folder), str(jan), str(feb), "--contract", contract, *ask]
        assert explain(capsys, monkeypatch, argv, True) == explain(capsys, monkeypatch, argv, False)
    for cid in ("C-000020", "C-999999", "R7"):
        argv = ["explain", str(folder), str(jan), str(feb), "--contract", cid, "--json"]
        assert explain(capsys, monkeypatch, argv, True) == explain(capsys, monkeypatch, argv, False)
    assert seen and all(s.__class__.__name__ == "Selection" for s in seen)


@pytest.mark.parametrize("kind", ["wide rows", "blank line", "quote", "cp1252", "jsonl"])
def test_files_the_filter_cannot_read_exactly_are_read_whole(capsys, monkeypatch, tmp_path, kind):
    lines = messy()
    name, encoding, extra = "contracts.csv", "utf-8", []
    if kind == "wide rows":
        lines = [*lines, *WIDE]
    elif kind == "blank line":
        lines = [*lines[:30], "", *lines[30:]]
    elif kind == "quote":
        lines = [*lines, with_cells(of("P-003", 11), partner_name='"Quoted, GmbH"')]
    elif kind == "cp1252":
        lines = [line.replace("ü", "ü") for line in lines]
        encoding, extra = "cp1252", ["--encoding", "cp1252"]
    data = tmp_path / name
    if kind == "jsonl":
        import json

        data = tmp_path / "contracts.jsonl"
        names = cells(HEADER)
        rows = (json.dumps(dict(zip(names, cells(line)))) + "\n" for line in lines[1:] if line.strip(","))
        data.write_text("".join(rows), encoding="utf-8")
    else:
        data.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    seen = taken(monkeypatch)
    argv = ["explain", PROGRAM, str(data), "--partner", "P-003", "--json", *extra]
    assert explain(capsys, monkeypatch, argv, True) == explain(capsys, monkeypatch, argv, False)
    assert len(seen) == 1 and seen[0].startswith(REASONS[kind]), seen  # the reason the file is read whole


REASONS = {
    "wide rows": "DuckDB could not read the file as the row reader does (",  # DuckDB's own words follow
    "blank line": "contracts.csv: the file has a blank line",
    "quote": "contracts.csv: the file has a quote character (quoted cells are read by the row engine)",
    "cp1252": "contracts.csv: the cp1252 encoding (the filter reads UTF-8)",
    "jsonl": "an export that is not CSV",
}


def test_a_large_file_read_whole_says_why(capsys, monkeypatch, tmp_path):
    data = write(tmp_path / "contracts.csv", [*messy()[:40], "", *messy()[40:]])
    monkeypatch.setattr(engine.commands.explain, "WHOLE_NOTE_BYTES", 1000)
    code, out, err = explain(capsys, monkeypatch, ["explain", PROGRAM, str(data), "--partner", "P-003"], True)
    assert code == 0 and out.startswith("partner P-003, period 2016: ")
    assert err == f"note: reading all of {data}, not only the rows needed: contracts.csv: the file has a blank line\n"
    monkeypatch.setattr(engine.commands.explain, "WHOLE_NOTE_BYTES", 10 ** 9)
    assert explain(capsys, monkeypatch, ["explain", PROGRAM, str(data), "--partner", "P-003"], True)[2] == ""


def test_the_filter_steps_aside_for_fields_it_cannot_follow(tmp_path):
    data = write(tmp_path / "contracts.csv", messy())
    program = tmp_path / "p.rules"
    source = (ROOT / "rulesets" / "o2-business" / "2018-01.rules").read_text(encoding="utf-8")

    def reason(program, value="P-003") -> str:
        source_, why = engine.explain.filtered_source(load_program(program), [data], run_options(), "partner_id", value)
        assert source_ is None
        return why
    program.write_text(source.replace("partner_id:  text, required", 'partner_id:  text, default "P-000"', 1),
                       encoding="utf-8")
    assert reason(program) == "`partner_id` (the field explained) is not text without a default in version 2018.01"
    program.write_text(source.replace("quantity:    integer >= 1, default 1", "quantity:    integer >= 1, unique", 1),
                       encoding="utf-8")
    assert reason(program) == "`quantity` (unique) is not text without a default in version 2018.01"
    assert reason(PROGRAM, " P-003") == "the partner_id is empty or has spaces around it"
    # every row but the blank one holds "P-0": reading them all is no saving
    assert reason(PROGRAM, "P-0") == f"{len(messy()) - 2:,} of the {len(messy()) - 1:,} rows are needed"
