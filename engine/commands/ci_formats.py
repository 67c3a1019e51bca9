"""Findings and example results in the formats CI systems read.

- `github`: workflow commands (`::error file=...,line=...::message`) that GitHub Actions shows as
  annotations on the changed lines. Values are escaped as the runner expects: `%`, CR and LF in
  the message; also `:` and `,` in properties. Control characters are shown as `\\xNN` first, so a
  ruleset cannot smuggle a second command into the log.
- `sarif`: a SARIF 2.1.0 log (one run, one result per finding, the codes as rules with a link to
  their page in docs/errors/) for code-scanning dashboards.
- `junit`: JUnit XML (one test case per example, failures with expected and actual), which most CI
  systems turn into a test report. XML 1.0 cannot carry most control characters, so they are shown
  as `\\xNN` too.

Each function takes the project's own objects (`dsl.errors.Diagnostic`, `engine.examples.ExampleRun`)
and returns text; the commands only print it.
"""
from __future__ import annotations

import json
from typing import Iterable

from dsl.errors import visible_lines
from engine import __version__

DOCS = "docs/errors"


def visible(text: str) -> str:
    """Control characters (other than tab and line feed) escaped as on a terminal (dsl.errors)."""
    return visible_lines(text)


# --- GitHub Actions workflow commands ----------------------------------------------------------


def _gh_data(text: str) -> str:
    return visible(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(level: str, message: str, *, file: str | None = None, line: int | None = None,
                   column: int | None = None, end_line: int | None = None, end_column: int | None = None,
                   title: str | None = None) -> str:
    """One workflow command line, every value escaped."""
    props = []
    for key, value in (("file", file), ("line", line), ("col", column), ("endLine", end_line),
                       ("endColumn", end_column), ("title", title)):
        if value not in (None, "", 0):
            props.append(f"{key}={_gh_property(str(value))}")
    return f"::{level} {','.join(props)}::{_gh_data(message)}" if props else f"::{level}::{_gh_data(message)}"


def github_findings(diags: Iterable) -> str:
    lines = []
    for d in diags:
        s = d.span
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        lines.append(github_command("error" if d.is_error else "warning", message, file=s.file, line=s.line,
                                    column=s.column, end_line=s.end_line, end_column=s.end_column,
                                    title=d.code))
    return "".join(line + "\n" for line in lines)


def github_examples(runs: Iterable) -> str:
    lines = []
    for r in runs:
        if r.passed:
            continue
        span = r.example.span
        lines.append(github_command("error", "\n".join(r.failures), file=span.file, line=span.line,
                                    column=span.column, title=f"example failed: {r.example.name}"))
    return "".join(line + "\n" for line in lines)


# --- SARIF 2.1.0 ----------------------------------------------------------------------------------


def sarif_log(diags: Iterable, *, extra_results: Iterable[dict] = ()) -> dict:
    """A SARIF 2.1.0 log of findings (and, from `points test`, failed examples)."""
    results, rules = [], {}
    for d in diags:
        rules.setdefault(d.code, {"id": d.code, "shortDescription": {"text": d.code},
                                  "help": {"text": f"see {DOCS}/{d.code}.md"}})
        results.append(_sarif_result(d.code, "error" if d.is_error else "warning",
                                     d.message + (f" (hint: {d.hint})" if d.hint else ""), d.span))
    results.extend(extra_results)
    for r in extra_results:
        rules.setdefault(r["ruleId"], {"id": r["ruleId"], "shortDescription": {"text": "an example failed"}})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "points", "version": __version__,
                                "rules": [rules[k] for k in sorted(rules)]}},
            "results": results,
        }],
    }


def _sarif_result(rule_id: str, level: str, message: str, span) -> dict:
    region = {"startLine": max(span.line, 1), "startColumn": max(span.column, 1)}
    if span.end_line >= span.line and span.end_line > 0:
        region["endLine"] = span.end_line
        if span.end_column > 0 and (span.end_line > span.line or span.end_column > span.column):
            region["endColumn"] = span.end_column
    return {
        "ruleId": rule_id, "level": level, "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": span.file}, "region": region}}],
    }


def sarif_examples(runs: Iterable) -> dict:
    extra = [_sarif_result("example", "error", f"example \"{r.example.name}\" ({r.version.name}) failed: "
                           + "; ".join(r.failures), r.example.span)
             for r in runs if not r.passed]
    return sarif_log((), extra_results=extra)


def sarif_text(log: dict) -> str:
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# --- JUnit XML ----------------------------------------------------------------------------------


def junit_examples(runs: list, program_name: str) -> str:
    """JUnit XML: a test suite per version, a test case per example."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name=visible(program_name), tests=str(len(runs)),
                      failures=str(sum(not r.passed for r in runs)))
    suites: dict[str, ET.Element] = {}
    for r in runs:
        suite = suites.get(r.version.name)
        if suite is None:
            mine = [x for x in runs if x.version.name == r.version.name]
            suite = suites[r.version.name] = ET.SubElement(
                root, "testsuite", name=visible(f"{program_name} {r.version.name}"), tests=str(len(mine)),
                failures=str(sum(not x.passed for x in mine)), errors="0", skipped="0")
        case = ET.SubElement(suite, "testcase", name=visible(r.example.name), classname=visible(r.version.name),
                             file=visible(r.example.span.file), line=str(r.example.span.line))
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=visible(r.failures[0]), type="example")
            failure.text = visible("\n".join([r.where, *r.failures]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
