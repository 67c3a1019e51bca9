"""A statement as HTML (Jinja2, autoescaped) and as a print-ready PDF (WeasyPrint).

Every value from a file reaches the page as text: Jinja2 escapes `<`, `>`, `&` and quotes, and
control characters (an ANSI escape in a partner id) are first made visible (`\\x1b`), as on a
terminal (engine.terminal). A value a spreadsheet would run (`=HYPERLINK(...)`) is only text in a
document and is shown as written. The page is laid out for A4 in DejaVu Sans, the font Debian
ships with fontconfig, so the PDF renders the same on every machine that has it; the same
statement gives the same bytes (the PDF carries no creation time, and the fonts it embeds carry
the fixed time of SOURCE_DATE_EPOCH: where HarfBuzz cannot subset them, fontTools does and would
stamp each with the moment of rendering).
"""
from __future__ import annotations

import os
import threading

from engine.report.locale import Words
from engine.report.model import Statement, StatementError

TEMPLATE = "statement.html.j2"


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    from engine.terminal import visible

    def finalize(value):
        return visible(value) if isinstance(value, str) else ("" if value is None else value)

    return Environment(loader=PackageLoader("engine.report", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       undefined=StrictUndefined, finalize=finalize, keep_trailing_newline=True,
                       trim_blocks=True, lstrip_blocks=True)


_ENV = None


def html(statement: Statement, language: str = "en") -> str:
    """The statement as one HTML document (styles inline, no external resources)."""
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    w = Words(language)
    return _ENV.get_template(TEMPLATE).render(s=statement, w=w, lang=language)


def pdf(statement: Statement, language: str = "en") -> bytes:
    """The statement as a PDF (A4), rendered from `html(statement, language)`."""
    return pdf_of_html(html(statement, language))


def pdf_of_html(document: str) -> bytes:
    try:
        from weasyprint import HTML
    except ImportError as err:  # the optional extra `pdf`
        raise StatementError(f"PDF statements need WeasyPrint (pip install 'partner-points[pdf]'): {err}") from None
    with _FIXED_TIME:
        # fontTools (WeasyPrint's font subsetter without HarfBuzz-Subset) stamps a subset font's `head`
        # table with the time now unless SOURCE_DATE_EPOCH sets one (reproducible-builds.org)
        before = os.environ.get("SOURCE_DATE_EPOCH")
        if before is None:
            os.environ["SOURCE_DATE_EPOCH"] = "0"
        try:
            return HTML(string=document, base_url=None).write_pdf(uncompressed_pdf=False)
        finally:
            if before is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)


_FIXED_TIME = threading.Lock()  # the environment is the process's: one PDF rendered at a time
