"""The DuckDB engine: a run of `points evaluate` as SQL in embedded DuckDB, the same output files
as the row engine (engine.run), byte for byte.

`evaluate_duckdb(program, paths, options, out_dir)` returns a RunResult, or raises `Fallback` with
the reason the row engine must take the run (docs/sql.md lists them) before anything is written.
DuckDB reads the export (after the byte pre-scan of engine.sql.prescan), types and checks the
values, picks the version by signed date, scores, and totals per partner and period; DuckDB's
COPY writes contracts.csv and rows.csv (cells neutralised in SQL as engine.cells does), and the
rows DuckDB refuses go to the row engine's validator for their field, code and sentence
(rejects.csv). Partner-level files and the manifest are written by engine.run's own writers.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from engine import cells, reasons
from engine.program import Program, display_path
from engine.readers import InputError, open_rows, sha256_of
from engine.sql.compiler import EXACT_DIGITS, NotCompiled
from engine.sql.dialect import DUCKDB, visible_first
from engine.sql.plan import narrowed, validation_sql, version_sql
from engine.sql.prescan import scan
from engine.sql.sources import export_of, raw_table
from engine.validate import RowReject, RowValidator, _shown

FETCH = 65_536  # rows fetched from DuckDB at a time
# the memory limit by default (memory_limit): a quarter of the machine's, within these bounds (at ten
# million rows DuckDB spills less under 2 GiB than under 512 MiB: 41.3 s against 43.1 s, the means of
# four alternating pairs on a noisy day; peak 2.3 GiB against 0.9; docs/benchmarks.md)
LEAST_MEMORY, MOST_MEMORY = 512 * 2**20, 2 * 2**30


class Fallback(Exception):
    """The run goes to the row engine; the message says why."""


def qualify(program: Program, paths: list[Path], options, fixed) -> str | None:
    """Why the run cannot go to DuckDB, judged without reading the file; None when it may."""
    if len(paths) != 1:
        return "several export files"
    if fixed:
        return "versions fixed per lane (an impact report)"
    if options.trace_when is not None or options.on_traced is not None:
        return "traced rows"
    if getattr(options, "on_row", None) is not None or getattr(options, "ledger_run", None) is not None:
        return "rows recorded one by one (a ledger run)"
    if getattr(options, "open_source", None) is not None:
        return "a reader of its own (explain's filtered rows)"
    if paths[0].suffix.lower() != ".csv" and export_of(paths[0]) is None:
        return (f"a {paths[0].suffix.lower() or 'file without extension'} file (DuckDB reads CSV, Parquet and "
                "DuckDB tables here)")
    blocks = {v.ruleset.input("contract") for v in program.versions}
    if len(blocks) != 1:
        return "versions with different input blocks"
    return None


def checked_header(program: Program, path: Path, options, engine: str, hashed: bool = False):
    """The export's input block, header, delimiter, header notes, validator, whether a cell may begin or
    end with a space character (engine.sql.prescan) and, with `hashed`, the CSV file's sha256 (else None),
    once the file is one that `engine` reads exactly as the row reader would; Fallback (with the reason)
    when it is not, InputError for a header the row engine refuses too."""
    block, header, delimiter, notes, validator = read_header(program, path, options, engine)
    if export_of(path) is not None:
        return block, header, delimiter, notes, validator, True, None
    found = prescanned(path, delimiter, len(header), engine, hashed)
    return block, header, delimiter, notes, validator, found.edge_spaces, found.sha256


def read_header(program: Program, path: Path, options, engine: str):
    """checked_header's export's input block, header, delimiter, header notes and validator, the file
    not pre-scanned yet (prescanned does it); Fallback for what `engine` does not read (another
    encoding than UTF-8; for all but DuckDB a Parquet file or a DuckDB table), InputError for a header
    the row engine refuses too."""
    newest = program.versions[-1].ruleset.input("contract")
    # the row engine's validator: of equal blocks (several versions), the first version's (its
    # messages name that block's lines)
    block = next(b for b in (v.ruleset.input("contract") for v in program.versions) if b == newest)
    export = export_of(path)
    if export is not None:  # Parquet or a DuckDB table: cells as both engines read them, no byte pre-scan
        if engine != "DuckDB":
            raise Fallback(f"a {'Parquet file' if export.kind == 'parquet' else 'DuckDB table'} ({engine} reads "
                           "CSV here)")
        with open_rows(path) as source:
            header = list(source.header)
            where, row = source.header_name
        validator = RowValidator(block, decimal_comma=options.decimal_comma)
        problems = validator.header_problems(header)
        if problems:
            raise InputError(path, f"{where}: " + "; ".join(problems), row=row)
        notes = [f"{where}: {note}" for note in validator.header_notes(header)]
        return block, header, None, notes, validator
    with open_rows(path, delimiter=options.delimiter, encoding=options.encoding) as source:
        header = list(source.header)
        delimiter = source.delimiter
        encoding = source.encoding
    if encoding not in ("utf-8", "utf-8-sig"):
        raise Fallback(f"the {encoding} encoding ({engine} reads UTF-8)")
    validator = RowValidator(block, decimal_comma=options.decimal_comma)
    problems = validator.header_problems(header)
    if problems:
        raise InputError(path, "header (row 1): " + "; ".join(problems), row=1)
    notes = [f"header (row 1): {note}" for note in validator.header_notes(header)]
    return block, header, delimiter, notes, validator


def prescanned(path: Path, delimiter: str, width: int, engine: str, hashed: bool = False):
    """The byte pre-scan of a CSV export (engine.sql.prescan.Scan: edge spaces looked for by DuckDB's
    SQL alone); Fallback with the reason `engine` may not read the file as the row reader does."""
    found = scan(path, delimiter, width, edges=engine == "DuckDB", hashed=hashed)
    if found.reason is not None:
        raise Fallback(f"the file has {found.reason}")
    return found


def evaluate_duckdb(program: Program, path: Path, options, out_dir: Path | None):
    """One CSV export scored in DuckDB; raises Fallback (nothing written) when it cannot be."""
    from engine import run as _run

    block, header, delimiter, notes, validator = read_header(program, path, options, "DuckDB")
    source, carry = cells_source(path, header, delimiter)
    in_csv = export_of(path) is None

    def compiled(spaced: bool):
        """The checks, the versions' SQL and the scoring of the export, its cells stripped in SQL when
        some may begin or end with a space (a Parquet file's or a DuckDB table's always are)."""
        try:
            checks = validation_sql(block, header, options.decimal_comma, stripped=not spaced, source=source,
                                    carry=carry, packed=True)
            versions = [version_sql(program, k, checks.columns, q=f"k{k}_") for k in range(len(program.versions))]
            return checks, versions, scored_sql(program, checks, versions)
        except NotCompiled as err:
            if in_csv:  # a file DuckDB may not read says so first, as the pre-scan always did
                prescanned(path, delimiter, len(header), "DuckDB")
            raise Fallback(str(err)) from None

    first = compiled(not in_csv)  # a program the SQL engine cannot take falls back before DuckDB starts
    import shutil
    import tempfile

    import duckdb

    spill = tempfile.mkdtemp(prefix="points-duckdb-")  # never a .tmp folder in the user's working directory
    limit = memory_limit(options)
    # block_allocator_memory: the blocks DuckDB frees (the typed rows once scored, a statement's
    # buffers) are kept for its next statements rather than given back to the system and faulted
    # in again; the memory is the process's until the connection closes, never beyond the limit.
    # At ten million rows, three paired runs: 27.4 - 28.0 -> 26.3 - 27.3 s, peak memory 2.3 -> 2.4 GiB.
    con = duckdb.connect(config={"memory_limit": limit, "block_allocator_memory": limit,
                                 "preserve_insertion_order": True, "temp_directory": spill})
    try:
        if in_csv:
            checks, versions, scored, numbered, sha = _checked_beside_prescan(con, program, path, header, delimiter,
                                                                              first, compiled)
        else:
            (checks, versions, scored), sha = first, None
            numbered = create_checked(con, program, path, header, delimiter, checks)
        return _run_sql(con, program, path, header, delimiter, options, out_dir, validator, checks, versions,
                        scored, notes, _run, numbered, sha)
    except duckdb.InvalidInputException as err:
        import re

        line = re.search(r"CSV Error on Line: (\d+)", str(err))
        if line:
            raise Fallback(f"the file has a row whose cells do not fit the header (line {line.group(1)})") from None
        raise Fallback(f"DuckDB could not read the file as the row reader does ({str(err).splitlines()[0]})") from None
    except duckdb.Error as err:  # e.g. a total beyond DECIMAL(38): the row engine has the last word
        raise Fallback(f"DuckDB stopped: {str(err).splitlines()[0]}") from None
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def memory_limit(options) -> str:
    """DuckDB's memory limit for a run, as DuckDB reads it: RunOptions.memory (the `memory` setting,
    engine.project.parse_size) or a quarter of the memory the process may use (the machine's, or
    less where a control group limits it), at least 512 MiB and at most 2 GiB. Beyond it DuckDB
    spills to the run's temporary folder."""
    from engine.project import parse_size

    given = getattr(options, "memory", None)
    if given:
        size = parse_size(given, "memory")
    else:
        size = min(MOST_MEMORY, max(LEAST_MEMORY, usable_memory() // 4))
    return f"{size // 1024}KiB"


CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1


def usable_memory(limits: tuple[str, ...] = CGROUP_LIMITS) -> int:
    """The bytes of memory this process may use: the machine's, or its control group's limit where
    that is less (the first of `limits` that holds a number; `max` is none); a machine that does not
    say counts as having 2 GiB."""
    import os

    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        total = 2 * 2**30
    for limit in limits:
        try:
            text = Path(limit).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit():
            total = min(total, int(text))
            break
    return total


def csv_call(path: Path, header: list[str], delimiter: str) -> str:
    """DuckDB's read_csv of the export: every line after the header, one VARCHAR column per header cell
    (`c0`, `c1`, ...), the cells as the row reader splits them (the pre-scan has made sure of that)."""
    d = DUCKDB
    cols = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
    return (f"read_csv({d.text(str(path))}, header=false, skip=1, delim={d.text(delimiter)}, quote='', escape='', "
            f"columns={{{cols}}}, auto_detect=false, strict_mode=true, null_padding=false)")


def cells_source(path: Path, header: list[str], delimiter: str | None) -> tuple[str, tuple[str, ...]]:
    """(source, carry) of validation_sql for this export: a CSV file's cells straight from the reader
    (a row's number is its position in `checked0`, the rows stored in the file's order), or the table
    `raw0` of a Parquet file's or a DuckDB table's "row" and cells."""
    cells = tuple(f"c{i}" for i in range(len(header)))
    if export_of(path) is not None:
        return "raw0", ('"row"', *cells)
    return csv_call(path, header, delimiter), cells


def read_raw(con, path: Path, header: list[str], delimiter: str) -> None:
    """The view `raw` of the export as text: `row` as the row reader numbers it and one VARCHAR column
    per header cell (`c0`, `c1`, ...), over the table `raw0` (a Parquet file's or a DuckDB table's
    rows already in it; a CSV file read again)."""
    if export_of(path) is not None:
        con.execute("CREATE TEMP VIEW raw AS SELECT * FROM raw0")
        return
    call = csv_call(path, header, delimiter)
    create_in_file_order(con, f"CREATE TEMP TABLE raw0 AS SELECT * FROM {call}", call)
    con.execute('CREATE TEMP VIEW raw AS SELECT rowid + 2 AS "row", * FROM raw0')  # rowid 0 is row 2


def blank_sql(width: int) -> str:
    """True for a row whose cells are all blank: the row reader leaves it out (its number counts)."""
    d = DUCKDB
    blank = " AND ".join(f"(c{i} IS NULL OR {d.strip(f'c{i}')} = '')" for i in range(width))
    surely_filled = visible_first("c0")  # a visible ASCII character first: not blank
    return f"CASE WHEN {surely_filled} THEN FALSE ELSE {blank} END"


def create_checked(con, program: Program, path: Path, header: list[str], delimiter: str | None, checks) -> str:
    """The table `checked0` and the view `checked` over it of every row's typed values: `ok` when the
    row is valid (a row of blank cells is not, and is no reject either), the raw texts of its lenient
    readings (`lx`, engine.sql.plan), `vidx` (1 + the version in force on its signed date, 0:
    none), and x the list of the cells of a row refused (NULL for every other row). Returns the SQL of
    a row's number in `checked0`."""
    width = len(header)
    names = [f.name for f in checks.fields]
    vidx = version_index(program, f"v{names.index('signed')}")
    cells = ", ".join(f"c{i}" for i in range(width))
    # one column, the list of the cells (NULL on the rows not refused: a text column of NULLs per cell
    # took 28% of the statement and 18% of the table's memory, seven cells, a million rows)
    given = ", ".join(f"COALESCE(c{i}, '')" for i in range(width))
    refused = f"CASE WHEN ok OR blank_ THEN NULL ELSE [{given}] END AS x"
    select = (f"SELECT * EXCLUDE ({cells}, blank_) REPLACE (ok AND NOT blank_ AS ok), {refused}, {vidx} AS vidx "
              f"FROM (SELECT *, {blank_sql(width)} AS blank_ FROM ({checks.sql}) typed) b")
    export = export_of(path)
    if export is not None:
        raw_table(con, path, export, "raw0")
        create_in_row_order(con, "checked0", select)
        con.execute("CREATE TEMP VIEW checked AS SELECT * FROM checked0")
        return '"row"'
    create_in_file_order(con, f"CREATE TEMP TABLE checked0 AS {select}", csv_call(path, header, delimiter))
    con.execute('CREATE TEMP VIEW checked AS SELECT rowid + 2 AS "row", * FROM checked0')  # rowid 0 is row 2
    return "rowid + 2"


def _checked_beside_prescan(con, program: Program, path: Path, header: list[str], delimiter: str, first, compiled):
    """create_checked of a CSV export on a thread of its own while the byte pre-scan reads the file
    (engine.sql.prescan; the scan holds one core, its hash the other for a moment, DuckDB's read and
    checks take both): (checks, versions, scored, the SQL of a row's number, the file's sha256).

    `first`: compiled(False), the checks for cells without a space at an edge, as most exports are;
    when the scan finds one they are compiled again, stripped, and `checked0` typed anew. A file the
    scan refuses stops DuckDB's statement (Fallback with the scan's reason: nothing DuckDB did is
    used, its error if any is not looked at)."""
    from concurrent.futures import ThreadPoolExecutor

    checks, versions, scored = first
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="points-checked") as pool:
        made = pool.submit(create_checked, con, program, path, header, delimiter, checks)
        try:
            found = scan(path, delimiter, len(header), edges=True, hashed=True)
        except BaseException:
            _stop(con, made)
            raise
        if found.reason is not None or found.edge_spaces:
            _stop(con, made)  # its work is of no use
        error = made.exception()  # waits for it
    if found.reason is not None:
        raise Fallback(f"the file has {found.reason}")
    if found.edge_spaces:
        con.execute("DROP VIEW IF EXISTS checked")
        con.execute("DROP TABLE IF EXISTS checked0")
        checks, versions, scored = compiled(True)
        return checks, versions, scored, create_checked(con, program, path, header, delimiter, checks), found.sha256
    if error is not None:
        raise error
    return checks, versions, scored, made.result(), found.sha256


def _stop(con, pending) -> None:
    """Interrupt the statements a thread runs on `con` until it is done (an interrupt that comes
    between two statements, or before the first, stops nothing)."""
    from concurrent.futures import TimeoutError as Waiting

    while True:
        con.interrupt()
        try:
            pending.exception(timeout=0.05)
            return
        except Waiting:
            continue


def _run_sql(con, program, path, header, delimiter, options, out_dir, validator, checks, versions, scored, notes,
             _run, numbered: str, sha: str | None = None):
    width = len(header)
    names = [f.name for f in checks.fields]
    # `unique`: the first accepted row of a value stands; `repeats` holds the later ones, each with the
    # row it repeats (an aggregate over the values: a window over the whole table costs ~3x as much,
    # spills at ten million rows and leaves the rows out of order); the rows of a repeated value are
    # looked up only when there is one (the join costs a scan of the table, ~18% of the step)
    repeated = 0
    if checks.unique is not None:
        u = f"v{names.index(checks.unique)}"
        con.execute(f'CREATE TEMP TABLE repeated_ AS SELECT {u}, min("row") AS first_ FROM checked '
                    f'WHERE ok AND {u} IS NOT NULL GROUP BY {u} HAVING count(*) > 1')
        if con.execute("SELECT count(*) FROM repeated_").fetchone()[0]:
            con.execute(f'CREATE TEMP TABLE repeats AS SELECT c."row", c.{u} AS value_, f.first_ FROM checked c '
                        f'JOIN repeated_ f ON c.{u} = f.{u} WHERE c.ok AND c."row" <> f.first_')
            repeated = con.execute("SELECT count(*) FROM repeats").fetchone()[0]
        con.execute("DROP TABLE repeated_")
    # rows refused: the row engine's validator gives field, code and sentence
    convert = validator.for_header(header, unique=False)
    ids_of = _run._ids_getter(header)
    rejects: list[tuple] = []  # (row, field, value, reason, code, contract_id, partner_id)
    cur = con.execute('SELECT "row", x FROM checked WHERE x IS NOT NULL ORDER BY "row"')
    while batch := cur.fetchmany(FETCH):
        for row, given in batch:
            try:
                convert(given, row)
            except RowReject as rej:
                rejects.append(_reject_entry(row, rej.field, rej.value, rej.reason, rej.code, ids_of(given)))
                continue
            raise Fallback(f"the SQL checks refused row {row}, which the row engine accepts")
    if repeated:  # a repeat is rejected and claims nothing; its cells are read again (a valid row's are not kept)
        read_raw(con, path, header, delimiter)
        cells_sql = ", ".join(f"c{i}" for i in range(width))
        cur = con.execute(f'SELECT repeats."row", value_, first_, {cells_sql} FROM repeats JOIN raw USING ("row") '
                          f'ORDER BY repeats."row"')
        name = checks.unique
        while batch := cur.fetchmany(FETCH):
            for row, value, first, *given in batch:
                given = ["" if c is None else c for c in given]
                reason = f"`{name}` {_shown(value)} repeats row {first}"
                rejects.append(_reject_entry(row, name, value, reason, reasons.DUPLICATE, ids_of(given)))
        con.execute("DROP VIEW raw")
    if export_of(path) is not None or repeated:
        con.execute("DROP TABLE raw0")  # every cell the run needs from here on is typed in `checked`
    rejects.sort(key=lambda r: r[0])
    if repeated:  # from here on a repeat is a row refused (an update in place keeps the rows' order)
        con.execute(f'UPDATE checked0 SET ok = FALSE WHERE {numbered} IN (SELECT "row" FROM repeats)')
    con.execute("CREATE TEMP VIEW valid AS SELECT * FROM checked WHERE ok")
    lenient = lenient_examples(con, checks)
    observed = observed_bounds(con, checks)
    if observed:  # the rules compiled again on the bounds of the values the rows hold: narrower DECIMALs
        versions = [version_sql(program, k, checks.columns, q=f"k{k}_", observed=observed)
                    for k in range(len(program.versions))]
        scored = scored_sql(program, checks, versions, observed)
    create_relations(con, {n: r for v in versions for n, r in v.relations.items()})
    # the refused cells and the lenient texts are read: their columns dropped before the rows are
    # scored (a list column costs ~15 bytes a row even where it is NULL, 300 MB at ten million rows
    # that would otherwise spill beside the scored rows); DuckDB drops a column in place, at once
    con.execute("DROP VIEW valid")
    con.execute("DROP VIEW checked")
    for column in ("x", "lx") if checks.packed else ("x",):
        con.execute(f"ALTER TABLE checked0 DROP COLUMN IF EXISTS {column}")
    con.execute(f'CREATE TEMP VIEW checked AS SELECT {numbered} AS "row", * FROM checked0' if numbered != '"row"'
                else "CREATE TEMP VIEW checked AS SELECT * FROM checked0")
    con.execute("CREATE TEMP VIEW valid AS SELECT * FROM checked WHERE ok")
    create_in_row_order(con, "scored", scored.sql, temp=False)  # not TEMP: _copy_rows reads it on two connections
    con.execute("DROP VIEW valid")
    con.execute("DROP VIEW checked")
    con.execute("DROP TABLE checked0")
    con.execute(f"CREATE VIEW outcome AS SELECT *, {scored.view} FROM scored")
    return finished_run(con, program, path, checks, rejects, versions, notes, options, out_dir, "duckdb",
                        slots=scored.slots, lenient=lenient, sha=sha)


def create_in_file_order(con, create: str, call: str) -> None:
    """Run `create` (a CREATE TEMP TABLE ... AS SELECT over the read_csv `call` it holds once) so that
    the rows are inserted in the file's order: read by DuckDB's threads when its plan keeps the order
    (a batch insert), else by one reader thread."""
    plan = "".join(r[1] for r in con.execute(f"EXPLAIN {create}").fetchall())
    con.execute(create if "BATCH_CREATE_TABLE_AS" in plan else create.replace(call, call[:-1] + ", parallel=false)"))


def create_in_row_order(con, name: str, select: str, temp: bool = True) -> None:
    """CREATE [TEMP] TABLE name AS select, its rows in the order of "row": as the select gives them
    when DuckDB's plan keeps the order of its input (a batch insert: projections and filters of a
    table in row order), else sorted (a join in the plan, e.g. a large point table). A table not
    TEMP is seen by every connection to the database."""
    create = f"CREATE {'TEMP ' if temp else ''}TABLE {name} AS {select}"
    plan = "".join(r[1] for r in con.execute(f"EXPLAIN {create}").fetchall())
    con.execute(create if "BATCH_CREATE_TABLE_AS" in plan else f'{create} ORDER BY "row"')


@dataclass
class ScoredSQL:
    sql: str  # SELECT of every valid row's outcome from `valid`
    view: str  # the outcome's further columns computed from the table's (signed, period, version, the
    # texts of the points and of the rules that paid)
    slots: list  # per points column pr<i>: [(version index, rule index)] it holds the points of


def scored_sql(program: Program, checks, versions, observed: dict | None = None) -> ScoredSQL:
    """One SELECT scoring every valid row by the version in force on its signed date (vidx), all
    versions' stages side by side, each computed only for its version's rows (a CASE evaluates its
    branch for the rows that take it): no union and no sort, the rows stay in their order.
    `observed` (observed_bounds): the number fields the versions were compiled on the rows' bounds
    of, their columns read as those bounds' DECIMAL."""
    d = DUCKDB
    names = [f.name for f in checks.fields]
    carry = dict(outcome_columns(program, checks))
    product = checks.columns.get("product")
    narrow = f" REPLACE ({narrowed(observed, checks.columns, d)})" if observed else ""
    base = f"SELECT *{narrow}{f', {product} AS prod_' if product else ''}"

    def guarded(k: int, items: list[str], part: str = "") -> list[str]:
        """The columns of version k's rows (NULL on the others'); part "match": a rule's match and
        condition failure, "points": its points and their failure, computed only where it matched
        (they are read nowhere else)."""
        out = []
        for item in items:
            sql, name = item.rsplit(" AS ", 1)
            rule = name[len(f"k{k}_"):]
            if part and (rule.startswith(("m", "ce")) != (part == "match")):
                continue
            test = f"vidx = {k + 1}"
            if part == "points":
                test += f" AND k{k}_m{rule.lstrip('pe')}"
            out.append(f"CASE WHEN {test} THEN {sql} END AS {name}")
        return out

    # the staged lookups, a large table's cells read from the one-row table of its grid (a cross join)
    # by the keys' positions (keyed)
    grids, casts, staged = [], {}, []
    for k, v in enumerate(versions):
        for name, sql in v.staged.items():
            staged += guarded(k, [f"{keyed(sql, v.reads, v.relations, grids, casts)} AS {name}"])
    crossed = "".join(f" CROSS JOIN {grid}" for grid in grids)
    base += "".join(f", {cast} AS {alias}" for cast, alias in casts.items()) + " FROM valid"  # each cast once a row
    sql = f"SELECT s0.*, {', '.join(staged)} FROM ({base}) s0{crossed}" if staged else base
    stages = [[c for k, v in enumerate(versions) for c in guarded(k, v.inner, "match")],
              [c for k, v in enumerate(versions) for c in guarded(k, v.inner, "points")],
              [c for k, v in enumerate(versions) for c in guarded(k, v.mid)]]
    for n, columns in enumerate(stages, start=1):
        if columns:
            sql = f"SELECT *, {', '.join(columns)} FROM ({sql}) s{n}"
    scale = max((v.scale for v in versions), default=0)
    total_digits = max((v.digits for v in versions), default=1)
    signed = f"v{names.index('signed')}"
    no_version = {"status": "'unscored'", "points": "NULL", "code": d.text(reasons.NO_VERSION),
                  "reason": f"'no version in force on ' || {d.date_text(signed)}"}

    def by_version(name: str, cast: str | None = None) -> str:
        """An outcome column: each version's for its rows, the no-version one's for the rest."""
        whens = []
        for k, v in enumerate(versions):
            sql = dict(v.outcome)[name]
            whens.append(f"WHEN {k + 1} THEN {f'CAST({sql} AS {cast})' if cast else sql}")
        return f"CASE vidx {' '.join(whens)} ELSE {no_version[name]} END"

    final = ['"row"', *(f"{carry[c]} AS {c}" for c in ("contract_id", "partner_id", "product", "customer", "vidx",
                                                        "signed_day")),
             f"{by_version('status')} AS status",
             f"{by_version('points', d.decimal_type(min(d.max_precision, total_digits + scale), scale))} AS points",
             *(f"{by_version(c)} AS {c}" for c in ("code", "reason"))]
    # per rule slot, the points of the rule that paid (the partner-rule totals); versions share a
    # slot when one DECIMAL holds all their values
    slots = []
    for j in range(max((len(v.paid_points) for v in versions), default=0)):
        holders = [k for k, v in enumerate(versions) if j < len(v.paid_points)]
        digits = max(versions[k].rule_types[j][0] for k in holders)
        rule_scale = max(versions[k].rule_types[j][1] for k in holders)
        groups = [holders] if digits + rule_scale <= d.max_precision else [[k] for k in holders]
        for group in groups:
            g_digits = max(versions[k].rule_types[j][0] for k in group)
            g_scale = max(versions[k].rule_types[j][1] for k in group)
            typ = d.decimal_type(g_digits + g_scale, g_scale)
            whens = " ".join(f"WHEN {k + 1} THEN CAST(CASE WHEN {versions[k].paid_points[j][0]} THEN "
                             f"{versions[k].paid_points[j][1]} END AS {typ})" for k in group)
            final.append(f"CASE vidx {whens} END AS pr{len(slots)}")
            slots.append([(k, j) for k in group])
    sql = f"SELECT {', '.join(final)} FROM ({sql}) s"
    # the table as narrow as its readers allow (DuckDB keeps a table in memory uncompressed, and at
    # ten million rows this one spills beside the typed rows): a scored row's code and reason NULL,
    # not '' (written as nothing either way), the customer only where no points were paid (the
    # counts read it for the rows no rule covers), the status an ENUM (a byte, not a text)
    sql = (f"SELECT * REPLACE (CAST(status AS ENUM('scored', 'unscored')) AS status, NULLIF(code, '') AS code, "
           f"NULLIF(reason, '') AS reason, CASE WHEN points IS NULL THEN customer END AS customer) FROM ({sql}) n")
    # whether a value is one of a long list of names, wherever else the outcome asks it (a reason's
    # test, for the rows no rule paid: its cast where it is asked)
    sql = keyed(sql, {t: r for v in versions for t, r in v.reads.items()},
                {n: r for v in versions for n, r in v.relations.items()})
    if any(text in sql for v in versions for text in v.reads):  # no relation is a table of its own
        raise Fallback("a large table's cell is read where the SQL engine does not look it up by position")
    version_name = ("CASE vidx " + " ".join(f"WHEN {k + 1} THEN {d.text(v.name)}"
                                            for k, v in enumerate(program.versions)) + " ELSE '' END")
    # the texts of the points and of the rules that paid, from the points columns (computed where
    # they are written, not stored with every scored row)
    slot_of = {kj: i for i, holders in enumerate(slots) for kj in holders}
    slot_scale = [max(versions[k].rule_types[j][1] for k, j in holders) for holders in slots]

    def paid_text(k: int, v) -> str:
        """`mobile=660;fixed=50` of a row of version k: the rules that paid, in their order. A part is
        NULL where its rule paid nothing; most rows are paid by one rule, whose part is the text (a
        COALESCE: 0.43 s at ten million rows where concat_ws of every part took 0.74 s)."""
        slots_ = [slot_of[(k, j)] for j in range(len(v.rules))]
        parts = [f"({d.text(rule_id + '=')} || {d.points_text(f'pr{i}', slot_scale[i])})"
                 for i, (rule_id, _, _) in zip(slots_, v.rules)]
        if len(parts) <= 1:
            return f"COALESCE({parts[0]}, '')" if parts else "''"
        unpaid = " + ".join(f"CAST(pr{i} IS NULL AS INTEGER)" for i in slots_)
        return (f"CASE WHEN {unpaid} >= {len(parts) - 1} THEN COALESCE({', '.join(parts)}, '') "
                f"ELSE {d.concat_ws(chr(39) + ';' + chr(39), parts)} END")

    texts = [paid_text(k, v) for k, v in enumerate(versions)]
    if len(set(texts)) <= 1:  # the versions' rules paid in the same columns: every row's is '' where none paid
        rules_text = texts[0] if texts else "''"
    else:
        rules_text = f"CASE vidx {' '.join(f'WHEN {k + 1} THEN {t}' for k, t in enumerate(texts))} ELSE '' END"
    view = (f"{d.date_text('signed_day')} AS signed, {d.period('signed_day', program.period)} AS period, "
            f"{version_name} AS version, CASE WHEN points IS NULL THEN '' ELSE {d.points_text('points', scale)} END "
            f"AS points_text, {rules_text} AS rules_text")
    return ScoredSQL(sql, view, slots)


# the fields whose typed column is also an outcome column (its text written out): never narrowed
OUTCOME_FIELDS = ("contract_id", "partner_id", "signed", "product", "customer")


def observed_bounds(con, checks) -> dict:
    """Compiler.observed for the rows of `valid`: per integer or decimal field (of those the outcome
    does not show) its lowest and highest value and its declared scale, where the DECIMAL of that
    bound has at most 18 digits (DuckDB computes such a DECIMAL in 64 bits, a wider one in 128;
    casting to it keeps the scale, a cheap test of range, where a scale made smaller costs a
    division per row). A field without a value keeps its declared bound."""
    from engine.sql.compiler import FIELD_SCALE
    from engine.sql.plan import narrow_type

    numbers = [(f.name, f"v{i}", 0 if f.decl.kind == "integer" else FIELD_SCALE) for i, f in enumerate(checks.fields)
               if f.decl.kind in ("integer", "decimal") and f.name not in OUTCOME_FIELDS]
    if not numbers:
        return {}
    ranges = con.execute("SELECT " + ", ".join(f"min({c}), max({c})" for _, c, _ in numbers) + " FROM valid").fetchone()
    found = {}
    for n, (name, _, scale) in enumerate(numbers):
        lo, hi = ranges[2 * n], ranges[2 * n + 1]
        if lo is not None and narrow_type((lo, hi, scale))[0] <= 18:
            found[name] = (Decimal(lo), Decimal(hi), scale)
    return found


_KEY_TYPES: dict[int, tuple] = {}  # id(Relation) -> (the relation, keys_type of it)


def keys_type(rel) -> str:
    """The name of the ENUM of a relation's first keys: one per set of keys, whichever relations and
    versions share it (a table's rows, its cells, the products a rule pays for)."""
    import hashlib

    known = _KEY_TYPES.get(id(rel))
    if known is not None and known[0] is rel:
        return known[1]
    keys = sorted({row[0] for row in rel.rows})
    name = "keys_" + hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest()[:20]
    if len(_KEY_TYPES) >= 256:  # a long process (the workbench) compiles many programs
        _KEY_TYPES.clear()
    _KEY_TYPES[id(rel)] = (rel, name)
    return name


def keyed(sql: str, reads: dict, relations: dict, grids: list | None = None, casts: dict | None = None) -> str:
    """`sql` with each read of a relation (Compiler.reads, in the portable SQL of a join) made a read
    by the keys' positions, so that no join reorders the rows (a join among them makes DuckDB's
    insert lose their order, and the scored rows are sorted again: ~4 s of a ten-million-row run).

    A key is looked up in the ENUM of the relation's first keys (keys_type; a cast: a hash lookup
    per row, NULL for a key not among them); with `casts` (cast SQL -> column name, which this adds
    to), a plain column's cast is a column the caller computes once per row. Whether a key is one of
    them: the cast is not NULL. A cell (with `grids`, the one-row tables the SELECT cross-joins, which
    this adds to): an item of the list `<relation>_grid.g`, the cells row by row in the order of the
    ENUM, a row's cells in the order of their columns' first appearance (create_relations makes
    both)."""
    import re

    for text in sorted(reads, key=len, reverse=True):  # a read within the keys of another: the outer one first
        if text not in sql:
            continue
        name, keys = reads[text]
        rel = relations[name]
        cast = f"TRY_CAST({keys[0]} AS {keys_type(rel)})" if rel.rows else ""
        if casts is not None and rel.rows and re.fullmatch(r"v\d+", keys[0]):
            cast = casts.setdefault(cast, f"keyed{len(casts)}_")
        if len(rel.columns) == 1:  # whether the key is one of the relation's
            found = f"{cast} IS NOT NULL" if rel.rows else "FALSE"
            sql = sql.replace(text, f"(CASE WHEN {keys[0]} IS NOT NULL THEN {found} END)")
            continue
        if grids is None:  # a cell read where no grid is joined stays a subquery
            continue
        typ = rel.columns[-1].split(" ", 1)[1]
        if not rel.rows:
            sql = sql.replace(text, f"CAST(NULL AS {typ})")
            continue
        index = f"CAST(enum_code({cast}) AS BIGINT)"
        if len(rel.columns) == 3:
            columns = list(dict.fromkeys(row[1] for row in rel.rows))
            at = f"list_position([{', '.join(DUCKDB.text(c) for c in columns)}], {keys[1]})"
            index = f"{index} * {len(columns)} + {at}"
        else:
            index += " + 1"
        if f"{name}_grid" not in grids:
            grids.append(f"{name}_grid")
        sql = sql.replace(text, f"{name}_grid.g[{index}]")
    return sql


@contextmanager
def _json_file(con, value):
    """The path of a JSON file holding `value`, in DuckDB's temporary folder, for the block's time."""
    import json
    import os
    import tempfile

    folder = con.execute("SELECT current_setting('temp_directory')").fetchone()[0] or None
    fd, path = tempfile.mkstemp(suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # dumps, not dump: dump encodes in Python chunk by chunk (~9 ms per 10,000 cells)
            f.write(json.dumps(value))
        yield path
    finally:
        os.unlink(path)


def _json_call(path: str, types: dict) -> str:
    """read_json of a file of one object (_json_file), its members of these types as columns."""
    import os

    columns = ", ".join(f"{DUCKDB.text(k)}: {DUCKDB.text(t)}" for k, t in types.items())
    return (f"read_json({DUCKDB.text(path)}, format='unstructured', columns={{{columns}}}, "
            f"maximum_object_size={os.path.getsize(path) + 1024})")


def create_relations(con, relations: dict) -> None:
    """What `keyed` reads the relations of every version by (large point tables, long lists of
    names): per set of first keys an ENUM of them (keys_type), and per table's cells the one-row
    table `<name>_grid` of the cells as one list, row by row in the order of the ENUM.

    Keys and cells go through a JSON file in DuckDB's temporary folder, lists of JSON strings (a
    DECIMAL list casts its texts exactly, item by item): 10,000 load in ~0.03 s, where a VALUES list
    takes ~0.13 s to parse, one list text of 10,000 items ~3 s, and list parameters make DuckDB
    import numpy and pandas (~0.4 s)."""
    orders: dict[str, list] = {}  # ENUM -> its keys in the order of their codes
    for name, rel in relations.items():
        if not rel.rows:
            continue
        enum = keys_type(rel)
        value = {}
        if enum not in orders:
            orders[enum] = value["keys"] = list(dict.fromkeys(row[0] for row in rel.rows))
        if len(rel.columns) > 1:
            typ = rel.columns[-1].split(" ", 1)[1]
            columns = list(dict.fromkeys(row[1] for row in rel.rows)) if len(rel.columns) == 3 else [None]
            cells = {(row[0], row[1] if len(row) == 3 else None): row[-1] for row in rel.rows}
            value["g"] = [None if v is None else format(Decimal(v), "f")
                          for v in (cells.get((key, column)) for key in orders[enum] for column in columns)]
        if not value:
            continue
        with _json_file(con, value) as path:
            call = _json_call(path, dict.fromkeys(value, "VARCHAR[]"))
            if "keys" in value:  # the ENUM's codes in the order of the list (the grid's): made sure of
                con.execute(f"CREATE TYPE {enum} AS ENUM (SELECT unnest(keys) FROM {call})")
                kept = con.execute(f"SELECT bool_and(enum_code(CAST(k AS {enum})) = i - 1) FROM (SELECT unnest(keys) "
                                   f"AS k, generate_subscripts(keys, 1) AS i FROM {call})").fetchone()[0]
                if not kept:
                    raise Fallback("DuckDB did not keep the order of a table's keys")
            if "g" in value:
                con.execute(f"CREATE TEMP TABLE {name}_grid AS SELECT CAST(g AS {typ}[]) AS g FROM {call}")


def _reject_entry(row, field, value, reason, code, ids) -> tuple:
    contract_id, partner_id = ids
    if code != reasons.DUPLICATE:
        if field == "contract_id":
            contract_id = ""
        if field == "partner_id":
            partner_id = ""
    return row, field, value, reason, code, contract_id, partner_id


def version_index(program: Program, signed: str) -> str:
    """1 + the index of the version in force on the signed date (0: none)."""
    whens = " ".join(f"WHEN {signed} >= {DUCKDB.date(v.effective)} THEN {k + 1}"
                     for k, v in reversed(list(enumerate(program.versions))))
    return f"(CASE {whens} ELSE 0 END)"


def outcome_columns(program: Program, checks) -> list[tuple[str, str]]:
    """(name, SQL on `valid`) of the columns of a row's outcome that come from its record."""
    d = DUCKDB
    names = [f.name for f in checks.fields]

    def col(name):
        return f"v{names.index(name)}"

    version_name = "CASE vidx " + " ".join(f"WHEN {k + 1} THEN {d.text(v.name)}"
                                           for k, v in enumerate(program.versions)) + " ELSE '' END"
    return [("contract_id", d.to_text(col("contract_id"))), ("partner_id", d.to_text(col("partner_id"))),
            ("signed", d.date_text(col("signed"))), ("period", d.period(col("signed"), program.period)),
            ("version", version_name),
            ("product", f"COALESCE({col('product')}, '')" if "product" in names else "''"),
            ("customer", col("customer") if "customer" in names else "CAST(NULL AS VARCHAR)"),
            ("vidx", "vidx"), ("signed_day", col("signed"))]


def lenient_examples(con, checks) -> dict:
    """(field, reading) -> [valid rows read so, the first three raw texts] of `valid`: the first three
    distinct texts are those of the first such rows, so a few rows are looked at, more only while
    fewer than three texts are found (not a grouping of every such row's text)."""
    found = {}
    for i, f in enumerate(checks.fields):
        if f.lenient is None:
            continue
        # the raw text where the reading was lenient (else NULL), and the flag of it
        text, flag = (f"lx[{f.slot}]", f"lx[{f.slot}] IS NOT NULL") if checks.packed else (f"r{i}", f"l{i}")
        n = con.execute(f"SELECT count(*) FROM valid WHERE {flag}").fetchone()[0]
        if not n:
            continue
        first = 64
        while True:
            texts = [t for t, _ in con.execute(
                f'SELECT t, min("row") AS r FROM (SELECT "row", {text} AS t FROM valid WHERE {flag} ORDER BY "row" '
                f'LIMIT {first}) v GROUP BY t ORDER BY r LIMIT 3').fetchall()]
            if len(texts) == 3 or first >= n:
                break
            first *= 16
        found[(f.name, f.reading)] = [n, texts]
    return found


def _counts(con, program, checks, rejects, versions, slots: list | None = None, lenient: dict | None = None):
    """The lane of a run from the `outcome` relation; `slots` (DuckDB's): the points columns pr<i> of
    `outcome` holding the rules' points (scored_sql), else each scored<k> holds its rules' (Spark's)."""
    from engine import run as _run

    lane = _run.Lane(program)
    counts = lane.counts
    counts.rejected = len(rejects)
    for row, field, value, reason, code, cid, pid in rejects:
        counts.rejected_fields[field] += 1
        counts.rejected_reasons[(field, code)] += 1
    counts.lenient.update(lenient if lenient is not None else lenient_examples(con, checks))
    scale = max((v.scale for v in versions), default=0)
    if slots is not None:
        outcomes = _lane_totals(con, program, lane, versions, slots, scale)
    else:
        outcomes = con.execute("SELECT status, code, product, customer, count(*), max(signed_day) FROM outcome "
                               "GROUP BY ALL ORDER BY ALL").fetchall()
    valid_rows, days = 0, []
    for status, code, product, customer, n, last in outcomes:
        valid_rows += n
        days.append(last)
        if status == "scored":
            counts.scored += n
        else:
            counts.unscored += n
            counts.unscored_reasons[code] += n
            if code in _run.UNCOVERED_CODES:
                counts.uncovered[(code, product or None, customer)] += n
    counts.rows = valid_rows + len(rejects)
    counts.last_signed = max((d for d in days if d is not None), default=None)
    if slots is not None:
        return counts, lane
    total = Decimal(0)
    for pid, period, points, scored, unscored in con.execute(
            "SELECT partner_id, period, sum(points), count(*) FILTER (WHERE status = 'scored'), "
            "count(*) FILTER (WHERE status <> 'scored') FROM outcome GROUP BY ALL").fetchall():
        pp = lane.partner(pid, period)
        pp.points = _exact(points if points is not None else Decimal(0))
        pp.scored, pp.unscored = scored, unscored
        total += pp.points
    lane.points_total = _exact(total)
    for pid, period, code, n in con.execute(
            "SELECT partner_id, period, code, count(*) FROM outcome WHERE status <> 'scored' GROUP BY ALL").fetchall():
        lane.partners[(pid, period)].reasons[code] = n
    parts = []
    for k, v in enumerate(versions):
        for rule_id, paid, pts in v.rules:
            source = f"scored{k} s JOIN outcome o USING (\"row\")"
            who = "o"
            parts.append(f"SELECT {who}.partner_id, {who}.period, {DUCKDB.text(rule_id)} AS rule, "
                         f"CAST(s.{pts} AS DECIMAL(38,{scale})) AS points FROM {source} WHERE s.{paid}")
    if parts:
        for pid, period, rule, points, n in con.execute(
                f"SELECT partner_id, period, rule, sum(points), count(*) FROM ({' UNION ALL '.join(parts)}) "
                f"GROUP BY ALL").fetchall():
            pp = lane.partners[(pid, period)]
            pp.by_rule[rule] = _exact(points)
            pp.rule_contracts[rule] = n
    return counts, lane


def _lane_totals(con, program, lane, versions, slots: list, scale: int) -> list[tuple]:
    """Per partner and period the points, the contracts scored and unscored, the unscored reasons,
    and per rule the points paid and the contracts that paid them (a rule's name may stand in
    several versions: summed over them), from one pass over `scored` and its points columns. Returns
    the rows' outcomes for the run's counts, as _counts reads them from `outcome` otherwise: (status,
    code, product, customer, rows, last day signed), product and customer only where the code is
    one of a product no rule covers (engine.run.UNCOVERED_CODES)."""
    from engine import run as _run

    typ = f"DECIMAL(38,{scale})"
    # the cast after the sum (once per group, not per row: a DECIMAL of up to 18 digits is summed in
    # 64 bits where DuckDB can, ~25% of this statement); the same value either way, the sum is exact
    figures_of = "".join(f", s{2 * i}, s{2 * i + 1}" for i in range(len(slots)))
    named = "".join(f", CAST(sum(pr{i}) AS {typ}) AS s{2 * i}, count(pr{i}) AS s{2 * i + 1}"
                    for i in range(len(slots)))
    codes = ", ".join(DUCKDB.text(c) for c in _run.UNCOVERED_CODES)
    uncovered = f"status <> 'scored' AND list_contains([{codes}], code)"
    unit = program.period
    # grouped by the period's first day (a DATE, cheaper to group than the label), labelled after
    inner = (f"SELECT partner_id, CAST(date_trunc('{unit}', signed_day) AS DATE) AS first_, vidx, status, code, "
             f"CASE WHEN {uncovered} THEN product END AS product_, CASE WHEN {uncovered} THEN customer END "
             f"AS customer_, max(signed_day) AS last_, sum(points) AS points_, count(*) AS n_{named} "
             f"FROM scored GROUP BY ALL")
    partners: dict = {}
    rules: dict = {}
    outcomes: dict = {}
    for pid, period, vidx, status, code, product, customer, last, points, n, *figures in con.execute(
            f"SELECT partner_id, {DUCKDB.period('first_', unit)} AS period, vidx, status, code, product_, "
            f"customer_, last_, points_, n_{figures_of} FROM ({inner}) ORDER BY ALL").fetchall():
        key = (status, code, product, customer)
        before = outcomes.get(key)
        outcomes[key] = (n, last) if before is None else (before[0] + n, max_day(before[1], last))
        entry = partners.setdefault((pid, period), [Decimal(0), 0, 0, {}])
        if points is not None:
            entry[0] += points
        if status == "scored":
            entry[1] += n
        else:
            entry[2] += n
            entry[3][code] = entry[3].get(code, 0) + n
        for i, holders in enumerate(slots):
            paid, contracts = figures[2 * i], figures[2 * i + 1]
            if not contracts:
                continue
            for k, j in holders:
                if vidx == k + 1:
                    key = (pid, period, versions[k].rules[j][0])
                    before = rules.get(key, (Decimal(0), 0))
                    rules[key] = (before[0] + paid, before[1] + contracts)
    total = Decimal(0)
    for (pid, period), (points, scored, unscored, reasons_) in partners.items():
        pp = lane.partner(pid, period)
        pp.points = _exact(points)
        pp.scored, pp.unscored = scored, unscored
        for code, n in reasons_.items():
            pp.reasons[code] = n
        total += pp.points
    lane.points_total = _exact(total)
    for (pid, period, rule), (points, n) in rules.items():
        pp = lane.partners[(pid, period)]
        pp.by_rule[rule] = _exact(points)
        pp.rule_contracts[rule] = n
    return [(*key, n, last) for key, (n, last) in sorted(outcomes.items(), key=lambda item: tuple(
        (value is None, value or "") for value in item[0]))]


def max_day(a, b):
    """The later of two days, either of them None."""
    return a if b is None else b if a is None else max(a, b)


def _exact(value: Decimal) -> Decimal:
    """A total as the row engine holds it; beyond 28 significant digits it would have rounded."""
    digits = value.normalize().as_tuple().digits
    if len(digits) > EXACT_DIGITS:
        raise Fallback("a partner's total needs more than 28 digits")
    return value


def _write_rows(con, out_dir: Path, label: str, rejects: list, _run) -> None:
    """contracts.csv, rejects.csv and rows.csv as the row engine writes them."""
    from engine import cells
    from engine.outputs import create

    with create(out_dir / "rejects.csv", buffering=_run.WRITE_BUFFER) as f:
        w = cells.writer(f)
        w.writerow(_run.REJECT_COLUMNS)
        w.writerows([label, row, cid, pid, field, _run.shown_value(value), code, reason]
                    for row, field, value, reason, code, cid, pid in rejects)
    with create(out_dir / "contracts.csv", buffering=_run.WRITE_BUFFER) as fc, \
            create(out_dir / "rows.csv", buffering=_run.WRITE_BUFFER) as fr:
        wc, wr = cells.writer(fc), cells.writer(fr)
        wc.writerow(_run.CONTRACT_COLUMNS)
        wr.writerow(_run.ROW_COLUMNS)
        pending = iter(rejects)
        nxt = next(pending, None)
        cur = con.execute('SELECT "row", contract_id, partner_id, signed, period, version, product, status, '
                          'points_text, rules_text, code, reason FROM outcome ORDER BY "row"')
        while batch := cur.fetchmany(FETCH):
            wc.writerows((label, *r) for r in batch)
            if nxt is None or nxt[0] > batch[-1][0]:
                wr.writerows((label, r[0], r[1], r[2], r[7], r[10], r[11]) for r in batch)
                continue
            lines = []
            for r in batch:
                while nxt is not None and nxt[0] < r[0]:
                    lines.append((label, nxt[0], nxt[5], nxt[6], "rejected", nxt[4], nxt[3]))
                    nxt = next(pending, None)
                lines.append((label, r[0], r[1], r[2], r[7], r[10], r[11]))
            wr.writerows(lines)
        while nxt is not None:
            wr.writerow((label, nxt[0], nxt[5], nxt[6], "rejected", nxt[4], nxt[3]))
            nxt = next(pending, None)


def neutral_macro(con) -> None:
    """`pp_neutral(x)`: engine.cells.neutral in SQL, the text with `'` before a formula's shape."""
    d = DUCKDB
    runs = ", ".join(str(ord(c)) for c in cells.RUN_FIRST)
    signs = ", ".join(str(ord(c)) for c in cells.SIGN_FIRST)
    # list_contains, not IN: DuckDB turns an IN list over a large input into a join (~0.4 s per use
    # per million rows)
    con.execute(f"CREATE OR REPLACE TEMP MACRO pp_runs(t) AS (list_contains([{runs}], ascii(t)) OR "
                f"(list_contains([{signs}], ascii(t)) AND NOT regexp_full_match(t, {d.text(cells.NUMBER_PATTERN)})))")
    # most texts begin with a letter or a digit: a comparison of the text's first bytes (DuckDB keeps
    # them inline) tells those from a character a formula may begin with, before any function runs
    firsts = sorted({ord(c) for c in cells.RUN_FIRST + cells.SIGN_FIRST + "'"})
    plain = [f"x >= {d.text(chr(firsts[-1] + 1))}"]
    below, above = [c for c in firsts if c < ord("0")], [c for c in firsts if c > ord("9")]
    if firsts[-1] < 127 and below and above:  # the digits' gap: first byte from below's top + 1 to above's bottom - 1
        plain.append(f"(x >= {d.text(chr(below[-1] + 1))} AND x < {d.text(chr(above[0]))})")
    con.execute(f"CREATE OR REPLACE TEMP MACRO pp_neutral(x) AS (CASE WHEN {' OR '.join(plain)} THEN x "
                f"WHEN NOT list_contains([{runs}, {signs}, 39], ascii(x)) THEN x "
                f"WHEN pp_runs(ltrim(x, chr(39))) THEN chr(39) || x ELSE x END)")


def copy_csv(con, select: str, target: Path, by_row: bool = False) -> None:
    """COPY a query's rows to a CSV file as engine.cells.writer writes them, header first; `by_row`:
    in the order of its "row" column (sorted unless DuckDB's plan keeps the order of a table in row
    order: a batch copy).

    The query gives every text cell neutralised (pp_neutral, or a literal through cells.neutral)
    and an empty text as NULL: DuckDB's writer then quotes exactly where Python's csv writer does
    (a cell holding `,`, `"`, CR or LF; tests/test_sql_cells.py), writes NULL as nothing, and ends
    lines in LF."""
    options = "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n')"
    if by_row:
        plan = "".join(r[1] for r in con.execute(f"EXPLAIN COPY ({select}) TO {DUCKDB.text(str(target))} "
                                                 f"{options}").fetchall())
        if "BATCH_COPY_TO_FILE" not in plan:
            select += ' ORDER BY "row"'
    con.execute(f"COPY ({select}) TO {DUCKDB.text(str(target))} {options}")


def _copy_rows(con, program: Program, out_dir: Path, label: str, rejects: list, _run, beside=None) -> dict:
    """contracts.csv and rows.csv written by DuckDB in row order; rejects.csv from Python (few rows).
    Returns the two large files, each settled (engine.outputs.Settled) as soon as it is written, by
    name.

    contracts.csv is written by a second connection on a thread of its own while this one runs
    `beside` (the counts and totals) and writes rows.csv: at ten million rows the whole run takes
    25.7 - 28.3 s so against 27.3 - 29.6 s with the files written one after the other (three pairs;
    the first COPY after the scoring is the slow one). That connection sees `scored` and the view
    `outcome`, which are not TEMP objects for that reason. The first file done is hashed and fsynced
    while the other is still being written."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.outputs import Settled, create

    def copied(query: str, target: Path) -> Settled:
        copy_csv(other, query, target, True)
        return Settled(target)

    neutral_macro(con)
    name = _literal(label)
    ids = f'{name} AS "file", "row", {_text("contract_id")} AS contract_id, {_text("partner_id")} AS partner_id'
    version = ("CASE vidx " + " ".join(f"WHEN {k + 1} THEN {_literal(v.name)}" for k, v in enumerate(program.versions))
               + " END")
    contracts = (f"SELECT {ids}, signed, period, {version} AS version, {_text('product')} AS product, status, "
                 f"NULLIF(points_text, '') AS points, {_text('rules_text')} AS rules, NULLIF(code, '') AS code, "
                 f"{_text('reason')} AS reason FROM outcome")
    other = con.cursor()
    try:
        neutral_macro(other)
        with ThreadPoolExecutor(1) as pool:
            written = pool.submit(copied, contracts, out_dir / "contracts.csv")
            try:
                if beside is not None:
                    beside()
                with create(out_dir / "rejects.csv", buffering=_run.WRITE_BUFFER) as f:
                    w = cells.writer(f)
                    w.writerow(_run.REJECT_COLUMNS)
                    w.writerows([label, row, cid, pid, field, _run.shown_value(value), code, reason]
                                for row, field, value, reason, code, cid, pid in rejects)
                _copy_rows_file(con, out_dir, ids, rejects)
                rows = Settled(out_dir / "rows.csv")
            except BaseException:
                _stop(other, written)  # the run stops: contracts.csv is not needed
                raise
            error = written.exception()
            if error is not None:
                raise error
    finally:
        other.close()
    return {"contracts.csv": written.result(), "rows.csv": rows}


def _text(sql: str) -> str:
    """A text column of the outcome as a CSV cell: neutralised, an empty text as NULL."""
    return f"NULLIF(pp_neutral({sql}), '')"


def _literal(value: str) -> str:
    """A text known in Python as a CSV cell: neutralised, an empty text as NULL."""
    return DUCKDB.text(cells.neutral(value)) if value else "NULL"


def _copy_rows_file(con, out_dir: Path, ids: str, rejects: list) -> None:
    """rows.csv: every row's outcome in row order, the refused rows' among them."""
    if not rejects:  # the outcome's rows alone, in their order
        copy_csv(con, f"SELECT {ids}, status, NULLIF(code, '') AS code, {_text('reason')} AS reason FROM outcome",
                 out_dir / "rows.csv", by_row=True)
        return
    con.execute('CREATE TEMP TABLE rejected_rows ("row" BIGINT, contract_id VARCHAR, partner_id VARCHAR, '
                'code VARCHAR, reason VARCHAR)')
    items = [(row, cid, pid, code, reason) for row, field, value, reason, code, cid, pid in rejects]
    for begin in range(0, len(items), 400):
        part = items[begin:begin + 400]
        con.execute("INSERT INTO rejected_rows VALUES " + ", ".join("(?, ?, ?, ?, ?)" for _ in part),
                    [x for item in part for x in item])
    copy_csv(con, f"SELECT {ids}, status, NULLIF(code, '') AS code, {_text('reason')} AS reason FROM "
                  f"(SELECT \"row\", contract_id, partner_id, status, code, reason FROM outcome UNION ALL "
                  f"SELECT \"row\", contract_id, partner_id, 'rejected', code, reason FROM rejected_rows) "
                  f"ORDER BY \"row\"", out_dir / "rows.csv")


def finished_run(con, program: Program, path: Path, checks, rejects: list, versions: list, notes: list[str],
                 options, out_dir: Path | None, engine: str, slots: list | None = None, lenient: dict | None = None,
                 sha: str | None = None):
    """The counts, per-contract files, rejects, progress and RunResult of one export whose outcome
    table `con` holds (DuckDB's, or Spark's through its cursor); `sha`: the export's sha256 when the
    pre-scan took it (else it is taken here)."""
    from engine import run as _run

    label = path.name
    found = []

    def count() -> None:
        found.extend(_counts(con, program, checks, rejects, versions, slots=slots, lenient=lenient))

    settled = {}
    if out_dir is not None and engine == "duckdb":
        settled = _copy_rows(con, program, Path(out_dir), label, rejects, _run, beside=count)
    else:
        count()
        if out_dir is not None:
            _write_rows(con, Path(out_dir), label, rejects, _run)
    counts, lane = found
    if options.on_reject is not None:
        for row, field, value, reason, code, cid, pid in rejects:
            options.on_reject(_run.Rejected(label, row, cid, pid, field, _run.shown_value(value), code, reason))
    if options.progress is not None:
        options.progress(counts.rows)
    shown = display_path(path)
    sha = sha if sha is not None else sha256_of(path)
    inputs = [_run.InputFile(label, shown, sha, counts)]
    result = _run.RunResult(program, shown, sha, [lane], notes=notes, inputs=inputs)
    result.engine = engine
    result.settled = settled
    _run.assign_tiers(lane)
    return result
