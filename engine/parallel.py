"""A large CSV export evaluated in several processes, with the output files of one process byte for byte.

Design:
- Only the batch path's run splits (one lane by signed date, nothing traced, a CSV export, one
  input block for every version; engine.batch), and only a file of `PARALLEL_BYTES` or more in
  UTF-8 or a one-byte encoding (where a line end is one byte that no other character contains).
- The file is cut after line ends into byte ranges of about equal size. This process evaluates
  the first range into the output folder; each other range runs in a forked child (the compiled
  program is inherited, nothing is pickled going in) that writes its contract and reject lines
  to part files and sends back its counts, partner-period totals and `unique` values. The parts
  are appended in order and the totals merged in order, so every file is what one process writes.
- Row numbers: a range's rows continue the row count of the ranges before it, which is taken to
  be their number of line ends. That holds only when each record of those ranges is one line;
  a record that spans lines (a quoted cell with a line break) makes the count differ, and the
  range's own count of records then tells: the run falls back to one process. A range must also
  end a record: its last line is parsed alone (it begins a record when every record is a line)
  and must not leave a quote open.
- `unique` fields: a child starts with no values seen, so a value first seen in an earlier range
  would not make its row a repeat. When a value is seen in two ranges, the children's work is
  dropped and this process goes on after the first range as one process would (its values
  remembered, the rows numbered on): about one process's time in all, where running the whole
  file again would cost half as much again.
- Decimal sums: one process adds every partner total in row order; the merge adds partial sums.
  Both are the same Decimal when no sum is ever rounded: every term's exponent is at least E and
  its size at most M, so with N terms any partial sum is a multiple of 10**E below N * M, exact
  when N * M < 10**(precision + E). Each process notes E and M of the outcomes it scores (a memo
  miss, so cheap); when the bound fails, this process goes on after the first range as for a
  repeated value, adding in row order.
- A file one process cannot read (decoding, CSV) is run again in one process, so the error is
  exactly the one process's error (what the split wrote is removed first).
- Opt-in: a run splits only when asked (`RunOptions.workers` of 2 or more, or None for one process
  per core; `points evaluate --workers N`); one process is the default. The part files live in a
  `.points-parts-*` folder inside the output folder's staging folder (engine.outputs), so they go
  with it whatever happens, and each child dies with its parent (PR_SET_PDEATHSIG on Linux, and a
  check of the parent's pid), so a parent killed with SIGKILL leaves no child blocked on its pipe.
- Progress: this process reports its own range as it goes, then the rows of the whole run.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from decimal import Decimal, getcontext
from pathlib import Path

from engine import run
from engine.batch import collector_paused
from engine.outputs import create
from engine.readers import KINDS, InputError, open_rows, sha256_of

PARALLEL_BYTES = 20 << 20  # below this a second process costs more than it saves
MAX_WORKERS = 4  # the automatic number of processes stops here (memory grows with each)
_CHUNK = 1 << 20
_PR_SET_PDEATHSIG = 1
_ONE_BYTE_LINE_ENDS = ("ascii", "iso8859", "latin", "cp125", "cp437", "cp850", "mac-")  # and utf-8


def automatic_workers() -> int:
    """The processes to use when none are asked for: the cores this process may run on, at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


@dataclass(frozen=True)
class _Range:
    """Bytes [start, end) of the file, after `rows_before` records (the header included)."""

    start: int
    end: int
    rows_before: int
    lines: int  # line ends in the range: its records when each record is one line


@dataclass
class _Part:
    """What a range's process hands back."""

    records: int  # records read, blank ones included
    counts: run.Counts
    partners: dict
    points_total: Decimal
    unique: list  # per unique field, the values its rows claimed (a dict in this process, a list from a child)
    finest: int  # the smallest exponent of any points added
    largest: Decimal  # the largest size of any points added
    finite: bool


def evaluate_split(program, data: Path, options: run.RunOptions, out_dir: Path | None) -> run.RunResult | None:
    """The run of engine.run.evaluate in several processes; None when it must run in one (module docstring)."""
    workers = options.workers if options.workers is not None else automatic_workers()
    if workers < 2 or options.trace_when is not None or KINDS.get(data.suffix.lower()) != "csv":
        return None
    try:
        if data.stat().st_size < PARALLEL_BYTES:
            return None
        layout = _layout(program, data, options, workers)
    except (InputError, OSError):
        return None  # one process says what is wrong, exactly as it always has
    if layout is None:
        return None
    return _run_ranges(program, data, options, out_dir, layout)


# --------------------------------------------------------------------------- where to cut


def _layout(program, data: Path, options: run.RunOptions, workers: int) -> list[_Range] | None:
    """The byte ranges to evaluate, or None when the run is not one to split."""
    with open_rows(data, delimiter=options.delimiter, encoding=options.encoding) as source:
        probe = run._Loop(program, source, options, [run.Lane(program)], run._Outputs(None))
        if probe.newest.header_problems(source.header) or not probe._batchable():
            return None
        if source.header_lines != 1 or not _line_end_is_one_byte(source.encoding):
            return None  # a header over several lines; an encoding whose line end is wider
        encoding, delimiter = source.encoding, source.delimiter
    end_byte = _newline(data).encode("ascii")
    with open(data, "rb") as f:
        header_end = f.read(_CHUNK).find(end_byte) + 1
        size = os.fstat(f.fileno()).st_size
        if header_end == 0:
            return None
        cuts = _cuts(f, header_end, size, workers, end_byte)
        if len(cuts) < 3:
            return None
        ranges, rows = [], 1
        for a, b in zip(cuts, cuts[1:]):
            lines = _count(f, a, b, end_byte) if b < size else 0
            if b < size and not _closes_record(_last_line(f, a, b, end_byte), encoding, delimiter):
                return None
            ranges.append(_Range(a, b, rows, lines))
            rows += lines
    return ranges


def _line_end_is_one_byte(encoding: str) -> bool:
    """UTF-8 or a one-byte encoding: a line end is a byte no other character contains (not utf-8-sig,
    which would drop a BOM at the start of a range)."""
    return encoding == "utf-8" or encoding.startswith(_ONE_BYTE_LINE_ENDS)


def _cuts(f, header_end: int, size: int, parts: int, end_byte: bytes) -> list[int]:
    """Offsets just after a line end near each of `parts` equal shares of the rows' bytes."""
    cuts = [header_end]
    for i in range(1, parts):
        at = _next_line_start(f, header_end + (size - header_end) * i // parts, end_byte)
        if at is not None and cuts[-1] < at < size:
            cuts.append(at)
    return cuts + [size]


def _next_line_start(f, offset: int, end_byte: bytes) -> int | None:
    f.seek(offset)
    while True:
        block = f.read(1 << 16)
        if not block:
            return None
        found = block.find(end_byte)
        if found >= 0:
            return offset + found + 1
        offset += len(block)


def _count(f, start: int, end: int, end_byte: bytes) -> int:
    """Line ends in bytes [start, end)."""
    f.seek(start)
    lines, left = 0, end - start
    while left > 0:
        block = f.read(min(_CHUNK, left))
        if not block:
            break
        lines += block.count(end_byte)
        left -= len(block)
    return lines


def _last_line(f, start: int, end: int, end_byte: bytes) -> bytes:
    """The last line of bytes [start, end), which end with a line end."""
    tail, at = b"", end - 1  # the range's final line end is not the one before its last line
    while at > start:
        step = min(1 << 16, at - start)
        f.seek(at - step)
        block = f.read(step)
        found = block.rfind(end_byte)
        if found >= 0:
            return block[found + 1:] + tail + end_byte
        tail, at = block + tail, at - step
    f.seek(end - 1)
    return tail + f.read(1)


def _closes_record(line: bytes, encoding: str, delimiter: str) -> bool:
    """Whether a line read as a whole record leaves no quote open (a line after it starts a new record)."""
    try:
        text = line.decode(encoding)
        return len(list(csv.reader([text, "x\n"], delimiter=delimiter, strict=False))) == 2
    except (UnicodeDecodeError, csv.Error):
        return False


# --------------------------------------------------------------------------- one range


def _open_range(data: Path, options: run.RunOptions, part: _Range, newline: str):
    """A CSV source (engine.readers) whose records are those of `part`, numbered after the ones before.

    Opening the file as usual keeps the reader's header check, delimiter sniffing and error
    messages; `restrict` then points it at the range.
    """
    source = open_rows(data, delimiter=options.delimiter, encoding=options.encoding)
    source.restrict(part.start, part.end, part.rows_before, newline)
    return source


class _RangeLoop(run._Loop):
    """The runner's loop, noting the finest exponent and the largest size of the points it scores."""

    def __init__(self, *args):
        super().__init__(*args)
        self.finest, self.largest, self.finite = 0, Decimal(0), True

    def _afresh(self, version, record, day_text, tracer=None):
        outcome = super()._afresh(version, record, day_text, tracer)
        if outcome.scored:
            for points in (outcome.points, *(p for _, p in outcome.paid)):
                if not points.is_finite():
                    self.finite = False
                    continue
                self.finest = min(self.finest, points.as_tuple().exponent)
                self.largest = max(self.largest, points.copy_abs())
        return outcome


def _evaluate_range(program, data: Path, options: run.RunOptions, part: _Range, newline: str,
                    out_dir: Path | None) -> tuple[_Part, run._Loop]:
    """Evaluate one range into `out_dir`'s contract and reject files (closed on return)."""
    lane = run.Lane(program)
    outputs = run._Outputs(out_dir)
    outputs.begin_file(run.file_labels([data])[0])
    try:
        with _open_range(data, options, part, newline) as source:
            loop = _RangeLoop(program, source, options, [lane], outputs)
            loop.run()
            records = source.records_read - part.rows_before
    finally:
        outputs.close()
    unique = [seen for _, seen in loop.newest.unique_seen]
    return _Part(records, lane.counts, lane.partners, lane.points_total, unique, loop.finest, loop.largest,
                 loop.finite), loop


# --------------------------------------------------------------------------- the processes


def _newline(data: Path) -> str:
    """The line end engine.readers splits a one-byte-line-end file on: CR when the start has no LF."""
    with open(data, "rb") as f:
        start = f.read(_CHUNK)
    return "\r" if b"\r" in start and b"\n" not in start else "\n"


def _die_with(parent: int) -> None:
    """Make this child die when its parent does (Linux: PR_SET_PDEATHSIG), so a parent killed with
    SIGKILL leaves no child blocked on its pipe; a parent already gone ends the child now."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _child(conn, program, data, options, part, newline, out_dir, parent=None) -> None:
    """A child's whole work: its range evaluated, the result (or None on any failure) sent back."""
    if parent is not None:
        _die_with(parent)
    try:
        with collector_paused():
            result, _ = _evaluate_range(program, data, options, part, newline, out_dir)
            result.unique = [list(seen) for seen in result.unique]  # the rows they came from are not needed
    except BaseException:  # noqa: BLE001 - any failure means: run in one process
        result = None
    try:
        conn.send(result)
    finally:
        conn.close()


def _run_ranges(program, data: Path, options: run.RunOptions, out_dir: Path | None,
                ranges: list[_Range]) -> run.RunResult | None:
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None  # the children inherit the compiled program: no fork, no split
    context = multiprocessing.get_context("fork")
    newline = _newline(data)
    quiet = replace(options, progress=None)
    parts_dir = None
    if out_dir is not None:  # the output folder's staging folder (engine.outputs): the parts go with it
        parts_dir = Path(tempfile.mkdtemp(prefix=".points-parts-", dir=out_dir))
    children = []
    try:
        for i, part in enumerate(ranges[1:], 1):
            receive, send = context.Pipe(duplex=False)
            part_out = parts_dir / str(i) if parts_dir is not None else None
            child = context.Process(target=_child, args=(send, program, data, quiet, part, newline, part_out,
                                                         os.getpid()), daemon=True)
            child.start()
            send.close()
            children.append((child, receive, part_out))
        try:
            first, loop = _evaluate_range(program, data, options, ranges[0], newline, out_dir)
        except InputError:
            return None
        input_sha256 = sha256_of(data)  # while the children finish
        parts = [first] + [_receive(receive) for _, receive, _ in children]
        if not _numbered(parts, ranges):
            return None
        if _mergeable(parts):
            if out_dir is not None:
                for _, _, part_out in children:
                    _append(part_out, out_dir)
            lane = _merged(program, parts)
        else:
            try:
                lane = _continue(program, data, options, ranges, newline, out_dir, loop)
            except InputError:  # not seen in the child's reading of the same bytes; one process decides
                return None
        return _result(program, data, input_sha256, options, out_dir, lane, loop.notes)
    finally:
        for child, receive, _ in children:
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()
        if parts_dir is not None:
            shutil.rmtree(parts_dir, ignore_errors=True)


def _receive(receive) -> _Part | None:
    try:
        return receive.recv()
    except (EOFError, OSError):  # the child died
        return None


def _numbered(parts: list, ranges: list[_Range]) -> bool:
    """Whether every range was read and numbered its rows as one process does (module docstring)."""
    if any(p is None for p in parts):
        return False
    return all(p.records == r.lines for p, r in zip(parts[:-1], ranges[:-1]))


def _mergeable(parts: list) -> bool:
    """Whether merging the parts gives what one process gives: no `unique` value in two ranges, no sum
    ever rounded (module docstring)."""
    for field, first in enumerate(parts[0].unique):
        later: set = set()
        for i, part in enumerate(parts[1:], 2):
            values = part.unique[field]
            # `in` on the dict, mapped in C: faster than dict_keys.isdisjoint on a list
            if any(map(first.__contains__, values)) or not later.isdisjoint(values):
                return False
            if i < len(parts):
                later.update(values)
    return _sums_exact(parts)


def _sums_exact(parts: list) -> bool:
    """N * M < 10**(precision + E), in integers (module docstring)."""
    if not all(p.finite for p in parts):
        return False
    finest = min(p.finest for p in parts)
    largest = max(p.largest for p in parts)
    terms = sum(p.counts.scored for p in parts)
    digits = largest.as_tuple()
    units = int("".join(map(str, digits.digits)) or "0") * 10 ** (digits.exponent - finest)
    return terms * units < 10 ** (getcontext().prec)


def _append(part_out: Path, out_dir: Path) -> None:
    """A child's contract and reject lines after this process's, its header line left out."""
    for name in ("contracts.csv", "rejects.csv", "rows.csv"):
        with open(part_out / name, "rb") as src, create(out_dir / name, binary=True, append=True) as dst:
            src.readline()
            shutil.copyfileobj(src, dst, _CHUNK)


# --------------------------------------------------------------------------- the merge


def _merged(program, parts: list) -> run.Lane:
    """The lane of the whole run from the parts' counts and totals, merged in range order."""
    lane = run.Lane(program)
    lane.counts, lane.partners, lane.points_total = parts[0].counts, parts[0].partners, parts[0].points_total
    for part in parts[1:]:
        _merge_counts(lane.counts, part.counts)
        _merge_partners(lane.partners, part.partners)
        lane.points_total += part.points_total
    return lane


def _continue(program, data: Path, options: run.RunOptions, ranges: list[_Range], newline: str,
              out_dir: Path | None, first: run._Loop) -> run.Lane:
    """The later ranges evaluated here after the first, as one process goes on (the children's work is
    dropped): the first range's `unique` values remembered, every sum added in row order."""
    lane = first.lanes[0]
    rest = _Range(ranges[1].start, ranges[-1].end, ranges[1].rows_before, 0)
    if options.progress is not None:
        before, report = lane.counts.rows, options.progress
        options = replace(options, progress=lambda rows: report(before + rows))
    outputs = _Appending(out_dir)
    outputs.begin_file(run.file_labels([data])[0])
    try:
        with _open_range(data, options, rest, newline) as source:
            loop = run._Loop(program, source, options, [lane], outputs)
            for (_, seen), (_, earlier) in zip(loop.newest.unique_seen, first.newest.unique_seen):
                seen.update(earlier)
            loop.run()
    finally:
        outputs.close()
    return lane


class _Appending(run._Outputs):
    """The contract and reject files of a run, opened to add lines after those already written."""

    def _writer(self, name: str, header: list[str]):
        f = create(self.out_dir / name, append=True, buffering=run.WRITE_BUFFER)
        self._files.append(f)
        w = run.cells.writer(f)  # the writer of every output (engine.cells)
        return w.writerow, w.writerows


def _result(program, data: Path, input_sha256: str, options: run.RunOptions, out_dir: Path | None,
            lane: run.Lane, notes: list) -> run.RunResult:
    """The run's result with tiers, and with `out_dir` its partner files and manifest."""
    result = run.RunResult(program, run.display_path(data), input_sha256, [lane], notes=notes)
    run.assign_tiers(lane)
    if out_dir is not None:
        run.write_partner_files(result, out_dir)
    if options.progress is not None:
        options.progress(lane.counts.rows)
    return result


def _merge_counts(into: run.Counts, more: run.Counts) -> None:
    into.rows += more.rows
    into.scored += more.scored
    into.unscored += more.unscored
    into.rejected += more.rejected
    into.unscored_reasons.update(more.unscored_reasons)
    into.rejected_fields.update(more.rejected_fields)
    into.rejected_reasons.update(more.rejected_reasons)
    into.uncovered.update(more.uncovered)
    into.add_lenient(more.lenient)
    if more.last_signed is not None and (into.last_signed is None or more.last_signed > into.last_signed):
        into.last_signed = more.last_signed


def _merge_partners(into: dict, more: dict) -> None:
    """Partner-period totals of a later range added to the earlier ones' (new ones keep their order)."""
    for key, pp in more.items():
        mine = into.get(key)
        if mine is None:
            into[key] = pp
            continue
        mine.points += pp.points
        mine.scored += pp.scored
        mine.unscored += pp.unscored
        for rule, points in pp.by_rule.items():
            mine.by_rule[rule] = mine.by_rule.get(rule, run.ZERO) + points
        mine.rule_contracts.update(pp.rule_contracts)
        mine.reasons.update(pp.reasons)
