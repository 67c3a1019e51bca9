"""A byte pre-scan: whether DuckDB's CSV reader reads a file exactly as the row reader does.

DuckDB skips blank lines (the row reader counts them), reads no row numbers, reads quoting
differently from Python's csv module and only UTF-8; so a file goes to DuckDB only when it is
UTF-8 (a BOM allowed), has no quote character, no NUL, no blank line and no CR other than in a CRLF
line end, and its header has as many cells as the row reader's header has columns. Every line
having the header's width is checked by DuckDB itself (strict mode): a line that has not makes
the run fall back too. The scan reads the file in blocks; it is a few C-level passes per block.

It also tells whether any cell may begin or end with a space character (str.isspace(), which the
row reader strips off every cell): where none does, the SQL engine reads the cells as they are and
spares the test of each cell's first and last character (~0.5 s of CPU per million rows of seven
cells, against ~0.1 s for this pass). A space, a tab or another ASCII space character next to a
delimiter or a line break counts; a file with a non-ASCII space character anywhere counts as one
whose cells may need stripping.

Asked to, it hashes the file too (sha256, the manifest's), block by block on a thread of its own
while the scan holds the other core: the hash costs no time of its own (at ten million rows, ~0.3 s
saved of reading the file again once the run is over).
"""
from __future__ import annotations

import codecs
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1 << 24
_BLANK = re.compile(b"\n\r?\n")  # one pass for both forms of a blank line (two `in` tests take ~3x as long)
_ASCII_SPACES = b"\t\x0b\x0c\x1c\x1d\x1e\x1f "  # str.isspace() in ASCII, besides the line breaks
# the UTF-8 bytes of the other characters str.isspace() holds (U+0085, U+00A0, U+1680, U+2000-U+200A, ...)
_WIDE_SPACES = tuple(c.encode("utf-8") for c in "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                     "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_SPACE, _EDGE = b"\x01", b"\x02"


@dataclass(frozen=True)
class Scan:
    reason: str | None  # why DuckDB may not read the file as the row reader does (None: it may)
    edge_spaces: bool = True  # some cell may begin or end with a space character
    sha256: str | None = None  # the file's, when asked for and the scan went to the end


def prescan(path: Path, delimiter: str, width: int) -> str | None:
    """None when DuckDB may read the file, else the reason it may not."""
    return scan(path, delimiter, width, edges=False).reason


def _edges(delimiter: str) -> bytes | None:
    """The table translating an ASCII space character to _SPACE and a cell's edge (the delimiter, a
    line break) to _EDGE, every other byte kept; None for a delimiter of more than one byte."""
    d = delimiter.encode("utf-8")
    if len(d) != 1:
        return None
    table = bytearray(range(256))
    for c in _ASCII_SPACES:
        table[c] = _SPACE[0]
    for c in d + b"\r\n":
        table[c] = _EDGE[0]
    return bytes(table)


def scan(path: Path, delimiter: str, width: int, edges: bool = True, hashed: bool = False) -> Scan:
    """prescan's verdict, whether some cell may begin or end with a space character (without
    `edges`, not looked at: taken as true), and with `hashed` the file's sha256."""
    if not hashed:
        return _scan(path, delimiter, width, edges, None)
    digest = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="points-sha256") as pool:
        found = _scan(path, delimiter, width, edges, (digest, pool))
    return Scan(found.reason, found.edge_spaces, digest.hexdigest()) if found.reason is None else found


def _scan(path: Path, delimiter: str, width: int, edges: bool, hashing) -> Scan:
    hashed = None  # the update of the block before, running (hashlib lets go of the GIL)
    table = _edges(delimiter) if edges else None
    spaced = table is None
    tail = last = b""  # the block before's last two bytes, and its last translated (what spans the blocks' edge)
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    previous_end = b"\n"
    header_checked = False
    head = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK)
            if hashing is not None:
                if hashed is not None:
                    hashed.result()  # the blocks in their order
                hashed = hashing[1].submit(hashing[0].update, block) if block else None
            if not block:
                break
            if first:
                if block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
                first = False
                if block.startswith((b"\n", b"\r\n")):
                    return Scan("a blank line")
            # ASCII is UTF-8 (a test at memory speed), unless a character began in the block before
            if not (block.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    return Scan("the file is not UTF-8")
            if b'"' in block:
                return Scan("a quote character (quoted cells are read by the row engine)")
            if b"\x00" in block:
                return Scan("a NUL character")
            if previous_end.endswith(b"\r") and not block.startswith(b"\n"):
                return Scan("a line break that is a CR alone")
            if _BLANK.search(block) or _BLANK.search(previous_end + block[:2]):
                return Scan("a blank line")
            if b"\r" in block and block.count(b"\r") != block.count(b"\r\n") + (1 if block.endswith(b"\r") else 0):
                return Scan("a line break that is a CR alone")
            if not header_checked:  # the header line, however many blocks it spans
                end = block.find(b"\n")
                head += block if end < 0 else block[:end]
                if end >= 0 or len(block) < BLOCK:
                    header_checked = True
                    if head.rstrip(b"\r").decode("utf-8", "replace").count(delimiter) + 1 != width:
                        return Scan("the header has empty cells at its end")
            if not spaced:
                edges = block.translate(table)
                across = last + edges[:1]  # the pair across the blocks' edge
                spaced = (_SPACE + _EDGE in edges or _EDGE + _SPACE in edges
                          or across in (_SPACE + _EDGE, _EDGE + _SPACE)
                          or (not block.isascii() and any(w in block or w in tail + block[:2] for w in _WIDE_SPACES)))
                last, tail = edges[-1:], block[-2:]
            previous_end = (previous_end + block[-2:])[-2:]  # the stream's last two bytes
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return Scan("the file is not UTF-8")
    if not spaced and last == _SPACE:  # the last cell, without a line break after it
        spaced = True
    return Scan(None, spaced)
