"""Examples in a ruleset, run as tests (`points test`).

An `example` block says what the program must decide, and checks it the way a real run would:

- contracts (`contract { ... }`) and what they give: a points total, a tier, that every contract
  is unscored (with a reason code) or rejected (for a field, with a reason code);
- a review (`status X` / `legacy "..."` / `newcomer`, `points A, B, ...`) and the status after
  each period (`expect status ...`);
- quality reports (`report { ... }`, `N reports { ... }`) and whether they raise a KPI's flag or
  a sustained finding (`expect [no] flag "KPI"`, `expect [no] sustained "KPI"`).

Nothing is built by hand. The contracts are written as a small JSON Lines export (`contract_id`
`example-1`, ..., `partner_id` `example` and `signed` the version's effective date filled in when
not given) and go through `engine.run.evaluate`, as `points evaluate` runs them: the row
validator, the version in force, the plan, the reason code of an unscored or rejected row. A
review goes through `engine.status.review` under the example's version's policy, for consecutive
periods from the one the version takes effect in, as `points status` reviews. Quality reports are
written as an export too and go through `engine.statusrun.run_quality` with the example's version's
quality block; reports keyed by contract count for the partner of the example's contracts
(`contract_id` defaults to `example-1`), as `points quality --contracts` decides it. So an example
fails only where a real run would.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from dsl import ast
from engine.program import Program, Version

PARTNER = "example"


@dataclass
class ExampleRun:
    """One example's outcome in one version."""

    version: Version
    example: ast.Example
    failures: list[str] = field(default_factory=list)
    points: Decimal = Decimal(0)
    tier: str | None = None
    traced: list = field(default_factory=list)  # engine.run.Traced per scored or unscored contract
    rejected: list = field(default_factory=list)  # engine.run.Rejected per rejected contract
    review: list[str] = field(default_factory=list)  # the review's chain of decisions, in words
    quality: list[str] = field(default_factory=list)  # the quality KPIs and findings, in words
    partner_points: dict = field(default_factory=dict)  # period -> the contracts' points
    periods: list[str] = field(default_factory=list)  # the periods reviewed
    statuses: list[str] | None = None  # the status after each reviewed period
    flagged: set[str] | None = None  # the KPIs flagged in some period
    sustained: set[str] = field(default_factory=set)  # the KPIs with a sustained finding
    in_a_row: int = 0  # the flagged periods in a row that make a finding sustained
    unexpected: bool = False  # a contract was rejected that the example does not expect so

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def where(self) -> str:
        return f"{self.example.span.file}:{self.example.span.line}"

    @property
    def notes(self) -> list[str]:
        """What a failure shows besides the contracts' traces: the review and the quality KPIs."""
        return self.review + self.quality


def literal(expr) -> object:
    """An example field's value in the form a JSON export would carry it."""
    if isinstance(expr, (ast.Number, ast.Percent)):
        value = expr.value
        return int(value) if value == value.to_integral_value() and "." not in (expr.text or "") else value
    if isinstance(expr, ast.String):
        return expr.value
    if isinstance(expr, ast.DateLit):
        return expr.value.isoformat()
    if isinstance(expr, ast.Name):
        return {"true": True, "false": False}.get(expr.name, expr.name)
    if isinstance(expr, ast.Neg) and isinstance(expr.operand, ast.Number):
        return -literal(expr.operand)
    raise ValueError(f"{expr.span}: an example value must be a literal")


def _json_line(row: dict) -> str:
    """One JSON Lines object; a Decimal is written as the exact number it is."""
    parts = []
    for key, value in row.items():
        text = str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{json.dumps(key, ensure_ascii=False)}: {text}")
    return "{" + ", ".join(parts) + "}\n"


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    path.write_text("".join(_json_line(r) for r in rows), encoding="utf-8")
    return path


def _where(node) -> str:
    return f"{node.span.file}:{node.span.line}"


def run_example(program: Program, version: Version, example: ast.Example) -> ExampleRun:
    """Run the example (of `version`, one of `program`'s) through the commands' pipeline and compare
    with its expectations."""
    run = ExampleRun(version, example)
    with tempfile.TemporaryDirectory(prefix="points-example-") as scratch:
        folder = Path(scratch)
        contracts = _contracts(run, program, folder) if example.contracts else None
        if contracts is None:
            run.tier = version.plan.tier_for(run.points)
        if _is_review(example):
            _review(run, program)
        if _is_quality(example):
            _quality(run, program, folder, contracts)
    run.failures = _compare(run) + run.failures
    return run


def _is_review(example: ast.Example) -> bool:
    return bool(example.starts or example.points or any(e.kind == "status" for e in example.expects))


def _is_quality(example: ast.Example) -> bool:
    return bool(example.reports or any(e.kind in _QUALITY_KINDS for e in example.expects))


_QUALITY_KINDS = ("flag", "no flag", "sustained", "no sustained")


# --------------------------------------------------------------------------- contracts


def _contracts(run: ExampleRun, program: Program, folder: Path) -> Path:
    """Evaluate the example's contracts as an export; the export's path (for quality by contract)."""
    from engine.run import RunOptions, evaluate

    version, example = run.version, run.example
    rows = []
    for i, contract in enumerate(example.contracts, start=1):
        raw = {"contract_id": f"{PARTNER}-{i}", "partner_id": PARTNER, "signed": version.effective.isoformat()}
        rows.append(raw | {name: literal(value) for name, value in contract.fields})
    path = _write(folder, "contracts.jsonl", rows)
    options = RunOptions(trace_when=lambda row, record: True, on_traced=run.traced.append,
                         on_reject=run.rejected.append)
    result = evaluate(program, path, options)
    run.points = sum((t.points for t in run.traced if t.status == "scored"), Decimal(0))
    run.tier = version.plan.tier_for(run.points)
    run.partner_points = {p.period: p.points for p in result.partners if p.partner_id == PARTNER}
    expects_reject = any(e.kind == "rejected" for e in example.expects)
    if not expects_reject:
        for rej in run.rejected:
            contract = example.contracts[rej.row - 1]
            run.failures.append(f"contract {rej.row} ({_where(contract)}) rejected, {rej.field} {rej.code}: "
                                f"{rej.reason}")
            run.unexpected = True
    return path


def _contract_checks(run: ExampleRun, expect: ast.Expect) -> list[str]:
    traced, rejected = run.traced, run.rejected
    if expect.kind == "points":
        want = expect.value.value
        unscored = [t for t in traced if t.status != "scored"]
        if run.points != want or unscored:
            extra = f" ({len(unscored)} contract(s) unscored: {unscored[0].reason})" if unscored else ""
            return [f"expected {_num(want)} points, got {_num(run.points)}{extra}"]
    elif expect.kind == "tier":
        if run.tier != expect.value:
            return [f"expected tier {expect.value}, got {run.tier} ({_num(run.points)} points)"]
    elif expect.kind == "unscored":
        want = "unscored" + (f" {expect.code}" if expect.code else "")
        for t in traced:
            if t.status == "scored":
                return [f"expected {want}, but contract {t.row} scored {_num(t.points)} points"]
            if expect.code and t.code != expect.code:
                return [f"expected {want}, got unscored {t.code}: {t.reason} (contract {t.row})"]
        if rejected and not traced:
            return [f"expected {want}, but contract {rejected[0].row} was rejected: {rejected[0].reason}"]
    elif expect.kind == "rejected":
        want = f"rejected {expect.value}" + (f" {expect.code}" if expect.code else "")
        for t in traced:
            got = f"scored {_num(t.points)} points" if t.status == "scored" else f"unscored {t.code}: {t.reason}"
            return [f"expected {want}, but contract {t.row} was not rejected: {got}"]
        for rej in rejected:
            if rej.field != expect.value or (expect.code and rej.code != expect.code):
                return [f"expected {want}, got rejected {rej.field} {rej.code}: {rej.reason} (contract {rej.row})"]
    return []


# --------------------------------------------------------------------------- review


def _review(run: ExampleRun, program: Program) -> None:
    """Review the example's partner under its version's policy, period after period."""
    from engine.periods import next_period, period_of, period_sort_key
    from engine.status import StatusError, explain_chain, policy_from_ruleset, review

    version, example = run.version, run.example
    unit = program.period  # the periods `points status` reviews
    first = period_of(version.effective, unit)
    if example.points:
        values = [v.value for v in example.points[0].values]
    else:  # the contracts' points, in the periods they were signed in
        own = run.partner_points
        last = max(own, key=period_sort_key) if own else first
        values, label = [], first
        while period_sort_key(label) <= period_sort_key(last):
            values.append(own.get(label, Decimal(0)))
            label = next_period(label, unit)
    periods, label = [], first
    for _ in values:
        periods.append(label)
        label = next_period(label, unit)
    start = example.starts[0] if example.starts else None
    legacy = {PARTNER: start.value} if start is not None and start.kind != "newcomer" else {}
    try:
        policy = policy_from_ruleset(version.ruleset)
        decisions = review({PARTNER: dict(zip(periods, values))}, periods, lambda _: policy, legacy)
    except StatusError as err:
        run.failures.append(f"the review cannot run: {err}")
        return
    run.statuses = [d.status_after for d in decisions]
    run.periods = periods
    run.review = explain_chain(decisions)


def _review_checks(run: ExampleRun, expect: ast.Expect) -> list[str]:
    got = run.statuses
    if got is None:
        return []
    want = list(expect.value)
    if len(want) == 1:
        if got[-1:] != want:
            return [f"expected status {want[0]} after {run.periods[-1]}, got {got[-1]}"]
    elif len(want) != len(got):
        return [f"expected {len(want)} statuses, one per period, but the example reviews {len(got)} "
                f"period(s): {', '.join(run.periods)}"]
    elif got != want:
        return [f"expected status {', '.join(want)} after {', '.join(run.periods)}, got {', '.join(got)}"]
    return []


# --------------------------------------------------------------------------- quality


def _quality(run: ExampleRun, program: Program, folder: Path, contracts: Path | None) -> None:
    """Read the example's reports as `points quality` reads an export, with this version's block."""
    from engine.run import RunOptions
    from engine.statusrun import ContractIndex, run_quality

    version, example = run.version, run.example
    block = version.ruleset.quality
    if block is None or version.ruleset.input("quality") is None:
        run.failures.append("the quality reports cannot be read: this version declares no `quality` and "
                            "`input quality` blocks")
        return
    key = {"contract_id": f"{PARTNER}-1"} if block.key == "contract" else {"partner_id": PARTNER}
    rows, origin = [], []
    for report in example.reports:
        row = key | {"reported": version.effective.isoformat()}
        row |= {name: literal(value) for name, value in report.fields}
        rows += [row] * report.count
        origin += [report] * report.count
    path = _write(folder, "quality.jsonl", rows)
    index = None
    if block.key == "contract":
        index = ContractIndex.from_data(program, str(contracts), RunOptions()) if contracts else ContractIndex()
    result = run_quality(program, str(path), RunOptions(), index, version=version)
    for n, name, reason in result.rejects:
        run.failures.append(f"report {n} ({_where(origin[n - 1])}): {name}: {reason}")
    aside: dict[tuple, list[int]] = {}  # one line per entry of the example and reason
    for n, cid, code, reason in result.set_aside:
        aside.setdefault((_where(origin[n - 1]), cid, code, reason), []).append(n)
    for (where, cid, code, reason), numbers in aside.items():
        run.quality.append(f"{len(numbers)} report(s) of {where} set apart, {code}: {reason} ({cid})")
    report = result.report
    kpis = {k.id: k for k in report.spec.kpis}
    for v in report.values:
        kpi = kpis[v.kpi]
        shown = v.shown or "no value"
        verdict = "flagged" if v.flagged else "not flagged"
        least = f" with at least {kpi.min_reports} reports" if kpi.min_reports > 1 else ""
        run.quality.append(f"{v.period} {v.name}: {shown} from {v.count} of {v.reports} report(s); flagged "
                           f"{v.direction} {_threshold(kpi)}{least}: {verdict}  ({_where(kpi)})")
    for f in report.findings:
        run.quality.append(f"sustained: {f.name} flagged in {f.periods} periods in a row, {f.first} to {f.last}")
    run.flagged = {v.name for v in report.values if v.flagged}
    run.sustained = {f.name for f in report.findings}
    run.in_a_row = report.spec.sustained


def _threshold(kpi) -> str:
    from engine.numbers import fmt_grouped

    return fmt_grouped(kpi.threshold * 100) + "%" if kpi.aggregate == "share" else fmt_grouped(kpi.threshold)


def _quality_checks(run: ExampleRun, expect: ast.Expect) -> list[str]:
    flagged, sustained = run.flagged, run.sustained
    if flagged is None:
        return []
    name = expect.value
    if expect.kind == "flag" and name not in flagged:
        return [f'expected a flag on "{name}", got none']
    if expect.kind == "no flag" and name in flagged:
        return [f'expected no flag on "{name}", got one']
    if expect.kind == "sustained" and name not in sustained:
        return [f'expected a sustained finding on "{name}" (flagged {run.in_a_row} periods in a row), got none']
    if expect.kind == "no sustained" and name in sustained:
        return [f'expected no sustained finding on "{name}" (flagged {run.in_a_row} periods in a row), got one']
    return []


# --------------------------------------------------------------------------- comparing


def _compare(run: ExampleRun) -> list[str]:
    out = []
    for expect in run.example.expects:
        if expect.kind == "status":
            out += _review_checks(run, expect)
        elif expect.kind in _QUALITY_KINDS:
            out += _quality_checks(run, expect)
        elif not run.unexpected:  # a reject says more than a total
            out += _contract_checks(run, expect)
    return out


def _num(value: Decimal) -> str:
    from engine.numbers import fmt_grouped

    return fmt_grouped(value)


def run_all(program: Program, selected=None) -> list[ExampleRun]:
    """Every example of every version (those `selected(version, example)` accepts), in version and file order."""
    return [run_example(program, v, ex) for v in program.versions for ex in v.ruleset.examples
            if selected is None or selected(v, ex)]
