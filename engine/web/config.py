"""Who may use the workbench and how: the roles, the credentials, the folders it may read.

Two roles: `viewer` (disputes, runs, versions, statements) and `editor` (also edit and save
versions). Credentials come from the environment or the project file (engine.project):
`serve.token` (a viewer's token), `serve.editor_token`, and `serve.users` (`name:password:role`
entries). With none configured the workbench is for the one person at this machine: it binds only
to a loopback address and everyone who reaches it is an editor.
"""
from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("viewer", "editor")


class ConfigError(Exception):
    """A setting of the workbench that cannot be used, phrased for a person."""


@dataclass(frozen=True)
class User:
    name: str
    role: str


@dataclass
class Credentials:
    token: str | None = None
    editor_token: str | None = None
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (password, role)

    @property
    def configured(self) -> bool:
        return bool(self.token or self.editor_token or self.users)

    def by_token(self, given: str) -> User | None:
        """The user a token stands for, or None (compared in constant time)."""
        if not given:
            return None
        if self.editor_token and hmac.compare_digest(given.encode(), self.editor_token.encode()):
            return User("editor (token)", "editor")
        if self.token and hmac.compare_digest(given.encode(), self.token.encode()):
            return User("viewer (token)", "viewer")
        return None

    def by_password(self, name: str, password: str) -> User | None:
        entry = self.users.get(name)
        if entry is None:
            hmac.compare_digest(password.encode(), b"-")  # the same work for an unknown name
            return None
        if hmac.compare_digest(password.encode(), entry[0].encode()):
            return User(name, entry[1])
        return None


def parse_users(entries, where: str) -> dict[str, tuple[str, str]]:
    """`name:password:role` entries (role viewer or editor) as a dict; ConfigError names `where`."""
    users: dict[str, tuple[str, str]] = {}
    for entry in entries:
        name, sep, rest = entry.partition(":")
        password, sep2, role = rest.rpartition(":")
        if not sep or not sep2 or not name or not password:
            raise ConfigError(f"{where}: {entry.split(':')[0]!r}: write each user as name:password:role")
        if role not in ROLES:
            raise ConfigError(f"{where}: user {name!r}: role {role!r} is not one of {', '.join(ROLES)}")
        if name in users:
            raise ConfigError(f"{where}: user {name!r} is given twice")
        users[name] = (password, role)
    return users


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1, localhost and the rest of the loopback range."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class WebConfig:
    """Everything the application needs; built by `points serve` (or a test)."""

    program: Path  # the program's folder (or its one file)
    data: tuple[Path, ...] = ()  # exports the dispute pages score when no ledger run is chosen
    legacy: Path | None = None  # legacy statuses for the status chain
    ledger: str | None = None  # the ledger's URL
    credentials: Credentials = field(default_factory=Credentials)
    secret: bytes = b""  # signs the session cookie; random per start unless given
    read_only: bool = False  # no editor role at all (the edit pages are refused)
    read: dict = field(default_factory=dict)  # read options for the exports (decimal comma, ...)

    @property
    def program_folder(self) -> Path:
        return self.program if self.program.is_dir() else self.program.parent
