"""A byte pre-scan: whether DuckDB's CSV reader reads a file exactly as the row reader does.

DuckDB skips blank lines (the row reader counts them), reads no row numbers, reads quoting
differently from Python's csv module and only UTF-8; so a file goes to DuckDB only when it is
UTF-8 (a BOM allowed), has no quote character, no NUL, no blank line and no CR other than in a CRLF
line end, and its header has as many cells as the row reader's header has columns. Every line
having the header's width is checked by DuckDB itself (strict mode): a line that has not makes
the run fall back too. The scan reads the file in blocks; it is a few C-level passes per block.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path

BLOCK = 1 << 24
_BLANK = re.compile(b"\n\r?\n")  # one pass for both forms of a blank line (two `in` tests take ~3x as long)


def prescan(path: Path, delimiter: str, width: int) -> str | None:
    """None when DuckDB may read the file, else the reason it may not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    previous_end = b"\n"
    header_checked = False
    head = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK)
            if not block:
                break
            if first:
                if block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
                first = False
                if block.startswith((b"\n", b"\r\n")):
                    return "a blank line"
            # ASCII is UTF-8 (a test at memory speed), unless a character began in the block before
            if not (block.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    return "the file is not UTF-8"
            if b'"' in block:
                return "a quote character (quoted cells are read by the row engine)"
            if b"\x00" in block:
                return "a NUL character"
            if previous_end.endswith(b"\r") and not block.startswith(b"\n"):
                return "a line break that is a CR alone"
            if _BLANK.search(block) or _BLANK.search(previous_end + block[:2]):
                return "a blank line"
            if b"\r" in block and block.count(b"\r") != block.count(b"\r\n") + (1 if block.endswith(b"\r") else 0):
                return "a line break that is a CR alone"
            if not header_checked:  # the header line, however many blocks it spans
                end = block.find(b"\n")
                head += block if end < 0 else block[:end]
                if end >= 0 or len(block) < BLOCK:
                    header_checked = True
                    if head.rstrip(b"\r").decode("utf-8", "replace").count(delimiter) + 1 != width:
                        return "the header has empty cells at its end"
            previous_end = (previous_end + block[-2:])[-2:]  # the stream's last two bytes
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "the file is not UTF-8"
    return None
