"""The Spark engine: `points evaluate --engine spark [--master URL]`, the program's SQL (engine.sql.script
in the Spark dialect) run by Spark, local mode (`local[2]`) unless a master URL is given.

Spark reads the export as lines of text and splits them at the delimiter itself (so a row's cells
are what the row reader reads: the byte pre-scan of engine.sql.prescan lets through only files
without quoting, blank lines or lone CRs); rows are numbered by their place in the file. Spark
SQL runs in ANSI mode without decimal precision loss: every number is a DECIMAL(38, s) or
narrower, never a DOUBLE. The results are collected in row order and written by the same writers
as the DuckDB engine (engine.sql.duck), so every output file is byte-identical to the row
engine's. Whatever the plan cannot take goes to the row engine, with the reason in the summary and
the manifest, as for DuckDB.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from engine import reasons
from engine.sql.compiler import NotCompiled
from engine.sql.duck import FETCH, Fallback, _reject_entry, checked_header, finished_run, qualify
from engine.validate import RowReject, _shown

DEFAULT_MASTER = "local[2]"
CONF = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",  # the runner's own queries name "row"
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.session.timeZone": "UTC",
    # results come back to this process a partition at a time: partitions of a few hundred thousand
    # rows each (two partitions of 1,000,000 contracts lost their results in the block manager)
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "2g",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}

_sessions: dict = {}


def java_missing() -> str | None:
    """Why Spark cannot start here (no Java runtime), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return None
    if shutil.which("java") is None:
        return "no Java runtime (java) is installed; Spark needs Java 17 or later"
    return None


def session(master: str | None = None):
    """The SparkSession of this process for `master` (started once; JVM start-up takes seconds)."""
    master = master or DEFAULT_MASTER
    if master in _sessions:
        return _sessions[master]
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("partner-points")
    for key, value in CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    for key, value in CONF.items():  # a session that already ran gets the same settings
        if not key.startswith(("spark.ui", "spark.driver")):  # fixed once the JVM runs
            spark.conf.set(key, value)
    _sessions[master] = spark
    return spark


class _Cursor:
    def __init__(self, df):
        self._df = df
        self._rows = None

    def _iter(self):
        if self._rows is None:
            self._rows = iter(self._df.toLocalIterator())
        return self._rows

    def fetchmany(self, n: int) -> list[tuple]:
        out = []
        for row in self._iter():
            out.append(tuple(row))
            if len(out) >= n:
                break
        return out

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._df.collect()]

    def fetchone(self):
        rows = self._df.limit(1).collect()
        return tuple(rows[0]) if rows else None


class _Connection:
    """What the DuckDB runner's helpers (engine.sql.duck) ask of a connection, over a SparkSession."""

    def __init__(self, spark):
        self.spark = spark

    def execute(self, sql: str) -> _Cursor:
        return _Cursor(self.spark.sql(sql))


def try_spark(program, paths: list[Path], options, out_dir: Path | None, fixed):
    """(RunResult, None) when Spark scored the run; (None, reason) when the row engine must."""
    reason = qualify(program, paths, options, fixed)
    if reason is not None:
        return None, reason
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return None, "the pyspark package is not installed (pip install 'partner-points[spark]')"
    reason = java_missing()
    if reason is not None:
        return None, reason
    try:
        return evaluate_spark(program, paths[0], options, out_dir), None
    except Fallback as err:
        reason = str(err)
    except Exception as err:  # noqa: BLE001 - Spark (py4j, the JVM) failed: the row engine has the last word
        if type(err).__module__.split(".")[0] not in ("pyspark", "py4j"):
            raise
        text = str(err).strip().splitlines()
        reason = f"Spark stopped: {text[0][:300] if text else type(err).__name__}"
    if out_dir is not None:
        for name in ("contracts.csv", "rejects.csv", "rows.csv"):
            (Path(out_dir) / name).unlink(missing_ok=True)
    return None, reason


def evaluate_spark(program, path: Path, options, out_dir: Path | None):
    from engine import run as _run
    from engine.sql.dialects import SPARK
    from engine.sql.script import program_script

    block, header, delimiter, notes, validator, _, _ = checked_header(program, path, options, "Spark")
    try:
        script = program_script(program, SPARK, header=header, decimal_comma=options.decimal_comma)
    except NotCompiled as err:
        raise Fallback(str(err)) from None
    spark = session(getattr(options, "spark_master", None))
    con = _Connection(spark)
    views = _load(spark, path, delimiter, len(header))
    try:
        for stage in script.stages:
            df = spark.sql(stage.sql)
            if stage.name in ("checked", "ranked", "valid", "outcome") or stage.name.startswith("scored"):
                # computed once, and later queries see a table instead of the SQL that made it
                df = df.localCheckpoint(eager=True)
                views.append(df)
            df.createOrReplaceTempView(stage.name)
        return _collect(con, program, path, header, script, validator, notes, options, out_dir, _run)
    finally:
        for df in views:
            df.unpersist()


def _load(spark, path: Path, delimiter: str, width: int) -> list:
    """The view `raw0`: row (the header is row 1) and the cells c0 ... of each line."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    lines = spark.read.text(str(path), wholetext=False).withColumn("pos_", F.monotonically_increasing_id())
    numbered = lines.withColumn("row", F.row_number().over(Window.orderBy("pos_"))).where(F.col("row") > 1)
    cells = F.split(F.col("value"), re.escape(delimiter), -1)
    table = numbered.select(F.col("row").cast("long").alias("row"), F.size(cells).alias("n_"),
                            *[cells.getItem(i).alias(f"c{i}") for i in range(width)]).localCheckpoint(eager=True)
    bad = table.where(F.col("n_") != width).select("row").orderBy("row").limit(1).collect()
    if bad:
        table.unpersist()
        raise Fallback(f"the file has a row whose cells do not fit the header (line {bad[0][0]})")
    table.drop("n_").createOrReplaceTempView("raw0")
    return [table]


def _collect(con, program, path, header, script, validator, notes, options, out_dir, _run):
    checks = script.checks
    width = len(header)
    names = [f.name for f in checks.fields]
    convert = validator.for_header(header, unique=False)
    ids_of = _run._ids_getter(header)
    rejects: list[tuple] = []
    cells_sql = ", ".join(f"raw.c{i}" for i in range(width))
    cur = con.execute(f'SELECT raw."row", {cells_sql} FROM raw JOIN checked ON raw."row" = checked."row" '
                      f'WHERE NOT checked.ok ORDER BY raw."row"')
    while batch := cur.fetchmany(FETCH):
        for row, *cells in batch:
            cells = ["" if c is None else c for c in cells]
            try:
                convert(cells, row)
            except RowReject as rej:
                rejects.append(_reject_entry(row, rej.field, rej.value, rej.reason, rej.code, ids_of(cells)))
                continue
            raise Fallback(f"the SQL checks refused row {row}, which the row engine accepts")
    if checks.unique is not None:
        u = f"v{names.index(checks.unique)}"
        cur = con.execute(f'SELECT ranked."row", ranked.{u}, ranked.first_, {cells_sql} FROM ranked JOIN raw '
                          f'ON raw."row" = ranked."row" WHERE ranked.rank_ > 1 ORDER BY ranked."row"')
        while batch := cur.fetchmany(FETCH):
            for row, value, first, *cells in batch:
                cells = ["" if c is None else c for c in cells]
                reason = f"`{checks.unique}` {_shown(value)} repeats row {first}"
                rejects.append(_reject_entry(row, checks.unique, value, reason, reasons.DUPLICATE, ids_of(cells)))
    rejects.sort(key=lambda r: r[0])
    versions = [_VersionRules(rules) for rules in _rules_by_version(script, len(program.versions))]
    return finished_run(con, program, path, checks, rejects, versions, notes, options, out_dir, "spark")


class _VersionRules:
    """What engine.sql.duck._counts reads of a compiled version: its rules and the points' scale."""

    def __init__(self, rules_and_scale):
        self.rules, self.scale = rules_and_scale


def _rules_by_version(script, n: int):
    out = [([], script.scale) for _ in range(n)]
    for k, rule_id, paid, pts in script.rules:
        out[k][0].append((rule_id, paid, pts))
    return out
