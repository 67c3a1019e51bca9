"""Tables are read by direct readers: a table written one row to a line straight from the text
(dsl.parser._whole_table), any other from the scanner's tokens (dsl.parser._fast_table); the statement
parser reads whatever neither accepts. All must give the same nodes, spans and diagnostics."""
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
    """The outcome with the direct readers, and with the statement parser alone; the outcome with
    the token reader alone must be the first too."""
    fast = outcome(text)
    with monkeypatch.context() as m:
        m.setattr(parser, "_whole_table", lambda text, start, line, file: None)
        tokens = outcome(text)
        m.setattr(parser, "_fast_table", lambda toks, file: None)
        slow = outcome(text)
    assert tokens == fast, text
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


WHOLE = [  # tables the line reader takes
    'table t by product {\n  "A": 10\n  "B": -5\n  C: 1_000.25\n}\n',
    'table t by product, customer {\n  "O2 \\"S\\"": new 100, existing 40\n  "x\\\\y": new -1, "existing" - 2\n}\n',
    'table t by product {\n  "A": 10 # a comment\n  # another\n\n  from: 3\n  by: 4\n} # done\n',
    'table t by product {  # rows below\n}\n',
    'table tarife by produkt {\n  "Größe": 7\n  ünter: 8\n}\n',
    'table t by product {\n\t"A":\t1\r\n  "B": 2\f\n}\r\n',
    'table t by product, customer {\n  "A": new 1, existing 2, "a b" 3,x 4\n  "#{}": new 5\n}',
]


@pytest.mark.parametrize("table", WHOLE)
def test_line_reader_takes_tables_written_a_row_to_a_line(monkeypatch, table):
    text = HEAD + table + '\nrule "R" {\n  points 1\n}\n'
    found = parser._whole_table(text, len(HEAD), HEAD.count("\n") + 1, "t.rules")
    assert found is not None and found[1] == len(HEAD) + len(table.rstrip("\n")) + 1
    fast, slow = both(monkeypatch, text)
    assert fast == slow


AFTER = ["}\n", "} extra\n", "}\nextra\n", "}\n: 1\n", "}\nrule: 1\n", '}\n  "B": 2\n', "}\n}\n",
         '  "B": 2 }\n', '  "B": 2\n', "}"]


@pytest.mark.parametrize("after", AFTER)
def test_what_follows_a_table_is_read_as_before(monkeypatch, after):
    """A table followed by something that does not start a statement: the piece is read from its
    tokens, and every diagnostic is the statement parser's."""
    text = HEAD + 'table t by product {\n  "A": 10\n' + after + '\nrule "R" {\n  points t[product]\n}\n'
    fast, slow = both(monkeypatch, text)
    assert fast == slow


def test_tables_inside_an_unclosed_block_and_in_a_row(monkeypatch):
    text = (HEAD + 'input contract {\n  product: text\ntable t by product {\n  "A": 1\n}\n'
            'table u by product {\n  "B": 2\n}\ntable v by product {\n  "C": 3\n}\n')
    fast, slow = both(monkeypatch, text)
    assert fast == slow and fast[0] == "error"


def test_mutated_plain_tables_agree(monkeypatch):
    """Random edits of tables written a row to a line, comments and blank lines among the rows."""
    rng = random.Random(29)
    base = ('# before\ntable t by product, customer {  # head\n  "A\\\\n": new 10, existing -5  # one\n\n'
            '  # between\n  B: new 1_000.5, "existing" 2\n  rule: new - 3\n}  # end\n'
            'table u by product {\n  "A": 1\n}\n')
    alphabet = ' \n",:-_.{}#xt19%\\\r\t'
    for _ in range(400):
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


def test_a_large_table_is_read_a_line_at_a_time(monkeypatch):
    rows = "".join(f'  "P {i:04d}": new {i}, existing {i % 7}.5\n' for i in range(3000))
    text = HEAD + "input contract {\n  product: text\n}\n" + "table t by product, customer {\n" + rows + "}\n"
    calls = []
    real = parser._fast_table
    monkeypatch.setattr(parser, "_fast_table", lambda toks, file: calls.append(len(toks)) or real(toks, file))
    ruleset = parser.parse(text, "t.rules")
    assert calls == [] and len(ruleset.tables[0].rows) == 3000
    assert ruleset.tables[0].rows[-1].cells[1].value.value == parser.Decimal("3.5")


def test_generated_tables_agree(monkeypatch):
    """Tables of rows of varying width, spacing, signs, escapes and comments: the line reader takes
    them, and gives what the token reader and the statement parser give."""
    rng = random.Random(5)
    space = [" ", "  ", "\t", ""]
    for _ in range(60):
        lines = [f"table t by product{rng.choice([', customer', ''])} {{" + rng.choice(["", "  # head"])]
        for r in range(rng.randint(0, 12)):
            width = rng.choice([1, 1, 2, 2, 3, 5])
            cells = []
            for c in range(width):
                column = rng.choice(["", f"c{c} ", f'"c {c}" ', f'"c\\"{c}"'])
                sign = rng.choice(["", "-", "- "])
                number = rng.choice(["0", "7", "1_000", "2.5", "12.125", "99999"])
                cells.append(column + sign + number)
            key = rng.choice([f'"K {r}"', f"k{r}", f'"K\\\\{r}"', "rule", "by"])
            sep = rng.choice(space) + "," + rng.choice(space)
            lines.append(rng.choice(space) + key + rng.choice(space) + ":" + rng.choice(space) + sep.join(cells)
                         + rng.choice(["", "  # note", " "]))
            if rng.random() < 0.2:
                lines.append(rng.choice(["", "  # between", "\t"]))
        lines.append("}" + rng.choice(["", " # end", "  "]))
        table = "\n".join(lines) + "\n"
        text = HEAD + table + '\nrule "R" {\n  points 1\n}\n'
        assert parser._whole_table(text, len(HEAD), 5, "t.rules") is not None, table
        fast, slow = both(monkeypatch, text)
        assert fast == slow, table
