"""`points evaluate`: score a contract export and summarise it."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import click

from engine import reasons
from engine.cli import FINDINGS, OK, Failure, emit_json, load
from engine.commands.common import (
    out_console, output_options, Progress, json_option, read_options, run_options, settings, wait_option,
)
from engine.numbers import fmt_grouped
from engine.run import evaluate as run_evaluate, manifest

EXAMPLES = """
\b
Examples:
  points evaluate rulesets/o2-business examples/contracts.csv --out out/demo
  points evaluate rulesets/o2-business export.csv --decimal-comma --delimiter ';'
  points evaluate rulesets/o2-business/2016-03.rules contracts.jsonl --json
  points evaluate rulesets/o2-business jan.csv feb.csv mar.csv --out out/q1
  points evaluate export.csv          # PROGRAM and --out from points.toml (see `points config`)
\b
In OUT: contracts.csv (one line per scored or unscored row, with its code and reason),
rejects.csv (file, row, ids, field, value, code, reason), rows.csv (every input row once:
file, row, ids, status, code, reason), partners.csv (points and tier per partner and period),
partner_rules.csv (points per rule), manifest.json (format, versions and sha256, each input's
sha256 and counts, engine version). Reason codes: docs/reasons/README.md.
"""


@click.command(epilog=EXAMPLES)
@click.argument("arguments", metavar="[PROGRAM] DATA...", type=click.Path(), nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write result files into this folder.")
@click.option("--strict", is_flag=True, help="Exit 1 when any row is rejected.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Deprecated, without effect: the row engine runs in one process; large CSV exports go to "
                   "the DuckDB engine with --engine auto.")
@click.option("--engine", "engine", type=click.Choice(["auto", "duckdb", "python", "spark"]), default="auto",
              show_default=True,
              help="duckdb: the columnar engine (docs/sql.md), the same files; python: the row engine; auto: "
                   "DuckDB for an export of 2 MiB or more that it takes, the row engine below; spark: the "
                   "columnar plan in Spark (pip install 'partner-points[spark]').")
@click.option("--master", "spark_master", metavar="URL",
              help="With --engine spark: the Spark master (default: local[2], this machine).")
@click.option("--memory", metavar="SIZE",
              help="The DuckDB engine's memory limit, e.g. 2GB; beyond it DuckDB spills to a temporary folder "
                   "(default: points.toml's `memory`, POINTS_MEMORY, else a quarter of the memory, 512 MiB to "
                   "2 GiB).")
@click.option("--ledger", "ledger_url", metavar="URL",
              help="Record the run in this ledger (a SQLite file or postgresql://...; default: points.toml's `ledger`).")
@output_options
@wait_option
@read_options
@json_option
def evaluate(arguments, out_dir, strict, workers, engine, spark_master, memory, ledger_url, wait, as_json,
             output_dialect, output_format, carry, **read):
    """Score every contract in DATA by the version of PROGRAM in force on its signed date.

    PROGRAM is a folder of versions or one ruleset file; DATA a CSV, JSON Lines or XLSX export, or
    several (one run: `unique` holds across them, rows are numbered per file).
    Every row ends scored, unscored (with a reason code) or rejected (with its row number, field
    and code).

    When points.toml or POINTS_PROGRAM names the program, PROGRAM may be left out: the first
    argument is PROGRAM only when it is a folder or a .rules file (an export is neither).
    """
    from engine.project import parse_size
    from engine.readers import InputError

    if memory is not None:
        parse_size(memory, "--memory")
    given_program, data = split_program(arguments, settings()[1]["program"].value is not None)
    effective = settings(**{"program": given_program, "output.folder": out_dir, "workers": workers,
                            "output.dialect": output_dialect, "output.format": output_format,
                            "input.carry": tuple(carry), "input.decimal_comma": read["decimal_comma"],
                            "input.delimiter": read["delimiter"], "input.encoding": read["encoding"],
                            "input.sheet": read["sheet"], "ledger": ledger_url, "memory": memory})
    values = effective[1]
    workers_note(values["workers"])
    program, out_dir = values["program"].value, values["output.folder"].value
    prog = load(program, as_json)
    hints = RejectHints(values["input.decimal_comma"].value)
    recorder = None
    if values["ledger"].value is not None:  # the run id first: manifest.json names it
        from engine.commands.ledger import EvaluateRecorder

        recorder = EvaluateRecorder(values["ledger"].value, prog, list(data))
    with Progress(f"scoring {', '.join(data)}", not as_json) as progress:
        options = run_options(progress=progress.update, on_source=progress.attach,
                              wait=wait, effective=effective, output_dialect=values["output.dialect"].value,
                              output_format=values["output.format"].value, carry=values["input.carry"].value,
                              engine=engine, spark_master=spark_master,
                              **(recorder.options(None if as_json else hints.add) if recorder else
                                 {"on_reject": None if as_json else hints.add}))
        try:
            result = run_evaluate(prog, list(data), options, out_dir=out_dir)
        except InputError as err:
            hint = delimiter_hint(err, values["input.delimiter"].value)
            if hint is None:
                raise
            raise Failure(f"{err}\nhint: {hint}") from None
        except BaseException:
            if recorder is not None:  # the reserved run id stays unrecorded (invisible)
                recorder.close()
            raise
    run_id = recorder.finish(result, options, out_dir) if recorder is not None else None  # after the folder swap
    if as_json:
        emit_json(manifest(result, options) | {"out": out_dir})
    else:
        print_summary(result, out_dir, hints.lines(), options)
        if run_id is not None:
            from engine.terminal import markup

            out_console().print(f"Recorded as run {run_id} in {markup(recorder.ledger.shown)}")
    return FINDINGS if strict and result.counts.rejected else OK


def workers_note(workers) -> None:
    """One note on stderr when `workers` was set (flag, environment or points.toml): it has no effect."""
    if workers.source == "default":
        return
    import sys

    from engine.terminal import visible

    given = f"`workers` ({visible(workers.origin)})" if workers.source == "project file" else visible(workers.origin)
    print(f"note: {given} is deprecated and has no effect: the row engine runs in one process, and large CSV "
          "exports go to the DuckDB engine with --engine auto (docs/sql.md)", file=sys.stderr)


_COMMA_DECIMAL = re.compile(r"[+-]?[0-9]+,[0-9]+")
_POINT_DECIMAL = re.compile(r"[+-]?[0-9]+\.[0-9]+")
_DOTTED_DATE = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}")


class RejectHints:
    """What most likely happened when most rejects of a field share one shape (a read option left out).

    It sees every rejected row as the run rejects it (RunOptions.on_reject) and keeps only counts
    and the first value of each shape, so memory does not grow with the export.
    """

    def __init__(self, decimal_comma: bool):
        self.decimal_comma = decimal_comma
        self.total: Counter = Counter()  # by (field, code)
        self.shapes: Counter = Counter()  # by (field, code, shape)
        self.first: dict = {}  # (field, code, shape) -> the first value of that shape
        self.kinds: dict = {}  # (field, code, shape) -> the kinds of file the values came from

    def add(self, rejected) -> None:
        key = (rejected.field, rejected.code)
        self.total[key] += 1
        shape = self._shape(rejected.code, rejected.value)
        if shape is None:
            return
        full = key + (shape,)
        self.shapes[full] += 1
        self.first.setdefault(full, rejected.value)
        self.kinds.setdefault(full, set()).add(Path(rejected.file).suffix.lower())

    def _shape(self, code: str, value: str) -> str | None:
        if code == reasons.NOT_A_NUMBER:
            if not self.decimal_comma and _COMMA_DECIMAL.fullmatch(value):
                return "comma"
            if self.decimal_comma and _POINT_DECIMAL.fullmatch(value):
                return "point"
        if code == reasons.NOT_A_DATE and _DOTTED_DATE.fullmatch(value):
            return "dotted"
        return None

    def lines(self) -> list[str]:
        """One sentence per field whose rejects are mostly of one telling shape, most rows first."""
        out = []
        for (field, code, shape), n in sorted(self.shapes.items(), key=lambda kv: (-kv[1], kv[0])):
            total = self.total[(field, code)]
            if 2 * n <= total:
                continue
            example = self.first[(field, code, shape)]
            share = f"{n:,} of the {total:,} rows rejected for `{field}` ({code})"
            if shape == "comma":
                out.append(f"{share} hold a number with a decimal comma like `{example}`: the export most "
                           "likely writes decimals with a comma; run again with --decimal-comma")
            elif shape == "point":
                out.append(f"{share} hold a number with a decimal point like `{example}`: the export most "
                           "likely writes decimals with a point; run again without --decimal-comma")
            elif self.kinds[(field, code, shape)] & {".jsonl", ".json", ".ndjson"}:
                out.append(f"{share} hold a date like `{example}`: JSON Lines dates are read as 2016-03-01 "
                           "only; write them so, or export the file as CSV, which reads 01.03.2016 too")
        return out


def split_program(arguments: tuple[str, ...], program_set: bool) -> tuple[str | None, list[str]]:
    """(PROGRAM or None, DATA): without a program setting the first argument is PROGRAM; with one, it
    is PROGRAM only when it is a folder, a .rules file or names a version (`folder@2017.01`)."""
    first, rest = arguments[0], list(arguments[1:])
    if not program_set:
        if not rest:
            raise click.UsageError("Missing argument 'DATA...' (or name the program in points.toml or "
                                   "POINTS_PROGRAM)")
        return first, rest
    path = Path(first)
    if path.is_dir() or path.suffix == ".rules" or ("@" in first and Path(first.rsplit("@", 1)[0]).is_dir()):
        if not rest:
            raise click.UsageError("Missing argument 'DATA...'")
        return first, rest
    return None, list(arguments)


def delimiter_hint(err, delimiter: str | None) -> str | None:
    """For a header without the required columns: the other delimiter that splits it into columns."""
    if "the required column" not in err.message or "header" not in err.message:
        return None
    try:
        with open(err.path, encoding="utf-8-sig", errors="replace") as f:
            header = f.readline()
    except OSError:
        return None
    given = "\t" if delimiter == "tab" else (delimiter or ",")
    counts = {d: header.count(d) for d in (",", ";", "\t") if d != given}
    best = max(counts, key=lambda d: (counts[d], d == ";"))
    if counts[best] == 0 or header.count(given) >= counts[best]:
        return None
    shown = {",": "','", ";": "';'", "\t": "tab"}[best]
    return (f"the header line is separated by {'a tab' if best == chr(9) else '`' + best + '`'}, "
            f"not `{'tab' if given == chr(9) else given}`: run again with --delimiter {shown} "
            "(or without --delimiter: it is detected from the header line)")


def print_summary(result, out_dir, hints: list[str] = (), options=None) -> None:
    """Counts by status, unscored reasons, rejects by field, partners by tier, points by period."""
    from rich.table import Table

    from engine.terminal import markup, text

    console = out_console()
    c = result.counts
    console.print(f"[bold]{markup(result.program.name)}[/] — {markup(result.data)}")
    t = Table(title="Rows", title_justify="left")
    for col in ("rows", "scored", "unscored", "rejected"):
        t.add_column(col, justify="right")
    files = result.files
    if len(files) > 1:
        t.add_column("file", justify="left")
        for f in files:
            fc = f.counts
            t.add_row(*(f"{n:,}" for n in (fc.rows, fc.scored, fc.unscored, fc.rejected)), text(f.file))
        t.add_row(*(f"{n:,}" for n in (c.rows, c.scored, c.unscored, c.rejected)), "total")
    else:
        t.add_row(*(f"{n:,}" for n in (c.rows, c.scored, c.unscored, c.rejected)))
    console.print(t)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {markup(note)}")
    if result.engine != "python":
        console.print(f"engine: {markup(result.engine)}")
    elif result.engine_reason:
        asked = "Spark" if getattr(options, "engine", None) == "spark" else "DuckDB"
        console.print(f"engine: python ({asked} could not take the input: {markup(result.engine_reason)})",
                      soft_wrap=True)
    for line in lenient_lines(c):
        console.print(f"[yellow]lenient:[/] {markup(line)}")
    for f in files if len(files) > 1 else ():
        for line in lenient_lines(f.counts):
            console.print(f"[yellow]lenient in {markup(f.file)}:[/] {markup(line)}")
    if not c.reconciles:  # cannot happen; shown loudly if it ever does
        console.print("[bold red]rows do not reconcile[/]")
    _reasons(console, "Unscored, by reason", ("code",), {(code,): n for code, n in c.unscored_reasons.items()})
    _reasons(console, "Rejected, by field and reason", ("field", "code"), c.rejected_reasons)
    for hint in hints:
        console.print(f"[yellow]hint:[/] {markup(hint)}", soft_wrap=True)
    _tiers(console, result)
    if out_dir:
        from engine.outputs import evaluate_files

        names = evaluate_files(options.output_format if options is not None else "csv")
        console.print(f"Results in {markup(out_dir)}/ ({', '.join(names)})")


def lenient_lines(counts) -> list[str]:
    """One sentence per field and lenient reading the run accepted values through."""
    from engine.validate import lenient_sentence

    return [lenient_sentence(name, reading, n, examples)
            for (name, reading), (n, examples) in sorted(counts.lenient.items())]


def _reasons(console, title: str, columns: tuple, counter) -> None:
    """Rows by reason: one line per key (a tuple of `columns`), most rows first."""
    from rich.table import Table

    from engine.terminal import cells

    if not counter:
        return
    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column)
    t.add_column("rows", justify="right")
    for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add_row(*cells(*key), f"{n:,}")
    console.print(t)


def _tiers(console, result) -> None:
    from rich.table import Table

    from engine.terminal import text

    periods = sorted({p.period for p in result.partners})
    if not periods:
        return
    tiers = _tier_order(result)
    t = Table(title="Partners by tier", title_justify="left")
    t.add_column("period")
    for name in tiers:
        t.add_column(text(name), justify="right")
    t.add_column("points", justify="right")
    for period in periods:
        rows = [p for p in result.partners if p.period == period]
        counts = [sum(1 for p in rows if p.tier == name) for name in tiers]
        t.add_row(text(period), *(str(n) for n in counts), fmt_grouped(sum((p.points for p in rows), start=0)))
    console.print(t)


def _tier_order(result) -> list[str]:
    names: list[str] = []
    for v in result.program.versions:
        for spec in v.plan.tiers:
            if spec.name not in names:
                names.append(spec.name)
    return names


def register(cli) -> None:
    cli.add_command(evaluate)
