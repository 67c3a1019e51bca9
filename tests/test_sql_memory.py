"""The DuckDB engine's memory limit: the `memory` setting (--memory, POINTS_MEMORY, points.toml) or, by
default, a quarter of the memory the process may use, 512 MiB to 2 GiB (engine.sql.duck.memory_limit)."""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from engine.cli import main
from engine.project import ProjectError, parse_size
from engine.run import RunOptions

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
EXAMPLE = ROOT / "examples" / "contracts.csv"
duckdb = pytest.importorskip("duckdb", reason="the DuckDB engine needs the duckdb package (the frames extra)")


@pytest.mark.parametrize("text, size", [
    ("2GB", 2_000_000_000), ("2gb", 2_000_000_000), ("1.5 GiB", 3 * 2**29), ("512MB", 512_000_000),
    ("64MiB", 2**26), (" 3TB ", 3 * 10**12), ("1.1GB", 1_100_000_000), ("700000KiB", 700_000 * 1024),
])
def test_a_memory_size_is_a_number_and_its_unit(text, size):
    assert parse_size(text, "x") == size


@pytest.mark.parametrize("text, problem", [
    ("lots", "expected a memory size like 2GB"), ("2", "expected a memory size"), ("GB", "expected a memory size"),
    ("-1GB", "expected a memory size"), ("2 G B", "expected a memory size"), ("1e9B", "expected a memory size"),
    ("1MB", "at least 64MiB"), ("63MiB", "at least 64MiB"),
])
def test_anything_else_is_refused_naming_where_it_was_written(text, problem):
    with pytest.raises(ProjectError) as err:
        parse_size(text, "POINTS_MEMORY=" + text)
    assert str(err.value).startswith(f"POINTS_MEMORY={text}: ") and problem in str(err.value)


def test_the_default_is_a_quarter_of_the_memory_within_bounds(tmp_path):
    from engine.sql.duck import LEAST_MEMORY, MOST_MEMORY, memory_limit, usable_memory

    machine = usable_memory(limits=())
    assert machine > 0
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    v2.write_text("max\n", encoding="ascii")  # no limit: the machine's memory
    assert usable_memory(limits=(str(v2),)) == machine
    v1.write_text(f"{2**30}\n", encoding="ascii")
    assert usable_memory(limits=(str(tmp_path / "none"), str(v2), str(v1))) == min(machine, 2**30)
    v2.write_text(f"{3 * 2**30}\n", encoding="ascii")  # the first file with a number wins
    assert usable_memory(limits=(str(v2), str(v1))) == min(machine, 3 * 2**30)
    expected = min(MOST_MEMORY, max(LEAST_MEMORY, usable_memory() // 4))
    assert memory_limit(RunOptions()) == f"{expected // 1024}KiB"
    assert LEAST_MEMORY <= expected <= MOST_MEMORY
    assert memory_limit(RunOptions(memory="1.5GiB")) == f"{3 * 2**29 // 1024}KiB"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def clean_export(tmp_path: Path) -> Path:
    """examples/contracts.csv without the lines DuckDB may not read as the row reader does."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    width = lines[0].count(",")
    export = tmp_path / "contracts.csv"
    export.write_text("\n".join(x for x in lines if x.count(",") == width and '"' not in x) + "\n", encoding="utf-8")
    return export


def test_the_limit_given_is_duckdbs_and_changes_no_byte(tmp_path, monkeypatch, capsys):
    """--memory, POINTS_MEMORY and points.toml's `memory` each reach DuckDB's connection (seen by a
    wrapper of duckdb.connect that passes every call on), as its limit and as the memory its block
    allocator may keep; the files are those of the default limit."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POINTS_MEMORY", raising=False)
    export = clean_export(tmp_path)
    seen, kept = [], []  # the memory limit, and the memory the block allocator may keep
    connect = duckdb.connect

    def recording(*args, **kwargs):
        seen.append((kwargs.get("config") or {}).get("memory_limit"))
        kept.append((kwargs.get("config") or {}).get("block_allocator_memory"))
        return connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", recording)
    code, _, err = run(capsys, "evaluate", PROGRAM, export, "--engine", "duckdb", "--out", tmp_path / "default")
    assert code in (0, 1), err
    from engine.sql.duck import memory_limit

    assert seen == [memory_limit(RunOptions())]
    code, _, err = run(capsys, "evaluate", PROGRAM, export, "--engine", "duckdb", "--memory", "300MB",
                       "--out", tmp_path / "flag")
    assert code in (0, 1), err
    assert seen[-1] == f"{300_000_000 // 1024}KiB"
    monkeypatch.setenv("POINTS_MEMORY", "1GiB")
    assert run(capsys, "evaluate", PROGRAM, export, "--engine", "duckdb", "--out", tmp_path / "env")[0] in (0, 1)
    assert seen[-1] == "1048576KiB"
    monkeypatch.delenv("POINTS_MEMORY")
    (tmp_path / "points.toml").write_text('memory = "700MiB"\n', encoding="utf-8")
    assert run(capsys, "evaluate", PROGRAM, export, "--engine", "duckdb", "--out", tmp_path / "file")[0] in (0, 1)
    assert seen[-1] == f"{700 * 1024}KiB"
    assert kept == seen  # the blocks kept between statements never go beyond the limit given
    for name in ("contracts.csv", "rows.csv", "rejects.csv", "partners.csv", "partner_rules.csv"):
        for other in ("flag", "env", "file"):
            assert filecmp.cmp(tmp_path / "default" / name, tmp_path / other / name, shallow=False), (other, name)
    code, out, err = run(capsys, "config", "--json")
    assert code == 0, err
    import json

    assert json.loads(out)["settings"]["memory"] == {"value": "700MiB", "source": "project file",
                                                     "from": f"{tmp_path / 'points.toml'}:1:1"}


@pytest.mark.parametrize("where", ["flag", "environment", "file"])
def test_a_bad_limit_stops_the_run_before_it_starts(where, tmp_path, monkeypatch, capsys):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POINTS_MEMORY", raising=False)
    export = clean_export(tmp_path)
    argv = ["evaluate", PROGRAM, export, "--engine", "duckdb", "--out", tmp_path / "out"]
    if where == "flag":
        argv += ["--memory", "half"]
        named = "--memory: "
    elif where == "environment":
        monkeypatch.setenv("POINTS_MEMORY", "half")
        named = "POINTS_MEMORY=half: "
    else:
        (tmp_path / "points.toml").write_text('memory = "half"\n', encoding="utf-8")
        named = f"{tmp_path / 'points.toml'}:1:1: memory: "
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert f"error: {named}expected a memory size like 2GB, 1.5GiB or 512MB" in err
    assert not (tmp_path / "out").exists()
