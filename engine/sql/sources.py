"""Exports that DuckDB reads for both engines: a Parquet file, or a table of a DuckDB database.

Spelling: `exports.parquet` is a Parquet file; `exports.duckdb:contracts` is the table `contracts`
of the DuckDB database `exports.duckdb` (`exports.duckdb:sales.contracts` a table of the schema
`sales`); `exports.duckdb` alone is its one table (an error names the tables when it has several).

Both engines read the same cells by construction: `cells_sql` is the one query that reads the
export, used by the row reader (engine.readers) and by the DuckDB engine's `raw0` table
(engine.sql.duck.create_checked):
- every value cast to VARCHAR as DuckDB casts it (a DATE `2016-03-01`, a DECIMAL(10,2) `12.50`,
  a BOOLEAN `true`, a TIMESTAMP WITH TIME ZONE in UTC), NULL and the empty text as an empty cell;
- the column names are the header; rows are numbered 1, 2, ... in the file's order (Parquet: the
  order of its row groups and rows, DuckDB's `file_row_number`) or the table's stored order (its
  `rowid`, the order the rows were inserted; gaps left by deleted rows are not counted).

Input hash: a Parquet file's is the sha256 of the file. A database file changes with every
checkpoint whatever its tables hold, so a table's is the sha256 of a canonical dump of what the
engines read: one JSON array (compact, UTF-8) of the header and then each row, each an array of its
cells' texts (`null` for an empty cell) (`table_digest`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

TABLE_MARK = ".duckdb:"  # between the database file and the table's name
DATABASE_SUFFIX = ".duckdb"
FETCH = 65_536
_ALIAS = "points_export"  # the database's name in a connection that reads it


@dataclass(frozen=True)
class Export:
    """A Parquet file or a DuckDB table: the file on disk and, for a table, the name given (None: its only one)."""

    kind: str  # "parquet" or "duckdb"
    file: Path
    table: str | None = None


def export_of(path: str | os.PathLike) -> Export | None:
    """The Parquet file or DuckDB table `path` names, or None for any other file."""
    text = os.fspath(path)
    lower = text.lower()
    if lower.endswith(".parquet"):
        return Export("parquet", Path(text))
    if lower.endswith(DATABASE_SUFFIX):
        return Export("duckdb", Path(text))
    at = lower.rfind(TABLE_MARK)
    if at > 0 and not any(sep in text[at:] for sep in ("/", os.sep)):  # a file below a folder `x.duckdb:y` is a file
        cut = at + len(DATABASE_SUFFIX)
        return Export("duckdb", Path(text[:cut]), text[cut + 1:])
    return None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class Relation:
    """The export opened on a DuckDB connection: `header` (column names as stored), `source` (SQL naming
    the rows), `number` (SQL giving each its row number), `order` (an ORDER BY the numbering needs, or
    ""), `rows` (how many)."""

    def __init__(self, con, path: str | os.PathLike, export: Export):
        from engine.readers import InputError

        self.path = path
        self.export = export
        self._error = lambda message: InputError(path, message)
        if export.kind == "parquet":
            self._open_parquet(con)
        else:
            self._open_table(con)
        if not self.header:
            raise InputError(path, f"the {self.what} has no columns")

    def _open_parquet(self, con) -> None:
        import duckdb

        self.what = "Parquet file"
        file = str(self.export.file)
        if any(c in file for c in "*?["):
            raise self._error("the path has a `*`, `?` or `[`, which DuckDB reads as a pattern of several files: "
                              "rename the file")
        scan = f"read_parquet({text(file)}, file_row_number=true)"
        try:
            names = [d[0] for d in con.execute(f"DESCRIBE SELECT * FROM read_parquet({text(file)})").fetchall()]
            if "file_row_number" in names:
                raise self._error("has a column named `file_row_number`, the name DuckDB gives the row "
                                  "number it reads: rename that column")
            self.rows = con.execute(f"SELECT count(*) FROM {scan}").fetchone()[0]
        except duckdb.Error as error:
            raise self._error(f"cannot be read as a Parquet file ({_first_line(error)})") from None
        self.header = names
        self.source = scan
        self.number = "file_row_number + 1"
        self.order = ""  # a scan keeps the file's order (preserve_insertion_order)

    def _open_table(self, con) -> None:
        import duckdb

        from dsl.errors import did_you_mean

        database = self.export.file
        try:
            con.execute(f"ATTACH {text(str(database))} AS {_ALIAS} (READ_ONLY)")
        except duckdb.Error as error:
            raise self._error(f"cannot be opened as a DuckDB database ({_first_line(error)})") from None
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                             "ORDER BY schema_name <> 'main', schema_name, table_name", [_ALIAS]).fetchall()
        views = con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? "
                            "AND NOT internal", [_ALIAS]).fetchall()

        def shown(schema: str, name: str) -> str:
            return name if schema == "main" else f"{schema}.{name}"

        listing = ", ".join(shown(*t) for t in tables)
        wanted = self.export.table
        if wanted is None:
            if len(tables) != 1:
                hint = f"its tables: {listing}" if tables else "it has no tables"
                raise self._error(f"name the table to read, as {database}:TABLE ({hint})")
            schema, name = tables[0]
        elif not wanted:
            raise self._error(f"no table named after the `:` (its tables: {listing or 'none'})")
        else:
            schema, name = self._find(wanted, tables, views, listing, did_you_mean)
        self.what = f"table `{shown(schema, name)}`"
        self.source = f"{_ALIAS}.{quote(schema)}.{quote(name)}"
        described = con.execute(f"DESCRIBE {self.source}").fetchall()
        self.header = [d[0] for d in described]
        self.rows, first, last = con.execute(f"SELECT count(*), min(rowid), max(rowid) FROM {self.source}").fetchone()
        if not self.rows or last - first + 1 == self.rows:  # no gaps (no row deleted): the rowid says it
            self.number = f"rowid - {first or 0} + 1"
            self.order = ""  # a scan keeps the table's order (preserve_insertion_order)
        else:
            self.number = "row_number() OVER (ORDER BY rowid)"
            self.order = " ORDER BY rowid"

    def _find(self, wanted: str, tables: list, views: list, listing: str, did_you_mean) -> tuple[str, str]:
        schema, dot, name = wanted.rpartition(".")
        pool = tables if dot else [t for t in tables if t[0] == "main"] or tables

        def match(items):
            return [t for t in items if t[1].lower() == name.lower() and (not dot or t[0].lower() == schema.lower())]

        found = match(pool)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise self._error(f"several schemas have a table `{name}`: name it as SCHEMA.TABLE (its tables: "
                              f"{listing})")
        if match(views):
            raise self._error(f"`{wanted}` is a view: its rows have no stored order; read a table (CREATE TABLE "
                              f"... AS SELECT ... ORDER BY ...)")
        names = [t[1] if t[0] == "main" else f"{t[0]}.{t[1]}" for t in tables]
        close = did_you_mean(wanted, names)
        hint = f"did you mean `{close}`? " if close else ""
        raise self._error(f"the database has no table `{wanted}` ({hint}its tables: {listing or 'none'})")

    def cells_sql(self, numbered: bool = True) -> str:
        """`row` (1, 2, ... in the export's order; left out unless `numbered`) and c0, c1, ... as VARCHAR,
        NULL for an empty cell."""
        cells = ", ".join(f"NULLIF(CAST({quote(name)} AS VARCHAR), '') AS c{i}" for i, name in enumerate(self.header))
        number = f'{self.number} AS "row", ' if numbered else ""
        return f'SELECT {number}{cells} FROM {self.source}{self.order}'


def connect():
    """A DuckDB connection that casts as `cells_sql` documents (time zone UTC)."""
    import duckdb

    con = duckdb.connect(config={"preserve_insertion_order": True})
    prepare(con)
    return con


def prepare(con) -> None:
    """Time stamps with a time zone are written in UTC, whatever the machine's zone; no progress bar
    on the terminal."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


def raw_table(con, path: str | os.PathLike, export: Export, name: str) -> None:
    """The temporary table `name` on the DuckDB engine's connection: "row" and c0 ... of `cells_sql`."""
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    prepare(con)
    try:
        relation = Relation(con, path, export)
        con.execute(f"CREATE TEMP TABLE {quote(name)} AS {relation.cells_sql()}")
    finally:
        if export.kind == "duckdb":
            con.execute(f"DETACH DATABASE IF EXISTS {_ALIAS}")
        con.execute(f"SET TimeZone = {text(zone)}")


def batches(con, relation: Relation):
    """The rows of `cells_sql` in lists of up to FETCH tuples (row, c0, c1, ...), in row order."""
    from engine.readers import InputError

    cur = con.execute(relation.cells_sql())
    last = 0
    while batch := cur.fetchmany(FETCH):
        if batch[0][0] <= last or any(batch[i][0] >= batch[i + 1][0] for i in range(len(batch) - 1)):
            raise InputError(relation.path, f"DuckDB gave the rows of the {relation.what} out of order (after row "
                                            f"{last}); please report it")
        last = batch[-1][0]
        yield batch


def table_digest(path: str | os.PathLike) -> str:
    """The sha256 of a DuckDB table's canonical dump (see the module's docstring): the UTF-8 bytes of
    `json.dumps([header, *rows], ensure_ascii=False, separators=(",", ":"))`, each row the list of its
    cells (None for an empty one)."""
    export = export_of(path)
    digest = hashlib.sha256()
    con = connect()
    try:
        relation = Relation(con, path, export)
        digest.update(b"[" + _dump(relation.header))
        cur = con.execute(relation.cells_sql(numbered=False))  # the rows in the order `batches` gives them
        while batch := cur.fetchmany(FETCH):
            digest.update(b"," + _dump(batch)[1:-1])
        digest.update(b"]")
    finally:
        con.close()
    return digest.hexdigest()


def _dump(values) -> bytes:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
