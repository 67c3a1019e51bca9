"""Status and quality over real files: the glue between the runner and the pure review/KPI logic.

- Statuses: partner points per period come from a normal run (`engine.run.evaluate`); periods
  run from the program's first period to the last period with contracts (or to `as_of`); each
  period is reviewed with the policy of the version in force on its last day. A period that
  `as_of` falls inside is the current one: it gets a *standing* (points so far, points still
  needed to keep the tier and to reach the next), not a review.
- Legacy statuses come from a CSV or XLSX with columns `partner_id` and `status`.
- Quality rows are read and validated like contracts, against the `input quality` block of the
  newest version that has a `quality` block; bad rows are rejected with row number and field.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from dsl.errors import did_you_mean
from engine.periods import next_period, period_bounds, period_of, period_sort_key
from engine.program import Program
from engine.readers import BadRow, InputError, open_rows
from engine.run import RunOptions, evaluate
from engine.status import (
    Standing, StatusDecision, explain_chain, initial_status, policy_from_ruleset, review, standing,
)


LEGACY_COLUMNS = ("partner_id", "status")  # the legacy file's columns unless named otherwise


def legacy_columns(program: Program, partner: str | None = None, status: str | None = None) -> tuple[str, str]:
    """The legacy file's partner and status columns: the options given, else the review block of the
    version in force at the end of the program's first period, else `partner_id` and `status`."""
    unit = program.period
    version = program.version_for(period_bounds(period_of(program.first_day, unit), unit)[1])
    review = version.ruleset.review if version is not None else None
    return (partner or (review.legacy_partner if review else None) or LEGACY_COLUMNS[0],
            status or (review.legacy_status if review else None) or LEGACY_COLUMNS[1])


def _column(path: Path, header: list[str], name: str, what: str, option: str) -> int:
    """The position of column `name` (exact after trimming, else ignoring case); an InputError naming the header."""
    cells = [str(h or "").strip() for h in header]
    for match in (lambda c: c == name, lambda c: c.lower() == name.lower()):
        found = next((i for i, c in enumerate(cells) if match(c)), None)
        if found is not None:
            return found
    guess = did_you_mean(name, [c for c in cells if c])
    raise InputError(path, f"header (row 1): no column '{name}' for the {what}"
                     f"{f' (did you mean {guess!r}?)' if guess else ''}; the columns are "
                     f"{', '.join(repr(c) for c in cells)}; name it with {option} or in the review block "
                     f"(`legacy {what} column \"...\"`)", row=1)


def read_legacy(path: str | Path, partner_column: str = "partner_id", status_column: str = "status") -> dict[str, str]:
    """partner -> old status name, from the named columns; an unusable row is an InputError naming row and field."""
    path = Path(path)
    out: dict[str, str] = {}
    with open_rows(path) as rows:
        if rows.header is not None:
            p = _column(path, rows.header, partner_column, "partner", "--legacy-partner")
            s = _column(path, rows.header, status_column, "status", "--legacy-status")

            def cells(raw):
                return (raw[p] if p < len(raw) else None), (raw[s] if s < len(raw) else None)
        else:
            def cells(raw):
                return raw.get(partner_column), raw.get(status_column)
        for n, raw in rows:
            if isinstance(raw, BadRow):
                raise InputError(path, f"row {n}: {raw.reason}", row=n)
            partner_cell, status_cell = cells(raw)
            partner = str(partner_cell if partner_cell is not None else "").strip()
            status = str(status_cell if status_cell is not None else "").strip()
            if not partner:
                raise InputError(path, f"row {n}, field {partner_column}: empty", row=n)
            if partner in out:
                raise InputError(path, f"row {n}, field {partner_column}: '{partner}' has a second legacy status",
                                 row=n)
            out[partner] = status
    return out


@dataclass
class StatusReport:
    """Reviews per partner and period, and the standing in the current period."""

    decisions: list[StatusDecision]
    standings: list[Standing] = field(default_factory=list)
    current: str | None = None  # the period `as_of` falls in, reviewed later
    as_of: date | None = None  # the day reviewed up to
    as_of_default: str | None = None  # how the default was chosen, when `as_of` was not given
    reviewed: list[str] = field(default_factory=list)  # the periods reviewed, in order


WHO_GETS_A_ROW = ("every partner with a valid contract by the as-of date or in the legacy file, "
                  "in every period (0 points where it sold nothing)")


def default_as_of(program: Program, last_signed: date | None) -> tuple[date, str]:
    """The end of the period of the latest valid signed date (never the clock), and that choice in words."""
    unit = program.period
    if last_signed is None:
        label = period_of(program.first_day, unit)
        return period_bounds(label, unit)[1], f"the end of {label}, the program's first period (no valid contract)"
    label = period_of(last_signed, unit)
    return (period_bounds(label, unit)[1],
            f"the end of {label}, the period of the latest valid signed date {last_signed.isoformat()}")


def periods_to_review(program: Program, last_label: str) -> list[str]:
    """Every period from the program's first to `last_label`, in order."""
    unit = program.period
    label = period_of(program.first_day, unit)
    out = []
    while period_sort_key(label) <= period_sort_key(last_label):
        out.append(label)
        label = next_period(label, unit)
    return out


def status_report(program: Program, points: dict[str, dict[str, Decimal]], legacy: dict[str, str],
                  as_of: date | None = None, as_of_default: str | None = None) -> StatusReport:
    """Review every partner in every complete period; the standing in the period of `as_of`.

    Without `as_of`, reviews up to the end of the last period with contracts; `as_of_default`
    says in words how a caller chose `as_of` (`default_as_of`), for the output to state it.
    """
    unit = program.period
    how = as_of_default
    if as_of is None:  # the end of the last period with contracts
        labels = [p for per in points.values() for p in per]
        latest = max(labels, key=period_sort_key) if labels else None
        as_of, how = default_as_of(program, period_bounds(latest, unit)[1] if latest else None)
        if latest:
            how = f"the end of {latest}, the last period with contracts"
    last = period_of(as_of, unit)
    # Partners known by `as_of`: a valid contract in a period up to the one `as_of` falls in.
    points = {partner: per for partner, per in points.items()
              if any(period_sort_key(label) <= period_sort_key(last) for label in per)}
    periods = periods_to_review(program, last)
    current = None
    if period_bounds(last, unit)[1] > as_of:
        current = periods.pop()
    policies = {}

    def policy_for(label: str):
        if label not in policies:
            version = program.version_for(period_bounds(label, unit)[1])
            if version is None:
                raise InputError(Path(program.versions[0].path), f"no version is in force at the end of {label}")
            policies[label] = policy_from_ruleset(version.ruleset)
        return policies[label]

    decisions = review(points, periods, policy_for, legacy) if periods else []
    report = StatusReport(decisions, current=current, as_of=as_of, as_of_default=how, reviewed=list(periods))
    if current is not None:
        report.standings = _standings(points, legacy, decisions, current, policy_for)
    return report


def _standings(points, legacy, decisions, current, policy_for) -> list[Standing]:
    policy = policy_for(current)
    status_now: dict[str, str] = {}
    for d in decisions:
        status_now[d.partner_id] = d.status_after
    out = []
    for partner in sorted(set(points) | set(legacy)):
        status = status_now.get(partner)
        if status is None:
            status = initial_status(partner, legacy.get(partner), policy)[0]
        out.append(standing(partner, status, points.get(partner, {}).get(current, Decimal(0)), policy))
    return out


def points_by_partner(program: Program, data: str, options: RunOptions) -> tuple[dict[str, dict[str, Decimal]], date | None]:
    """partner -> period -> points, from a normal run; and the latest signed date in the data."""
    result = evaluate(program, data, options)
    out: dict[str, dict[str, Decimal]] = {}
    for p in result.partners:
        out.setdefault(p.partner_id, {})[p.period] = p.points
    return out, result.counts.last_signed


def partner_chain(program: Program, partner_id: str, points: dict[str, Decimal], legacy: str | None,
                  as_of: date | None) -> list[str]:
    """The chain of status decisions of one partner across periods, as lines with `file:line`.

    `points` is the partner's points per period and `legacy` its legacy status: a review looks at
    nothing else of other partners, so explaining one partner needs no second pass over the data.
    """
    legacy_map = {partner_id: legacy} if legacy else {}
    report = status_report(program, {partner_id: points} if points else {}, legacy_map, as_of)
    lines = explain_chain((d for d in report.decisions if d.partner_id == partner_id), report.current)
    lines += [standing_line(s, report.current) for s in report.standings if s.partner_id == partner_id]
    return lines


def standing_line(s: Standing, period: str | None) -> str:
    """What an account manager tells a partner mid-period, in one line."""
    from engine.numbers import fmt_grouped

    keep = ("target reached" if not s.needed_to_keep
            else f"{fmt_grouped(s.needed_to_keep)} more to keep it (target {fmt_grouped(s.target)})")
    line = f"{period} so far: {fmt_grouped(s.points)} points; status {s.status}: {keep}"
    if s.next_tier:
        line += f"; {fmt_grouped(s.needed_for_next)} more to reach {s.next_tier}"
    return line


# --------------------------------------------------------------------------- contracts behind quality reports


# Why a report row keyed by contract is set apart (counted, never silently dropped): code -> words.
SET_ASIDE = {
    "blank-contract": "the report names no contract",
    "unknown-contract": "the contract is not in the evaluated contracts",
    "rejected-contract": "the contract's row was rejected",
    "unscored-contract": "the contract is unscored, and only scored contracts count",
}


@dataclass
class ContractIndex:
    """contract_id -> (partner, status) of an evaluated export, and the ids of rejected rows.

    Read from a run's output folder: its `rows.csv` when there is one (every input row with row,
    contract_id, partner_id and status), else `contracts.csv` (the valid rows) and `rejects.csv`
    (whose `contract_id` column, when present, names the rejected rows' ids; without it only a
    reject of the `contract_id` field itself gives the id, as its value).
    """

    valid: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (partner, scored|unscored)
    rejected: set[str] = field(default_factory=set)
    rejected_rows: set[int] = field(default_factory=set)  # rejected rows whose id the folder does not give
    source: str = ""

    def lookup(self, contract_id, counting: str) -> tuple[str | None, str | None]:
        """(partner, None) when a report on this contract counts, else (None, set-aside code)."""
        cid = "" if contract_id is None else str(contract_id).strip()
        if not cid:
            return None, "blank-contract"
        found = self.valid.get(cid)
        if found is None:
            return None, "rejected-contract" if cid in self.rejected else "unknown-contract"
        partner, status = found
        if status != "scored" and counting == "scored":
            return None, "unscored-contract"
        return partner, None

    def _add_valid(self, cid: str, partner: str, status: str) -> None:
        if cid and cid not in self.valid:  # the first valid row stands, as `unique` decides
            self.valid[cid] = (partner, status)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ContractIndex":
        folder = Path(folder)
        index = cls(source=str(folder))
        if (folder / "rows.csv").is_file():
            for n, row in _csv_rows(folder / "rows.csv", ("contract_id", "partner_id", "status")):
                cid, status = row["contract_id"].strip(), row["status"].strip()
                if status in ("scored", "unscored"):
                    index._add_valid(cid, row["partner_id"].strip(), status)
                elif cid:
                    index.rejected.add(cid)
            index.rejected -= set(index.valid)
            return index
        if not (folder / "contracts.csv").is_file():
            raise InputError(folder, "not the output folder of a run: it has no rows.csv and no contracts.csv "
                             "(write one with `points evaluate PROGRAM DATA --out DIR`)")
        for n, row in _csv_rows(folder / "contracts.csv", ("contract_id", "partner_id", "status")):
            index._add_valid(row["contract_id"].strip(), row["partner_id"].strip(), row["status"].strip())
        if (folder / "rejects.csv").is_file():
            for n, row in _csv_rows(folder / "rejects.csv", ("row", "field", "value")):
                cid = (row.get("contract_id") or (row["value"] if row["field"] == "contract_id" else "")).strip()
                if cid:
                    index.rejected.add(cid)
                elif row["field"] != "contract_id" and row["row"].strip().isdigit():
                    index.rejected_rows.add(int(row["row"]))
        index.rejected -= set(index.valid)
        return index

    @classmethod
    def from_data(cls, program: Program, data: str, options: RunOptions) -> "ContractIndex":
        """Evaluate `data` (in a scratch folder, removed afterwards) and index its contracts.

        The ids of rows rejected for another field than `contract_id` are read back from the
        export itself, so a report on such a contract is set apart as rejected, not as unknown.
        """
        import tempfile

        with tempfile.TemporaryDirectory(prefix="points-quality-") as scratch:
            evaluate(program, data, options, out_dir=scratch)
            index = cls.from_folder(scratch)
        index.source = str(data)
        if index.rejected_rows:
            index.rejected |= _ids_of_rows(Path(data), index.rejected_rows, options) - set(index.valid)
            index.rejected_rows = set()
        return index


def _csv_rows(path: Path, needed: tuple[str, ...]):
    """(row number, dict) of a CSV the engine wrote; an InputError when a needed column is missing."""
    import csv

    from engine.cells import restore

    with open(path, encoding="utf-8-sig", newline="") as f:  # either output dialect (docs/data.md)
        header = f.readline()
        f.seek(0)
        reader = csv.DictReader(f, delimiter=";" if ";" in header and "," not in header else ",")
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(path, f"header (row 1): the column(s) {', '.join(missing)} are missing: "
                             f"not a file written by `points evaluate`", row=1)
        for n, row in enumerate(reader, start=2):  # cells as they were before engine.cells made them safe
            yield n, {k: restore(v or "") for k, v in row.items() if k is not None}


def _ids_of_rows(path: Path, wanted: set[int], options: RunOptions) -> set[str]:
    """The `contract_id` cells, as given, of the rows numbered `wanted` of an export."""
    out: set[str] = set()
    extra = {"sheet": options.sheet} if options.sheet else {}
    with open_rows(path, delimiter=options.delimiter, encoding=options.encoding, **extra) as rows:
        position = None
        if rows.header is not None:
            names = [str(h or "").strip() for h in rows.header]
            position = names.index("contract_id") if "contract_id" in names else None
            if position is None:
                return out
        for n, raw in rows:
            if n not in wanted or isinstance(raw, BadRow):
                continue
            cell = raw.get("contract_id") if position is None else (raw[position] if position < len(raw) else None)
            if cell is not None and str(cell).strip():
                out.add(str(cell).strip())
    return out


# --------------------------------------------------------------------------- quality


@dataclass
class QualityRun:
    """A quality report, the rows it rejected and the rows it set apart (keyed by contract)."""

    report: object  # engine.quality.QualityReport
    rows: int
    rejects: list[tuple[int, str, str]]  # (row, field, reason)
    set_aside: list[tuple[int, str, str, str]] = field(default_factory=list)  # (row, contract_id, code, reason)
    # Values of the rows not rejected that only a lenient reading accepted (engine.validate):
    # (field, reading) -> [count, the first few distinct values as given].
    lenient: dict = field(default_factory=dict)


def quality_version(program: Program):
    """The newest version that declares `quality` (and `input quality`)."""
    for v in reversed(program.versions):
        if v.ruleset.quality is not None and v.ruleset.input("quality") is not None:
            return v
    return None


def run_quality(program: Program, data: str, options: RunOptions, contracts: ContractIndex | None = None,
                version=None) -> QualityRun:
    """Read, validate and aggregate quality reports; rows that do not validate are rejected.

    Reports keyed by contract (`reports by ... contract`) need `contracts`: each counts for the
    partner of its contract, or is set apart with its reason (`SET_ASIDE`). The quality block is
    the newest version's (`quality_version`), or `version`'s when given (an example of that version).
    """
    from engine.quality import QualityError, compute_quality, quality_spec, report_period
    from engine.validate import RowReject, RowValidator

    version = version or quality_version(program)
    if version is None:
        raise InputError(Path(program.versions[-1].path), "no version declares `quality` and `input quality`")
    spec = quality_spec(version.ruleset)
    validator = RowValidator(version.ruleset.input("quality"), decimal_comma=options.decimal_comma)
    rejects: list[tuple[int, str, str]] = []
    set_aside: list[tuple[int, str, str, str]] = []
    count = 0

    def records():
        nonlocal count
        with open_rows(Path(data), delimiter=options.delimiter, encoding=options.encoding) as rows:
            if rows.header is not None:
                problems = validator.header_problems(rows.header)
                if problems:
                    raise InputError(Path(data), "header (row 1): " + "; ".join(problems), row=1)
                convert = validator.for_header(rows.header)
            else:
                convert = validator.convert
            if spec.key == "contract" and contracts is None:  # after the file proved readable
                where = f"{version.path}:{spec.span.line}:{spec.span.column}" if spec.span.line else version.path
                raise InputError(where, "the quality block reads reports by contract: give the contracts with "
                                 "--contracts DATA (an export, evaluated here) or --contracts DIR (a run's output folder)")
            for n, raw in rows:
                count += 1
                if isinstance(raw, BadRow):
                    rejects.append((n, raw.field, raw.reason))
                    continue
                try:
                    record = convert(raw, n)
                except RowReject as rej:
                    rejects.append((n, rej.field, rej.reason))
                    continue
                try:
                    report_period(record.get("reported"), spec.period)
                except QualityError as err:
                    validator.take_back_lenient()  # a rejected row's readings are not counted
                    rejects.append((n, "reported", str(err)))
                    continue
                reading = label_reading(record.get("reported"))
                if reading is not None:
                    validator.note("reported", reading, record["reported"])
                if spec.key == "contract":
                    partner, code = contracts.lookup(record.get("contract_id"), spec.counting)
                    if code is not None:
                        set_aside.append((n, str(record.get("contract_id") or ""), code, SET_ASIDE[code]))
                        continue
                    record["partner_id"] = partner
                yield record

    report = compute_quality(records(), spec)
    return QualityRun(report, count, rejects, set_aside, dict(validator.lenient))


_CANONICAL_PERIOD = re.compile(r"\d{4}(-Q[1-4]|-\d{2})?|\d{4}-\d{2}-\d{2}")
_GERMAN_DAY = re.compile(r"\d{2}\.\d{2}\.\d{4}")


def label_reading(reported) -> str | None:
    """Of a `reported` text the period was read from: `german-date` for a German date, `label-form`
    for a label not spelled 2016-05, 2016-Q2 or 2016 (`2016Q2`, `Q2 2016`, `2016-q2`), else None."""
    from engine.validate import GERMAN_DATE, LABEL_FORM

    if not isinstance(reported, str):
        return None  # a date field: its own reading was counted by the validator
    text = reported.strip()
    if _CANONICAL_PERIOD.fullmatch(text):
        return None
    return GERMAN_DATE if _GERMAN_DAY.fullmatch(text) else LABEL_FORM
