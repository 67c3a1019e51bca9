"""Diagnostics: one type for every finding about a ruleset, rendered for a person.

Every finding (syntax error, unknown name, static-analysis warning) is a `Diagnostic` with a
stable code, a severity, a span, a message in the user's words and an optional hint. Codes are
stable because tests, docs (docs/errors/CODE.md) and users' scripts refer to them:

- `P1xx` syntax (dsl.parser)          - `N2xx` names and meaning (dsl.checks)
- `W3xx` static-analysis warnings     - `V4xx` versions of a program (engine.program)
- `C501` a construct the checker let through but the compiler cannot run (engine.program)

Rendering is `file:line:col: severity CODE: message`, the source line, a caret under the span,
and `hint: ...`; findings are sorted by position and capped with "... and N more". A ruleset is
data: control characters in a source line or a message are shown as escapes (`visible`), never
sent raw to a terminal; the caret stays under the characters it points at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

from .ast import Span

MAX_SHOWN = 50
EXCERPT_WIDTH = 160  # characters of a source line shown around a span

# Control characters, shown visibly (engine/terminal.py uses these for everything it prints).
# C0 controls, DEL, C1 controls; the bidi embeddings, overrides, isolates and marks; the line and
# paragraph separators (a terminal or an editor may break a line there).
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_UNSAFE_IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # \t and \n stay
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def visible(value) -> str:
    """`value` as text on one line, every control character (line breaks too) written as an escape."""
    s = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escaped, s) if _UNSAFE.search(s) else s


def visible_lines(value) -> str:
    """Like `visible`, but line breaks (\\n) and tabs stay: for text of several lines."""
    s = value if isinstance(value, str) else str(value)
    return _UNSAFE_IN_LINES.sub(_escaped, s) if _UNSAFE_IN_LINES.search(s) else s


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    severity: str = "error"  # "error" or "warning"
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.line, self.span.column, self.code)

    def headline(self) -> str:
        """`file:line:col: severity CODE: message`; a finding about a whole path (line 0) has no position."""
        where = f"{self.span.file}:{self.span.line}:{self.span.column}" if self.span.line > 0 else self.span.file
        return f"{where}: {self.severity} {self.code}: {self.message}"

    def render(self, source: str | None = None) -> str:
        """The headline, the source line with a caret under the span, and the hint."""
        lines = [self.headline()]
        excerpt = source_excerpt(source, self.span)
        if excerpt:
            lines.extend(excerpt)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        s = self.span
        return {
            "code": self.code, "severity": self.severity, "message": self.message, "hint": self.hint,
            "file": s.file, "line": s.line, "column": s.column,
            "end_line": s.end_line, "end_column": s.end_column,
        }


def source_lines(source: str) -> list[str]:
    """The lines of a ruleset as the language counts them: a line ends at `\n` (a `\r` before it
    belongs to the line break), so line N here is line N of every message.

    `str.splitlines()` also breaks at U+2028, U+2029, U+0085, VT, FF and U+001C-U+001E, which would
    show another line than the one a message names. The result is cached (the last few sources),
    so showing many lines of one large file splits it once; do not modify the list.
    """
    return _lines_of(source)


@lru_cache(maxsize=8)
def _lines_of(source: str) -> list[str]:
    lines = source.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final line break ends the last line, it does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def source_excerpt(source: str | None, span: Span) -> list[str]:
    """The span's first source line, indented, and a caret line under the span."""
    if not source or span.line < 1:
        return []
    text_lines = source_lines(source)
    if span.line > len(text_lines):
        return []
    text = text_lines[span.line - 1]
    start = max(span.column, 1)
    end = span.end_column if span.end_line == span.line and span.end_column > start else start + 1
    end = min(max(end, start + 1), max(len(text) + 2, start + 1))
    if len(text) > EXCERPT_WIDTH:  # a very long line: the part around the span, marked as cut
        left = max(0, min(start - 1 - EXCERPT_WIDTH // 4, len(text) - EXCERPT_WIDTH))
        right = left + EXCERPT_WIDTH
        head, tail = ("..." if left else ""), ("..." if right < len(text) else "")
        text = head + text[left:right] + tail
        start, end = start - left + len(head), min(end, right + 1) - left + len(head)
        end = max(end, start + 1)
    # control characters in the line are shown as escapes; the caret stays under the same characters
    # (a column past the end of the line counts as one character, as before)
    before, under = text[: start - 1], text[start - 1: end - 1]
    indent = len(visible(before)) + (start - 1 - len(before))
    width = len(visible(under)) + (end - start - len(under))
    number = f"{span.line:>4} | "
    return [f"{number}{visible(text)}", " " * len(number) + " " * indent + "^" * width]


@dataclass
class RulesetError(Exception):
    """Raised when a ruleset cannot be used; carries every finding of the file(s)."""

    diagnostics: Sequence[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return render_all(self.diagnostics, self.sources)


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by file and position, duplicates (same code at the same place) removed."""
    seen: set = set()
    out = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.code, d.span.file, d.span.line, d.span.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def render_all(diags: Iterable[Diagnostic], sources: dict[str, str] | None = None, limit: int = MAX_SHOWN) -> str:
    """Every finding rendered, sorted, capped at `limit` with a closing "... and N more"."""
    ordered = sort_diagnostics(diags)
    sources = sources or {}
    parts = [d.render(sources.get(d.span.file)) for d in ordered[:limit]]
    if len(ordered) > limit:
        parts.append(f"... and {len(ordered) - limit} more")
    return "\n".join(parts)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelled `word`, or None when nothing is close enough."""
    import difflib

    pool = sorted(set(candidates))
    if not pool:
        return None
    lower = {c.lower(): c for c in pool}
    if word.lower() in lower:
        return lower[word.lower()]
    match = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    return lower[match[0]] if match else None
