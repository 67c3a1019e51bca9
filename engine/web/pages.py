"""What each page shows, as plain data for the templates.

Every number and sentence comes from the project's own API: engine.run.evaluate scores,
engine.explain explains (the dicts `points explain --json` prints), engine.diff and engine.impact
compare, engine.program / dsl.checks check, engine.examples runs the examples. Nothing here
scores, compares or checks a second way; it picks, orders and labels.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from dsl.errors import RulesetError
from engine.web.config import WebConfig

SAVES_LOG = "saved-versions.jsonl"  # in the program folder: who saved which version file, when
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}\.rules$")


class PageError(Exception):
    """Something a person asked for that cannot be shown (an unknown id, a bad file name), phrased
    for that person; `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- the program


class Workbench:
    """The program (re-read when its files change), the data, and the saves log."""

    def __init__(self, config: WebConfig):
        self.config = config
        self._lock = threading.Lock()
        self._key = None
        self._program = None
        self._error: RulesetError | None = None

    def _files(self) -> list[Path]:
        from engine.program import ruleset_files

        return ruleset_files(self.config.program)

    def program(self):
        """The program as engine.program.load_program loads it; PageError when it has errors."""
        from engine.program import load_program

        files = self._files()
        key = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        with self._lock:
            if key != self._key:
                try:
                    self._program, self._error = load_program(self.config.program), None
                except RulesetError as err:
                    self._program, self._error = None, err
                self._key = key
            if self._error is not None:
                first = self._error.diagnostics[0]
                raise PageError(f"the program cannot be used until its errors are fixed: {first.headline()}", 500)
            return self._program

    def saves(self) -> dict[str, dict]:
        """The saves log by file name (the latest entry of each)."""
        path = self.config.program_folder / SAVES_LOG
        out: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                    out[entry["file"]] = entry
        return out

    def data_label(self) -> str:
        from engine.program import display_path

        return ", ".join(display_path(p) for p in self.config.data)

    def data_arg(self):
        if not self.config.data:
            raise PageError("no contract export was given to the workbench (points serve PROGRAM --data FILE)", 404)
        return [str(p) for p in self.config.data] if len(self.config.data) > 1 else str(self.config.data[0])

    def options(self, **extra):
        from engine.commands.common import run_options

        return run_options(**self.config.read, **extra)


# --------------------------------------------------------------------------- source lines


def source_block(program, file: str, first: int, last: int) -> dict:
    """Lines `first`..`last` of a version file, highlighted, for a page."""
    from engine.web.render import highlight_lines

    text = program.sources.get(file, "")
    lines = highlight_lines(text)
    first, last = max(first, 1), min(last, len(lines))
    return {"file": file, "first": first, "lines": [(n, lines[n - 1]) for n in range(first, last + 1)]}


def _rule_node(version, rule_id: str):
    return next((r for r in version.ruleset.rules if r.id == rule_id), None)


def _rule_source(program, version, rule_id: str) -> dict | None:
    node = _rule_node(version, rule_id) if version is not None else None
    if node is None or node.span is None:
        return None
    return source_block(program, node.span.file, node.span.line, node.span.end_line)


# --------------------------------------------------------------------------- disputes


def _trace(bench: Workbench, when, reject_when=None):
    from engine.run import evaluate

    found, rejected = [], []
    on_reject = None if reject_when is None else (lambda r: rejected.append(r) if reject_when(r) else None)
    options = bench.options(trace_when=when, on_traced=found.append, on_reject=on_reject)
    try:
        result = evaluate(bench.program(), bench.data_arg(), options)
    except PageError:
        raise
    except Exception as err:  # engine.readers.InputError and the like: already phrased for a person
        from engine.readers import InputError

        if isinstance(err, InputError):
            raise PageError(str(err), 500) from None
        raise
    return found, rejected, result


def search(bench: Workbench, query: str) -> tuple[str, str] | None:
    """("contract", id) or ("partner", id) for an id as typed, or None when the data has neither."""
    query = query.strip()
    if not query:
        return None
    found, rejected, _ = _trace(bench, lambda n, rec: query in (rec["contract_id"], rec["partner_id"]),
                                lambda r: query in (r.contract_id, r.partner_id))
    if any(t.record["contract_id"] == query for t in found) or any(r.contract_id == query for r in rejected):
        return "contract", query
    if found or rejected:
        return "partner", query
    return None


def contract_page(bench: Workbench, contract_id: str, why_not_rule: str | None = None) -> dict:
    from engine.explain import UnknownRule, contract_json, rejected_json, why_not

    program = bench.program()
    found, rejected, _ = _trace(bench, lambda n, rec: rec["contract_id"] == contract_id,
                                lambda r: r.contract_id == contract_id)
    if not found and not rejected:
        raise PageError(f"{bench.data_label()}: there is no contract {contract_id}", 404)
    page = {"contract_id": contract_id, "data": bench.data_label(), "rejected": [rejected_json(r) for r in rejected],
            "explained": None, "why_not": None, "rules": []}
    if not found:
        return page
    traced = found[0]
    explained = contract_json(traced, program.sources, "full")
    for rule in explained["rules"]:
        rule["source"] = _rule_source(program, traced.version, rule["rule_id"])
    page["explained"] = explained
    page["partner_id"] = traced.record.get("partner_id")
    if traced.version is not None:
        page["rules"] = [r.name for r in traced.version.plan.rules]
    if why_not_rule:
        try:
            result = why_not(traced, why_not_rule, program.sources)
        except UnknownRule as err:
            raise PageError(str(err), 404) from None
        if traced.version is not None and result.get("rule_id"):
            result["source"] = _rule_source(program, traced.version, result["rule_id"])
        page["why_not"] = result
    return page


def partner_page(bench: Workbench, partner_id: str, period: str | None = None, all_contracts: bool = False) -> dict:
    """A partner's periods as `points explain --partner` gives them; each period lists the
    contracts with the most points (engine.explain.TOP_CONTRACTS) unless `all_contracts`."""
    from engine.cli import Failure
    from engine.commands.explain import partner_explanations
    from engine.explain import TOP_CONTRACTS, headline, partner_json, tier_comparison
    from engine.status import StatusError

    program = bench.program()
    found, _, result = _trace(bench, lambda n, rec: rec["partner_id"] == partner_id)
    legacy = str(bench.config.legacy) if bench.config.legacy else None
    try:
        explanations, chain = partner_explanations(program, found, result, partner_id, period, legacy,
                                                   bench.data_label())
    except (Failure, StatusError) as err:
        raise PageError(str(err), 404) from None
    periods = []
    for e in explanations:
        data = partner_json(e, program.sources, "short")
        scored = [c for c in data["contracts"] if c["status"] == "scored"]
        scored.sort(key=lambda c: (-Decimal(c["points"]), c["row"]))
        data["scored_count"] = len(scored)
        if not all_contracts and len(scored) > TOP_CONTRACTS:
            rest = scored[TOP_CONTRACTS:]
            data["rest"] = {"contracts": len(rest), "points": sum((Decimal(c["points"]) for c in rest), Decimal(0))}
            scored = scored[:TOP_CONTRACTS]
        data["scored"] = scored
        data["unscored"] = [c for c in data["contracts"] if c["status"] != "scored"]
        data["headline"] = headline(e)
        data["comparison"] = tier_comparison(e)
        for rule in data["by_rule"]:
            rule["source"] = _rule_source(program, e.tier_version, rule["rule_id"]) if e.tier_version else None
        periods.append(data)
    periods.sort(key=lambda p: p["period"])
    return {"partner_id": partner_id, "data": bench.data_label(), "periods": periods, "status": chain,
            "all_periods": sorted({p["period"] for p in periods}), "period": period}


# --------------------------------------------------------------------------- versions


def versions_page(bench: Workbench) -> dict:
    program = bench.program()
    saves = bench.saves()
    rows = []
    for v in program.versions:
        until = program.until(v)
        saved = saves.get(Path(v.path).name)
        rows.append({"name": v.name, "effective": v.effective.isoformat(), "until": until.isoformat() if until else None,
                     "file": v.path, "sha256": v.sha256, "saved": saved if saved and saved.get("sha256") == v.sha256 else None,
                     "rules": len(v.ruleset.rules), "tiers": [t.name for t in (v.ruleset.tiers.tiers if v.ruleset.tiers else ())]})
    return {"program": program.name, "versions": rows}


def version(program, name: str):
    found = program.version_named(name)
    if found is None:
        raise PageError(f"{program.name} has no version \"{name}\"; versions: "
                        + ", ".join(v.name for v in program.versions), 404)
    return found


def diff_page(bench: Workbench, old_name: str, new_name: str) -> dict:
    from engine.diff import diff_rulesets
    from engine.diff_render import edit_to_json

    program = bench.program()
    old, new = version(program, old_name), version(program, new_name)
    result = diff_rulesets(old.ruleset, new.ruleset)
    def shown(edits):
        return [edit_to_json(e) | {"text": e.describe()} for e in edits]
    return {"old": old.name, "new": new.name, "equal": result.equal, "meaningful": shown(result.meaningful),
            "informational": shown(result.informational), "versions": [v.name for v in program.versions]}


def impact_report(bench: Workbench, old_name: str, new_name: str, progress=None, on_source=None):
    """engine.impact.impact of two versions on the workbench's data, as `points diff --impact` runs it."""
    from engine.impact import impact
    from engine.statusrun import read_legacy

    program = bench.program()
    old, new = version(program, old_name), version(program, new_name)
    legacy = read_legacy(str(bench.config.legacy)) if bench.config.legacy else {}
    options = bench.options(progress=progress, on_source=on_source)
    return impact(old, new, bench.data_arg(), options, first_day=program.first_day, legacy=legacy)


def impact_page(report) -> dict:
    """An engine.impact.ImpactReport as the page shows it: the totals, a tier matrix per period
    with totals, partners by tier under each version (the chart), biggest movers, rules, edits."""
    from engine.numbers import fmt_grouped
    from engine.web.render import tier_chart

    order = list(report.tier_order)
    old_label, new_label = report.labels
    matrices = []
    overall: dict = {}
    for period, counter in sorted(report.transitions.items()):
        for pair, n in counter.items():
            overall[pair] = overall.get(pair, 0) + n
        matrices.append(_matrix(period, counter, order))
    by_tier_old = {t: sum(n for (a, _), n in overall.items() if a == t) for t in order}
    by_tier_new = {t: sum(n for (_, b), n in overall.items() if b == t) for t in order}
    return {
        "old": old_label, "new": new_label, "order": order, "matrices": matrices,
        "totals": {"old": fmt_grouped(report.old_total), "new": fmt_grouped(report.new_total),
                   "delta": _signed(report.delta)},
        "chart": tier_chart(order, by_tier_old, by_tier_new, old_label, new_label),
        "movers": [p.to_row() | {"delta_text": _signed(p.delta)} for p in report.movers()],
        "changes": [p.to_row() for p in report.tier_changes()],
        "rules": [{"rule_id": r.rule_id, "old": fmt_grouped(r.old_points), "new": fmt_grouped(r.new_points),
                   "delta": _signed(r.delta)} for r in report.rules],
        "edits": [u.to_json() for u in report.edits], "interaction": _signed(report.interaction),
    }


def _matrix(period: str, counter, order: list[str]) -> dict:
    rows = [{"tier": a, "cells": [counter.get((a, b), 0) for b in order],
             "total": sum(counter.get((a, b), 0) for b in order)} for a in order]
    return {"period": period, "rows": rows, "totals": [sum(counter.get((a, b), 0) for a in order) for b in order],
            "total": sum(counter.values())}


def _signed(value: Decimal) -> str:
    from engine.numbers import fmt_grouped

    return ("+" if value > 0 else "") + fmt_grouped(value)


# --------------------------------------------------------------------------- edit


def _others(bench: Workbench, skip: str | None = None) -> list[tuple[str, str]]:
    from engine.program import display_path

    return [(display_path(f), f.read_text(encoding="utf-8")) for f in bench._files() if f.name != skip]


def target_name(bench: Workbench, file_name: str) -> str:
    """The new file's name as messages show it; PageError for a name that is not a plain `.rules`
    file name in the program folder."""
    from engine.program import display_path

    if not FILE_NAME.match(file_name or ""):
        raise PageError(f"file name {file_name!r}: use letters, digits, '.', '-' or '_', ending in .rules")
    folder = bench.config.program_folder
    path = (folder / file_name).resolve()
    if path.parent != folder.resolve():
        raise PageError(f"file name {file_name!r}: the file must be in the program folder")
    return display_path(folder / file_name)


def check_text(bench: Workbench, file_name: str, text: str) -> dict:
    """The findings of `text` as the file `file_name` beside the program's other versions:
    syntax, names, meaning, static analysis, the version set and the compiler, as `points check`
    finds them. Returns {"ok", "errors", "warnings", "findings": [Diagnostic.to_json() + rendered]}."""
    from engine.program import program_from_texts

    name = target_name(bench, file_name)
    texts = _others(bench, skip=file_name) + [(name, text)]
    try:
        program = program_from_texts(texts)
        diags = list(program.warnings)
    except RulesetError as err:
        diags = list(err.diagnostics)
    findings = []
    for d in diags:
        entry = d.to_json()
        entry["headline"] = d.headline()
        entry["mine"] = d.span.file == name
        findings.append(entry)
    errors = sum(1 for f in findings if f["severity"] == "error")
    return {"ok": errors == 0, "errors": errors, "warnings": len(findings) - errors, "findings": findings,
            "file": name}


def run_examples(bench: Workbench, file_name: str, text: str) -> dict:
    """The examples of the edited text, run by engine.examples against the program with it."""
    from engine.examples import run_all
    from engine.program import program_from_texts

    checked = check_text(bench, file_name, text)
    if not checked["ok"]:
        return {"ran": False, "check": checked, "examples": []}
    name = checked["file"]
    program = program_from_texts(_others(bench, skip=file_name) + [(name, text)])
    runs = run_all(program, lambda v, ex: v.path == name)
    return {"ran": True, "check": checked, "passed": sum(1 for r in runs if r.passed),
            "failed": sum(1 for r in runs if not r.passed),
            "examples": [{"name": r.example.name, "at": r.where, "passed": r.passed, "failures": r.failures,
                          "notes": r.notes, "points": str(r.points), "tier": r.tier} for r in runs]}


def save_version(bench: Workbench, file_name: str, text: str, saved_by: str, role: str) -> dict:
    """Write `text` as a new version file when its check passes; never replaces a file.

    The saves log records the file, its version and sha256, who saved it and when."""
    checked = check_text(bench, file_name, text)
    if not checked["ok"]:
        return {"saved": False, "check": checked}
    folder = bench.config.program_folder
    path = folder / file_name
    data = text.encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise PageError(f"{checked['file']} exists: a saved version is never replaced; choose a new file name",
                        409) from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    from dsl.parser import parse

    version_name = parse(text, file=checked["file"]).version
    entry = {"file": file_name, "version": version_name, "sha256": hashlib.sha256(data).hexdigest(),
             "saved_by": saved_by, "role": role,
             "saved_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}
    with open(folder / SAVES_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    return {"saved": True, "check": checked, "entry": entry}


def suggested_name(bench: Workbench, version_name: str) -> str:
    """A file name for a copy of `version_name` that does not exist yet."""
    folder = bench.config.program_folder
    base = re.sub(r"[^A-Za-z0-9._-]", "-", version_name).replace(".", "-") or "version"
    n = 2
    name = f"{base}-draft.rules"
    while (folder / name).exists():
        name = f"{base}-draft{n}.rules"
        n += 1
    return name
