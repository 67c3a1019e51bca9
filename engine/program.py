"""A program: the effective-dated versions of one ruleset, loaded, checked and compiled once.

A program is a folder of `.rules` files, one complete version each (or a single file: a program of
one version). Versions do not inherit from each other: each file alone says what was in force, and
`points diff` says what changed. A contract is scored by the version with the latest `effective`
date on or before its signed date; a tier review uses the version in force on the period's last day.

Loading collects every finding of every file before it gives up, so a program manager sees all of
them in one run. Codes V4xx are about the set of versions (docs/errors/).
"""
from __future__ import annotations

import bisect
import contextlib
import gc
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from dsl.ast import NO_SPAN, Ruleset, Span
from dsl.errors import Diagnostic, RulesetError, sort_diagnostics

MAX_VERSIONS = 500


@dataclass(frozen=True)
class Version:
    """One version of a program: its AST, source text and hash, and its compiled plan."""

    ruleset: Ruleset
    path: str
    source: str
    sha256: str
    plan: object  # engine.compile.Plan (kept untyped here to keep this module import-light)

    @property
    def name(self) -> str:
        return self.ruleset.version or "?"

    @property
    def effective(self) -> date:
        return self.ruleset.effective or date.min

    def describe(self) -> dict:
        """The version as the manifest and `points versions` name it."""
        return {"version": self.name, "effective": self.effective.isoformat(), "file": self.path,
                "sha256": self.sha256}


@dataclass(frozen=True)
class Program:
    """The versions of one program, sorted by effective date."""

    name: str
    versions: tuple[Version, ...]
    warnings: tuple[Diagnostic, ...] = ()
    _starts: tuple[date, ...] = field(default=(), repr=False)

    @property
    def sources(self) -> dict[str, str]:
        return {v.path: v.source for v in self.versions}

    @property
    def first_day(self) -> date:
        return self.versions[0].effective

    @property
    def period(self) -> str:
        """The period unit partner totals use: the newest version's."""
        return self.versions[-1].ruleset.period

    def version_for(self, day: date) -> Version | None:
        """The version in force on `day`: the latest effective on or before it, or None."""
        i = bisect.bisect_right(self._starts, day)
        return self.versions[i - 1] if i else None

    def until(self, version: Version) -> date | None:
        """The last day `version` is in force, or None when it is the newest."""
        i = self.versions.index(version)
        if i + 1 < len(self.versions):
            return self.versions[i + 1].effective - timedelta(days=1)
        return None

    def version_named(self, name: str) -> Version | None:
        """The version called `name`, or None."""
        return next((v for v in self.versions if v.name == name), None)

    def versions_knowing(self, product: str) -> list[Version]:
        """The versions whose plan knows `product` (for reasons like "it was in 2016.03")."""
        return [v for v in self.versions if product in v.plan.products]


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, as users typed it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def _natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def ruleset_files(path: Path) -> list[Path]:
    """The `.rules` files of a program: the file itself, or those in the folder, sorted by name."""
    if path.is_dir():
        return sorted(path.glob("*.rules"), key=lambda p: _natural_key(p.name))
    return [path]


def parse_and_check(path: Path) -> tuple[Ruleset | None, str, list[Diagnostic]]:
    """Parse and check one file; returns the AST (None on syntax errors), its source and findings."""
    from dsl.checks import check
    from dsl.parser import parse_file

    shown = display_path(path)
    try:
        ruleset = parse_file(shown)
    except RulesetError as err:
        return None, err.sources.get(shown, ""), list(err.diagnostics)
    source = Path(shown).read_text(encoding="utf-8")
    return ruleset, source, list(check(ruleset))


def _parse_and_check_text(text: str, name: str) -> tuple[Ruleset | None, str, list[Diagnostic]]:
    """As parse_and_check, for a ruleset that is not a file (standard input)."""
    from dsl.checks import check
    from dsl.parser import parse

    try:
        ruleset = parse(text, file=name)
    except RulesetError as err:
        return None, text, list(err.diagnostics)
    return ruleset, text, list(check(ruleset))


def load_program(path: str | Path, *, strict_warnings: bool = False) -> Program:
    """Load, check and compile every version under `path`; RulesetError lists all findings."""
    root = Path(path)
    if not root.exists():
        raise RulesetError([missing_path(str(path))])
    files = ruleset_files(root)
    if not files:
        raise RulesetError([Diagnostic("V401", f"the folder {path} holds no .rules files", _path_span(str(path)),
                                       hint="a program is a folder of `.rules` files, one per version")])
    if len(files) > MAX_VERSIONS:
        raise RulesetError([Diagnostic("V401", f"{len(files)} versions in {path}: at most {MAX_VERSIONS}",
                                       _path_span(str(path)))])
    with _no_collection():
        return _program([(display_path(f), *parse_and_check(f)) for f in files], strict_warnings)


def program_from_text(text: str, name: str = "<stdin>") -> Program:
    """A program of the one version in `text` (a ruleset read from standard input)."""
    with _no_collection():
        return _program([(name, *_parse_and_check_text(text, name))], False)


def program_from_texts(texts: list[tuple[str, str]]) -> Program:
    """A program of the versions `texts` holds as (file name, text) pairs, checked and compiled as a
    folder of those files would be (an edited version checked with the others before it is saved)."""
    with _no_collection():
        return _program([(name, *_parse_and_check_text(text, name)) for name, text in texts], False)


@contextlib.contextmanager
def _no_collection():
    """The cyclic garbage collector paused while a program loads, as it was before afterwards.

    Loading builds a large tree of small, acyclic objects (a 5,000-row table is some 50,000 nodes
    and spans), all of which survive; every collection the allocations trigger walks all of them
    again, which doubled the load time of a large program. Nothing of it waits for the collector:
    reference counting frees what is dropped.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _program(parsed: list, strict_warnings: bool) -> Program:
    """Check the version set and compile each version; `parsed` holds (name, ruleset, source, findings)."""
    from engine.compile import compile_ruleset

    loaded, diags, sources = [], [], {}
    for shown, ruleset, source, found in parsed:
        sources[shown] = source
        diags.extend(found)
        if ruleset is not None:
            loaded.append((ruleset, source))
    diags.extend(_version_set_findings([r for r, _ in loaded]))
    errors = [d for d in diags if d.is_error or strict_warnings]
    if errors:
        raise RulesetError(sort_diagnostics(diags), sources)
    versions, refused = [], []
    for r, s in loaded:
        try:
            plan = compile_ruleset(r)
        except ValueError as err:  # the checker passed what the compiler cannot run: say where
            refused.append(_compile_error(r, err))
            continue
        versions.append(Version(r, r.file, s, hashlib.sha256(s.encode("utf-8")).hexdigest(), plan))
    if refused:
        raise RulesetError(sort_diagnostics(refused), sources)
    versions.sort(key=lambda v: v.effective)
    return Program(
        name=versions[0].ruleset.program or "?",
        versions=tuple(versions),
        warnings=tuple(sort_diagnostics(d for d in diags if not d.is_error)),
        _starts=tuple(v.effective for v in versions),
    )


def _compile_error(ruleset: Ruleset, err: ValueError) -> Diagnostic:
    """C501 from the compiler's message, which starts with `file:line:col: `."""
    match = re.match(r"^(.*?):(\d+):(\d+): (.*)$", str(err), re.S)
    if match:
        line, col = int(match.group(2)), int(match.group(3))
        return Diagnostic("C501", match.group(4), Span(match.group(1), line, col, line, col + 1))
    return Diagnostic("C501", str(err), _file_span(ruleset.file))


def missing_path(path: str) -> Diagnostic:
    """V401 for a path that does not exist: no position, and the closest neighbour as did-you-mean."""
    from dsl.errors import did_you_mean

    given = Path(path)
    what = "file" if given.suffix == ".rules" else "folder"
    parent = given.parent
    hint = None
    try:
        neighbours = {p.name: p for p in parent.iterdir()
                      if p.is_dir() or p.suffix == ".rules"} if parent.is_dir() else {}
    except OSError:
        neighbours = {}
    guess = did_you_mean(given.name, neighbours) if given.name else None
    if guess is not None:
        shown = str(parent / guess) if str(parent) != "." or path.startswith("./") else guess
        hint = f"did you mean {shown}?"
    elif not parent.is_dir():
        hint = f"the folder {parent} does not exist either"
    return Diagnostic("V401", f"no such {what}", _path_span(path), hint=hint)


def _path_span(path: str) -> Span:
    """A finding about a whole path: no line or column (rendered as `path: error ...`)."""
    return Span(path, 0, 0, 0, 0)


def _file_span(file: str) -> Span:
    return Span(file, 1, 1, 1, 1)


def _header_span(ruleset: Ruleset, kind: str) -> Span:
    from dsl import ast

    node = {"program": ast.ProgramDecl, "version": ast.VersionDecl, "effective": ast.EffectiveDecl}[kind]
    decl = ruleset._one(node)
    return decl.span if decl is not None and decl.span is not NO_SPAN else _file_span(ruleset.file)


def _version_set_findings(rulesets: list[Ruleset]) -> list[Diagnostic]:
    """V4xx: duplicate names or dates, several programs, dates out of version order."""
    diags: list[Diagnostic] = []
    complete = [r for r in rulesets if r.version and r.effective and r.program]
    diags += _duplicates(complete, "version", "V402", "version \"{}\" is also declared in {}")
    diags += _duplicates(complete, "effective", "V403", "effective date {} is also declared in {}")
    votes = Counter(r.program for r in complete)
    if len(votes) > 1:  # the program most files name is the folder's; the others are the odd ones
        main = max(votes, key=lambda name: (votes[name], -[r.program for r in complete].index(name)))
        first = next(r for r in complete if r.program == main)
        for r in complete:
            if r.program != main:
                diags.append(Diagnostic(
                    "V404", f"program \"{r.program}\" differs from \"{main}\" in {first.file}",
                    _header_span(r, "program"),
                    hint="all versions in one folder must belong to one program"))
    by_name = sorted(complete, key=lambda r: _natural_key(r.version))
    for before, after in zip(by_name, by_name[1:]):
        if after.effective < before.effective:
            diags.append(Diagnostic(
                "V405", f"version \"{after.version}\" takes effect on {after.effective}, before its "
                f"predecessor \"{before.version}\" ({before.effective})", _header_span(after, "effective"),
                severity="warning", hint="versions are ordered by name; check the date or the name"))
    return diags


def _duplicates(rulesets: list[Ruleset], attr: str, code: str, template: str) -> list[Diagnostic]:
    seen: dict = {}
    diags = []
    for r in rulesets:
        value = getattr(r, attr)
        if value in seen:
            diags.append(Diagnostic(code, template.format(value, seen[value].file), _header_span(r, attr),
                                    hint="each version needs its own name and effective date"))
        else:
            seen[value] = r
    return diags
