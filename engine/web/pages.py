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
    from engine.readers import InputError

    options = bench.options(trace_when=when, on_traced=found.append, on_reject=on_reject)
    try:
        result = evaluate(bench.program(), bench.data_arg(), options)
    except InputError as err:  # an export that cannot be read: already phrased for a person
        raise PageError(str(err), 500) from None
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


def search_run(ledger_pages: "LedgerPages", run_id: int, query: str) -> tuple[str, str] | None:
    """As `search`, in a run of the ledger (indexed look-ups)."""
    from engine.ledger import LedgerError

    query = query.strip()
    if not query:
        return None
    with ledger_pages.open() as ledger:
        try:
            ledger.run(run_id)
            if ledger.contracts(run_id, contract=query) or any(r["contract_id"] == query
                                                               for r in ledger.rejects(run_id)):
                return "contract", query
            if ledger.partner_periods(run_id, query):
                return "partner", query
        except LedgerError as err:
            raise PageError(str(err), 404) from None
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


def impact_report(bench: Workbench, old_name: str, new_name: str, progress=None, on_source=None, data=None):
    """engine.impact.impact of two versions on `data` (default: the workbench's export), as
    `points diff --impact` runs it."""
    from engine.impact import impact
    from engine.statusrun import read_legacy

    program = bench.program()
    old, new = version(program, old_name), version(program, new_name)
    legacy = read_legacy(str(bench.config.legacy)) if bench.config.legacy else {}
    options = bench.options(progress=progress, on_source=on_source)
    return impact(old, new, data or bench.data_arg(), options, first_day=program.first_day, legacy=legacy)


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


# --------------------------------------------------------------------------- the ledger
# Runs, and disputes answered from a recorded run: engine.ledger (its answers module reads a few
# indexed rows; one contract is re-derived with the row engine from the recorded source and record).


class LedgerPages:
    """The ledger's pages; a connection per request (SQLite or PostgreSQL), the re-built program of
    a run kept (a run's sources never change)."""

    def __init__(self, bench: Workbench):
        self.bench = bench
        self._programs: dict[int, object] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.bench.config.ledger)

    def open(self):
        from engine.ledger import LedgerError, open_ledger

        if not self.configured:
            raise PageError("no ledger is open: start the workbench with --ledger URL "
                            "(or ledger = \"...\" in points.toml)", 404)
        try:
            return open_ledger(self.bench.config.ledger, migrate=False)
        except LedgerError as err:
            raise PageError(str(err), 500) from None

    def program(self, ledger, run_id: int):
        with self._lock:
            cached = self._programs.get(run_id)
        if cached is None:
            cached = ledger.program(run_id)
            with self._lock:
                self._programs[run_id] = cached
        return cached

    def latest(self) -> int | None:
        with self.open() as ledger:
            return ledger.latest_run()

    def runs(self) -> list[dict]:
        with self.open() as ledger:
            return list(reversed(ledger.runs()))

    def run(self, run_id: int) -> dict:
        """A run: its entry, counts by reason code (the manifest's), partners by tier per period,
        and its output files with whether the folder still holds this run's bytes."""
        from engine.ledger import LedgerError

        with self.open() as ledger:
            try:
                run = ledger.run(run_id)
                periods = ledger.partner_periods(run_id)
                program = self.program(ledger, run_id)
            except LedgerError as err:
                raise PageError(str(err), 404) from None
        counts = run["manifest"].get("counts", {})
        tiers: dict[str, dict[str, int]] = {}
        for p in periods:
            tiers.setdefault(p["period"], {})
            tiers[p["period"]][p["tier"] or "(none)"] = tiers[p["period"]].get(p["tier"] or "(none)", 0) + 1
        known = [t.name for v in program.versions for t in sorted(v.plan.tiers, key=lambda t: t.threshold)]
        order = [t for t in dict.fromkeys(known) if any(t in c for c in tiers.values())]
        order += sorted({t for c in tiers.values() for t in c} - set(order))
        rejected = [{"field": field, "code": code, "rows": n}
                    for field, codes in sorted(counts.get("rejected_reasons", {}).items())
                    for code, n in sorted(codes.items())]
        return {"run": run, "unscored": sorted(counts.get("unscored_reasons", {}).items()), "rejected": rejected,
                "tiers": {"order": order, "periods": [(period, [c.get(t, 0) for t in order])
                                                     for period, c in sorted(tiers.items())]},
                "files": [{"name": name, "sha256": sha, "here": self._file_state(run, name, sha)}
                          for name, sha in sorted(_outputs(run).items())],
                "partners": sorted({p["partner_id"] for p in periods})[:2000]}

    @staticmethod
    def _file_state(run: dict, name: str, sha: str) -> str:
        path = _output_path(run, name)
        if path is None or not path.is_file():
            return "missing"
        return "ok" if _sha256(path) == sha else "replaced"

    def download(self, run_id: int, name: str) -> Path:
        """The path of output file `name` of a run: only a file its manifest names, in its output
        folder, with the bytes the run wrote."""
        run = self.run(run_id)["run"]
        sha = _outputs(run).get(name)
        path = _output_path(run, name) if sha else None
        if path is None:
            raise PageError(f"run {run_id} wrote no file {name!r}", 404)
        if not path.is_file():
            raise PageError(f"{path}: the file of run {run_id} is no longer there", 404)
        if _sha256(path) != sha:
            raise PageError(f"{path}: the folder now holds another run's file (its sha256 differs from run "
                            f"{run_id}'s)", 409)
        return path

    def contract(self, run_id: int, contract_id: str, why_not_rule: str | None) -> dict:
        from engine.explain import UnknownRule, contract_json, why_not
        from engine.ledger import LedgerError
        from engine.ledger.answers import contract_answer, rederive

        with self.open() as ledger:
            try:
                answer = contract_answer(ledger, run_id, contract_id)
                program = self.program(ledger, run_id) if answer["contracts"] else None
                traced = [rederive(ledger, run_id, c, program)[0] for c in answer["contracts"]]
            except LedgerError as err:
                raise PageError(str(err), 404) from None
        page = {"contract_id": contract_id, "data": f"run {run_id} of the ledger", "run": run_id,
                "rejected": answer["rejected"], "explained": None, "why_not": None, "rules": []}
        if not traced:
            return page
        t = traced[0]
        explained = contract_json(t, program.sources, "full")
        for rule in explained["rules"]:
            rule["source"] = _rule_source(program, t.version, rule["rule_id"])
        page["explained"] = explained
        page["partner_id"] = t.record.get("partner_id")
        page["recorded"] = answer["contracts"][0]
        if t.version is not None:
            page["rules"] = [r.name for r in t.version.plan.rules]
        if why_not_rule:
            try:
                result = why_not(t, why_not_rule, program.sources)
            except UnknownRule as err:
                raise PageError(str(err), 404) from None
            if t.version is not None and result.get("rule_id"):
                result["source"] = _rule_source(program, t.version, result["rule_id"])
            page["why_not"] = result
        return page

    def partner(self, run_id: int, partner_id: str, period: str | None, all_contracts: bool) -> dict:
        """A partner's periods of a run, in the shape of partner_page: points, adjustments, the earned
        tier against the thresholds (engine.explain.tier_comparison), points by rule, the contracts,
        the recorded review."""
        from engine.explain import TOP_CONTRACTS, PartnerExplanation, headline, tier_comparison, where
        from engine.ledger import LedgerError
        from engine.ledger.answers import partner_answer

        with self.open() as ledger:
            try:
                periods = [period] if period else [p["period"] for p in ledger.partner_periods(run_id, partner_id)]
                if not periods:
                    raise PageError(f"run {run_id} of the ledger has no results for partner {partner_id}", 404)
                answers = [partner_answer(ledger, run_id, partner_id, p, None if all_contracts else TOP_CONTRACTS)
                           for p in periods]
                program = self.program(ledger, run_id)
                reviews = ledger.status(run_id, partner_id)["reviews"]
            except LedgerError as err:
                raise PageError(str(err), 404) from None
        out = []
        for a in answers:
            pp = a["partner"]
            version = program.version_named(pp["tier_version"]) if pp["tier_version"] else None
            rules = {r.id: r for v in program.versions for r in v.plan.rules}
            exp = PartnerExplanation(partner_id, pp["period"], pp["points"], pp["tier"] or None, version)
            review = a["reviews"][0] if a["reviews"] else None
            held = None
            if review is not None:
                held = {"status": review["status_before"], "origin": review.get("origin") or None,
                        "review": f"reviewed at the end of {pp['period']}: {review['rule']} -> {review['status_after']}"
                                  f" ({review['points']} points, target {review['target']}; {review['at']})"}
            by_rule = []
            for r in a["rules"]:
                node = rules.get(r["rule"])
                by_rule.append({"rule": node.name if node else r["rule"], "rule_id": r["rule"], "points": r["points"],
                                "contracts": r["contracts"], "at": where(node.span) if node else "",
                                "source": _rule_source(program, version, r["rule"]) if version else None})
            contracts = [{"row": c["row"], "status": c["status"], "points": c["points"], "reason": c["reason"],
                          "code": c["code"], "contract": {"contract_id": c["contract_id"], "signed": c["signed"],
                                                          "product": c["product"]},
                          "rules": [{"rule": rules[rid].name if rid in rules else rid, "points": pts}
                                    for rid, pts in c["rules"]]} for c in a["contracts"]]
            scored = [c for c in contracts if c["status"] == "scored"]
            entry = {"period": pp["period"], "points": pp["total"], "earned": pp["tier"], "held": held,
                     "headline": headline(exp) + (f"; adjustments {_signed(pp['adjustments'])}, total "
                                                  f"{pp['total']:,}" if pp["adjustments"] else ""),
                     "comparison": tier_comparison(exp), "by_rule": by_rule, "scored": scored,
                     "scored_count": pp["scored"], "unscored": [c for c in contracts if c["status"] != "scored"],
                     "adjustments": a["adjustments"]}
            if a["more_contracts"]:
                entry["rest"] = {"contracts": a["more_contracts"], "points": a["more_points"]}
            out.append(entry)
        from engine.numbers import fmt_grouped

        chain = [f"{r['period']}: {fmt_grouped(Decimal(r['points']))} points, earned {r['earned']}; status {r['status_before']}: {r['rule']} "
                 f"-> {r['status_after']} ({r['at']})" for r in sorted(reviews, key=lambda r: r["period"])]
        return {"partner_id": partner_id, "data": f"run {run_id} of the ledger", "run": run_id, "periods": out,
                "status": chain, "all_periods": periods if not period else [period], "period": period}

    def run_input(self, run_id: int, candidates=()) -> str | list[str]:
        """The export(s) a run read, found by their sha256 among its recorded input path and
        `candidates` (the workbench's --data files): the impact of a version re-scores them."""
        run = self.run(run_id)["run"]
        wanted = [i for i in run["inputs"] if i["kind"] == "contracts"]
        places = [Path(run["input"])] if run.get("input") else []
        places += [Path(c) for c in candidates]
        found = {}
        for path in places:
            if path.is_file():
                found.setdefault(_sha256(path), str(path))
        paths = [found.get(i["sha256"]) for i in wanted]
        if not wanted or None in paths:
            names = ", ".join(i["name"] for i in wanted) or run.get("input") or "its export"
            raise PageError(f"run {run_id} read {names}; no file here has the bytes it read (its sha256), "
                            "so its impact cannot be computed: start the workbench with --data THAT-FILE", 404)
        return paths if len(paths) > 1 else paths[0]


def _outputs(run: dict) -> dict[str, str]:
    """The files a run wrote, name -> sha256: from its recorded manifest, else from manifest.json in
    its output folder when that manifest names this run (a later run into the folder replaces it);
    manifest.json itself when the folder is still this run's."""
    recorded = run["manifest"].get("outputs")
    folder = _output_path(run, "manifest.json")
    on_disk = None
    if folder is not None and folder.is_file():
        try:
            on_disk = json.loads(folder.read_text(encoding="utf-8"))
        except (ValueError, OSError, UnicodeDecodeError):
            on_disk = None
    mine = isinstance(on_disk, dict) and (on_disk.get("ledger") or {}).get("run") == run["id"]
    files = dict(recorded) if isinstance(recorded, dict) else (
        dict(on_disk.get("outputs") or {}) if mine else {})
    if mine:
        files["manifest.json"] = _sha256(folder)
    return files


def _output_path(run: dict, name: str) -> Path | None:
    """`name` in the run's output folder, or None when it would lie outside it."""
    if not run.get("out") or "/" in name or "\\" in name or name in ("", ".", ".."):
        return None
    folder = Path(run["out"]).resolve()
    path = (folder / name).resolve()
    return path if path.parent == folder else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- statements


def statement_html(bench: Workbench, ledger_pages: "LedgerPages", partner_id: str, period: str, run_id: int | None,
                   language: str) -> str:
    """The partner's statement (engine.report) as HTML: from a run of the ledger, or scored from the
    workbench's export now."""
    try:
        from engine.report import model, render
    except ImportError:
        raise PageError("statements need the statements extra: pip install 'partner-points[statements]'", 404) from None
    from engine.report.model import StatementError

    if language not in ("en", "de"):
        raise PageError(f"language {language!r}: en or de")
    try:
        if run_id is not None:
            from engine.ledger import LedgerError

            with ledger_pages.open() as ledger:
                try:
                    statement = model.from_ledger(ledger, run_id, partner_id, period)
                except LedgerError as err:
                    raise PageError(str(err), 404) from None
        else:
            legacy = str(bench.config.legacy) if bench.config.legacy else None
            statement = model.from_evaluation(bench.program(), bench.data_arg(), partner_id, period, legacy,
                                              options=bench.options())
    except StatementError as err:
        raise PageError(str(err), 404) from None
    return render.html(statement, language)
