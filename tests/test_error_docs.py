"""docs/errors/ documents every diagnostic code, and the P1xx and V4xx pages show real output.

A page's `## Example` section (up to the next `## ` heading) follows these conventions:
- `<!-- file: PATH -->` before a fenced block makes that block the file PATH (relative to a fresh
  folder). Without any such marker, the section's first fenced block is the file `example.rules`.
- `<!-- check: PATH -->` names the path that is checked; a trailing `/` marks a folder, created when
  no file is written into it. Without the marker the one file written is checked. A page with a
  check marker and no file marker writes no file (V401: an empty folder).
- The first line of the section reading `error CODE: message` or `warning CODE: message` (a
  `file:line:col: ` prefix is allowed) is the headline: checking the example must produce it verbatim.
- An example that cannot be written as text (a NUL byte, 20,001 lines) is built by GENERATED, and
  its page shows the shell command that builds the same file.

Checking means `engine.program.load_program`, which `points check` runs on every path it is given;
the working directory is the fresh folder, so file names in messages read as on the page.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsl.errors import RulesetError
from engine.program import load_program

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "errors"
SOURCES = ("dsl/*.py", "engine/*.py", "engine/commands/*.py")
CODE_IN_SOURCE = re.compile(r"""["']([PNWVC]\d{3})["']""")
PAGE_NAME = re.compile(r"^[PNWVC]\d{3}\.md$")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!--\s*(file|check):\s*(\S+)\s*-->")
HEADLINE = re.compile(r"^(?:\S+:\d+:\d+: )?((?:error|warning) ([PNWVC]\d{3}): .*)$", re.M)

GENERATED = {
    "P121": ("huge.rules", "period month\n" * 20_001),
    "P130": ("bin.rules", 'program "P"\n\x00'),
}


def source_codes() -> set[str]:
    """Every code the engine can report, as written in its source."""
    codes = set()
    for pattern in SOURCES:
        for path in ROOT.glob(pattern):
            codes |= set(CODE_IN_SOURCE.findall(path.read_text(encoding="utf-8")))
    return codes


def page_codes() -> set[str]:
    """The codes that have a page."""
    return {p.stem for p in DOCS.iterdir() if PAGE_NAME.match(p.name)}


def example_section(text: str) -> str:
    """The text of `## Example` up to the next second-level heading ("" when there is none)."""
    match = re.search(r"^## Example\s*$(.*?)(?=^## |\Z)", text, re.S | re.M)
    return match.group(1) if match else ""


def example_files(section: str) -> tuple[dict[str, str], str | None]:
    """The files an example section defines (path -> text) and its explicit check path."""
    files: dict[str, str] = {}
    check, pending = None, None
    pos = 0
    while True:
        marker, fence = MARKER.search(section, pos), FENCE.search(section, pos)
        if marker and (not fence or marker.start() < fence.start()):
            kind, value = marker.groups()
            if kind == "check":
                check = value
            else:
                pending = value
            pos = marker.end()
        elif fence:
            if pending:
                files[pending] = fence.group(1)
                pending = None
            pos = fence.end()
        else:
            break
    if not files and check is None:
        fence = FENCE.search(section)
        if fence:
            files["example.rules"] = fence.group(1)
    return files, check


def headline(section: str, code: str) -> str:
    """The first `severity CODE: message` line of the section, without a location prefix."""
    for match in HEADLINE.finditer(section):
        if match.group(2) == code:
            return match.group(1)
    raise AssertionError(f"docs/errors/{code}.md: no `error {code}:` or `warning {code}:` line under ## Example")


def checked_headlines(folder: Path, files: dict[str, str], check: str | None, monkeypatch) -> list[str]:
    """Write the files under `folder`, load the checked path there, and return every finding's headline."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    if check is None:
        assert len(files) == 1, "several example files need a `<!-- check: PATH -->` marker"
        check = next(iter(files))
    if check.endswith("/"):
        (folder / check).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    try:
        findings = load_program(check.rstrip("/")).warnings
    except RulesetError as err:
        findings = err.diagnostics
    return [f"{d.severity} {d.code}: {d.message}" for d in findings]


# --------------------------------------------------------------------------- every code has a page


def test_every_code_in_the_source_has_a_page():
    missing = source_codes() - page_codes()
    assert not missing, f"codes without a page in docs/errors/: {sorted(missing)}"


def test_every_page_documents_a_code_of_the_source():
    orphans = page_codes() - source_codes()
    assert not orphans, f"pages for codes the source never reports: {sorted(orphans)}"


def test_the_source_scan_finds_every_family():
    # guards the scan itself: a broken glob or regex would make the two tests above pass vacuously
    assert {c[0] for c in source_codes()} == set("PNWVC")


def test_every_page_is_listed_in_the_index_and_every_link_has_a_page():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\[([PNWVC]\d{3})\]\(\1\.md\)", index))
    assert page_codes() - listed == set(), "pages missing from docs/errors/README.md"
    assert listed - page_codes() == set(), "docs/errors/README.md links to pages that do not exist"


@pytest.mark.parametrize("code", sorted(page_codes()))
def test_page_title_and_severity_match_the_index(code):
    text = (DOCS / f"{code}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {code}: "), "a page starts with `# CODE: short meaning`"
    severity = re.search(r"^Severity: (error|warning)\.$", text, re.M)
    assert severity, "a page says `Severity: error.` or `Severity: warning.`"
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| \[{code}\]\({code}\.md\) \| (\w+) \|", index, re.M)
    assert row and row.group(1) == severity.group(1)


# --------------------------------------------------------------------------- examples give their headline


@pytest.mark.parametrize("code", sorted(c for c in page_codes() if c[0] in "PV"))
def test_example_gives_the_headline_on_its_page(code, tmp_path, monkeypatch):
    section = example_section((DOCS / f"{code}.md").read_text(encoding="utf-8"))
    expected = headline(section, code)
    if code in GENERATED:
        name, text = GENERATED[code]
        files, check = {name: text}, None
    else:
        files, check = example_files(section)
        assert files or check, f"docs/errors/{code}.md: no example under ## Example"
    found = checked_headlines(tmp_path, files, check, monkeypatch)
    assert expected in found, f"docs/errors/{code}.md quotes\n  {expected}\nbut checking its example gives\n  " \
        + "\n  ".join(found or ["no finding"])


def test_markers_assign_blocks_to_files_and_a_wrong_headline_is_caught(tmp_path, monkeypatch):
    section = (
        "\n<!-- file: prog/a.rules -->\n`prog/a.rules`:\n\n```\nperiod years\n```\n\n"
        "```\nnot a file\n```\n<!-- check: prog -->\ngives\n\n```\nerror P112: unknown period `yeers`\n```\n"
    )
    files, check = example_files(section)
    assert files == {"prog/a.rules": "period years\n"} and check == "prog"
    found = checked_headlines(tmp_path, files, check, monkeypatch)
    assert found == ["error P112: unknown period `years`"]
    assert headline(section, "P112") not in found
