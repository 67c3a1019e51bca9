"""Which engine scores a run: `--engine python|duckdb|auto` (engine.run.RunOptions.engine).

`duckdb` takes the DuckDB engine whenever the program and the file qualify; whatever does not
qualify goes to the row engine, with the reason in the summary and the manifest. `auto` takes
DuckDB for an input of at least AUTO_BYTES; AUTO_BYTES is None (never) while the row engine is
the faster on every size measured (docs/sql.md, "Speed"), so `auto` is the row engine for now.
"""
from __future__ import annotations

from pathlib import Path

AUTO_BYTES: int | None = None  # no crossover measured yet: at 1M contracts the row engine is faster


def try_duckdb(program, paths: list[Path], options, out_dir: Path | None, fixed):
    """(RunResult, None) when DuckDB scored the run; (None, reason or None) when the row engine must."""
    from engine.sql.duck import Fallback, evaluate_duckdb, qualify

    if options.engine == "auto":
        if options.workers != 1:
            return None, None  # the split over processes was asked for (engine.parallel)
        try:
            if AUTO_BYTES is None or sum(p.stat().st_size for p in paths) < AUTO_BYTES:
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
