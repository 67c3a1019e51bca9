"""Explaining a score: one contract, one partner-period, one rule that did not fire.

The evaluator only emits typed events (engine/trace.py); everything here reads them afterwards:
grouping by rule, choosing a level of detail, and rendering as a rich tree or as JSON. Two levels:
- `short`: the rules that paid, with their points and `file:line`;
- `full`: every rule considered, each test of its condition with the values it saw, every value
  read, every table row used, the formula as written with its value, `per`, caps, floors, rounding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine import trace as t
from dsl.errors import source_lines
from engine.highlighting import code_text
from engine.numbers import fmt_grouped, fmt_points
from engine.terminal import markup
from engine.trace import events_to_json, to_json_value

LEVELS = ("short", "full")


def where(span) -> str:
    """`file:line` of a span, or an empty string."""
    return f"{span.file}:{span.line}" if span is not None and span.line else ""


def source_text(sources: dict[str, str], span) -> str:
    """The text a span covers, on one line (whitespace folded)."""
    text = sources.get(span.file) if span is not None else None
    if not text or span.line < 1:
        return ""
    lines = source_lines(text)[span.line - 1: span.end_line]  # split once per source, as messages count lines
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.column - 1: span.end_column - 1].strip()
    lines[0] = lines[0][span.column - 1:]
    lines[-1] = lines[-1][: span.end_column - 1]
    return " ".join(part.strip() for part in lines if part.strip())


def shown(value) -> str:
    """A traced value as a person reads it."""
    if value is None:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Decimal):
        return fmt_points(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(shown(v) for v in value) + ")"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass
class RuleTrace:
    """The events of one rule for one contract, in order, and how it ended."""

    rule_id: str
    rule_name: str
    span: object
    outcome: str = "considered"  # matched, skipped, shadowed
    points: Decimal | None = None
    events: list = field(default_factory=list)


def group_by_rule(events) -> tuple[list[RuleTrace], list]:
    """The events grouped per rule in order of consideration; plus the events about no rule."""
    rules: dict[str, RuleTrace] = {}
    loose = []
    for e in events:
        rid = getattr(e, "rule_id", None)
        if rid is None:
            loose.append(e)
            continue
        rt = rules.get(rid)
        if rt is None:
            rt = rules[rid] = RuleTrace(rid, getattr(e, "rule_name", rid), getattr(e, "rule_span", None))
        if isinstance(e, t.RuleMatched):
            rt.outcome = "matched"
        elif isinstance(e, t.RuleSkipped):
            rt.outcome = "skipped"
        elif isinstance(e, t.RuleShadowed):
            rt.outcome = f"shadowed by {e.by_rule_id}"
        elif isinstance(e, t.RulePoints):
            rt.points = e.points
        elif isinstance(e, t.Unscored):
            loose.append(e)
        if hasattr(e, "rule_name") and rt.rule_name == rid:
            rt.rule_name = e.rule_name
        rt.events.append(e)
    return list(rules.values()), loose


def step_text(e, sources: dict[str, str]) -> str | None:
    """One event of the full derivation as a line; None for events the rule line already says."""
    if isinstance(e, t.ConditionChecked):
        text = source_text(sources, e.span) or f"{shown(e.left)} {e.op} {shown(e.right)}"
        right = e.right if isinstance(e.right, str) and e.op.endswith("in") and not isinstance(e.right, tuple) else None
        values = f"{shown(e.left)} {e.op} {right if right else shown(e.right)}"
        return f"when {text}: {values} → {'true' if e.result else 'false'}  ({where(e.span)})"
    if isinstance(e, t.ValueRead):
        return f"{e.field} = {shown(e.value)}"
    if isinstance(e, t.TableLookup):
        keys = ", ".join(shown(k) for k in e.keys)
        if e.value is None:
            return f"{e.table}[{keys}]: no value  ({where(e.span)})"
        return f"{e.table}[{keys}] = {fmt_points(e.value)}  (row at {where(e.row_span)})"
    if isinstance(e, t.FormulaEvaluated):
        return f"points {source_text(sources, e.span)} = {fmt_points(e.value)}  ({where(e.span)})"
    if isinstance(e, t.PerUnit):
        return f"per {e.field}: {fmt_points(e.before)} × {shown(e.factor)} = {fmt_points(e.after)}"
    if isinstance(e, t.Capped):
        bit = "capped" if e.after != e.before else "cap not reached"
        return f"at most {fmt_points(e.limit)}: {fmt_points(e.before)} → {fmt_points(e.after)} ({bit})  ({where(e.span)})"
    if isinstance(e, t.Floored):
        bit = "raised" if e.after != e.before else "floor not needed"
        return f"at least {fmt_points(e.limit)}: {fmt_points(e.before)} → {fmt_points(e.after)} ({bit})  ({where(e.span)})"
    if isinstance(e, t.Rounded):
        to = f" to {e.places} decimals" if e.places else ""
        return f"rounded {e.mode}{to}: {fmt_points(e.before)} → {fmt_points(e.after)}  ({where(e.span)})"
    return None


def contract_header(traced) -> str:
    """One line naming the contract, its partner, date and version."""
    r = traced.record
    v = traced.version
    version = f"version {v.name} ({v.path})" if v is not None else "no version in force"
    return (f"contract {r.get('contract_id')} (row {traced.row}): partner {r.get('partner_id')}, "
            f"signed {r['signed'].isoformat()}, {version}")


def contract_tree(traced, sources: dict[str, str], level: str = "short"):
    """A rich Tree explaining one contract's points."""
    from rich.tree import Tree

    head = f"[bold]{_esc(contract_header(traced))}[/]"
    tree = Tree(head)
    if traced.status == "scored":
        tree.add(f"[bold green]{fmt_grouped(traced.points)} points[/]")
    else:
        code = f" [dim]({_esc(traced.code)})[/]" if traced.code else ""
        tree.add(f"[bold yellow]unscored[/]: {_esc(traced.reason or '')}{code}")
    rules, _ = group_by_rule(traced.events)
    for rt in rules:
        if level == "short" and rt.points is None:
            continue
        label = _rule_label(rt)
        node = tree.add(label)
        if level == "full":
            for e in rt.events:
                line = step_text(e, sources)
                if line:
                    node.add(code_text(line))
    if level == "full" and traced.record:
        values = tree.add("contract values")
        for k in sorted(traced.record):
            values.add(_esc(f"{k} = {shown(traced.record[k])}"))
    return tree


def _rule_label(rt: RuleTrace) -> str:
    at = where(rt.span)
    if rt.points is not None:
        return f"[green]+{fmt_grouped(rt.points)}[/]  {_esc(rt.rule_name)}  [dim]{_esc(at)}[/]"
    return f"[dim]{_esc(rt.outcome)}[/]  {_esc(rt.rule_name)}  [dim]{_esc(at)}[/]"


def _esc(text: str) -> str:
    """A value for a markup string: control characters visible, markup escaped (engine.terminal)."""
    return markup(text)


def contract_json(traced, sources: dict[str, str], level: str = "short") -> dict:
    """One contract's explanation as JSON (deterministic)."""
    rules, loose = group_by_rule(traced.events)
    out = {
        "row": traced.row,
        "contract": {k: to_json_value(traced.record[k]) for k in sorted(traced.record)},
        "version": traced.version.describe() if traced.version is not None else None,
        "status": traced.status,
        "points": fmt_points(traced.points) if traced.status == "scored" else None,
        "reason": traced.reason,
        "code": traced.code,
        "rules": [],
    }
    for rt in rules:
        if level == "short" and rt.points is None:
            continue
        entry = {"rule_id": rt.rule_id, "rule": rt.rule_name, "at": where(rt.span), "outcome": rt.outcome,
                 "points": fmt_points(rt.points) if rt.points is not None else None}
        if level == "full":
            entry["steps"] = [s for s in (step_text(e, sources) for e in rt.events) if s]
            entry["events"] = events_to_json(rt.events)
        out["rules"].append(entry)
    if level == "full":
        out["other_events"] = events_to_json(loose)
    return out


# --------------------------------------------------------------------------- a rejected row


def rejected_json(rejected) -> dict:
    """Why a row was rejected (an engine.run.Rejected): its field, value, code and message."""
    return {"file": rejected.file, "row": rejected.row, "status": "rejected",
            "contract_id": rejected.contract_id or None, "partner_id": rejected.partner_id or None,
            "field": rejected.field, "value": rejected.value, "code": rejected.code, "reason": rejected.reason}


def rejected_tree(rejected):
    """A rich Tree saying why a row was rejected, or could not be read."""
    from rich.tree import Tree

    ids = ", ".join(f"{name} {value}" for name, value in (("contract", rejected.contract_id),
                                                          ("partner", rejected.partner_id)) if value)
    head = f"row {rejected.row} of {rejected.file}" + (f" ({ids})" if ids else "")
    tree = Tree(f"[bold]{_esc(head)}[/]")
    what = "could not be read" if rejected.field == "(row)" else "rejected"
    tree.add(f"[bold red]{what}[/]: {_esc(rejected.reason)}")
    if rejected.field != "(row)":
        tree.add(_esc(f"field {rejected.field}, value {rejected.value!r}" if rejected.value
                      else f"field {rejected.field}, value (empty)"))
    tree.add(_esc(f"code {rejected.code} (docs/reasons/{rejected.code}.md)"))
    return tree


# --------------------------------------------------------------------------- why not


def why_not(traced, rule_ref: str, sources: dict[str, str]) -> dict:
    """For a rule that did not pay: which part of its condition failed, with which values."""
    from engine.evaluate import Unscorable
    from engine.trace import Tracer

    version = traced.version
    if version is None:
        return {"rule": rule_ref, "verdict": f"no version is in force on {traced.record['signed']}", "tests": []}
    plan = version.plan
    rule = _find_rule(plan, rule_ref)
    paid = next((c for c in (traced.score.contributions if traced.score else ()) if c.rule_id == rule.id), None)
    tracer = Tracer()
    try:
        matched = rule.matches(traced.record, tracer)
        failure = None
    except Unscorable as err:  # e.g. arithmetic on an empty field inside the condition
        matched, failure = False, err.reason
    tests = [e for e in tracer.events if isinstance(e, t.ConditionChecked)]
    candidates = {r.id for r in plan.candidates(traced.record.get("product"))}
    if paid is not None:
        verdict = f"it fired: +{fmt_points(paid.points)} points"
    elif failure is not None:
        verdict = f"its condition cannot be decided: {failure}"
    elif not matched:
        failed = next((e for e in reversed(tests) if not e.result), None)
        verdict = "its condition is false"
        if failed is not None:
            verdict += f": {source_text(sources, failed.span)} is false with {shown(failed.left)}"
    elif traced.status != "scored":
        verdict = f"its condition holds, but the contract is unscored: {traced.reason}"
    elif rule.id not in candidates:
        verdict = "its condition holds, but the rule is not indexed for this product"
    else:
        winner = traced.score.contributions[0].rule_name if traced.score.contributions else "another rule"
        verdict = f"its condition holds, but `combine {plan.combine}` lets \"{winner}\" pay instead"
    return {
        "rule_id": rule.id, "rule": rule.name, "at": where(rule.span),
        "condition": source_text(sources, rule.rule.when.span) if rule.rule.when is not None else None,
        "verdict": verdict,
        "tests": [{"test": source_text(sources, e.span), "at": where(e.span), "left": to_json_value(e.left),
                   "op": e.op, "right": to_json_value(e.right), "result": e.result} for e in tests],
    }


class UnknownRule(LookupError):
    """A rule name or id that the version does not have."""


def _find_rule(plan, ref: str):
    from dsl.errors import did_you_mean

    for rule in plan.rules:
        if ref in (rule.id, rule.name):
            return rule
    names = [r.name for r in plan.rules]
    guess = did_you_mean(ref, names)
    hint = f"; did you mean \"{guess}\"?" if guess else f"; rules: {', '.join(names)}"
    raise UnknownRule(f"version {plan.version} has no rule \"{ref}\"{hint}")


def why_not_tree(result: dict):
    """The why-not explanation as a rich Tree."""
    from rich.text import Text
    from rich.tree import Tree

    tree = Tree(f"[bold]why not \"{_esc(result['rule'])}\"[/] [dim]{_esc(result.get('at', ''))}[/]")
    if result.get("condition"):
        tree.add(code_text(f"when {result['condition']}"))
    tree.add(f"[bold]{_esc(result['verdict'])}[/]")
    for test in result["tests"]:
        mark = "[green]true[/]" if test["result"] else "[red]false[/]"
        right = test["right"]
        right_text = right if isinstance(right, str) and test["op"].endswith("in") else shown_json(right)
        line = code_text(f"{test['test']}: {shown_json(test['left'])} {test['op']} {right_text} → ")
        line.append_text(Text.from_markup(f"{mark}  [dim]{_esc(test['at'])}[/]"))
        tree.add(line)
    return tree


def shown_json(value) -> str:
    """A JSON-ready traced value as a person reads it."""
    if isinstance(value, list):
        return "(" + ", ".join(shown_json(v) for v in value) + ")"
    if isinstance(value, str):
        return f'"{value}"'
    return shown(value)


# --------------------------------------------------------------------------- partner-period


@dataclass
class PartnerExplanation:
    """Everything behind one partner's points in one period."""

    partner_id: str
    period: str
    points: Decimal
    tier: str | None
    tier_version: object | None
    by_rule: dict = field(default_factory=dict)  # rule id -> [name, span, points, contracts]
    contracts: list = field(default_factory=list)  # Traced, in file order
    status_lines: list[str] = field(default_factory=list)
    held: dict | None = None  # the status held in the period and its review (status_in_period), when known


def explain_partner(program, traced_rows, partner_id: str, period: str) -> PartnerExplanation:
    """Aggregate the traced contracts of one partner-period and find its tier decision."""
    from engine.run import tier_version

    rows = list(traced_rows)
    points = sum((r.points for r in rows if r.status == "scored"), Decimal(0))
    by_rule: dict = {}
    for r in rows:
        for c in (r.score.contributions if r.score and r.status == "scored" else ()):
            entry = by_rule.setdefault(c.rule_id, [c.rule_name, c.span, Decimal(0), 0])
            entry[2] += c.points
            entry[3] += 1
    version = tier_version(program, period)
    tier = version.plan.tier_for(points) if version is not None else None
    return PartnerExplanation(partner_id, period, points, tier, version, by_rule, rows)


def status_in_period(period: str, decisions: list, standing=None, current: str | None = None,
                     order: list[str] = (), next_label: str | None = None) -> dict | None:
    """The status a partner holds in `period`, how it came to hold it, and what the review at the
    period's end decides (or, in the period under way, what it still needs).

    `decisions` are the partner's reviews in period order (engine.status.StatusDecision), `standing`
    its engine.status.Standing in the `current` period; `order` the tier names from the lowest (to
    say upgraded or downgraded), `next_label` the period the review's status is for. None when no
    review covers the period.
    """
    index = next((i for i, d in enumerate(decisions) if d.period == period), None)
    if index is not None:
        d = decisions[index]
        before = d.status_before
        previous = decisions[index - 1] if index else None
    elif standing is not None and current == period:
        d, before = None, standing.status
        previous = decisions[-1] if decisions else None
    else:
        return None
    if d is not None and d.origin:
        origin = d.origin
    elif previous is not None and previous.status_after == previous.status_before:
        origin = f"kept at the {previous.period} review"
    elif previous is not None:
        ranks = {name: i for i, name in enumerate(order)}
        old, new = ranks.get(previous.status_before), ranks.get(previous.status_after)
        moved = "moved" if old is None or new is None else ("upgraded" if new > old else "downgraded")
        origin = f"{moved} from {previous.status_before} at the {previous.period} review"
    else:
        origin = None
    out = {"status": before, "origin": origin, "period": period, "decided": d is not None}
    if d is not None:
        short = d.target - d.points
        reached = (f"the {before} target {fmt_grouped(d.target)} reached" if short <= 0
                   else f"{fmt_grouped(short)} short of the {before} target {fmt_grouped(d.target)}")
        out |= {"target": d.target, "needed_to_keep": max(short, Decimal(0)), "after": d.status_after,
                "review": f"reviewed at the end of {period}: {reached}; {d.rule} -> {d.status_after}"
                          + (f" for {next_label}" if next_label else "")}
    else:
        keep = (f"the {before} target {fmt_grouped(standing.target)} reached" if not standing.needed_to_keep
                else f"{fmt_grouped(standing.needed_to_keep)} more to keep {before} "
                     f"(target {fmt_grouped(standing.target)})")
        out |= {"target": standing.target, "needed_to_keep": standing.needed_to_keep, "after": None,
                "review": f"reviewed at the end of {period}: {keep}"}
    return out


def headline(exp: PartnerExplanation) -> str:
    """`partner P, period 2018: 6,110 points, earned Basic; status Advanced (kept at the 2017 review)`."""
    held = exp.held
    so_far = " so far" if held is not None and not held["decided"] else ""
    line = f"partner {exp.partner_id}, period {exp.period}{so_far}: {fmt_grouped(exp.points)} points, earned {exp.tier}"
    if held is not None:
        line += f"; status {held['status']}" + (f" ({held['origin']})" if held["origin"] else "")
    return line


def tier_comparison(exp: PartnerExplanation) -> list[str]:
    """The threshold comparisons that give the tier, and what the next tier needs."""
    if exp.tier_version is None or not exp.tier_version.plan.tiers:
        return ["no tiers: no version is in force at the period's end"]
    lines = []
    tiers = sorted(exp.tier_version.plan.tiers, key=lambda s: s.threshold)
    for spec in tiers:
        ok = exp.points >= spec.threshold
        sign = ">=" if ok else "<"
        lines.append(f"{fmt_grouped(exp.points)} {sign} {spec.name} {fmt_grouped(spec.threshold)}  ({where(spec.span)})")
    nxt = next((s for s in tiers if exp.points < s.threshold), None)
    lines.append(f"→ {exp.tier} (thresholds of version {exp.tier_version.name}, in force at the end of {exp.period})")
    if nxt is not None:
        lines.append(f"{fmt_grouped(nxt.threshold - exp.points)} more points would reach {nxt.name}")
    return lines


TOP_CONTRACTS = 20  # a partner-period lists this many contracts unless asked for all


def partner_tree(exp: PartnerExplanation, sources: dict[str, str], level: str = "short",
                 limit: int | None = TOP_CONTRACTS):
    """A rich Tree: total, tier decision, points by rule, the contracts behind them.

    With more than `limit` scored contracts only the largest are listed (most points first, then
    by row) and a line counts the rest and their points; the same for unscored contracts (in file
    order). `limit=None` lists every contract in file order.
    """
    from rich.tree import Tree

    tree = Tree(f"[bold]{_esc(headline(exp))}[/]")
    if exp.held is not None:
        tree.add(f"[bold]{_esc(exp.held['review'])}[/]")
    tier = tree.add("earned tier (by points)")
    for line in tier_comparison(exp):
        tier.add(_esc(line))
    rules = tree.add("points by rule")
    for rid, (name, span, pts, n) in sorted(exp.by_rule.items(), key=lambda kv: (-kv[1][2], kv[0])):
        rules.add(f"{fmt_grouped(pts):>10}  {_esc(name)} ({n} contract{'s' if n != 1 else ''})  [dim]{_esc(where(span))}[/]")
    scored = [r for r in exp.contracts if r.status == "scored"]
    unscored = [r for r in exp.contracts if r.status != "scored"]
    cut = limit is not None and len(scored) > limit
    shown_scored = sorted(scored, key=lambda r: (-r.points, r.file, r.row))[:limit] if cut else scored
    title = f"{len(scored):,} scored contract(s)" + (f", the {limit} with the most points" if cut else "")
    contracts = tree.add(title)
    for r in shown_scored:
        parts = ", ".join(f"{c.rule_name} +{fmt_grouped(c.points)}" for c in r.score.contributions)
        node = contracts.add(_esc(f"row {r.row}  {r.record['contract_id']}  {r.record['signed']}  "
                                  f"{r.record.get('product', '')}: {fmt_grouped(r.points)} ({parts})"))
        if level == "full":
            node.add(contract_tree(r, sources, "full"))
    if cut:
        rest = len(scored) - limit
        rest_points = exp.points - sum((r.points for r in shown_scored), Decimal(0))
        contracts.add(f"[dim]and {rest:,} more contract{'s' if rest != 1 else ''}, "
                      f"{fmt_grouped(rest_points)} points: --all lists them[/]")
    if unscored:
        un = tree.add(f"{len(unscored):,} unscored contract(s)")
        cut_un = limit is not None and len(unscored) > limit
        for r in unscored[:limit] if cut_un else unscored:
            un.add(_esc(f"row {r.row}  {r.record['contract_id']}: {r.reason}"))
        if cut_un:
            un.add(f"[dim]and {len(unscored) - limit:,} more unscored contract(s): --all lists them[/]")
    if exp.status_lines:
        st = tree.add("status")
        for line in exp.status_lines:
            st.add(_esc(line))
    return tree


def partner_json(exp: PartnerExplanation, sources: dict[str, str], level: str = "short") -> dict:
    """The partner-period explanation as JSON."""
    tiers = exp.tier_version.plan.tiers if exp.tier_version is not None else ()
    return {
        "partner_id": exp.partner_id, "period": exp.period, "points": fmt_points(exp.points), "tier": exp.tier,
        "earned": exp.tier, "held": _held_json(exp.held),
        "tier_version": exp.tier_version.describe() if exp.tier_version is not None else None,
        "thresholds": [{"tier": s.name, "from": fmt_points(s.threshold), "reached": exp.points >= s.threshold,
                        "at": where(s.span)} for s in tiers],
        "by_rule": [{"rule_id": rid, "rule": name, "at": where(span), "points": fmt_points(pts), "contracts": n}
                    for rid, (name, span, pts, n) in sorted(exp.by_rule.items())],
        "contracts": [contract_json(r, sources, level) for r in exp.contracts],
        "status": exp.status_lines,
    }


def _held_json(held: dict | None) -> dict | None:
    if held is None:
        return None
    return {"status": held["status"], "origin": held["origin"], "decided": held["decided"],
            "target": fmt_points(held["target"]), "needed_to_keep": fmt_points(held["needed_to_keep"]),
            "after": held["after"], "review": held["review"]}


# --------------------------------------------------------------------------- reading only the rows needed


def contract_prefilter(program, contract_id: str):
    """An `open_source` for RunOptions that reads only the lines of a CSV export that can hold
    `contract_id`, or None when that could change the explanation for this program.

    A line whose bytes do not contain the id cannot become a record with that `contract_id` (a text
    field's value is its cell, trimmed or verbatim) nor a rejected row naming it; and without a
    `unique` field other than `contract_id` such a line changes nothing about the lines that do
    (validation is row by row, and an earlier duplicate has the same id, so it is read too). The
    program must read `contract_id` as text without a default. Row numbers stay those of the file.
    Files where lines are not records (a quote anywhere, a lone CR), other encodings, NUL bytes or
    text that is not UTF-8 are read whole, by the reader itself, so everything stays as exact.
    """
    if not contract_id:
        return None
    for version in program.versions:
        block = version.ruleset.input("contract")
        decl = next((f for f in block.fields if f.name == "contract_id"), None) if block else None
        if decl is None or decl.kind != "text" or decl.default is not None:
            return None
        if any(f.unique and f.name != "contract_id" for f in block.fields):
            return None
    needle = contract_id.encode("utf-8", "surrogatepass")

    def open_source(path, options):
        from engine.readers import open_rows

        def whole():
            return open_rows(path, delimiter=options.delimiter, encoding=options.encoding,
                             **({"sheet": options.sheet} if options.sheet else {}))

        picked = _picked_lines(path, options.encoding, needle)
        if picked is None:
            return whole()
        header_check = whole()  # the header's own findings, naming the real file
        header_check.close()
        return _PickedRows(path, picked, options)
    return open_source


def _picked_lines(path, encoding: str, needle: bytes) -> tuple[bytes, list[int]] | None:
    """The header line and the lines holding `needle` (as one text), and the file's line number of
    each picked line; None when the file's lines might not be its records."""
    from pathlib import Path

    from engine.readers import KINDS

    path = Path(path)
    if KINDS.get(path.suffix.lower()) != "csv" or encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b'"' in data or b"\x00" in data \
            or data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    first_end = data.find(b"\n")
    if first_end < 0:
        return None
    parts, lines = [data[:first_end + 1]], []
    line, counted_to = 1, 0
    at = data.find(needle, first_end + 1)
    while at >= 0:
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end + 1
        line += data.count(b"\n", counted_to, start)
        counted_to = start
        parts.append(data[start:end] if data[end - 1:end] == b"\n" else data[start:end] + b"\n")
        lines.append(line)
        at = data.find(needle, end)
    return b"".join(parts), lines


class _PickedRows:
    """The picked lines as a RowSource: read by the reader itself from a temporary file, each row
    under its number in the real file."""

    def __init__(self, path, picked: tuple[bytes, list[int]], options):
        import tempfile
        from pathlib import Path

        from engine.readers import open_rows

        text, self._lines = picked
        self._dir = tempfile.TemporaryDirectory(prefix="points-explain-")
        temp = Path(self._dir.name) / ("rows" + Path(path).suffix)
        temp.write_bytes(text)
        self._inner = open_rows(temp, delimiter=options.delimiter, encoding=options.encoding)
        self._inner.path = Path(path)
        self.path = Path(path)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._inner.close()
        self._dir.cleanup()

    def fraction_read(self):
        return self._inner.fraction_read()

    def __iter__(self):
        from engine.readers import BadRow

        lines = self._lines
        for row, raw in self._inner:
            real = lines[row - 2]
            if raw.__class__ is BadRow:
                prefix = f"row {row}"
                reason = raw.reason
                if reason.startswith(prefix) and not reason[len(prefix):len(prefix) + 1].isdigit():
                    reason = f"row {real}" + reason[len(prefix):]
                raw = BadRow(real, reason, raw.field)
            yield real, raw


def filtered_source(program, paths, options, target: str, value: str, latest: bool = False):
    """`(open_source, selection)`: an `open_source` for RunOptions that reads only the rows
    engine.sql.filter picks in DuckDB for the rows whose `target` field is `value` (with `latest`,
    also those that fix the latest valid signed date), each under its row number in the real file;
    or `(None, reason)` when the files are to be read whole."""
    from pathlib import Path

    from engine.sql.filter import NotFiltered, select_rows

    try:
        selection = select_rows(program, [Path(p) for p in paths], options, target, value, latest)
    except NotFiltered as err:
        return None, str(err)

    def open_source(path, options):
        return _PickedRows(path, selection.picked[Path(path)], options)
    return open_source, selection
