"""`points explain`: why a contract or a partner has the points and the tier it has."""
from __future__ import annotations

import click

from engine.cli import OK, Failure, emit_json, load
from engine.commands.common import program_and_data, out_console, Progress, json_option, read_options, run_options

EXAMPLES = """
\b
Examples:
  points explain rulesets/o2-business examples/contracts.csv --contract C-000123
  points explain rulesets/o2-business examples/contracts.csv --contract C-000123 --full
  points explain rulesets/o2-business examples/contracts.csv --contract C-000123 --why-not "Unite pool volume"
  points explain rulesets/o2-business examples/contracts.csv --partner P-007 --period 2016
  points explain rulesets/o2-business examples/contracts.csv --partner P-007 --legacy examples/legacy.csv --json
  points explain rulesets/o2-business examples/contracts.csv --partner P-007 --side-by-side 2016.03 2017.01
  points explain --run 3 --contract C-000123 --full --ledger out/demo.ledger      # from a recorded run
  points explain --run 3 --partner P-007 --period 2016 --ledger out/demo.ledger
"""


@click.command(epilog=EXAMPLES)
@program_and_data(many=True, optional=True)
@click.option("--run", "run_id", type=int, help="Answer from this run of the ledger (no PROGRAM or DATA).")
@click.option("--ledger", "ledger_url", metavar="URL", help="With --run: the ledger (default: points.toml's `ledger`).")
@click.option("--contract", "contract_id", help="Explain this contract (its contract_id).")
@click.option("--row", type=int, help="Explain the contract on this row of DATA (a rejected row: why).")
@click.option("--file", "in_file", type=click.Path(),
              help="With --row and several DATA files: the row is in this one.")
@click.option("--partner", "partner_id", help="Explain this partner's points and tier.")
@click.option("--period", help="With --partner: this period only (e.g. 2016; default: every period).")
@click.option("--why-not", "why_not_rule", metavar="RULE", help="With --contract: why RULE did not pay.")
@click.option("--legacy", type=click.Path(), help="With --partner: legacy statuses (CSV partner_id,status) for the status chain.")
@click.option("--side-by-side", "side_by_side", nargs=2, metavar="OLD NEW",
              help="With --partner: the partner's contracts scored under two versions of PROGRAM, side by side.")
@click.option("--full", is_flag=True, help="Every value, lookup, cap and rounding (default: the rules that paid).")
@click.option("--all", "all_contracts", is_flag=True,
              help="With --partner: list every contract (default: the 20 with the most points; --json lists all).")
@read_options
@json_option
def explain(program, data, run_id, ledger_url, contract_id, row, in_file, partner_id, period, why_not_rule, legacy,
            side_by_side, full, all_contracts, as_json, **read):
    """Explain one contract's points (or why a rule did not fire, or why its row was rejected), or one
    partner's total and tier. DATA is one export file or several (as `points evaluate` takes them)."""
    chosen = [x for x in (contract_id, row, partner_id) if x is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --contract, --row or --partner")
    if in_file is not None and row is None:
        raise click.UsageError("--file goes with --row")
    if run_id is not None:
        from engine.commands.ledger import explain_from_ledger

        if data is not None:
            raise click.UsageError("--run answers from the ledger: give no PROGRAM or DATA")
        if row is not None or why_not_rule or legacy or side_by_side:
            raise click.UsageError("--run goes with --contract or --partner (and --period, --full, --all)")
        return explain_from_ledger(ledger_url, run_id, contract_id, partner_id, period, full, all_contracts, as_json)
    if data is None:
        raise click.UsageError("Missing argument '[PROGRAM] DATA...' (or --run RUN to answer from the ledger)")
    if ledger_url is not None:
        raise click.UsageError("--ledger goes with --run")
    data = list(data) if len(data) > 1 else data[0]
    if why_not_rule and partner_id:
        raise click.UsageError("--why-not goes with --contract or --row")
    if side_by_side and not partner_id:
        raise click.UsageError("--side-by-side goes with --partner")
    if all_contracts and not partner_id:
        raise click.UsageError("--all goes with --partner")
    prog = load(program, as_json)
    level = "full" if full else "short"
    if side_by_side:
        from engine.commands.diff import print_side_by_side

        old, new = (_version(prog, name) for name in side_by_side)
        print_side_by_side(old, new, data, partner_id, run_options(**read), as_json,
                           periods=(period,) if period is not None else ())
        return OK
    if partner_id is not None:
        return _partner(prog, data, partner_id, period, legacy, level, as_json, read, all_contracts)
    return _contract(prog, data, contract_id, row, in_file, why_not_rule, level, as_json, read)


def _shown(data) -> str:
    return ", ".join(data) if isinstance(data, list) else data


def _traced_rows(prog, data, read, when, reject_when=None, open_source=None, pick=None):
    """The rows `when` picks, traced; with `reject_when`, also the rejected rows it picks.
    `open_source` reads only the rows that can matter (engine.explain.contract_prefilter); `pick`,
    `(field, value, latest)`, has DuckDB pick them (engine.explain.filtered_source) instead."""
    from engine.run import evaluate

    found, rejected = [], []
    on_reject = None if reject_when is None else (lambda r: rejected.append(r) if reject_when(r) else None)
    with Progress(f"reading {_shown(data)}", True) as progress:
        options = run_options(progress=progress.update, on_source=progress.attach, trace_when=when,
                              on_traced=found.append, on_reject=on_reject, open_source=open_source, **read)
        selection = None
        if pick is not None and open_source is None:
            from engine.explain import filtered_source

            options.open_source, selection = filtered_source(prog, data if isinstance(data, list) else [data],
                                                             options, *pick)
            if options.open_source is None:
                _note_whole(data, selection)
                selection = None
        result = evaluate(prog, data, options)
        if selection is not None and not selection.exact_for(result.counts.last_signed, prog.period):
            # the period of the latest valid signed date may be on a row left out: the whole files decide it
            found.clear()
            rejected.clear()
            options.open_source = None
            result = evaluate(prog, data, options)
    if reject_when is None:
        return found, result
    return found, rejected, result


WHOLE_NOTE_BYTES = 16 << 20  # files this large are read whole with a note saying why


def _note_whole(data, reason: str) -> None:
    """On stderr, for large files only: why they are read whole (it takes a while)."""
    import os

    from engine.terminal import visible

    paths = data if isinstance(data, list) else [data]
    try:
        size = sum(os.path.getsize(p) for p in paths)
    except OSError:
        return
    if size >= WHOLE_NOTE_BYTES:
        click.echo(visible(f"note: reading all of {_shown(data)}, not only the rows needed: {reason}"), err=True)


def _contract(prog, data, contract_id, row, in_file, why_not_rule, level, as_json, read) -> int:
    from engine.explain import (
        UnknownRule, contract_json, contract_tree, rejected_json, rejected_tree, why_not, why_not_tree,
    )
    from engine.program import display_path
    from pathlib import Path

    from engine.run import file_labels

    files = [Path(f) for f in (data if isinstance(data, list) else [data])]
    wanted = None
    if in_file is not None:
        shown = [display_path(f) for f in files]
        if display_path(Path(in_file)) not in shown:
            raise click.UsageError(f"--file {in_file} is not one of the DATA files ({_shown(data)})")
        wanted = file_labels(files)[shown.index(display_path(Path(in_file)))]
    if contract_id is not None:
        from engine.explain import contract_prefilter

        rows, rejected, _ = _traced_rows(prog, data, read, lambda n, rec: rec["contract_id"] == contract_id,
                                         lambda r: r.contract_id == contract_id,
                                         contract_prefilter(prog, contract_id), ("contract_id", contract_id, False))
        what = f"contract {contract_id}"
    else:
        rows, rejected, _ = _traced_rows(prog, data, read, lambda n, rec: n == row,
                                         lambda r: r.row == row and wanted in (None, r.file))
        rows = [t for t in rows if wanted in (None, t.file)]
        what = f"row {row}" + (f" of {in_file}" if in_file else "")
        places = sorted({t.file for t in rows} | {r.file for r in rejected})
        if len(places) > 1:
            raise click.UsageError(f"row {row} is in several files ({', '.join(places)}): say which with --file")
    if not rows and rejected and not why_not_rule:
        if as_json:
            emit_json(rejected_json(rejected[0]))
        else:
            _print(rejected_tree(rejected[0]))
        return OK
    if not rows:
        if rejected:
            raise Failure(f"{_shown(data)}: {what} was rejected ({rejected[0].code}: {rejected[0].reason}); "
                          "no rule was considered")
        raise Failure(f"{_shown(data)}: there is no {what}")
    traced = rows[0]
    sources = prog.sources
    if why_not_rule:
        try:
            result = why_not(traced, why_not_rule, sources)
        except UnknownRule as err:
            raise Failure(str(err)) from None
        if as_json:
            emit_json(result)
        else:
            _print(why_not_tree(result))
        return OK
    if as_json:
        emit_json(contract_json(traced, sources, level))
    else:
        _print(contract_tree(traced, sources, level))
    return OK


def _partner(prog, data, partner_id, period, legacy, level, as_json, read, all_contracts=False) -> int:
    from engine.explain import TOP_CONTRACTS, partner_json, partner_tree

    rows, result = _traced_rows(prog, data, read, lambda n, rec: rec["partner_id"] == partner_id,
                                pick=("partner_id", partner_id, bool(legacy) or _has_review(prog)))
    explanations, chain = partner_explanations(prog, rows, result, partner_id, period, legacy, _shown(data))
    if as_json:
        emit_json({"partner_id": partner_id, "periods": [partner_json(e, prog.sources, level) for e in explanations],
                   "status": chain})
        return OK
    for e in explanations:
        _print(partner_tree(e, prog.sources, level, None if all_contracts else TOP_CONTRACTS))
    if not explanations and chain:
        from engine.terminal import visible

        for line in chain:
            click.echo(visible(line))
    return OK


def partner_explanations(prog, rows, result, partner_id, period, legacy, shown: str):
    """A partner's explanation per period (of `period` only when given) and its status chain, from
    its traced contracts `rows` of the run `result`; `legacy` the legacy statuses' file or None,
    `shown` how the data is named in a Failure."""
    from engine.explain import explain_partner

    from engine.statusrun import legacy_columns, read_legacy

    legacy_status = read_legacy(legacy, *legacy_columns(prog)).get(partner_id) if legacy else None
    from engine.periods import period_of

    kind = prog.period
    by_period: dict[str, list] = {}  # each row's period found once, in the rows' order
    for r in rows:
        by_period.setdefault(period_of(r.record["signed"], kind), []).append(r)
    periods = sorted(by_period)
    if period is not None:
        if period not in periods and legacy_status is None:
            raise Failure(f"{shown}: partner {partner_id} has no contracts in period {period}"
                          + (f"; its periods: {', '.join(periods)}" if periods else ""))
        periods = [period]
    if not periods and not legacy:
        raise Failure(f"{shown}: no valid row for partner {partner_id}")
    explanations = [explain_partner(prog, by_period.get(p, []), partner_id, p) for p in periods]
    chain, report = _status_chain(prog, partner_id, rows, legacy_status, legacy, result.counts.last_signed) \
        if legacy or _has_review(prog) else ([], None)
    if explanations:
        explanations[-1].status_lines = chain
    if report is not None:
        from engine.explain import status_in_period

        decisions = [d for d in report.decisions if d.partner_id == partner_id]
        standing = next((s for s in report.standings if s.partner_id == partner_id), None)
        from engine.periods import next_period

        for e in explanations:
            order = [t.name for t in sorted(e.tier_version.plan.tiers, key=lambda t: t.threshold)] \
                if e.tier_version is not None else []
            e.held = status_in_period(e.period, decisions, standing, report.current, order,
                                      next_period(e.period, prog.period))
    return explanations, chain


def _version(prog, name: str):
    version = prog.version_named(name)
    if version is None:
        names = ", ".join(v.name for v in prog.versions)
        raise Failure(f"no version \"{name}\" in {prog.name}; versions: {names}")
    return version


def _period(prog, traced) -> str:
    from engine.periods import period_of

    return period_of(traced.record["signed"], prog.period)


def _has_review(prog) -> bool:
    return any(v.ruleset.review is not None for v in prog.versions)


def _status_chain(prog, partner_id, rows, legacy_status, legacy_path, last_signed):
    """The partner's review decisions and standing, from its own traced contracts: the lines of the
    chain (as engine.statusrun.partner_chain words them) and the status report behind them."""
    from decimal import Decimal

    from engine.status import StatusError, explain_chain
    from engine.statusrun import default_as_of, standing_line, status_report

    points: dict[str, Decimal] = {}
    for r in rows:  # a period with contracts but no points still counts (as zero), as in a run
        label = _period(prog, r)
        points[label] = points.get(label, Decimal(0)) + (r.points if r.status == "scored" else 0)
    try:
        report = status_report(prog, {partner_id: points} if points else {},
                               {partner_id: legacy_status} if legacy_status else {},
                               default_as_of(prog, last_signed)[0])
    except StatusError as err:
        raise Failure(f"{legacy_path or prog.versions[-1].path}: {err}") from None
    lines = explain_chain((d for d in report.decisions if d.partner_id == partner_id), report.current)
    lines += [standing_line(s, report.current) for s in report.standings if s.partner_id == partner_id]
    return lines, report


def _print(renderable) -> None:
    out_console().print(renderable)


def register(cli) -> None:
    cli.add_command(explain)
