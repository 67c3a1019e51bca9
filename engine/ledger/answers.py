"""Disputes answered from a recorded run: a contract's points, a partner-period's total, and the
full re-derivation of one contract with the row engine from the recorded sources and record.

`contract_answer` and `partner_answer` read a few indexed rows (no program is parsed): they are
what `points explain --run` prints and what bench/bench_ledger.py times among 10^6 contracts.
"""
from __future__ import annotations

from decimal import Decimal

from engine.ledger.db import LedgerError

TOP_CONTRACTS = 20


def contract_answer(ledger, run_id: int, contract_id: str) -> dict:
    """{"run", "program", "contracts": [the rows with this id, with their rules]}; LedgerError when none."""
    run = ledger.run(run_id)
    found = ledger.contracts(run_id, contract=contract_id)
    if not found:
        rejected = [r for r in ledger.rejects(run_id) if r["contract_id"] == contract_id]
        if rejected:
            return {"run": run["id"], "program": run["program"], "contracts": [], "rejected": rejected}
        raise LedgerError(f"{ledger.shown}: run {run_id} has no contract {contract_id}")
    return {"run": run["id"], "program": run["program"], "contracts": found, "rejected": []}


def partner_answer(ledger, run_id: int, partner_id: str, period: str, top: int | None = TOP_CONTRACTS) -> dict:
    """A partner-period of a run: points, adjustments, total, earned tier, points by rule, the contracts
    with the most points (`top`; None: all), the adjustments and the recorded review of the period."""
    run = ledger.run(run_id)
    rows = ledger.partner_periods(run_id, partner_id, period)
    adjustments = ledger.adjustments(partner_id, period)
    if not rows and not adjustments:
        periods = [p["period"] for p in ledger.partner_periods(run_id, partner_id)]
        raise LedgerError(f"{ledger.shown}: run {run_id} has no results for partner {partner_id} in period {period}"
                          + (f"; its periods: {', '.join(periods)}" if periods else ""))
    pp = rows[0] if rows else {"partner_id": partner_id, "period": period, "points": Decimal(0),
                               "adjustments": sum((a["points"] for a in adjustments), Decimal(0)),
                               "tier": "", "tier_version": "", "scored": 0, "unscored": 0}
    pp = dict(pp, total=pp["points"] + pp["adjustments"])
    shown, more, more_points = ledger.top_contracts(run_id, partner_id, period, top)
    status = ledger.status(run_id, partner_id)
    return {"run": run["id"], "program": run["program"], "partner": pp, "rules": ledger.rules(run_id, partner_id, period),
            "contracts": shown, "more_contracts": more, "more_points": more_points,
            "adjustments": adjustments,
            "reviews": [r for r in status["reviews"] if r["period"] == period],
            "standing": [s for s in status["standing"] if s["period"] == period]}


def rederive(ledger, run_id: int, contract: dict, program=None):
    """One recorded contract scored again with a tracer by the row engine, from the run's recorded
    source text and validated record: an engine.run.Traced (for engine.explain's trees), and the program."""
    from engine.run import Traced
    from engine.trace import Tracer

    program = program or ledger.program(run_id)
    record = ledger.record(run_id, contract["row"], contract["file"])
    version = program.version_named(contract["version"]) if contract["version"] else None
    tracer = Tracer()
    score = version.plan.score(record, tracer) if version is not None else None
    status = score.status if score is not None else "unscored"
    points = score.points if status == "scored" else Decimal(0)
    return Traced(contract["row"], record, version, status, points, contract["reason"], score, tuple(tracer.events),
                  contract["code"], contract["file"]), program
