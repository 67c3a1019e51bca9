"""Syntax highlighting: plain text off a terminal, ANSI colours on one, no character changed."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pygments.token import Comment, Error, Keyword, Literal, Name, Number, Operator, String

from dsl.highlight import PointsLexer, highlight, highlight_diagnostics, highlight_line

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    return re.findall(r"```\n(.*?)```", text, re.DOTALL)


def _tokens(text: str) -> list[tuple]:
    return [(tok, value) for tok, value in PointsLexer().get_tokens(text) if value.strip()]


def _type_of(text: str, value: str):
    return next(tok for tok, v in _tokens(text) if v == value)


SAMPLES = [
    'program "O2"\neffective 2016-03-01\n',
    "tiers { Basic from 0 }",  # no final line break
    '\n\n# leading blank lines\n\trule "Größe" {\n  points 2.5 per pool_gb, at most 3_000\n}\n\n',
    'rule "unclosed {\n',  # broken text is coloured too, never rejected
    '\ufeffprogram "Windows"\r\ntiers { A from 0 }\r\n\r\n',  # a byte-order mark and CRLF survive
]


@pytest.mark.parametrize("text", SAMPLES)
def test_off_a_terminal_the_text_is_unchanged(text):
    assert highlight(text, terminal=False) is text


@pytest.mark.parametrize("text", SAMPLES)
def test_on_a_terminal_only_escapes_are_added(text):
    coloured = highlight(text, terminal=True)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == text


def test_the_language_reference_has_examples():
    assert len(_doc_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(_doc_blocks())))
def test_every_token_of_the_reference_is_recognised(index):
    block = _doc_blocks()[index]
    errors = [value for tok, value in _tokens(block) if tok in Error]
    assert errors == []
    assert "".join(v for _, v in PointsLexer().get_tokens(block)) == block


def test_every_shipped_ruleset_is_recognised():
    files = sorted((ROOT / "rulesets").rglob("*.rules"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert [v for tok, v in _tokens(text) if tok in Error] == [], path


def test_token_kinds():
    text = (
        "# why\n"
        "effective 2016-03-01\n"
        "tiers { Advanced from 7_500 }\n"
        'table mobile_tariffs by product { "O2 \\"M\\"": 5 }\n'
        'rule "R" { when product in mobile_tariffs and x != 5% points min(a, 2.5) }\n'
        'review { legacy "Gold" -> Expert }\n'
    )
    assert _type_of(text, "# why") in Comment
    assert _type_of(text, "2016-03-01") in Literal.Date
    assert _type_of(text, "7_500") in Number
    assert _type_of(text, "5%") in Number
    assert _type_of(text, "2.5") in Number
    assert _type_of(text, "effective") in Keyword
    assert _type_of(text, "from") in Keyword
    assert _type_of(text, "Advanced") in Name.Label
    assert _type_of(text, "Expert") in Name.Label
    assert _type_of(text, "mobile_tariffs") in Name.Class
    assert _type_of("when p not in fixed and q == 1", "fixed") in Name.Class
    assert _type_of("when (p in fixed)", "fixed") in Name.Class
    assert _type_of("when p in fixed", "p") in Name
    assert _type_of("when p in fixed", "p") not in Name.Class
    assert _type_of(text, "and") in Operator.Word
    assert _type_of(text, "!=") in Operator
    assert _type_of(text, "->") in Operator
    assert _type_of(text, "min") in Name.Builtin
    assert _type_of(text, '\\"') in String.Escape
    assert not [v for tok, v in _tokens(text) if tok in Error]


def test_a_stray_character_is_the_only_error():
    assert [v for tok, v in _tokens("points 1 @ 2") if tok in Error] == ["@"]


def test_highlight_line_has_no_line_break():
    line = '  when product == "O2 Business M"\n'
    assert highlight_line(line, terminal=False) == line.rstrip("\n")
    coloured = highlight_line(line, terminal=True)
    assert "\n" not in coloured
    assert ANSI.sub("", coloured) == line.rstrip("\n")


RENDERED = (
    "f.rules:2:10: error P105: `=` does not compare\n"
    "   2 |   when x = 1\n"
    "                ^\n"
    "  hint: write `==` to compare two values\n"
    "f.rules:9:3: warning W301: `7.500` is seven and a half\n"
    "... and 3 more"
)


def test_diagnostics_are_plain_off_a_terminal():
    assert highlight_diagnostics(RENDERED, terminal=False) is RENDERED


def test_diagnostics_on_a_terminal_colour_each_part_and_keep_the_text():
    coloured = highlight_diagnostics(RENDERED, terminal=True)
    assert ANSI.sub("", coloured) == RENDERED
    lines = coloured.split("\n")
    assert "\x1b[31m" in lines[0] and "error" in lines[0]  # severity in red
    assert "\x1b[33m" in lines[4]  # a warning in yellow
    assert highlight_line("  when x = 1", True) in lines[1]  # the excerpt through the lexer
    assert ANSI.search(lines[2]) and ANSI.search(lines[3])
    assert lines[5] == "... and 3 more"
