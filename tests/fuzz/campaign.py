"""A longer, randomized fuzz campaign over the targets of the fuzz suite, counting failures by cause.

    .venv/bin/python tests/fuzz/campaign.py --minutes 10 [--cpu-minutes M] [--targets csv,jsonl,xlsx,quality,ruleset,program]
        [--seed N] [--big] [--save DIR] [--json FILE]

Each case is one mutant through the commands of its target (see tests/fuzz/targets.py). A case
fails with a cause (e.g. "exit 3 (MarkupError) in explain", "rows lost or invented"); the report
counts cases per target and failures per cause, with the seed of the first cases of each cause
so that `--replay TARGET:SEED` runs one case again and prints what it did. `--big` adds deep
nesting and long `and` chains (thousands of terms) to the ruleset mutants; a command taking more
than 10 s counts as a "slow" failure as well. `--save DIR` keeps the inputs of the first failing
cases of each cause.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fuzz import mutants, targets  # noqa: E402

SLOW = 10.0


class Timed:
    """Wraps mutants.run to time each command."""

    def __init__(self):
        self.slowest = (0.0, None)
        self._run = mutants.run

    def __call__(self, argv):
        start = time.perf_counter()
        result = self._run(argv)
        took = time.perf_counter() - start
        if took > self.slowest[0]:
            self.slowest = (took, [str(a) for a in argv])
        return result


def one_case(target: str, seed: int, big: bool, keep: Path | None = None):
    """(result, cause or None, detail, seconds of the slowest command)."""
    timer = Timed()
    targets.run = timer  # run_checked looks `run` up in targets' namespace
    draw = mutants.RandomDraw(random.Random(seed))
    folder = Path(tempfile.mkdtemp(prefix="points-fuzz-"))
    try:
        case = targets.TARGETS[target]
        kwargs = {"big": big} if target in ("ruleset", "program") else {}
        try:
            result = case(draw, folder, **kwargs)
            cause, detail = None, ""
        except mutants.Failed as failed:
            result, cause, detail = {}, failed.cause, failed.detail
        except Exception as error:  # noqa: BLE001 - a harness error is reported as such
            result, cause = {}, f"harness error {type(error).__name__}"
            detail = "".join(traceback.format_exception(error))[-800:]
        if cause is None and timer.slowest[0] > SLOW:
            cause, detail = f"slow (> {SLOW:.0f} s) {timer.slowest[1][0]}", f"{timer.slowest[0]:.1f} s"
        if cause and keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for item in folder.rglob("*"):
                if item.is_file() and "out" not in item.relative_to(folder).parts:
                    shutil.copy(item, keep / f"{target}-{seed}-{item.name}")
        return result, cause, detail, timer.slowest
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        targets.run = timer._run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--targets", default=",".join(targets.TARGETS))
    parser.add_argument("--cpu-minutes", type=float, default=None, help="stop after this much CPU time")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--replay")
    args = parser.parse_args(argv)
    if args.replay:
        target, seed = args.replay.split(":")
        result, cause, detail, slowest = one_case(target, int(seed), args.big, args.save)
        print(json.dumps({"result": result, "cause": cause, "slowest": slowest}, indent=2))
        print(detail)
        return 0
    chosen = args.targets.split(",")
    rng = random.Random(args.seed)
    cases, past, failures = Counter(), Counter(), defaultdict(Counter)
    first: dict[str, list] = defaultdict(list)
    end = time.monotonic() + args.minutes * 60
    cpu_end = time.process_time() + (args.cpu_minutes * 60 if args.cpu_minutes else float("inf"))
    while time.monotonic() < end and time.process_time() < cpu_end:
        target = chosen[cases.total() % len(chosen)]
        seed = rng.randrange(1 << 48)
        result, cause, detail, _ = one_case(target, seed, args.big)
        cases[target] += 1
        past[target] += bool(result.get("past header"))
        if cause:
            failures[target][cause] += 1
            if len(first[cause]) < 3:
                first[cause].append({"target": target, "seed": seed, "detail": detail[:600]})
                if args.save:
                    one_case(target, seed, args.big, args.save)
    report = {"seed": args.seed, "cpu_seconds": round(time.process_time()), "cases": dict(cases),
              "past header": dict(past),
              "failures": {t: dict(c.most_common()) for t, c in failures.items()},
              "examples": first}
    text = json.dumps(report, indent=2, ensure_ascii=True)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
