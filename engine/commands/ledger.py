"""`points runs`, `history`, `close`, `adjust`, `verify`, and the ledger side of `evaluate`, `status`,
`quality` and `explain --run` (engine.ledger holds the data; this module only asks and prints)."""
from __future__ import annotations

import contextlib
from decimal import Decimal, InvalidOperation

import click

from engine.cli import FINDINGS, OK, Failure, emit_json
from engine.commands.common import json_option, out_console, settings
from engine.numbers import fmt_grouped, fmt_points

ledger_option = click.option("--ledger", "ledger_url", metavar="URL",
                             help="The run ledger: a SQLite file (or sqlite:///PATH) or postgresql://... "
                                  "(default: `ledger` in points.toml, or POINTS_LEDGER).")


# ---------------------------------------------------------------------------- opening a ledger

def resolve_ledger(given: str | None, required: bool = True) -> str | None:
    """The ledger URL: the flag, else POINTS_LEDGER, else points.toml's `ledger`."""
    value = settings(ledger=given)[1]["ledger"].value
    if value is None and required:
        raise click.UsageError("no ledger: give --ledger URL (or set `ledger` in points.toml, or POINTS_LEDGER)")
    return value


@contextlib.contextmanager
def opened(url: str):
    """The ledger at `url`, open for the block; its errors become a Failure (exit 2) naming the ledger."""
    from engine.ledger import LedgerError, open_ledger

    try:
        ledger = open_ledger(url)
    except LedgerError as err:
        raise Failure(str(err)) from None
    try:
        yield ledger
    except LedgerError as err:
        raise Failure(str(err)) from None
    finally:
        ledger.close()


class EvaluateRecorder:
    """The ledger side of `points evaluate --ledger`: a run id reserved before the run (manifest.json
    names it), every row collected while it goes, one transaction after the folder is in place."""

    def __init__(self, url: str, program, data: list[str]):
        from engine.ledger import LedgerError, Recording, open_ledger

        try:
            self.ledger = open_ledger(url)
            self.run_id = self.ledger.begin_run(program.name, ", ".join(data))
        except LedgerError as err:
            raise Failure(str(err)) from None
        self.recording = Recording()

    def options(self, on_reject=None) -> dict:
        """The RunOptions fields that feed the recording (`on_reject` still called for each reject)."""
        record = self.recording.on_reject

        def both(rejected) -> None:
            record(rejected)
            if on_reject is not None:
                on_reject(rejected)
        return {"on_row": self.recording.on_row, "on_reject": both, "ledger_run": {"run": self.run_id}}

    def finish(self, result, options, out_dir: str | None) -> int:
        from engine.ledger import LedgerError

        try:
            return self.ledger.record_run(result, options, self.recording, run_id=self.run_id, out=out_dir)
        except LedgerError as err:
            raise Failure(str(err)) from None
        finally:
            self.close()

    def close(self) -> None:
        self.recording.close()
        self.ledger.close()


def matching_run(ledger, program, input_sha256: str | None = None) -> int:
    """The latest run of `program` (the same versions by sha256) that scored the file with `input_sha256`."""
    wanted = [v.sha256 for v in program.versions]
    for run in reversed(ledger.runs()):
        if [v["sha256"] for v in run["versions"]] != wanted:
            continue
        if input_sha256 is not None:
            inputs = ledger.run(run["id"])["inputs"]
            if input_sha256 not in [i["sha256"] for i in inputs if i["kind"] == "contracts"]:
                continue
        return run["id"]
    what = "that scored this export " if input_sha256 else ""
    raise Failure(f"{ledger.shown}: no run of {program.name} with these versions {what}is recorded: record one "
                  "with `points evaluate ... --ledger URL`, or name it with --run")


def record_status(url: str, run: int | None, program, data: str, reviews: list[dict], standing: list[dict],
                  legacy: str | None) -> int:
    """`points status --ledger`: the reviews and standings added to the run that scored DATA."""
    from engine.readers import sha256_of

    with opened(url) as ledger:
        run_id = ledger.run(run)["id"] if run is not None else matching_run(ledger, program, sha256_of(data))
        from pathlib import Path

        ledger.record_status(run_id, reviews, standing, (Path(legacy).name, sha256_of(legacy)) if legacy else None)
        return run_id


def record_quality(url: str, run: int | None, program, data: str, contracts: str | None, kpis: list[dict],
                   findings: list[dict], rows: int) -> int:
    """`points quality --ledger`: the KPIs and findings added to a run (--run, else the latest of the program,
    that scored --contracts when it is an export)."""
    from pathlib import Path

    from engine.readers import sha256_of

    with opened(url) as ledger:
        if run is not None:
            run_id = ledger.run(run)["id"]
        else:
            sha = sha256_of(contracts) if contracts and Path(contracts).is_file() else None
            run_id = matching_run(ledger, program, sha)
        ledger.record_quality(run_id, kpis, findings, (Path(data).name, sha256_of(data), rows))
        return run_id


# ---------------------------------------------------------------------------- points runs

RUNS_EXAMPLES = """
\b
Examples:
  points runs --ledger out/demo.ledger
  points runs --ledger postgresql://points@db.example/points --json
"""


@click.command(epilog=RUNS_EXAMPLES)
@ledger_option
@json_option
def runs(ledger_url, as_json):
    """List the recorded runs: id, when, program and versions, input, counts, points, final periods."""
    from rich.table import Table

    from engine.terminal import cells

    with opened(resolve_ledger(ledger_url)) as ledger:
        found = ledger.runs()
    if as_json:
        emit_json({"runs": [_run_json(r) for r in found]})
        return OK
    console = out_console()
    if not found:
        console.print("no runs recorded yet")
        return OK
    t = Table(title="Runs", title_justify="left")
    for column, justify in (("run", "right"), ("recorded", "left"), ("program", "left"), ("versions", "left"),
                            ("input", "left"), ("rows", "right"), ("scored", "right"), ("unscored", "right"),
                            ("rejected", "right"), ("points", "right"), ("final", "left")):
        if column == "recorded":
            column += " (UTC)"
        t.add_column(column, justify=justify)
    for r in found:
        c = r["counts"]
        notes = [f"final {p}" for p in r["final"]] + [f"restates {p} (final: run {f})" for p, f in r["restates"].items()]
        t.add_row(str(r["id"]), *cells(_when(r["recorded_at"]), r["program"], ", ".join(v["version"] for v in r["versions"]),
                                       r["input"]),
                  *(f"{c[k]:,}" for k in ("rows", "scored", "unscored", "rejected")), fmt_grouped(r["points_total"]),
                  *cells("; ".join(notes)))
    console.print(t)
    return OK


def _when(at: str | None) -> str:
    """A recorded time for a table: `2026-12-01 18:02` (UTC, as recorded)."""
    return (at or "").replace("T", " ")[:16]


def _run_json(r: dict) -> dict:
    return {**r, "points_total": fmt_points(r["points_total"])}


# ---------------------------------------------------------------------------- points history

HISTORY_EXAMPLES = """
\b
Examples:
  points history --partner P-008 --ledger out/demo.ledger
  points history --partner P-008 --runs 1 2 --ledger out/demo.ledger
"""


@click.command(epilog=HISTORY_EXAMPLES)
@click.option("--partner", "partner_id", required=True, help="The partner (its partner_id).")
@click.option("--runs", "between", nargs=2, type=int, metavar="A B",
              help="What changed for the partner from run A to run B, per contract and per rule.")
@ledger_option
@json_option
def history(partner_id, between, ledger_url, as_json):
    """A partner's points, tier and status per period across the recorded runs (and adjustments)."""
    with opened(resolve_ledger(ledger_url)) as ledger:
        if between:
            return _changes(ledger, partner_id, *between, as_json)
        rows = ledger.history(partner_id)
        adjustments = ledger.adjustments(partner_id)
        if not rows and not adjustments:
            raise Failure(f"{ledger.shown}: no recorded run has partner {partner_id}")
        finals = {(r["period"], r["run"]): r["points"] for r in rows if r["role"] == "final"}
    if as_json:
        emit_json({"partner_id": partner_id, "history": [_history_json(r) for r in rows],
                   "adjustments": [_adjustment_json(a) for a in adjustments]})
        return OK
    from rich.table import Table

    from engine.terminal import cells, markup

    console = out_console()
    t = Table(title=f"History of partner {markup(partner_id)}", title_justify="left")
    for column, justify in (("period", "left"), ("run", "right"), ("recorded", "left"), ("points", "right"),
                            ("adjusted", "right"), ("total", "right"), ("tier", "left"), ("status", "left"),
                            ("note", "left")):
        t.add_column(column, justify=justify)
    for r in rows:
        note = r["role"]
        if r["role"] == "restatement":
            final = finals.get((r["period"], r["final_run"]))
            if final is not None:
                note = f"restates run {r['final_run']}: {_signed(r['points'] - final)}"
        t.add_row(*cells(r["period"]), str(r["run"]), *cells(_when(r["recorded_at"])), fmt_grouped(r["points"]),
                  _signed(r["adjustments"]) if r["adjustments"] else "", fmt_grouped(r["total"]),
                  *cells(r["tier"], r["status"] or "", note))
    console.print(t)
    if adjustments:
        console.print("Adjustments")
        for a in adjustments:
            console.print(markup(f"  {a['period']}: {_signed(a['points'])} points, {a['reason']} "
                                 f"({a['author']}, {a['created_at']})"))
    return OK


def _history_json(r: dict) -> dict:
    return {**r, "points": fmt_points(r["points"]), "adjustments": fmt_points(r["adjustments"]),
            "total": fmt_points(r["total"])}


def _adjustment_json(a: dict) -> dict:
    return {**a, "points": fmt_points(a["points"])}


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + fmt_grouped(value)


def changes(ledger, partner_id: str, a: int, b: int) -> dict:
    """What changed for a partner from run A to run B: per period, per contract and per rule."""
    ledger.run(a), ledger.run(b)
    old = {c["contract_id"]: c for c in ledger.contracts(a, partner_id)}
    new = {c["contract_id"]: c for c in ledger.contracts(b, partner_id)}
    contracts = []
    for cid in sorted(old.keys() | new.keys()):
        o, n = old.get(cid), new.get(cid)
        before = o["points"] if o else None
        after = n["points"] if n else None
        same = o is not None and n is not None and (o["status"], o["points"], o["rules"], o["code"]) == \
            (n["status"], n["points"], n["rules"], n["code"])
        if not same:
            contracts.append({"contract_id": cid, "period": (n or o)["period"],
                              "before": _side(o), "after": _side(n),
                              "difference": (after or 0) - (before or 0)})
    periods = sorted({p["period"] for run in (a, b) for p in ledger.partner_periods(run, partner_id)})
    by_period, by_rule = [], []
    for period in periods:
        pa = next(iter(ledger.partner_periods(a, partner_id, period)), None)
        pb = next(iter(ledger.partner_periods(b, partner_id, period)), None)
        by_period.append({"period": period, "before": pa["points"] if pa else Decimal(0),
                          "after": pb["points"] if pb else Decimal(0), "tier_before": pa["tier"] if pa else "",
                          "tier_after": pb["tier"] if pb else ""})
        ra = {r["rule"]: r["points"] for r in ledger.rules(a, partner_id, period)}
        rb = {r["rule"]: r["points"] for r in ledger.rules(b, partner_id, period)}
        for rule in sorted(ra.keys() | rb.keys()):
            if ra.get(rule) != rb.get(rule):
                by_rule.append({"period": period, "rule": rule, "before": ra.get(rule, Decimal(0)),
                                "after": rb.get(rule, Decimal(0))})
    return {"partner_id": partner_id, "runs": [a, b], "periods": by_period, "rules": by_rule, "contracts": contracts}


def _side(c: dict | None) -> dict | None:
    if c is None:
        return None
    return {"status": c["status"], "points": c["points"], "code": c["code"], "version": c["version"]}


def _changes(ledger, partner_id: str, a: int, b: int, as_json: bool) -> int:
    found = changes(ledger, partner_id, a, b)
    if not found["periods"]:
        raise Failure(f"{ledger.shown}: partner {partner_id} is in neither run {a} nor run {b}")
    if as_json:
        emit_json(_exact(found))
        return OK
    from rich.table import Table

    from engine.terminal import cells, markup

    console = out_console()
    t = Table(title=f"Partner {markup(partner_id)}: run {a} -> run {b}", title_justify="left")
    for column in ("period", f"run {a}", f"run {b}", "difference", "tier"):
        t.add_column(column, justify="left" if column in ("period", "tier") else "right")
    for p in found["periods"]:
        tier = p["tier_before"] if p["tier_before"] == p["tier_after"] else f"{p['tier_before']} -> {p['tier_after']}"
        t.add_row(*cells(p["period"]), fmt_grouped(p["before"]), fmt_grouped(p["after"]),
                  _signed(p["after"] - p["before"]) if p["after"] != p["before"] else "0", *cells(tier))
    console.print(t)
    if found["rules"]:
        t = Table(title="By rule", title_justify="left")
        for column in ("period", "rule", f"run {a}", f"run {b}", "difference"):
            t.add_column(column, justify="left" if column in ("period", "rule") else "right")
        for r in found["rules"]:
            t.add_row(*cells(r["period"], r["rule"]), fmt_grouped(r["before"]), fmt_grouped(r["after"]),
                      _signed(r["after"] - r["before"]))
        console.print(t)
    if found["contracts"]:
        t = Table(title="By contract", title_justify="left")
        for column in ("contract", "period", f"run {a}", f"run {b}", "difference"):
            t.add_column(column, justify="left" if column in ("contract", "period") else "right")
        for c in found["contracts"]:
            t.add_row(*cells(c["contract_id"], c["period"]), _side_text(c["before"]), _side_text(c["after"]),
                      _signed(c["difference"]))
        console.print(t)
    else:
        console.print("no contract of the partner changed")
    return OK


def _side_text(side: dict | None) -> str:
    if side is None:
        return "(absent)"
    if side["status"] == "scored":
        return fmt_grouped(side["points"])
    return f"unscored ({side['code']})"


def _exact(value):
    """Decimals as exact text, for JSON."""
    if isinstance(value, Decimal):
        return fmt_points(value)
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_exact(v) for v in value]
    return value


# ---------------------------------------------------------------------------- points close / adjust

@click.command(epilog="\b\nExamples:\n  points close --run 3 --period 2017 --ledger out/demo.ledger")
@click.option("--run", "run_id", required=True, type=int, help="The run that is final for the period.")
@click.option("--period", required=True, help="The period to close (e.g. 2017).")
@click.option("--author", default="", help="Who closes it.")
@ledger_option
@json_option
def close(run_id, period, author, ledger_url, as_json):
    """Mark a run the final one of a period; later runs of the period are shown as its restatements."""
    with opened(resolve_ledger(ledger_url)) as ledger:
        _period_label(ledger, run_id, period)
        ledger.close_period(run_id, period, author)
        later = [r["id"] for r in ledger.runs() if r["id"] > run_id and period in r["periods"]]
        restated = {b: _restatement(ledger, run_id, b, period) for b in later}
    if as_json:
        emit_json({"period": period, "run": run_id, "restatements": {str(b): _exact(d) for b, d in restated.items()}})
        return OK
    from engine.terminal import markup

    console = out_console()
    console.print(markup(f"period {period} closed: run {run_id} is final"))
    for b, diffs in restated.items():
        console.print(markup(f"run {b} restates it: " + (", ".join(f"{p} {_signed(d)}" for p, d in diffs.items())
                                                          if diffs else "no partner differs")))
    return OK


def _restatement(ledger, final: int, later: int, period: str) -> dict:
    """partner -> difference of points in `period` from the final run to a later one (only those that differ)."""
    old = {p["partner_id"]: p["points"] for p in ledger.partner_periods(final, period=period)}
    new = {p["partner_id"]: p["points"] for p in ledger.partner_periods(later, period=period)}
    out = {}
    for partner in sorted(old.keys() | new.keys()):
        d = new.get(partner, Decimal(0)) - old.get(partner, Decimal(0))
        if d:
            out[partner] = d
    return out


def _period_label(ledger, run_id, period: str) -> None:
    from engine.periods import period_sort_key

    try:
        period_sort_key(period)
    except ValueError as err:
        raise Failure(f"--period: {err}") from None
    if run_id is not None:
        ledger.run(run_id)


@click.command(epilog="\b\nExamples:\n  points adjust --partner P-008 --period 2017 --points 500 "
                      "--reason \"dispute 17-04: contract C-001234 counted late\" --author \"J. Weber\"")
@click.option("--partner", "partner_id", required=True, help="The partner.")
@click.option("--period", required=True, help="The period (e.g. 2017).")
@click.option("--points", "points_text", required=True, help="Points to add (negative to take off).")
@click.option("--reason", required=True, help="Why (a resolved dispute, a goodwill credit).")
@click.option("--author", required=True, help="Who decided it.")
@ledger_option
@json_option
def adjust(partner_id, period, points_text, reason, author, ledger_url, as_json):
    """Record a manual adjustment of a partner's points; it never edits a run and shows in history,
    explain and totals."""
    try:
        points = Decimal(points_text.replace("_", ""))
        if not points.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise Failure(f"--points: '{points_text}' is not a number of points (e.g. 500 or -120.5)") from None
    if not reason.strip():
        raise Failure("--reason: say why (it is shown wherever the adjustment is)")
    if not author.strip():
        raise Failure("--author: say who decided it")
    with opened(resolve_ledger(ledger_url)) as ledger:
        _period_label(ledger, None, period)
        adjustment = ledger.adjust(partner_id, period, points, reason, author)
    if as_json:
        emit_json({"adjustment": adjustment, "partner_id": partner_id, "period": period, "points": fmt_points(points),
                   "reason": reason, "author": author})
        return OK
    from engine.terminal import markup

    out_console().print(markup(f"adjustment {adjustment}: partner {partner_id}, period {period}: "
                               f"{_signed(points)} points ({reason}; {author})"))
    return OK


# ---------------------------------------------------------------------------- points verify

VERIFY_LIMIT = 20


@click.command(epilog="\b\nExamples:\n  points verify 3 --input examples/contracts.csv --ledger out/demo.ledger")
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--input", "inputs", required=True, multiple=True, type=click.Path(),
              help="The export the run scored (repeat for a run of several files, in order).")
@ledger_option
@json_option
def verify(run_id, inputs, ledger_url, as_json):
    """Check an export against a recorded run: its sha256, then a new run from the recorded sources and
    options compared row by row. Prints "identical" (exit 0) or the differences (exit 1)."""
    from pathlib import Path

    from engine.ledger import Recording
    from engine.readers import sha256_of
    from engine.run import RunOptions, evaluate

    with opened(resolve_ledger(ledger_url)) as ledger:
        run = ledger.run(run_id)
        recorded = [i for i in run["inputs"] if i["kind"] == "contracts"]
        differences = []
        if len(inputs) != len(recorded):
            differences.append(f"run {run_id} scored {len(recorded)} file(s), {len(inputs)} given")
        for given, rec in zip(inputs, recorded):
            if not Path(given).is_file():
                raise Failure(f"{given}: no such file")
            sha = sha256_of(given)
            if sha != rec["sha256"]:
                differences.append(f"{given}: sha256 {sha} differs from the recorded {rec['sha256']} ({rec['name']})")
        program = ledger.program(run_id)
        opts = run["manifest"].get("options", {})
        recording = Recording()
        options = RunOptions(decimal_comma=bool(opts.get("decimal_comma")), delimiter=opts.get("delimiter"),
                             encoding=opts.get("encoding") or "utf-8", sheet=opts.get("sheet"),
                             on_row=recording.on_row, on_reject=recording.on_reject)
        try:
            result = evaluate(program, list(inputs), options)
            labels = {f.file: i for i, f in enumerate(result.files)}
            recorded_labels = {r["name"]: i for i, r in enumerate(recorded)}
            differences += _compare_rows(ledger, run_id, recording, labels, recorded_labels)
        finally:
            recording.close()
        old_pp = {(p["partner_id"], p["period"]): (p["points"], p["tier"]) for p in ledger.partner_periods(run_id)}
        new_pp = {(p.partner_id, p.period): (p.points, p.tier) for p in result.partners}
        for key in sorted(old_pp.keys() | new_pp.keys()):
            if old_pp.get(key) != new_pp.get(key):
                differences.append(f"partner {key[0]}, period {key[1]}: recorded {_pp_text(old_pp.get(key))}, "
                                   f"now {_pp_text(new_pp.get(key))}")
    if as_json:
        emit_json({"run": run_id, "identical": not differences, "differences": differences})
        return FINDINGS if differences else OK
    from engine.terminal import markup

    console = out_console()
    if not differences:
        console.print(f"identical: the input has the recorded sha256 and scores as run {run_id} did "
                      f"({run['counts']['rows']:,} rows)")
        return OK
    console.print(f"{len(differences):,} difference(s) from run {run_id}:")
    for line in differences[:VERIFY_LIMIT]:
        console.print(markup(f"  {line}"))
    if len(differences) > VERIFY_LIMIT:
        console.print(f"  and {len(differences) - VERIFY_LIMIT:,} more (--json lists all)")
    return FINDINGS


def _pp_text(value) -> str:
    return "nothing" if value is None else f"{fmt_grouped(value[0])} points ({value[1] or 'no tier'})"


def _compare_rows(ledger, run_id: int, recording, labels: dict, recorded_labels: dict) -> list[str]:
    """Differences between the recorded rows of a run and a new run's (files matched by position)."""
    from engine.ledger.recording import decode_record

    def key(file, row):
        return (labels.get(file, recorded_labels.get(file, -1)), row)

    fields = ("contract_id", "partner_id", "status", "points", "rules", "code", "reason", "version")
    new = {}
    for c in recording.contracts(run_id):
        _, file, row, cid, pid, signed, period, version, product, status, points, rules, code, reason, rec = c
        new[(labels.get(file, -1), row)] = {"contract_id": cid, "partner_id": pid, "status": status,
                                            "points": Decimal(points), "rules": rules, "code": code or None,
                                            "reason": reason or None, "version": version,
                                            "record": decode_record(rec)}
    new_rejects = {(labels.get(r[1], -1), r[2]): r[7] for r in recording.rejects(run_id)}
    import json

    old = {}
    for c in ledger.contracts(run_id):
        c = dict(c, rules=json.dumps([[r, fmt_points(p)] for r, p in c["rules"]], separators=(",", ":")))
        old[(recorded_labels.get(c["file"], -1), c["row"])] = c
    old_rejects = {(recorded_labels.get(r["file"], -1), r["row"]): r["code"] for r in ledger.rejects(run_id)}
    out = []
    for k in sorted(old.keys() | new.keys() | old_rejects.keys() | new_rejects.keys()):
        o = old.get(k) or ({"status": "rejected", "code": old_rejects[k]} if k in old_rejects else None)
        n = new.get(k) or ({"status": "rejected", "code": new_rejects[k]} if k in new_rejects else None)
        where = f"row {k[1]}"
        if o is None or n is None:
            out.append(f"{where}: " + ("not in the recorded run" if o is None else "not in the given input"))
            continue
        changed = [f for f in fields if o.get(f) != n.get(f)]
        if changed:
            shown = ", ".join(f"{f} {_cell(o.get(f))} -> {_cell(n.get(f))}" for f in changed)
            out.append(f"{where} ({o.get('contract_id') or n.get('contract_id') or 'no id'}): {shown}")
    return out


def _cell(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, Decimal):
        return fmt_points(value)
    return str(value)


# ---------------------------------------------------------------------------- points explain --run

def explain_from_ledger(url, run_id: int, contract_id, partner_id, period, full: bool, all_contracts: bool,
                        as_json: bool) -> int:
    """`points explain --run RUN --contract C` / `--partner P --period Y`, answered from the ledger."""
    from engine.ledger.answers import contract_answer, partner_answer, rederive

    if (contract_id is None) == (partner_id is None):
        raise click.UsageError("with --run give one of --contract or --partner")
    if partner_id is not None and period is None:
        raise click.UsageError("--run --partner needs --period")
    if partner_id is not None and full:
        raise click.UsageError("--full goes with --contract (it re-derives one contract)")
    with opened(resolve_ledger(url)) as ledger:
        if partner_id is not None:
            answer = partner_answer(ledger, run_id, partner_id, period, None if all_contracts or as_json else 20)
            if as_json:
                emit_json(_exact(answer))
            else:
                _print_partner(answer)
            return OK
        answer = contract_answer(ledger, run_id, contract_id)
        if not full or not answer["contracts"]:
            if as_json:
                emit_json(_exact(answer))
            else:
                _print_contract(answer)
            return OK
        from engine.explain import contract_json, contract_tree

        program = None
        trees = []
        for c in answer["contracts"]:
            traced, program = rederive(ledger, run_id, c, program)
            trees.append((c, traced))
    if as_json:
        emit_json({"run": answer["run"], "contracts": [contract_json(t, program.sources, "full") | {"file": c["file"]}
                                                       for c, t in trees]})
        return OK
    console = out_console()
    for c, traced in trees:
        console.print(f"run {answer['run']}, re-derived from the recorded sources and input record")
        recorded = (c["status"], c["points"])
        if (traced.status, traced.points) != recorded:
            console.print(f"[bold red]the row engine now gives {traced.status} {fmt_grouped(traced.points)}; the run "
                          f"recorded {c['status']} {fmt_grouped(c['points'])}[/]")
        console.print(contract_tree(traced, program.sources, "full"))
    return OK


def _print_contract(answer: dict) -> None:
    from rich.tree import Tree

    from engine.terminal import markup

    console = out_console()
    for c in answer["contracts"]:
        head = (f"contract {c['contract_id']} (row {c['row']} of {c['file']}): partner {c['partner_id']}, "
                f"signed {c['signed']}, version {c['version'] or '(none)'}")
        tree = Tree(f"[bold]{markup(head)}[/]")
        if c["status"] == "scored":
            tree.add(f"[bold green]{fmt_grouped(c['points'])} points[/]")
        else:
            tree.add(f"[bold yellow]unscored[/]: {markup(c['reason'] or '')} [dim]({markup(c['code'] or '')})[/]")
        for rule, points in c["rules"]:
            tree.add(f"[green]+{fmt_grouped(points)}[/]  {markup(rule)}")
        console.print(f"run {answer['run']} ({markup(answer['program'])})")
        console.print(tree)
    for r in answer["rejected"]:
        console.print(markup(f"run {answer['run']}: contract {r['contract_id']} (row {r['row']} of {r['file']}) was "
                             f"rejected: {r['field']}: {r['reason']} ({r['code']})"))


def _print_partner(answer: dict) -> None:
    from rich.tree import Tree

    from engine.terminal import markup

    p = answer["partner"]
    head = (f"partner {p['partner_id']}, period {p['period']}: {fmt_grouped(p['total'])} points, earned "
            f"{p['tier'] or '(no tier)'}")
    if p["adjustments"]:
        head += f" ({fmt_grouped(p['points'])} from contracts, {_signed(p['adjustments'])} adjusted)"
    console = out_console()
    console.print(f"run {answer['run']} ({markup(answer['program'])})")
    tree = Tree(f"[bold]{markup(head)}[/]")
    for r in answer["reviews"]:
        tree.add(markup(f"reviewed at the end of {r['period']}: {r['status_before']} -> {r['status_after']} "
                        f"({r['rule']}{', ' + r['at'] if r.get('at') else ''})"))
    rules = tree.add("points by rule")
    for r in answer["rules"]:
        rules.add(markup(f"{fmt_grouped(r['points'])}  {r['rule']} ({r['contracts']:,} contracts)"))
    for a in answer["adjustments"]:
        tree.add(markup(f"adjustment {_signed(a['points'])}: {a['reason']} ({a['author']}, {a['created_at']})"))
    contracts = tree.add("contracts")
    for c in answer["contracts"]:
        what = fmt_grouped(c["points"]) if c["status"] == "scored" else f"unscored ({c['code']})"
        contracts.add(markup(f"{c['contract_id']}  {what}  (row {c['row']}, {c['signed']}, {c['product']})"))
    if answer["more_contracts"]:
        contracts.add(f"and {answer['more_contracts']:,} more contracts, {fmt_grouped(answer['more_points'])} points: "
                      "--all lists them")
    console.print(tree)


def register(cli) -> None:
    for command in (runs, history, close, adjust, verify):
        cli.add_command(command)
