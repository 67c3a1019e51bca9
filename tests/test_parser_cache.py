"""The built parser is kept in the user's cache folder between processes; a cache file that is
damaged is built anew, one that someone else could have written is never loaded."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsl import parser

ROOT = Path(__file__).resolve().parent.parent
PARSE = ("import sys; sys.path.insert(0, '.'); from dsl.parser import parse; "
         "r = parse('program \"P\"\\nversion \"1\"\\neffective 2016-01-01\\n', 'x.rules'); print(r.program)")

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="the cache checks file owners (POSIX)")


def run(cache: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PARSE], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache), **env})


def test_a_second_process_finds_the_parser_and_a_damaged_file_is_built_anew(tmp_path):
    first = run(tmp_path)
    assert (first.returncode, first.stdout.strip(), first.stderr) == (0, "P", "")
    folder = tmp_path / "partner-points"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    [cached] = folder.iterdir()
    assert cached.stat().st_size > 10_000
    cached.write_bytes(cached.read_bytes()[:5_000])  # half written by another process
    second = run(tmp_path)
    assert (second.returncode, second.stdout.strip(), second.stderr) == (0, "P", "")
    assert cached.stat().st_size > 10_000  # written again, whole


def test_a_file_others_may_write_is_not_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = "start: \"x\"\n"
    path = parser._cache_file(grammar)
    assert path is not None and path.parent == tmp_path / "partner-points"
    path.write_bytes(b"not a parser")
    path.chmod(0o666)
    assert parser._cache_file(grammar) is None
    path.chmod(0o644)
    assert parser._cache_file(grammar) == path
    (tmp_path / "partner-points").chmod(0o777)
    assert parser._cache_file(grammar) is None
    (tmp_path / "partner-points").chmod(0o700)
    monkeypatch.setenv("POINTS_NO_CACHE", "1")
    assert parser._cache_file(grammar) is None


def test_no_cache_folder_to_be_had(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would go")
    done = run(blocked)  # XDG_CACHE_HOME is a file: no cache, the parser built as ever
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "P", "")
