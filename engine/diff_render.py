"""Rendering a ruleset diff: grouped text for a terminal (rich), and JSON for scripts.

Design:
- One renderer for people: `render_diff_text` builds a `rich.text.Text`; a terminal prints it in
  colour and `.plain` is the same text without styles (what tests, files and pipes get), so the
  coloured and plain outputs cannot drift apart.
- Edits are grouped by area in the diff's own order; each line is `describe()` with the place on
  both sides (`file:line`, `-` on the side where the item is absent), because the reader's next
  step is opening the file at that line.
- Changes in meaning come first; header names and dates and examples follow under a separate
  heading, so "no changes in meaning" and a list of renamed examples can both be true.
- Values in the text (names, keys, strings, file names) are shown with control characters escaped
  (engine.terminal); the text is built as `Text`, never as markup, so brackets in a value stay text.
- JSON is deterministic: the edits in the diff's order, each object built with a fixed key order;
  spans as {"file", "line", "column"}.
"""
from __future__ import annotations

from rich.text import Text

from dsl.ast import Span

from .diff import Edit, RulesetDiff, rule_changes_by_id
from .highlighting import code_text
from .terminal import visible

_MARK = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}


def _place(span: Span | None) -> str:
    return f"{span.file}:{span.line}" if span is not None else "-"


def _edit_line(edit: Edit) -> Text:
    mark, style = _MARK[edit.kind]
    line = Text("  ")
    line.append(f"{mark} ", style=style)
    line.append_text(code_text(edit.describe()))
    line.append(visible(f"  ({_place(edit.old_span)} | {_place(edit.new_span)})"), style="dim")
    return line


def _grouped(edits: tuple[Edit, ...]) -> list[Text]:
    lines: list[Text] = []
    area = None
    for edit in edits:
        if edit.area != area:
            area = edit.area
            lines.append(Text(area, style="bold"))
        lines.append(_edit_line(edit))
    return lines


EXAMPLES_SHOWN = 5


def _informational(edits: tuple[Edit, ...], verbose: bool) -> list[Text]:
    """Header and example edits; many example edits are summarised unless `verbose`."""
    examples = [e for e in edits if e.area == "example"]
    if verbose or len(examples) <= EXAMPLES_SHOWN:
        return _grouped(edits)
    lines = _grouped(tuple(e for e in edits if e.area != "example"))
    kinds = {k: sum(1 for e in examples if e.kind == k) for k in ("added", "removed", "changed")}
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    lines.append(Text("example", style="bold"))
    lines.append(Text(f"  {summary} (--verbose lists them)", style="dim"))
    return lines


def render_diff_text(diff: RulesetDiff, old_label: str, new_label: str, verbose: bool = False) -> Text:
    """The diff for a person: a title, edits grouped by area with `file:line` on both sides."""
    lines = [Text(visible(f"{old_label} -> {new_label}"), style="bold underline")]
    meaningful, informational = diff.meaningful, diff.informational
    if meaningful:
        count = len(meaningful)
        lines.append(Text(f"{count} change{'s' if count != 1 else ''} in meaning"))
        lines.extend(_grouped(meaningful))
    else:
        lines.append(Text("no changes in meaning", style="green"))
    if informational:
        lines.append(Text("not changing meaning (names, dates, examples):", style="italic"))
        lines.extend(_informational(informational, verbose))
    return Text("\n").join(lines)


def _span_json(span: Span | None) -> dict | None:
    return None if span is None else {"file": span.file, "line": span.line, "column": span.column}


def edit_to_json(edit: Edit) -> dict:
    """One edit as a JSON object (its `describe()` line included as `text`)."""
    return {
        "kind": edit.kind, "area": edit.area, "key": list(edit.key),
        "old": edit.old, "new": edit.new,
        "old_span": _span_json(edit.old_span), "new_span": _span_json(edit.new_span),
        "meaningful": edit.meaningful, "text": edit.describe(),
    }


def diff_to_json(diff: RulesetDiff) -> dict:
    """The diff as a JSON-ready dict: `equal`, the edits in order, and the rules each touches."""
    return {
        "equal": diff.equal,
        "changes_in_meaning": len(diff.meaningful),
        "edits": [edit_to_json(e) for e in diff.edits],
        "rules_changed": sorted(rule_changes_by_id(diff)),
    }
