"""Benchmark: `points evaluate` beside a hand-written DuckDB job doing the same whole job.

    python bench/bench_columnar.py [--rows 1000000] [--big] [--rounds N] [--spark] [--keep DIR] [--load-only]

Generates N contracts (and 10 x N more with `--big`) over a synthetic program of two versions, once
with 40 products and once with 5,000 (the mobile table grows), and runs each of these in a child
process of its own, side by side on the same file:
- a hand-written DuckDB query doing the whole job: reads the CSV, keeps the first row of each
  contract_id, picks the version by signed date, looks the points up (tables as joins, caps,
  rounding half up), writes a line per contract (CSV) and the partner totals per year (CSV): the
  issue's reference, its targets are ratios to it;
- the same query writing the per-row files `points evaluate` writes (contracts.csv with the input's
  name, the rule that paid, code and reason; rows.csv, a line per input row), which the bench
  compares byte for byte with the DuckDB engine's: the engine's cost over a hand-written job that
  writes what it writes (no checks, no neutralised cells: this file needs none);
- `points evaluate --engine python` (the row engine; plain `points evaluate` where the installed
  engine has no `--engine` option), CSV in, every output file out, untraced;
- `points evaluate --engine duckdb`, when `points evaluate --help` offers it.
For each: wall seconds, contracts/s (by wall time, the run less the fixed cost), and peak memory of
the child (ru_maxrss from wait4). The fixed cost is printed apart: start-up, imports and program
load (the same command on a one-contract file) and hashing (sha256 of the input). Then parse +
check + compile of the 40- and the 5,000-product program (and, each alone, the imports, parse, check
and compile; `--load-only` prints these lines alone), and `points explain --contract`,
`--partner` and `--partner --period` on the N-row file (`--explain-only`: those lines alone).
Figures vary with the machine: compare ratios within one run, and run it twice, or with `--rounds 3`
(every implementation three times, in turn; the targets are judged on the medians).
"""
from __future__ import annotations

import argparse
import csv
import filecmp
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluate import FIXED, LICENCE, POOL, fixed_points, mobile_points  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAME_FILES = "hand-written DuckDB SQL, the same files"
POINTS = [sys.executable, "-m", "engine"]


def mobile_names(products: int) -> list[str]:
    return [f"Mobile {i:04d}" for i in range(products - len(FIXED) - len(LICENCE) - len(POOL))]


def ruleset_text(version: int, mobile: list[str]) -> str:
    """One version of the benchmark program (bench_evaluate's rules, `len(mobile)` mobile tariffs)."""
    lines = [
        'program "Benchmark Program"', f'version "{2015 + version}.01"', f"effective {2015 + version}-01-01", "",
        "input contract {",
        "  contract_id: text, required, unique", "  partner_id:  text, required", "  signed:      date, required",
        "  product:     text, required", "  customer:    one of (new, existing), default new",
        "  quantity:    integer >= 1, default 1", "  pool_gb:     decimal >= 0, default 0", "}", "",
        "tiers {", "  Basic from 0", "  Advanced from 7_500", f"  Expert from {15_000 if version == 1 else 16_000}",
        "  ExpertPlus from 45_000", "}", "", "table mobile by product, customer {",
    ]
    for i, name in enumerate(mobile):
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


def write_program(folder: Path, products: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    mobile = mobile_names(products)
    for v in (1, 2):
        (folder / f"v{v}.rules").write_text(ruleset_text(v, mobile), encoding="utf-8")
    return folder


def write_tables(path: Path, products: int) -> None:
    """The hand-written job's own copy of the point tables: product, customer, version, points."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["product", "customer", "version", "points"])
        for version in (1, 2):
            for i, name in enumerate(mobile_names(products)):
                new, existing = mobile_points(i, version)
                w.writerow([name, "new", version, new])
                w.writerow([name, "existing", version, existing])
            for i, name in enumerate(FIXED):
                w.writerow([name, "new", version, fixed_points(i, version)])
                w.writerow([name, "existing", version, fixed_points(i, version)])


def write_contracts(path: Path, rows: int, products: int, seed: int = 7) -> None:
    """N contracts over 400 partners, signed across 2016 and 2017 (one version each)."""
    rng = random.Random(seed)
    start = date(2016, 1, 1)
    days = [(start + timedelta(days=d)).isoformat() for d in range(730)]
    partners = [f"P-{i:04d}" for i in range(400)]
    names = mobile_names(products) + FIXED + LICENCE + POOL
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["contract_id", "partner_id", "signed", "product", "customer", "quantity", "pool_gb"])
        batch = []
        for n in range(rows):
            product = rng.choice(names)
            pool = f"{rng.randint(1, 2000) / 4}" if product in POOL else ""
            batch.append([f"C{n:08d}", rng.choice(partners), rng.choice(days), product,
                          rng.choice(("new", "existing")), rng.randint(1, 30), pool])
            if len(batch) == 10_000:
                w.writerows(batch)
                batch.clear()
        w.writerows(batch)


DUCKDB_JOB = r"""
import sys, duckdb
data, tables, out, memory = sys.argv[1:5]
con = duckdb.connect()
if memory != "default":
    con.execute(f"SET memory_limit = '{memory}'")
con.execute(f"SET threads = {len(__import__('os').sched_getaffinity(0))}")
con.execute(f'''
CREATE TEMP TABLE scored AS
WITH raw AS (
  SELECT *, row_number() OVER () AS rn
  FROM read_csv('{data}', header = true, all_varchar = true)
), firsts AS (
  SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY contract_id ORDER BY rn) = 1
), typed AS (
  SELECT rn + 1 AS row, contract_id, partner_id, CAST(signed AS DATE) AS signed, product,
         coalesce(nullif(customer, ''), 'new') AS customer,
         CAST(coalesce(nullif(quantity, ''), '1') AS INTEGER) AS quantity,
         CAST(coalesce(nullif(pool_gb, ''), '0') AS DECIMAL(18, 4)) AS pool_gb
  FROM firsts
), versioned AS (
  SELECT *, CASE WHEN signed < DATE '2017-01-01' THEN 1 ELSE 2 END AS version FROM typed
)
SELECT v.row, v.contract_id, v.partner_id, v.signed, CAST(year(v.signed) AS VARCHAR) AS period,
       CASE v.version WHEN 1 THEN '2016.01' ELSE '2017.01' END AS version, v.product,
       CASE
         WHEN t.points IS NOT NULL THEN CAST(t.points * v.quantity AS DECIMAL(18, 4))
         WHEN v.product IN ('Cloud Phone', 'Cloud Phone Pro')
           THEN least(CAST(CASE v.version WHEN 1 THEN 20 ELSE 25 END * v.quantity AS DECIMAL(18, 4)), 400)
         WHEN v.product IN ('Data Pool', 'Data Pool Plus')
           THEN round(least(CAST(2.5 AS DECIMAL(18, 4)) * v.pool_gb, 2500), 0)
       END AS points
FROM versioned v
LEFT JOIN read_csv('{tables}', header = true, all_varchar = false) t
  ON t.product = v.product AND t.customer = v.customer AND t.version = v.version
''')
con.execute(f'''COPY (SELECT row, contract_id, partner_id, signed, period, version, product,
                      CASE WHEN points IS NULL THEN 'unscored' ELSE 'scored' END AS status,
                      CAST(CAST(points AS DECIMAL(18, 0)) AS VARCHAR) AS points
               FROM scored ORDER BY row) TO '{out}/contracts.csv' (HEADER, DELIMITER ',')''')
con.execute(f'''COPY (SELECT partner_id, period, CAST(CAST(sum(points) AS DECIMAL(18, 0)) AS VARCHAR) AS points,
                      count(points) AS contracts_scored
               FROM scored GROUP BY partner_id, period ORDER BY partner_id, period)
               TO '{out}/partners.csv' (HEADER, DELIMITER ',')''')
"""

# The same job writing the per-row files `points evaluate` writes, byte for byte on the bench's data
# (the bench compares them): contracts.csv with the input's name, the rule that paid, the code and the
# reason on every line, and rows.csv, a line per input row. Hand-written for this clean file: no
# checks, no neutralised cells.
DUCKDB_FILES_JOB = DUCKDB_JOB.split("con.execute(f'''COPY")[0] + r"""
import os
name = os.path.basename(data)
text = "CAST(CAST(points AS DECIMAL(18, 0)) AS VARCHAR)"
status = "CASE WHEN points IS NULL THEN 'unscored' ELSE 'scored' END"
rule = ("CASE WHEN product LIKE 'Mobile %' THEN 'mobile=' WHEN product LIKE 'Fixed %' THEN 'fixed=' "
        "WHEN product LIKE 'Cloud Phone%' THEN 'licences=' ELSE 'pool=' END")
con.execute(f'''COPY (SELECT '{name}' AS file, row, contract_id, partner_id, signed, period, version, product,
                      {status} AS status, {text} AS points, {rule} || {text} AS rules, NULL AS code, NULL AS reason
               FROM scored ORDER BY row) TO '{out}/contracts.csv' (HEADER, DELIMITER ',')''')
con.execute(f'''COPY (SELECT '{name}' AS file, row, contract_id, partner_id, {status} AS status, NULL AS code,
                      NULL AS reason
               FROM scored ORDER BY row) TO '{out}/rows.csv' (HEADER, DELIMITER ',')''')
con.execute(f'''COPY (SELECT partner_id, period, CAST(CAST(sum(points) AS DECIMAL(18, 0)) AS VARCHAR) AS points,
                      count(points) AS contracts_scored
               FROM scored GROUP BY partner_id, period ORDER BY partner_id, period)
               TO '{out}/partners.csv' (HEADER, DELIMITER ',')''')
"""


def fixed_cost(argv: list[str], log: Path, runs: int = 3) -> float:
    """The best wall seconds of a one-contract run out of `runs`: a ~1 s figure is noisy on a busy
    machine, and the fixed cost is the least the command needs."""
    return min(child(argv, log)[0] for _ in range(runs))


def child(argv: list[str], log: Path, ok: tuple[int, ...] = (0, 1)) -> tuple[float, int]:
    """Wall seconds and peak memory (KiB) of one child process; exits with its output when it fails
    (an exit status not in `ok`: `points evaluate` exits 1 when it rejected rows, a hand-written job
    only 0; the time of a job that stopped half-way, out of memory say, is no figure)."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    return wall, usage.ru_maxrss


def has_engine_option() -> set[str]:
    """The engines `points evaluate --help` offers (empty when it has no --engine option)."""
    text = subprocess.run([*POINTS, "evaluate", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    if "--engine" not in text:
        return set()
    return {name for name in ("python", "duckdb", "spark") if name in text.split("--engine", 1)[1][:400]}


def sha256_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return time.perf_counter() - t0


def load_seconds(program: Path) -> float:
    """CPU seconds to parse, check and compile a program, in a fresh process (best of three)."""
    code = ("import sys, time; sys.path.insert(0, '.'); from dsl.parser import _lark; _lark();"
            "from engine.program import load_program; t = time.process_time();"
            f"load_program({str(program)!r}); print(time.process_time() - t)")
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                    check=True).stdout) for _ in range(3))


STAGES = r"""
import sys, time; sys.path.insert(0, '.')
from pathlib import Path
from dsl.parser import _lark; _lark()
from engine.program import _no_collection, load_program, ruleset_files
clock = time.process_time
program = Path(sys.argv[1])
t0 = clock()
import dsl.checks, engine.compile
t1 = clock()
with _no_collection():
    trees = [dsl.parser.parse_file(f) for f in ruleset_files(program)]
    t2 = clock()
    found = [dsl.checks.check(r) for r in trees]
    t3 = clock()
    plans = [engine.compile.compile_ruleset(r) for r in trees]
    t4 = clock()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def load_stages(program: Path) -> list[float]:
    """CPU seconds of imports, parse, check and compile, each alone, in a fresh process (best of three)."""
    runs = [[float(x) for x in subprocess.run([sys.executable, "-c", STAGES, str(program)], capture_output=True,
                                              text=True, cwd=ROOT, check=True).stdout.split()] for _ in range(3)]
    return [min(run[i] for run in runs) for i in range(4)]


def print_load(work: Path) -> None:
    """parse + check + compile of the 40- and the 5,000-product program, and where the time goes."""
    for products in (40, 5_000):
        program = write_program(work / f"program-{products}", products)
        print(f"parse + check + compile, {products:,}-product program (2 versions): "
              f"{load_seconds(program) * 1000:,.0f} ms")
        imports, parse, check, compile_ = (s * 1000 for s in load_stages(program))
        print(f"  of which, {products:,}-product program: imports {imports:,.0f} ms, parse {parse:,.0f} ms, "
              f"check {check:,.0f} ms, compile {compile_:,.0f} ms (best of three each; the rest: version checks, "
              "hashing, the collector)")


def run_size(work: Path, rows: int, products: int, engines: set[str], memory: str, spark: bool = False,
             rounds: int = 1) -> list[tuple]:
    """Every implementation on one generated file, `rounds` times in turn (a slow minute of a shared
    machine then falls on every implementation alike): (label, median wall seconds, fixed cost, peak
    KiB) each; the rows of the table printed, each round's wall beside the median."""
    from statistics import median

    tag = f"{rows}-{products}"
    program = write_program(work / f"program-{products}", products)
    tables = work / f"tables-{products}.csv"
    write_tables(tables, products)
    data = work / f"contracts-{tag}.csv"
    if not data.exists():
        write_contracts(data, rows, products)
    one = work / f"one-{products}.csv"
    write_contracts(one, 1, products)
    hashing = sha256_seconds(data)
    out = work / f"duckdb-{tag}"
    out.mkdir(exist_ok=True)
    files = work / f"duckdb-files-{tag}"
    files.mkdir(exist_ok=True)
    fixed_duck = fixed_cost([sys.executable, "-c", DUCKDB_JOB, str(one), str(tables), str(out), memory],
                            work / "duckdb-one.log")
    jobs = [("hand-written DuckDB SQL, the whole job", [sys.executable, "-c", DUCKDB_JOB, str(data), str(tables),
                                                         str(out), memory], work / f"duckdb-{tag}.log", (0,), fixed_duck),
            (SAME_FILES, [sys.executable, "-c", DUCKDB_FILES_JOB, str(data), str(tables), str(files), memory],
             work / f"duckdb-files-{tag}.log", (0,), fixed_duck)]
    for engine in ([e for e in ("python",) if e in engines] + sorted(engines - {"python"})) if engines else ["python"]:
        if engine == "spark" and not (spark and products == 40):
            continue
        flag = ["--engine", engine] if engines else []
        fixed = fixed_cost([*POINTS, "evaluate", str(program), str(one), "--out", str(work / f"out-one-{engine}"),
                            "--json", *flag], work / f"points-one-{engine}.log", 1 if engine == "spark" else 3)
        label = f"points evaluate --engine {engine}" if engines else "points evaluate (the row engine)"
        jobs.append((label, [*POINTS, "evaluate", str(program), str(data), "--out", str(work / f"out-{engine}-{tag}"),
                             "--json", *flag], work / f"points-{engine}-{tag}.log", (0, 1), fixed))
    runs: dict[str, list] = {label: [] for label, *_ in jobs}
    for turn in range(rounds):
        for label, argv, log, ok, _ in jobs:
            if turn == 0 or "spark" not in label:  # Spark's JVM once: it is for scale, with no target
                runs[label].append(child(argv, log, ok))
    lines = [(label, median(w for w, _ in runs[label]), fixed, max(p for _, p in runs[label]))
             for label, _, _, _, fixed in jobs]
    print(f"\n{rows:,} contracts, {products:,} products ({data.stat().st_size / 1e6:,.1f} MB); "
          f"hashing the input (sha256): {hashing:.2f} s")
    ours = work / f"out-duckdb-{tag}"
    if (ours / "contracts.csv").exists():
        same = all(filecmp.cmp(files / name, ours / name, shallow=False) for name in ("contracts.csv", "rows.csv"))
        print(f"{SAME_FILES}: contracts.csv and rows.csv {'the same bytes as' if same else 'NOT the same as'} "
              f"points evaluate --engine duckdb's")
    wall_head = "wall s" if rounds == 1 else "median"
    print(f"{'implementation':<44} {wall_head:>8} {'fixed s':>8} {'contracts/s':>13} {'net/s':>13} {'peak MiB':>9}"
          + ("  each round's wall s" if rounds > 1 else ""))
    for label, wall, fixed, peak in lines:
        net = max(wall - fixed, 1e-9)
        each = "  " + " / ".join(f"{w:.2f}" for w, _ in runs[label]) if rounds > 1 else ""
        print(f"{label:<44} {wall:>8.2f} {fixed:>8.2f} {rows / wall:>13,.0f} {rows / net:>13,.0f} {peak / 1024:>9,.0f}"
              f"{each}")
    return lines


def print_targets(results: dict, sizes: list[int]) -> None:
    """The columnar engine's targets beside what this run measured (ratios within the run)."""
    def find(rows, products, label):
        return next((r for r in results[rows, products] if r[0] == label), None)

    hand = "hand-written DuckDB SQL, the whole job"
    duck = "points evaluate --engine duckdb"
    if find(sizes[0], 40, duck) is None:
        return
    print("\ntargets (points evaluate --engine duckdb):")
    label, wall, fixed, peak = find(sizes[0], 40, duck)
    net = sizes[0] / max(wall - fixed, 1e-9)
    print(f"  >= 1,000,000 contracts/s on {sizes[0]:,} (net of the fixed cost): {net:,.0f}/s "
          f"({'met' if net >= 1_000_000 else 'not met'})")
    for rows in sizes:
        ours, theirs = find(rows, 40, duck), find(rows, 40, hand)
        ratio = ours[1] / theirs[1]
        same = ours[1] / find(rows, 40, SAME_FILES)[1]
        print(f"  within 1.2x of the hand-written job's time at {rows:,}: {ratio:.2f}x "
              f"({'met' if ratio <= 1.2 else 'not met'}; {same:.2f}x the job writing the same files)")
        for products in (40, 5_000):
            ours, theirs = find(rows, products, duck), find(rows, products, hand)
            ratio = ours[3] / theirs[3]
            print(f"  peak memory within 1.5x of the hand-written job's at {rows:,}, {products:,} products: "
                  f"{ours[3] / 1024:,.0f} MiB / {theirs[3] / 1024:,.0f} MiB = {ratio:.2f}x "
                  f"({'met' if ratio <= 1.5 else 'not met'})")
        small, large = find(rows, 40, duck)[1], find(rows, 5_000, duck)[1]
        print(f"  5,000 products within 20% of 40 at {rows:,}: {large / small:.2f}x "
              f"({'met' if large / small <= 1.2 else 'not met'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big", action="store_true", help="Also 10 x --rows contracts (10,000,000 by default).")
    ap.add_argument("--memory", default="default",
                    help="DuckDB's memory limit for the hand-written jobs (default: DuckDB's own, 80%% of the "
                         "memory; at 10,000,000 contracts they need more than 1GB, and stop with 'Out of Memory' "
                         "under it).")
    ap.add_argument("--keep", type=Path, help="Keep generated files in this folder.")
    ap.add_argument("--rounds", type=int, default=1,
                    help="Run every implementation this many times, in turn, and compare medians (3 on a shared "
                         "machine, where one run of a minute can be 20%% off; Spark runs once).")
    ap.add_argument("--spark", action="store_true",
                    help="Also `points evaluate --engine spark` (local mode) on the first size, 40 products.")
    ap.add_argument("--engines", help="Only these engines of points evaluate, comma-separated (e.g. duckdb: the "
                                       "row engine takes minutes at 10,000,000 contracts).")
    ap.add_argument("--explain-only", action="store_true",
                    help="Only the `points explain` lines (on --rows contracts).")
    ap.add_argument("--load-only", action="store_true",
                    help="Only parse + check + compile of the two programs (no contracts, no DuckDB).")
    args = ap.parse_args()
    if args.load_only:
        work = args.keep or Path(tempfile.mkdtemp(prefix="points-columnar-"))
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; work folder {work}")
        bytecode_cache(work)
        print_load(work)
        return
    try:
        import duckdb  # noqa: F401
    except ImportError:
        sys.exit("bench_columnar needs duckdb: pip install -e '.[frames]'")
    work = args.keep or Path(tempfile.mkdtemp(prefix="points-columnar-"))
    work.mkdir(parents=True, exist_ok=True)
    bytecode_cache(work)
    if args.explain_only:
        explain_lines(work, args.rows)
        return
    engines = has_engine_option()
    if args.engines:
        engines &= set(args.engines.split(","))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; work folder {work}")
    print("engines offered by points evaluate --engine: " + (", ".join(sorted(engines)) or "none (one engine)"))
    print("wall s: the whole child process" + (f" (median: of {args.rounds} rounds, each implementation in turn)"
                                                 if args.rounds > 1 else "")
          + "; fixed s: the same command on a one-contract file, best of three (start-up, imports, "
          "program load); net/s: contracts per second of wall time less the fixed cost")
    sizes = [args.rows] + ([args.rows * 10] if args.big else [])
    results = {}
    for rows in sizes:
        for products in (40, 5_000):
            results[rows, products] = run_size(work, rows, products, engines, args.memory,
                                               spark=args.spark and rows == sizes[0], rounds=max(args.rounds, 1))
    print()
    print_load(work)
    for rows in sizes:
        for index, (label, *_rest) in enumerate(results[rows, 40][:len(results[rows, 5_000])]):
            small, large = results[rows, 40][index][1], results[rows, 5_000][index][1]
            print(f"{rows:,} contracts, 5,000 products / 40 products, {label}: {large / small:.2f}x the time")
    print_targets(results, sizes)
    explain_lines(work, args.rows)


def bytecode_cache(work: Path) -> None:
    """Let the children cache the project's compiled modules (in WORK/pycache) as Python does for an
    installed package: where PYTHONDONTWRITEBYTECODE is set, each start would compile every module
    of an editable install from its source again (~0.2 s of the fixed cost)."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        print("PYTHONDONTWRITEBYTECODE was set: the children cache compiled modules in "
              f"{work / 'pycache'} instead (PYTHONPYCACHEPREFIX), as an installed package's are")
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(work / "pycache"))


def explain_lines(work: Path, rows: int) -> None:
    """`points explain` on the N-row file: a contract, a partner, a partner-period (the rows DuckDB
    picks are traced, engine.sql.filter), and the same on a copy with one quote in it (read whole)."""
    data, program = work / f"contracts-{rows}-40.csv", work / "program-40"
    if not program.exists():
        write_program(program, 40)
    if not data.exists():
        write_contracts(data, rows, 40)
    quoted = work / f"contracts-{rows}-40-quoted.csv"  # one id in quotes: explain reads the whole file
    text = data.read_bytes()
    last = text.rstrip(b"\n").rfind(b"\n") + 1
    quoted.write_bytes(text[:last] + b'"' + text[last:last + 9] + b'"' + text[last + 9:])
    asks = [("--contract", f"C{rows // 2:08d}"), ("--partner", "P-0007"), ("--partner", "P-0007", "--period", "2016")]
    for ask in asks:
        times = []
        for source in (data, quoted):
            wall, _ = child([*POINTS, "explain", str(program), str(source), *ask], work / "explain.log")
            times.append(wall)
        print(f"points explain {' '.join(ask)} on the {rows:,}-contract file: {times[0]:.2f} s (the process, "
              f"start-up included); the same file with a quote in it, read whole: {times[1]:.2f} s")

if __name__ == "__main__":
    main()
