"""What a run hands the ledger row by row, kept on disk until the run's one transaction.

A `Recording` receives every scored and unscored row (RunOptions.on_row) and every rejected row
(RunOptions.on_reject) while the run goes, and spools them to a temporary file in batches, so
memory does not grow with the export and the database is written only after the output folder is
in place (engine.ledger.Ledger.record_run).

A validated record is stored as JSON with its types kept: text, whole numbers, booleans and
missing values as JSON; a decimal as {"$d": "2.50"} (exact, its digits as the validator made them)
and a date as {"$t": "2016-03-01"}.
"""
from __future__ import annotations

import json
import pickle
import tempfile
from datetime import date
from decimal import Decimal

from engine.numbers import fmt_points

SPOOL_BATCH = 20_000
CONTRACT_FIELDS = ("run_id", "file", "input_row", "contract_id", "partner_id", "signed", "period", "version",
                   "product", "status", "points", "rules", "code", "reason", "record")
REJECT_FIELDS = ("run_id", "file", "input_row", "contract_id", "partner_id", "field", "value", "code", "reason")


def _typed(value):
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, date):
        return {"$t": value.isoformat()}
    raise TypeError(f"a record value of type {type(value).__name__}")


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_PLAIN = (str, int, bool, type(None))


def encode_record(record: dict) -> str:
    """A validated record as JSON text, types kept (see the module docstring); keys in the record's order."""
    return _ENCODE({k: v if v.__class__ in _PLAIN else _typed(v) for k, v in record.items()})


def _untyped(obj: dict):
    if len(obj) == 1:
        if "$d" in obj:
            return Decimal(obj["$d"])
        if "$t" in obj:
            return date.fromisoformat(obj["$t"])
    return obj


def decode_record(text: str) -> dict:
    """The record `encode_record` wrote, with its Decimals and dates."""
    return json.loads(text, object_hook=_untyped)


def rules_json(paid) -> str:
    """The rules that paid, as JSON [[rule id, points], ...] (points as exact text)."""
    return json.dumps([[rule, fmt_points(points)] for rule, points in paid], separators=(",", ":"))


class Recording:
    """The rows of one run, spooled to a temporary file; `on_row` and `on_reject` go into RunOptions."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self._contracts: list = []
        self._rejects: list = []
        self._encoded: dict = {}  # id(Outcome) -> (points text, rules JSON): outcomes are memoised
        self.contract_count = 0
        self.reject_count = 0

    def on_row(self, file: str, row: int, record: dict, version: str, period: str, outcome) -> None:
        key = id(outcome)
        encoded = self._encoded.get(key)
        if encoded is None or encoded[0] is not outcome:
            encoded = self._encoded[key] = (outcome, outcome.points_text, rules_json(outcome.paid))
            if len(self._encoded) > 200_000:
                self._encoded.clear()
        signed = record["signed"]
        self._contracts.append((file, row, record["contract_id"], record["partner_id"], signed.isoformat(),
                                period, version, record.get("product") or "", outcome.status,
                                encoded[1] or "0", encoded[2], outcome.code_text, outcome.reason_text,
                                encode_record(record)))
        self.contract_count += 1
        if len(self._contracts) >= SPOOL_BATCH:
            self._spill()

    def on_reject(self, rejected) -> None:
        self._rejects.append((rejected.file, rejected.row, rejected.contract_id, rejected.partner_id,
                              rejected.field, rejected.value, rejected.code, rejected.reason))
        self.reject_count += 1
        if len(self._rejects) >= SPOOL_BATCH:
            self._spill()

    def _spill(self) -> None:
        if self._contracts or self._rejects:
            pickle.dump((self._contracts, self._rejects), self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._contracts, self._rejects = [], []

    def _batches(self):
        """(contracts, rejects) batches in the order they came (the file is this process's own)."""
        self._spill()
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)
            except EOFError:
                return

    def contracts(self, run_id: int):
        for contracts, _ in self._batches():
            for c in contracts:
                yield (run_id, *c)

    def rejects(self, run_id: int):
        for _, rejects in self._batches():
            for r in rejects:
                yield (run_id, *r)

    def close(self) -> None:
        self._file.close()
