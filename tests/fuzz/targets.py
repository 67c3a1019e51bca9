"""One fuzz case per target: make a mutant, run the commands that read it, check every result.

A target takes a `Draw` and an empty folder and returns what happened ("past header",
"scored"); a failed check raises `mutants.Failed`. The fuzz suite and the campaign both call these.
"""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from pathlib import Path

from engine.cli import main

from .mutants import (
    PROGRAM, Draw, Failed, Mutant, check_accounting, check_clean_exit, check_located, check_terminal_safe,
    csv_mutant, jsonl_mutant, ruleset_mutant, ruleset_sources, run, xlsx_mutant,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL_DATA = ROOT / "tests" / "fixtures" / "fuzz" / "small.csv"
SOURCES = ruleset_sources()
VERSIONS = sorted(p.name for p in PROGRAM.glob("*.rules"))


def run_checked(argv: list, files: dict, allowed=(0, 1, 2)) -> tuple[int, str, str]:
    code, out, err = run(argv)
    check_clean_exit(argv, code, out, err, allowed)
    check_located(argv, err, files)
    check_terminal_safe(argv, out, err)
    return code, out, err


def evaluate_mutant(folder: Path, mutant: Mutant, program: Path = PROGRAM, extra=()) -> dict | None:
    """`evaluate --out` over MUTANT; the manifest counts when the run read the rows, else None."""
    data = folder / mutant.name
    data.write_bytes(mutant.data)
    out = folder / "out"
    code, _, err = run_checked(["evaluate", program, data, "--out", out, *extra], {str(data): None})
    if code == 2 and not mutant.header_changed and mutant.expected_rows != set() and not _sheet_fault(err):
        # The header and the encoding are intact: a bad row is rejected and the reading goes on.
        raise Failed("a bad row stopped the whole file", err.strip()[-300:])
    if code != 0 and not (code == 1 and "--strict" in extra):
        return None
    return check_accounting(out, mutant)


def other_command(draw: Draw, data: Path, mutant: Mutant) -> list:
    """One more command that reads the mutant; returns its argv."""
    ident = draw.pick(mutant.ids) if mutant.ids else "C-1"
    partner = draw.pick(mutant.partners) if mutant.partners else "P-1"
    argv = draw.pick([
        ["check", PROGRAM, "--data", data],
        ["explain", PROGRAM, data, "--row", str(draw.int(1, 12))],
        ["explain", PROGRAM, data, "--contract", ident],
        ["explain", PROGRAM, data, "--contract", ident, "--full"],
        ["explain", PROGRAM, data, "--partner", partner],
        ["explain", PROGRAM, data, "--partner", partner, "--period", draw.pick(["2016", "2017", "2018"])],
        ["status", PROGRAM, data],
        ["diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", data],
        ["diff", f"{PROGRAM}@2016.03", f"{PROGRAM}@2017.01", "--impact", data, "--partner", partner],
    ])
    if draw.chance(0.1):
        argv.append("--json")
    run_checked(argv, {str(data): None})
    return argv


def data_case(make, draw: Draw, folder: Path, others: bool = True) -> dict:
    mutant = make(draw)
    extra = ["--strict"] if draw.chance(0.1) else []
    counts = evaluate_mutant(folder, mutant, extra=extra)
    result = {"past header": counts is not None and counts["rows"] > 0,
              "scored": counts is not None and counts["scored"] + counts["unscored"] > 0}
    if others:
        other_command(draw, folder / mutant.name, mutant)
    return result


def csv_case(draw: Draw, folder: Path, others: bool = True) -> dict:
    return data_case(csv_mutant, draw, folder, others)


def jsonl_case(draw: Draw, folder: Path) -> dict:
    return data_case(jsonl_mutant, draw, folder)


def xlsx_case(draw: Draw, folder: Path) -> dict:
    return data_case(xlsx_mutant, draw, folder)


def _sheet_fault(err: str) -> bool:
    """A workbook whose sheet XML cannot be placed (a cell reference that is none, a row twice) is
    refused whole, naming the part and row (docs/data.md, Excel workbooks): no row can be trusted."""
    return "cannot be read as an Excel .xlsx workbook: xl/" in err and re.search(r"\brow \d+", err) is not None


_RUN_FOLDER: list[Path] = []


def _contracts_run() -> Path:
    """One evaluated run of the example export, whose rows.csv every quality case reads (--contracts DIR)."""
    if not _RUN_FOLDER:
        folder = Path(tempfile.mkdtemp(prefix="points-fuzz-run-")) / "run"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["evaluate", str(PROGRAM), str(ROOT / "examples" / "contracts.csv"), "--out", str(folder)])
        assert code == 0
        _RUN_FOLDER.append(folder)
    return _RUN_FOLDER[0]


def quality_case(draw: Draw, folder: Path) -> dict:
    mutant = csv_mutant(draw, quality=True)
    path = folder / mutant.name
    path.write_bytes(mutant.data)
    code, _, _ = run_checked(["quality", PROGRAM, path, "--contracts", _contracts_run(), "--out", folder / "out"],
                             {str(path): None})
    return {"past header": code == 0, "scored": code == 0}


def ruleset_case(draw: Draw, folder: Path, big: bool = False) -> dict:
    name = draw.pick(sorted(SOURCES))
    text = ruleset_mutant(draw, SOURCES[name], [], big=big)
    path = folder / name.split("--")[-1]
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    files = {str(path): text}
    code, _, _ = run_checked(["check", path], files)
    run_checked(["fmt", "--check", path], files)
    run_checked(["test", path], files)
    if run_checked(["fmt", path], files)[0] == 0:
        run_checked(["check", path], {str(path): path.read_text(encoding="utf-8")})
    return {"clean": code == 0}


def program_case(draw: Draw, folder: Path, big: bool = False) -> dict:
    program = folder / "program"
    shutil.copytree(PROGRAM, program)
    path = program / draw.pick(VERSIONS)
    text = ruleset_mutant(draw, path.read_text(encoding="utf-8"), [], big=big)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    files = {str(path): text, str(program): None, str(SMALL_DATA): None}
    code, _, _ = run_checked(["evaluate", program, SMALL_DATA, "--out", folder / "out"], files)
    run_checked(["test", program], files)
    run_checked(["show", program, "--on", draw.pick(["2016-06-30", "2017-06-30", "2018-06-30"])], files)
    run_checked(["status", program, SMALL_DATA], files)
    run_checked(["diff", f"{program}@2016.03", f"{program}@2017.01", "--impact", SMALL_DATA], files)
    return {"clean": code == 0}


TARGETS = {"csv": csv_case, "jsonl": jsonl_case, "xlsx": xlsx_case, "quality": quality_case,
           "ruleset": ruleset_case, "program": program_case}
