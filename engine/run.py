"""Evaluating a contract export: every row scored, unscored (with a reason) or rejected.

The loop reads rows as a stream, validates each with the compiled validator of the version in
force, scores it with that version's plan and adds it to per-partner-period aggregates; memory grows
with partners, not contracts (the `unique` check on contract ids is the one per-row cost).

A *lane* is one way of choosing the version for a contract: by its signed date (a normal run), or
one fixed version for every contract (the two sides of an impact report). Several lanes share one
pass over the file, so an impact run reads and validates each row once.

Speed: a score depends only on the plan's `key_fields`, so the untraced path memoises scores by
those values; the traced path always scores afresh. A test scores the example data both ways.

This row loop is the reference engine: every run the columnar engine (engine.sql) does not take
goes through it, and it alone traces. It runs in one process.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

from engine import __version__, cells, reasons
from engine.numbers import fmt_points
from engine.outputs import EVALUATE_FILES, EVALUATE_XLSX_FILES, OutputFolder, create, program_files
from engine.periods import period_bounds, period_of
from engine.program import Program, Version, display_path
from engine.readers import BadRow, open_rows, sha256_of
from engine.validate import MAX_LENIENT_EXAMPLES, RowReject, RowValidator, column_names

CACHE_LIMIT = 200_000
WRITE_BUFFER = 1 << 20
PROGRESS_EVERY = 10_000
ZERO = Decimal(0)
UNCOVERED_CODES = (reasons.UNKNOWN_PRODUCT, reasons.PRODUCT_NOT_IN_VERSION, reasons.NO_RULE)
OUTPUT_FORMAT = 2  # the columns of the output files (docs/data.md); raised whenever they change
FILE_BASE = 1 << 40  # several files: a `unique` value's row is remembered as file index * FILE_BASE + row


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
    workers: int | None = 1  # deprecated, without effect (the row engine runs in one process; large CSV
    # exports go to the DuckDB engine with engine="auto")
    wait: bool = False  # with an output folder another run is writing: wait for it instead of refusing
    on_reject: Callable[["Rejected"], None] | None = None  # receives each rejected row (explain --row)
    output_dialect: str = "csv"  # output CSVs: csv (`,`, `.`) or excel-de (`;`, decimal comma, BOM)
    output_format: str = "csv"  # csv files, or xlsx (one workbook per table)
    carry: tuple[str, ...] = ()  # export columns carried into contracts.csv and partners.csv
    project: dict | None = None  # the project file used: {"file": base name, "sha256": ...}
    engine: str = "python"  # python (the row engine), duckdb, or auto: duckdb for a large input it takes
    spark_master: str | None = None  # engine spark: the master URL (None: local[2])
    memory: str | None = None  # the DuckDB engine's memory limit (engine.project.parse_size); None: its default
    # opens an input's RowSource instead of engine.readers.open_rows (explain reads only the rows it
    # needs: engine.explain.prefiltered); None: open_rows
    open_source: Callable[[Path, "RunOptions"], object] | None = None
    # Receives every scored or unscored row of lane 0 as (file, row, record, version name, period,
    # Outcome); set, the run takes the row engine (engine.ledger records a run so).
    on_row: Callable[[str, int, dict, str, str, "Outcome"], None] | None = None
    ledger_run: dict | None = None  # the ledger run this run is recorded as ({"ledger": ..., "run": id})

    def __post_init__(self):
        if self.workers != 1:
            import warnings

            warnings.warn("RunOptions.workers is deprecated and has no effect: the row engine runs in one "
                          "process, and large CSV exports go to the DuckDB engine with engine='auto'",
                          DeprecationWarning, stacklevel=3)


@dataclass(frozen=True)
class Rejected:
    """A row that was rejected (or could not be read), as rejects.csv lists it."""

    file: str
    row: int
    contract_id: str
    partner_id: str
    field: str
    value: str
    code: str
    reason: str


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
    code: str | None = None  # the unscored reason's code (engine.reasons)
    file: str = ""  # the export file the row is in


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
    reasons: Counter = field(default_factory=Counter)  # unscored rows by reason code
    tier: str = ""
    tier_version: str = ""


@dataclass
class Counts:
    """Every row of a run, by outcome; rows == scored + unscored + rejected."""

    rows: int = 0
    scored: int = 0
    unscored: int = 0
    rejected: int = 0
    unscored_reasons: Counter = field(default_factory=Counter)  # by code (engine.reasons)
    rejected_fields: Counter = field(default_factory=Counter)
    rejected_reasons: Counter = field(default_factory=Counter)  # by (field, code)
    uncovered: Counter = field(default_factory=Counter)  # (reason code, product, customer) no rule covers
    last_signed: date | None = None  # the latest signed date of a valid row
    # Values accepted only through a lenient reading (engine.validate): (field, reading) ->
    # [count, the first few distinct values as given]; of the run, and of each file in `inputs`.
    lenient: dict = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows == self.scored + self.unscored + self.rejected

    def to_json(self) -> dict:
        return {
            "rows": self.rows, "scored": self.scored, "unscored": self.unscored, "rejected": self.rejected,
            "unscored_reasons": dict(sorted(self.unscored_reasons.items())),
            "rejected_fields": dict(sorted(self.rejected_fields.items())),
            "rejected_reasons": self.rejected_by_field(),
            "last_signed": self.last_signed.isoformat() if self.last_signed else None,
            **({"lenient": self.lenient_json()} if self.lenient else {}),
        }

    def lenient_json(self) -> dict:
        """{"customer": {"any-case": {"count": 412, "examples": ["New", "EXISTING"]}}}, sorted."""
        out: dict = {}
        for (field_name, reading), (count, examples) in sorted(self.lenient.items()):
            out.setdefault(field_name, {})[reading] = {"count": count, "examples": list(examples)}
        return out

    def add_lenient(self, more: dict) -> None:
        """Add lenient counts (of a later part of the run: its examples come after these)."""
        for key, (count, examples) in more.items():
            entry = self.lenient.setdefault(key, [0, []])
            entry[0] += count
            entry[1].extend(e for e in examples if e not in entry[1])
            del entry[1][MAX_LENIENT_EXAMPLES:]

    def rejected_by_field(self) -> dict[str, dict[str, int]]:
        """Rejected rows by field, then by code: {"signed": {"not-a-date": 2}}."""
        out: dict[str, dict[str, int]] = {}
        for (field_name, code), n in sorted(self.rejected_reasons.items()):
            out.setdefault(field_name, {})[code] = n
        return out

    def count_unscored(self, code: str, product: str | None, customer: str | None) -> None:
        """An unscored row's reason code, and its product and customer when no rule covers them."""
        self.unscored_reasons[code] += 1
        if code in UNCOVERED_CODES:
            self.uncovered[(code, product, customer)] += 1

    def copy(self) -> "Counts":
        return Counts(self.rows, self.scored, self.unscored, self.rejected, Counter(self.unscored_reasons),
                      Counter(self.rejected_fields), Counter(self.rejected_reasons), Counter(self.uncovered),
                      self.last_signed, {key: [n, list(e)] for key, (n, e) in self.lenient.items()})

    def since(self, before: "Counts") -> "Counts":
        """The rows counted after `before` was copied (one file of several); no latest date."""
        return Counts(self.rows - before.rows, self.scored - before.scored, self.unscored - before.unscored,
                      self.rejected - before.rejected, self.unscored_reasons - before.unscored_reasons,
                      self.rejected_fields - before.rejected_fields,
                      self.rejected_reasons - before.rejected_reasons, self.uncovered - before.uncovered)


class Outcome:
    """A score as the runner needs it, with its output text made once (scores are memoised)."""

    __slots__ = ("status", "scored", "points", "paid", "reason", "code", "points_text", "rules_text", "score",
                 "reason_text", "code_text")

    def __init__(self, score, reason: str | None, code: str | None):
        self.score = score
        self.status = score.status if score is not None else "unscored"
        self.scored = self.status == "scored"
        self.points = score.points if self.scored else ZERO
        self.paid = tuple((c.rule_id, c.points) for c in score.contributions) if self.scored else ()
        self.reason = None if self.scored else reason
        self.code = None if self.scored else code
        self.points_text = fmt_points(self.points) if self.scored else ""
        self.rules_text = ";".join(f"{rid}={fmt_points(p)}" for rid, p in self.paid)
        self.reason_text = self.reason or ""
        self.code_text = self.code or ""

    @staticmethod
    def of(score, explain_reason) -> "Outcome":
        """From a Score; an unscored one's (reason, code) go through `explain_reason`."""
        if score.status == "scored":
            return Outcome(score, None, None)
        return Outcome(score, *explain_reason(score))

    @staticmethod
    def unscored(score, reason: str, code: str) -> "Outcome":
        return Outcome(score, reason, code)


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


@dataclass(frozen=True)
class InputFile:
    """One export file of a run: its name in the output files, its path as shown, its sha256 and the
    counts of its rows."""

    file: str
    path: str
    sha256: str
    counts: Counts

    def to_json(self) -> dict:
        counts = self.counts.to_json()
        del counts["last_signed"]
        return {"file": self.file, "sha256": self.sha256, "counts": counts}  # a name: the same from any folder


@dataclass
class RunResult:
    """The outcome of a run: counts, partner totals with tiers, and the manifest."""

    program: Program
    data: str  # the export file as shown; with several, their names joined by ", "
    input_sha256: str  # of the first file
    lanes: list[Lane]
    notes: list[str] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)  # every file with its own counts
    engine: str = "python"  # the engine that scored the run (engine.sql for duckdb)
    engine_reason: str | None = None  # why the row engine scored a run that asked for duckdb or auto
    settled: dict = field(default_factory=dict)  # output files already being hashed, by name (engine.outputs.Settled)

    @property
    def files(self) -> list[InputFile]:
        """The run's export files (one, with the run's counts, when the run did not list them)."""
        return self.inputs or [InputFile(Path(self.data).name, self.data, self.input_sha256, self.counts)]

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
    """The per-contract, reject and row files of lane 0, written as rows stream by."""

    def __init__(self, out_dir: Path | None):
        self.out_dir = out_dir
        self._files = []
        self.file = ""  # the export file being read, as shown
        if out_dir is None:
            self.contract = self.reject = self.row = None
            return
        out_dir.mkdir(exist_ok=True)  # an output folder's staging folder (engine.outputs)
        self.contract = self._writer("contracts.csv", CONTRACT_COLUMNS)
        self.reject = self._writer("rejects.csv", REJECT_COLUMNS)
        self.row = self._writer("rows.csv", ROW_COLUMNS)

    def begin_file(self, shown: str) -> None:
        """The rows that follow come from the export file `shown`."""
        self.file = shown

    def _writer(self, name: str, header: list[str]):
        """The writerow of a new CSV file with its header written."""
        f = create(self.out_dir / name, buffering=WRITE_BUFFER)
        self._files.append(f)
        w = cells.writer(f)
        w.writerow(header)
        return w.writerow

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


CONTRACT_COLUMNS = ["file", "row", "contract_id", "partner_id", "signed", "period", "version", "product",
                    "status", "points", "rules", "code", "reason"]
REJECT_COLUMNS = ["file", "row", "contract_id", "partner_id", "field", "value", "code", "reason"]
ROW_COLUMNS = ["file", "row", "contract_id", "partner_id", "status", "code", "reason"]
PARTNER_COLUMNS = ["partner_id", "period", "points", "tier", "tier_version", "contracts_scored",
                   "contracts_unscored"]
PARTNER_RULE_COLUMNS = ["partner_id", "period", "rule", "points", "contracts"]


def evaluate(program: Program, data: str | Path | Iterable[str | Path], options: RunOptions | None = None,
             out_dir: str | Path | None = None, fixed: Iterable[Version] | None = None) -> RunResult:
    """Score every row of `data` (one export file, or several in order: `unique` holds across them);
    with `out_dir`, write results, rejects, rows and a manifest there.

    The folder is written as engine.outputs guarantees: built beside it and swapped in whole, under
    a lock (`options.wait` waits for another run), never over an input or through a link."""
    options = options or RunOptions()
    paths = [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]
    if not paths:
        raise ValueError("evaluate needs at least one export file")
    if options.carry and out_dir is not None:
        from engine import carry

        carry.check(paths, options.carry, options, CONTRACT_COLUMNS)
    if out_dir is None:
        return _evaluate(program, paths, options, None, fixed)
    with OutputFolder(out_dir, [*paths, *program_files(program)], {*EVALUATE_FILES, *EVALUATE_XLSX_FILES},
                      wait=options.wait) as folder:
        return _evaluate(program, paths, options, folder.staging, fixed)


def _evaluate(program: Program, paths: list[Path], options: RunOptions, out_dir: Path | None,
              fixed: Iterable[Version] | None) -> RunResult:
    """`evaluate` into `out_dir` (a staging folder, or None)."""
    reason = None
    if options.engine != "python" and options.open_source is None and options.on_row is None:
        from engine.sql.choose import try_duckdb

        if options.engine == "spark":
            from engine.sql.spark import try_spark as try_duckdb
        result, reason = try_duckdb(program, paths, options, out_dir, fixed)
        if result is not None:
            if out_dir is not None:
                write_partner_files(result, Path(out_dir))
                write_manifest(result, Path(out_dir), options)
            return result
    result = _evaluate_rows(program, paths, options, out_dir, fixed)
    result.engine_reason = reason
    if out_dir is not None:
        write_manifest(result, Path(out_dir), options)
    return result


def _evaluate_rows(program: Program, paths: list[Path], options: RunOptions, out_dir: Path | None,
                   fixed: Iterable[Version] | None) -> RunResult:
    """The row engine's run into `out_dir` (all but the manifest)."""
    lanes = [Lane(program, v) for v in fixed] if fixed else [Lane(program)]
    outputs = _Outputs(Path(out_dir) if out_dir is not None else None)
    validators = _validators(program, options.decimal_comma, [lane.fixed for lane in lanes if lane.fixed])
    several = len(paths) > 1
    inputs, notes = [], []
    try:
        for index, (path, label) in enumerate(zip(paths, file_labels(paths))):
            shown = display_path(path)
            before = lanes[0].counts.copy() if several else None
            if several:
                for validator in {id(v): v for v in validators.values()}.values():
                    validator.begin_file(label, index * FILE_BASE)
            outputs.begin_file(label)
            opened = options.open_source(path, options) if options.open_source is not None else \
                open_rows(path, delimiter=options.delimiter, encoding=options.encoding,
                          **({"sheet": options.sheet} if options.sheet else {}))
            with opened as source:
                if options.on_source is not None:
                    options.on_source(source)
                loop = _Loop(program, source, options, lanes, outputs, validators)
                loop.run()
            notes += [f"{shown}: {note}" for note in loop.notes] if several else loop.notes
            counts = lanes[0].counts.since(before) if several else lanes[0].counts
            if several:
                counts.lenient = loop.lenient.lenient
            inputs.append(InputFile(label, shown, sha256_of(path), counts))
    finally:
        outputs.close()
    result = RunResult(program, ", ".join(f.path for f in inputs), inputs[0].sha256, lanes, notes=notes,
                       inputs=inputs)
    for lane in lanes:
        assign_tiers(lane)
    if out_dir is not None:
        write_partner_files(result, Path(out_dir))
    return result


def file_labels(paths: list[Path]) -> list[str]:
    """How the output files name each export: its file name, or its path as shown when two share a name.

    A name, not a path, keeps the lines short (a line of contracts.csv and rows.csv each) and the
    same wherever the run is started from; the sha256 beside each name in the manifest says which file.
    """
    names = [path.name for path in paths]
    if len(set(names)) == len(names):
        return names
    return [display_path(path) for path in paths]


class _Loop:
    """One pass over the rows; kept as a class so the hot loop reads its state from locals."""

    def __init__(self, program: Program, source, options: RunOptions, lanes: list[Lane], outputs: _Outputs,
                 validators: dict | None = None):
        self.program, self.source, self.options = program, source, options
        self.lanes, self.outputs = lanes, outputs
        self.validators = validators if validators is not None else _validators(program, options.decimal_comma)
        self.newest = self.validators[id(program.versions[-1])]
        self._unknown_reasons: dict = {}
        self.notes: list[str] = []  # warnings about the input as a whole (e.g. a misspelt column)
        self.ids_of = _ids_getter(source.header)

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
        where, row = getattr(self.source, "header_name", ("header (row 1)", 1))  # a Parquet file's: its columns
        if problems:
            raise InputError(self.source.path, f"{where}: " + "; ".join(problems), row=row)
        self.notes.extend(f"{where}: {note}" for note in self.newest.header_notes(self.source.header))

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.lenient = Counts()  # this file's lenient readings alone (its examples its own)
            own = self._own_blocks()
            for validator in {id(v): v for v in self.validators.values()}.values():
                for lane in self.lanes:
                    if not own or self.validators[id(lane.fixed)] is validator:  # a lane's own readings
                        lane.counts.add_lenient(validator.lenient)
                self.lenient.add_lenient(validator.lenient)
                validator.lenient.clear()

    def _run(self) -> None:
        self._check_header()
        if self._own_blocks():
            return self._run_own_blocks()
        convs = self._converters()
        newest_conv = convs[id(self.program.versions[-1])]
        progress, every = self.options.progress, PROGRESS_EVERY
        trace_when = self.options.trace_when
        lanes = self.lanes
        single = len(lanes) == 1 and lanes[0].fixed is None
        version_for = self.program.version_for
        score_row = self._score
        older = len({id(c) for c in convs.values()}) > 1
        count = 0
        for row, raw in self.source:
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
            if raw.__class__ is BadRow:
                self._reject(row, raw.field, None, raw.reason, reasons.UNREADABLE_ROW, raw)
                continue
            try:
                record = newest_conv(raw, row)
            except RowReject as rej:
                found = self._older_reading(convs, raw, row, rej) if single and older else rej
                if found.__class__ is RowReject:
                    self._reject(row, found.field, found.value, found.reason, found.code, raw)
                    continue
                record = found  # read by the block of the version in force
            else:
                found = None
            if single and found is None:  # validate by the version in force when its input block differs
                version = version_for(record["signed"])
                if version is not None and convs[id(version)] is not newest_conv:
                    try:
                        record = convs[id(version)](raw, row)
                    except RowReject as rej:
                        self.newest.forget(record)
                        self._reject(row, rej.field, rej.value, rej.reason, rej.code, raw)
                        continue
                    self.newest.take_back_lenient()  # the version in force read it: its readings count
            traced = trace_when is not None and trace_when(row, record)
            for lane in lanes:
                score_row(lane, row, record, traced)
        if progress is not None:
            progress(count)

    def _own_blocks(self) -> bool:
        """Whether every lane is fixed to a version and some reads rows with another input block than
        the newest version's (`points diff --impact` of a change of the input block, a side-by-side
        of the older version): each lane then reads with its own."""
        lanes = self.lanes
        return (all(lane.fixed is not None for lane in lanes)
                and any(self.validators[id(lane.fixed)] is not self.newest for lane in lanes))

    def _run_own_blocks(self) -> None:
        """The row loop when lanes read with their own blocks: a row is converted once per distinct
        block, and the lanes of that block score it, or count it rejected (only lane 0 writes files)."""
        header = self.source.header
        groups: dict = {}  # id(validator) -> (convert, [lanes])
        for lane in self.lanes:
            validator = self.validators[id(lane.fixed)]
            entry = groups.get(id(validator))
            if entry is None:
                conv = validator.convert if header is None else validator.for_header(header)
                entry = groups[id(validator)] = (conv, [])
            entry[1].append(lane)
        progress, every, trace_when = self.options.progress, PROGRESS_EVERY, self.options.trace_when
        count = 0
        for row, raw in self.source:
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
            if raw.__class__ is BadRow:
                self._reject(row, raw.field, None, raw.reason, reasons.UNREADABLE_ROW, raw)
                continue
            for conv, lanes in groups.values():
                try:
                    record = conv(raw, row)
                except RowReject as rej:
                    self._reject(row, rej.field, rej.value, rej.reason, rej.code, raw, lanes)
                    continue
                traced = trace_when is not None and trace_when(row, record)
                for lane in lanes:
                    self._score(lane, row, record, traced)
        if progress is not None:
            progress(count)

    def _older_reading(self, convs: dict, raw, row: int, rejected: RowReject) -> dict | RowReject:
        """A row the newest input block refuses, read by the block of the version in force on its date
        when that block differs (a newer version may read more strictly than the one the contract
        falls under). The newest validator still holds every accepted row's `unique` values."""
        newest = convs[id(self.program.versions[-1])]
        tried = {id(newest)}
        for version in reversed(self.program.versions):
            conv = convs[id(version)]
            if id(conv) in tried:
                continue
            tried.add(id(conv))
            validator = self.validators[id(version)]
            try:
                record = conv(raw, row)
            except RowReject:
                continue
            in_force = self.program.version_for(record["signed"])
            if in_force is None or convs[id(in_force)] is not conv:
                validator.forget(record)
                continue
            try:
                self.newest.check_unique({name: record.get(name) for name, _ in self.newest.unique_seen}, row)
            except RowReject as repeat:
                validator.forget(record)
                return repeat
            return record
        return rejected

    def _reject(self, row: int, field_name: str, value, reason: str, code: str, raw, lanes=None) -> None:
        """Count and write a rejected row; its ids as given, except an id that was itself refused.
        `lanes`: the lanes that reject it (default: all); only lane 0's rejects are written."""
        for lane in self.lanes if lanes is None else lanes:
            lane.counts.rows += 1
            lane.counts.rejected += 1
            lane.counts.rejected_fields[field_name] += 1
            lane.counts.rejected_reasons[(field_name, code)] += 1
        outputs, on_reject = self.outputs, self.options.on_reject
        if (outputs.reject is None and on_reject is None) or (lanes is not None and self.lanes[0] not in lanes):
            return
        contract_id, partner_id = ("", "") if raw.__class__ is BadRow else self.ids_of(raw)
        if code != reasons.DUPLICATE:  # a repeated id is a good id: it finds both rows
            if field_name == "contract_id":
                contract_id = ""
            if field_name == "partner_id":
                partner_id = ""
        if outputs.reject is not None:
            outputs.reject([outputs.file, row, contract_id, partner_id, field_name, shown_value(value), code,
                            reason])
            outputs.row([outputs.file, row, contract_id, partner_id, "rejected", code, reason])
        if on_reject is not None:
            on_reject(Rejected(outputs.file, row, contract_id, partner_id, field_name, shown_value(value), code,
                               reason))

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
            return Outcome.unscored(None, f"no version in force on {day_text}", reasons.NO_VERSION)
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
            counts.count_unscored(outcome.code, record.get("product"), record.get("customer"))
            pp.unscored += 1
            pp.reasons[outcome.code] += 1
        if lane is self.lanes[0]:
            outputs = self.outputs
            if outputs.contract is not None:
                outputs.contract([
                    outputs.file, row, record["contract_id"], record["partner_id"], day_text, period, version_name,
                    record.get("product") or "", outcome.status, outcome.points_text, outcome.rules_text,
                    outcome.code_text, outcome.reason_text,
                ])
                outputs.row([outputs.file, row, record["contract_id"], record["partner_id"], outcome.status,
                             outcome.code_text, outcome.reason_text])
            if self.options.on_row is not None:
                self.options.on_row(outputs.file, row, record, version_name, period, outcome)
            if traced and self.options.on_traced is not None:
                self.options.on_traced(Traced(row, record, version, outcome.status, outcome.points,
                                              outcome.reason, outcome.score, tuple(tracer.events), outcome.code,
                                              outputs.file))

    def _reason(self, version: Version, record: dict):
        """A function giving (reason, code) to show for an unscored Score of this version and record."""
        return lambda score: self._unknown_product_reason(version, record, score)

    def _unknown_product_reason(self, version: Version, record: dict, score) -> tuple[str | None, str | None]:
        """The Score's reason and code, unless no rule matched a product the version in force does not
        know: then say whether another version knows it. (A rule for any product that matched and
        failed, e.g. too large to compute, keeps its own reason.)"""
        product = record.get("product")
        if (product is None or product in version.plan.products
                or score.code not in (reasons.NO_RULE, reasons.UNKNOWN_PRODUCT)):
            return score.reason, score.code
        key = (version.name, product)
        if key not in self._unknown_reasons:
            others = [v.name for v in self.program.versions_knowing(product)]
            text = f"'{product}' is not in version {version.name}"
            text += f"; it is in {', '.join(others)}" if others else " (no version knows it)"
            code = reasons.PRODUCT_NOT_IN_VERSION if others else reasons.UNKNOWN_PRODUCT
            self._unknown_reasons[key] = (f"unknown product: {text}", code)
        return self._unknown_reasons[key]


def _ids_getter(header: list | None) -> Callable[[object], tuple[str, str]]:
    """A function giving a raw row's contract and partner id as given (trimmed text, '' when absent)."""
    if header is None:  # JSON objects
        def json_ids(raw) -> tuple[str, str]:
            if not isinstance(raw, dict):
                return "", ""
            return _given(raw.get("contract_id")), _given(raw.get("partner_id"))
        return json_ids
    names = column_names(header)
    where = [names.index(name) if name in names else None for name in ("contract_id", "partner_id")]

    def cell_ids(raw) -> tuple[str, str]:
        return tuple(_given(raw[i]) if i is not None and i < len(raw) else "" for i in where)
    return cell_ids


def _given(value) -> str:
    """An id as the export gave it: text trimmed, a whole XLSX number without `.0`, other values as
    rejects.csv shows them."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return shown_value(value)


def _validators(program: Program, decimal_comma: bool, more: Iterable[Version] = ()) -> dict[int, RowValidator]:
    """One compiled validator per distinct `input contract` block, keyed by id(version) (the program's
    versions, and `more`: the fixed versions of lanes, which each read rows with their own block)."""
    by_block: dict = {}
    out = {}
    for v in (*program.versions, *more):
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
        "format": OUTPUT_FORMAT,
        "engine": {"name": "partner-points", "version": __version__, "evaluator": result.engine,
                   **({"fallback": result.engine_reason} if result.engine_reason else {})},
        "program": program.name,
        "versions": [v.describe() | {"file": manifest_name(v.path)} for v in program.versions],
        "inputs": [f.to_json() for f in result.files],
        "options": {"decimal_comma": options.decimal_comma, "delimiter": options.delimiter,
                    "encoding": options.encoding, "sheet": options.sheet,
                    "output_dialect": options.output_dialect, "output_format": options.output_format,
                    "carry": list(options.carry)},
        "project": options.project,
        "counts": result.counts.to_json(),
        "notes": result.notes,
        "points_total": fmt_points(result.points_total),
        "partners": len({p.partner_id for p in result.partners}),
        "tiers": tier_counts(result),
        **({"ledger": options.ledger_run} if options.ledger_run else {}),
    }


SHOWN_VALUE_LIMIT = 1_000  # characters of a refused value that rejects.csv keeps


def shown_value(value) -> str:
    """A refused value as the export wrote it: text as is, JSON values as JSON (true, [1], {...}).

    A value longer than SHOWN_VALUE_LIMIT characters keeps its start and says how long it was, so
    rejects.csv stays a file every CSV reader reads (most stop at 131,072 characters a cell)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if len(text) > SHOWN_VALUE_LIMIT:
        return f"{text[:SHOWN_VALUE_LIMIT]}… ({len(text):,} characters)"
    return text


NO_TIER = "(no version in force)"


def tier_counts(result: RunResult) -> dict[str, dict[str, int]]:
    """Per period, how many partners earned each tier (partners whose period no version covers apart)."""
    out: dict[str, Counter] = {}
    for p in result.partners:
        out.setdefault(p.period, Counter())[p.tier or NO_TIER] += 1
    return {period: dict(sorted(c.items())) for period, c in sorted(out.items())}


OUTPUT_FILES = ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv")


def write_manifest(result: RunResult, out_dir: Path, options: RunOptions) -> None:
    """manifest.json, with the sha256 of every output file written before it (carried columns, the
    output dialect and format applied first)."""
    kept = {} if rewrites(options) else result.settled  # a settled file rewritten since is hashed anew
    names = finish_outputs(result, out_dir, options)
    data = manifest(result, options)
    # streamed (an output as large as the export never sits in memory whole), two files at a time on
    # both cores, each fsynced while it is hashed (the publish's own fsync then finds nothing to do);
    # a file the engine settled as soon as it was written is not read again
    from engine.outputs import Settled, sha256_settled

    settling = {name: kept.get(name) or Settled(out_dir / name) for name in names}
    data["outputs"] = {name: sha256_settled(out_dir / name, settling[name]) for name in names}
    with create(out_dir / "manifest.json") as f:
        f.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def rewrites(options: RunOptions) -> bool:
    """Whether finish_outputs rewrites the output files once written (in the default dialect)."""
    return bool(options.carry) or options.output_format == "xlsx" or options.output_dialect != "csv"


def finish_outputs(result: RunResult, out_dir: Path, options: RunOptions) -> tuple[str, ...]:
    """The output files written in the default dialect, made what the options ask: carried columns
    added (engine.carry), then each file rewritten in the output dialect (engine.cells) or as a workbook
    (engine.workbook). Returns the files' names. With the defaults nothing is rewritten."""
    if not rewrites(options):
        return OUTPUT_FILES
    if options.carry:
        from engine import carry

        carry.add(out_dir, [(f.file, f.path) for f in result.files], options.carry, options)
    if options.output_format == "xlsx":
        import os

        from engine import workbook
        from engine.readers import InputError

        names = []
        for name in OUTPUT_FILES:
            source, target = out_dir / name, out_dir / name.replace(".csv", ".xlsx")
            rows = cells.read_back(source)
            header = next(rows)
            try:
                workbook.write(target, name.removesuffix(".csv"), header, rows, cells.number_columns(header))
            except workbook.TooManyRows as err:
                raise InputError(target.name, f"{err}: write CSV files instead (--output-format csv)") from None
            os.remove(source)
            names.append(target.name)
        return tuple(names)
    if options.output_dialect != "csv":
        import os

        for name in OUTPUT_FILES:
            staged = out_dir / f".{name}.dialect"
            cells.write_dialect(out_dir / name, staged, options.output_dialect)
            os.replace(staged, out_dir / name)
    return OUTPUT_FILES


def manifest_name(path: str | Path) -> str:
    """A file as the manifest names it: its base name alone (the sha256 beside it says which file), so
    the same inputs give the same manifest from any working directory and any folder."""
    return Path(path).name
