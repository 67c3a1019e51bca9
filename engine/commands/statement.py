"""`points statement`: a partner's points statement for a period, as HTML or PDF."""
from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import click

from engine.cli import OK, Failure, load
from engine.commands.common import read_options, run_options, wait_option

EXAMPLES = """
\b
Examples:
  points statement rulesets/o2-business examples/contracts.csv --partner P-008 --period 2017 --out p008.html
  points statement rulesets/o2-business examples/contracts.csv --partner P-008 --period 2017 --locale de \\
      --legacy examples/legacy.csv --quality examples/quality.csv --format pdf --out p008.pdf
  points statement rulesets/o2-business examples/contracts.csv --all --period 2017 --partners partners.csv \\
      --format pdf --out out/statements
\b
With --all every partner with a valid contract in the period (every period without --period) gets a
statement in DIR, named PARTNER_PERIOD.html (or .pdf), and DIR/index.csv lists them. --partners FILE
(columns partner_id, locale) gives each partner's language; --locale is the language of the others.
"""

SAFE = re.compile(r"[^A-Za-z0-9._-]")
INDEX = "index.csv"
INDEX_COLUMNS = ["partner_id", "period", "locale", "file", "points", "earned", "status"]


@click.command(epilog=EXAMPLES)
@click.argument("arguments", metavar="[PROGRAM] DATA...", type=click.Path(), nargs=-1)
@click.option("--run", "run_id", metavar="RUN", help="From this run of the ledger instead of PROGRAM DATA "
              "(its recorded results, adjustments, reviews and quality results).")
@click.option("--ledger", "ledger_url", metavar="URL", help="With --run: the run ledger (a SQLite file or "
              "postgresql://...; default: `ledger` in points.toml, or POINTS_LEDGER).")
@click.option("--partner", "partner_id", help="The partner the statement is for.")
@click.option("--period", help="The period (e.g. 2017); with --all: only this period.")
@click.option("--all", "every", is_flag=True, help="A statement for every partner (and period): --out names a folder.")
@click.option("--format", "doc_format", type=click.Choice(["html", "pdf"]), default="html", show_default=True,
              help="HTML, or a print-ready PDF (A4).")
@click.option("--locale", "language", type=click.Choice(["en", "de"]), default="en", show_default=True,
              help="Labels, numbers and dates in English or German.")
@click.option("--partners", "partners_file", type=click.Path(),
              help="With --all: each partner's locale (a file with the columns partner_id and locale).")
@click.option("--legacy", type=click.Path(), help="Legacy statuses for the review (as `points status --legacy`).")
@click.option("--quality", type=click.Path(), help="Quality reports (as `points quality`): flags shown beside the points.")
@click.option("--contracts", "top", default="20", show_default=True, metavar="N|all",
              help="How many contracts to list (the most points first), or all of them.")
@click.option("--out", "out", type=click.Path(), help="The file to write (default: HTML to standard output); "
              "with --all, the folder.")
@wait_option
@read_options
def statement(arguments, run_id, ledger_url, partner_id, period, every, doc_format, language, partners_file, legacy,
              quality, top, out, wait, **read):
    """A partner's statement for a period: points by rule and table row, the contracts behind them,
    the tier against the thresholds, status and review, points still needed, quality flags, and the
    ruleset version with its sha256. DATA is one export file or several (as `points evaluate` takes them)."""
    from engine.commands.common import settings
    from engine.commands.evaluate import split_program

    if run_id is None and ledger_url is not None:
        raise click.UsageError("--ledger goes with --run RUN (the run to make the statement from)")
    if run_id is not None:
        if arguments:
            raise click.UsageError("--run makes the statement from the ledger: give no PROGRAM or DATA")
        if legacy or quality:
            raise click.UsageError("--run uses the reviews and quality results recorded with the run: drop "
                                   "--legacy and --quality (record them with `points status/quality --ledger --run`)")
    elif not arguments:
        raise click.UsageError("Missing argument 'DATA...' (or --run RUN --ledger URL)")
    limit = _limit(top)
    if every:
        if partner_id is not None:
            raise click.UsageError("give --partner for one statement or --all for every partner, not both")
        if not out:
            raise click.UsageError("--all writes one file per statement: give the folder with --out DIR")
    else:
        if partner_id is None or period is None:
            raise click.UsageError("give --partner and --period (or --all --out DIR)")
        if partners_file:
            raise click.UsageError("--partners goes with --all (for one statement, say --locale)")
    if doc_format == "pdf":
        _need_weasyprint()
    locales = _read_partners(partners_file) if partners_file else {}
    if run_id is not None:
        return _from_ledger(ledger_url, run_id, partner_id, period, every, doc_format, language, locales, limit, out,
                            partners_file, wait)
    configured = settings()[1]["program"].value
    program, data = split_program(arguments, configured is not None)
    program = program or configured
    if quality and len(data) > 1:
        raise click.UsageError("--quality counts reports against one export: give one DATA file")
    prog = load(program)
    inputs = [*data, legacy, quality, partners_file, *(v.path for v in prog.versions)]
    options = run_options(**read)
    shown_data = data[0] if len(data) == 1 else list(data)
    if every:
        from engine.report.model import Evaluation

        return _all(lambda: Evaluation.run(prog, shown_data, None, legacy, quality, options), period, doc_format,
                    language, locales, limit, out, inputs, wait, ", ".join(data))
    from engine.report.model import StatementError, from_evaluation

    _refuse_input(out, inputs)
    try:
        st = from_evaluation(prog, shown_data, partner_id, period, legacy, quality, options=options, limit=limit)
        body = _render(st, doc_format, language)
    except StatementError as err:
        raise Failure(str(err)) from None
    _write(out, body, doc_format)
    return OK


def _limit(top: str) -> int | None:
    if top.strip().lower() == "all":
        return None
    if not top.strip().isdigit() or int(top) < 1:
        raise click.UsageError(f"--contracts: '{top}' is not a number of contracts (1 or more) or `all`")
    return int(top)


def _need_weasyprint() -> None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as err:
        raise Failure(f"--format pdf needs WeasyPrint and Pango (pip install 'partner-points[pdf]'): {err}") from None


def _render(st, doc_format: str, language: str):
    from engine.report.render import html, pdf

    return pdf(st, language) if doc_format == "pdf" else html(st, language)


def _refuse_input(out: str | None, inputs) -> None:
    """An output never replaces an input."""
    if not out or not os.path.exists(out):
        return
    for path in inputs:
        if path and os.path.exists(path) and os.path.samefile(out, path):
            raise Failure(f"--out {out} is an input of this command: choose another file")
    if os.path.isdir(out):
        raise Failure(f"--out {out} is a folder: give a file name (or --all for a folder of statements)")


def _write(out: str | None, body, doc_format: str) -> None:
    """To `out` (written beside it and renamed over it, so a reader sees the old or the new file), or stdout."""
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    if not out:
        if doc_format == "pdf" and sys.stdout.isatty():
            raise Failure("a PDF is not for a terminal: give --out FILE (or redirect standard output)")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from engine.outputs import create

    target = Path(out)
    temp = target.with_name(f".{target.name}.points-new-{os.getpid()}")
    try:
        with create(temp, binary=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except OSError as err:
        if temp.exists():
            temp.unlink()
        raise Failure(f"{out}: cannot write: {err.strerror or err}") from None


def file_name(partner: str, period: str, ext: str) -> str:
    """A file name for the partner's statement that no id can turn into a path: characters other than
    letters, digits, `.`, `_` and `-` become `_`, and such a name gets a short hash of the id."""
    safe = SAFE.sub("_", partner).lstrip(".") or "_"
    if safe != partner:
        safe += "-" + hashlib.sha256(partner.encode("utf-8")).hexdigest()[:8]
    return f"{safe[:80]}_{period}.{ext}"


def _read_partners(path: str) -> dict[str, str]:
    """partner -> locale from a file with the columns partner_id and locale."""
    from engine.readers import BadRow, InputError, open_rows
    from engine.report.locale import LOCALES

    out: dict[str, str] = {}
    with open_rows(Path(path)) as rows:
        header = [str(h or "").strip().lower() for h in (rows.header or [])]
        if rows.header is not None:
            for name in ("partner_id", "locale"):
                if name not in header:
                    raise InputError(path, f"header (row 1): no column '{name}'; the columns are "
                                     f"{', '.join(repr(h) for h in header)}", row=1)
            p, s = header.index("partner_id"), header.index("locale")

            def cells(raw):
                return (raw[p] if p < len(raw) else None), (raw[s] if s < len(raw) else None)
        else:
            def cells(raw):
                return raw.get("partner_id"), raw.get("locale")
        for n, raw in rows:
            if isinstance(raw, BadRow):
                raise InputError(path, f"row {n}: {raw.reason}", row=n)
            partner_cell, locale_cell = cells(raw)
            partner = str(partner_cell if partner_cell is not None else "").strip()
            locale = str(locale_cell if locale_cell is not None else "").strip().lower()
            if not partner:
                raise InputError(path, f"row {n}, field partner_id: empty", row=n)
            if locale not in LOCALES:
                raise InputError(path, f"row {n}, field locale: '{locale}' is not a locale of statements "
                                 f"({', '.join(sorted(LOCALES))})", row=n)
            if partner in out:
                raise InputError(path, f"row {n}, field partner_id: '{partner}' is listed twice", row=n)
            out[partner] = locale
    return out


def _from_ledger(ledger_url, run_id, partner_id, period, every, doc_format, language, locales, limit, out,
                 partners_file, wait) -> int:
    from engine.commands.ledger import opened, resolve_ledger
    from engine.ledger import LedgerError
    from engine.report.model import Evaluation, StatementError, from_ledger

    url = resolve_ledger(ledger_url)
    with opened(url) as ledger:
        if every:
            def book():
                try:
                    return Evaluation.from_ledger(ledger, run_id)
                except LedgerError as err:
                    raise StatementError(str(err)) from None

            return _all(book, period, doc_format, language, locales, limit, out, [partners_file, _file_of(url)], wait,
                        f"{ledger.shown}: run {run_id}")
        _refuse_input(out, [_file_of(url)])
        try:
            st = from_ledger(ledger, run_id, partner_id, period, limit=limit)
            body = _render(st, doc_format, language)
        except StatementError as err:
            raise Failure(str(err)) from None
    _write(out, body, doc_format)
    return OK


def _file_of(url: str) -> str | None:
    """The file of a SQLite ledger (an input an output must not replace), None for a server."""
    from engine.ledger import LedgerError, parse_url

    try:
        kind, where = parse_url(url)
    except LedgerError:  # an unusable URL: opening the ledger says so
        return None
    return where if kind == "sqlite" else None


def _all(make_book, period, doc_format, language, locales, limit, out, inputs, wait, what) -> int:
    from engine.cells import DictWriter
    from engine.numbers import fmt_points
    from engine.outputs import OutputFolder, create
    from engine.report.model import StatementError
    from engine.terminal import visible

    ext = doc_format
    pattern = re.compile(r"^[^/]+_\d{4}(-Q[1-4]|-\d{2})?\.(html|pdf)$")
    target = Path(out)
    earlier = {e for e in os.listdir(target) if pattern.match(e)} if target.is_dir() and not target.is_symlink() else set()
    folder = OutputFolder(out, inputs, {INDEX, *earlier}, wait=wait).reserve()  # refuses now, before any work
    try:
        book = make_book()
        unit = book.program.period
        keys = [k for k in book.partners() if period is None or k[1] == period]
        if period is not None:
            try:
                from engine.periods import period_bounds

                period_bounds(period, unit)
            except ValueError as err:
                raise StatementError(f"--period: {err} (the program's periods are {unit}s)") from None
        if not keys:
            raise StatementError(f"{what}: no partner has a valid contract"
                                 + (f" in period {period}" if period else ""))
        names = [file_name(p, y, ext) for p, y in keys]
        if len(set(names)) != len(names):
            raise StatementError("two partner ids give the same file name; rename one of them")
        index = []
        with folder:
            for i, ((partner, label), name) in enumerate(zip(keys, names), 1):
                lang = locales.get(partner, language)
                st = book.statement(partner, label, limit)
                body = _render(st, doc_format, lang)
                with create(folder.path(name), binary=True) as f:
                    f.write(body if isinstance(body, bytes) else body.encode("utf-8"))
                click.echo(f"[{i}/{len(keys)}] {visible(partner)} {label}: {name}", err=True)
                index.append({"partner_id": partner, "period": label, "locale": lang, "file": name,
                              "points": fmt_points(st.total), "earned": st.earned or "",
                              "status": st.review.status if st.review else ""})
            with create(folder.path(INDEX)) as f:
                w = DictWriter(f, fieldnames=INDEX_COLUMNS)
                w.writeheader()
                w.writerows(index)
    except StatementError as err:
        raise Failure(str(err)) from None
    click.echo(f"{len(keys)} statement{'s' if len(keys) != 1 else ''} written to {visible(folder.shown)}/ "
               f"(the list: {visible(folder.shown)}/{INDEX})")
    return OK


def register(cli) -> None:
    cli.add_command(statement)
