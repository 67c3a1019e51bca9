"""The Spark engine (`points evaluate --engine spark`, local mode) against the row engine: the same
output files, byte for byte, on a clean export of the example program (unique repeats and rejected
values included) and on a scoring case; one SparkSession for the module. Skipped, saying why,
where pyspark or a Java runtime is missing.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.program import load_program
from engine.run import OUTPUT_FILES, RunOptions, evaluate
from engine.sql.spark import java_missing

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "rulesets" / "o2-business"
EXAMPLE = ROOT / "examples" / "contracts.csv"

try:
    import pyspark  # noqa: F401
except ImportError:
    pytestmark = pytest.mark.skip(reason="pyspark is not installed (pip install 'partner-points[spark]')")
else:
    if java_missing():
        pytestmark = pytest.mark.skip(reason=f"Spark cannot start: {java_missing()}")


@pytest.fixture(scope="module")
def spark():
    from engine.sql.spark import session

    return session()


def clean_example(folder: Path, lines: int) -> Path:
    """The example's first lines without the rows the pre-scan refuses (quotes, wrong widths)."""
    text = EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    width = text[0].count(",")
    kept = [line for line in text[:lines] if '"' not in line and line.count(",") == width]
    kept.append(kept[5])  # a repeated contract_id: rejected as a duplicate
    kept.append("C-900001,P-001,Rhein,2016-13-01,O2 Business XL,new,2,,X\n")  # no such date
    kept.append("C-900002,P-001,Rhein,2017-02-01,O2 Business XL,stranger,2,,X\n")  # not one of the choices
    kept.append("C-900003,P-002,Rhein,2017-02-01,O2 Business XL,New,0,,X\n")  # below the bound, lenient case
    path = folder / "clean.csv"
    path.write_text("".join(kept), encoding="utf-8")
    return path


def test_example_export_in_spark(spark, tmp_path, monkeypatch, capsys):
    """One Spark run (through the command line) against the row engine: every file byte for byte."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    data = clean_example(tmp_path, 150)
    program = load_program(PROGRAM)
    py = evaluate(program, [data], RunOptions(engine="python"), out_dir=tmp_path / "python")
    assert main(["evaluate", str(PROGRAM), str(data), "--engine", "spark", "--master", "local[2]",
                 "--out", str(tmp_path / "spark")]) == 0
    assert "\nengine: spark\n" in capsys.readouterr().out
    for name in OUTPUT_FILES:
        assert (tmp_path / "python" / name).read_bytes() == (tmp_path / "spark" / name).read_bytes(), name
    a = json.loads((tmp_path / "python" / "manifest.json").read_text("utf-8"))
    b = json.loads((tmp_path / "spark" / "manifest.json").read_text("utf-8"))
    assert a.pop("engine")["evaluator"] == "python" and b.pop("engine")["evaluator"] == "spark"
    assert a == b
    counts = py.inputs[0].counts
    assert counts.rejected == 5 and counts.scored > 60 and counts.unscored > 0  # one of the example's own rows
    for reason in (("contract_id", "duplicate"), ("signed", "not-a-date"), ("customer", "not-one-of"),
                   ("quantity", "outside-bounds")):
        assert counts.rejected_reasons[reason] >= 1, reason


def test_a_quoted_cell_goes_to_the_row_engine_with_the_reason(tmp_path, monkeypatch, capsys):
    """Decided by the pre-scan, before Spark starts."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "200")
    data = tmp_path / "q.csv"
    data.write_text(EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[0]
                    + 'C-1,P-1,"Rhein, Main",2016-05-01,O2 Business XL,new,1,,X\n', encoding="utf-8")
    assert main(["evaluate", str(PROGRAM), str(data), "--engine", "spark"]) == 0
    out = capsys.readouterr().out
    assert ("engine: python (Spark could not take the input: the file has a quote character (quoted cells are "
            "read by the row engine))") in out
