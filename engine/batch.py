"""The batch path of a run: rows read, validated, scored, written and totalled a batch at a time.

The common run (one lane by signed date, nothing traced, a CSV export, one `input contract` block
for every version) takes this path; `engine.run` decides (`_Loop._batchable`) and keeps the row
path for every other run. The two give the same output files byte for byte
(tests/test_perf_equivalence.py runs both over data with rejects, repeats, several versions).

Why a second path: per contract, the row path spends its time in Python bytecode (a dict per
record, a memo key per plan, a `csv.writer` call per line). Here the reader hands over chunks of
rows, `engine.columns` converts them a column at a time, each row's memo key is a tuple built by
`zip` and looked up by `map` (a miss tries the narrower `Plan.narrow_key` before scoring), and
the contract lines are joined in C. Per row, only the partner totals are added up in Python;
everything else runs in C, and Python runs per cell only on a cache miss, a memo miss or a
reject. Figures: docs/benchmarks.md.

`Batches` works on the state of the runner's loop (lane, outputs, rejects, days, reasons) so
both paths count, reject and explain through the same code; this module imports nothing from
`engine.run`, which imports it.
"""
from __future__ import annotations

import heapq
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, itemgetter

from engine import reasons
from engine.cells import fields as cell_fields
from engine.columns import batch_converter
from engine.readers import BadRow

MEMO_LIMIT = 50_000  # entries of each memo (by full key, by narrow key): memory stays flat
ZERO = Decimal(0)


def csv_fields(cells: list) -> str:
    """Cells as every output file writes them in a line (engine.cells), without the line end."""
    if len(cells) > 1 and all(cell.__class__ is str for cell in cells) and _plain_cells(cells):
        return ",".join(cells)  # what the writer writes when no cell needs quotes or a prefix
    return cell_fields(cells)


_STATUS, _POINTS_TEXT, _RULES_TEXT, _CODE_TEXT, _REASON_TEXT, _SCORED, _POINTS = (
    attrgetter(name) for name in ("status", "points_text", "rules_text", "code_text", "reason_text", "scored",
                                  "points"))
_VERSION_INDEX, _DAY_TEXT, _PERIOD, _VERSION_NAME, _VERSION, _DAY_CSV = (itemgetter(i) for i in range(6))
_OUTCOME_CSV, _OUTCOME_ROWS_CSV = attrgetter("csv_text"), attrgetter("rows_text")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


@contextmanager
def collector_paused():
    """Pause the cyclic garbage collector; afterwards it is enabled again if it was before.

    The batch path makes and drops thousands of small lists and tuples per batch but no
    reference cycles (kept rejects carry no traceback), so reference counting frees everything;
    the collector would only walk those objects and every memo entry again and again (a tenth
    of the run's time).
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _places_of_none(values: list):
    """The indices of the None items of a list, found by `list.index` (a scan in C)."""
    i = -1
    while True:
        try:
            i = values.index(None, i + 1)
        except ValueError:
            return
        yield i


_LEADING = ("=", "@", "\t", "'", "+", "-")  # the first characters engine.cells may prefix (CR, LF: quoted)


def _plain_cells(values: list) -> bool:
    """Whether the output writer would write these cells as they are: texts without `,` `"` or a line
    end, none starting with a character engine.cells may prefix with `'`."""
    try:
        text = "\0" + "\0".join(values)  # NUL before each cell: "\0=" is a cell starting with `=`
    except TypeError:  # not all texts: the writer decides
        return False
    # Scans of `in` (memchr-fast) cost less than one regular-expression search; the two-character
    # scan (slower: NUL is everywhere) runs only for a character the texts hold at all. A NUL in a
    # cell can only send the batch to the writer, which writes the same bytes.
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return False
    for first in _LEADING:
        if first in text and "\0" + first in text:
            return False
    return True


class Batches:
    """The batch path of the runner's loop (module docstring): same state, same results, fewer bytecodes.

    `loop` is engine.run's `_Loop`: its lanes, outputs, options, source and newest validator are
    read, and its `_reject`, `_day`, `_afresh` and `_reason` do what the row path does with them.
    The batch size and the progress step come from engine.run, where both paths' settings live.
    """

    def __init__(self, loop, batch_rows: int, progress_every: int):
        self.loop, self.lane = loop, loop.lanes[0]
        self.batch_rows, self.progress_every = batch_rows, progress_every
        self.versions = loop.program.versions
        self.fields = loop.newest.fields
        # The memo key of a row: its version and every field any version's rules read.
        read = dict.fromkeys(name for v in self.versions for name in v.plan.key_fields)
        self.key_fields = [name for name in read if name in self.fields]
        self.memo: dict = {}  # (version index, *key field values) -> Outcome
        self.narrow: dict = {}  # (version index, plan.narrow_key(record)) -> Outcome
        self.days: dict = {}  # signed -> self.day(signed)

    def run(self) -> None:
        """Read, validate, reject, score, write and total the source's rows a batch at a time."""
        loop = self.loop
        convert = batch_converter(loop.newest, loop.source.header)
        progress, every, count = loop.options.progress, self.progress_every, 0
        for rows, raws in loop.source.batches(self.batch_rows):
            before, count = count, count + len(rows)
            rejects = []
            if rows.__class__ is not range:  # a fitted chunk: rows that could not be read come out
                rejects = [(row, raw) for row, raw in zip(rows, raws) if raw.__class__ is BadRow]
                if rejects:
                    rows = [row for row, raw in zip(rows, raws) if raw.__class__ is not BadRow]
                    raws = [raw for raw in raws if raw.__class__ is not BadRow]
            cells_of = rows  # row numbers -> cells, for the ids of a refused row
            columns, rows, refused = convert(rows, raws) if rows else ({}, [], [])
            if rejects or refused:
                loop.held_rows = []
                raw_of = dict(zip(cells_of, raws)) if refused else {}
                for row, why in sorted(rejects + refused, key=itemgetter(0)):
                    if why.__class__ is BadRow:
                        loop._reject(row, why.field, None, why.reason, reasons.UNREADABLE_ROW, why)
                    else:
                        loop._reject(row, why.field, why.value, why.reason, why.code, raw_of[row])
            if rows:
                self.score(rows, columns)
            elif loop.held_rows:
                self.write([], {}, [], [])
            loop.held_rows = None
            if progress is not None and count // every != before // every:
                progress(count)
        if progress is not None:
            progress(count)

    def score(self, rows, columns: dict) -> None:
        """Score, write and total one batch of valid rows (columns by field name)."""
        days = list(map(self.days.get, columns["signed"]))
        for i in _places_of_none(days):
            days[i] = self.day(columns["signed"][i])
        key_columns = [columns[name] for name in self.key_fields]
        # The keys are made, looked up and dropped one by one; a miss makes its key again.
        outcomes = list(map(self.memo.get, zip(map(_VERSION_INDEX, days), *key_columns)))
        for i in _places_of_none(outcomes):
            key = (days[i][0], *(values[i] for values in key_columns))
            outcomes[i] = self.outcome(key, days[i], columns, i)
        self.write(rows, columns, days, outcomes)
        self.total(columns, days, outcomes)

    def day(self, signed: date) -> tuple:
        """(version index or -1, date text, period, version name, version, those three as CSV) of a date."""
        info = self.days.get(signed)
        if info is None:
            version, name, period, text = self.loop._day(self.lane, signed)
            index = self.versions.index(version) if version is not None else -1
            info = self.days[signed] = (index, text, period, name, version, csv_fields([text, period, name]))
        return info

    def outcome(self, key: tuple, day: tuple, columns: dict, i: int):
        """A memo miss: look the narrower key up, or score the record."""
        version = _VERSION(day)
        if version is None:  # the reason names the date, which no key holds: not memoised
            return self.loop._afresh(None, None, day[1])
        record = {name: values[i] for name, values in columns.items()}
        narrow = (key[0], version.plan.narrow_key(record))
        outcome = self.narrow.get(narrow)
        if outcome is None:
            if len(self.narrow) >= MEMO_LIMIT:
                self.narrow.clear()
            outcome = self.narrow[narrow] = self.loop._afresh(version, record, day[1])
        if len(self.memo) >= MEMO_LIMIT:
            self.memo.clear()
        self.memo[key] = outcome
        return outcome

    def write(self, rows, columns: dict, days: list, outcomes: list) -> None:
        """The batch's lines of contracts.csv and rows.csv, in row order (rows.csv with the loop's held
        rejects merged in).

        The output writer (engine.cells) quotes a cell only for a comma, a quote or a line end in it and
        prefixes one only for a formula's first character; day and outcome cells are made as CSV once
        (`csv_fields`), so when the batch's ids and products hold none of those a line is one
        `str.join` in C, and the head of a line (file, row, ids) is joined once for both files.
        Otherwise the writer writes the batch's contract lines.
        """
        outputs, held = self.loop.outputs, self.loop.held_rows
        if outputs.contract_file is None:
            return
        if not rows:
            if held:
                outputs.rows_file.write("\n".join(map(_SECOND, held)) + "\n")
            return
        ids, partners = columns["contract_id"], columns["partner_id"]
        products = columns.get("product")
        if products is None:
            products = [""] * len(outcomes)
        elif not all(products):
            products = [p or "" for p in products]
        plain = _plain_cells(ids) and _plain_cells(partners)
        if plain:
            heads = list(map(",".join, zip(repeat(outputs.file_csv), map(str, rows), ids, partners)))
        else:
            heads = [csv_fields([outputs.file, row, i, p]) for row, i, p in zip(rows, ids, partners)]
        if plain and _plain_cells(products):
            lines = map(",".join, zip(heads, map(_DAY_CSV, days), products, map(_OUTCOME_CSV, outcomes)))
            outputs.contract_file.write("\n".join(lines) + "\n")
        else:
            outputs.contract_rows(zip(repeat(outputs.file), rows, ids, partners, map(_DAY_TEXT, days),
                                      map(_PERIOD, days), map(_VERSION_NAME, days), products,
                                      map(_STATUS, outcomes), map(_POINTS_TEXT, outcomes),
                                      map(_RULES_TEXT, outcomes), map(_CODE_TEXT, outcomes),
                                      map(_REASON_TEXT, outcomes)))
        lines = map(",".join, zip(heads, map(_OUTCOME_ROWS_CSV, outcomes)))
        if held:
            lines = map(_SECOND, heapq.merge(zip(rows, lines), held, key=_FIRST))
        outputs.rows_file.write("\n".join(lines) + "\n")

    def total(self, columns: dict, days: list, outcomes: list) -> None:
        """Counts, the run's total and the partner-period totals, added in row order as the row path adds."""
        lane, counts = self.lane, self.lane.counts
        scored = list(filter(_SCORED, outcomes))
        counts.rows += len(outcomes)
        counts.scored += len(scored)
        counts.unscored += len(outcomes) - len(scored)
        lane.points_total = sum(map(_POINTS, scored), lane.points_total)
        if len(scored) < len(outcomes):
            self._count_unscored(columns, outcomes)
        # The row path's partner update (engine.run `_Loop._score`) written out again rather than
        # shared: this loop is most of the Python left per row, and a method call per row adds ~30 ns.
        get = lane.partners.get
        for key, outcome in zip(zip(columns["partner_id"], map(_PERIOD, days)), outcomes):
            pp = get(key)
            if pp is None:
                pp = lane.partner(*key)
            if outcome.scored:
                pp.scored += 1
                pp.points += outcome.points
                by_rule, rule_contracts = pp.by_rule, pp.rule_contracts
                for rule_id, points in outcome.paid:
                    by_rule[rule_id] = by_rule.get(rule_id, ZERO) + points
                    rule_contracts[rule_id] += 1
            else:
                pp.unscored += 1
                pp.reasons[outcome.code] += 1

    def _count_unscored(self, columns: dict, outcomes: list) -> None:
        """Unscored reasons, and the products and customers no rule covers."""
        counts = self.lane.counts
        products, customers = columns.get("product"), columns.get("customer")
        for i, outcome in enumerate(outcomes):
            if not outcome.scored:
                counts.count_unscored(outcome.code, products[i] if products else None,
                                      customers[i] if customers else None)
