"""A throwaway PostgreSQL server for the ledger tests: a cluster in a temporary folder, reached
through a unix socket only, started as the `postgres` user when the tests run as root (initdb
refuses root), stopped and removed at the end. `start()` returns None with the reason when no
server can be started here, so the tests skip with that message."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def _bin_dir() -> Path | None:
    for folder in (os.environ.get("POINTS_PG_BIN"), *BIN_DIRS):
        if folder and (Path(folder) / "initdb").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, bin_dir: Path, folder: Path, port: int, as_user: list[str]):
        self.bin_dir, self.folder, self.port, self.as_user = bin_dir, folder, port, as_user
        self._databases = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.folder}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database on the server; its URL."""
        import psycopg

        self._databases += 1
        name = f"ledger_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> tuple[Server | None, str]:
    """(a running server, "") or (None, why not)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install 'partner-points[postgres]')"
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None, "no PostgreSQL server binaries (initdb) found: install postgresql (.ci/run does)"
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="points-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            return None, "running as root without runuser: initdb refuses root"
        as_user = [runuser, "-u", "postgres", "--"]
        try:
            shutil.chown(folder, "postgres")
        except (LookupError, OSError) as err:
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"running as root and no usable postgres user ({err})"
    port = _free_port()
    steps = [
        [*as_user, str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "-E",
         "UTF8", "--no-sync"],
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"), "-w",
         "-t", "60", "-o", f"-k {folder} -p {port} -c listen_addresses='' -c fsync=off -c full_page_writes=off",
         "start"],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as err:
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"cannot start PostgreSQL: {err}"
        if done.returncode != 0:
            log = (folder / "server.log")
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            if log.is_file():
                detail += log.read_text(errors="replace").strip().splitlines()[-2:]
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"cannot start PostgreSQL ({Path(step[len(as_user)]).name}): {' | '.join(detail)}"
    return Server(bin_dir, folder, port, as_user), ""
