"""The parser turns the language reference's example into the expected AST."""
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from dsl import ast as A
from dsl import parse, parse_file
from dsl.errors import RulesetError

FULL = Path(__file__).parent / "fixtures" / "syntax" / "full.rules"


@pytest.fixture(scope="module")
def full() -> A.Ruleset:
    return parse_file(FULL)


def rule(ruleset: A.Ruleset, name: str) -> A.Rule:
    return next(r for r in ruleset.rules if r.name == name)


def when(cond: str) -> A.Cond:
    return parse(f'rule "R" {{\n  when {cond}\n  points 1\n}}\n').rules[0].when


def points(formula: str) -> A.Points:
    return parse(f'rule "R" {{ points {formula} }}').rules[0].points


def test_header(full):
    assert (full.program, full.version) == ("O2 Business Partner Program", "2016.03")
    assert full.effective == date(2016, 3, 1)
    assert (full.period, full.combine) == ("year", "sum")
    assert full.file == str(FULL)


def test_statement_kinds_in_source_order(full):
    kinds = [type(s).__name__ for s in full.statements]
    assert kinds == ["ProgramDecl", "VersionDecl", "EffectiveDecl", "PeriodDecl", "CombineDecl",
                     "InputBlock", "InputBlock", "Tiers", "Table", "Table", "Rule", "Rule", "Rule",
                     "Rule", "Review", "Quality", "Example", "Example", "Example"]


def test_input_fields(full):
    fields = {f.name: f for f in full.input("contract").fields}
    assert fields["contract_id"] == A.FieldDecl("contract_id", "text", required=True, unique=True)
    assert fields["customer"].kind == "choice"
    assert fields["customer"].choices == ("new", "existing")
    assert fields["customer"].default == A.Name("new")
    assert fields["quantity"].bounds == (A.Bound(">=", A.Number(Decimal(1))),)
    usage = next(f for f in full.input("quality").fields if f.name == "usage_pct")
    assert [(b.op, b.value.value) for b in usage.bounds] == [(">=", 0), ("<=", 100)]
    assert full.input("quality").fields[3].default == A.Name("false")


def test_tiers_keep_numbers_as_written(full):
    tiers = full.tiers.tiers
    assert [t.name for t in tiers] == ["Basic", "Advanced", "Expert", "ExpertPlus"]
    advanced = tiers[1]
    assert advanced.threshold.value == Decimal(7500) and advanced.threshold.text == "7_500"
    assert advanced.keep == A.Number(Decimal(6000)) and advanced.keep.text == "6_000"
    assert tiers[0].keep is None
    assert advanced.span == A.Span(str(FULL), 29, 3, 29, 35)


def test_tables(full):
    tariffs, fixed = full.tables
    assert tariffs.keys == ("product", "customer")
    assert tariffs.rows[1] == A.TableRow("O2 Business M", (A.Cell("new", A.Number(Decimal(180))),
                                                           A.Cell("existing", A.Number(Decimal(70)))))
    assert tariffs.rows[0].span == A.Span(str(FULL), 36, 3, 36, 40)
    assert fixed.keys == ("product",)
    assert fixed.rows == (A.TableRow("O2 DSL Business 50", (A.Cell(None, A.Number(Decimal(120))),)),)


def test_rule_spans_cover_the_block(full):
    mobile = rule(full, "Mobile tariffs")
    assert mobile.span == A.Span(str(FULL), 44, 1, 47, 2)
    assert mobile.when.span == A.Span(str(FULL), 45, 8, 45, 33)
    assert mobile.points.expr.left.span == A.Span(str(FULL), 46, 10, 46, 43)
    assert mobile.id == "mobile-tariffs"


def test_rule_formula_per_and_modifier_order(full):
    pool = rule(full, "Unite pool volume")
    assert pool.when == A.Compare("==", A.Name("product"), A.String("O2 Unite Pool"))
    assert pool.points == A.Points(A.Number(Decimal(3)), A.Name("pool_gb"),
                                   (A.AtMost(A.Number(Decimal(3000))), A.Rounded("half up", 0)))


def test_lookup_and_call(full):
    mobile = rule(full, "Mobile tariffs")
    assert mobile.when == A.InTable(A.Name("product"), "mobile_tariffs")
    assert mobile.points.expr == A.BinOp("*", A.TableLookup("mobile_tariffs", (A.Name("product"), A.Name("customer"))),
                                         A.Name("quantity"))
    fixed = rule(full, "Fixed line")
    call = fixed.points.expr.left
    assert call.func == "min" and len(call.args) == 2
    assert fixed.points.expr.right == A.Percent(Decimal("0.05"), "5%")
    assert fixed.points.modifiers == (A.AtLeast(A.Number(Decimal(1))), A.Rounded("down", 2))


def test_in_lists_and_escaped_strings(full):
    cond = rule(full, "Fixed line").when
    assert cond == A.And((
        A.InList(A.Name("product"), (A.String("O2 DSL Business 50"), A.String('O2 DSL "Pro"'))),
        A.InTable(A.Name("product"), "fixed_line", negated=True),
    ))


def test_review_and_quality(full):
    assert full.review.legacy == (A.LegacyMap("Business Partner", "Basic"), A.LegacyMap("Gold", "Advanced"))
    assert full.review.downgrade == A.Downgrade("levels", 1)
    assert full.review.newcomer == "Basic"
    quality = full.quality
    assert (quality.period, quality.sustained) == ("quarter", 3)
    assert quality.kpis[0] == A.Kpi("Payment defaults", "share", "missed_payment", "above",
                                    A.Percent(Decimal("0.05")))
    assert quality.kpis[1].min_reports == 5 and quality.kpis[1].threshold == A.Number(Decimal(40))
    assert quality.kpis[2].threshold.value == Decimal("0.1")


def test_examples(full):
    first, big, unknown = full.examples
    assert first.contracts[0].fields == (("product", A.String("O2 Business M")), ("customer", A.Name("new")))
    assert big.contracts[1].fields[2] == ("signed", A.DateLit(date(2016, 4, 1)))
    assert big.expects == (A.Expect("points", A.Number(Decimal(8400))), A.Expect("tier", "Advanced"))
    assert unknown.expects == (A.Expect("unscored"),)


def test_comments_are_kept_without_hash(full):
    texts = [c.text for c in full.comments]
    assert texts[0] == " Telefónica Germany B2B partner program, as of March 2016."
    assert " one key" in texts
    assert full.comments[0].span == A.Span(str(FULL), 1, 1, 1, 60)
    assert len(texts) == 4


def test_hash_inside_a_string_is_not_a_comment():
    ruleset = parse('program "A # B"  # real\n')
    assert ruleset.program == "A # B"
    assert [c.text for c in ruleset.comments] == [" real"]


@pytest.mark.parametrize("text, expected", [
    ("a == 1 or b == 2 and c == 3",
     A.Or((A.Compare("==", A.Name("a"), A.Number(Decimal(1))),
           A.And((A.Compare("==", A.Name("b"), A.Number(Decimal(2))), A.Compare("==", A.Name("c"), A.Number(Decimal(3)))))))),
    ("not a == 1 and b in (\"x\")",
     A.And((A.Not(A.Compare("==", A.Name("a"), A.Number(Decimal(1)))), A.InList(A.Name("b"), (A.String("x"),))))),
    ("not (a == 1 or b == 2)",
     A.Not(A.Or((A.Compare("==", A.Name("a"), A.Number(Decimal(1))), A.Compare("==", A.Name("b"), A.Number(Decimal(2))))))),
    ("a + 1 * 2 > -b - 3",
     A.Compare(">", A.BinOp("+", A.Name("a"), A.BinOp("*", A.Number(Decimal(1)), A.Number(Decimal(2)))),
               A.BinOp("-", A.Neg(A.Name("b")), A.Number(Decimal(3))))),
    ("a not in (1, 2)", A.InList(A.Name("a"), (A.Number(Decimal(1)), A.Number(Decimal(2))), negated=True)),
])
def test_precedence(text, expected):
    assert when(text) == expected


def test_and_or_are_flattened():
    cond = when("a == 1 and b == 2 and (c == 3 and d == 4) or e == 5 or f == 6")
    assert isinstance(cond, A.Or) and len(cond.items) == 3
    assert isinstance(cond.items[0], A.And) and len(cond.items[0].items) == 4


def test_arithmetic_is_left_associative():
    assert points("10 - 2 - 3").expr == A.BinOp("-", A.BinOp("-", A.Number(Decimal(10)), A.Number(Decimal(2))),
                                                A.Number(Decimal(3)))
    assert points("8 / (2 * 2)").expr == A.BinOp("/", A.Number(Decimal(8)),
                                                 A.BinOp("*", A.Number(Decimal(2)), A.Number(Decimal(2))))


@pytest.mark.parametrize("literal, value", [("7_500", Decimal(7500)), ("0.5", Decimal("0.5")),
                                            ("7.500", Decimal("7.5")), ("1_000.25", Decimal("1000.25"))])
def test_numbers_keep_their_text(literal, value):
    number = points(literal).expr
    assert number.value == value and number.text == literal
    assert isinstance(number.value, Decimal)


def test_percent_is_a_fraction():
    assert points("12.5%").expr == A.Percent(Decimal("0.125"), "12.5%")


@pytest.mark.parametrize("mode", ["half up", "half even", "half down", "up", "down"])
def test_rounding_modes_and_places(mode):
    assert points(f"1, rounded {mode}").modifiers == (A.Rounded(mode, 0),)
    assert points(f"1, rounded {mode} to 3 decimals").modifiers == (A.Rounded(mode, 3),)


@pytest.mark.parametrize("policy, expected", [
    ("at most 2 levels", A.Downgrade("levels", 2)),
    ("to earned", A.Downgrade("earned")),
    ("after 1 grace period", A.Downgrade("grace", 1)),
])
def test_downgrade_policies(policy, expected):
    assert parse(f"review {{ downgrade {policy} }}").review.downgrade == expected


def test_keywords_are_contextual():
    ruleset = parse('tiers { first from 0 "keep" from 10 }\n'
                    'table sum by points { "x": per 1 }\n'
                    'rule "R" { when customer == new points sum[per] }')
    assert [t.name for t in ruleset.tiers.tiers] == ["first", "keep"]
    assert ruleset.tables[0].rows[0].cells[0].column == "per"
    assert ruleset.rules[0].points.expr == A.TableLookup("sum", (A.Name("per"),))


def test_reformatted_text_parses_equal():
    one = parse_file(FULL)
    squeezed = FULL.read_text(encoding="utf-8").replace("\n\n", "\n").replace("  ", " ")
    other = parse("# another layout\n" + squeezed.replace("rule \"Mobile tariffs\" {\n", "rule \"Mobile tariffs\"\n{"),
                  str(FULL))
    assert other == one
    assert other.statements[0].span != one.statements[0].span


def test_a_change_in_meaning_is_not_equal():
    text = FULL.read_text(encoding="utf-8")
    assert parse(text.replace("at most 3_000", "at most 3_001")) != parse(text)


def test_empty_and_comment_only_files():
    assert parse("").statements == ()
    only = parse("# nothing yet\n\n# really\n")
    assert only.statements == () and len(only.comments) == 2


def test_parse_file_rejects_non_utf8(tmp_path):
    bad = tmp_path / "latin1.rules"
    bad.write_bytes('program "Telef\u00f3nica"\n'.encode("latin-1"))
    with pytest.raises(RulesetError) as err:
        parse_file(bad)
    (diag,) = err.value.diagnostics
    assert diag.code == "P130" and str(bad) in diag.message and "UTF-8" in diag.message


@pytest.mark.parametrize("content, words", [(b"\x00\x01\x02", "binary"), (b"#" * 1_000_001, "1 MB")])
def test_parse_file_rejects_binary_and_huge_files(tmp_path, content, words):
    path = tmp_path / "x.rules"
    path.write_bytes(content)
    with pytest.raises(RulesetError) as err:
        parse_file(path)
    assert err.value.diagnostics[0].code == "P130" and words in err.value.diagnostics[0].message


def test_parse_file_missing_file_is_a_diagnostic(tmp_path):
    with pytest.raises(RulesetError) as err:
        parse_file(tmp_path / "nope.rules")
    assert err.value.diagnostics[0].code == "P130" and "cannot be read" in err.value.diagnostics[0].message


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.rules"
    path.write_bytes(b"\xef\xbb\xbfprogram \"P\"\n")
    assert parse_file(path).program == "P"


def test_too_many_statements():
    text = 'program "P"\n' * 20_001
    with pytest.raises(RulesetError) as err:
        parse(text)
    assert [d.code for d in err.value.diagnostics] == ["P121"]


def test_too_many_rows():
    text = "table t by product {\n" + '"x": 1\n' * 20_001 + "}\n"
    with pytest.raises(RulesetError) as err:
        parse(text)
    assert [d.code for d in err.value.diagnostics] == ["P121"]


def test_deep_but_legal_nesting_parses():
    depth = 60
    cond = when("(" * depth + "a == 1" + ")" * depth)
    assert cond == A.Compare("==", A.Name("a"), A.Number(Decimal(1)))


@pytest.mark.parametrize("written, value", [(r'"C:\\temp\\"', "C:\\temp\\"), (r'"say \"no\""', 'say "no"'),
                                            (r'"\\no"', "\\no"), ('"# not a comment"', "# not a comment")])
def test_string_escapes(written, value):
    assert parse(f"program {written}").program == value


def test_windows_line_endings_give_the_same_tree_and_lines():
    text = FULL.read_text(encoding="utf-8")
    crlf = parse(text.replace("\n", "\r\n"), str(FULL))
    assert crlf == parse(text, str(FULL))
    assert rule(crlf, "Mobile tariffs").span.line == 44
    assert crlf.comments[0].text.endswith("2016.")


def nodes(node):
    """Every AST node under `node`, itself included."""
    yield node
    for name in getattr(node, "__dataclass_fields__", {}):
        value = getattr(node, name)
        if name == "span" or name.endswith("_span"):  # where a part of the node stands
            continue
        for item in value if isinstance(value, tuple) else (value,):
            for part in item if isinstance(item, tuple) else (item,):
                if hasattr(part, "__dataclass_fields__"):
                    yield from nodes(part)


def test_every_node_has_a_span_inside_the_file(full):
    lines = FULL.read_text(encoding="utf-8").splitlines()
    found = list(nodes(full))
    assert len(found) > 150
    for node in found:
        span = node.span
        assert span.file == str(FULL), node
        assert 1 <= span.line <= span.end_line <= len(lines), node
        assert span.column >= 1 and (span.end_line > span.line or span.end_column > span.column), node


def test_grammar_terminals_are_all_named():
    from dsl.parser import _lark

    names = [t.name for t in _lark().terminals]
    assert names and all(n.isupper() and not n.startswith("_") for n in names)
