"""Which engine scores a run: `--engine python|duckdb|auto` (engine.run.RunOptions.engine).

`duckdb` takes the DuckDB engine whenever the program and the file qualify; whatever does not
qualify goes to the row engine, with the reason in the summary and the manifest. `auto` (the
default) takes DuckDB for inputs of at least AUTO_BYTES, where it is the faster (docs/sql.md,
"Speed"), and the row engine below, without naming a reason: a small export is scored in about
the row engine's start-up time either way.
"""
from __future__ import annotations

from pathlib import Path

# Measured crossover (bench/bench_columnar.py's export, ~50 bytes a contract, quiet 2-core machine):
# 1 MB (20,000 contracts) 0.9 s row engine / 1.2 s DuckDB; 5 MB 2.9 s / 2.0 s; 15 MB 7.8 s / 3.6 s.
AUTO_BYTES: int | None = 2 * 1024 * 1024


def try_duckdb(program, paths: list[Path], options, out_dir: Path | None, fixed):
    """(RunResult, None) when DuckDB scored the run; (None, reason or None) when the row engine must."""
    from engine.sql.duck import Fallback, evaluate_duckdb, qualify

    if options.engine == "auto":
        from engine.sql.sources import export_of

        try:  # a DuckDB table by the size of its database file
            files = [(export_of(p).path if export_of(p) is not None else Path(p)) for p in paths]
            if AUTO_BYTES is None or sum(f.stat().st_size for f in files) < AUTO_BYTES:
                return None, None  # small: the row engine is as fast, and no reason is given
        except OSError:
            return None, None  # the row engine reports the file
    reason = qualify(program, paths, options, fixed)
    if reason is not None:
        return None, reason
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return None, "the duckdb package is not installed"
    try:
        return evaluate_duckdb(program, paths[0], options, out_dir), None
    except Fallback as err:
        if out_dir is not None:
            for name in ("contracts.csv", "rejects.csv", "rows.csv"):
                (Path(out_dir) / name).unlink(missing_ok=True)
        return None, str(err)
