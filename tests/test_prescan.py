"""The byte pre-scan reads a file in blocks (and may hash them, the manifest's sha256 of the file); whether it lets a file through, and whether it finds a
cell that may begin or end with a space, must not depend on where a block ends (a blank line, a CR
alone, a UTF-8 character, a space beside a delimiter or the header cut at a block's edge).
Which reason it names for a file with several faults may (the first fault of the first block that
shows one)."""
from __future__ import annotations

import hashlib

from hypothesis import given, settings, strategies as st

from engine.sql import prescan as pre

PIECES = st.sampled_from([b"a", b"b,c", b",", b"\n", b"\r\n", b"\r", b"\xc3\xa9", b"\xe2\x82\xac", b"\xff", b'"',
                          b"\x00", b"\xef\xbb\xbf", b" ", b"\t", b"\xc2\xa0"])


@settings(max_examples=400, deadline=None)
@given(body=st.lists(PIECES, max_size=24), block=st.integers(1, 9))
def test_the_verdict_does_not_depend_on_the_block_size(tmp_path_factory, body, block):
    path = tmp_path_factory.mktemp("scan") / "x.csv"
    path.write_bytes(b"a,b\n" + b"".join(body))
    whole = pre.scan(path, ",", 2)
    saved = pre.BLOCK
    pre.BLOCK = block
    try:
        again = pre.scan(path, ",", 2, hashed=True)  # the hash taken block by block beside the scan
    finally:
        pre.BLOCK = saved
    assert (again.reason is None) == (whole.reason is None)
    assert pre.prescan(path, ",", 2) == whole.reason
    assert whole.sha256 is None
    assert again.sha256 == (hashlib.sha256(path.read_bytes()).hexdigest() if again.reason is None else None)
    if whole.reason is None:  # and whether a cell may begin or end with a space character
        assert again.edge_spaces == whole.edge_spaces
        if not whole.edge_spaces:  # the promise: no cell the row reader sees has spaces to strip
            text = path.read_bytes().decode("utf-8-sig")
            cells = [c for line in text.splitlines()[1:] for c in line.split(",")]
            assert all(c == c.strip() for c in cells), cells


def test_what_it_refuses(tmp_path):
    cases = {b"a,b\n1,2\n\n3,4\n": "a blank line", b"a,b\n1,2\r\n\r\n": "a blank line",
             b"a,b\n1,2\r3,4\n": "a line break that is a CR alone", b"a,b\n\xe9,1\n": "the file is not UTF-8",
             b'a,b\n"1",2\n': "a quote character (quoted cells are read by the row engine)",
             b"a,b\n1,\x00\n": "a NUL character", b"a,b\n1,2\n3,4": None, b"\xef\xbb\xbfa,b\r\n1,\xc3\xa9\r\n": None}
    for n, (data, reason) in enumerate(cases.items()):
        path = tmp_path / f"{n}.csv"
        path.write_bytes(data)
        assert pre.prescan(path, ",", 2) == reason, data


def test_cells_that_need_stripping(tmp_path):
    cases = {b"a,b\n1,2\n3,4\n": False, b"a,b\r\n1,2\r\n": False, b"a,b\n1 x,2\n": False,
             b"a,b\n1 ,2\n": True, b"a,b\n1, 2\n": True, b"a,b\n 1,2\n": True, b"a,b\n1,2 \n": True,
             b"a,b\n1,2 \r\n": True, b"a,b\n1,2 ": True, b"a,b\n1,\t2\n": True, b"a,b\n1,2\x0b\n": True,
             b"a,b\n1,\xc2\xa0\n": True, b"a,b\n1,x\xe2\x80\x83y\n": True, b"a,b\n\xc3\xa9,\xe2\x82\xac\n": False,
             b"a,b\n1,   \n": True}
    for n, (data, spaced) in enumerate(cases.items()):
        path = tmp_path / f"{n}.csv"
        path.write_bytes(data)
        assert pre.scan(path, ",", 2) == pre.Scan(None, spaced), data
    tabbed = tmp_path / "tabbed.csv"
    tabbed.write_bytes(b"a\tb\n1\t2\n")  # the delimiter is no space in a cell
    assert pre.scan(tabbed, "\t", 2) == pre.Scan(None, False)
    tabbed.write_bytes(b"a\tb\n1 \t2\n")
    assert pre.scan(tabbed, "\t", 2) == pre.Scan(None, True)
