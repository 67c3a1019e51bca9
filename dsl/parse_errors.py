"""Translate Lark's syntax exceptions into Diagnostics in plain words (used by dsl.parser only).

Design:
- Terminal names never reach a person: `WORDS` and the grammar's own keyword strings turn them
  into words ("a number", "the word `points`", "`{`", "the end of the file"), ranked so the most
  useful few come first and capped at `MAX_EXPECTED`.
- Curated messages come first (a block left open, an unterminated string, `=` for `:`, an unknown
  statement word with did-you-mean, a rule without `points`); the generic message is the fallback.
- When something is missing at the end of a line, the caret goes right after the previous token:
  that is where the person has to type, not at the start of the next line.
- Positions are computed from the scanner tokens of dsl.parser (absolute offsets), so they refer
  to the whole file even though each statement is parsed on its own.
"""
from __future__ import annotations

from copy import copy

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import ast as A
from .errors import Diagnostic, did_you_mean

MAX_EXPECTED = 5
STATEMENT_TERMINALS = {"PROGRAM", "VERSION", "EFFECTIVE", "PERIOD", "COMBINE", "INPUT", "TIERS",
                       "TABLE", "RULE", "REVIEW", "QUALITY", "EXAMPLE"}
STATEMENT_WORDS = tuple(sorted(t.lower() for t in STATEMENT_TERMINALS))
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH"}

# (rank, words): lower ranks are shown first. Keywords not listed are "the word `x`" at rank 10.
WORDS = {
    "NUMBER": (0, "a number"),
    "NAME": (1, "a name"),
    "STRING": (2, "a string in double quotes"),
    "DATE": (3, "a date such as `2016-03-01`"),
    "PERCENT": (4, "a percentage such as `5%`"),
    "@statement": (5, "a statement such as `rule` or `table`"),
    "RBRACE": (20, "`}`"),
    "RPAR": (21, "`)`"),
    "RSQB": (22, "`]`"),
    "COLON": (23, "`:`"),
    "COMMA": (24, "`,`"),
    "ARROW": (25, "`->`"),
    "COMPARE_OP": (30, "a comparison such as `==` or `<`"),
    "@operator": (40, "an operator (`+`, `-`, `*`, `/`)"),
    "PLUS": (41, "`+`"),
    "MINUS": (41, "`-`"),
    "STAR": (41, "`*`"),
    "SLASH": (41, "`/`"),
    "LBRACE": (44, "`{`"),
    "LPAR": (45, "`(`"),
    "LSQB": (46, "`[`"),
    "$END": (50, "the end of the file"),
}


def describe_expected(expected: set[str], keywords: dict[str, str]) -> str:
    """'a, b or c': the expected terminals in plain words, most useful first, at most MAX_EXPECTED."""
    names = set(expected)
    if {"RULE", "TABLE", "PROGRAM"} <= names:
        names = (names - STATEMENT_TERMINALS) | {"@statement"}
    if {"PLUS", "STAR"} <= names:
        names = (names - OPERATORS) | {"@operator"}
    if "NUMBER" in names:
        names.discard("MINUS")  # a sign is part of writing a number, not a separate thing to expect
    ranked = sorted(_word(n, keywords) for n in names)
    words = list(dict.fromkeys(w for _, w in ranked))[:MAX_EXPECTED]
    if not words:
        return "nothing more"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _word(name: str, keywords: dict[str, str]) -> tuple[int, str]:
    if name in WORDS:
        return WORDS[name]
    if name in keywords:
        return 10, f"the word `{keywords[name]}`"
    return 60, f"`{name.lower()}`"


def syntax_error(exc: UnexpectedInput, chunk, file: str, text: str, keywords: dict[str, str]) -> Diagnostic:
    """One Diagnostic for a Lark exception raised while parsing `chunk` (a piece of `text`)."""
    ctx = _Context(chunk, file, text, keywords)
    expected = set(getattr(exc, "accepts", None) or _accepts(getattr(exc, "state", None))
                   or getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    if isinstance(exc, UnexpectedCharacters):
        return ctx.bad_character(chunk.start + exc.pos_in_stream, expected)
    if not isinstance(exc, UnexpectedToken):  # LALR reports the end of input as a `$END` token
        return ctx.ends_early(ctx.previous(chunk.end), expected)
    return ctx.bad_token(exc.token, expected)


def _accepts(state) -> set[str]:
    """The terminals the parser can really take in `state`, as Lark computes them for its own
    UnexpectedToken. Errors found by the lexer carry only the lexer's set, which misses keywords
    (they hide inside NAME) and includes look-aheads that LALR merged from other contexts."""
    if state is None:
        return set()
    conf = copy(state.parse_conf)
    conf.callbacks = {}  # probing must not build trees
    found = set()
    for name in state.parse_conf.parse_table.states[state.position]:
        if name != "$END" and not name.isupper():
            continue  # a rule name (a goto entry of the table), not a terminal
        probe = state.copy(deepcopy_values=False)
        probe.parse_conf = conf
        try:
            probe.feed_token(Token(name, ""), name == "$END")
        except (UnexpectedInput, AssertionError):  # Lark asserts when a probe reaches its end state
            continue
        found.add(name)
    return found


class _Spot:
    """A position the scanner has no token for (only the text under the caret is known)."""

    kind = "other"

    def __init__(self, text: str, line: int, column: int):
        self.text, self.line, self.column = text, line, column


class _Context:
    """What the messages need: the piece's scanner tokens, the file and its text."""

    def __init__(self, chunk, file: str, text: str, keywords: dict[str, str]):
        self.chunk, self.file, self.text, self.keywords = chunk, file, text, keywords

    def diag(self, code: str, message: str, span: A.Span, hint: str | None = None) -> Diagnostic:
        return Diagnostic(code, message, span, "error", hint)

    def span(self, t) -> A.Span:
        return A.Span(self.file, t.line, t.column, t.line, t.column + len(t.text))

    def after(self, t) -> A.Span:
        col = t.column + len(t.text)
        return A.Span(self.file, t.line, col, t.line, col + 1)

    def token_at(self, offset: int):
        """The scanner token at `offset` (or around it, where Lark cut a word differently)."""
        found = next((t for t in self.chunk.tokens if t.start <= offset < t.end), None)
        if found is None:
            found = _Spot(self.text[offset:offset + 1], *self.position(offset))
        return found

    def position(self, offset: int) -> tuple[int, int]:
        """Line and column of `offset`, counted from the piece's start (never the whole file)."""
        line = self.chunk.line + self.text.count("\n", self.chunk.start, offset)
        line_start = self.text.rfind("\n", self.chunk.start, offset) + 1 or self.chunk.start
        return line, offset - line_start + 1

    def previous(self, offset: int):
        before = [t for t in self.chunk.tokens if t.end <= offset]
        return before[-1] if before else None

    def open_blocks(self, offset: int) -> list:
        """The scanner tokens of the `{` still open at `offset`, innermost last."""
        stack = []
        for t in self.chunk.tokens:
            if t.start >= offset:
                break
            if t.text == "{":
                stack.append(t)
            elif t.text == "}" and stack:
                stack.pop()
        return stack

    def header(self, brace) -> str:
        """`rule "X"`: the first two words of the line segment that opened a block."""
        toks = self.chunk.tokens
        i = toks.index(brace)
        j = i
        while j > 0 and toks[j - 1].line == brace.line and toks[j - 1].text not in "{}":
            j -= 1
        return " ".join(t.text for t in toks[j:min(i, j + 2)])

    # ------------------------------------------------------------------ characters
    def bad_character(self, offset: int, allowed: set[str]) -> Diagnostic:
        char = self.text[offset]
        tok = self.token_at(offset)
        line, col = self.position(offset)
        here = A.Span(self.file, line, col, line, col + 1)
        if char == '"':
            width = len(tok.text) if tok else 1
            return self.diag("P102", "this string is never closed", A.Span(self.file, line, col, line, col + width),
                             'end it with `"` on the same line')
        if char == "=" and "COLON" in allowed:
            return self.diag("P105", "expected `:` after the name, not `=`", here, self.colon_hint(self.open_blocks(offset)))
        if char == "=" and "COMPARE_OP" in allowed:
            return self.diag("P105", "`=` does not compare", here, "write `==` to compare two values")
        shown = char if char.isprintable() and not char.isspace() else repr(char)
        hint = "entries are separated by line breaks; remove the `;`" if char == ";" else None
        return self.diag("P101", f"unexpected character `{shown}`: expected {self.expected(allowed)}", here, hint)

    def colon_hint(self, opened: list) -> str:
        """How an entry with a colon is written in the innermost open block."""
        word = self.header(opened[-1]).split(" ")[0] if opened else ""
        return {"input": "write `name: type`", "table": 'write `"key": value`',
                "quality": 'write `kpi "Name": share of FIELD above 5%`'}.get(word, "write `name: value`")

    def expected(self, names: set[str]) -> str:
        return describe_expected(names, self.keywords)

    # ------------------------------------------------------------------ tokens
    def bad_token(self, token, expected: set[str]) -> Diagnostic:
        at_end = token.type == "$END"
        offset = self.chunk.end if at_end else self.chunk.start + token.start_pos
        prev = self.previous(offset)
        tok = None if at_end else self.token_at(offset)
        opened = self.open_blocks(offset)
        first_on_line = prev is None or (tok is not None and tok.line > prev.line)
        if opened and (at_end or (str(token) in STATEMENT_WORDS and first_on_line)):
            return self.never_closed(opened[-1])
        if token.type == "RBRACE" and "POINTS" in expected and opened and opened[0].line == self.chunk.tokens[0].line \
                and self.chunk.tokens[0].text == "rule":
            rule = self.header(opened[0])
            span = self.after(prev) if prev and prev.text != "{" else self.span(tok)
            return self.diag("P106", f"{rule} has no `points`", span,
                             "add a line `points N`: the points the rule gives")
        if token.type == "NAME" and {"RULE", "TABLE"} <= expected:
            guess = did_you_mean(str(token), STATEMENT_WORDS)
            hint = f"did you mean `{guess}`?" if guess else "a statement starts with " + ", ".join(
                f"`{w}`" for w in ("program", "input", "tiers", "table", "rule", "review", "example")) + ", ..."
            return self.diag("P104", f"unknown statement `{token}`", self.span(tok), hint)
        if at_end:
            return self.ends_early(prev, expected)
        if token.type == "RBRACE" and not opened:
            return self.diag("P101", "unexpected `}`: no block is open here", self.span(tok), "remove it")
        dangling = self.dangling(prev)
        if dangling:
            return dangling
        missing = self.missing_comma(token, tok, prev, expected, opened)
        if missing:
            return missing
        if prev and tok and tok.line > prev.line and (token.type == "RBRACE" or self.wants_more(prev)):
            return self.diag("P107", f"expected {self.expected(expected)} after `{prev.text}`", self.after(prev))
        hint = self.spelling_hint(token, expected) or self.shape_hint(token, prev, expected, opened)
        return self.diag("P101", f"unexpected `{token}`: expected {self.expected(expected)}", self.span(tok), hint)

    def dangling(self, prev) -> Diagnostic | None:
        """`when a == 1 or` + newline + `points 5`: the keyword that starts the next line was read
        as a name to finish the previous line, so the real mistake is the line's dangling end."""
        if prev is None or prev.kind != "word" or prev.text not in self.keywords.values():
            return None
        toks = self.chunk.tokens
        i = toks.index(prev)
        before = toks[i - 1] if i > 0 else None
        if before is None or before.line == prev.line or not self.wants_more(before):
            return None
        return self.diag("P107", f"`{before.text}` at the end of the line needs something after it", self.after(before),
                         f"the next line starts with `{prev.text}`, which cannot follow `{before.text}`")

    def missing_comma(self, token, tok, prev, expected: set[str], opened: list) -> Diagnostic | None:
        """A `,` left out between two parts of one line: named where it is missing.

        In an input or table block the parser ends the entry at the gap and reads the next word as
        the name of a new entry, so the error surfaces one token later ("expected `:`"); in a
        `points` line the next modifier is simply unexpected ("expected `}` or `,`").
        """
        if prev is None or tok is None:
            return None
        toks = self.chunk.tokens
        block = self.header(opened[-1]).split(" ")[0] if opened else ""
        if "COLON" in expected and block in ("input", "table") and prev.kind in ("word", "string"):
            i = toks.index(prev)
            before = toks[i - 1] if i > 0 else None
            if before is None or before.line != prev.line or before.text in "{,:(" or self.wants_more(before):
                return None
            left, right = before, prev
        elif "COMMA" in expected and tok.line == prev.line and block == "rule" \
                and str(token) in ("at", "rounded") and not self.wants_more(prev):
            left, right = prev, tok
        else:
            return None
        at = left.start + len(left.text)
        line_start = self.text.rfind("\n", 0, at) + 1
        line_end = self.text.find("\n", at)
        fixed = (self.text[line_start:at] + "," + self.text[at:len(self.text) if line_end < 0 else line_end]).strip()
        return self.diag("P101", f"missing `,` between `{left.text}` and `{right.text}`", self.after(left),
                         f"the parts of one line are separated by commas: `{fixed}`")

    def never_closed(self, brace) -> Diagnostic:
        return self.diag("P103", f"the block `{self.header(brace)}` opened at line {brace.line} is never closed",
                         self.span(brace), "add `}` where the block ends")

    def ends_early(self, prev, expected: set[str]) -> Diagnostic:
        if prev is None:
            return self.diag("P108", f"expected {self.expected(expected)}", A.Span(self.file, self.chunk.line, 1, self.chunk.line, 2))
        if self.chunk.end < len(self.text):
            return self.diag("P107", f"expected {self.expected(expected)} after `{prev.text}`", self.after(prev))
        return self.diag("P108", f"the file ends too early: expected {self.expected(expected)} after `{prev.text}`",
                         self.after(prev))

    def wants_more(self, prev) -> bool:
        """True when the previous token cannot end an entry: a keyword, an operator, `:` or `,`."""
        if prev.kind in ("op", "other"):
            return prev.text not in "{})]"
        return prev.kind == "word" and prev.text in self.keywords.values()

    def shape_hint(self, token, prev, expected: set[str], opened: list) -> str | None:
        """How the entry is written, for the shapes people get wrong most."""
        if expected == {"COLON"}:
            return self.colon_hint(opened)
        if prev is not None and prev.text == "of" and expected == {"LPAR"}:
            return "list the values in parentheses: `one of (new, existing)`"
        if token.type == "COMMA" and opened and self.header(opened[-1]) == "review":
            return "write one `legacy` line for each old status"
        return None

    def spelling_hint(self, token, expected: set[str]) -> str | None:
        if token.type not in ("NAME",) and str(token) not in self.keywords.values():
            return None
        words = [self.keywords[n] for n in expected if n in self.keywords]
        guess = did_you_mean(str(token), words)
        return f"did you mean `{guess}`?" if guess and guess != str(token) else None
