"""Benchmark: the workbench's dispute pages answered from a ledger of N contracts (default 10^6).

    python bench/bench_web.py [--contracts 1000000] [--keep DIR] [--ledger PATH] [--requests 30]

Builds the ledger as bench/bench_ledger.py does (its `build_ledger`: the synthetic program and
export of bench_evaluate.py, scored with a Recording, recorded in one transaction), or, with
`--ledger PATH` naming an existing SQLite ledger that bench built (`--keep DIR` keeps DIR/bench.ledger),
reuses its latest run. Then starts the workbench app in-process (Starlette's TestClient, the whole
ASGI stack: routing, sign-in, the thread pool, the templates) on that ledger and asks, after one
warm-up request each, ~30 dispute pages of each kind from the recorded run:
- a contract (`/contract?id=...&run=N`: the recorded answer and its re-derivation, `explain --full`);
- a partner-period (`/partner?id=...&period=...&run=N`: total, tier, rules, top 20 contracts).
It prints the median and slowest wall time and the median CPU time of this process per request (and
the warm-up's wall time: the first contract page of a run re-builds the run's program), and
beside them the ledger API's own latency for the same questions (the raw ledger query:
`engine.ledger.answers.contract_answer` / `partner_answer`, plus `rederive` for the contract page).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ledger import build_ledger  # noqa: E402
from bench_evaluate import write_program  # noqa: E402

LIMIT_MS = 100.0


def measure(fn, args_list):
    """(wall seconds, CPU seconds) of fn(*args) for each args, and the wall seconds of the one
    warm-up call before them."""
    start = time.perf_counter()
    fn(*args_list[0])
    first = time.perf_counter() - start
    walls, cpus = [], []
    for args in args_list:
        cpu, start = time.process_time(), time.perf_counter()
        fn(*args)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, first


def line(label: str, walls, cpus, first) -> str:
    med, slow = statistics.median(walls) * 1000, max(walls) * 1000
    flag = "" if slow < LIMIT_MS else f"  <-- slower than {LIMIT_MS:.0f} ms"
    return (f"  {label:<44} median {med:7.2f} ms, slowest {slow:7.2f} ms, "
            f"CPU median {statistics.median(cpus) * 1000:7.2f} ms (warm-up {first * 1000:6.1f} ms){flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the generated files and ledger in this folder")
    parser.add_argument("--ledger", help="an existing SQLite ledger built by this bench or bench_ledger.py "
                        "(its latest run is used; nothing is generated)")
    parser.add_argument("--requests", type=int, default=30, help="requests of each kind (default 30)")
    args = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")  # Starlette's note about its test client
    from starlette.testclient import TestClient

    from engine.ledger import open_ledger
    from engine.ledger.answers import contract_answer, partner_answer, rederive
    from engine.web.app import create_app
    from engine.web.config import WebConfig

    folder = args.keep or Path(tempfile.mkdtemp(prefix="points-bench-web-"))
    if args.ledger:
        folder.mkdir(parents=True, exist_ok=True)
        url = args.ledger
        ledger = open_ledger(url, migrate=False)
        run_id = ledger.latest_run()
        periods = [(p["partner_id"], p["period"]) for p in ledger.partner_periods(run_id)]
    else:
        ledger, run_id, result = build_ledger(folder, args.contracts)
        url = str(folder / "bench.ledger")
        periods = [(p.partner_id, p.period) for p in result.partners]
    program_dir = write_program(folder / "program")
    (n,) = ledger.db.query("SELECT COUNT(*) FROM contracts WHERE run_id = ?", (run_id,))[0]

    rng = random.Random(17)
    every_997th = "SELECT contract_id FROM contracts WHERE run_id = ? AND input_row - input_row / 997 * 997 = 0"
    ids = [row[0] for row in ledger.db.query(every_997th, (run_id,))]
    contract_qs = [(rng.choice(ids),) for _ in range(args.requests)]
    partner_qs = [rng.choice(periods) for _ in range(args.requests)]

    app = create_app(WebConfig(program=program_dir, ledger=url))
    client = TestClient(app, base_url="http://127.0.0.1")

    def contract_page(cid):
        r = client.get("/contract", params={"id": cid, "run": run_id})
        assert r.status_code == 200 and cid in r.text, (r.status_code, r.text[:300])

    def partner_page(pid, period):
        r = client.get("/partner", params={"id": pid, "period": period, "run": run_id})
        assert r.status_code == 200 and pid in r.text, (r.status_code, r.text[:300])

    program = ledger.program(run_id)

    def contract_api(cid):
        assert contract_answer(ledger, run_id, cid)["contracts"]

    def contract_api_full(cid):
        for c in contract_answer(ledger, run_id, cid)["contracts"]:
            rederive(ledger, run_id, c, program)

    def partner_api(pid, period):
        assert partner_answer(ledger, run_id, pid, period)["partner"]["partner_id"] == pid

    with client:
        results = [
            ("contract page  GET /contract", measure(contract_page, contract_qs)),
            ("  ledger API: contract_answer", measure(contract_api, contract_qs)),
            ("  ledger API: contract_answer + rederive", measure(contract_api_full, contract_qs)),
            ("partner page   GET /partner (a period)", measure(partner_page, partner_qs)),
            ("  ledger API: partner_answer", measure(partner_api, partner_qs)),
        ]
    load = os.getloadavg()
    print(f"{n:,} contracts in run {run_id} of {ledger.shown} ({ledger.db.dialect}); "
          f"{args.requests} requests of each kind after one warm-up; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    for label, figures in results:
        print(line(label, *figures))
    ledger.close()
    if args.keep is None and not args.ledger:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
