"""Ruleset source inside explanations and diffs, coloured like the source itself.

Explanations and diffs mix source (`mobile_tariffs[product, customer] * quantity`) with prose and
values. The lines are lexed with the ruleset lexer (dsl.highlight.PointsLexer) extended to accept any
other character as plain text, and handed to rich as styled Text: rich colours them on a terminal
and writes them plain everywhere else, so piped output and tests see the very same characters.
"""
from __future__ import annotations

from functools import lru_cache

from pygments.token import Text as TextToken

from dsl.highlight import PointsLexer


class ProseLexer(PointsLexer):
    """The ruleset lexer, plus: anything it does not know (→, ×, …) is plain text, not an error."""

    tokens = {
        "root": PointsLexer.tokens["root"] + [(r".", TextToken)],
        "string": PointsLexer.tokens["string"],
    }


@lru_cache(maxsize=1)
def _syntax():
    from rich.syntax import Syntax

    return Syntax("", ProseLexer(), theme="ansi_dark", background_color="default")


def code_text(line: str):
    """`line` as a rich Text, its ruleset words, names, strings and numbers styled; control
    characters (from a value or a ruleset) are shown as escapes (engine.terminal.visible)."""
    from engine.terminal import visible

    line = visible(line)
    text = _syntax().highlight(line)
    if text.plain.endswith("\n") and not line.endswith("\n"):
        text.right_crop(1)  # the highlighter ends every text with a line break
    return text
