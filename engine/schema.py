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
- A `one of (...) when (COND)` list is an `if`/`then` in `allOf` when its condition can be said in
  JSON Schema (comparisons of a field with a value, `in (...)`, `and`, `or`, `not`, on text,
  `one of`, boolean, integer and date fields without a default; order comparisons on integers
  only). A condition that cannot (arithmetic, two fields, a decimal, a default) is left to the
  engine and stated in the field's description, like the other conditional checks.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from dsl import ast as A
from dsl.ast import FieldDecl, InputBlock

from dsl.formatter import format_cond

from .validate import DECIMAL_PATTERN, ISO_DATE_IN_RANGE_PATTERN, STRICT_DECIMAL_PATTERN, literal_value, resolved, typed_default

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_BOUND_KEYS = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}
_JSON_TYPES = {"text": "string", "integer": "integer", "boolean": "boolean"}


def json_schema(block: InputBlock, title: str | None = None) -> dict:
    """The JSON Schema of one record of `block`, keys in a fixed order."""
    out = {
        "$schema": DRAFT,
        "title": title or f"input {block.name}",
        "description": f"One {block.name} record as a JSON Lines export writes it.",
        "type": "object",
        "properties": {f.name: field_schema(resolved(block, f)) for f in block.fields},
        "required": [f.name for f in block.fields if f.required and f.default is None],
    }
    conditional = conditional_lists(block)
    if conditional:
        out["allOf"] = conditional
    out["additionalProperties"] = True
    return out


def conditional_lists(block: InputBlock) -> list[dict]:
    """`{"if": COND, "then": LIST}` per `one of (...) when (COND)` whose condition JSON Schema can say."""
    decls: dict[str, FieldDecl] = {}
    for f in block.fields:
        decls.setdefault(f.name, resolved(block, f))
    out = []
    for f in block.fields:
        decl = decls[f.name]
        for item in decl.choices_when:
            test = _cond_schema(item.when, decls)
            listed = _listed(decl, item.choices)
            if test is not None and listed is not None:
                out.append({"if": test, "then": {"properties": {f.name: listed}}})
    return out


def _listed(decl: FieldDecl, choices: tuple[str, ...]) -> dict | None:
    """What a present value of the field must be to be in the list (an empty one always is)."""
    if decl.kind == "choice":
        return {"enum": [c for c in decl.choices if c in choices] + [None]}
    if decl.kind != "text":
        return None
    alternatives = "|".join(_escape(c) for c in choices)
    if decl.spaces == "verbatim":  # the value as given; a blank text is empty
        return {"pattern": rf"^(?:{alternatives}|\s*)(?![\s\S])"}
    return {"pattern": rf"^\s*(?:(?:{alternatives})\s*)?(?![\s\S])"}


def _escape(text: str) -> str:
    """A text as a regular expression that matches it alone (the same in ECMA 262 and Python)."""
    return "".join("\\" + c if c in "\\^$.|?*+()[]{}" else c for c in text)


def _cond_schema(cond, decls: dict[str, FieldDecl]) -> dict | None:
    """A schema a record satisfies exactly when the condition holds for its typed values, or None."""
    if isinstance(cond, (A.And, A.Or)):
        items = [_cond_schema(c, decls) for c in cond.items]
        if any(i is None for i in items):
            return None
        return {"allOf" if isinstance(cond, A.And) else "anyOf": items}
    if isinstance(cond, A.Not):
        inner = _cond_schema(cond.operand, decls)
        return None if inner is None else {"not": inner}
    if isinstance(cond, A.Compare):
        left, op, right = cond.left, cond.op, cond.right
        if not (isinstance(left, A.Name) and left.name in decls):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        values = [right]
    elif isinstance(cond, A.InList):
        left, op, values = cond.operand, "notin" if cond.negated else "in", list(cond.values)
    else:
        return None
    if not (isinstance(left, A.Name) and left.name in decls):
        return None
    decl = decls[left.name]
    if decl.default is not None:
        return None  # an absent value reads as the default
    typed = [_literal(v, decl, decls) for v in values]
    if any(v is None for v in typed):
        return None
    value = _value_schema(decl, op, typed)
    # an empty value makes every comparison false, `!=` and `not in` too
    return None if value is None else {"required": [decl.name], "properties": {decl.name: value}}


def _literal(expr, decl: FieldDecl, decls: dict) -> object:
    """A literal of the condition as a value of the field's kind, or None."""
    if isinstance(expr, A.Name):
        if expr.name in decls:
            return None  # another field
        if decl.kind == "choice" and expr.name in decl.choices:
            return expr.name
        if decl.kind == "boolean" and expr.name in ("true", "false"):
            return expr.name == "true"
        return None
    try:
        value = literal_value(expr)
    except ValueError:
        return None
    kinds = {"text": str, "choice": str, "integer": Decimal, "date": str}
    if decl.kind == "date" and isinstance(expr, A.DateLit):
        return value.isoformat() if isinstance(value, _dt.date) else str(value)
    wanted = kinds.get(decl.kind)
    if wanted is None or not isinstance(value, wanted) or isinstance(value, bool):
        return None
    return value


def _value_schema(decl: FieldDecl, op: str, values: list) -> dict | None:
    """A schema of the field's value that holds when `value op values` holds (the value present)."""
    if op in ("in", "notin"):
        each = [_value_schema(decl, "==", [v]) for v in values]
        if any(e is None for e in each):
            return None
        listed = {"anyOf": each}
        return listed if op == "in" else {"allOf": [_present(decl), {"not": listed}]}
    value = values[0]
    if op == "!=":
        equal = _value_schema(decl, "==", [value])
        return None if equal is None else {"allOf": [_present(decl), {"not": equal}]}
    if decl.kind == "integer":
        number = _json_value(value)
        if not isinstance(number, (int, float)):
            return None
        keys = {"==": ("minimum", "maximum"), ">=": ("minimum",), ">": ("exclusiveMinimum",),
                "<=": ("maximum",), "<": ("exclusiveMaximum",)}[op]
        return {"type": "number", **{k: number for k in keys}}
    if op != "==":
        return None
    if decl.kind == "text":
        if value != value.strip() or not value.strip():
            return {"not": {}}  # a text is read without spaces around it and is never blank
        if decl.spaces == "verbatim":
            return {"type": "string", "const": value}
        return {"type": "string", "pattern": rf"^\s*{_escape(value)}\s*(?![\s\S])"}
    if decl.kind in ("choice", "boolean", "date"):
        return {"const": value}
    return None


def _present(decl: FieldDecl) -> dict:
    """A value that is there (not null, not a blank text)."""
    kind = {"text": "string", "choice": "string", "date": "string", "boolean": "boolean"}.get(decl.kind, "number")
    return {"type": kind, "pattern": r"\S"} if decl.kind == "text" else {"type": kind}


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
    parts += [f"one of ({', '.join(w.choices)}) when ({format_cond(w.when)})" for w in decl.choices_when]
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
