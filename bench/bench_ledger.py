"""Benchmark: the run ledger among N contracts (default 10^6), in-process through the API.

    python bench/bench_ledger.py [--rows 1000000] [--ledger URL] [--keep DIR]

Generates the synthetic program and export of bench_evaluate.py, scores it with a Recording (the
row path `points evaluate --ledger` takes), then prints:
- the scoring time with the recording, and the recording time (`Ledger.record_run`: one
  transaction, every contract with its validated record, partner periods and rule totals);
- the latency of the answers `points explain --run` gives, measured in this process (CLI start-up
  alone is ~130 ms): a contract by id and a partner-period (rules, top contracts, adjustments), as
  the median and the slowest of 200 random questions each, and one `--full` re-derivation.
Wall time waits for the disk (and, on PostgreSQL, the server); CPU time is this process's. The
default ledger is a SQLite file in a temporary folder; `--ledger postgresql://...` measures a
PostgreSQL database (it must be empty).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_evaluate import write_contracts, write_program  # noqa: E402

QUESTIONS = 200


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def build_ledger(folder: Path, rows: int, url: str | None = None, report=print):
    """Write the synthetic program and export of `rows` contracts into `folder` (the export is kept
    when it exists), score it with a Recording and record the run in the ledger `url` (default: a
    SQLite file in `folder`). Returns (the open ledger, the run id, the run's result); `report`
    gets the timing lines. bench_web.py builds its ledger with this."""
    from engine.ledger import Recording, open_ledger
    from engine.program import load_program
    from engine.run import RunOptions, evaluate

    folder.mkdir(parents=True, exist_ok=True)
    program_dir = write_program(folder / "program")
    data = folder / "contracts.csv"
    if not data.exists():
        write_contracts(data, rows)
    url = url or str(folder / "bench.ledger")
    program = load_program(program_dir)

    recording = Recording()
    options = RunOptions(on_row=recording.on_row, on_reject=recording.on_reject)
    cpu = time.process_time()
    scoring, result = timed(evaluate, program, data, options)
    scoring_cpu, cpu = time.process_time() - cpu, time.process_time()
    ledger = open_ledger(url)
    recording_time, run_id = timed(ledger.record_run, result, options, recording)
    recording_cpu = time.process_time() - cpu
    recording.close()
    n = result.counts.rows
    report(f"{n:,} contracts ({result.counts.scored:,} scored), ledger {ledger.shown} ({ledger.db.dialect})")
    report(f"scoring with the recording (row path): {scoring:6.1f} s wall, {scoring_cpu:6.1f} s CPU "
           f"({n / scoring_cpu:,.0f} contracts per CPU second)")
    report(f"recording the run (one transaction):   {recording_time:6.1f} s wall, {recording_cpu:6.1f} s CPU of this "
           f"process ({n / recording_time:,.0f} contracts per second of wall time)")
    return ledger, run_id, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ledger", help="a ledger URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--keep", type=Path, help="keep the generated files and ledger in this folder")
    args = parser.parse_args()

    from engine.ledger.answers import contract_answer, partner_answer, rederive

    folder = args.keep or Path(tempfile.mkdtemp(prefix="points-bench-ledger-"))
    ledger, run_id, result = build_ledger(folder, args.rows, args.ledger)

    rng = random.Random(11)
    every_997th = "SELECT contract_id FROM contracts WHERE run_id = ? AND input_row - input_row / 997 * 997 = 0"
    ids = [row[0] for row in ledger.db.query(every_997th, (run_id,))]
    periods = [(p.partner_id, p.period) for p in result.partners]
    contract_times, partner_times = [], []
    for _ in range(QUESTIONS):
        t, answer = timed(contract_answer, ledger, run_id, rng.choice(ids))
        assert answer["contracts"]
        contract_times.append(t)
        partner, period = rng.choice(periods)
        t, answer = timed(partner_answer, ledger, run_id, partner, period)
        assert answer["partner"]["partner_id"] == partner
        partner_times.append(t)
    for label, times in (("a contract by id", contract_times), ("a partner-period (top 20)", partner_times)):
        print(f"explain from the ledger, {label:<26} median {statistics.median(times) * 1000:6.2f} ms, "
              f"slowest {max(times) * 1000:6.2f} ms  ({QUESTIONS} questions)")
    contract = contract_answer(ledger, run_id, ids[0])["contracts"][0]
    t, _ = timed(rederive, ledger, run_id, contract)
    print(f"explain --full (re-derived from the recorded sources, parse and compile included): {t * 1000:.0f} ms")
    ledger.close()
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
