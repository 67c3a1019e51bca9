"""Output folders: the previous complete result or the new one, never a mix (engine/outputs.py).

Through the command (`main(argv)`) where no signal is involved, through real `points` processes
where one is: killed (SIGKILL, SIGINT, SIGTERM) while writing over a previous result, run twice at
once, run out of disk space.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import outputs
from engine.cli import main
from engine.outputs import EVALUATE_FILES, OutputBusy, OutputError, OutputFolder
from engine.program import load_program
from engine.run import evaluate
from test_perf_equivalence import HEADER, _write_csv

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
DATA = ROOT / "examples" / "contracts.csv"
LEGACY = ROOT / "examples" / "legacy.csv"
QUALITY = ROOT / "examples" / "quality.csv"
POINTS = [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def leftovers(out: Path) -> list[str]:
    """Staging and old folders of `out` still beside it."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.points-")
                  and not p.name.endswith("-lock"))


def complete(out: Path) -> dict:
    """The manifest of a complete result in `out` (every output there, each matching its hash)."""
    assert sorted(p.name for p in out.iterdir()) == sorted(EVALUATE_FILES)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for name, digest in manifest["outputs"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    counts = manifest["counts"]
    assert counts["rows"] == counts["scored"] + counts["unscored"] + counts["rejected"]
    lines = (out / "contracts.csv").read_bytes().count(b"\n") - 1 + (out / "rejects.csv").read_bytes().count(b"\n") - 1
    assert lines >= counts["rows"]  # every row is in one of them (a quoted line break adds lines)
    return manifest


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """Some 100,000 generated contracts (about 5 MB): a run long enough to be killed while it writes."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    products = ("O2 Business S", "O2 Business M", "O2 DSL Business 50", "O2 Unite Pool", "Fax Line")
    lines = [",".join(HEADER)] + [
        f"C-{n:06d},P-{n % 97:03d},{2016 + n % 3}-{1 + n % 12:02d}-{1 + n % 28:02d},{products[n % 5]},"
        f"{('new', 'existing')[n % 2]},{1 + n % 7},{n % 50}" for n in range(100_000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- replacing a result


def test_a_new_result_replaces_the_previous_one_whole(capsys, tmp_path):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    first = complete(out)
    small = tmp_path / "small.csv"
    small.write_text("\n".join(DATA.read_text(encoding="utf-8").splitlines()[:30]) + "\n", encoding="utf-8")
    assert run(capsys, "evaluate", PROGRAM, small, "--out", out)[0] == 0
    second = complete(out)
    assert second["counts"]["rows"] == 29 != first["counts"]["rows"]
    assert leftovers(out) == []


def test_the_fallback_swap_when_the_exchange_is_refused(capsys, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    calls = []

    def refused(*args):
        calls.append(args)
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(outputs, "exchange", refused)
    small = tmp_path / "small.csv"
    small.write_text("\n".join(DATA.read_text(encoding="utf-8").splitlines()[:10]) + "\n", encoding="utf-8")
    assert run(capsys, "evaluate", PROGRAM, small, "--out", out)[0] == 0
    assert calls and complete(out)["counts"]["rows"] == 9
    assert leftovers(out) == []


def test_a_crash_inside_the_fallback_swap_is_recovered_by_the_next_run(capsys, tmp_path):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    before = snapshot(out)
    os.rename(out, tmp_path / ".out.points-old-0badc0de")  # killed between the fallback's two renames
    (tmp_path / ".out.points-new-0badc0de").mkdir()
    folder = OutputFolder(out, names=EVALUATE_FILES).reserve()  # the next run, before any work
    try:
        assert snapshot(out) == before and leftovers(out) == []
    finally:
        folder._release()


def test_the_exchange_swaps_two_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        outputs.exchange(fd, "a", "b")
    except OSError as err:
        pytest.skip(f"renameat2(RENAME_EXCHANGE) unavailable here ({err}): the fallback is tested above")
    finally:
        os.close(fd)
    assert (tmp_path / "b" / "x").read_text() == "a" and not list((tmp_path / "a").iterdir())


# --------------------------------------------------------------------------- inputs, links, strangers


@pytest.mark.parametrize("where", ["the input's folder", "a folder above the input"])
def test_an_output_never_replaces_an_input(capsys, tmp_path, where):
    inputs = tmp_path / "exports" / "2017"
    inputs.mkdir(parents=True)
    data = inputs / "contracts.csv"
    shutil.copy(DATA, data)
    out = inputs if where == "the input's folder" else tmp_path / "exports"
    code, _, err = run(capsys, "evaluate", PROGRAM, data, "--out", out)
    assert code == 2 and str(out) in err and "input" in err and "contracts.csv" in err
    assert data.read_bytes() == DATA.read_bytes() and sorted(os.listdir(inputs)) == ["contracts.csv"]
    assert leftovers(out) == []


def test_an_input_reached_through_a_link_is_found_by_inode(capsys, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(DATA, real / "contracts.csv")
    (tmp_path / "alias").symlink_to(real)
    code, _, err = run(capsys, "evaluate", PROGRAM, tmp_path / "alias" / "contracts.csv", "--out", real)
    assert code == 2 and "input" in err
    assert (real / "contracts.csv").read_bytes() == DATA.read_bytes()


def test_every_command_refuses_to_write_over_its_inputs(capsys, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for source in (DATA, LEGACY, QUALITY):
        shutil.copy(source, folder / source.name)
    before = snapshot(folder)
    commands = [
        ["status", PROGRAM, DATA, "--legacy", folder / "legacy.csv", "--out", folder],
        ["quality", PROGRAM, folder / "quality.csv", "--out", folder],
        ["diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", folder / "contracts.csv", "--out", folder],
        ["evaluate", PROGRAM, DATA, "--out", PROGRAM],  # the ruleset folder is an input too
    ]
    for command in commands:
        code, _, err = run(capsys, *command)
        assert code == 2 and "input" in err, command
    assert snapshot(folder) == before


def test_the_python_api_gives_the_same_guarantees(tmp_path):
    program = load_program(PROGRAM)
    shutil.copy(DATA, tmp_path / "contracts.csv")
    with pytest.raises(OutputError, match="input"):
        evaluate(program, tmp_path / "contracts.csv", out_dir=tmp_path)
    out = tmp_path / "out"
    with OutputFolder(out, names=EVALUATE_FILES).reserve():  # another run holds the lock
        with pytest.raises(OutputBusy, match="another run is writing"):
            evaluate(program, DATA, out_dir=out)
    evaluate(program, DATA, out_dir=out)
    complete(out)


def test_a_symlinked_output_file_is_replaced_and_its_target_untouched(capsys, tmp_path):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    precious = tmp_path / "precious.txt"
    precious.write_text("not an output\n")
    (out / "contracts.csv").unlink()
    (out / "contracts.csv").symlink_to(precious)
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    assert precious.read_text() == "not an output\n"
    assert not (out / "contracts.csv").is_symlink()
    complete(out)


def test_a_file_created_fresh_never_follows_a_link(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep\n")
    (tmp_path / "link.csv").symlink_to(precious)
    with pytest.raises(OSError):
        outputs.create(tmp_path / "link.csv")
    with pytest.raises(OSError):
        outputs.create(tmp_path / "link.csv", append=True)
    assert precious.read_text() == "keep\n"


def test_an_output_folder_that_is_a_link_is_refused(capsys, tmp_path):
    real = tmp_path / "real"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", real)[0] == 0
    before = snapshot(real)
    (tmp_path / "link").symlink_to(real)
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", tmp_path / "link")
    assert code == 2 and "symbolic link" in err and str(tmp_path / "link") in err
    assert snapshot(real) == before and (tmp_path / "link").is_symlink()


def test_a_folder_with_other_files_is_not_replaced(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", out)
    assert code == 2 and "notes.txt" in err
    code, _, err = run(capsys, "status", PROGRAM, DATA, "--legacy", LEGACY, "--out", out)
    assert code == 2 and "notes.txt" in err
    assert os.listdir(out) == ["notes.txt"]


# --------------------------------------------------------------------------- failures


def test_a_failed_run_leaves_the_previous_result_and_no_staging(capsys, tmp_path):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    before = snapshot(out)
    bad = tmp_path / "bad.csv"
    bad.write_text("contract_id,signed\nC-1,2016-05-01\n", encoding="utf-8")  # required columns missing
    code, _, err = run(capsys, "evaluate", PROGRAM, bad, "--out", out)
    assert code == 2 and "bad.csv" in err
    assert snapshot(out) == before and leftovers(out) == []
    code, _, _ = run(capsys, "evaluate", PROGRAM, tmp_path / "missing.csv", "--out", tmp_path / "new")
    assert code == 2 and not (tmp_path / "new").exists() and leftovers(tmp_path / "new") == []


def test_an_exception_while_writing_names_the_file_and_keeps_the_previous_result(capsys, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    before = snapshot(out)
    real = outputs._NamedRaw.write

    def full_write(self, data):  # what a full disk does to the writes of one file
        if self._shown.endswith("partners.csv"):
            raise outputs.WriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._shown)
        return real(self, data)

    monkeypatch.setattr(outputs._NamedRaw, "write", full_write)
    code, _, err = run(capsys, "evaluate", PROGRAM, DATA, "--out", out)
    assert code == 2
    assert f"{out}/partners.csv: cannot write: No space left on device" in err.replace("\n", "")
    assert snapshot(out) == before and leftovers(out) == []


def _points(args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(POINTS + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT, **kwargs)


def test_a_file_too_large_names_the_file_and_keeps_the_previous_result(tmp_path):
    """A size limit on files (RLIMIT_FSIZE, no root needed) fails a write as a full disk does."""
    import resource

    out = tmp_path / "out"
    assert main(["evaluate", str(PROGRAM), str(DATA), "--out", str(out), "--json"]) == 0
    before = snapshot(out)
    limit = max(len(b) for b in before.values()) // 2

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = _points(["evaluate", PROGRAM, DATA, "--out", out], preexec_fn=limited)
    _, err = proc.communicate(timeout=60)
    text = err.decode().replace("\n", "")
    assert proc.returncode == 2 and f"{out}/contracts.csv: cannot write: File too large" in text, text
    assert snapshot(out) == before and leftovers(out) == []


def test_a_full_disk(tmp_path, big):
    """A small tmpfs, where the tests may mount one (root); else skipped."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk needs a small tmpfs, and mounting one needs root: not root here")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = disk / "out"
        assert main(["evaluate", str(PROGRAM), str(DATA), "--out", str(out), "--json"]) == 0
        before = snapshot(out)
        proc = _points(["evaluate", PROGRAM, big, "--out", out])
        _, err = proc.communicate(timeout=120)
        text = err.decode().replace("\n", "")
        assert proc.returncode == 2 and f"{out}/" in text and "cannot write: No space left on device" in text, text
        assert snapshot(out) == before and leftovers(out) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# --------------------------------------------------------------------------- two runs at once


def test_a_second_run_refuses_at_once_or_waits(capsys, tmp_path):
    out = tmp_path / "out"
    assert run(capsys, "evaluate", PROGRAM, DATA, "--out", out)[0] == 0
    lock = os.open(tmp_path / ".out.points-lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run is writing `out`
    try:
        for command in (["evaluate", PROGRAM, DATA], ["status", PROGRAM, DATA, "--legacy", LEGACY],
                        ["quality", PROGRAM, QUALITY],
                        ["diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", DATA]):
            started = time.monotonic()
            code, _, err = run(capsys, *command, "--out", out)
            assert code == 2 and str(out) in err and "another run is writing" in err and "--wait" in err, command
            assert time.monotonic() - started < 5
        waiting = _points(["evaluate", PROGRAM, DATA, "--out", out, "--wait"])
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting for the lock
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    assert waiting.wait(timeout=60) == 0, waiting.stderr.read().decode()
    complete(out)


def test_two_runs_with_wait_both_finish_one_after_the_other(tmp_path):
    out = tmp_path / "out"
    big = _write_csv(tmp_path / "medium.csv", 20_000, seed=9)
    runs = [_points(["evaluate", PROGRAM, data, "--out", out, "--wait"]) for data in (big, DATA)]
    for proc in runs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    manifest = complete(out)  # the one that finished last, whole
    assert manifest["inputs"][0]["sha256"] in {hashlib.sha256(p.read_bytes()).hexdigest() for p in (big, DATA)}
    assert leftovers(out) == []


# --------------------------------------------------------------------------- killed while writing


def _staging_appears(out: Path, proc: subprocess.Popen, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(".points-new-" in name for name in leftovers(out)):
            return True
        time.sleep(0.01)
    return False


def _old_or_new(out: Path, old: dict, big: Path) -> str:
    manifest = complete(out)
    if manifest == old:
        return "old"
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert manifest["counts"]["rows"] == 100_000
    return "new"


@pytest.mark.parametrize("how", [(signal.SIGKILL, 0.0), (signal.SIGKILL, 0.5), (signal.SIGINT, 0.3),
                                 (signal.SIGTERM, 0.15)],
                         ids=["kill-0", "kill-0.5", "int-0.3", "term-0.15"])
def test_a_run_killed_while_writing_leaves_the_old_or_the_new_result(tmp_path, big, how):
    sig, delay = how
    out = tmp_path / "out"
    assert main(["evaluate", str(PROGRAM), str(DATA), "--out", str(out), "--json"]) == 0
    old = complete(out)
    proc = _points(["evaluate", PROGRAM, big, "--out", out])
    _staging_appears(out, proc)
    time.sleep(delay)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    _old_or_new(out, old, big)
    if sig != signal.SIGKILL and code == 2:  # interrupted: it removed its own staging folder
        assert leftovers(out) == [] and proc.stderr.read().strip().endswith((b"aborted", b"interrupted"))
    assert main(["evaluate", str(PROGRAM), str(DATA), "--out", str(out), "--json"]) == 0  # the next run
    assert complete(out) == old and leftovers(out) == []  # ... removed what a killed run left


# --------------------------------------------------------------------------- the manifest


def test_the_same_inputs_from_another_working_directory_give_the_same_bytes(capsys, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "exports").mkdir(parents=True)
    shutil.copy(DATA, work / "exports" / "contracts.csv")
    shutil.copytree(PROGRAM, work / "rules", ignore=shutil.ignore_patterns("README*"))
    monkeypatch.chdir(work)
    assert run(capsys, "evaluate", "rules", "exports/contracts.csv", "--out", tmp_path / "a")[0] == 0
    monkeypatch.chdir(work / "exports")
    assert run(capsys, "evaluate", "../rules", "contracts.csv", "--out", tmp_path / "b")[0] == 0
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "evaluate", work / "rules", work / "exports" / "contracts.csv", "--out", "c")[0] == 0
    a = snapshot(tmp_path / "a")
    assert a == snapshot(tmp_path / "b") == snapshot(tmp_path / "c")
    manifest = json.loads(a["manifest.json"])
    assert manifest["inputs"][0]["file"] == "contracts.csv"
    assert [v["file"] for v in manifest["versions"]] == ["2016-03.rules", "2017-01.rules", "2018-01.rules"]


def test_a_settled_file_gives_its_digest_until_it_is_written_again(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"row,status\n2,scored\n")
    settled = outputs.Settled(path)
    assert settled.sha256() == hashlib.sha256(b"row,status\n2,scored\n").hexdigest()
    os.replace(_written(tmp_path / "new.csv", b"row,status\n2,refused\n"), path)  # same name, another file
    assert settled.sha256(path) is None
    assert outputs.sha256_settled(path, settled) == hashlib.sha256(b"row,status\n2,refused\n").hexdigest()
    path.unlink()
    assert settled.sha256(path) is None
    assert outputs.Settled(tmp_path / "missing.csv").sha256() is None


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("extra", [(), ("--output-dialect", "excel-de"), ("--carry", "note")])
def test_the_duckdb_engine_s_manifest_hashes_the_files_as_published(capsys, tmp_path, extra):
    """contracts.csv and rows.csv are hashed as soon as DuckDB has written them; a file rewritten after
    (another dialect, carried columns) is hashed as it ends up."""
    data = tmp_path / "export.csv"
    lines = ["contract_id,partner_id,signed,product,customer,quantity,pool_gb,note"]
    lines += [f"C-{n},P-{n % 3},2016-0{n % 9 + 1}-10,O2 Free M,new,{n % 4 + 1},,n{n}" for n in range(60)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run(capsys, "evaluate", PROGRAM, data, "--out", out, "--engine", "duckdb", *extra)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["evaluator"] == "duckdb"
    assert sorted(manifest["outputs"]) == sorted(n for n in EVALUATE_FILES if n != "manifest.json")
    for name, digest in manifest["outputs"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
