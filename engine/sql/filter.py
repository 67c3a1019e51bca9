"""The rows one explanation needs, picked from large CSV exports in DuckDB.

`points explain --partner P` (or `--contract C`) traces the rows of one partner (one contract);
scoring every other row only to throw it away costs seconds on a million rows. `select_rows` reads
the exports as text in DuckDB, the way the SQL engine does (engine.sql.duck: the header checked by
the row reader, the byte pre-scan of engine.sql.prescan, every cell a VARCHAR, a row per line),
and returns the lines that can change the explanation, under their row numbers. The row engine then
reads only those lines and gives every one of them exactly the outcome a whole run gives it:

- the target: every row whose `partner_id` (`contract_id`) cell contains the value. A record's text
  value is its cell, trimmed or verbatim, so a row of the target always contains it (a few more
  rows are read, and not traced);
- `unique`: a row is a repeat when an earlier row with the same value was accepted. The picked set
  is closed under "has the value of a unique field in common with a picked row" (the cell as Python
  strips it: rows with the same value always have the same stripped cell), so every earlier row
  that can claim a picked row's value is picked too, and by induction over the rows in file order
  each picked row is accepted or rejected (and a repeat names its first row) as in a whole run;
  validation is otherwise row by row, and the version by signed date is a row's own;
- the latest valid signed date (with reviews or legacy statuses it decides the period under way):
  the rows of the three latest signed dates in the file, and every row whose signed cell DuckDB does not
  read as a date, are picked. `Selection.bound` is the latest date of a row left out: a whole run's
  latest valid signed date lies between the picked rows' one and it, so its period (the one thing
  the explanation takes from it) is the picked rows' one when that is later or in the same period
  (`Selection.exact_for`); otherwise the files are read whole.

Where DuckDB cannot read a file exactly as the row reader does (another encoding, a quote, a blank
line, a CR alone, NUL, a row that does not fit the header, JSON Lines, XLSX), or the program reads
the fields in a way a text filter cannot follow (a `unique`, `partner_id` or `contract_id` field
that is not text, or has a default), `select_rows` raises `NotFiltered` with the reason and the
caller reads the files whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from engine.sql.dialect import DUCKDB

MOST = 0.5  # more than this share of the rows picked, and the filter would save little: read whole
LATEST_DAYS = 3  # with `latest`, the rows of the latest three signed dates are picked
MAX_ROUNDS = 8  # rounds of the `unique` closure (one when a single field is unique)


class NotFiltered(Exception):
    """The files are read whole; the message says why."""


@dataclass
class Selection:
    """The picked lines of each file (the header line and the lines, and each line's number)."""

    picked: dict[Path, tuple[bytes, list[int]]] = field(default_factory=dict)
    bound: date | None = None  # the latest plain signed date of a row left out (with `latest`)
    latest: bool = False

    def exact_for(self, last_signed: date | None, unit: str) -> bool:
        """Whether a run over the picked rows gives the period (of `unit`) of the latest valid signed
        date of a whole run: a whole run's latest valid date lies between the picked rows' one and
        `bound`, so it is when the picked rows' one is not earlier or in the same period."""
        from engine.periods import period_of

        if not self.latest or self.bound is None:
            return True
        if last_signed is None:
            return False
        return last_signed >= self.bound or period_of(last_signed, unit) == period_of(self.bound, unit)

    def rows(self) -> int:
        return sum(len(lines) for _, lines in self.picked.values())


def _decl_problem(program, name: str, role: str) -> str | None:
    for version in program.versions:
        block = version.ruleset.input("contract")
        decl = next((f for f in block.fields if f.name == name), None) if block is not None else None
        if decl is None:
            return f"version {version.name} has no `{name}` field"
        if decl.kind != "text" or decl.default is not None:
            return f"`{name}` ({role}) is not text without a default in version {version.name}"
    return None


def unique_fields(program) -> list[str]:
    """The `unique` fields of every version's input block, in order of first declaration."""
    names: list[str] = []
    for version in program.versions:
        block = version.ruleset.input("contract")
        for f in block.fields if block is not None else ():
            if f.unique and f.name not in names:
                names.append(f.name)
    return names


def select_rows(program, paths: list[Path], options, target: str, value: str, latest: bool = False) -> Selection:
    """The lines of `paths` that an explanation of the rows whose `target` field is `value` needs
    (with `latest`, also those that fix the latest valid signed date); NotFiltered when the files
    are to be read whole."""
    from engine.readers import InputError
    from engine.sql.duck import Fallback, memory_limit, read_header

    if not value or value != value.strip():
        raise NotFiltered(f"the {target} is empty or has spaces around it")
    if any(Path(p).suffix.lower() != ".csv" for p in paths):
        raise NotFiltered("an export that is not CSV")
    uniques = unique_fields(program)
    for name, role in [(target, "the field explained"), *((u, "unique") for u in uniques)]:
        problem = _decl_problem(program, name, role)
        if problem:
            raise NotFiltered(problem)
    if latest:
        problem = next((f"version {v.name} has no `signed` date" for v in program.versions
                        if next((f for f in v.ruleset.input("contract").fields if f.name == "signed"
                                 and f.kind == "date"), None) is None), None)
        if problem:
            raise NotFiltered(problem)
    headers = []
    for path in paths:
        try:  # the file's bytes are pre-scanned while DuckDB reads it (_select)
            _, header, delimiter, _, _ = read_header(program, Path(path), options, "the filter")
        except Fallback as err:
            raise NotFiltered(f"{Path(path).name}: {err}") from None
        except InputError as err:  # the row engine says it, in its words
            raise NotFiltered(str(err)) from None
        from engine.validate import column_names

        names = column_names(header)
        wanted = [target, *uniques, *(["signed"] if latest else [])]
        missing = [n for n in wanted if n not in names]
        if missing:
            raise NotFiltered(f"{Path(path).name} has no column {missing[0]}")
        headers.append((header, delimiter, {n: names.index(n) for n in wanted}))
    import shutil
    import tempfile

    import duckdb

    spill = tempfile.mkdtemp(prefix="points-filter-")
    con = duckdb.connect(config={"preserve_insertion_order": True, "temp_directory": spill,
                                 "memory_limit": memory_limit(options)})
    try:
        return _select(con, paths, headers, target, value, uniques, latest)
    except duckdb.InvalidInputException as err:
        raise NotFiltered(f"DuckDB could not read the file as the row reader does ({str(err).splitlines()[0]})") \
            from None
    except duckdb.Error as err:
        raise NotFiltered(f"DuckDB stopped: {str(err).splitlines()[0]}") from None
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _select(con, paths, headers, target, value, uniques, latest) -> Selection:
    from concurrent.futures import ThreadPoolExecutor

    from engine.sql.duck import Fallback, _stop, create_in_file_order, csv_call, prescanned

    d = DUCKDB
    key_cols = [f"u{i}" for i in range(len(uniques))]
    parts = []
    for index, (path, (header, delimiter, where)) in enumerate(zip(paths, headers)):
        keys = ", ".join(f"nullif({d.strip(f'c{where[u]}')}, '') AS {k}" for u, k in zip(uniques, key_cols))
        day = ""
        if latest:
            cell = d.strip(f"c{where['signed']}")
            # an ISO-shaped cell as DuckDB reads an ISO date, else day.month.year; a cell the row
            # reader accepts gets its date, any other cell its date or NULL (a NULL is picked)
            day = (f", CASE WHEN {cell} LIKE '____-__-__' THEN TRY_CAST({cell} AS DATE) "
                   f"ELSE try_strptime({cell}, '%d.%m.%Y')::DATE END AS day")
        # One row per line (the pre-scan below sees to it); the rows are inserted in file order, so rowid 0
        # is line 2.
        call = csv_call(path, header, delimiter)
        create = (f"CREATE TEMP TABLE f{index} AS SELECT contains(c{where[target]}, {d.text(value)}) AS hit"
                  f"{', ' + keys if keys else ''}{day} FROM {call}")
        # DuckDB reads the file on a thread while the byte pre-scan (engine.sql.prescan) makes sure it
        # reads it as the row reader does; a file the scan refuses stops the statement, unused
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="points-filter") as pool:
            made = pool.submit(create_in_file_order, con, create, call)
            try:
                prescanned(Path(path), delimiter, len(header), "the filter")
            except BaseException as err:
                _stop(con, made)
                if isinstance(err, Fallback):
                    raise NotFiltered(f"{Path(path).name}: {err}") from None
                raise
            error = made.exception()
        if error is not None:
            raise error
        parts.append(f"SELECT {index} AS f, rowid + 2 AS \"row\", * FROM f{index}")
    con.execute(f"CREATE TEMP VIEW rows_ AS {' UNION ALL '.join(parts)}")
    seed = "hit"
    if latest:
        seed = (f"hit OR day IS NULL OR day >= (SELECT min(day) FROM (SELECT DISTINCT day FROM rows_ "
                f"WHERE day IS NOT NULL ORDER BY day DESC LIMIT {LATEST_DAYS}))")
    con.execute(f'CREATE TEMP TABLE picked AS SELECT f, "row" FROM rows_ WHERE {seed}')
    for _ in range(MAX_ROUNDS if key_cols else 0):
        grew = 0
        for k in key_cols:
            con.execute(f"CREATE OR REPLACE TEMP TABLE want AS SELECT DISTINCT r.{k} FROM rows_ r "
                        f"JOIN picked p USING (f, \"row\") WHERE r.{k} IS NOT NULL")
            grew += con.execute(
                f"INSERT INTO picked SELECT r.f, r.\"row\" FROM rows_ r SEMI JOIN want USING ({k}) "
                f"ANTI JOIN picked p USING (f, \"row\")").fetchone()[0]
        if not grew or len(key_cols) == 1:  # one unique field: the rows added bring no new value
            break
    else:
        if key_cols:
            raise NotFiltered("the rows that share unique values chain too far")
    count, total = con.execute('SELECT (SELECT count(*) FROM picked), (SELECT count(*) FROM rows_)').fetchone()
    if count > MOST * total:
        raise NotFiltered(f"{count:,} of the {total:,} rows are needed")
    bound = None
    if latest:
        bound = con.execute('SELECT max(day) FROM rows_ r ANTI JOIN picked p USING (f, "row")').fetchone()[0]
    chosen: dict[int, list[int]] = {i: [] for i in range(len(paths))}
    for f, row in con.execute('SELECT f, "row" FROM picked ORDER BY f, "row"').fetchall():
        chosen[f].append(row)
    selection = Selection(bound=bound, latest=latest)
    for index, path in enumerate(paths):
        selection.picked[Path(path)] = _lines(Path(path), chosen[index])
    return selection


def _lines(path: Path, rows: list[int]) -> tuple[bytes, list[int]]:
    """The header line and the lines numbered `rows` (1-based line numbers, rising), each ending in LF."""
    data = path.read_bytes()
    end = data.find(b"\n")
    out = [data[:end + 1] if end >= 0 else data + b"\n"]
    for start in _line_starts(data, rows):
        stop = data.find(b"\n", start)
        out.append(data[start:stop + 1] if stop >= 0 else data[start:] + b"\n")
    return b"".join(out), rows


def _line_starts(data: bytes, rows: list[int]):
    """The offset of each line numbered in `rows` (rising): the file is walked once, counting line
    ends a window at a time in C (a window a little shorter than the lines left to skip, so that
    it never passes the line looked for), then line end by line end."""
    pos, ends = 0, 0  # `ends` line ends lie before `pos`
    sample = min(len(data), 1 << 16)
    average = max(sample // max(data.count(b"\n", 0, sample), 1), 1)
    for row in rows:
        need = row - 1 - ends  # line ends to pass to reach the row's first byte
        while need > 16:
            width = max(need * average // 2, 1)
            found = data.count(b"\n", pos, pos + width)
            if found >= need:
                average = max(average // 2, 1)
                continue
            pos += width
            ends += found
            need -= found
        while need > 0:
            pos = data.index(b"\n", pos) + 1
            ends += 1
            need -= 1
        yield pos
