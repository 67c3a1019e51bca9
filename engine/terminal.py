"""Values from files, made safe to print on a terminal.

Contract exports, legacy lists, quality reports and rulesets are data: a partner id may hold an
escape sequence (`ESC[2J` clears the screen, `ESC]0;...BEL` sets the window title, `ESC[6n` makes
the terminal type an answer), a C1 control (0x9b is a one-byte CSI), a bidi override (U+202E shows
text backwards), or rich markup (`[/]` is a syntax error for rich, `[link=...]` a hyperlink).
Everything the `points` command prints for a person goes through this module where it carries
such a value (the two `visible` functions are defined in dsl/errors.py, the lowest layer, because
the source excerpt of a diagnostic uses them too):

- `visible(text)`: every control character shown as an escape a person can read (`\\x1b`,
  `\\u009b`, `\\u202e`, `\\n`), the rest unchanged; for a value on one line.
- `visible_lines(text)`: the same for text of several lines that the project composes (messages,
  source excerpts, a formatted ruleset): line breaks and tabs stay, everything else is escaped.
- `markup(value)`: a value to put inside a rich markup string: visible and markup-escaped.
- `text(value, style)`: a value as a rich `Text` (a table cell, a title, a tree label): rich
  never reads markup or emoji codes in it.

JSON output is not for a terminal and is never passed through here: it stays exact (JSON escapes
control characters itself). A backslash in a value is shown as it is, so `\\x1b` typed into a cell
and a real ESC look alike; only the second one is a control character.
"""
from __future__ import annotations

from dsl.errors import visible, visible_lines  # noqa: F401  (the one definition; diagnostics use it too)


def markup(value) -> str:
    """`value` ready to be interpolated into a rich markup string: visible, markup escaped."""
    from rich.markup import escape

    return escape(visible(value))


def text(value, style: str = ""):
    """`value` as a rich Text (visible; never read as markup or emoji)."""
    from rich.text import Text

    return Text(visible(value), style=style)


def cells(*values) -> list:
    """Table cells from data values (None becomes an empty cell)."""
    return [text("" if v is None else v) for v in values]
