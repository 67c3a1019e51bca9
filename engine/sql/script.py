"""A whole program as one SQL script, for `points compile` and the Spark engine (engine.sql.spark).

The script reads a table `contracts` (one text column per field of the input block, named as the
field, and `row`: the row's number as the row reader counts it, the header being row 1) and
creates temporary tables, stage by stage, in the order the DuckDB engine builds its tables:

  raw -> checked (validation) -> valid (unique, version choice) -> scored<k> (lookups and rules
  of version k + 1) -> outcome (one line per valid contract) -> rejected -> partner_totals,
  partner_rules (totals) -> partner_tiers (tiers)

The SQL of each stage comes from engine.sql.plan through the target's Dialect; only the stages
the DuckDB runner writes in Python (uniqueness, the union of versions, totals, tiers) are written
here, through the same Dialect. A program the compiler cannot take raises NotCompiled with the
fallback reason the DuckDB engine gives.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine import reasons
from engine.periods import period_of
from engine.program import Program
from engine.sql.compiler import NotCompiled
from engine.sql.dialect import Dialect
from engine.sql.dialects import finish, preamble
from engine.sql.plan import InputSQL, validation_sql, version_sql


@dataclass
class Stage:
    name: str  # the view it creates
    comment: str  # what it does, for a person
    sql: str  # the SELECT


@dataclass
class Script:
    header: list[str]  # the columns of `contracts`, besides `row`
    stages: list[Stage]
    checks: InputSQL
    scale: int  # the scale of the points columns
    rules: list  # (version index, rule id, paid column, points column)
    preamble: str = ""


def program_script(program: Program, d: Dialect, header: list[str] | None = None,
                   decimal_comma: bool = False) -> Script:
    """The stages of `program` in dialect `d` (NotCompiled: the reason it cannot be compiled).

    Without `header` the script reads the table `contracts` (a column per field); with it, a
    view `raw0` of `row` and c0, c1, ... holding an export's cells under that header (engine.sql.spark).
    """
    blocks = {v.ruleset.input("contract") for v in program.versions}
    if len(blocks) != 1:
        raise NotCompiled("versions with different input blocks")
    block = program.versions[-1].ruleset.input("contract")
    if block is None:
        raise NotCompiled("the program declares no `input contract` block")
    named = header is None
    if named:
        header = [f.name for f in block.fields]
    checks = validation_sql(block, header, decimal_comma, d)
    versions = [version_sql(program, k, checks.columns, d) for k in range(len(program.versions))]
    names = [f.name for f in checks.fields]

    def col(name):
        return f"v{names.index(name)}"

    q = d.quote
    stages: list[Stage] = []
    blank = " AND ".join(f"(c{i} IS NULL OR {d.strip(f'c{i}')} = '')" for i in range(len(header)))
    if named:
        cells = ", ".join(f"CAST({q(name)} AS VARCHAR) AS c{i}" for i, name in enumerate(header))
        source = f'(SELECT "row", {cells} FROM contracts) t'
    else:
        source = "raw0"
    stages.append(Stage("raw", "Input: every column as text, numbered rows; rows of blank cells only are skipped "
                        "(as the row reader skips them).", f"SELECT * FROM {source} WHERE NOT ({blank})"))
    stages.append(Stage("checked", "Validation: per field its typed value v<i>; `ok` when the row passes every "
                        "check (form, type, bounds, required, required when, bounds when); l<i> flags a "
                        "lenient reading of an accepted value.", checks.sql))
    signed = col("signed")
    whens = " ".join(f"WHEN {signed} >= {d.date(v.effective)} THEN {k + 1}"
                     for k, v in reversed(list(enumerate(program.versions))))
    vidx = f"(CASE {whens} ELSE 0 END)"
    if checks.unique is not None:
        u = col(checks.unique)
        stages.append(Stage("ranked", f"Uniqueness: of the accepted rows with the same `{checks.unique}`, "
                            "the first stands; a repeat is rejected.",
                            f'SELECT *, CASE WHEN {u} IS NULL THEN 1 ELSE row_number() OVER (PARTITION BY {u} '
                            f'ORDER BY "row") END AS rank_, min("row") OVER (PARTITION BY {u}) AS first_ '
                            f'FROM checked WHERE ok'))
        valid_from = "ranked WHERE rank_ = 1"
    else:
        valid_from = "checked WHERE ok"
    choice = "; ".join(f"{k + 1}: {v.name} from {v.effective.isoformat()}" for k, v in enumerate(program.versions))
    stages.append(Stage("valid", f"Version choice: vidx, the version in force on the signed date ({choice}; "
                        "0: none).", f"SELECT *, {vidx} AS vidx FROM {valid_from}"))
    for k, v in enumerate(versions):
        tables = [t.name for t in v.version.ruleset.tables]
        lookups = (f" Lookups: table{'s' if len(tables) > 1 else ''} {', '.join(tables)} as CASE expressions "
                   "on the key values (a large one: a join on a relation of its own) (a missing row or cell makes the contract unscored)."
                   if tables else "")
        for name, rel in v.relations.items():  # a large table's keys or cells, joined rather than a CASE
            stages.append(Stage(name, f"Version {v.version.name}: {rel.key[0]} ({len(rel.rows):,} rows), looked up "
                                      "by a join.", relation_sql(rel, d)))
        rules = ", ".join(r for r, _, _ in v.rules) or "none"
        stages.append(Stage(f"scored{k}", f"Rules of version {v.version.name} (combine {v.version.plan.combine}; "
                            f"rules {rules}): m<j> matched, p<j> points, err the first failure "
                            f"(code TAB reason).{lookups}", v.sql))
    scale = max((v.scale for v in versions), default=0)
    typ = d.decimal_type(38, scale)
    parts = [f'SELECT "row", status, CAST(points AS {typ}) AS points, points_text, rules_text, code, reason '
             f"FROM scored{k}" for k in range(len(versions))]
    signed_text = d.date_text(signed)
    parts.append(f"SELECT \"row\", 'unscored', CAST(NULL AS {typ}), '', '', {d.text(reasons.NO_VERSION)}, "
                 f"'no version in force on ' || {signed_text} FROM valid WHERE vidx = 0")
    version_name = "CASE vidx " + " ".join(f"WHEN {k + 1} THEN {d.text(v.name)}"
                                           for k, v in enumerate(program.versions)) + " ELSE '' END"
    product = f"COALESCE({col('product')}, '')" if "product" in names else "''"
    customer = col("customer") if "customer" in names else "CAST(NULL AS VARCHAR)"
    stages.append(Stage("outcome", "One line per valid contract: status, points, the rules that paid, the "
                        "reason code of an unscored one.",
                        f'SELECT valid."row", {d.to_text(col("contract_id"))} AS contract_id, '
                        f'{d.to_text(col("partner_id"))} AS partner_id, {signed_text} AS signed, '
                        f'{d.period(signed, program.period)} AS period, {version_name} AS version, '
                        f'{product} AS product, {customer} AS customer, s.status, s.points, s.points_text, s.rules_text, '
                        f's.code, s.reason, vidx, {signed} AS signed_day '
                        f'FROM valid JOIN ({" UNION ALL ".join(parts)}) s ON s."row" = valid."row"'))
    dup = ""
    if checks.unique is not None:
        dup = (f" UNION ALL SELECT \"row\", {d.text(checks.unique)}, {d.text(reasons.DUPLICATE)} FROM ranked "
               f"WHERE rank_ > 1")
    stages.append(Stage("rejected", "Rows refused by validation (`points evaluate` names the field, code and "
                        "sentence of each) and repeats of a unique value.",
                        f"SELECT \"row\", CAST(NULL AS VARCHAR) AS field, CAST(NULL AS VARCHAR) AS code FROM checked "
                        f"WHERE NOT ok{dup}"))
    stages.append(Stage("partner_totals", "Totals: points and contract counts per partner and period.",
                        f"SELECT partner_id, period, COALESCE(sum(points), CAST(0 AS {typ})) AS points, "
                        f"sum(CASE WHEN status = 'scored' THEN 1 ELSE 0 END) AS contracts_scored, "
                        f"sum(CASE WHEN status <> 'scored' THEN 1 ELSE 0 END) AS contracts_unscored "
                        f"FROM outcome GROUP BY partner_id, period"))
    rule_parts = []
    rules_out = []
    for k, v in enumerate(versions):
        for rule_id, paid, pts in v.rules:
            rules_out.append((k, rule_id, paid, pts))
            rule_parts.append(f"SELECT o.partner_id, o.period, {d.text(rule_id)} AS rule, CAST(s.{pts} AS {typ}) "
                              f'AS points FROM scored{k} s JOIN outcome o ON o."row" = s."row" WHERE s.{paid}')
    if not rule_parts:
        rule_parts.append(f"SELECT partner_id, period, CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS {typ}) AS points "
                          f"FROM outcome WHERE FALSE")
    stages.append(Stage("partner_rules", "Totals per rule: the points each rule paid per partner and period.",
                        f"SELECT partner_id, period, rule, sum(points) AS points, count(*) AS contracts FROM "
                        f"({' UNION ALL '.join(rule_parts)}) r GROUP BY partner_id, period, rule"))
    stages.append(Stage("partner_tiers", "Tiers: by the thresholds of the version in force on the period's last "
                        "day (a version is in force then when its effective date's period is not later).",
                        tiers_sql(program, d)))
    script = Script(header, stages, checks, scale, rules_out, preamble(d))
    for stage in stages:
        stage.sql = finish(d, stage.sql)
    return script


def tiers_sql(program: Program, d: Dialect) -> str:
    """partner_totals with the tier and the name of the version that set it."""
    unit = program.period
    version_whens, tier_whens = [], []
    for v in reversed(program.versions):
        starts = d.text(period_of(v.effective, unit))
        version_whens.append(f"WHEN period >= {starts} THEN {d.text(v.name)}")
        tiers = v.plan.tiers
        if not tiers:
            tier_whens.append(f"WHEN period >= {starts} THEN CAST(NULL AS VARCHAR)")
            continue
        ordered = sorted(tiers, key=lambda t: t.threshold, reverse=True)
        lowest = min(tiers, key=lambda t: t.threshold)
        inner = " ".join(f"WHEN points >= {d.decimal(t.threshold, *_bound(t.threshold))} THEN {d.text(t.name)}"
                         for t in ordered)
        tier_whens.append(f"WHEN period >= {starts} THEN (CASE {inner} ELSE {d.text(lowest.name)} END)")
    return (f"SELECT partner_id, period, points, (CASE {' '.join(tier_whens)} END) AS tier, "
            f"(CASE {' '.join(version_whens)} END) AS tier_version, contracts_scored, contracts_unscored "
            f"FROM partner_totals")


def _bound(value) -> tuple[int, int]:
    from engine.sql.compiler import bound_of

    digits, scale = bound_of(value)
    return digits + scale, scale


def relation_sql(rel, d: Dialect) -> str:
    """The SELECT of a relation's rows (engine.sql.compiler.Relation) from a VALUES list."""
    names = [c.split(" ", 1)[0] for c in rel.columns]
    typed = [f"CAST({n} AS {c.split(' ', 1)[1]}) AS {n}" if " " in c else f"CAST({n} AS VARCHAR) AS {n}"
             for n, c in zip(names, rel.columns)]
    rows = ", ".join("(" + ", ".join("NULL" if x is None else d.text(str(x)) for x in row) + ")" for row in rel.rows)
    if not rows:
        return f"SELECT {', '.join(f'CAST(NULL AS VARCHAR) AS {n}' for n in names)} WHERE FALSE"
    return f"SELECT {', '.join(typed)} FROM (VALUES {rows}) AS t({', '.join(names)})"


def render(script: Script, d: Dialect, source: str) -> str:
    """The script as text: a header comment, then one commented temporary table per stage."""
    lines = [f"-- {source} compiled to {d.name} SQL by partner-points (`points compile`).",
             "-- Input: a table `contracts` with a text column per input field (" + ", ".join(script.header)
             + ") and `row`, the row number (the header is row 1).",
             "-- Output tables: outcome (per contract), rejected, partner_tiers (per partner and period), "
             "partner_rules.", ""]
    if script.preamble:
        lines += [script.preamble.rstrip("\n"), ""]
    for stage in script.stages:
        lines.append(f"-- {stage.name}: {stage.comment}")
        # each stage computed once (a view would be computed again by every stage that reads it)
        lines.append(f"CACHE TABLE {stage.name} AS" if d.name == "spark" else f"CREATE TEMPORARY TABLE {stage.name} AS")
        lines.append(format_sql(stage.sql) + ";")
        lines.append("")
    return "\n".join(lines)


def format_sql(sql: str) -> str:
    """Line breaks before the main clauses and each CASE branch, outside literals; deterministic."""
    out, i, depth = [], 0, 0
    breaks = ("SELECT ", "FROM ", "WHERE ", "UNION ALL ", "GROUP BY ", "WHEN ", "ELSE ", "JOIN ")
    line_start = True
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < len(sql):
                if sql[j] == ch:
                    if j + 1 < len(sql) and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
            line_start = False
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if not line_start and ch == " " and depth < 6:
            rest = sql[i + 1:i + 12]
            hit = next((b for b in breaks if rest.startswith(b)), None)
            if hit is not None:
                out.append("\n" + "  " * depth)
                i += 1
                continue
        out.append(ch)
        line_start = False
        i += 1
    return "".join(out)
