"""One connection to a ledger database: SQLite (stdlib sqlite3, WAL) or PostgreSQL (psycopg 3).

The rest of engine.ledger writes its SQL once, with `?` placeholders; this module turns them into
the driver's, runs transactions (SQLite: BEGIN IMMEDIATE, so two writers queue instead of failing;
PostgreSQL: the driver's transaction block) and bulk inserts (executemany / COPY).
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from engine.ledger import schema

BUSY_SECONDS = 120  # how long a SQLite writer waits for another one to commit


class LedgerError(Exception):
    """A ledger that cannot be opened or used, or a question it cannot answer, phrased for a person."""


def shown_url(url: str) -> str:
    """The URL as messages show it: a password replaced by `***`."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def parse_url(url: str) -> tuple[str, str]:
    """(dialect, target): a file path (or `sqlite:///path`) is SQLite, `postgresql://...` PostgreSQL."""
    text = str(url).strip()
    if not text:
        raise LedgerError("the ledger URL is empty")
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql", text.replace("postgresql+psycopg://", "postgresql://", 1)
    if text.startswith("sqlite:///"):
        return "sqlite", text[len("sqlite:///"):] or ":memory:"
    if text.startswith("sqlite://"):
        raise LedgerError(f"{text}: a SQLite URL is sqlite:///PATH (three slashes; four for an absolute path)")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        raise LedgerError(f"{shown_url(text)}: not a ledger URL (a SQLite file path, sqlite:///PATH or "
                          "postgresql://USER@HOST/DATABASE)")
    return "sqlite", text


class Database:
    """A connection in autocommit mode; writes go through `transaction()`."""

    def __init__(self, url: str):
        self.url = str(url)
        self.dialect, target = parse_url(self.url)
        self.shown = shown_url(self.url)
        if self.dialect == "sqlite":
            self._open_sqlite(target)
        else:
            self._open_postgresql(target)
        self._in_transaction = False

    # ------------------------------------------------------------------ connections

    def _open_sqlite(self, path: str) -> None:
        import sqlite3

        self._driver_errors = (sqlite3.Error,)
        if path != ":memory:":
            folder = Path(path).parent
            if not folder.is_dir():
                raise LedgerError(f"{path}: cannot create the ledger: the folder {folder} does not exist")
            if Path(path).is_dir():
                raise LedgerError(f"{path}: is a folder, not a ledger file")
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_SECONDS,
                                        check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as err:
            raise LedgerError(f"{path}: not a ledger (SQLite: {err})") from None

    def _open_postgresql(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise LedgerError(f"{self.shown}: a PostgreSQL ledger needs psycopg 3: "
                              "pip install 'partner-points[postgres]'") from None
        self._driver_errors = (psycopg.Error,)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise LedgerError(f"{self.shown}: cannot connect: {shown_url(message)}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    # ------------------------------------------------------------------ statements

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self.dialect == "postgresql" else sql

    @contextlib.contextmanager
    def errors(self, doing: str):
        """Driver errors as a LedgerError naming the ledger and what was being done."""
        try:
            yield
        except LedgerError:
            raise
        except self._driver_errors as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise LedgerError(f"{self.shown}: {doing}: {shown_url(message)}") from None

    def execute(self, sql: str, params=()):
        with self.errors("a query failed"):
            if self.dialect == "sqlite":
                return self.conn.execute(sql, params)
            cur = self.conn.cursor()
            cur.execute(self._sql(sql), params)
            return cur

    def query(self, sql: str, params=()) -> list[tuple]:
        with self.errors("a query failed"):
            cur = self.execute(sql, params)
            return list(cur.fetchall())

    def one(self, sql: str, params=()):
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def insert_id(self, sql: str, params=()) -> int:
        """Run an INSERT ... RETURNING id and give the id."""
        cur = self.execute(sql + " RETURNING id", params)
        with self.errors("a query failed"):
            return int(cur.fetchone()[0])

    @contextlib.contextmanager
    def transaction(self):
        """One transaction: everything in it lands, or nothing does (also when the process is killed)."""
        if self._in_transaction:
            yield
            return
        with self.errors("a write failed"):
            if self.dialect == "sqlite":
                self.conn.execute("BEGIN IMMEDIATE")
                self._in_transaction = True
                try:
                    yield
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
                finally:
                    self._in_transaction = False
            else:
                with self.conn.transaction():
                    self._in_transaction = True
                    try:
                        yield
                    finally:
                        self._in_transaction = False

    def bulk(self, table: str, columns: tuple[str, ...], rows) -> int:
        """Insert many rows (an iterable of tuples): executemany in chunks (SQLite) or COPY (PostgreSQL)."""
        count = 0
        with self.errors(f"writing {table} failed"):
            if self.dialect == "sqlite":
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
                chunk: list = []
                for row in rows:
                    chunk.append(row)
                    if len(chunk) >= 50_000:
                        self.conn.executemany(sql, chunk)
                        count += len(chunk)
                        chunk = []
                if chunk:
                    self.conn.executemany(sql, chunk)
                    count += len(chunk)
                return count
            with self.conn.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            return count

    # ------------------------------------------------------------------ schema

    def version(self) -> int:
        """The schema version of the ledger (0: an empty database)."""
        if self.dialect == "sqlite":
            exists = self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
        else:
            exists = self.one("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                              "AND table_name = 'schema_version'")
        if not exists:
            return 0
        row = self.one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self, upto: int = schema.LATEST) -> int:
        """Apply the migrations this ledger lacks, up to `upto`; returns the version it is at."""
        if self.version() >= upto:
            return self.version()
        with self.transaction():
            if self.dialect == "postgresql":
                self.execute("SELECT pg_advisory_xact_lock(7349001)")  # one migrating process at a time
            self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "applied_at TEXT NOT NULL)")
            current = self.version()
            if current > schema.LATEST:
                raise LedgerError(f"{self.shown}: the ledger has schema version {current}, newer than this engine "
                                  f"knows ({schema.LATEST}): use a newer partner-points")
            for number in range(current + 1, upto + 1):
                for statement in schema.statements(number, self.dialect):
                    self.execute(statement)
                self.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (number, now()))
        return self.version()


def now() -> str:
    """The current time in UTC, ISO 8601 to the second (`POINTS_LEDGER_NOW` fixes it, for tests)."""
    fixed = os.environ.get("POINTS_LEDGER_NOW")
    if fixed:
        return fixed
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
