"""Mutated example rulesets: parse -> check -> compile either succeed or fail with findings.

The example program is valid; a mutation (a line or token deleted, duplicated or swapped, a random
character inserted) turns it into the kind of half-edited file a program manager saves. Whatever
the mutation, the pipeline must end in a usable program or a `RulesetError` whose findings point
into the file (line >= 1, column >= 1), never in another exception: a traceback is a bug.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from dsl.checks import check
from dsl.errors import Diagnostic, RulesetError
from dsl.parser import parse
from engine.program import load_program

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "rulesets" / "o2-business").glob("*.rules"))}
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\w+|\S')
ODD_CHARS = st.sampled_from(list('{}()[]",:;#%*+-/<>=._@\\\t\n\x00\u00a0\u00e4\u20ac\ufeff') + ["->", "..", "\r\n"])


def _lines(text: str, data) -> str:
    lines = text.split("\n")
    i = data.draw(st.integers(0, len(lines) - 1))
    op = data.draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    else:
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _tokens(text: str, data) -> str:
    spans = [m.span() for m in TOKEN.finditer(text)]
    a, b = spans[data.draw(st.integers(0, len(spans) - 1))]
    op = data.draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if op == "delete":
        return text[:a] + text[b:]
    if op == "duplicate":
        return text[:a] + text[a:b] + " " + text[a:]
    c, d = spans[data.draw(st.integers(0, len(spans) - 1))]
    if (c, d) < (a, b):
        (a, b), (c, d) = (c, d), (a, b)
    if c < b:  # the same token drawn twice
        return text
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def _insert(text: str, data) -> str:
    at = data.draw(st.integers(0, len(text)))
    return text[:at] + data.draw(ODD_CHARS) + text[at:]


MUTATORS = {"lines": _lines, "tokens": _tokens, "insert": _insert}


def _assert_points_into_file(diags, file: str) -> None:
    assert diags, "a RulesetError without findings"
    for d in diags:
        assert isinstance(d, Diagnostic)
        assert d.span.file.endswith(file), d.headline()
        assert d.span.line >= 1 and d.span.column >= 1, d.headline()
        assert d.message.strip(), d.headline()


def _parse_and_check(name: str, text: str) -> None:
    try:
        ruleset = parse(text, name)
    except RulesetError as err:
        _assert_points_into_file(err.diagnostics, name)
        assert str(err)  # rendering with the source and caret must not fail either
        return
    for d in check(ruleset):
        assert d.span.line >= 1 and d.span.column >= 1, d.headline()


def _load(name: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        try:
            program = load_program(folder)
        except RulesetError as err:
            _assert_points_into_file(err.diagnostics, name)
            assert str(err)
        else:
            assert program.versions and program.versions[0].plan is not None


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SOURCES)), data=st.data())
def test_mutated_ruleset_loads_or_reports_findings(name, data):
    text = SOURCES[name]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        text = MUTATORS[data.draw(st.sampled_from(sorted(MUTATORS)), label="mutator")](text, data)
    _parse_and_check(name, text)
    _load(name, text)


def test_unmutated_examples_load():
    """The baseline the mutations start from is itself valid, so a failure above is the mutation's."""
    for name, text in SOURCES.items():
        parse(text, name)
    assert len(load_program(ROOT / "rulesets" / "o2-business").versions) == len(SOURCES)
