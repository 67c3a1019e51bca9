"""Trace events: what the evaluator did for one contract, as typed, frozen records.

Design:
- The evaluator sends events to a tracer; `None` is the fast path. The same closures run traced
  and untraced (each emit is guarded by `if tracer is not None`), so the two cannot disagree.
- Events are facts, not text: rendering (a rich tree, JSON) and filtering (notes, why-not, full)
  live outside the evaluator, in engine/explain.py.
- Every event about a rule carries the rule's stable id (`Rule.id`) and the rule's span; events
  about one part of a rule (a condition, a lookup, a cap) carry that part's span as `span`.
- A condition is traced per atomic test (`==`, `in (...)`, `in table`) with the values it saw, so
  a "why not" view can show which part failed and with which values.
- `events_to_json` is deterministic: fields in declaration order, Decimal as string, dates ISO,
  spans as {"file", "line", "column"}.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any

from dsl.ast import Span


@dataclass(frozen=True, slots=True)
class RuleConsidered:
    """A candidate rule's condition is about to be checked."""

    rule_id: str
    rule_name: str
    rule_span: Span


@dataclass(frozen=True, slots=True)
class ConditionChecked:
    """One atomic test of a rule's condition: `left op right` gave `result`.

    For `in (...)` the right side is the tuple of listed values; for `in table` the table name.
    """

    rule_id: str
    rule_span: Span
    span: Span
    op: str
    left: Any
    right: Any
    result: bool


@dataclass(frozen=True, slots=True)
class RuleMatched:
    """The rule's condition holds (or it has none)."""

    rule_id: str
    rule_name: str
    rule_span: Span


@dataclass(frozen=True, slots=True)
class RuleSkipped:
    """The rule's condition is false."""

    rule_id: str
    rule_name: str
    rule_span: Span


@dataclass(frozen=True, slots=True)
class RuleShadowed:
    """`combine first`: the rule matches too, but an earlier rule (`by_rule_id`) already pays."""

    rule_id: str
    rule_name: str
    rule_span: Span
    by_rule_id: str


@dataclass(frozen=True, slots=True)
class ValueRead:
    """A rule read a contract field."""

    rule_id: str
    rule_span: Span
    field: str
    value: Any


@dataclass(frozen=True, slots=True)
class TableLookup:
    """`table[keys]`: the row that gave the value (`row_span`), or None when no row or cell."""

    rule_id: str
    rule_span: Span
    span: Span
    table: str
    keys: tuple
    row_span: Span | None
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class FormulaEvaluated:
    """The `points` formula's value, before `per` and modifiers."""

    rule_id: str
    rule_span: Span
    span: Span
    value: Decimal


@dataclass(frozen=True, slots=True)
class PerUnit:
    """`per FIELD`: the value multiplied by the field."""

    rule_id: str
    rule_span: Span
    field: str
    factor: Any
    before: Decimal
    after: Decimal


@dataclass(frozen=True, slots=True)
class Capped:
    """`at most N`: after == before when the cap did not bite."""

    rule_id: str
    rule_span: Span
    span: Span
    limit: Decimal
    before: Decimal
    after: Decimal


@dataclass(frozen=True, slots=True)
class Floored:
    """`at least N`: after == before when the floor did not lift the value."""

    rule_id: str
    rule_span: Span
    span: Span
    limit: Decimal
    before: Decimal
    after: Decimal


@dataclass(frozen=True, slots=True)
class Rounded:
    """`rounded MODE [to N decimals]`."""

    rule_id: str
    rule_span: Span
    span: Span
    mode: str
    places: int
    before: Decimal
    after: Decimal


@dataclass(frozen=True, slots=True)
class RulePoints:
    """The points a matching rule pays for the contract."""

    rule_id: str
    rule_name: str
    rule_span: Span
    points: Decimal


@dataclass(frozen=True, slots=True)
class Unscored:
    """The contract is unscored; `rule_id` / `rule_span` name the rule at fault, if one is."""

    reason: str
    rule_id: str | None = None
    rule_span: Span | None = None


Event = (
    RuleConsidered | ConditionChecked | RuleMatched | RuleSkipped | RuleShadowed | ValueRead
    | TableLookup | FormulaEvaluated | PerUnit | Capped | Floored | Rounded | RulePoints | Unscored
)


class Tracer:
    """Records every event in order; pass one to `Plan.score` to get the trace of a contract."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list = []

    def emit(self, event) -> None:
        """Record one event."""
        self.events.append(event)


def event_kind(event) -> str:
    """The event's kind in snake case: `RuleMatched` -> `rule_matched`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def events_to_json(events) -> list[dict]:
    """The events as JSON-ready dicts, `{"event": kind, ...fields}`, deterministic."""
    return [_event_json(e) for e in events]


def _event_json(event) -> dict:
    out: dict = {"event": event_kind(event)}
    for f in fields(event):
        out[f.name] = to_json_value(getattr(event, f.name))
    return out


def to_json_value(value: Any) -> Any:
    """A traced value as JSON: Decimal as string, dates ISO, spans as file/line/column."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Span):
        return {"file": value.file, "line": value.line, "column": value.column}
    if isinstance(value, (tuple, list)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_json_value(v) for v in value), key=repr)
    return str(value)
