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


# --------------------------------------------------------------------------- huge numbers and structures
# The mutants below target the language's limits (dsl.limits, dsl.parser): numbers far beyond the
# range, counts beyond their bounds, long chains, many rules, line-break characters in comments.
# Whatever they produce, `check`, `test` and `evaluate` end with 0, 1 or 2, never 3 (a bug).

NUMBER = re.compile(r"(?<![\w.\"-])\d[\d_]*(?:\.\d+)?(?![\w\"-])")
HUGE_NUMBERS = st.sampled_from([
    "9" * 5000, "1" + "0" * 4300, "9" * 1001, "1_000_000_000_000_000_000", "999_999_999_999_999_999",
    "0.00000000001", "0.0000000001", "12345678901234567890.5", "1" + "0" * 40, "0" * 30 + "7",
])
BREAK_CHARS = st.sampled_from(["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r"])
DATA = ("contract_id,partner_id,signed,product,customer,quantity,pool_gb\n"
        "C-1,P-1,2017-02-01,O2 Business M,new,2,0\n"
        "C-2,P-1,2017-03-01,O2 Unite Pool,existing,1,999999999999999999.9999999999\n"
        "C-3,P-2,2017-04-01,O2 Digital Phone,new,999999999999999999,0\n"
        "C-4,P-2,2017-05-01,O2 Business S,new,1000000000000000000,1\n")


def _huge_number(text: str, data) -> str:
    spans = [m.span() for m in NUMBER.finditer(text)]
    a, b = spans[data.draw(st.integers(0, len(spans) - 1))]
    return text[:a] + data.draw(HUGE_NUMBERS) + text[b:]


def _long_chain(text: str, data) -> str:
    n = data.draw(st.sampled_from([2, 300, 6_000]))
    op = data.draw(st.sampled_from([" and ", " or "]))
    term = data.draw(st.sampled_from(["quantity >= 1", 'product == "O2 Business M"', "not (pool_gb > 5)"]))
    return text.replace("when product in mobile_tariffs", "when product in mobile_tariffs and (" + op.join([term] * n) + ")", 1)


def _many_rules(text: str, data) -> str:
    n = data.draw(st.sampled_from([10, 400]))
    cond = data.draw(st.sampled_from(["quantity >= 1", 'product == "O2 Business M"', "quantity >= 2 and quantity < 3"]))
    mode = data.draw(st.sampled_from(["sum", "first", "exclusive"]))
    rules = "".join(f'rule "Extra {i}" {{\n  when {cond}\n  points {i}\n}}\n\n' for i in range(n))
    text = re.sub(r"(?m)^combine \w+", f"combine {mode}", text)
    return text.replace("\nexample ", "\n" + rules + "example ", 1)


def _break_in_comment(text: str, data) -> str:
    lines = text.split("\n")
    comments = [i for i, line in enumerate(lines) if line.lstrip().startswith("#")]
    i = comments[data.draw(st.integers(0, len(comments) - 1))]
    lines[i] += data.draw(BREAK_CHARS) + "tail"
    return "\n".join(lines)


LIMIT_MUTATORS = {"huge_number": _huge_number, "long_chain": _long_chain, "many_rules": _many_rules,
                  "break_in_comment": _break_in_comment, "tokens": _tokens}


def _commands_never_fail_internally(folder: Path) -> None:
    import contextlib
    import io

    from engine.cli import main

    data = folder / "contracts.csv"
    data.write_text(DATA, encoding="utf-8")
    for argv in (["check", str(folder / "program")], ["test", str(folder / "program")],
                 ["evaluate", str(folder / "program"), str(data), "--out", str(folder / "out")]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv)
        assert code in (0, 1, 2), (argv, code, out.getvalue()[-2000:])
        assert "Traceback" not in out.getvalue() and "internal error" not in out.getvalue()


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.sampled_from(sorted(SOURCES)), data=st.data())
def test_limit_mutants_never_make_a_command_fail_internally(name, data):
    text = SOURCES[name]
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        text = LIMIT_MUTATORS[data.draw(st.sampled_from(sorted(LIMIT_MUTATORS)), label="mutator")](text, data)
    _parse_and_check(name, text)
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "program"
        program.mkdir()
        (program / name).write_text(text, encoding="utf-8")
        _commands_never_fail_internally(Path(folder))
