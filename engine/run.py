"""Evaluating a contract export: every row scored, unscored (with a reason) or rejected.

The loop reads rows as a stream, validates each with the compiled validator of the version in
force, scores it with that version's plan and adds it to per-partner-period aggregates; memory grows
with partners, not contracts (the `unique` check on contract ids is the one per-row cost).

A *lane* is one way of choosing the version for a contract: by its signed date (a normal run), or
one fixed version for every contract (the two sides of an impact report). Several lanes share one
pass over the file, so an impact run reads and validates each row once.

Speed: a score depends only on the plan's `key_fields`, so the untraced path memoises scores by
those values; the traced path always scores afresh. A test scores the example data both ways.

The common run (one lane by signed date, nothing traced, a CSV export, one input block for every
version) takes the batch path of `engine.batch` instead of the row loop here, with the same
outputs byte for byte; its design and figures are there. This module keeps what both paths
share: the lanes, counts and partner totals, the outcomes, the output files and the manifest.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

from engine import __version__, cells
from engine.batch import Batches as _Batches, collector_paused, csv_fields
from engine.numbers import fmt_points
from engine.outputs import EVALUATE_FILES, OutputFolder, create, program_files
from engine.periods import period_bounds, period_of
from engine.program import Program, Version, display_path
from engine.readers import BadRow, open_rows, sha256_of
from engine.validate import RowReject, RowValidator

CACHE_LIMIT = 200_000
BATCH_ROWS = 1024  # rows per batch: fewer instructions than 4,096 (smaller lists, warmer caches)
WRITE_BUFFER = 1 << 20
PROGRESS_EVERY = 10_000
ZERO = Decimal(0)
UNCOVERED_KINDS = ("unknown product", "no rule matches")


@dataclass
class RunOptions:
    """How to read the export and what to keep."""

    decimal_comma: bool = False  # cells write 2,5 for two and a half
    delimiter: str | None = None  # CSV delimiter; None: sniffed from the header
    encoding: str = "utf-8"  # text encoding of CSV / JSON Lines
    sheet: str | None = None  # XLSX sheet; None: the first
    progress: Callable[[int], None] | None = None  # called with the rows read so far
    on_source: Callable[[object], None] | None = None  # told the open RowSource (a progress bar asks
    # it for fraction_read())
    trace_when: Callable[[int, dict], bool] | None = None  # (row, record): score it with a tracer?
    on_traced: Callable[["Traced"], None] | None = None  # receives each traced row
    workers: int | None = 1  # processes for a large CSV (engine.parallel); None: one per core (at most 4)
    wait: bool = False  # with an output folder another run is writing: wait for it instead of refusing


@dataclass(frozen=True)
class Traced:
    """A row scored with a tracer, for explain."""

    row: int
    record: dict
    version: Version | None
    status: str
    points: Decimal
    reason: str | None
    score: object | None  # engine.compile.Score
    events: tuple


@dataclass
class PartnerPeriod:
    """What one partner earned in one period."""

    partner_id: str
    period: str
    points: Decimal = ZERO
    scored: int = 0
    unscored: int = 0
    by_rule: dict[str, Decimal] = field(default_factory=dict)
    rule_contracts: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # unscored rows by reason kind
    tier: str = ""
    tier_version: str = ""


@dataclass
class Counts:
    """Every row of a run, by outcome; rows == scored + unscored + rejected."""

    rows: int = 0
    scored: int = 0
    unscored: int = 0
    rejected: int = 0
    unscored_reasons: Counter = field(default_factory=Counter)
    rejected_fields: Counter = field(default_factory=Counter)
    uncovered: Counter = field(default_factory=Counter)  # (reason kind, product, customer) no rule covers
    last_signed: date | None = None  # the latest signed date of a valid row

    @property
    def reconciles(self) -> bool:
        return self.rows == self.scored + self.unscored + self.rejected

    def to_json(self) -> dict:
        return {
            "rows": self.rows, "scored": self.scored, "unscored": self.unscored, "rejected": self.rejected,
            "unscored_reasons": dict(sorted(self.unscored_reasons.items())),
            "rejected_fields": dict(sorted(self.rejected_fields.items())),
            "last_signed": self.last_signed.isoformat() if self.last_signed else None,
        }

    def count_unscored(self, kind: str, product: str | None, customer: str | None) -> None:
        """An unscored row's reason kind, and its product and customer when no rule covers them."""
        self.unscored_reasons[kind] += 1
        if kind in UNCOVERED_KINDS:
            self.uncovered[(kind, product, customer)] += 1


class Outcome:
    """A score as the runner needs it, with its output text made once (scores are memoised)."""

    __slots__ = ("status", "scored", "points", "paid", "reason", "kind", "points_text", "rules_text", "score",
                 "reason_text", "csv_text")

    def __init__(self, score, reason: str | None):
        self.score = score
        self.status = score.status if score is not None else "unscored"
        self.scored = self.status == "scored"
        self.points = score.points if self.scored else ZERO
        self.paid = tuple((c.rule_id, c.points) for c in score.contributions) if self.scored else ()
        self.reason = None if self.scored else reason
        self.kind = "" if self.scored else _reason_kind(reason)
        self.points_text = fmt_points(self.points) if self.scored else ""
        self.rules_text = ";".join(f"{rid}={fmt_points(p)}" for rid, p in self.paid)
        self.reason_text = self.reason or ""
        self.csv_text = csv_fields([self.status, self.points_text, self.rules_text, self.reason_text])

    @staticmethod
    def of(score, explain_reason) -> "Outcome":
        """From a Score; an unscored one's reason goes through `explain_reason`."""
        return Outcome(score, None if score.status == "scored" else explain_reason(score.reason))

    @staticmethod
    def unscored(score, reason: str) -> "Outcome":
        return Outcome(score, reason)


class Lane:
    """One way to pick a version per contract, with its own counts and partner totals."""

    def __init__(self, program: Program, fixed: Version | None = None):
        self.program = program
        self.fixed = fixed
        self.counts = Counts()
        self.partners: dict[tuple[str, str], PartnerPeriod] = {}
        self.points_total = ZERO
        self._cache: dict = {}
        self._days: dict = {}

    def version_for(self, day: date) -> Version | None:
        """By date; a fixed lane's version on every day some version of the program is in force."""
        version = self.program.version_for(day)
        return version if self.fixed is None or version is None else self.fixed

    def partner(self, partner_id: str, period: str) -> PartnerPeriod:
        key = (partner_id, period)
        pp = self.partners.get(key)
        if pp is None:
            pp = self.partners[key] = PartnerPeriod(partner_id, period)
        return pp


@dataclass
class RunResult:
    """The outcome of a run: counts, partner totals with tiers, and the manifest."""

    program: Program
    data: str
    input_sha256: str
    lanes: list[Lane]
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counts:
        return self.lanes[0].counts

    @property
    def partners(self) -> list[PartnerPeriod]:
        return sorted(self.lanes[0].partners.values(), key=lambda p: (p.partner_id, p.period))

    @property
    def points_total(self) -> Decimal:
        return self.lanes[0].points_total


class _Outputs:
    """The per-contract and reject files of lane 0, written as rows stream by."""

    def __init__(self, out_dir: Path | None):
        self.out_dir = out_dir
        self._files = []
        if out_dir is None:
            self.contract = self.contract_rows = self.contract_file = self.reject = None
            return
        out_dir.mkdir(exist_ok=True)  # an output folder's staging folder (engine.outputs), or a part's
        self.contract, self.contract_rows = self._writer("contracts.csv", CONTRACT_COLUMNS)
        self.contract_file = self._files[-1]
        self.reject, _ = self._writer("rejects.csv", REJECT_COLUMNS)

    def _writer(self, name: str, header: list[str]):
        """(writerow, writerows) of a new CSV file with its header written."""
        f = create(self.out_dir / name, buffering=WRITE_BUFFER)
        self._files.append(f)
        w = cells.writer(f)
        w.writerow(header)
        return w.writerow, w.writerows

    def close(self) -> None:
        """Close every file, even when one cannot be flushed (a full disk); then raise the first error."""
        failure = None
        for f in self._files:
            try:
                f.close()
            except OSError as err:
                failure = failure or err
        if failure is not None:
            raise failure


CONTRACT_COLUMNS = ["row", "contract_id", "partner_id", "signed", "period", "version", "product",
                    "status", "points", "rules", "reason"]
REJECT_COLUMNS = ["row", "field", "value", "reason"]
PARTNER_COLUMNS = ["partner_id", "period", "points", "tier", "tier_version", "contracts_scored",
                   "contracts_unscored"]
PARTNER_RULE_COLUMNS = ["partner_id", "period", "rule", "points", "contracts"]


def evaluate(program: Program, data: str | Path, options: RunOptions | None = None,
             out_dir: str | Path | None = None, fixed: Iterable[Version] | None = None) -> RunResult:
    """Score every row of `data`; with `out_dir`, write results, rejects and a manifest there.

    The folder is written as engine.outputs guarantees: built beside it and swapped in whole, under
    a lock (`options.wait` waits for another run), never over an input or through a link."""
    options = options or RunOptions()
    if out_dir is None:
        return _evaluate(program, data, options, None, fixed)
    with OutputFolder(out_dir, [data, *program_files(program)], EVALUATE_FILES, wait=options.wait) as folder:
        return _evaluate(program, data, options, folder.staging, fixed)


def _evaluate(program: Program, data: str | Path, options: RunOptions, out_dir: Path | None,
              fixed: Iterable[Version] | None) -> RunResult:
    """`evaluate` into `out_dir` (a staging folder, or None)."""
    if not fixed and options.workers != 1:  # a large plain CSV may run split over processes
        from engine.parallel import evaluate_split

        result = evaluate_split(program, Path(data), options, out_dir)
        if result is not None:
            return result
        if out_dir is not None:  # the split stopped: what its first range wrote goes
            for name in ("contracts.csv", "rejects.csv"):
                (out_dir / name).unlink(missing_ok=True)
    lanes = [Lane(program, v) for v in fixed] if fixed else [Lane(program)]
    outputs = _Outputs(Path(out_dir) if out_dir is not None else None)
    shown = display_path(Path(data))
    try:
        with open_rows(Path(data), delimiter=options.delimiter, encoding=options.encoding,
                       **({"sheet": options.sheet} if options.sheet else {})) as source:
            if options.on_source is not None:
                options.on_source(source)
            loop = _Loop(program, source, options, lanes, outputs)
            loop.run()
    finally:
        outputs.close()
    result = RunResult(program, shown, sha256_of(Path(data)), lanes, notes=loop.notes)
    for lane in lanes:
        assign_tiers(lane)
    if out_dir is not None:
        write_partner_files(result, Path(out_dir))
        write_manifest(result, Path(out_dir), options)
    return result


class _Loop:
    """One pass over the rows; kept as a class so the hot loop reads its state from locals."""

    def __init__(self, program: Program, source, options: RunOptions, lanes: list[Lane], outputs: _Outputs):
        self.program, self.source, self.options = program, source, options
        self.lanes, self.outputs = lanes, outputs
        self.validators = _validators(program, options.decimal_comma)
        self.newest = self.validators[id(program.versions[-1])]
        self._unknown_reasons: dict = {}
        self.notes: list[str] = []  # warnings about the input as a whole (e.g. a misspelt column)

    def _converters(self):
        """The convert function per validator, for this source's header (or JSON objects)."""
        header = self.source.header
        by_validator: dict = {}
        convs = {}
        for key, validator in self.validators.items():
            conv = by_validator.get(id(validator))
            if conv is None:
                conv = validator.convert if header is None else validator.for_header(header)
                by_validator[id(validator)] = conv
            convs[key] = conv
        return convs

    def _check_header(self) -> None:
        from engine.readers import InputError

        if self.source.header is None:
            return
        problems = self.newest.header_problems(self.source.header)
        if problems:
            raise InputError(self.source.path, "header (row 1): " + "; ".join(problems), row=1)
        self.notes.extend(f"header (row 1): {note}" for note in self.newest.header_notes(self.source.header))

    def run(self) -> None:
        self._check_header()
        if self._batchable():
            with collector_paused():
                _Batches(self, BATCH_ROWS, PROGRESS_EVERY).run()
            return
        convs = self._converters()
        newest_conv = convs[id(self.program.versions[-1])]
        progress, every = self.options.progress, PROGRESS_EVERY
        trace_when = self.options.trace_when
        lanes = self.lanes
        single = len(lanes) == 1 and lanes[0].fixed is None
        version_for = self.program.version_for
        score_row = self._score
        count = 0
        for row, raw in self.source:
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
            if raw.__class__ is BadRow:
                self._reject(row, raw.field, None, raw.reason)
                continue
            try:
                record = newest_conv(raw, row)
            except RowReject as rej:
                self._reject(row, rej.field, rej.value, rej.reason)
                continue
            if single:  # validate by the version in force when its input block differs
                version = version_for(record["signed"])
                if version is not None and convs[id(version)] is not newest_conv:
                    try:
                        record = convs[id(version)](raw, row)
                    except RowReject as rej:
                        self.newest.forget(record)
                        self._reject(row, rej.field, rej.value, rej.reason)
                        continue
            traced = trace_when is not None and trace_when(row, record)
            for lane in lanes:
                score_row(lane, row, record, traced)
        if progress is not None:
            progress(count)

    def _batchable(self) -> bool:
        """Whether the batch path can run: see the module docstring (and engine.batch's)."""
        lane = self.lanes[0]
        return (len(self.lanes) == 1 and lane.fixed is None and self.options.trace_when is None
                and self.source.kind == "csv" and len({id(v) for v in self.validators.values()}) == 1
                and {"contract_id", "partner_id", "signed"} <= set(self.newest.fields))

    def _reject(self, row: int, field_name: str, value, reason: str) -> None:
        for lane in self.lanes:
            lane.counts.rows += 1
            lane.counts.rejected += 1
            lane.counts.rejected_fields[field_name] += 1
        if self.outputs.reject is not None:
            self.outputs.reject([row, field_name, shown_value(value), reason])

    def _day(self, lane: Lane, signed: date) -> tuple:
        """Per lane and signed date, computed once: (version, its name, period, date text)."""
        info = lane._days.get(signed)
        if info is None:
            version = lane.version_for(signed)
            info = lane._days[signed] = (version, version.name if version else "",
                                         period_of(signed, self.program.period), signed.isoformat())
            if lane.counts.last_signed is None or signed > lane.counts.last_signed:
                lane.counts.last_signed = signed
        return info

    def _outcome(self, lane: Lane, version: Version | None, record: dict, day_text: str, tracer) -> Outcome:
        """Score a record (afresh when traced, else through the lane's memo) as an Outcome."""
        if version is None or tracer is not None:
            return self._afresh(version, record, day_text, tracer)
        key = (id(version), version.plan.key_of(record))
        outcome = lane._cache.get(key)
        if outcome is None:
            if len(lane._cache) >= CACHE_LIMIT:
                lane._cache.clear()
            outcome = lane._cache[key] = self._afresh(version, record, day_text)
        return outcome

    def _afresh(self, version: Version | None, record: dict | None, day_text: str, tracer=None) -> Outcome:
        """Score a record without a memo; with no version in force it is unscored, naming the date."""
        if version is None:
            return Outcome.unscored(None, f"no version in force on {day_text}")
        return Outcome.of(version.plan.score(record, tracer), self._reason(version, record))

    def _score(self, lane: Lane, row: int, record: dict, traced: bool) -> None:
        counts = lane.counts
        counts.rows += 1
        version, version_name, period, day_text = self._day(lane, record["signed"])
        tracer = None
        if traced:
            from engine.trace import Tracer

            tracer = Tracer()
        outcome = self._outcome(lane, version, record, day_text, tracer)
        key = (record["partner_id"], period)
        pp = lane.partners.get(key)
        if pp is None:
            pp = lane.partners[key] = PartnerPeriod(record["partner_id"], period)
        if outcome.scored:
            counts.scored += 1
            pp.scored += 1
            pp.points += outcome.points
            lane.points_total += outcome.points
            by_rule, rule_contracts = pp.by_rule, pp.rule_contracts
            for rule_id, points in outcome.paid:
                by_rule[rule_id] = by_rule.get(rule_id, ZERO) + points
                rule_contracts[rule_id] += 1
        else:
            counts.unscored += 1
            counts.count_unscored(outcome.kind, record.get("product"), record.get("customer"))
            pp.unscored += 1
            pp.reasons[outcome.kind] += 1
        if lane is self.lanes[0]:
            if self.outputs.contract is not None:
                self.outputs.contract([
                    row, record["contract_id"], record["partner_id"], day_text, period, version_name,
                    record.get("product") or "", outcome.status, outcome.points_text, outcome.rules_text,
                    outcome.reason or "",
                ])
            if traced and self.options.on_traced is not None:
                self.options.on_traced(Traced(row, record, version, outcome.status, outcome.points,
                                              outcome.reason, outcome.score, tuple(tracer.events)))

    def _reason(self, version: Version, record: dict):
        """A function giving the reason to show for an unscored Score of this version and record."""
        return lambda reason: self._unknown_product_reason(version, record, reason)

    def _unknown_product_reason(self, version: Version, record: dict, reason: str | None) -> str | None:
        """Say whether another version knows a product the version in force does not."""
        product = record.get("product")
        if product is None or product in version.plan.products:
            return reason
        key = (version.name, product)
        if key not in self._unknown_reasons:
            others = [v.name for v in self.program.versions_knowing(product)]
            text = f"'{product}' is not in version {version.name}"
            text += f"; it is in {', '.join(others)}" if others else " (no version knows it)"
            self._unknown_reasons[key] = f"unknown product: {text}"
        return self._unknown_reasons[key]


def _reason_kind(reason: str | None) -> str:
    """The reason without its particulars, for counting: "unknown product", "no version in force"."""
    if not reason:
        return "unscored"
    head = reason.split(":")[0]
    if head.startswith("no version in force"):
        return "no version in force"
    return head if len(head) < 60 else head[:60]


def _validators(program: Program, decimal_comma: bool) -> dict[int, RowValidator]:
    """One compiled validator per distinct `input contract` block, keyed by id(version)."""
    by_block: dict = {}
    out = {}
    for v in program.versions:
        block = v.ruleset.input("contract")
        if block not in by_block:
            by_block[block] = RowValidator(block, decimal_comma=decimal_comma)
        out[id(v)] = by_block[block]
    return out


def assign_tiers(lane: Lane) -> None:
    """Each partner-period's tier, by the thresholds of the version in force on its last day."""
    program = lane.program
    for pp in lane.partners.values():
        version = lane.fixed or tier_version(program, pp.period)
        if version is None:
            continue
        pp.tier = version.plan.tier_for(pp.points)
        pp.tier_version = version.name


def tier_version(program: Program, period: str) -> Version | None:
    """The version in force on the last day of `period`."""
    _, last = period_bounds(period, program.period)
    return program.version_for(last)


def write_partner_files(result: RunResult, out_dir: Path) -> None:
    """partners.csv and partner_rules.csv, sorted by partner and period (and rule)."""
    with create(out_dir / "partners.csv") as f:
        w = cells.writer(f)
        w.writerow(PARTNER_COLUMNS)
        for p in result.partners:
            w.writerow([p.partner_id, p.period, fmt_points(p.points), p.tier, p.tier_version, p.scored, p.unscored])
    with create(out_dir / "partner_rules.csv") as f:
        w = cells.writer(f)
        w.writerow(PARTNER_RULE_COLUMNS)
        for p in result.partners:
            for rule in sorted(p.by_rule):
                w.writerow([p.partner_id, p.period, rule, fmt_points(p.by_rule[rule]), p.rule_contracts[rule]])


def manifest(result: RunResult, options: RunOptions) -> dict:
    """What a run used and produced: enough for an auditor to reproduce it. No clock time."""
    program = result.program
    return {
        "engine": {"name": "partner-points", "version": __version__},
        "program": program.name,
        "versions": [v.describe() | {"file": manifest_name(v.path)} for v in program.versions],
        "input": {"file": manifest_name(result.data), "sha256": result.input_sha256},
        "options": {"decimal_comma": options.decimal_comma, "delimiter": options.delimiter,
                    "encoding": options.encoding, "sheet": options.sheet},
        "counts": result.counts.to_json(),
        "notes": result.notes,
        "points_total": fmt_points(result.points_total),
        "partners": len({p.partner_id for p in result.partners}),
        "tiers": tier_counts(result),
    }


def shown_value(value) -> str:
    """A refused value as the export wrote it: text as is, JSON values as JSON (true, [1], {...})."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


NO_TIER = "(no version in force)"


def tier_counts(result: RunResult) -> dict[str, dict[str, int]]:
    """Per period, how many partners earned each tier (partners whose period no version covers apart)."""
    out: dict[str, Counter] = {}
    for p in result.partners:
        out.setdefault(p.period, Counter())[p.tier or NO_TIER] += 1
    return {period: dict(sorted(c.items())) for period, c in sorted(out.items())}


def write_manifest(result: RunResult, out_dir: Path, options: RunOptions) -> None:
    """manifest.json, with the sha256 of every output file written before it."""
    data = manifest(result, options)
    data["outputs"] = {  # streamed: an output as large as the export never sits in memory whole
        name: sha256_of(out_dir / name)
        for name in ("contracts.csv", "rejects.csv", "partners.csv", "partner_rules.csv")
    }
    with create(out_dir / "manifest.json") as f:
        f.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def manifest_name(path: str | Path) -> str:
    """A file as the manifest names it: its base name alone (the sha256 beside it says which file), so
    the same inputs give the same manifest from any working directory and any folder."""
    return Path(path).name
