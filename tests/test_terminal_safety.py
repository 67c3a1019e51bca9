"""Values from files are data on a terminal: hostile ids, names and cells through every command.

Contract, partner and product ids, legacy statuses, quality cells and ruleset names carry terminal
escapes (ESC[2J, an OSC title, ESC[6n, C1 CSI 0x9b, NUL, DEL, a bidi override) and rich markup
(`[/]`, `[link=...]`, `[bold]`). Every command that prints them runs twice: with a plain stdout, and
with rich and click believing they write to a terminal. Each run must end with its usual exit code
(never 3), print no raw control character from the data and no hyperlink, and show the hostile
values visibly (escaped) where they belong.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.terminal import markup, visible, visible_lines

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rulesets" / "o2-business"

PAYLOADS = [
    "\x1b[2J",                                # clear the screen
    "\x1b]0;pwned\x07",                       # OSC: set the window title, BEL
    "\x1b[6n",                                # ask the terminal to type its cursor position
    "\x9b31m",                                # C1 CSI
    "[/]",                                    # a closing tag with nothing open: MarkupError
    "[link=http://evil.example]x[/link]",     # a hyperlink
    "[bold]",
    "a\u202eb\x7f",                           # bidi override, DEL
    "n\x00ul",                                # NUL (the readers let it through)
]
PROGRAM_NAME = "O2 \x1b[2J[/] [link=http://evil.example]x[/link]"
RULE = "Mobile \x1b]0;t\x07[/] tariffs"
LEGACY_STATUS = "Gold \x9b[bold]"
KPI = "Low \x1b[6n[/] usage"
EXAMPLE_NAME = "a new \x1b[2J[/] M line earns 140"
TABLE_KEY = "O2 \x1b[6n[/]M"
COMMENT = "# \x1b]0;comment\x07 [/] \x9b"

# What the project itself writes on a terminal: colours (SGR) and the progress display's cursor
# control. Anything else starting with ESC, and any C1 or BEL, came from data.
OWN_SEQUENCES = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[hl]|\x1b\[2K|\x1b\[[0-9]*[ABG]")
RAW = ("\x1b", "\x9b", "\x07", "\x00", "\x7f", "\u202e")


def _hostile_program(folder: Path) -> Path:
    folder.mkdir()
    for source in sorted(EXAMPLE.glob("*.rules")):
        text = source.read_text(encoding="utf-8")
        for old, new in (('program "O2 Business Partner Program"', f'program "{PROGRAM_NAME}"'),
                         ('rule "Mobile tariffs"', f'rule "{RULE}"'),
                         ('legacy "Gold"', f'legacy "{LEGACY_STATUS}"'),
                         ('kpi "Low usage"', f'kpi "{KPI}"')):
            assert text.count(old) == 1, (source.name, old)
            text = text.replace(old, new)
        if source.name == "2016-03.rules":  # a table key and examples only the first version has
            old = '  "O2 Business XL":    new 340, existing 140\n'
            assert text.count(old) == 1
            text = text.replace(old, old + f'  "{TABLE_KEY}": new 7, existing 3\n')
            text = text.replace('example "a new M line earns 140"', f'example "{EXAMPLE_NAME}"')
            text += (f'\nexample "{PAYLOADS[4]} fails {PAYLOADS[0]}" {{\n'
                     f'  contract {{ product: "{TABLE_KEY}", customer: new }}\n  expect 8 points\n}}\n')
        (folder / source.name).write_text(text, encoding="utf-8")
    return folder


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    program = _hostile_program(base / "program")
    contracts, quality, legacy = [], [], []
    for i, h in enumerate(PAYLOADS):
        day = f"{i + 1:02d}"
        contracts += [
            [f"C-{h}", f"P-{h}", f"name {h}", f"2016-05-{day}", "O2 Business M", "new", 60, "", f"rep {h}"],
            [f"K-{h}", f"P-{h}", f"name {h}", f"2016-06-{day}", TABLE_KEY, "new", 1, "", ""],
            [f"E-{h}", f"P-{h}", f"name {h}", f"2017-05-{day}", "O2 Business XL", "existing", 5, "", ""],
            [f"U-{h}", f"P-{h}", f"name {h}", f"2017-06-{day}", f"Prod {h}", "new", 1, "", ""],
            [f"R-{h}", f"P-{h}", f"name {h}", f"2017-07-{day}", "O2 Business M", f"c{h}", 1, "", ""],
        ]
        legacy.append([f"P-{h}", LEGACY_STATUS if i % 2 else "Premium"])
        for month in ("02", "05", "08"):  # three quarters in a row with low usage: a sustained finding
            quality += [[f"P-{h}", f"C-{h}", f"2016-{month}-{n + 1:02d}", "false", "10", "false"] for n in range(5)]
        quality.append([f"P-{h}", f"Q-{h}", "2016-03-01", "false", f"9{h}", "false"])  # rejected, quoted
    header = ["contract_id", "partner_id", "partner_name", "signed", "product", "customer", "quantity", "pool_gb",
              "sales_rep"]
    broken = base / "broken.rules"
    text = (EXAMPLE / "2016-03.rules").read_text(encoding="utf-8")
    text = text.replace("when product in fixed_line", f"when prodct in fixed_line  {COMMENT}")
    broken.write_text(text, encoding="utf-8")
    unformatted = base / "unformatted.rules"
    unformatted.write_text((program / "2016-03.rules").read_text(encoding="utf-8")
                           .replace(f'rule "{RULE}" {{', f'rule   "{RULE}"   {{'), encoding="utf-8")
    bad_legacy = _write_csv(base / "bad_legacy.csv", ["partner_id", "status"], [[f"P-{PAYLOADS[0]}", "Plat\x1b[2Jinum"]])
    bad_header = _write_csv(base / "bad_header.csv", [f"contrakt_id{PAYLOADS[0]}{PAYLOADS[4]}", "partner_id", "signed",
                                                      "product"], [["C-1", "P-1", "2016-05-01", "O2 Business M"]])
    return {
        "bad_header": str(bad_header),
        "program": str(program), "broken": str(broken), "unformatted": str(unformatted),
        "data": str(_write_csv(base / f"contracts {PAYLOADS[6]} {PAYLOADS[0]}.csv", header, contracts)),
        "legacy": str(_write_csv(base / "legacy.csv", ["partner_id", "status"], legacy)),
        "bad_legacy": str(bad_legacy),
        "quality": str(_write_csv(base / "quality.csv", ["partner_id", "contract_id", "reported", "missed_payment",
                                                         "usage_pct", "cancelled"], quality)),
        "out": base / "out",
    }


def _commands(w) -> list[tuple[str, list[str], int, list[str]]]:
    """(name, argv, exit code, strings that must appear, shown visibly) for every command that prints data."""
    P, D, L = w["program"], w["data"], w["legacy"]
    old, new = f"{P}@2016.03", f"{P}@2017.01"
    every = PAYLOADS
    cmds = [
        ("check --data", ["check", P, "--data", D], 0, [f"Prod {h}" for h in every]),
        ("check broken", ["check", w["broken"]], 1, [COMMENT, "prodct"]),
        ("versions", ["versions", P], 0, [PROGRAM_NAME]),
        ("show", ["show", P, "--version", "2016.03"], 0, [PROGRAM_NAME, RULE, LEGACY_STATUS, KPI, TABLE_KEY]),
        ("evaluate", ["evaluate", P, D, "--out", str(w["out"])], 0, [PROGRAM_NAME, D]),
        ("evaluate --strict", ["evaluate", P, D, "--strict"], 1, [PROGRAM_NAME]),
        ("test", ["test", P, "--verbose"], 1, [EXAMPLE_NAME, f"{PAYLOADS[4]} fails {PAYLOADS[0]}", TABLE_KEY]),
        ("fmt --check", ["fmt", "--check", w["unformatted"]], 1, [RULE]),
        ("diff", ["diff", old, new], 1, [TABLE_KEY]),
        ("diff --impact", ["diff", old, new, "--impact", D], 1, [TABLE_KEY] + [f"P-{h}" for h in every]),
        ("status", ["status", P, D, "--legacy", L], 0, [PROGRAM_NAME] + [f"P-{h}" for h in every]),
        ("quality", ["quality", P, w["quality"], "--contracts", D], 0, [KPI] + [f"P-{h}" for h in every] + [f"9{h}" for h in every]),
        ("quality --flagged", ["quality", P, w["quality"], "--contracts", D, "--flagged"], 0, [KPI, f"P-{every[5]}"]),
        ("unknown contract", ["explain", P, D, "--contract", f"nope{every[0]}{every[4]}"], 2, [f"nope{every[0]}{every[4]}"]),
        ("bad header", ["evaluate", P, w["bad_header"]], 2, [f"contrakt_id{every[0]}{every[4]}"]),
        ("bad legacy", ["status", P, D, "--legacy", w["bad_legacy"]], 2, ["Plat\x1b[2Jinum"]),
    ]
    for i, h in enumerate(every):  # each hostile id through explain twice, the variants spread over them
        variant = i % 5
        if variant == 0:
            cmds.append((f"explain --contract {i}", ["explain", P, D, "--contract", f"C-{h}"], 0,
                         [f"C-{h}", f"P-{h}", RULE]))
        elif variant == 1:
            cmds.append((f"explain --full {i}", ["explain", P, D, "--contract", f"K-{h}", "--full"], 0,
                         [f"K-{h}", f"P-{h}", TABLE_KEY, RULE]))
        elif variant == 2:
            cmds.append((f"explain --why-not {i}", ["explain", P, D, "--contract", f"U-{h}", "--why-not", RULE], 0,
                         [RULE, f"Prod {h}"]))
        elif variant == 3:
            cmds.append((f"explain --row {i}", ["explain", P, D, "--row", str(5 * i + 3)], 0, [f"K-{h}", f"P-{h}", RULE]))
        else:
            cmds.append((f"diff --partner {i}", ["diff", old, new, "--impact", D, "--partner", f"P-{h}"], 1,
                         [f"P-{h}", f"C-{h}", f"K-{h}", f"E-{h}"]))
        variant = i % 3
        if variant < 2:
            cmds.append((f"explain --partner {i}", ["explain", P, D, "--partner", f"P-{h}", "--period", "2016",
                                                    "--legacy", L] + (["--full"] if variant else []), 0,
                         [f"P-{h}", f"C-{h}", f"K-{h}", RULE]))
        else:
            cmds.append((f"explain --side-by-side {i}", ["explain", P, D, "--partner", f"P-{h}", "--side-by-side",
                                                         "2016.03", "2017.01"], 0, [f"P-{h}", f"C-{h}", f"E-{h}"]))
    return cmds


def _run(capsys, argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["pipe", "terminal"])
def mode(request, monkeypatch):
    """Run as with a pipe, or with rich and click sure that stdout and stderr are a terminal."""
    if request.param == "terminal":
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", "400")
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("COLUMNS", "400")  # piped output follows COLUMNS: wide enough for whole values
    return request.param


def test_hostile_values_through_every_command(world, capsys, monkeypatch, mode):
    if mode == "terminal":
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    problems = []
    for name, argv, expected, shown in _commands(world):
        code, out, err = _run(capsys, argv)
        both = out + err
        if code != expected:
            problems.append(f"{name}: exit {code}, expected {expected}: {err[-300:]!r}")
        if "Traceback" in both or "internal error" in both:
            problems.append(f"{name}: internal error: {err[-300:]!r}")
        rest = OWN_SEQUENCES.sub("", both) if mode == "terminal" else both
        raw = sorted({repr(c) for c in RAW if c in rest})
        if raw:
            problems.append(f"{name}: raw {', '.join(raw)} in the output")
        if "]8;" in both:
            problems.append(f"{name}: a hyperlink in the output")
        plain = OWN_SEQUENCES.sub("", both)
        missing = [visible(s) for s in shown if visible(s) not in plain]
        if missing:
            problems.append(f"{name}: not shown visibly: {missing}")
    assert not problems, "\n".join(problems)


def test_terminal_mode_really_is_a_terminal(world, capsys, monkeypatch, mode):
    """The forced run is coloured and the plain run is not: the two modes test different paths."""
    if mode == "terminal":
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _, out, _ = _run(capsys, ["explain", world["program"], world["data"], "--contract", f"C-{PAYLOADS[0]}"])
    assert ("\x1b[" in out) == (mode == "terminal")
    assert "C-\\x1b[2J" in out


def test_json_output_stays_exact(world, capsys):
    """--json is not for a terminal: the values come back exactly as they were in the file."""
    for h in PAYLOADS:
        code, out, _ = _run(capsys, ["explain", world["program"], world["data"], "--contract", f"C-{h}", "--json"])
        assert code == 0
        data = json.loads(out)
        assert data["contract"]["contract_id"] == f"C-{h}" and data["contract"]["partner_id"] == f"P-{h}"
        assert data["rules"][0]["rule"] == RULE
    code, out, _ = _run(capsys, ["check", world["program"], "--data", world["data"], "--json"])
    assert code == 0 and {f"Prod {h}" for h in PAYLOADS} <= {u["product"] for u in json.loads(out)["uncovered"]}
    code, _, err = _run(capsys, ["explain", world["program"], world["data"], "--contract", "nope\x1b[2J", "--json"])
    assert code == 2 and "nope\x1b[2J" in json.loads(err)["error"]


def test_visible_escapes_every_control_and_nothing_else():
    assert visible("C-\x1b[2J\x9b\x00\x7f\u202e\u2066\u2028\n\r\t") == \
        "C-\\x1b[2J\\u009b\\x00\\x7f\\u202e\\u2066\\u2028\\n\\r\\t"
    assert visible_lines("a\x1b\nb\tc\r") == "a\\x1b\nb\tc\\r"
    for ok in ("Telefónica — O2 Business M", "Krüger & Söhne", "日本", "[/]", "€ 1.234,50", "emoji 👍🏽"):
        assert visible(ok) == ok
    assert markup("[/] [link=http://evil.example]x[/link]") == "\\[/] \\[link=http://evil.example]x\\[/link]"
    assert visible(12) == "12"


def test_caret_stays_under_the_span_when_the_line_has_controls():
    from dsl.ast import Span
    from dsl.errors import source_excerpt

    line = 'rule "a\x1b[2J\x9bb" { when prodct in x }'
    col = line.index("prodct") + 1
    shown_line, caret = source_excerpt(line, Span("f.rules", 1, col, 1, col + 6))
    assert "\x1b" not in shown_line and "\x9b" not in shown_line
    assert shown_line[caret.index("^"):][:6] == "prodct" and caret.count("^") == 6
    col = line.index("\x1b") + 1  # a span over the control characters covers their escapes
    shown_line, caret = source_excerpt(line, Span("f.rules", 1, col, 1, col + 5))
    assert shown_line[caret.index("^"): caret.rindex("^") + 1] == "\\x1b[2J\\u009b"


ENCODINGS = [
    {"PYTHONIOENCODING": "ascii"},
    {"PYTHONIOENCODING": "latin-1"},
    {"LC_ALL": "C", "LANG": "C"},
    {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},  # a real ascii locale
]


@pytest.mark.parametrize("env", ENCODINGS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_a_stdout_without_utf8_never_fails(tmp_path, env):
    """evaluate prints its summary (a "—", box lines) and an error names a non-ASCII file."""
    data = tmp_path / "contracts.csv"
    data.write_text("".join((ROOT / "examples" / "contracts.csv").open(encoding="utf-8").readlines()[:60]),
                    encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO", "PYTHONUTF8"))}
    run = lambda *argv: subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True,  # noqa: E731
                                       env=base | env, cwd=ROOT)
    proc = run("evaluate", str(EXAMPLE), str(data), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert b"O2 Business Partner Program" in proc.stdout and b"Traceback" not in proc.stderr
    assert (tmp_path / "out" / "manifest.json").exists()
    proc = run("evaluate", str(EXAMPLE), str(tmp_path / "Verträge—2016.csv"))
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr and b"Vertr" in proc.stderr
    if env.get("PYTHONIOENCODING") == "ascii":  # a tree with its guides and arrows
        proc = run("explain", str(EXAMPLE), str(data), "--partner", "P-008", "--period", "2016")
        assert proc.returncode == 0 and b"P-008" in proc.stdout and b"Traceback" not in proc.stderr
