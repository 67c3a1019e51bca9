"""Syntax highlighting of rulesets: a Pygments lexer and ANSI colouring for terminals.

Design:
- The lexer is a small `RegexLexer` of its own, separate from the Lark grammar: colouring must also
  work on a broken file (that is when error excerpts are shown), so it never fails and never needs
  the whole file; an unknown character is the only thing it marks as an error.
- Names are coloured by where they stand, as far as one line shows it: a table name after `table`
  or before `[`, a tier name before `from` or after `->` / `tier` / `start at`, a field name before
  `:`. Everything else is a plain name; meaning is the checker's business.
- Rendered diagnostics (dsl.errors) are coloured line by line from their fixed shape: the
  headline, the source excerpt (through the lexer), the caret and the hint.
- Colour is only for people at a terminal: `highlight(text, terminal=False)` is the text itself,
  so piped output and files stay plain. Colouring never changes the characters, only adds escapes.
"""
from __future__ import annotations

import re

from pygments import highlight as _pygments_highlight
from pygments.console import ansiformat
from pygments.formatters import TerminalFormatter
from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment, Keyword, Literal, Name, Number, Operator, Punctuation, String, Text, Whitespace,
)

STATEMENTS = (
    "program", "version", "effective", "period", "combine", "input", "tiers", "table", "rule",
    "review", "quality", "example",
)
CLAUSES = (
    "when", "points", "per", "at", "most", "least", "rounded", "to", "decimals", "by",
    "from", "keep", "legacy", "newcomers", "start", "downgrade", "after", "grace", "levels", "level",
    "periods", "kpi", "share", "mean", "of", "above", "below", "reports", "report", "sustained", "shown", "column",
    "contract", "expect", "tier", "unscored", "one", "required", "unique", "default", "half", "up",
    "even", "down", "earned",
)
TYPES = ("text", "integer", "decimal", "date", "boolean")
CONSTANTS = ("year", "quarter", "month", "sum", "first", "exclusive", "true", "false")
WORD_OPERATORS = ("and", "or", "not", "in")
BUILTINS = ("min", "max")

_NAME = r"[^\W\d_]\w*"
_WS = r"[ \t]+"


class PointsLexer(RegexLexer):
    """Pygments lexer for Partner Points rulesets (`*.rules`)."""

    name = "Partner Points ruleset"
    aliases = ["points", "partner-points"]
    filenames = ["*.rules"]
    mimetypes = ["text/x-points-rules"]

    tokens = {
        "root": [
            (r"\n", Whitespace),
            (r"[ \t\r\f]+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"', String.Double, "string"),
            (r"\d{4}-\d{2}-\d{2}\b", Literal.Date),  # a date, not a subtraction
            (r"\d[\d_]*(\.\d[\d_]*)?%", Number.Float),
            (r"\d[\d_]*\.\d[\d_]*", Number.Float),
            (r"\d[\d_]*", Number.Integer),
            (rf"(->)({_WS})({_NAME})", bygroups(Operator, Whitespace, Name.Label)),
            (r"==|!=|<=|>=|->|[<>+\-*/]", Operator),
            (r"[{}()\[\],:;]", Punctuation),
            (rf"(table)({_WS})({_NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (rf"(tier)({_WS})({_NAME})", bygroups(Keyword, Whitespace, Name.Label)),
            (rf"(start)({_WS})(at)({_WS})({_NAME})",
             bygroups(Keyword, Whitespace, Keyword, Whitespace, Name.Label)),
            # `x in table` is followed by the end of the condition, a junction or a `)`.
            (rf"(in)({_WS})({_NAME})(?=\s*(?:and\b|or\b|\)|#|$))",
             bygroups(Operator.Word, Whitespace, Name.Class)),
            (words(STATEMENTS, suffix=r"\b"), Keyword.Declaration),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(TYPES, suffix=r"\b"), Keyword.Type),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(BUILTINS, suffix=r"\b(?=\s*\()"), Name.Builtin),
            (words(CLAUSES, suffix=r"\b"), Keyword),
            (rf"{_NAME}(?=\s*\[)", Name.Class),
            (rf"{_NAME}(?={_WS}from\b)", Name.Label),
            (rf"{_NAME}(?=\s*:)", Name.Attribute),
            (_NAME, Name),
        ],
        "string": [
            (r'\\["\\]', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r'"', String.Double, "#pop"),
            (r"\\", String.Double),  # a stray backslash: the parser, not the colouring, reports it
            (r"\n", Text, "#pop"),  # an unclosed string ends with its line
        ],
    }

    def __init__(self, **options):
        # Keep the text exactly: colouring must add escapes only, never move or drop characters.
        options.setdefault("stripnl", False)
        options.setdefault("ensurenl", False)
        super().__init__(**options)


_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")


def _colour(text: str) -> str:
    # Pygments drops a byte-order mark and turns \r\n into \n before lexing; both are put back,
    # line by line for \r (the language has no token that spans lines, so nothing is lost).
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    if "\r" not in body:
        return bom + _pygments_highlight(body, PointsLexer(), TerminalFormatter())
    parts = (m.groups() for m in _LINE.finditer(body) if m.group(0))
    return bom + "".join(_colour(line) + ending for line, ending in parts)


def highlight(text: str, terminal: bool) -> str:
    """The ruleset text with ANSI colours when `terminal` is true, else the text unchanged."""
    return _colour(text) if terminal else text


def highlight_line(line: str, terminal: bool) -> str:
    """One source line (as in an error excerpt) coloured for a terminal, without a line break."""
    return highlight(line.rstrip("\n"), terminal).rstrip("\n")


_HEADLINE = re.compile(r"^(.+?:\d+:\d+: )(error|warning)( [A-Z]\d+: )(.*)$")
_EXCERPT = re.compile(r"^( *\d+ \| )(.*)$")
_CARET = re.compile(r"^( +)(\^+)$")
_HINT = re.compile(r"^(  hint: )(.*)$")
_SEVERITY = {"error": "*red*", "warning": "*yellow*"}


def _diagnostic_line(line: str) -> str:
    if m := _HEADLINE.match(line):
        place, severity, code, message = m.groups()
        return ansiformat("*white*", place) + ansiformat(_SEVERITY[severity], severity) + code + message
    if m := _EXCERPT.match(line):
        return ansiformat("gray", m.group(1)) + highlight_line(m.group(2), True)
    if m := _CARET.match(line):
        return m.group(1) + ansiformat("*red*", m.group(2))
    if m := _HINT.match(line):
        return ansiformat("cyan", m.group(1)) + m.group(2)
    return line


def highlight_diagnostics(text: str, terminal: bool) -> str:
    """Rendered findings (`file:line:col: error CODE: ...`, excerpt, caret, hint) coloured for a terminal."""
    if not terminal:
        return text
    return "\n".join(_diagnostic_line(line) for line in text.split("\n"))
