"""Benchmark: `points evaluate` end to end against a hand-written scorer of the same rules.

    python bench/bench_evaluate.py [--rows 1000000] [--keep DIR]

Generates a synthetic program (two versions, 40 products: mobile tariffs by customer type,
fixed-line orders, per-licence and per-GB products with caps and rounding) and N contracts
spread over both versions, then prints:
- contracts/s of `points evaluate --engine python` (the row engine, the reference) as a separate
  process (CSV in, all output files written, untraced), and its peak memory, for N and for N/4
  (memory must not grow with N); bench/bench_columnar.py puts the DuckDB engine beside it;
- contracts/s of a minimal hand-written scorer (csv + dict lookup + Decimal) of the same rules,
  run in this process, and the ratio of the two;
- parse + check + compile time of the example program, and the time to explain one partner-period.
Figures vary with the machine: compare ratios, and run it twice. Speeds are given by CPU time
(user + system of the `points` process; process time of the hand-written scorer), which other
work on the machine disturbs far less than wall time; wall time is shown beside it.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOBILE = [f"Mobile {i:02d}" for i in range(30)]
FIXED = [f"Fixed {i:02d}" for i in range(6)]
LICENCE = ["Cloud Phone", "Cloud Phone Pro"]
POOL = ["Data Pool", "Data Pool Plus"]
PRODUCTS = MOBILE + FIXED + LICENCE + POOL  # 40


def mobile_points(i: int, version: int) -> tuple[int, int]:
    base = 20 + 10 * i + (5 if version == 2 and i % 3 == 0 else 0)
    return base, base // 3


def fixed_points(i: int, version: int) -> int:
    return 50 + 25 * i + (10 if version == 2 else 0)


def ruleset_text(version: int) -> str:
    """One synthetic version in the ruleset language."""
    lines = [
        'program "Benchmark Program"',
        f'version "{2015 + version}.01"',
        f"effective {2015 + version}-01-01",
        "",
        "input contract {",
        "  contract_id: text, required, unique",
        "  partner_id:  text, required",
        "  signed:      date, required",
        "  product:     text, required",
        "  customer:    one of (new, existing), default new",
        "  quantity:    integer >= 1, default 1",
        "  pool_gb:     decimal >= 0, default 0",
        "}",
        "",
        "tiers {",
        "  Basic from 0",
        "  Advanced from 7_500",
        f"  Expert from {15_000 if version == 1 else 16_000}",
        "  ExpertPlus from 45_000",
        "}",
        "",
        "table mobile by product, customer {",
    ]
    for i, name in enumerate(MOBILE):
        new, existing = mobile_points(i, version)
        lines.append(f'  "{name}": new {new}, existing {existing}')
    lines += ["}", "", "table fixed by product {"]
    lines += [f'  "{name}": {fixed_points(i, version)}' for i, name in enumerate(FIXED)]
    lines += [
        "}", "",
        'rule "Mobile" {', "  when product in mobile", "  points mobile[product, customer] * quantity", "}", "",
        'rule "Fixed" {', "  when product in fixed", "  points fixed[product] * quantity", "}", "",
        'rule "Licences" {', '  when product in ("Cloud Phone", "Cloud Phone Pro")',
        f"  points {20 if version == 1 else 25} per quantity, at most 400", "}", "",
        'rule "Pool" {', '  when product in ("Data Pool", "Data Pool Plus")',
        "  points 2.5 per pool_gb, at most 2_500, rounded half up", "}", "",
    ]
    return "\n".join(lines)


def write_program(folder: Path) -> Path:
    """The two versions as a program folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for v in (1, 2):
        (folder / f"v{v}.rules").write_text(ruleset_text(v), encoding="utf-8")
    return folder


def write_contracts(path: Path, rows: int, seed: int = 7) -> None:
    """N contracts over 400 partners, signed across 2016 and 2017 (one version each)."""
    rng = random.Random(seed)
    start = date(2016, 1, 1)
    days = [(start + timedelta(days=d)).isoformat() for d in range(730)]
    partners = [f"P-{i:04d}" for i in range(400)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["contract_id", "partner_id", "signed", "product", "customer", "quantity", "pool_gb"])
        for n in range(rows):
            product = rng.choice(PRODUCTS)
            pool = f"{rng.randint(1, 2000) / 4}" if product in POOL else ""
            w.writerow([f"C{n:08d}", rng.choice(partners), rng.choice(days), product,
                        rng.choice(("new", "existing")), rng.randint(1, 30), pool])


def hand_written(path: Path) -> tuple[int, Decimal]:
    """The same rules as plain Python: csv + dict lookup + Decimal, partner totals per year."""
    tables = {}
    for version in (1, 2):
        t = {}
        for i, name in enumerate(MOBILE):
            new, existing = mobile_points(i, version)
            t[(name, "new")], t[(name, "existing")] = Decimal(new), Decimal(existing)
        for i, name in enumerate(FIXED):
            t[(name, "new")] = t[(name, "existing")] = Decimal(fixed_points(i, version))
        tables[version] = t
    licence = {1: Decimal(20), 2: Decimal(25)}
    cap_l, cap_p, rate_p = Decimal(400), Decimal(2500), Decimal("2.5")
    totals: dict = {}
    seen = set()
    count = 0
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for cid, partner, signed, product, customer, quantity, pool in reader:
            count += 1
            if cid in seen:
                continue
            seen.add(cid)
            version = 1 if signed < "2017-01-01" else 2
            q = int(quantity)
            if product in LICENCE:
                pts = min(licence[version] * q, cap_l)
            elif product in POOL:
                pts = min(rate_p * Decimal(pool), cap_p).quantize(Decimal(1), ROUND_HALF_UP)
            else:
                pts = tables[version][(product, customer)] * q
            key = (partner, signed[:4])
            totals[key] = totals.get(key, 0) + pts
    return count, sum(totals.values(), Decimal(0))


PEAK_WRAPPER = """
import resource, runpy, sys
sys.argv = ["points"] + sys.argv[1:]
try:
    runpy.run_module("engine", run_name="__main__")
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"PEAK_KIB={usage.ru_maxrss} CPU_S={cpu}", file=sys.stderr)
"""


def run_points(program: Path, data: Path, out: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of `points evaluate --engine python` in its own process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, "evaluate", str(program), str(data), "--out", str(out),
                           "--json", "--engine", "python"], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"points evaluate failed:\n{proc.stderr}")
    peak = int(proc.stderr.rsplit("PEAK_KIB=", 1)[1].split()[0])
    cpu = float(proc.stderr.rsplit("CPU_S=", 1)[1].split()[0])
    return elapsed, cpu, peak


def points_total(out: Path) -> Decimal:
    import json

    return Decimal(json.loads((out / "manifest.json").read_text())["points_total"])


def time_example_program() -> tuple[float, float]:
    """Seconds to parse, check and compile the example program; seconds to explain one partner-period."""
    sys.path.insert(0, str(ROOT))
    from engine.program import load_program
    from engine.run import RunOptions, evaluate

    t0 = time.perf_counter()
    program = load_program(ROOT / "rulesets" / "o2-business")
    load_s = time.perf_counter() - t0
    found = []
    t0 = time.perf_counter()
    evaluate(program, ROOT / "examples" / "contracts.csv",
             RunOptions(trace_when=lambda n, rec: rec["partner_id"] == "P-007", on_traced=found.append))
    return load_s, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="Keep generated files in this folder.")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="points-bench-"))
    program = write_program(work / "program")
    small, big = work / "contracts-quarter.csv", work / "contracts.csv"
    t0 = time.perf_counter()
    write_contracts(big, args.rows)
    write_contracts(small, max(args.rows // 4, 1))
    print(f"generated {args.rows:,} contracts (40 products, 2 versions) in {time.perf_counter() - t0:.1f} s: {big}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    _, _, q_rss = run_points(program, small, work / "out-quarter")
    p_s, p_cpu, p_rss = run_points(program, big, work / "out")
    t0, c0 = time.perf_counter(), time.process_time()
    count, hand_total = hand_written(big)
    h_s, h_cpu = time.perf_counter() - t0, time.process_time() - c0
    engine_total = points_total(work / "out")
    load_s, explain_s = time_example_program()

    print()
    print(f"points evaluate --engine python, end to end (CSV in, 6 files out, untraced): "
          f"{args.rows / p_cpu:>10,.0f} contracts/s by CPU ({p_cpu:.2f} s CPU, {p_s:.2f} s wall)")
    print(f"hand-written plain-Python scorer (no outputs, no checks):  {count / h_cpu:>10,.0f} contracts/s  "
          f"({h_cpu:.2f} s CPU, {h_s:.2f} s wall)")
    print(f"ratio engine / hand-written, by CPU time (wall time):      {h_cpu / p_cpu:>10.2f}  ({h_s / p_s:.2f})")
    print(f"peak memory of points evaluate: {p_rss / 1024:,.0f} MiB for {args.rows:,} rows; "
          f"{q_rss / 1024:,.0f} MiB for {args.rows // 4:,} rows")
    print(f"parse + check + compile of rulesets/o2-business (3 versions): {load_s * 1000:,.0f} ms")
    print(f"explain one partner-period (P-007 over examples/contracts.csv): {explain_s * 1000:,.0f} ms")
    same = "yes" if engine_total == hand_total else f"NO: engine {engine_total} vs hand-written {hand_total}"
    print(f"points total equal to the hand-written scorer's: {same}")


if __name__ == "__main__":
    main()
