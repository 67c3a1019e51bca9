"""Parse ruleset text into dsl.ast nodes, reporting every syntax error of a file at once.

Design:
- The grammar lives in dsl/grammar.lark (LALR, contextual lexer); the Lark parser is built once
  by a cached factory. The Lark tree is turned at once into frozen AST nodes with spans
  (dsl.builder); nothing outside the parser sees a Lark tree.
- Recovery: a small scanner of our own (strings, comments, words, braces) splits the file at
  top-level keywords that start a line, and each piece is parsed alone. A mistake in one
  statement therefore never hides a mistake in the next, and each is reported once. Inside an
  open block a keyword only splits when it is not indented deeper than the block's statement,
  so a tier or field that happens to be spelled like a keyword does not cut a block in two.
- Tables are data: a well-formed `table` statement is read straight from the scanner's tokens
  (`_fast_table`, the same nodes and spans); anything it does not accept goes to the statement
  parser, so a mistake in a table gets the statement parser's diagnostic, code and position.
- Keywords are whole words: NAME is let into every state of the contextual lexer, so `halfup`
  is one unknown word and not `half up` (see `_WholeWords`).
- The same scanner collects the comments (it knows where strings are), so the cached parser
  holds no per-call state and stays safe to share.
- Lark's exceptions are translated in one place (dsl.parse_errors) into Diagnostics in plain
  words: terminal names map to words, curated messages cover the common mistakes, and a
  missing word is reported at the end of the previous token, not on the next line.
- Limits keep a hostile file from exhausting the interpreter: nesting depth is measured on the
  Lark tree (iteratively) before it is transformed, and statement/row counts are capped. A rule
  longer than MAX_RULE_TOKENS is refused from the scanner's tokens, before Lark parses it: every
  later stage is linear in the rule's size, and no real rule comes near it.

Codes (P1xx):
- P101 unexpected word or character; says what was expected
- P102 a string is never closed
- P103 a block is never closed (`}` missing)
- P104 unknown statement word (did you mean ...)
- P105 `=` where `:` (or `==`) belongs
- P106 a rule without `points`
- P107 something missing at the end of a line (reported at the end of the previous token)
- P108 the file ends in the middle of a statement
- P110 impossible date
- P111 unknown escape in a string
- P112 unknown word in a closed set (period, combine mode, type, option, input block, function)
- P113 an entry given twice, or a required entry missing, in a block
- P114 a whole number was expected
- P115 a number out of range (dsl.limits), a count beyond its bound, a version name too long
- P120 nesting too deep
- P121 too many statements or rows, or a rule too long
- P130 file cannot be read, is larger than 1 MB, is binary or is not UTF-8
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from pathlib import Path

from lark import Lark, Tree
from lark.exceptions import UnexpectedInput
from lark.lark import PostLex
from lark.lexer import PatternStr

from . import ast as A
from .builder import Builder, unescape
from .errors import Diagnostic, RulesetError, sort_diagnostics, source_lines
from .limits import MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, text_problem
from .parse_errors import syntax_error

MAX_DEPTH = 64  # parentheses and `not` / unary minus nested in one another
MAX_TREE_DEPTH = 200  # any expression nesting (long operator chains); protects later recursion
MAX_ENTRIES = 20_000  # statements in a file, entries (rows, fields, tiers) in a block
MAX_BYTES = 1_000_000
MAX_RULE_TOKENS = 25_000  # words, numbers and symbols of one rule (a 6,000-term condition)

TOP_KEYWORDS = ("program", "version", "effective", "period", "combine", "input", "tiers", "table",
                "rule", "review", "quality", "example")
NESTING = {"paren_cond", "paren_expr", "not_op", "neg"}


class _WholeWords(PostLex):
    """Lets every lexer state see NAME, so a keyword is only ever read as a whole word.

    Without it a state that accepts `example` but no name would read `exampleX` as `example X`
    and `halfup` as `half up`. With NAME always present, Lark reads the whole word and turns it
    into the keyword only when it is exactly the keyword.
    """

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The LALR parser, built once from dsl/grammar.lark, or loaded from the user's cache where an
    earlier process left it (building takes ~0.1 s of every command's start-up, loading ~0.02 s).
    Lark keeps the cache: a file it cannot read (half written by another process, another
    grammar) it builds anew and writes again, silently."""
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    cached = _cache_file(grammar)
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True, postlex=_WholeWords(), cache=str(cached) if cached else False)


def _cache_file(grammar: str) -> Path | None:
    """Where the built parser is kept: the user's cache folder (XDG_CACHE_HOME or ~/.cache), a
    folder only the user may write, the file named by the grammar's and Lark's versions; None when
    there is no such folder to be had (POINTS_NO_CACHE set, no home, another owner)."""
    import hashlib
    import os

    import lark

    if os.environ.get("POINTS_NO_CACHE"):
        return None
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = base / "partner-points"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not hasattr(os, "getuid") or not _owned(folder.stat()):
            return None
    except (OSError, RuntimeError):
        return None
    key = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode("utf-8")).hexdigest()[:20]
    path = folder / f"grammar-{key}.lark"
    try:  # a file someone else could have written is not loaded (it is a pickle)
        if not _owned(path.stat()):
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    return path


def _owned(st) -> bool:
    """Whether a file or folder (its os.stat result) is the user's and no one else may write it."""
    import os
    import stat

    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


@lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    """Terminal name -> keyword for every word-like terminal of the grammar (`POINTS` -> `points`)."""
    return {t.name: t.pattern.value for t in _lark().terminals
            if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()}


# --------------------------------------------------------------------------- public API


def parse(text: str, file: str = "<string>") -> A.Ruleset:
    """Parse ruleset text; raise RulesetError carrying every syntax finding (P1xx)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _file_error(file, "is larger than 1 MB; a ruleset must be smaller", text)
    toks, whole = _scan_tables(text, file)
    comments = tuple(A.Comment(t.text[1:].rstrip(), _tok_span(file, t)) for t in toks if t.kind == "comment")
    sig = [t for t in toks if t.kind != "comment"]
    chunks = _split(text, sig)
    diags: list[Diagnostic] = []
    if len(chunks) > MAX_ENTRIES:
        diags.append(_diag("P121", f"the file has more than {MAX_ENTRIES:,} statements",
                           _tok_span(file, chunks[MAX_ENTRIES].tokens[0])))
        raise RulesetError(diags, {file: text})
    statements: list = []
    for chunk in chunks:
        if chunk.tokens and chunk.tokens[0].text == "rule" and len(chunk.tokens) > MAX_RULE_TOKENS:
            diags.append(_diag("P121", f"this rule is too long (more than {MAX_RULE_TOKENS:,} words, numbers "
                               "and symbols)", _tok_span(file, chunk.tokens[MAX_RULE_TOKENS]),
                               "split it into several rules, or put the values into a table"))
            continue
        statements.extend(_parse_chunk(chunk, file, text, diags, whole))
    if diags:
        raise RulesetError(sort_diagnostics(diags), {file: text})
    lines = source_lines(text) or [""]
    span = A.Span(file, 1, 1, len(lines), len(lines[-1]) + 1)
    return A.Ruleset(file, tuple(statements), comments, span)


def parse_file(path: str | Path) -> A.Ruleset:
    """Read a UTF-8 ruleset file and parse it; unreadable files are P130 errors, not exceptions."""
    name = str(path)
    try:
        if Path(path).stat().st_size > MAX_BYTES:
            raise _file_error(name, "is larger than 1 MB; a ruleset must be smaller")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _file_error(name, f"cannot be read: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise _file_error(name, "is a binary file, not a ruleset")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _file_error(name, f"is not UTF-8 text (bad byte at line {line}); save it as UTF-8") from None
    return parse(text, name)


def _file_error(file: str, what: str, text: str | None = None) -> RulesetError:
    diag = _diag("P130", f"the file {file} {what}", A.Span(file, 1, 1, 1, 1))
    return RulesetError([diag], {file: text} if text is not None else {})


def _diag(code: str, message: str, span: A.Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, "error", hint)


# --------------------------------------------------------------------------- scanning and splitting

_SCAN = re.compile(r"""
    [ \t\f\r\ufeff]*  # whitespace before a token is skipped inside the match
    (?: (?P<nl>\n) | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?) | (?P<word>[^\W\d_]\w*) | (?P<number>\d{4}-\d\d-\d\d|\d[\w.]*%?)
  | (?P<op>->|==|!=|<=|>=) | (?P<other>.) )
""", re.VERBOSE)


class _Tok(NamedTuple):  # a tuple: a large table has tens of thousands of tokens
    kind: str
    text: str
    start: int
    line: int
    column: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class _Chunk:
    start: int  # offset of the first character of the chunk's first line
    end: int
    line: int  # 1-based line the chunk starts on
    tokens: list


def _scan(text: str, pos: int = 0, endpos: int | None = None, line: int = 1) -> list[_Tok]:
    """Comments and significant tokens with positions; whitespace is dropped.

    `pos` .. `endpos` scans a part of the text that starts at the beginning of line `line` and
    ends at the end of a line (no token spans a line break, so the part gives the tokens the whole
    text has there).
    """
    out, line_start = [], pos
    append, new = out.append, tuple.__new__  # tuple.__new__: a _Tok without the namedtuple's own call
    for m in _SCAN.finditer(text, pos, len(text) if endpos is None else endpos):
        kind = m.lastgroup
        if kind == "nl":
            line, line_start = line + 1, m.end()
        else:
            start = m.start(kind)
            append(new(_Tok, (kind, m.group(kind), start, line, start - line_start + 1)))
    return out


def _split(text: str, toks: list[_Tok]) -> list[_Chunk]:
    """Cut the file before each top-level keyword that starts a statement line."""
    chunks = [_Chunk(0, len(text), 1, [])]
    depth, head_col, prev_line = 0, 1, 0
    for i, t in enumerate(toks):
        if t.kind == "table":  # a table read whole (_scan_tables): its own piece, braces balanced
            chunks[-1].end = t.start
            chunks.append(_Chunk(t.start, len(text), t.line, [t]))
            depth, head_col, prev_line = 0, 1, t.line
            continue
        if t.line != prev_line and t.kind == "word" and _starts_statement(toks, i, depth, head_col):
            start = t.start - t.column + 1
            chunks[-1].end = start
            chunks.append(_Chunk(start, len(text), t.line, []))
            depth, head_col = 0, t.column
        if t.text == "{":
            depth += 1
        elif t.text == "}" and depth:
            depth -= 1
        chunks[-1].tokens.append(t)
        prev_line = t.line
    if not chunks[0].tokens and len(chunks) > 1:
        chunks[1].start, chunks[1].line = 0, 1
        chunks.pop(0)
    return chunks


def _starts_statement(toks: list[_Tok], i: int, depth: int, head_col: int) -> bool:
    t = toks[i]
    if t.text not in TOP_KEYWORDS:
        # after a closed block only a statement can follow: a misspelt one starts a new piece
        return depth == 0 and i > 0 and (toks[i - 1].text == "}" or toks[i - 1].kind == "table")
    if i + 1 < len(toks) and toks[i + 1].text == ":":
        return False  # a field or key spelled like a keyword
    return depth == 0 or (t.text != "period" and t.column <= head_col)


def _tok_span(file: str, t: _Tok) -> A.Span:
    return A.Span(file, t.line, t.column, t.line, t.column + len(t.text))


# --------------------------------------------------------------------------- parsing one piece


def _parse_chunk(chunk: _Chunk, file: str, text: str, diags: list[Diagnostic], whole: dict | None = None) -> list:
    if chunk.tokens and chunk.tokens[0].kind == "table":
        first = chunk.tokens[0]
        table, end = whole[first.start]
        if len(chunk.tokens) == 1:
            return [table]
        # something follows the table in its piece: read the piece from its ordinary tokens
        chunk.tokens[:1] = [t for t in _scan(text, first.start, end, first.line) if t.kind != "comment"]
    if chunk.tokens and chunk.tokens[0].text == "table":
        table = _fast_table(chunk.tokens, file)
        if table is not None:
            return [table]
    source = text[chunk.start:chunk.end]
    try:
        tree = _lark().parse(source)
    except UnexpectedInput as exc:
        diags.append(syntax_error(exc, chunk, file, text, _keywords()))
        return []
    found = _check_limits(tree, file, chunk.line - 1)
    if found:
        diags.append(found)
        return []
    builder = Builder(file, chunk.line - 1)
    statements = builder.transform(tree)
    diags.extend(builder.errors)
    return statements


# --------------------------------------------------------------------------- tables, read directly

_NUMBER = re.compile(r"\d+(_\d+)*(\.\d+(_\d+)*)?")
_STRING = re.compile(r'"([^"\\\n]|\\.)*"')
_SHORT = min(MAX_INTEGER_DIGITS, MAX_FRACTION_DIGITS)  # a number this long is always in range


def _fast_table(toks: list[_Tok], file: str) -> A.Table | None:
    """A well-formed table statement read straight from the scanner's tokens, or None.

    Tables are data: a 5,000-row table need not go through the statement parser row by row. This
    reader accepts exactly what `table_block` of dsl/grammar.lark accepts when nothing in it is wrong
    (names, closed strings with known escapes, numbers within range) and builds the same nodes with
    the same spans as dsl.builder. Anything else (a mistake, an unusual token, too many entries)
    returns None, and the statement parser reads the piece instead, so every diagnostic, code and
    position stays the statement parser's.
    """
    n = len(toks)
    Span, Number, Cell, number_text = A.Span, A.Number, A.Cell, _NUMBER.fullmatch
    if n < 6 or toks[1].kind != "word" or toks[2].text != "by" or toks[3].kind != "word":
        return None
    keys = [toks[3].text]
    i = 4
    if toks[i].text == "," and i + 1 < n and toks[i + 1].kind == "word":
        keys.append(toks[i + 1].text)
        i += 2
    if i >= n or toks[i].text != "{":
        return None
    i += 1
    rows: list[A.TableRow] = []
    while i < n and toks[i].text != "}":
        key_tok = toks[i]
        key = _fast_name(key_tok)
        if key is None or i + 2 >= n or toks[i + 1].text != ":":
            return None
        i += 2
        cells: list[A.Cell] = []
        while True:
            first = toks[i]
            column = None
            if first.kind == "word" or first.kind == "string":
                column = _fast_name(first)
                if column is None or i + 1 >= n:
                    return None
                i += 1
            num = toks[i]
            negative = num.text == "-"
            if negative:
                i += 1
                if i >= n:
                    return None
                num = toks[i]
            kind, digits, _, line, col = num
            if kind != "number" or not number_text(digits) or (len(digits) > _SHORT and text_problem(digits)):
                return None
            value = Decimal(digits.replace("_", "") if "_" in digits else digits)
            span = Span(file, line, col, line, col + len(digits))
            if negative:
                number = Number(-value, "-" + digits, span)
            else:
                number = Number(value, digits, span)
            cells.append(Cell(column, number, span if first is num else
                              Span(file, first.line, first.column, line, col + len(digits))))
            i += 1
            if i + 1 < n and toks[i].text == ",":
                i += 1
                continue
            break
        rows.append(A.TableRow(key, tuple(cells), _pos_span(file, key_tok, toks[i - 1])))
        if i >= n:
            return None
    if i != n - 1 or 1 + len(keys) + len(rows) > MAX_ENTRIES:
        return None
    return A.Table(toks[1].text, tuple(keys), tuple(rows), _pos_span(file, toks[0], toks[i]))


def _fast_name(t: _Tok) -> str | None:
    """A NAME as written or a STRING's value; None for anything else or a string with a mistake."""
    if t.kind == "word":
        return t.text
    if t.kind != "string" or not _STRING.fullmatch(t.text):
        return None
    body = t.text[1:-1]
    if "\\" not in body:
        return body
    value, bad = unescape(body)
    return None if bad is not None else value


def _pos_span(file: str, first: _Tok, last: _Tok) -> A.Span:
    return A.Span(file, first.line, first.column, last.line, last.column + len(last.text))


# --------------------------------------------------------------------------- tables, read whole

_W = r"[ \t\f\r\ufeff]"  # the scanner's whitespace
_WORD = r"[^\W\d_]\w*(?!\w)"  # a NAME, as the scanner reads a word: all of it
_QUOTED = r'"(?:[^"\\\n]|\\.)*"'
_DIGITS = r"[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?"
_CELL = rf"(?:(?:{_WORD}|{_QUOTED}){_W}*)?(?:-{_W}*)?{_DIGITS}(?![\w.%-])"
_TABLE_AT = re.compile(r"^table(?!\w)", re.M)
_TABLE_HEAD = re.compile(
    rf"table{_W}*({_WORD}){_W}*by(?!\w){_W}*({_WORD})(?:{_W}*,{_W}*({_WORD}))?{_W}*\{{{_W}*(\#[^\n]*)?\n")
_TABLE_LINE = re.compile(  # a row alone on its line, a blank line or a comment line
    rf"{_W}*(?:({_WORD}|{_QUOTED}){_W}*:{_W}*({_CELL}(?:{_W}*,{_W}*{_CELL})*){_W}*)?(\#[^\n]*)?\n")
_TABLE_CELL = re.compile(rf"(?:({_WORD}|{_QUOTED}){_W}*)?(?:(-){_W}*)?({_DIGITS})")
_TABLE_END = re.compile(rf"{_W}*(\}}){_W}*(\#[^\n]*)?(?:\n|\Z)")


def _scan_tables(text: str, file: str) -> tuple[list[_Tok], dict]:
    """The tokens `_scan` gives, except that a table written plainly is one token of kind "table".

    A table statement that starts a line and is written one row to a line (`"A": new 10, existing
    5`, comments and blank lines between) is read from the text a line at a time (`_whole_table`)
    instead of token by token; the result maps the offset of each such table to (Table, end
    offset). Its comments stay in the token list. Any other table, a well-formed one written
    otherwise or one with a mistake, is left to the scanner's tokens, so it is read (and its
    mistakes reported) exactly as before.
    """
    toks: list[_Tok] = []
    whole: dict = {}
    pos, line = 0, 1  # the part not yet scanned, and its first line
    counted, counted_line = 0, 1  # how far lines have been counted
    for m in _TABLE_AT.finditer(text):
        start = m.start()
        if start < pos:
            continue
        counted_line += text.count("\n", counted, start)
        counted = start
        found = _whole_table(text, start, counted_line, file)
        if found is None:
            continue
        table, end, comments = found
        toks += _scan(text, pos, start, line)
        toks.append(tuple.__new__(_Tok, ("table", "table", start, counted_line, 1)))
        toks += comments
        whole[start] = (table, end)
        counted_line += text.count("\n", start, end)
        pos, line, counted = end, counted_line, end
    toks += _scan(text, pos, None, line)
    return toks, whole


def _whole_table(text: str, start: int, line: int, file: str) -> tuple[A.Table, int, list[_Tok]] | None:
    """The table statement at `start` (a line start) read a line at a time, or None.

    It gives the nodes and spans `_fast_table` gives for the same text, for the tables it accepts:
    the header on one line ending in `{`, then one row to a line, then `}` alone on its line (each
    line may end in a comment). Returns the table, the offset after its last line, and the comment
    tokens. None for anything else (the scanner's tokens then read it).
    """
    head = _TABLE_HEAD.match(text, start)
    if head is None:
        return None
    Span, Number, Cell, Row, new = A.Span, A.Number, A.Cell, A.TableRow, tuple.__new__
    first_line = line
    comments = []
    if head.group(4) is not None:
        at = head.start(4)
        comments.append(new(_Tok, ("comment", head.group(4), at, line, at - start + 1)))
    keys = (head.group(2),) if head.group(3) is None else (head.group(2), head.group(3))
    rows: list[A.TableRow] = []
    values: dict[str, Decimal] = {}  # a table repeats its values: one Decimal per literal
    line_match, cells_of = _TABLE_LINE.match, _TABLE_CELL.finditer
    at, line = head.end(), line + 1
    width, row_match = 0, None  # the cells of the last row, and the pattern of a row that wide
    while True:
        m = row_match(text, at) if row_match is not None else None
        if m is not None:  # a row as wide as the last: one match gives every cell
            g = m.groups()
            key = g[0]
            if key[0] == '"':
                key = _quoted_value(key)
                if key is None:
                    return None
            cells = []
            for j in range(1, 3 * width, 3):
                column, minus, digits = g[j], g[j + 1], g[j + 2]
                if len(digits) > _SHORT and text_problem(digits):
                    return None
                value = values.get(digits)
                if value is None:
                    value = values[digits] = Decimal(digits.replace("_", "") if "_" in digits else digits)
                col = m.start(j + 3) - at + 1
                end_col = col + len(digits)
                span = Span(file, line, col, line, end_col)
                if minus is None:
                    number = Number(value, digits, span)
                    if column is None:
                        cells.append(Cell(None, number, span))
                        continue
                else:
                    number = Number(-value, "-" + digits, span)
                if column is None:
                    cells.append(Cell(None, number, Span(file, line, m.start(j + 2) - at + 1, line, end_col)))
                    continue
                if column[0] == '"':
                    column = _quoted_value(column)
                    if column is None:
                        return None
                cells.append(Cell(column, number, Span(file, line, m.start(j + 1) - at + 1, line, end_col)))
            rows.append(Row(key, tuple(cells), Span(file, line, m.start(1) - at + 1, line, end_col)))
            comment = g[-1]
            if comment is not None:
                where = m.start(3 * width + 2)
                comments.append(new(_Tok, ("comment", comment, where, line, where - at + 1)))
            at, line = m.end(), line + 1
            continue
        m = line_match(text, at)
        if m is None:
            break
        key = m.group(1)
        if key is not None:
            if key[0] == '"':
                key = _quoted_value(key)
                if key is None:
                    return None
            cells = []
            end_col = 0
            for c in cells_of(text, m.start(2), m.end(2)):
                digits = c.group(3)
                if len(digits) > _SHORT and text_problem(digits):
                    return None
                value = values.get(digits)
                if value is None:
                    value = values[digits] = Decimal(digits.replace("_", "") if "_" in digits else digits)
                col = c.start(3) - at + 1
                end_col = col + len(digits)
                span = Span(file, line, col, line, end_col)
                column = c.group(1)
                if c.group(2) is None:
                    number = Number(value, digits, span)
                    if column is None:
                        cells.append(Cell(None, number, span))
                        continue
                else:
                    number = Number(-value, "-" + digits, span)
                if column is not None and column[0] == '"':
                    column = _quoted_value(column)
                    if column is None:
                        return None
                cells.append(Cell(column, number, Span(file, line, c.start() - at + 1, line, end_col)))
            rows.append(Row(key, tuple(cells), Span(file, line, m.start(1) - at + 1, line, end_col)))
            if len(cells) != width and len(cells) <= _WIDEST:
                width, row_match = len(cells), _row_of(len(cells)).match
        if m.group(3) is not None:
            where = m.start(3)
            comments.append(new(_Tok, ("comment", m.group(3), where, line, where - at + 1)))
        at, line = m.end(), line + 1
    end = _TABLE_END.match(text, at)
    if end is None or 1 + len(keys) + len(rows) > MAX_ENTRIES:
        return None
    brace = end.start(1) - at + 1
    if end.group(2) is not None:
        where = end.start(2)
        comments.append(new(_Tok, ("comment", end.group(2), where, line, where - at + 1)))
    table = A.Table(head.group(1), keys, tuple(rows), Span(file, first_line, 1, line, brace + 1))
    return table, end.end(), comments


_WIDEST = 24  # rows of up to this many cells are read with one match each


@lru_cache(maxsize=8)
def _row_of(width: int) -> re.Pattern:
    """A row of exactly `width` cells alone on its line; groups: the key, then column, minus sign
    and digits of each cell, then the comment."""
    cell = rf"(?:({_WORD}|{_QUOTED}){_W}*)?(?:(-){_W}*)?({_DIGITS})(?![\w.%-])"
    return re.compile(rf"{_W}*({_WORD}|{_QUOTED}){_W}*:{_W}*{cell}" + rf"{_W}*,{_W}*{cell}" * (width - 1)
                      + rf"{_W}*(\#[^\n]*)?\n")


def _quoted_value(quoted: str) -> str | None:
    """A closed STRING's value; None when it has an unknown escape."""
    body = quoted[1:-1]
    if "\\" not in body:
        return body
    value, bad = unescape(body)
    return None if bad is not None else value


def _check_limits(tree: Tree, file: str, line_off: int) -> Diagnostic | None:
    """Nesting depth and entry counts, measured without recursion before the tree is transformed."""
    if len(tree.children) > MAX_ENTRIES:
        return _diag("P121", f"the file has more than {MAX_ENTRIES:,} statements", _meta_span(file, line_off, tree.meta))
    stack = [(tree, 0, 0)]
    while stack:
        node, nesting, depth = stack.pop()
        if node.data in NESTING:
            nesting += 1
        if nesting > MAX_DEPTH:
            return _diag("P120", f"this expression is nested too deeply (more than {MAX_DEPTH} levels)",
                         _meta_span(file, line_off, node.meta), "split it into simpler rules or conditions")
        if depth > MAX_TREE_DEPTH:
            return _diag("P120", f"this expression is too long (more than {MAX_TREE_DEPTH} operations in a row)",
                         _meta_span(file, line_off, node.meta), "split it into simpler rules or conditions")
        if node.data.endswith("_block") and len(node.children) > MAX_ENTRIES:
            return _diag("P121", f"this block has more than {MAX_ENTRIES:,} entries", _meta_span(file, line_off, node.meta))
        stack.extend((c, nesting, depth + 1) for c in node.children if isinstance(c, Tree))
    return None


def _meta_span(file: str, line_off: int, meta) -> A.Span:
    if getattr(meta, "empty", True):
        return A.Span(file, line_off + 1, 1, line_off + 1, 1)
    return A.Span(file, meta.line + line_off, meta.column, meta.end_line + line_off, meta.end_column)

