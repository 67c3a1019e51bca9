"""The run ledger: runs recorded in a database, and the answers read back from it.

`open_ledger(url)` opens (and creates or migrates) a ledger: a SQLite file (a path or
`sqlite:///path`) or a PostgreSQL database (`postgresql://...`). The schema is in
engine/ledger/schema.py and docs/ledger.md.

Writing: a run is recorded in one transaction (`record_run`), after its output folder is in
place; its id is taken first (`begin_run`), so that manifest.json can name it. A reserved run that
never commits (the process was killed) stays invisible: every reader lists recorded runs only.
Nothing edits a recorded run: adjustments and closed periods are rows of their own.

Points come back as Decimal, counts as int; no float is ever stored.
"""
from __future__ import annotations

import json
from decimal import Decimal

from engine.ledger.db import Database, LedgerError, now, parse_url, shown_url
from engine.ledger.recording import (
    CONTRACT_FIELDS, REJECT_FIELDS, Recording, decode_record, encode_record, rules_json,
)

__all__ = ["open_ledger", "Ledger", "LedgerError", "Recording", "encode_record", "decode_record", "parse_url",
           "shown_url"]

ZERO = Decimal(0)
RECORDED = "recorded"


def open_ledger(url: str, *, migrate: bool = True) -> "Ledger":
    """The ledger at `url`, its schema brought up to date (a new file or database gets every table)."""
    db = Database(url)
    try:
        from engine.ledger import schema

        current = db.version()
        if current > schema.LATEST:
            raise LedgerError(f"{db.shown}: the ledger has schema version {current}, newer than this engine "
                              f"knows ({schema.LATEST}): use a newer partner-points")
        if migrate:
            db.migrate()
    except BaseException:
        db.close()
        raise
    return Ledger(db)


def _dec(text) -> Decimal:
    return Decimal(text) if text not in (None, "") else ZERO


def _points_text(value) -> str:
    from engine.numbers import fmt_points

    return fmt_points(Decimal(value))


class Ledger:
    """One open ledger. Close it with `close()` or use it as a context manager."""

    def __init__(self, db: Database):
        self.db = db
        self.url = db.url
        self.shown = db.shown

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        self.db.close()

    # ================================================================== writing

    def begin_run(self, program: str = "", input: str = "", kind: str = "evaluate") -> int:
        """Reserve a run id (invisible until `record_run` commits the run under it)."""
        with self.db.transaction():
            return self.db.insert_id("INSERT INTO runs (state, kind, program, input, manifest) VALUES (?, ?, ?, ?, ?)",
                                     ("recording", kind, program, input, "{}"))

    def record_run(self, result, options=None, recording: Recording | None = None, *, run_id: int | None = None,
                   out: str | None = None, manifest: dict | None = None) -> int:
        """Record an evaluate run (an engine.run.RunResult with its RunOptions) in one transaction:
        the manifest, every version with its source text, the inputs, every contract with its validated
        record (from `recording`), every rejected row, partner-period results and rule totals.
        Returns the run id (`run_id` when one was reserved with `begin_run`)."""
        from engine.numbers import fmt_points
        from engine.run import RunOptions, manifest as run_manifest

        options = options or RunOptions()
        data = manifest if manifest is not None else run_manifest(result, options)
        counts = result.counts
        program = result.program
        db = self.db
        with db.transaction():
            if run_id is None:
                run_id = db.insert_id("INSERT INTO runs (state, kind, program, input, manifest) VALUES (?, ?, ?, ?, ?)",
                                      ("recording", "evaluate", program.name, result.data, "{}"))
            elif not db.one("SELECT 1 FROM runs WHERE id = ? AND state = 'recording'", (run_id,)):
                raise LedgerError(f"{self.shown}: run {run_id} is not a reserved run")
            db.bulk("run_versions", ("run_id", "position", "version", "effective", "file", "sha256", "source"),
                    ((run_id, i, v.name, v.effective.isoformat(), v.path, v.sha256, v.source)
                     for i, v in enumerate(program.versions)))
            db.bulk("run_inputs", ("run_id", "position", "kind", "name", "sha256", "row_count"),
                    ((run_id, i, "contracts", f.file, f.sha256, f.counts.rows) for i, f in enumerate(result.files)))
            if recording is not None:
                db.bulk("contracts", CONTRACT_FIELDS, recording.contracts(run_id))
                db.bulk("rejects", REJECT_FIELDS, recording.rejects(run_id))
            partners = result.partners
            db.bulk("partner_periods", ("run_id", "partner_id", "period", "points", "tier", "tier_version", "scored",
                                        "unscored"),
                    ((run_id, p.partner_id, p.period, fmt_points(p.points), p.tier, p.tier_version, p.scored,
                      p.unscored) for p in partners))
            db.bulk("partner_rules", ("run_id", "partner_id", "period", "rule", "points", "contracts"),
                    ((run_id, p.partner_id, p.period, rule, fmt_points(p.by_rule[rule]), p.rule_contracts[rule])
                     for p in partners for rule in sorted(p.by_rule)))
            db.execute("UPDATE runs SET state = ?, recorded_at = ?, program = ?, input = ?, row_count = ?, scored = ?, "
                       "unscored = ?, rejected = ?, points_total = ?, partners = ?, out = ?, manifest = ? WHERE id = ?",
                       (RECORDED, now(), program.name, result.data, counts.rows, counts.scored, counts.unscored,
                        counts.rejected, fmt_points(result.points_total), len({p.partner_id for p in partners}),
                        out, json.dumps(data, ensure_ascii=False, default=str), run_id))
        if db.dialect == "postgresql":  # fresh statistics, so that the planner uses the indexes at once
            for table in ("contracts", "rejects", "partner_periods", "partner_rules"):
                db.execute(f"ANALYZE {table}")
        return run_id

    def record_input(self, run_id: int, kind: str, name: str, sha256: str, rows: int | None = None) -> None:
        """Add a legacy or quality input (with its sha256) to a recorded run."""
        self.run(run_id)
        with self.db.transaction():
            position = self.db.one("SELECT COALESCE(MAX(position), -1) + 1 FROM run_inputs WHERE run_id = ?",
                                   (run_id,))[0]
            self.db.execute("INSERT INTO run_inputs (run_id, position, kind, name, sha256, row_count) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (run_id, position, kind, name, sha256, rows))

    def record_status(self, run_id: int, reviews: list[dict], standing: list[dict],
                      legacy: tuple[str, str] | None = None) -> None:
        """The review decisions and standings of `points status` for a recorded run (replacing earlier ones)."""
        self.run(run_id)
        with self.db.transaction():
            self.db.execute("DELETE FROM reviews WHERE run_id = ?", (run_id,))
            self.db.bulk("reviews", ("run_id", "partner_id", "period", "kind", "data"),
                         [(run_id, r["partner_id"], r["period"], "review", json.dumps(r, ensure_ascii=False))
                          for r in reviews]
                         + [(run_id, s["partner_id"], s["period"] or "", "standing", json.dumps(s, ensure_ascii=False))
                            for s in standing])
            if legacy is not None:
                self.record_input(run_id, "legacy", *legacy)

    def record_quality(self, run_id: int, kpis: list[dict], findings: list[dict],
                       source: tuple[str, str, int | None] | None = None) -> None:
        """The quality results of `points quality` for a recorded run (replacing earlier ones)."""
        self.run(run_id)
        with self.db.transaction():
            self.db.execute("DELETE FROM quality_results WHERE run_id = ?", (run_id,))
            self.db.bulk("quality_results", ("run_id", "partner_id", "period", "kind", "data"),
                         [(run_id, k["partner_id"], k.get("period", ""), "kpi", json.dumps(k, ensure_ascii=False))
                          for k in kpis]
                         + [(run_id, f["partner_id"], f.get("last", ""), "finding", json.dumps(f, ensure_ascii=False))
                            for f in findings])
            if source is not None:
                self.record_input(run_id, "quality", *source)

    def close_period(self, run_id: int, period: str, author: str = "") -> dict:
        """Mark `run_id` the final run of `period` (once: a closed period stays closed)."""
        run = self.run(run_id)
        with self.db.transaction():
            closed = self.db.one("SELECT run_id FROM closes WHERE period = ?", (period,))
            if closed:
                raise LedgerError(f"{self.shown}: period {period} is already closed with run {closed[0]}")
            if not self.db.one("SELECT 1 FROM partner_periods WHERE run_id = ? AND period = ?", (run_id, period)):
                periods = sorted({p["period"] for p in self.partner_periods(run_id)})
                raise LedgerError(f"{self.shown}: run {run_id} has no results in period {period}"
                                  + (f"; its periods: {', '.join(periods)}" if periods else ""))
            self.db.execute("INSERT INTO closes (period, run_id, closed_at, author) VALUES (?, ?, ?, ?)",
                            (period, run_id, now(), author))
        return {"period": period, "run": run["id"]}

    def adjust(self, partner: str, period: str, points, reason: str, author: str) -> int:
        """Record a manual adjustment of a partner's points in a period; returns its id. Runs stay as they are."""
        points = Decimal(points)
        if not points.is_finite():
            raise LedgerError(f"{points}: an adjustment is a number of points")
        if not reason.strip() or not author.strip():
            raise LedgerError("an adjustment needs a reason and an author")
        with self.db.transaction():
            return self.db.insert_id("INSERT INTO adjustments (partner_id, period, points, reason, author, created_at) "
                                     "VALUES (?, ?, ?, ?, ?, ?)", (partner, period, _points_text(points), reason,
                                                                   author, now()))

    # ================================================================== reading

    def runs(self, only: int | None = None) -> list[dict]:
        """Every recorded run (or the one `only` names), oldest first: id, when recorded, program,
        versions, input, counts, totals, the periods it is final for, and the closed periods it restates."""
        where, params = ("AND r.id = ?", (RECORDED, only)) if only is not None else ("", (RECORDED,))
        rows = self.db.query("SELECT id, recorded_at, kind, program, input, row_count, scored, unscored, rejected, "
                             f"points_total, partners, out FROM runs r WHERE state = ? {where} ORDER BY id", params)
        versions: dict[int, list] = {}
        for run_id, name, sha in self.db.query(
                "SELECT v.run_id, v.version, v.sha256 FROM run_versions v JOIN runs r ON r.id = v.run_id "
                f"WHERE r.state = ? {where} ORDER BY v.run_id, v.position", params):
            versions.setdefault(run_id, []).append({"version": name, "sha256": sha})
        closes = self.closes()
        periods: dict[int, set] = {}
        for run_id, period in self.db.query(
                "SELECT DISTINCT p.run_id, p.period FROM partner_periods p JOIN runs r ON r.id = p.run_id "
                f"WHERE r.state = ? {where}", params):
            periods.setdefault(run_id, set()).add(period)
        out = []
        for (run_id, at, kind, program, data, rows_, scored, unscored, rejected, total, partners, folder) in rows:
            final = sorted(p for p, c in closes.items() if c["run"] == run_id)
            restates = {p: c["run"] for p, c in sorted(closes.items())
                        if c["run"] < run_id and p in periods.get(run_id, ())}
            out.append({"id": run_id, "recorded_at": at, "kind": kind, "program": program,
                        "versions": versions.get(run_id, []), "input": data,
                        "counts": {"rows": rows_, "scored": scored, "unscored": unscored, "rejected": rejected},
                        "points_total": _dec(total), "partners": partners, "out": folder,
                        "periods": sorted(periods.get(run_id, ())), "final": final, "restates": restates})
        return out

    def run(self, run_id) -> dict:
        """One recorded run: as `runs()` lists it, with its manifest and inputs. LedgerError if there is none."""
        try:
            run_id = int(run_id)
        except (TypeError, ValueError):
            raise LedgerError(f"{self.shown}: '{run_id}' is not a run id (a whole number; see `points runs`)") from None
        row = self.db.one("SELECT manifest FROM runs WHERE id = ? AND state = ?", (run_id, RECORDED))
        if row is None:
            last = self.db.one("SELECT MAX(id) FROM runs WHERE state = ?", (RECORDED,))
            known = f" (runs 1 to {last[0]}; see `points runs`)" if last and last[0] else " (it holds no runs yet)"
            raise LedgerError(f"{self.shown}: there is no run {run_id}{known}")
        entry = self.runs(run_id)[0]
        entry["manifest"] = json.loads(row[0])
        entry["inputs"] = [{"kind": k, "name": n, "sha256": s, "rows": c} for k, n, s, c in self.db.query(
            "SELECT kind, name, sha256, row_count FROM run_inputs WHERE run_id = ? ORDER BY position", (run_id,))]
        return entry

    def latest_run(self) -> int | None:
        row = self.db.one("SELECT MAX(id) FROM runs WHERE state = ?", (RECORDED,))
        return int(row[0]) if row and row[0] is not None else None

    def closes(self) -> dict[str, dict]:
        """period -> {"run", "closed_at", "author"} of every closed period."""
        return {p: {"run": r, "closed_at": at, "author": a}
                for p, r, at, a in self.db.query("SELECT period, run_id, closed_at, author FROM closes ORDER BY period")}

    def partner_periods(self, run_id, partner: str | None = None, period: str | None = None) -> list[dict]:
        """Per partner and period of a run: points of the run, the adjustments' sum, the total, the
        earned tier (of the run's points) and its version, contracts scored and unscored."""
        run_id = self.run(run_id)["id"] if not isinstance(run_id, int) else run_id
        sql = ("SELECT partner_id, period, points, tier, tier_version, scored, unscored FROM partner_periods "
               "WHERE run_id = ?")
        params: list = [run_id]
        if partner is not None:
            sql += " AND partner_id = ?"
            params.append(partner)
        if period is not None:
            sql += " AND period = ?"
            params.append(period)
        adjusted = self._adjustment_sums(partner, period)
        out = []
        for p, per, points, tier, tier_version, scored, unscored in self.db.query(sql + " ORDER BY partner_id, period",
                                                                                  params):
            adj = adjusted.get((p, per), ZERO)
            out.append({"partner_id": p, "period": per, "points": _dec(points), "adjustments": adj,
                        "total": _dec(points) + adj, "tier": tier, "tier_version": tier_version,
                        "scored": scored, "unscored": unscored})
        return out

    def _adjustment_sums(self, partner, period) -> dict:
        sums: dict = {}
        for a in self.adjustments(partner, period):
            key = (a["partner_id"], a["period"])
            sums[key] = sums.get(key, ZERO) + a["points"]
        return sums

    def contracts(self, run_id, partner: str | None = None, period: str | None = None,
                  contract: str | None = None) -> list[dict]:
        """The contracts of a run (by partner, period or contract id), in input order: ids, signed date,
        period, version, product, status, points, the rules that paid [(rule id, points)], reason code
        and message."""
        sql = ("SELECT file, input_row, contract_id, partner_id, signed, period, version, product, status, points, "
               "rules, code, reason FROM contracts WHERE run_id = ?")
        params: list = [int(run_id)]
        for column, value in (("contract_id", contract), ("partner_id", partner), ("period", period)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        out = []
        for file, row, cid, pid, signed, per, version, product, status, points, rules, code, reason in self.db.query(
                sql + " ORDER BY input_row + 0, file", params):
            out.append({"file": file, "row": row, "contract_id": cid, "partner_id": pid, "signed": signed,
                        "period": per, "version": version, "product": product, "status": status,
                        "points": _dec(points), "rules": [(r, Decimal(p)) for r, p in json.loads(rules)],
                        "code": code or None, "reason": reason or None})
        return out

    def top_contracts(self, run_id, partner: str, period: str, top: int | None) -> tuple[list[dict], int, Decimal]:
        """The `top` contracts of a partner-period with the most points (None: all), as `contracts` gives
        them, and the count and points of the rest; read through a covering index (no row is decoded
        that is not shown)."""
        import heapq

        keys = [(Decimal(p), -row, file) for p, row, file in self.db.query(
            "SELECT points, input_row, file FROM contracts WHERE run_id = ? AND partner_id = ? AND period = ?",
            (int(run_id), partner, period))]
        chosen = sorted(keys, reverse=True) if top is None else heapq.nlargest(top, keys)
        shown = []
        for start in range(0, len(chosen), 500):  # one query per 500 shown (one for the usual 20)
            part = chosen[start:start + 500]
            found = {(c[1], c[0]): c for c in self.db.query(
                "SELECT file, input_row, contract_id, partner_id, signed, period, version, product, status, points, "
                "rules, code, reason FROM contracts WHERE run_id = ? AND partner_id = ? AND period = ? AND input_row "
                f"IN ({', '.join('?' for _ in part)})", (int(run_id), partner, period, *(-row for _, row, _ in part)))}
            shown.extend(self._contract_dict(found[(-row, file)]) for _, row, file in part)
        rest = len(keys) - len(chosen)
        rest_points = sum((k[0] for k in keys), Decimal(0)) - sum((k[0] for k in chosen), Decimal(0))
        return shown, rest, rest_points

    @staticmethod
    def _contract_dict(c) -> dict:
        file, row, cid, pid, signed, per, version, product, status, points, rules, code, reason = c
        return {"file": file, "row": row, "contract_id": cid, "partner_id": pid, "signed": signed,
                "period": per, "version": version, "product": product, "status": status,
                "points": _dec(points), "rules": [(r, Decimal(p)) for r, p in json.loads(rules)],
                "code": code or None, "reason": reason or None}

    def rejects(self, run_id, row: int | None = None) -> list[dict]:
        """The rejected rows of a run (or the one on `row`): file, row, ids as given, field, value, code, reason."""
        sql = ("SELECT file, input_row, contract_id, partner_id, field, value, code, reason FROM rejects "
               "WHERE run_id = ?")
        params: list = [int(run_id)]
        if row is not None:
            sql += " AND input_row = ?"
            params.append(int(row))
        return [{"file": f, "row": r, "contract_id": c, "partner_id": p, "field": fi, "value": v, "code": co,
                 "reason": re_} for f, r, c, p, fi, v, co, re_ in self.db.query(sql + " ORDER BY input_row + 0, file",
                                                                             params)]

    def rules(self, run_id, partner: str, period: str) -> list[dict]:
        """Points by rule of one partner-period of a run, most points first: rule, points, contracts."""
        rows = self.db.query("SELECT rule, points, contracts FROM partner_rules WHERE run_id = ? AND partner_id = ? "
                             "AND period = ?", (int(run_id), partner, period))
        out = [{"rule": r, "points": _dec(p), "contracts": c} for r, p, c in rows]
        return sorted(out, key=lambda r: (-r["points"], r["rule"]))

    def adjustments(self, partner: str | None = None, period: str | None = None) -> list[dict]:
        """Manual adjustments, oldest first: id, partner, period, points, reason, author, when."""
        sql = "SELECT id, partner_id, period, points, reason, author, created_at FROM adjustments WHERE 1 = 1"
        params: list = []
        if partner is not None:
            sql += " AND partner_id = ?"
            params.append(partner)
        if period is not None:
            sql += " AND period = ?"
            params.append(period)
        return [{"id": i, "partner_id": p, "period": per, "points": _dec(pts), "reason": r, "author": a,
                 "created_at": at} for i, p, per, pts, r, a, at in self.db.query(sql + " ORDER BY id", params)]

    def status(self, run_id, partner: str | None = None) -> dict:
        """The review decisions and standings `points status --ledger` recorded for a run:
        {"reviews": [status.csv rows], "standing": [standing.csv rows]} (empty lists when none)."""
        return self._kinds("reviews", run_id, partner, {"review": "reviews", "standing": "standing"})

    def quality(self, run_id, partner: str | None = None) -> dict:
        """The quality results `points quality --ledger` recorded for a run: {"kpis": [...], "findings": [...]}."""
        return self._kinds("quality_results", run_id, partner, {"kpi": "kpis", "finding": "findings"})

    def _kinds(self, table: str, run_id, partner, names: dict) -> dict:
        sql = f"SELECT kind, data FROM {table} WHERE run_id = ?"
        params: list = [int(run_id)]
        if partner is not None:
            sql += " AND partner_id = ?"
            params.append(partner)
        out: dict = {name: [] for name in names.values()}
        for kind, data in self.db.query(sql + " ORDER BY partner_id, period", params):
            out[names[kind]].append(json.loads(data))
        return out

    def sources(self, run_id) -> list[dict]:
        """The versions of a run with their recorded source texts, in effective order."""
        return [{"version": v, "effective": e, "file": f, "sha256": s, "source": src} for v, e, f, s, src in
                self.db.query("SELECT version, effective, file, sha256, source FROM run_versions WHERE run_id = ? "
                              "ORDER BY position", (int(run_id),))]

    def program(self, run_id):
        """The run's program, parsed, checked and compiled again from its recorded source texts
        (so a past run can be re-derived after the ruleset files changed)."""
        from dsl.errors import RulesetError
        from engine.program import _parse_and_check_text, _program

        self.run(run_id)
        versions = self.sources(run_id)
        try:
            return _program([(v["file"], *_parse_and_check_text(v["source"], v["file"])) for v in versions], False)
        except RulesetError as err:
            raise LedgerError(f"{self.shown}: the recorded sources of run {run_id} no longer compile "
                              f"({err.diagnostics[0].code if err.diagnostics else 'error'})") from None

    def record(self, run_id, row: int, file: str | None = None) -> dict:
        """The validated input record of a contract row of a run (Decimals and dates as the validator made them)."""
        sql = "SELECT file, record FROM contracts WHERE run_id = ? AND input_row = ?"
        params: list = [int(run_id), int(row)]
        if file is not None:
            sql += " AND file = ?"
            params.append(file)
        found = self.db.query(sql, params)
        if not found:
            raise LedgerError(f"{self.shown}: run {run_id} has no valid contract on row {row}"
                              + (f" of {file}" if file else ""))
        if len(found) > 1:
            raise LedgerError(f"{self.shown}: row {row} is in several files of run {run_id} "
                              f"({', '.join(sorted(f for f, _ in found))}): say which")
        return decode_record(found[0][1])

    def history(self, partner: str) -> list[dict]:
        """A partner's results in every recorded run: run, period, points, adjustments, total, tier, the
        status after the period's review (when `points status` recorded one), final / restated."""
        closes = self.closes()
        reviews: dict = {}
        for run_id, period, data in self.db.query("SELECT run_id, period, data FROM reviews WHERE partner_id = ? AND "
                                                  "kind = 'review'", (partner,)):
            reviews[(run_id, period)] = json.loads(data).get("status_after")
        adjusted = self._adjustment_sums(partner, None)
        out = []
        for run_id, at, period, points, tier, version in self.db.query(
                "SELECT p.run_id, r.recorded_at, p.period, p.points, p.tier, p.tier_version FROM partner_periods p "
                "JOIN runs r ON r.id = p.run_id WHERE r.state = ? AND p.partner_id = ? ORDER BY p.period, p.run_id",
                (RECORDED, partner)):
            close = closes.get(period)
            adj = adjusted.get((partner, period), ZERO)
            role = "final" if close and close["run"] == run_id else (
                "restatement" if close and run_id > close["run"] else "")
            out.append({"run": run_id, "recorded_at": at, "period": period, "points": _dec(points),
                        "adjustments": adj, "total": _dec(points) + adj, "tier": tier, "tier_version": version,
                        "status": reviews.get((run_id, period)), "role": role,
                        "final_run": close["run"] if close else None})
        return out
