"""Examples in a ruleset, run as tests (`points test`).

An `example` block lists one or more contracts and what they must give: a points total, a tier, or
that every contract is unscored. Its contracts go through the same validator and plan as real
data, with `contract_id` (`example-1`, ...), `partner_id` (`example`) and `signed` (the version's
effective date) filled in when not given, so an example also proves the `input` declaration
accepts it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dsl import ast
from engine.program import Program, Version
from engine.trace import Tracer
from engine.validate import RowReject, RowValidator


@dataclass
class ExampleRun:
    """One example's outcome in one version."""

    version: Version
    example: ast.Example
    failures: list[str] = field(default_factory=list)
    points: Decimal = Decimal(0)
    tier: str | None = None
    traced: list = field(default_factory=list)  # engine.run.Traced per contract

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def where(self) -> str:
        return f"{self.example.span.file}:{self.example.span.line}"


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


def run_example(version: Version, example: ast.Example) -> ExampleRun:
    """Score the example's contracts with the version's plan and compare with its expectations."""
    from engine.run import Traced

    run = ExampleRun(version, example)
    validator = RowValidator(version.ruleset.input("contract"))
    plan = version.plan
    for i, contract in enumerate(example.contracts, start=1):
        raw = {"contract_id": f"example-{i}", "partner_id": "example", "signed": version.effective.isoformat()}
        raw |= {name: literal(value) for name, value in contract.fields}
        try:
            record = validator.convert(raw)
        except RowReject as rej:
            run.failures.append(f"contract {i} ({contract.span.file}:{contract.span.line}): {rej.reason}")
            continue
        tracer = Tracer()
        score = plan.score(record, tracer)
        run.traced.append(Traced(i, record, version, score.status, score.points, score.reason, score,
                                 tuple(tracer.events)))
        if score.status == "scored":
            run.points += score.points
    run.tier = plan.tier_for(run.points)
    if not run.failures:
        run.failures.extend(_compare(run))
    return run


def _compare(run: ExampleRun) -> list[str]:
    out = []
    for expect in run.example.expects:
        if expect.kind == "points":
            want = expect.value.value
            if run.points != want or any(t.status != "scored" for t in run.traced):
                unscored = [t for t in run.traced if t.status != "scored"]
                extra = f" ({len(unscored)} contract(s) unscored: {unscored[0].reason})" if unscored else ""
                out.append(f"expected {_num(want)} points, got {_num(run.points)}{extra}")
        elif expect.kind == "tier":
            if run.tier != expect.value:
                out.append(f"expected tier {expect.value}, got {run.tier} ({_num(run.points)} points)")
        elif expect.kind == "unscored":
            scored = [t for t in run.traced if t.status == "scored"]
            if scored:
                out.append(f"expected unscored, but contract {scored[0].row} scored {_num(scored[0].points)} points")
    return out


def _num(value: Decimal) -> str:
    from engine.numbers import fmt_grouped

    return fmt_grouped(value)


def run_all(program: Program, selected=None) -> list[ExampleRun]:
    """Every example of every version (those `selected(version, example)` accepts), in version and file order."""
    return [run_example(v, ex) for v in program.versions for ex in v.ruleset.examples
            if selected is None or selected(v, ex)]
