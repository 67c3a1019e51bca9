"""The project file `points.toml` and the environment: defaults a team declares once.

A setting's value comes from, in this order (the first that gives one wins):

1. the command line (a flag, or PROGRAM as an argument);
2. the environment (`POINTS_PROGRAM`, `POINTS_DECIMAL_COMMA`, ...), for CI;
3. the project file `points.toml`;
4. the built-in default.

The project file is found upward from the working directory: the first folder holding a
`points.toml` (a file) wins; the search stops at the first folder that holds a `.git` (the root of
a repository, checked itself) or at the file system root. `POINTS_PROJECT=FILE` names the file
instead (it must exist); `POINTS_PROJECT=none` uses none. Paths in the file are relative to the
file's folder; paths in the environment and on the command line to the working directory.

`load()` reads it with tomllib; a file that is not TOML is an error naming file, line and column,
and a wrong key or value names the file, the key and, where it can be found, its line.
"""
from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

FILE_NAME = "points.toml"
PROJECT_ENV = "POINTS_PROJECT"
DIALECTS = ("csv", "excel-de")
FORMATS = ("csv", "xlsx")
DELIMITERS = (",", ";", "tab")


class ProjectError(Exception):
    """A project file or an environment variable that cannot be used, phrased for a person."""


@dataclass(frozen=True)
class Setting:
    """One setting: its key in the file (`table.key`), its variable, its flag, its kind and default."""

    key: str
    env: str
    flag: str
    kind: str  # path, bool, text, int, list, or a choice (the tuple `choices`)
    default: object = None
    choices: tuple[str, ...] = ()
    help: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("program", "POINTS_PROGRAM", "PROGRAM", "path", None, help="the ruleset folder or file"),
    Setting("input.delimiter", "POINTS_DELIMITER", "--delimiter", "choice", None, DELIMITERS,
            "CSV delimiter of the exports (default: detected)"),
    Setting("input.decimal_comma", "POINTS_DECIMAL_COMMA", "--decimal-comma", "bool", False,
            help="decimals in the exports are written 2,5"),
    Setting("input.encoding", "POINTS_ENCODING", "--encoding", "text", "utf-8",
            help="text encoding of CSV / JSON Lines exports"),
    Setting("input.sheet", "POINTS_SHEET", "--sheet", "text", None, help="XLSX sheet (default: the first)"),
    Setting("input.carry", "POINTS_CARRY", "--carry", "list", (),
            help="export columns carried to contracts.csv and partners.csv"),
    Setting("output.folder", "POINTS_OUT", "--out", "path", None, help="the folder `evaluate` writes"),
    Setting("output.dialect", "POINTS_OUTPUT_DIALECT", "--output-dialect", "choice", "csv", DIALECTS,
            "csv (`,` `.`) or excel-de (`;`, decimal comma, BOM)"),
    Setting("output.format", "POINTS_OUTPUT_FORMAT", "--output-format", "choice", "csv", FORMATS,
            "csv files or xlsx workbooks"),
    Setting("workers", "POINTS_WORKERS", "--workers", "int", 1,
            help="deprecated, without effect (large CSV exports: --engine auto)"),
    Setting("memory", "POINTS_MEMORY", "--memory", "size", None,
            help="the DuckDB engine's memory limit, e.g. 2GB (beyond it DuckDB spills to a temporary folder; "
                 "default: a quarter of the memory, 512 MiB to 2 GiB)"),
    Setting("ledger", "POINTS_LEDGER", "--ledger", "ledger", None,
            help="the run ledger: a SQLite file or postgresql://..."),
    Setting("serve.token", "POINTS_SERVE_TOKEN", "-", "secret", None,
            help="`points serve`: the token of the read-only role"),
    Setting("serve.editor_token", "POINTS_SERVE_EDITOR_TOKEN", "-", "secret", None,
            help="`points serve`: the token of the editor role"),
    Setting("serve.users", "POINTS_SERVE_USERS", "-", "secret", None,
            help="`points serve`: users as name:password:role (role viewer or editor), comma-separated"),
)
BY_KEY = {s.key: s for s in SETTINGS}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass
class Project:
    """The project file in use (or none) and the settings it gives, by key."""

    path: Path | None = None
    sha256: str | None = None
    values: dict[str, object] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # key -> `file:line:col` (or `file: key`)
    searched_from: Path | None = None

    def describe(self) -> dict | None:
        """The project file as the manifest names it: base name and sha256 (None without one)."""
        if self.path is None:
            return None
        return {"file": self.path.name, "sha256": self.sha256}


@dataclass(frozen=True)
class Value:
    """A setting's effective value and where it came from: flag, environment, file or default."""

    value: object
    source: str  # "flag", "environment", "project file", "default"
    origin: str  # the flag, the variable, `points.toml:LINE` or "built-in"


def find(start: Path | None = None) -> Path | None:
    """The project file upward from `start` (the working directory), or None; see the module doc."""
    named = os.environ.get(PROJECT_ENV)
    if named is not None and named.strip():
        if named.strip().lower() == "none":
            return None
        path = Path(named)
        if not path.is_file():
            raise ProjectError(f"{PROJECT_ENV}={named}: no such file")
        return path
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def load(start: Path | None = None) -> Project:
    """The project found from `start` (none is a Project without a path), read and checked."""
    path = find(start)
    project = Project(searched_from=(start or Path.cwd()).absolute())
    if path is None:
        return project
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ProjectError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as err:
        raise ProjectError(f"{path}: not UTF-8 text (byte {err.start + 1})") from None
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        at = re.search(r" ?\(at line (\d+), column (\d+)\)$", message)
        if at:
            line, col, message = at.group(1), at.group(2), message[:at.start()]
        elif message.endswith("(at end of document)"):
            line, col = max(1, len(text.splitlines())), len(text.splitlines()[-1]) + 1 if text.splitlines() else 1
            message = message.removesuffix("(at end of document)").strip()
        else:
            line = col = None
        where = f"{path}:{line}:{col}" if line else str(path)
        raise ProjectError(f"{where}: not a valid TOML file: {message}") from None
    project.path, project.sha256 = path, hashlib.sha256(raw).hexdigest()
    project.values, project.where = _values(path, text, data)
    return project


def _values(path: Path, text: str, data: dict) -> tuple[dict[str, object], dict[str, str]]:
    """The settings of a read file by key, each checked (paths made relative to the file's folder),
    and where each is written."""
    out: dict[str, object] = {}
    places: dict[str, str] = {}
    for key, value in _flatten(data):
        setting = BY_KEY.get(key)
        where = _locate(path, text, key)
        if setting is None:
            from dsl.errors import did_you_mean

            if isinstance(value, dict):
                hint = did_you_mean(key, ["input", "output", "serve"])
                known = f"; did you mean [{hint}]?" if hint else " (tables: [input], [output], [serve])"
                raise ProjectError(f"{where}: unknown table [{key}]{known}")
            hint = did_you_mean(key, list(BY_KEY))
            known = f"; did you mean '{hint}'?" if hint else f" (settings: {', '.join(BY_KEY)})"
            raise ProjectError(f"{where}: unknown setting '{key}'{known}")
        out[key] = _from_file(setting, value, where, path.parent)
        places[key] = where
    return out, places


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if prefix or name not in ("input", "output"):
                yield name, value  # reported as an unknown setting
                continue
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _locate(path: Path, text: str, key: str) -> str:
    """`file:line:col` of the key's line in the file where it can be found, else `file: key`."""
    table, _, name = key.rpartition(".")
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
            if current == key:  # a table where a setting was expected, or an unknown one
                return f"{path}:{number}:{len(line) - len(line.lstrip()) + 1}"
            continue
        if current == table:
            match = re.match(rf"\s*(?:{re.escape(table)}\.)?\"?{re.escape(name)}\"?\s*=", line)
        elif current == "" and table:
            match = re.match(rf"\s*{re.escape(table)}\s*\.\s*{re.escape(name)}\s*=", line)
        else:
            match = None
        if match:
            col = len(line) - len(line.lstrip()) + 1
            return f"{path}:{number}:{col}"
    return f"{path}: {key}"


# a memory size: a number and its unit (KB, MB, GB, TB by 1,000; KiB, MiB, GiB, TiB by 1,024)
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT])(i?)B\s*", re.IGNORECASE)
SMALLEST_SIZE = 64 * 2**20  # below it DuckDB cannot hold a run's vectors


def parse_size(text: str, where: str) -> int:
    """The bytes of a memory size written like `2GB`, `1.5 GiB` or `512MB`; ProjectError naming
    `where` for anything else, or a size below 64 MiB."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ProjectError(f"{where}: expected a memory size like 2GB, 1.5GiB or 512MB")
    number, unit, binary = match.groups()
    size = int(Decimal(number) * (1024 if binary else 1000) ** ("KMGT".index(unit.upper()) + 1))
    if size < SMALLEST_SIZE:
        raise ProjectError(f"{where}: a memory limit of at least 64MiB is needed")
    return size


def _from_file(setting: Setting, value, where: str, base: Path):
    kind = setting.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ProjectError(f"{where}: {setting.key} must be true or false, not {_shown(value)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ProjectError(f"{where}: {setting.key} must be a whole number of 1 or more, not {_shown(value)}")
        return value
    if kind == "secret":  # never repeated in a message: `points config` shows only that it is set
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return ",".join(value)
        if not isinstance(value, str) or not value:
            raise ProjectError(f"{where}: {setting.key} must be a text (or a list of texts)")
        return value
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ProjectError(f"{where}: {setting.key} must be a list of column names, not {_shown(value)}")
        return _column_list(value, f"{where}: {setting.key}")
    if not isinstance(value, str) or not value:
        raise ProjectError(f"{where}: {setting.key} must be a text, not {_shown(value)}")
    if kind == "choice":
        return _choice(setting, value, where)
    if kind == "size":
        parse_size(value, f"{where}: {setting.key}")
        return value.strip()
    if kind == "ledger" and "://" in value:  # a database URL; a SQLite file is a path like any other
        return value
    if kind in ("path", "ledger"):
        from engine.program import display_path

        return display_path(base / value) if not Path(value).is_absolute() else value
    return value


def _from_env(setting: Setting, value: str):
    where = f"{setting.env}={value}"
    kind = setting.kind
    if kind == "secret":
        return value
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ProjectError(f"{where}: expected true or false (1 / 0, yes / no)")
    if kind == "int":
        if not value.strip().isdigit() or int(value) < 1:
            raise ProjectError(f"{where}: expected a whole number of 1 or more")
        return int(value)
    if kind == "list":
        return _column_list([v for v in value.split(",")], where)
    if kind == "choice":
        return _choice(setting, value, where)
    if kind == "size":
        parse_size(value, where)
        return value.strip()
    return value


def _choice(setting: Setting, value: str, where: str) -> str:
    if value not in setting.choices:
        choices = ", ".join(f"'{c}'" for c in setting.choices)
        raise ProjectError(f"{where}: {setting.key} must be one of {choices}, not '{value}'")
    return value


def _column_list(values: list[str], where: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in values)
    if not all(names):
        raise ProjectError(f"{where}: an empty column name")
    seen = set()
    for name in names:
        if name in seen:
            raise ProjectError(f"{where}: column '{name}' is named twice")
        seen.add(name)
    return names


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value) if not isinstance(value, (list, dict)) else type(value).__name__.replace("dict", "a table")


def resolve(project: Project, flags: dict[str, object]) -> dict[str, Value]:
    """Every setting's effective value: `flags` (key -> value given, None when not given) first, then
    the environment, the project file, the built-in default."""
    out: dict[str, Value] = {}
    for setting in SETTINGS:
        given = flags.get(setting.key)
        if given is not None and given != ():
            out[setting.key] = Value(given, "flag", setting.flag)
            continue
        env = os.environ.get(setting.env)
        if env is not None and env.strip() != "":
            out[setting.key] = Value(_from_env(setting, env), "environment", setting.env)
            continue
        if setting.key in project.values:
            out[setting.key] = Value(project.values[setting.key], "project file", project.where[setting.key])
            continue
        out[setting.key] = Value(setting.default, "default", "built-in")
    return out


def shown_value(value) -> str:
    """A setting's value as `points config` prints it."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return str(value)
