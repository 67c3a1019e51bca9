"""Benchmark: Spark local mode beside DuckDB on the same export (no target; it is for scale).

    python bench/bench_spark.py [--rows 1000000] [--master local[2]] [--keep DIR]

Writes the synthetic program and contracts of bench/bench_evaluate.py, then runs `points evaluate`
with `--engine duckdb` and `--engine spark` (each in its own process: CSV in, all files out) and
prints contracts/s by wall time for both, Spark's start-up included, and whether the two runs
wrote the same files. Needs pyspark (`pip install 'partner-points[spark]'`) and a Java runtime.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluate import write_contracts, write_program  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILES = ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv")


def run(program: Path, data: Path, out: Path, engine: str, master: str | None) -> tuple[float, str]:
    extra = ["--master", master] if master and engine == "spark" else []
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "engine", "evaluate", str(program), str(data), "--out", str(out),
                           "--engine", engine, *extra], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"points evaluate --engine {engine} failed:\n{proc.stderr}")
    line = next((x for x in proc.stdout.splitlines() if x.startswith("engine:")), "engine: ?")
    return elapsed, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default=None, help="Spark master (default: local[2])")
    parser.add_argument("--keep", type=Path, help="Keep the generated files and outputs in this folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        program = write_program(base / "program")
        data = base / "contracts.csv"
        write_contracts(data, args.rows)
        print(f"{args.rows:,} contracts, {data.stat().st_size / 2**20:.0f} MiB")
        results = {}
        for engine in ("duckdb", "spark"):
            seconds, line = run(program, data, base / f"out-{engine}", engine, args.master)
            results[engine] = seconds
            print(f"{engine:>7}: {args.rows / seconds:>12,.0f} contracts/s ({seconds:.1f} s wall; {line})")
        same = all((base / "out-duckdb" / n).read_bytes() == (base / "out-spark" / n).read_bytes() for n in FILES)
        print(f"same files: {'yes' if same else 'NO'}; DuckDB is {results['spark'] / results['duckdb']:.1f}x faster")


if __name__ == "__main__":
    main()
