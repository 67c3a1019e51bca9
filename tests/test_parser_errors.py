"""Each tests/fixtures/syntax/errors/NAME.rules must fail with exactly the text in NAME.expected."""
from pathlib import Path

import pytest

from dsl import parse
from dsl.errors import RulesetError, render_all

ERRORS = Path(__file__).parent / "fixtures" / "syntax" / "errors"
CASES = sorted(ERRORS.glob("*.rules"))


def rendered_errors(path: Path) -> str:
    """The rendered diagnostics of parsing `path` under its bare file name."""
    text = path.read_text(encoding="utf-8")
    with pytest.raises(RulesetError) as err:
        parse(text, path.name)
    assert err.value.sources == {path.name: text}
    return render_all(err.value.diagnostics, err.value.sources)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rendered_error(path):
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert rendered_errors(path) == expected.rstrip("\n")


def test_every_case_has_an_expectation():
    assert len(CASES) >= 10
    assert not [p.name for p in CASES if not p.with_suffix(".expected").exists()]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_no_internal_names_leak(path):
    text = rendered_errors(path)
    for internal in ("__ANON", "$END", "RBRACE", "LBRACE", "NAME", "STRING", "Token(", "Traceback"):
        assert internal not in text


def test_errors_are_reported_once_in_file_order():
    text = 'program\nversion\neffective 2016-13-01\nrule "A" { when a == points 1 }\nrul "B" {}\n'
    with pytest.raises(RulesetError) as err:
        parse(text)
    found = [(d.code, d.span.line) for d in err.value.diagnostics]
    assert found == [("P107", 1), ("P107", 2), ("P110", 3), ("P101", 4), ("P104", 5)]


def test_error_message_from_str_is_the_rendering():
    with pytest.raises(RulesetError) as err:
        parse('rule "X" {', "x.rules")
    assert str(err.value).startswith("x.rules:1:10: error P103: the block `rule \"X\"` opened at line 1 is never closed")


def codes(text: str) -> list[tuple[str, int, int]]:
    """(code, line, column) of every finding in `text`."""
    with pytest.raises(RulesetError) as err:
        parse(text)
    return [(d.code, d.span.line, d.span.column) for d in err.value.diagnostics]


@pytest.mark.parametrize("text, expected", [
    ('rule "R" { points ' + " + ".join(["1"] * 250) + " }", "P120"),
    ('rule "R" {\n  when ' + "not " * 65 + "a == 1\n  points 1\n}", "P120"),
    ('rule "R" { points -' + "-" * 65 + "1 }", "P120"),
    ('rule "R" { points 1, rounded up to 1.5 decimals }', "P114"),
    ("input contract { quantity: integer == 1 }", "P101"),
    ("table t by a, b, c { }", "P101"),
    ('rule "R" { points MIN(1, 2) }', "P112"),
    ("review { newcomers start at Basic\n newcomers start at Expert }", "P113"),
])
def test_finding_codes(text, expected):
    assert [code for code, _, _ in codes(text)] == [expected]


def test_keyword_glued_to_a_word_is_not_split():
    assert codes('rule "R" { points 1, rounded halfup }') == [("P101", 1, 30)]
    assert codes('exampleX "e" { }') == [("P104", 1, 1)]


def test_expected_words_never_name_grammar_rules():
    """Whatever the mistake, the expected list speaks of words and symbols, not of grammar rules."""
    from dsl.errors import RulesetError

    for path in sorted(ERRORS.glob("*.rules")):
        try:
            parse(path.read_text(encoding="utf-8"), path.name)
        except RulesetError as err:
            for d in err.diagnostics:
                assert "__" not in d.message and "_decl" not in d.message and "$END" not in d.message, d.message
