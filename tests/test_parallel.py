"""A CSV split over several processes against one process: the same bytes in every output file.

The threshold is set to 0 so small generated files take the split path; every run is compared,
file by file, with `workers=1`, and each test says how the split run must have ended: `merged`
(the children's parts), `continued` (this process went on after the first range: repeats across
ranges, sums that could be rounded) or not at all (run again in one process: rows that would be
numbered wrongly, unreadable files, encodings and files not to split).
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from engine import parallel, run
from engine.program import load_program
from engine.readers import InputError
from engine.run import RunOptions, evaluate
from test_perf_equivalence import HEADER, OUTPUTS, PROGRAM, _row


@pytest.fixture(scope="module")
def program():
    return load_program(PROGRAM)


@pytest.fixture
def split(monkeypatch):
    """Every CSV splits; yields the ways the split runs ended: "merged" (the children's parts), or
    "continued" (this process went on after the first range); none when it ran in one process."""
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    ended = []
    for name in ("merged", "continue"):
        def spy(*args, _name=name, _real=getattr(parallel, f"_{name}")):
            ended.append(_name.replace("continue", "continued"))
            return _real(*args)
        monkeypatch.setattr(parallel, f"_{name}", spy)
    return ended


def _rows(rng: random.Random, count: int, start: int = 0) -> list[list[str]]:
    """Generated rows with every kind of trouble; a repeated id repeats the row just before it.

    (tests/test_perf_equivalence.py repeats any earlier id, which nearly always repeats one across
    the split: that case has its own tests below.)
    """
    rows = []
    for n in range(start, start + count):
        cells = _row(rng, n)
        if cells[0].startswith("C-") and cells[0] != f"C-{n:05d}":
            cells[0] = f"C-{max(n - 1, 0):05d}"
        rows.append(cells)
    return rows


def _repeat_far_apart(rows: list, first: int, later: int) -> list:
    """A clean row at `first` whose id the clean row at `later` repeats."""
    rows[first] = [f"C-{first:05d}", "P-001", "2017-03-01", "O2 Business S", "new", "1", ""]
    rows[first + 1][0] = f"C-{first + 1:05d}"
    rows[later] = [f"C-{first:05d}", "P-002", "2017-04-01", "O2 Business M", "new", "2", ""]
    return rows


def _write(path: Path, rows: list, header=HEADER, newline: str = "\n", encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, lineterminator=newline)
        w.writerow(header)
        w.writerows(rows)
    return path


def _compare(program, data: Path, tmp_path: Path, workers: int = 2, **options) -> tuple:
    """Both runs' results; asserts every output file is the same bytes."""
    split_out, one_out = tmp_path / f"split{workers}", tmp_path / "one"
    result = evaluate(program, data, RunOptions(workers=workers, **options), out_dir=split_out)
    single = evaluate(program, data, RunOptions(workers=1, **options), out_dir=one_out)
    for name in OUTPUTS:
        assert (split_out / name).read_bytes() == (one_out / name).read_bytes(), name
    assert sorted(p.name for p in split_out.iterdir()) == sorted(OUTPUTS)  # no part files left
    assert result.counts.to_json() == single.counts.to_json() and result.counts.reconciles
    assert list(result.counts.uncovered.items()) == list(single.counts.uncovered.items())
    assert result.notes == single.notes and result.points_total == single.points_total
    return result, single


@pytest.mark.parametrize("seed, rows, workers, batch", [(1, 3000, 2, 1024), (2, 3000, 3, 64), (3, 700, 2, 7),
                                                        (4, 2000, 4, 100)])
def test_generated_data_gives_the_same_bytes_split(program, tmp_path, monkeypatch, split, seed, rows, workers,
                                                    batch):
    monkeypatch.setattr(run, "BATCH_ROWS", batch)
    data = _write(tmp_path / "contracts.csv", _rows(random.Random(seed), rows))
    result, _ = _compare(program, data, tmp_path, workers=workers)
    assert split == ["merged"]
    c = result.counts
    assert c.rejected and c.unscored and c.scored and c.uncovered and c.unscored_reasons["no-version"]
    assert c.rejected_fields["contract_id"]  # repeats within a range


def test_the_ranges_continue_each_others_row_numbers(program, tmp_path, split):
    rows = _rows(random.Random(5), 2000)
    rows[1500] = [""] * 7  # blank lines count as rows
    rows[1501] = []
    rows[1700] = rows[1700][:3]  # a row too short names its own row number
    data = _write(tmp_path / "c.csv", rows)
    _compare(program, data, tmp_path)
    assert split == ["merged"]
    rejects = (tmp_path / "split2" / "rejects.csv").read_text()
    assert ',1702,,,(row),,unreadable-row,"row 1702 has 3 cells' in rejects


def test_quoted_cells_with_commas_and_line_breaks_after_the_cut(program, tmp_path, split):
    rows = _rows(random.Random(6), 2000)
    rows[1600][1] = "P-1, Berlin"
    rows[1601][3] = "O2 Business S\nwith a second line"
    rows[1602][1] = 'P-"quoted"\r\nand more'
    _compare(program, _write(tmp_path / "c.csv", rows), tmp_path)
    assert split == ["merged"]


def test_a_line_break_in_a_cell_before_the_cut_runs_in_one_process(program, tmp_path, split):
    rows = _rows(random.Random(7), 2000)
    rows[100][1] = "P-1\nline two"  # the first range has more lines than records
    _compare(program, _write(tmp_path / "c.csv", rows), tmp_path)
    assert not split


def test_a_cut_inside_a_quoted_cell_runs_in_one_process(program, tmp_path, split, monkeypatch):
    rows = _rows(random.Random(8), 2000)
    rows[999][6] = "opened\nclosed"
    data = _write(tmp_path / "c.csv", rows)
    content = data.read_bytes()
    cut = content.index(b"opened\n") + len(b"opened\n")  # each range alone has as many records as lines
    monkeypatch.setattr(parallel, "_cuts", lambda f, start, size, parts, end: [start, cut, size])
    _compare(program, data, tmp_path)
    assert not split
    monkeypatch.setattr(parallel, "_cuts", lambda f, start, size, parts, end: [start, cut + 8, size])
    _compare(program, data, tmp_path)  # a cut after the record that holds the line break
    assert not split  # the first range has a line more than records


def test_the_last_line_of_a_range_must_close_its_quotes():
    assert parallel._closes_record(b'C-1,"P-1, Berlin"\n', "utf-8", ",")
    assert parallel._closes_record(b"\r\n", "utf-8", ",")
    assert not parallel._closes_record(b'C-1,"P-1\n', "utf-8", ",")
    assert not parallel._closes_record(b'C-1,"P-1""\n', "utf-8", ",")
    assert not parallel._closes_record(b"C-1,\xff\n", "utf-8", ",")


@pytest.mark.parametrize("again, workers", [(False, 2), (True, 2), (True, 3)])
def test_an_id_repeated_across_the_cut_goes_on_in_this_process(program, tmp_path, split, again, workers):
    rows = _rows(random.Random(9), 2000)
    rows[1800][0] = rows[10][0]
    if again:
        rows[1900][0] = rows[10][0]
    result, _ = _compare(program, _write(tmp_path / "c.csv", rows), tmp_path, workers=workers)
    assert split == ["continued"]  # one process's run after the first range
    rejects = (tmp_path / f"split{workers}" / "rejects.csv").read_text()
    assert f"`contract_id` '{rows[10][0]}' repeats row 12" in rejects
    repeats = [line for line in rejects.splitlines() if line.endswith(f"'{rows[10][0]}' repeats row 12")]
    assert len(repeats) == (2 if again else 1)


def test_line_ends_cr_only_and_crlf(program, tmp_path, split):
    rows = _rows(random.Random(10), 1500)
    for end in ("\r", "\r\n"):
        _compare(program, _write(tmp_path / "c.csv", rows, newline=end), tmp_path)
    assert split == ["merged"] * 2


def test_semicolons_decimal_commas_a_bom_and_cp1252(program, tmp_path, split):
    rows = [[c.replace(".", ",") if i == 6 else c for i, c in enumerate(r)] for r in _rows(random.Random(11), 1500)]
    rows[900][1] = "P-Müller"
    text = "\ufeff" + ";".join(HEADER) + "\n" + "".join(";".join(r) + "\n" for r in rows if "\n" not in "".join(r))
    (tmp_path / "bom.csv").write_text(text, encoding="utf-8")
    _compare(program, tmp_path / "bom.csv", tmp_path, decimal_comma=True)
    (tmp_path / "ansi.csv").write_bytes(text[1:].encode("cp1252", errors="replace"))
    _compare(program, tmp_path / "ansi.csv", tmp_path, decimal_comma=True, encoding="cp1252")
    assert split == ["merged"] * 2


def test_header_notes_and_a_quoted_header(program, tmp_path, split):
    header = ["contract_id", "partner_id", "signed", "product", "custmer", "quantity", "pool_gb"]
    rows = _rows(random.Random(20), 1500)
    result, _ = _compare(program, _write(tmp_path / "c.csv", rows, header=header), tmp_path)
    assert result.notes and "custmer" in result.notes[0]
    quoted = '"' + '","'.join(HEADER) + '"\n'
    data = tmp_path / "q.csv"
    data.write_text(quoted + _write(tmp_path / "c.csv", rows).read_text().split("\n", 1)[1], encoding="utf-8")
    _compare(program, data, tmp_path)
    assert split == ["merged"] * 2


def test_utf16_runs_in_one_process(program, tmp_path, split):
    data = tmp_path / "c.csv"
    data.write_bytes(_write(tmp_path / "plain.csv", _rows(random.Random(12), 300)).read_text().encode("utf-16"))
    _compare(program, data, tmp_path)
    assert not split


def test_unreadable_bytes_give_the_one_process_error(program, tmp_path, split):
    rows = _rows(random.Random(13), 2000)
    good = _write(tmp_path / "c.csv", rows).read_bytes()
    for at in (len(good) // 4, len(good) * 3 // 4):  # in the first range, in the second
        data = tmp_path / f"bad{at}.csv"
        data.write_bytes(good[:at] + b"\xff" + good[at:])
        with pytest.raises(InputError) as split_error:
            evaluate(program, data, RunOptions(workers=2), out_dir=tmp_path / "s")
        with pytest.raises(InputError) as one_error:
            evaluate(program, data, RunOptions(workers=1), out_dir=tmp_path / "o")
        assert str(split_error.value) == str(one_error.value)
        assert "is not valid UTF-8" in str(one_error.value)
        assert not (tmp_path / "s").exists() and not (tmp_path / "o").exists()  # a failed run publishes nothing
        assert not [p.name for p in tmp_path.iterdir() if ".points-new-" in p.name]  # nor leaves its staging
    assert not split


def test_an_id_repeated_between_two_children_goes_on_in_this_process(program, tmp_path, split):
    rows = _repeat_far_apart(_rows(random.Random(21), 2400), 1000, 2200)  # in the second and third of 3
    _compare(program, _write(tmp_path / "c.csv", rows), tmp_path, workers=3)
    assert split == ["continued"]
    assert "'C-01000' repeats row 1002" in (tmp_path / "split3" / "rejects.csv").read_text()


def test_sums_that_could_be_rounded_are_added_in_row_order(program, tmp_path, split, monkeypatch):
    rules = PROGRAM / "2016-03.rules"
    text = rules.read_text(encoding="utf-8")
    thirds = text.replace("points mobile_tariffs[product, customer] * quantity",
                          "points mobile_tariffs[product, customer] * quantity / 3")
    assert thirds != text
    (tmp_path / "prog").mkdir()
    (tmp_path / "prog" / "thirds.rules").write_text(thirds, encoding="utf-8")
    data = _write(tmp_path / "c.csv", _rows(random.Random(14), 1500))
    thirds_program = load_program(tmp_path / "prog")
    result, _ = _compare(thirds_program, data, tmp_path)
    assert split == ["continued"] and result.counts.scored
    _compare(program, data, tmp_path)  # the whole-number program splits
    assert split == ["continued", "merged"]


def test_the_bound_on_sums():
    def part(scored, finest, largest):
        counts = run.Counts(scored=scored)
        return parallel._Part(0, counts, {}, run.ZERO, [], finest, parallel.Decimal(largest), True)

    assert parallel._sums_exact([part(10**6, 0, "2500"), part(10**6, 0, "2500")])
    assert parallel._sums_exact([part(1, -2, "1.25"), part(1, 0, "9" * 25)])  # 10**27 * 2 units < 10**28
    assert not parallel._sums_exact([part(1, -3, "1.125"), part(1, 0, "9" * 25)])
    assert parallel._sums_exact([part(2, -27, "3.333333333333333333333333333"), part(1, 0, "1")])  # 9.99..9
    assert not parallel._sums_exact([part(3, -27, "3.333333333333333333333333333"), part(1, 0, "1")])


def test_progress_ends_with_the_rows_of_the_whole_run(program, tmp_path, split, monkeypatch):
    monkeypatch.setattr(run, "BATCH_ROWS", 100)
    monkeypatch.setattr(run, "PROGRESS_EVERY", 250)
    seen = []
    data = _write(tmp_path / "c.csv", _rows(random.Random(19), 1000))
    result = evaluate(program, data, RunOptions(workers=2, progress=seen.append))
    assert split == ["merged"] and seen == sorted(seen) and len(seen) >= 3
    assert seen[-1] == result.counts.rows > seen[-2]


def test_progress_goes_on_when_this_process_goes_on(program, tmp_path, split, monkeypatch):
    monkeypatch.setattr(run, "BATCH_ROWS", 100)
    monkeypatch.setattr(run, "PROGRESS_EVERY", 250)
    rows = _repeat_far_apart(_rows(random.Random(19), 1000), 3, 900)
    seen = []
    result = evaluate(program, _write(tmp_path / "c.csv", rows), RunOptions(workers=2, progress=seen.append))
    assert split == ["continued"] and seen == sorted(seen) and seen[-1] == result.counts.rows


@pytest.mark.parametrize("repeat", [False, True])
def test_without_an_output_folder(program, tmp_path, split, repeat):
    rows = _rows(random.Random(16), 1000)
    if repeat:
        _repeat_far_apart(rows, 3, 900)
    data = _write(tmp_path / "c.csv", rows)
    result = evaluate(program, data, RunOptions(workers=2))
    single = evaluate(program, data, RunOptions(workers=1))
    assert split == ["continued" if repeat else "merged"]
    assert result.counts.to_json() == single.counts.to_json() and result.counts.rejected_fields["contract_id"]
    assert [(p.partner_id, p.period, p.points, p.scored, p.tier) for p in result.partners] == \
           [(p.partner_id, p.period, p.points, p.scored, p.tier) for p in single.partners]


def test_small_files_and_traced_runs_stay_in_one_process(program, tmp_path, monkeypatch):
    taken = []
    monkeypatch.setattr(parallel, "_run_ranges", lambda *args: taken.append(args))
    data = _write(tmp_path / "c.csv", _rows(random.Random(17), 200))
    evaluate(program, data, RunOptions(workers=2))
    assert not taken  # below PARALLEL_BYTES
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    evaluate(program, data, RunOptions(workers=2, trace_when=lambda row, record: False))
    evaluate(program, data, RunOptions(workers=1))
    assert not taken
    evaluate(program, data, RunOptions(workers=2))
    assert len(taken) == 1


def test_the_cli_option(program, tmp_path, split):
    from click.testing import CliRunner

    from engine.cli import cli

    data = _write(tmp_path / "c.csv", _rows(random.Random(18), 1000))
    outs = []
    for workers in ("2", "1"):
        out = tmp_path / f"cli{workers}"
        got = CliRunner().invoke(cli, ["evaluate", str(PROGRAM), str(data), "--out", str(out), "--json",
                                       "--workers", workers])
        assert got.exit_code == 0, got.output
        outs.append(json.loads(got.output)["counts"])
    assert outs[0] == outs[1] and split == ["merged"]
    got = CliRunner().invoke(cli, ["evaluate", str(PROGRAM), str(data), "--workers", "0"])
    assert got.exit_code != 0


def test_one_process_is_the_default(program, tmp_path, split, capsys):
    from engine.cli import main

    data = _write(tmp_path / "c.csv", _rows(random.Random(5), 1200))
    assert RunOptions().workers == 1
    evaluate(program, data, RunOptions(), out_dir=tmp_path / "api")
    assert main(["evaluate", str(PROGRAM), str(data), "--out", str(tmp_path / "cli"), "--json"]) == 0
    assert not split  # neither split, though every CSV may (PARALLEL_BYTES is 0 here)
    assert main(["evaluate", str(PROGRAM), str(data), "--out", str(tmp_path / "two"), "--json", "--workers", "2"]) == 0
    assert split == ["merged"]
    for name in OUTPUTS:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


def test_the_parts_live_inside_the_staging_folder(program, tmp_path, split, monkeypatch):
    seen = []
    real = parallel._append

    def spy(part_out, out_dir):
        seen.append((part_out, out_dir))
        return real(part_out, out_dir)

    monkeypatch.setattr(parallel, "_append", spy)
    out = tmp_path / "out"
    evaluate(program, _write(tmp_path / "c.csv", _rows(random.Random(6), 1200)), RunOptions(workers=2), out_dir=out)
    assert seen and all(".out.points-new-" in str(out_dir) and str(part).startswith(str(out_dir)) for part, out_dir in seen)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert not [p for p in tmp_path.iterdir() if ".points-new-" in p.name or ".points-parts-" in p.name]


# 34, 37: split (the generated ids repeat across the cut, so this process goes on after the first
# range); 33: a cut after a line too long to parse runs in one process.
@pytest.mark.parametrize("seed, unclosed, ended", [(34, True, ["continued"]), (37, False, ["continued"]),
                                                   (33, True, [])])
def test_unreadable_rows_give_the_one_process_bytes(program, tmp_path, split, seed, unclosed, ended):
    from tests.test_perf_equivalence import _write_faulty_csv

    data = _write_faulty_csv(tmp_path / "c.csv", 3000, seed, unclosed)
    result, _ = _compare(program, data, tmp_path)
    assert result.counts.rejected_fields["(row)"] >= 12
    assert split == ended
