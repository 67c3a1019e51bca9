"""The canonical layout of a ruleset (`points fmt`), and the language's words for any node.

Design:
- One method per node kind, found in a dispatch table by the node's exact type. A node kind with
  no method raises TypeError: a new AST node can never be dropped silently from the output.
- Only meaning is read from the tree, plus the one trace of the user's hand the AST keeps (a
  number's text). Spacing, blank lines, order of the header, alignment and parentheses are all
  decided here, so formatting twice gives the same text.
- Parentheses come from precedence, never from the source: `or` < `and` < `not` < comparisons,
  and `+ -` < `* /` < unary `-`, all left-associative. A right operand of equal precedence keeps
  its parentheses, because `a - (b - c)` is another tree (and another number) than `a - b - c`.
- Comments are not in the tree: the parser keeps them on the Ruleset with their spans. Statements
  are first laid out as `_Line`s that remember which source lines they came from; each comment
  is then placed by position. A comment on a source line where an output line ends trails that
  line; a comment inside a member written over several lines leads that member (the member
  becomes one line); any other comment leads the first output line that starts after it (a
  comment before a closing brace stays inside the block, one level deeper). Comments thus
  follow their statement when the header is reordered, and need no slots in the AST.
- Blank lines: none inside blocks, one between statements (the header is one group), and one
  kept wherever the source had any between a top-level comment and what follows it, so a file's
  opening paragraph or a section banner stays apart from the statement below it.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable

from .ast import (
    And, AtLeast, AtMost, BinOp, Bound, Call, Cell, CombineDecl, Comment, Compare, DateLit,
    Downgrade, EffectiveDecl, Example, ExampleContract, ExamplePoints, ExampleReport, ExampleStart, Expect,
    FieldDecl, InList, InputBlock, InTable, Kpi, LegacyMap, Name, Neg, Not, Number, Or, Percent, PeriodDecl, Points, ProgramDecl,
    Quality, Review, Rounded, Rule, Ruleset, String, Table, TableLookup, TableRow, Tier, Tiers,
    VersionDecl,
)

INDENT = "  "
HEADER_ORDER = (ProgramDecl, VersionDecl, EffectiveDecl, PeriodDecl, CombineDecl)


def _grammar_keywords() -> frozenset[str]:
    """The grammar's keywords (terminals spelled as one lower-case word), read from grammar.lark."""
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return frozenset(re.findall(r'^[A-Z_]+:\s*"([a-z]+)"\s*$', grammar, re.MULTILINE))


# A name equal to a keyword is written quoted where the grammar takes a name or a string (a tier,
# a `one of` value, a table column): the contextual lexer reads most of them as names anyway, but
# quoting costs nothing and is right even where the keyword could also stand (tier `"keep"`).
KEYWORDS = _grammar_keywords()

_NAME_RE = re.compile(r"[^\W\d_]\w*\Z")  # the grammar's NAME: letters, digits, `_`


# --------------------------------------------------------------------------- atoms


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _word(text: str) -> str:
    """A name where the grammar takes a name or a string: bare when it can be, else quoted."""
    return text if _NAME_RE.match(text) and text not in KEYWORDS else _quote(text)


def _plain(value: Decimal) -> str:
    # Decimal's str() may use an exponent (1E+3), which is not a literal of the language.
    return format(value, "f")


def _group(digits: str) -> str:
    """45000 -> 45_000: long integers read better in groups of three."""
    if len(digits) < 5 or not digits.isdigit():
        return digits
    head = len(digits) % 3 or 3
    return "_".join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])


def number_text(node: Number) -> str:
    """A number as its author wrote it, long integers grouped with `_` (45000 -> 45_000)."""
    text = node.text or _plain(node.value)
    sign = text[0] if text[:1] in ("-", "+") else ""
    return sign + _group(text[len(sign):])


def percent_text(node: Percent) -> str:
    """A percentage as written (`5%`); built from the fraction when no text was kept."""
    text = node.text or _plain((node.value * 100).normalize())
    return text if text.endswith("%") else text + "%"


# --------------------------------------------------------------------------- expressions

_ARITH_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_NEG_PREC, _ATOM_PREC = 3, 4


def _expr_prec(node) -> int:
    if isinstance(node, BinOp):
        return _ARITH_PREC[node.op]
    return _NEG_PREC if isinstance(node, Neg) else _ATOM_PREC


def _expr_operand(node, wrap: bool) -> str:
    text = format_expr(node)
    return f"({text})" if wrap else text


def _binop(node: BinOp) -> str:
    prec = _ARITH_PREC[node.op]
    left = _expr_operand(node.left, _expr_prec(node.left) < prec)
    # `a - (-b)` rather than `a - -b`: two signs in a row read like a typo.
    doubled_sign = prec == 1 and isinstance(node.right, Neg)
    right = _expr_operand(node.right, _expr_prec(node.right) <= prec or doubled_sign)
    return f"{left} {node.op} {right}"


def _neg(node: Neg) -> str:
    # `-(-x)` rather than `--x`, as above.
    return "-" + _expr_operand(node.operand, _expr_prec(node.operand) <= _NEG_PREC)


def _args(items) -> str:
    return ", ".join(format_expr(i) for i in items)


_EXPR: dict[type, Callable] = {
    Number: number_text,
    Percent: percent_text,
    String: lambda n: _quote(n.value),
    DateLit: lambda n: n.value.isoformat(),
    Name: lambda n: n.name,
    TableLookup: lambda n: f"{n.table}[{_args(n.keys)}]",
    BinOp: _binop,
    Neg: _neg,
    Call: lambda n: f"{n.func}({_args(n.args)})",
}


def _dispatch(table: dict[type, Callable], node, what: str):
    method = table.get(type(node))
    if method is None:
        raise TypeError(f"the formatter has no rule for {what} {type(node).__name__}: {node!r:.80}")
    return method(node)


def format_expr(expr) -> str:
    """An expression in the language's words, with only the parentheses its meaning needs."""
    return _dispatch(_EXPR, expr, "expression")


# --------------------------------------------------------------------------- conditions

_OR_PREC, _AND_PREC, _NOT_PREC, _TEST_PREC = 1, 2, 3, 4


def _cond_prec(node) -> int:
    if isinstance(node, Or):
        return _OR_PREC
    if isinstance(node, And):
        return _AND_PREC
    return _NOT_PREC if isinstance(node, Not) else _TEST_PREC


def _cond_operand(node, wrap: bool) -> str:
    text = format_cond(node)
    return f"({text})" if wrap else text


def _junction(node, word: str, prec: int) -> str:
    # A junction inside one of its own kind keeps its parentheses, so the text says what the tree
    # says; the parser flattens such nesting, so only trees built by hand ever show it.
    return f" {word} ".join(_cond_operand(i, _cond_prec(i) <= prec) for i in node.items)


def _not(node: Not) -> str:
    return "not " + _cond_operand(node.operand, _cond_prec(node.operand) < _NOT_PREC)


def _in_word(negated: bool) -> str:
    return "not in" if negated else "in"


_COND: dict[type, Callable] = {
    Compare: lambda n: f"{format_expr(n.left)} {n.op} {format_expr(n.right)}",
    InList: lambda n: f"{format_expr(n.operand)} {_in_word(n.negated)} ({_args(n.values)})",
    InTable: lambda n: f"{format_expr(n.operand)} {_in_word(n.negated)} {n.table}",
    And: lambda n: _junction(n, "and", _AND_PREC),
    Or: lambda n: _junction(n, "or", _OR_PREC),
    Not: _not,
}


def format_cond(cond) -> str:
    """A `when` condition (without the word `when`), with only the parentheses it needs."""
    return _dispatch(_COND, cond, "condition")


# --------------------------------------------------------------------------- points formulas


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _rounded(node: Rounded) -> str:
    places = f" to {_plural(node.places, 'decimal')}" if node.places else ""
    return f"rounded {node.mode}{places}"


_MODIFIER: dict[type, Callable] = {
    AtMost: lambda n: f"at most {format_expr(n.limit)}",
    AtLeast: lambda n: f"at least {format_expr(n.limit)}",
    Rounded: _rounded,
}


def format_modifier(modifier) -> str:
    """`at most 3_000`, `at least 10`, `rounded half up to 2 decimals`."""
    return _dispatch(_MODIFIER, modifier, "modifier")


def format_points(points: Points) -> str:
    """A points formula without the word `points`: `3 per pool_gb, at most 3_000, rounded half up`."""
    if not isinstance(points, Points):
        raise TypeError(f"format_points needs a Points node, not {type(points).__name__}")
    text = format_expr(points.expr)
    if points.per is not None:
        text += f" per {points.per.name}"
    return ", ".join([text, *(format_modifier(m) for m in points.modifiers)])


# --------------------------------------------------------------------------- lines


@dataclass
class _Line:
    """One output line; `start`/`end` are the source lines it came from (0: unknown)."""

    text: str
    depth: int = 0
    start: int = 0
    end: int = 0
    closer: bool = False  # a closing brace: comments leading it belong inside the block
    leading: list[Comment] = field(default_factory=list)
    trailing: Comment | None = None

    def deeper(self) -> "_Line":
        self.depth += 1
        return self


def _member(text: str, node) -> _Line:
    return _Line(text, 0, node.span.line, node.span.end_line)


def _block(head: str, node, members: list[_Line]) -> list[_Line]:
    span = node.span
    return [
        _Line(f"{head} {{", 0, span.line, span.line),
        *(m.deeper() for m in members),
        _Line("}", 0, span.end_line, span.end_line, closer=True),
    ]


def _padded(pairs: list[tuple[str, str, object]]) -> list[_Line]:
    """(left, right, node) triples laid out so that every `right` starts in one column."""
    width = max((len(left) for left, _, _ in pairs), default=0)
    return [_member(f"{left:<{width}} {right}".rstrip(), node) for left, right, node in pairs]


# --------------------------------------------------------------------------- statements


def _field_type(decl: FieldDecl) -> str:
    if decl.kind == "choice":
        return f"one of ({', '.join(_word(c) for c in decl.choices)})"
    return decl.kind


def _field_spec(decl: FieldDecl) -> str:
    parts = [" ".join([_field_type(decl), *(f"{b.op} {format_expr(b.value)}" for b in decl.bounds)])]
    if decl.required:
        parts.append("required")
    if decl.required_when is not None:
        parts.append(f"required when ({format_cond(decl.required_when)})")
    parts += [f"{w.bound.op} {format_expr(w.bound.value)} when ({format_cond(w.when)})" for w in decl.bounds_when]
    parts += [f"one of ({', '.join(_word(c) for c in w.choices)}) when ({format_cond(w.when)})"
              for w in decl.choices_when]
    if decl.unique:
        parts.append("unique")
    if decl.default is not None:
        parts.append(f"default {format_expr(decl.default)}")
    word = _form_word(decl)
    if word:
        parts.append(word)
    return ", ".join(parts)


# The word of a field's own form, by (aspect, reading); `iso` rather than `strict` for dates.
_FORM_WORDS = {
    ("dates", "iso"): "iso", ("dates", "german"): "german", ("dates", "both"): "lenient",
    ("case", "exact"): "strict", ("case", "any"): "lenient", ("spaces", "verbatim"): "strict",
    ("spaces", "trim"): "lenient", ("numbers", "strict"): "strict", ("numbers", "any"): "lenient",
}


def _form_word(decl: FieldDecl) -> str | None:
    for aspect in ("dates", "case", "spaces", "numbers"):
        reading = getattr(decl, aspect)
        if reading is not None:
            return _FORM_WORDS[(aspect, reading)]
    return None


def _input(node: InputBlock) -> list[_Line]:
    pairs = [(f"{_word(f.name)}:", _field_spec(f), f) for f in node.fields]
    return _block(f"input {node.name}" + (" strict" if node.strict else ""), node, _padded(pairs))


def _tier_spec(tier: Tier) -> str:
    keep = f" keep {number_text(tier.keep)}" if tier.keep is not None else ""
    return f"from {number_text(tier.threshold)}{keep}"


def _tiers(node: Tiers) -> list[_Line]:
    return _block("tiers", node, _padded([(_word(t.name), _tier_spec(t), t) for t in node.tiers]))


def _cell(cell: Cell) -> str:
    value = format_expr(cell.value)
    return value if cell.column is None else f"{_word(cell.column)} {value}"


def _cells(rows: tuple[TableRow, ...]) -> list[str]:
    """Each row's cells, every cell but a row's last padded so the columns line up."""
    texts = [[_cell(c) + "," for c in row.cells] for row in rows]
    widths: dict[int, int] = {}
    for cells in texts:
        for i, text in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), len(text))
    return [
        " ".join([*(f"{t:<{widths[i]}}" for i, t in enumerate(cells[:-1])), cells[-1][:-1]])
        if cells else ""
        for cells in texts
    ]


def _table(node: Table) -> list[_Line]:
    keys = [f"{_quote(r.key)}:" for r in node.rows]
    pairs = list(zip(keys, _cells(node.rows), node.rows))
    return _block(f"table {node.name} by {', '.join(node.keys)}", node, _padded(pairs))


def _rule(node: Rule) -> list[_Line]:
    members = []
    if node.when is not None:
        members.append(_member(f"when {format_cond(node.when)}", node.when))
    members.append(_member(f"points {format_points(node.points)}", node.points))
    return _block(f"rule {_quote(node.name)}", node, members)


def _downgrade(node: Downgrade) -> str:
    if node.kind == "levels":
        return f"downgrade at most {_plural(node.count, 'level')}"
    if node.kind == "earned":
        return "downgrade to earned"
    if node.kind == "grace":
        return f"downgrade after {_plural(node.count, 'grace period')}"
    raise TypeError(f"the formatter has no rule for downgrade kind {node.kind!r}")


def _review(node: Review) -> list[_Line]:
    members = [_Line(f"legacy {which} column {_quote(name)}")
               for which, name in (("partner", node.legacy_partner), ("status", node.legacy_status)) if name]
    members += [_member(f"legacy {_quote(m.old)} -> {_word(m.new)}", m) for m in node.legacy]
    if node.newcomer is not None:
        members.append(_Line(f"newcomers start at {_word(node.newcomer)}"))
    if node.downgrade is not None:
        members.append(_member(_downgrade(node.downgrade), node.downgrade))
    return _block("review", node, members)


def _kpi(node: Kpi) -> str:
    threshold = format_expr(node.threshold)
    text = f"kpi {_quote(node.name)}: {node.aggregate} of {node.field} {node.direction} {threshold}"
    if node.min_reports != 1:
        text += f", at least {_plural(node.min_reports, 'report')}"
    if node.decimals is not None:
        text += f", shown to {_plural(node.decimals, 'decimal')}"
    return text


def _quality(node: Quality) -> list[_Line]:
    members = [_Line(f"period {node.period}")]
    if node.key == "contract":
        members.append(_Line(f"reports by {node.counting} contract"))
    members += [_member(_kpi(k), k) for k in node.kpis]
    members.append(_Line(f"sustained {_plural(node.sustained, 'period')}"))
    return _block("quality", node, members)


def _contract(node: ExampleContract) -> str:
    fields = ", ".join(f"{_word(name)}: {format_expr(value)}" for name, value in node.fields)
    return f"contract {{ {fields} }}" if fields else "contract { }"


def _report(node: ExampleReport) -> str:
    fields = ", ".join(f"{_word(name)}: {format_expr(value)}" for name, value in node.fields)
    head = "report" if node.count == 1 else f"{node.count} reports"
    return f"{head} {{ {fields} }}" if fields else f"{head} {{ }}"


def _start(node: ExampleStart) -> str:
    if node.kind == "legacy":
        return f"legacy {_quote(node.value)}"
    if node.kind == "status":
        return f"status {_word(node.value)}"
    return "newcomer"


def _points(node: ExamplePoints) -> str:
    return "points " + ", ".join(format_expr(v) for v in node.values)


def _expect(node: Expect) -> str:
    code = f" {node.code}" if node.code else ""
    if node.kind == "points":
        return f"expect {format_expr(node.value)} points"
    if node.kind == "tier":
        return f"expect tier {_word(node.value)}"
    if node.kind == "unscored":
        return "expect unscored" + code
    if node.kind == "rejected":
        return f"expect rejected {_word(node.value)}{code}"
    if node.kind == "status":
        return "expect status " + ", ".join(_word(t) for t in node.value)
    if node.kind in ("flag", "no flag", "sustained", "no sustained"):
        return f"expect {node.kind} {_quote(node.value)}"
    raise TypeError(f"the formatter has no rule for expect kind {node.kind!r}")


def _example(node: Example) -> list[_Line]:
    """Canonical order: the review's start and points, contracts, reports, then the expectations."""
    members = [_member(_start(s), s) for s in node.starts]
    members += [_member(_points(p), p) for p in node.points]
    members += [_member(_contract(c), c) for c in node.contracts]
    members += [_member(_report(r), r) for r in node.reports]
    members += [_member(_expect(e), e) for e in node.expects]
    return _block(f"example {_quote(node.name)}", node, members)


def _one_line(text: Callable) -> Callable:
    return lambda node: [_member(text(node), node)]


_STATEMENT: dict[type, Callable[..., list[_Line]]] = {
    ProgramDecl: _one_line(lambda n: f"program {_quote(n.name)}"),
    VersionDecl: _one_line(lambda n: f"version {_quote(n.name)}"),
    EffectiveDecl: _one_line(lambda n: f"effective {n.value.isoformat()}"),
    PeriodDecl: _one_line(lambda n: f"period {n.unit}"),
    CombineDecl: _one_line(lambda n: f"combine {n.mode}"),
    InputBlock: _input,
    Tiers: _tiers,
    Table: _table,
    Rule: _rule,
    Review: _review,
    Quality: _quality,
    Example: _example,
}

# Members of blocks, for format_node: the line each stands on, in the block's words.
_MEMBER: dict[type, Callable[..., str]] = {
    FieldDecl: lambda n: f"{_word(n.name)}: {_field_spec(n)}",
    Bound: lambda n: f"{n.op} {format_expr(n.value)}",
    Tier: lambda n: f"{_word(n.name)} {_tier_spec(n)}",
    TableRow: lambda n: f"{_quote(n.key)}: {', '.join(_cell(c) for c in n.cells)}",
    Cell: _cell,
    LegacyMap: lambda n: f"legacy {_quote(n.old)} -> {_word(n.new)}",
    Downgrade: _downgrade,
    Kpi: _kpi,
    ExampleContract: _contract,
    ExampleReport: _report,
    ExampleStart: _start,
    ExamplePoints: _points,
    Expect: _expect,
    Points: lambda n: f"points {format_points(n)}",
    Comment: lambda n: _comment_text(n),
}


def _statement_lines(node) -> list[_Line]:
    return _dispatch(_STATEMENT, node, "statement")


def _render(lines: list[_Line]) -> str:
    return "\n".join(INDENT * line.depth + line.text for line in lines)


def format_node(node) -> str:
    """Any node in the language's words: a statement (several lines), a member, a condition, ..."""
    if type(node) in _STATEMENT:
        return _render(_statement_lines(node))
    for table in (_MEMBER, _EXPR, _COND, _MODIFIER):
        if type(node) in table:
            return table[type(node)](node)
    if isinstance(node, Ruleset):
        return format_ruleset(node)
    raise TypeError(f"the formatter has no rule for {type(node).__name__}: {node!r:.80}")


# --------------------------------------------------------------------------- comments


def _comment_text(comment: Comment) -> str:
    return "#" + comment.text.rstrip()


def _place_comments(lines: list[_Line], comments: tuple[Comment, ...]) -> list[Comment]:
    """Attach each comment to the line it trails or leads; return those left for the end."""
    ends = {line.end: line for line in lines if line.end}  # later lines win: the last on a source line
    starts = sorted((line for line in lines if line.start), key=lambda line: line.start)
    first_lines = [line.start for line in starts]
    multi_line = [line for line in starts if line.start < line.end]
    tail = []
    for comment in sorted(comments, key=lambda c: (c.span.line, c.span.column)):
        at = comment.span.line
        owner = ends.get(at)
        if owner is not None and owner.trailing is None:
            owner.trailing = comment
            continue
        # Inside a member written over several lines (a long `when`): it leads that member.
        inside = next((line for line in multi_line if line.start <= at < line.end), None)
        index = bisect_right(first_lines, at)
        following = inside or (starts[index] if index < len(starts) else None)
        if following is None:
            tail.append(comment)
        else:
            following.leading.append(comment)
    return tail


def _gap(before: int, after: int) -> bool:
    """Whether the source had a blank line between two source lines (0: unknown)."""
    return bool(before and after and after > before + 1)


def _emit(line: _Line, out: list[str]) -> None:
    depth = line.depth + 1 if line.closer else line.depth
    for i, comment in enumerate(line.leading):
        out.append(INDENT * depth + _comment_text(comment))
        following = line.leading[i + 1].span.line if i + 1 < len(line.leading) else line.start
        if depth == 0 and _gap(comment.span.end_line or comment.span.line, following):
            out.append("")
    text = INDENT * line.depth + line.text
    if line.trailing is not None:
        text += "  " + _comment_text(line.trailing)
    out.append(text)


# --------------------------------------------------------------------------- the ruleset


def _groups(ruleset: Ruleset) -> list[list[_Line]]:
    """The header statements as one group, then every other statement as a group of its own."""
    header = sorted(
        (s for s in ruleset.statements if type(s) in HEADER_ORDER),
        key=lambda s: HEADER_ORDER.index(type(s)),
    )
    groups = [[line for s in header for line in _statement_lines(s)]] if header else []
    groups += [_statement_lines(s) for s in ruleset.statements if type(s) not in HEADER_ORDER]
    return groups


def _preamble(comments: list[Comment], lines: list[_Line]) -> list[Comment]:
    """The file's opening comments: before the first statement, set apart from it by a blank line.

    They stay at the top even when the statement below them moves (a header written late), while
    a comment written right above the first statement still travels with it.
    """
    first = min((line.start for line in lines if line.start), default=0)
    before = [c for c in comments if c.span.line < first]
    following = first
    while before and not _gap(before[-1].span.line, following):
        following = before.pop().span.line
    return before


def _emit_comments(comments: list[Comment], last_line: int, out: list[str]) -> None:
    for comment in comments:
        if out and _gap(last_line, comment.span.line):
            out.append("")
        out.append(_comment_text(comment))
        last_line = comment.span.end_line or comment.span.line


def format_ruleset(ruleset: Ruleset) -> str:
    """The ruleset in its one canonical layout, comments kept; formatting twice changes nothing."""
    groups = _groups(ruleset)
    lines = [line for g in groups for line in g]
    comments = sorted(ruleset.comments, key=lambda c: (c.span.line, c.span.column))
    preamble = _preamble(comments, lines)
    out: list[str] = []
    _emit_comments(preamble, 0, out)
    tail = _place_comments(lines, tuple(comments[len(preamble):]))
    for group in groups:
        if out:
            out.append("")
        for line in group:
            _emit(line, out)
    _emit_comments(tail, max((line.end for line in lines), default=0), out)
    return "\n".join(out) + "\n" if out else ""
