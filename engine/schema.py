"""The JSON Schema (draft 2020-12) of one typed record, generated from an input block.

Design:
- The schema describes a record as a JSON Lines export writes it, and `engine.validate`'s
  `RowValidator.convert` accepts exactly the records it accepts (a property test holds them
  together). It is what `points schema` prints, so its key order is fixed and it holds only
  JSON-serialisable values (a decimal default is an int or float when that is exact, else a
  string, which the decimal type accepts too).
- A field that is not required may be absent or `null`; a required text must hold a
  non-space character (a blank text counts as missing).
- A decimal is a JSON number or a string of digits (so an exporter can keep it exact).
- What JSON Schema cannot say is left to the engine and written in each field's description:
  bounds of a decimal written as a string, bounds of a date, and `unique` (which spans records).
  The engine also rejects decimals beyond 1e40 in size (see `engine.validate`).
- Extra columns are allowed: exports carry more than the ruleset reads.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from dsl.ast import FieldDecl, InputBlock

from dsl.formatter import format_cond

from .validate import DECIMAL_PATTERN, ISO_DATE_IN_RANGE_PATTERN, STRICT_DECIMAL_PATTERN, literal_value, resolved, typed_default

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_BOUND_KEYS = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}
_JSON_TYPES = {"text": "string", "integer": "integer", "boolean": "boolean"}


def json_schema(block: InputBlock, title: str | None = None) -> dict:
    """The JSON Schema of one record of `block`, keys in a fixed order."""
    return {
        "$schema": DRAFT,
        "title": title or f"input {block.name}",
        "description": f"One {block.name} record as a JSON Lines export writes it.",
        "type": "object",
        "properties": {f.name: field_schema(resolved(block, f)) for f in block.fields},
        "required": [f.name for f in block.fields if f.required and f.default is None],
        "additionalProperties": True,
    }


def field_schema(decl: FieldDecl) -> dict:
    """The schema of one field's value."""
    out: dict = {"description": describe(decl)}
    nullable = not (decl.required and decl.default is None)
    if decl.kind == "decimal":
        pattern = STRICT_DECIMAL_PATTERN if decl.numbers == "strict" else DECIMAL_PATTERN
        branches = [{"type": "number", **_bounds(decl)}, {"type": "string", "pattern": pattern}]
        out["anyOf"] = branches + ([{"type": "null"}] if nullable else [])
    elif decl.kind == "choice":
        out["enum"] = list(decl.choices) + ([None] if nullable else [])
    elif decl.kind == "date":
        out["type"] = ["string", "null"] if nullable else "string"
        out["format"] = "date"
        out["pattern"] = ISO_DATE_IN_RANGE_PATTERN  # dates from 1900-01-01 to 2999-12-31
    else:
        kind = _JSON_TYPES[decl.kind]
        out["type"] = [kind, "null"] if nullable else kind
        if decl.kind == "text" and not nullable:
            out["pattern"] = r"\S"
        out.update(_bounds(decl) if decl.kind == "integer" else {})
    if decl.default is not None:
        out["default"] = _json_value(typed_default(decl))
    return out


def describe(decl: FieldDecl) -> str:
    """The declaration in the ruleset's words: `integer >= 1, default 1`."""
    kind = f"one of ({', '.join(decl.choices)})" if decl.kind == "choice" else decl.kind
    for bound in decl.bounds:
        kind += f" {bound.op} {_plain(literal_value(bound.value))}"
    parts = [kind]
    parts += ["required"] if decl.required else []
    if decl.required_when is not None:
        parts.append(f"required when ({format_cond(decl.required_when)})")
    parts += [f"{w.bound.op} {_plain(literal_value(w.bound.value))} when ({format_cond(w.when)})"
              for w in decl.bounds_when]
    parts += ["unique"] if decl.unique else []
    if decl.default is not None:
        parts.append(f"default {_plain(typed_default(decl))}")
    form = _FORMS.get((decl.kind, _reading(decl)))
    if form:
        parts.append(form)
    return ", ".join(parts)


# The form a field is read in, as its description states it (JSON dates are always ISO).
_FORMS = {
    ("date", "iso"): "ISO dates only", ("date", "german"): "German dates (01.03.2016) in cells",
    ("choice", "exact"): "exact case",
    ("text", "verbatim"): "kept verbatim (spaces not trimmed)",
    ("integer", "strict"): "strict number syntax", ("decimal", "strict"): "strict number syntax",
}


def _reading(decl: FieldDecl) -> str | None:
    aspect = {"date": "dates", "choice": "case", "text": "spaces", "integer": "numbers",
              "decimal": "numbers"}.get(decl.kind)
    return getattr(decl, aspect) if aspect else None


def _bounds(decl: FieldDecl) -> dict:
    """Schema keywords of the bounds; a repeated kind of bound keeps the strictest."""
    out: dict = {}
    for bound in decl.bounds:
        key, value = _BOUND_KEYS[bound.op], literal_value(bound.value)
        if key in out:
            value = (max if key.endswith("inimum") else min)(out[key], value)
        out[key] = value
    return {key: _json_value(value) for key, value in out.items()}


def _json_value(value: object) -> object:
    """A typed value as a JSON-serialisable one, exact."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)
