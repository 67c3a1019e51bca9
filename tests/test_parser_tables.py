"""Tables are read by a direct reader (dsl.parser._fast_table); the statement parser reads whatever
it does not accept. Both must give the same nodes, spans and diagnostics."""
from __future__ import annotations

import dataclasses
import random

import pytest

from dsl import parser
from dsl.errors import RulesetError

HEAD = 'program "T"\nversion "1"\neffective 2016-01-01\n\n'

TABLES = [
    'table t by product {\n  "A": 10\n  "B": -5\n  C: 1_000.25\n}\n',
    'table t by product, customer {\n  "O2 \\"S\\"": new 100, existing 40\n  "x\\\\y": new -1, "existing" - 2\n}\n',
    'table t by product { "A": 10, "B": 5 }\n',
    'table t by product {\n  "A": 10 # a comment\n  # another\n  from: 3\n  by: 4\n}\n',
    'table t by product {\n}\n',
    'table tarife by produkt {\n  "Größe": 7\n  ünter: 8\n}\n',
    'table t by product {\n  "A": 10,\n}\n',                       # trailing comma
    'table t by product, customer {\n  "A": new 10 existing 5\n}\n',  # missing comma
    'table t by product {\n  "A": 5%\n}\n',
    'table t by product {\n  "A": 2016-01-01\n}\n',
    'table t by product {\n  "A": 1.\n}\n',
    'table t by product {\n  "A": 1234567890123456789012\n}\n',    # out of range
    'table t by product {\n  "A": 0.12345678901234\n}\n',          # too many decimals
    'table t by product {\n  "A\\q": 1\n}\n',                       # unknown escape
    'table t by product {\n  "A: 1\n}\n',                           # string never closed
    'table t by product {\n  "A": 1\n',                             # block never closed
    'table t by a, b, c {\n  "A": x 1\n}\n',                        # three keys
    'table t by product {\n  "A" = 1\n}\n',
    'table t by product {\n  "A": 1\n} extra\n',
    'table t product {\n  "A": 1\n}\n',
    'table "t" by product {\n  "A": 1\n}\n',
    'table t by product {\n  "A": --1\n}\n',
    'table t by product {\n  "A": 1 ]\n}\n',
    'table t by product {\n  "A": new\n}\n',
    'table t by product {\n  "A":\n}\n',
    'table t by product {\n  : 1\n}\n',
    'table t by product {\n  "A": 1_\n}\n',
    'table t by product {\n  "A": 1__0\n}\n',
    'table t by product {\n  "A": 10abc\n}\n',
    'table t by product {\n  "A": 1\x0b\n}\n',
    'table t by product {\n\t"A":\t1\r\n  "B": 2\f\n}\n',
]


def nodes(value, out=None):
    """Every node with its type, fields and span, in order (spans are excluded from AST equality)."""
    out = [] if out is None else out
    if isinstance(value, tuple):
        for item in value:
            nodes(item, out)
    elif dataclasses.is_dataclass(value):
        out.append((type(value).__name__, repr(value), getattr(value, "span", None)))
        for f in dataclasses.fields(value):
            if f.name != "span":
                nodes(getattr(value, f.name), out)
    return out


def outcome(text: str):
    try:
        ruleset = parser.parse(text, "t.rules")
    except RulesetError as err:
        return "error", [(d.code, d.message, d.span, d.hint) for d in err.diagnostics]
    return "ok", nodes(ruleset.statements), [(c.text, c.span) for c in ruleset.comments]


def both(monkeypatch, text: str):
    fast = outcome(text)
    with monkeypatch.context() as m:
        m.setattr(parser, "_fast_table", lambda toks, file: None)
        slow = outcome(text)
    return fast, slow


@pytest.mark.parametrize("table", TABLES)
def test_direct_reader_equals_statement_parser(monkeypatch, table):
    fast, slow = both(monkeypatch, HEAD + table + '\nrule "R" {\n  points 1\n}\n')
    assert fast == slow


def test_direct_reader_takes_well_formed_tables():
    toks = [t for t in parser._scan(TABLES[1]) if t.kind != "comment"]
    table = parser._fast_table(toks, "t.rules")
    assert table is not None and [r.key for r in table.rows] == ['O2 "S"', "x\\y"]
    assert [c.value.text for c in table.rows[1].cells] == ["-1", "-2"]


def test_mutated_tables_agree(monkeypatch):
    """Random edits of a well-formed table (a character dropped, doubled or replaced)."""
    rng = random.Random(11)
    base = 'table t by product, customer {\n  "A": new 10, existing -5\n  B: new 1_000.5, "existing" 2\n}\n'
    alphabet = ' \n",:-_.{}#x19%\\'
    for _ in range(300):
        text = list(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            op = rng.randrange(3)
            if op == 0:
                del text[at]
            elif op == 1:
                text.insert(at, text[at])
            else:
                text[at] = rng.choice(alphabet)
        program = HEAD + "".join(text) + '\nrule "R" {\n  points 1\n}\n'
        fast, slow = both(monkeypatch, program)
        assert fast == slow, program
