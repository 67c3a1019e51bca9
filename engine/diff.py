"""The semantic diff of two versions of a ruleset: what changed in meaning, item by item, in words.

`diff_rulesets(old, new)` compares two parsed rulesets (ASTs), not two texts. Each difference is a
frozen `Edit` record (added / removed / changed, with the text of both sides in the language's own
words and the source span of both sides); `RulesetDiff.edits` lists them in a fixed order.

How items are matched (so that moving things around is no change):
- rules by id (`Rule.id`), tables by name, rows by key, cells by column, tiers by name,
  input blocks by name and their fields by name, legacy entries by old name, KPIs by id,
  examples by name;
- reordering statements, rows, cells, fields, tiers, `one of` values, bounds, `and` / `or`
  operands, `in (...)` lists, legacy entries or rules is no change, and neither is reformatting
  (spans and comments are outside AST equality);
- except under `combine first`, where the order of rules decides which rule pays: there a rule
  whose place among the common rules moved is reported as a change of its position (a longest
  common subsequence keeps the others in place, so one moved rule is one edit, not many);
  and a rule's modifiers, which apply in the order written (`at most` before or after
  `rounded` gives other points): a new order of caps, floors and roundings is a change.
- A statement left out means its documented default (`period year`, `combine sum`, no review =
  no legacy entries and `downgrade to earned`, newcomers at the lowest tier, a KPI's
  `at least 1 report`, a tier's `keep` equal to its threshold, `reports by partner`, the legacy
  columns `partner_id` and `status`), so writing a default out is no change either.

What counts as a change in meaning (`RulesetDiff.equal`):
- Header `program`, `version` and `effective` differences are listed (area "header") but are
  informational: two versions that score, review and flag alike are "equal" whatever they are
  called and whenever they start. `period` and `combine` are header statements too, and they do
  change meaning.
- `example` blocks are tests of the ruleset, not part of what it means: their changes are listed
  (area "example") as informational.
- Comments never appear.
Every other edit is a change in meaning; `Edit.meaningful` tells which is which.

Order of edits: by area (the order of `AREAS`), then key (header statements in the order a file
writes them), so the same two files always give the same list. The impact report attributes point changes to rules: `rule_changes_by_id` groups the
edits by rule id, counting an edit to a table as a change of every rule that reads that table
(`tables_used_by_rule`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Iterator, Mapping

from dsl import ast as A
from dsl.ast import Span
from dsl.formatter import _word, format_cond, format_expr, format_modifier, format_node, format_points

AREAS = (
    "header", "input", "tier", "table", "table row", "table cell",
    "rule", "rule condition", "rule formula", "cap", "floor", "rounding",
    "review", "legacy", "downgrade", "quality", "kpi", "example",
)
RULE_AREAS = ("rule", "rule condition", "rule formula", "cap", "floor", "rounding")
TABLE_AREAS = ("table", "table row", "table cell")
# Whole blocks (key of one item): an added one is named, not quoted, in `describe()`.
BLOCK_AREAS = ("rule", "table", "input", "quality", "example")
_KIND_ORDER = {"removed": 0, "changed": 1, "added": 2}
_HEADER_ORDER = ("program", "version", "effective", "period", "combine")


@dataclass(frozen=True, slots=True)
class Edit:
    """One difference between two versions: what it is about, and its text on both sides."""

    kind: str  # "added" | "removed" | "changed"
    area: str  # one of AREAS
    key: tuple[str, ...]  # what it is about: ("mobile_tariffs", "O2 Business M", "new"), (rule id,)
    old: str | None  # the old side in the language's words; None when absent
    new: str | None
    old_span: Span | None = None
    new_span: Span | None = None
    subject: str = ""  # the item in words: `rule "Unite pool volume"`, `tier Advanced`
    aspect: str = ""  # which part of the item changed: "cap", "keep", "bounds"; "" for the whole
    meaningful: bool = True  # False for header names and dates, and for examples

    def describe(self) -> str:
        """One line in words: `tier Advanced: from 7_500 -> from 8_000`."""
        if self.area == "table row" and self.kind != "changed":
            where = "to" if self.kind == "added" else "from"
            line = f"{self.subject} {self.kind} {where} table {self.key[0]}"
            return f"{line}: {self.new}" if self.kind == "added" and self.new else line
        aspect = f"{self.aspect} " if self.aspect else ""
        if self.key[-1:] == ("position",):
            return f"{self.subject} moved from position {self.old} to {self.new} ({self.aspect})"
        if self.kind == "changed":
            return f"{self.subject}: {aspect}{self.old} -> {self.new}"
        line = f"{self.subject}: {aspect}{self.kind}" if aspect else f"{self.subject} {self.kind}"
        whole_block = self.area in BLOCK_AREAS and len(self.key) == 1
        if self.kind == "added" and self.new and not whole_block:
            line += f": {self.new}"
        return line

    def sort_key(self) -> tuple:
        # header statements in the order a file writes them, everything else by key
        key = (str(_HEADER_ORDER.index(self.key[0])),) if self.area == "header" else self.key
        return (AREAS.index(self.area), key, _KIND_ORDER[self.kind], self.old or "", self.new or "")


@dataclass(frozen=True, slots=True)
class RulesetDiff:
    """The edits between two versions, in a fixed order, and which tables each rule reads."""

    edits: tuple[Edit, ...]
    # rule id -> tables its condition or formula reads, on either side; for rule_changes_by_id
    tables_used: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)

    @property
    def equal(self) -> bool:
        """True when no edit changes meaning (header names, dates and examples do not)."""
        return not any(e.meaningful for e in self.edits)

    @property
    def meaningful(self) -> tuple[Edit, ...]:
        return tuple(e for e in self.edits if e.meaningful)

    @property
    def informational(self) -> tuple[Edit, ...]:
        return tuple(e for e in self.edits if not e.meaningful)


# --------------------------------------------------------------------------- words
# Conditions, formulas and members are shown as the formatter writes them (`dsl.formatter`), so
# the diff speaks the language the program manager wrote.


def _q(text: str) -> str:
    return format_expr(A.String(text))


# --------------------------------------------------------------------------- entry points


def diff_rulesets(old: A.Ruleset, new: A.Ruleset) -> RulesetDiff:
    """The semantic diff of two ruleset versions (see the module docstring for what counts)."""
    out: list[Edit] = []
    for part in (_diff_header, _diff_inputs, _diff_tiers, _diff_tables, _diff_rules,
                 _diff_review, _diff_quality, _diff_examples):
        out.extend(e for e in part(old, new) if e is not None)
    used = _merge_usage(tables_used_by_rule(old), tables_used_by_rule(new))
    return RulesetDiff(tuple(sorted(out, key=Edit.sort_key)), MappingProxyType(used))


def tables_used_by_rule(ruleset: A.Ruleset) -> dict[str, set[str]]:
    """Rule id -> names of the tables its condition, formula or modifiers read."""
    return {rule.id: set(_tables_in(rule)) for rule in ruleset.rules}


def rule_changes_by_id(diff: RulesetDiff) -> dict[str, list[Edit]]:
    """Rule id -> the edits that change that rule, including edits to the tables it reads."""
    out: dict[str, list[Edit]] = {}
    for edit in diff.edits:
        if edit.area in RULE_AREAS:
            out.setdefault(edit.key[0], []).append(edit)
    for rule_id, tables in sorted(diff.tables_used.items()):
        hits = [e for e in diff.edits if e.area in TABLE_AREAS and e.key[0] in tables]
        if hits:
            out.setdefault(rule_id, []).extend(hits)
    return out


def _merge_usage(*maps: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    merged: dict[str, set[str]] = {}
    for usage in maps:
        for rule_id, tables in usage.items():
            merged.setdefault(rule_id, set()).update(tables)
    return {k: frozenset(v) for k, v in sorted(merged.items())}


def _tables_in(node) -> Iterator[str]:
    """Every table a node reads, found by walking its fields (spans excluded)."""
    if isinstance(node, (A.TableLookup, A.InTable)):
        yield node.table
    if isinstance(node, tuple):
        for item in node:
            yield from _tables_in(item)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            if name != "span":
                yield from _tables_in(getattr(node, name))


# --------------------------------------------------------------------------- helpers


def _by(items: Iterable, key: Callable) -> dict:
    """Items by key, the first of duplicates winning (duplicates are the checker's business)."""
    out: dict = {}
    for item in items:
        out.setdefault(key(item), item)
    return out


def _span(node) -> Span | None:
    span = getattr(node, "span", None)
    return None if span is None or span == A.NO_SPAN else span


def _edit(area: str, key: tuple, old_text: str | None, new_text: str | None, old_node=None,
          new_node=None, *, subject: str, aspect: str = "", meaningful: bool = True) -> Edit | None:
    """An edit when the two texts differ in presence, else None; `changed` needs different text."""
    if old_text is None and new_text is None:
        return None
    kind = "added" if old_text is None else "removed" if new_text is None else "changed"
    return Edit(kind, area, key, old_text, new_text, _span(old_node), _span(new_node),
                subject, aspect, meaningful)


def _matched(old: dict, new: dict) -> Iterator[tuple[object, object, object]]:
    """(key, old item or None, new item or None) for every key on either side, sorted."""
    for key in sorted(set(old) | set(new), key=str):
        yield key, old.get(key), new.get(key)


# --------------------------------------------------------------------------- header


def _diff_header(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    facts = (
        ("program", A.ProgramDecl, lambda d: f"program {_q(d.name)}", False),
        ("version", A.VersionDecl, lambda d: f"version {_q(d.name)}", False),
        ("effective", A.EffectiveDecl, lambda d: f"effective {d.value.isoformat()}", False),
    )
    for name, kind, words, meaningful in facts:
        a, b = old._one(kind), new._one(kind)
        ta, tb = (words(a) if a else None), (words(b) if b else None)
        if ta != tb:
            yield _edit("header", (name,), ta, tb, a, b, subject="header", meaningful=meaningful)
    for name, kind, value in (("period", A.PeriodDecl, "period"), ("combine", A.CombineDecl, "combine")):
        va, vb = getattr(old, value), getattr(new, value)
        if va != vb:
            yield _edit("header", (name,), f"{name} {va}", f"{name} {vb}", old._one(kind) or old,
                        new._one(kind) or new, subject="header")


# --------------------------------------------------------------------------- input blocks


def _diff_inputs(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    blocks_a = _by(old._all(A.InputBlock), lambda b: b.name)
    blocks_b = _by(new._all(A.InputBlock), lambda b: b.name)
    for name, a, b in _matched(blocks_a, blocks_b):
        if a is None or b is None:
            yield _edit("input", (name,), a and f"input {name}", b and f"input {name}", a, b,
                        subject=f"input {name}")
            continue
        fields_a, fields_b = _by(a.fields, lambda f: f.name), _by(b.fields, lambda f: f.name)
        for fname, fa, fb in _matched(fields_a, fields_b):
            yield from _diff_field(name, fname, fa and _resolved(a, fa), fb and _resolved(b, fb))


def _resolved(block: A.InputBlock, f: A.FieldDecl) -> A.FieldDecl:
    """The field with the form it is read in made explicit: `input contract strict` and a field's
    own `strict` mean the same, and a change of either is a change of the field's reading."""
    from dataclasses import replace

    forms = {aspect: block.form(f, aspect) for aspect in A.LENIENT_FORMS}
    # the readings of before stay unwritten, so a field's words read as its declaration would
    return replace(f, **{a: None if r == A.LENIENT_FORMS[a] else r for a, r in forms.items()})


_FORM_WORDS = {
    ("dates", "both"): "ISO or German dates", ("dates", "iso"): "ISO dates only",
    ("dates", "german"): "German dates only", ("case", "any"): "any case", ("case", "exact"): "exact case",
    ("spaces", "trim"): "trimmed text", ("spaces", "verbatim"): "verbatim text",
    ("numbers", "any"): "any number form", ("numbers", "strict"): "strict numbers",
}
_FORM_OF = {"date": "dates", "choice": "case", "text": "spaces", "integer": "numbers", "decimal": "numbers"}


def _field_subject(block: str, name: str) -> str:
    return f"input field {name}" if block == "contract" else f"input {block} field {name}"


def _field_aspects(f: A.FieldDecl) -> dict[str, tuple[object, str | None]]:
    """aspect -> (comparable value, words); order-free where order carries no meaning."""
    kind = _field_words(A.FieldDecl(f.name, f.kind, f.choices))  # the type alone, `one of (...)`
    kind_cmp = (f.kind, frozenset(f.choices))
    bounds = [format_node(b) for b in f.bounds]  # as written; compared as a set below
    bound_cmp = frozenset((b.op, _cmp_expr(b.value)) for b in f.bounds)
    return {
        "type": (kind_cmp, kind),
        "bounds": (bound_cmp, " ".join(bounds) or None),
        "": (f.required, "required" if f.required else "not required"),
        "unique": (f.unique, "unique" if f.unique else "not unique"),
        "default": (_cmp_expr(f.default), None if f.default is None else format_expr(f.default)),
        "form": _form_aspect(f),
        "required when": (_cmp_cond(f.required_when) if f.required_when is not None else None,
                          None if f.required_when is None else f"required when ({format_cond(f.required_when)})"),
        "bounds when": (frozenset((w.bound.op, _cmp_expr(w.bound.value), _cmp_cond(w.when)) for w in f.bounds_when),
                        ", ".join(f"{w.bound.op} {format_expr(w.bound.value)} when ({format_cond(w.when)})"
                                  for w in f.bounds_when) or None),
        "list when": (frozenset((frozenset(w.choices), _cmp_cond(w.when)) for w in f.choices_when),
                      ", ".join(f"one of ({', '.join(_word(c) for c in w.choices)}) when ({format_cond(w.when)})"
                                for w in f.choices_when) or None),
    }


def _form_aspect(f: A.FieldDecl) -> tuple[object, str | None]:
    aspect = _FORM_OF.get(f.kind)
    if aspect is None:
        return None, None
    reading = getattr(f, aspect) or A.LENIENT_FORMS[aspect]
    return reading, _FORM_WORDS[(aspect, reading)]


def _field_words(f: A.FieldDecl) -> str:
    # the formatter writes the member line `name: spec`; the subject already names the field
    return format_node(f).split(":", 1)[1].strip()


def _diff_field(block: str, name: str, a: A.FieldDecl | None, b: A.FieldDecl | None) -> Iterator[Edit]:
    subject = _field_subject(block, name)
    if a is None or b is None:
        yield _edit("input", (block, name), a and _field_words(a), b and _field_words(b), a, b,
                    subject=subject)
        return
    asp_a, asp_b = _field_aspects(a), _field_aspects(b)
    for aspect in asp_a:
        (ca, wa), (cb, wb) = asp_a[aspect], asp_b[aspect]
        if aspect == "form" and asp_a["type"][0][0] != asp_b["type"][0][0]:
            continue  # another kind reads in other forms: the change of type says it
        if ca != cb:
            flag = aspect in ("", "unique")
            yield _edit("input", (block, name, aspect or "required"), wa, wb, a, b, subject=subject,
                        aspect="" if flag else aspect)


# --------------------------------------------------------------------------- tiers


def _diff_tiers(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    tiers_a = _by(old.tiers.tiers if old.tiers else (), lambda t: t.name)
    tiers_b = _by(new.tiers.tiers if new.tiers else (), lambda t: t.name)
    for name, a, b in _matched(tiers_a, tiers_b):
        subject = f"tier {name}"
        if a is None or b is None:
            yield _edit("tier", (name,), a and _tier_words(a), b and _tier_words(b), a, b, subject=subject)
            continue
        if a.threshold != b.threshold:
            yield _edit("tier", (name, "from"), f"from {format_expr(a.threshold)}",
                        f"from {format_expr(b.threshold)}", a, b, subject=subject)
        # without `keep` the target to hold a tier is its threshold: `keep` equal to it is no change
        if (a.keep or a.threshold) != (b.keep or b.threshold):
            yield _edit("tier", (name, "keep"), a.keep and format_expr(a.keep),
                        b.keep and format_expr(b.keep), a, b, subject=subject, aspect="keep")


def _tier_words(t: A.Tier) -> str:
    keep = f" keep {format_expr(t.keep)}" if t.keep is not None else ""
    return f"from {format_expr(t.threshold)}{keep}"


# --------------------------------------------------------------------------- tables


def _diff_tables(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    for name, a, b in _matched(_by(old.tables, lambda t: t.name), _by(new.tables, lambda t: t.name)):
        if a is None or b is None:
            yield _edit("table", (name,), a and _table_words(a), b and _table_words(b), a, b,
                        subject=f"table {name}")
            continue
        if a.keys != b.keys:
            yield _edit("table", (name, "keys"), ", ".join(a.keys), ", ".join(b.keys), a, b,
                        subject=f"table {name}", aspect="keys")
        yield from _diff_rows(b, a.rows, b.rows)


def _table_words(t: A.Table) -> str:
    rows = "1 row" if len(t.rows) == 1 else f"{len(t.rows)} rows"
    return f"by {', '.join(t.keys)}, {rows}"


def _row_words(row: A.TableRow) -> str:
    return ", ".join(map(format_node, row.cells))


def _diff_rows(table: A.Table, rows_a: tuple, rows_b: tuple) -> Iterator[Edit]:
    first_key = table.keys[0] if table.keys else "row"
    for key, a, b in _matched(_by(rows_a, lambda r: r.key), _by(rows_b, lambda r: r.key)):
        if a is None or b is None:
            yield _edit("table row", (table.name, key), a and _row_words(a), b and _row_words(b), a, b,
                        subject=f"{first_key} {_q(key)}")
            continue
        cells_a, cells_b = _by(a.cells, lambda c: c.column or ""), _by(b.cells, lambda c: c.column or "")
        for column, ca, cb in _matched(cells_a, cells_b):
            if ca is not None and cb is not None and ca.value == cb.value:
                continue
            subject = f"table {table.name}, {_q(key)}" + (f" / {column}" if column else "")
            yield _edit("table cell", (table.name, key) + ((column,) if column else ()), ca and format_expr(ca.value),
                        cb and format_expr(cb.value), ca, cb, subject=subject)


# --------------------------------------------------------------------------- rules


def _diff_rules(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    rules_a, rules_b = _by(old.rules, lambda r: r.id), _by(new.rules, lambda r: r.id)
    for rule_id, a, b in _matched(rules_a, rules_b):
        if a is None or b is None:
            yield _edit("rule", (rule_id,), a and _rule_words(a), b and _rule_words(b), a, b,
                        subject=f"rule {_q((a or b).name)}")
            continue
        yield from _diff_rule(rule_id, a, b)
    if "first" in (old.combine, new.combine):
        yield from _diff_rule_order(old.rules, new.rules, rules_a, rules_b)


def _rule_words(rule: A.Rule) -> str:
    when = f"when {format_cond(rule.when)} " if rule.when is not None else ""
    return f"{when}points {format_points(rule.points)}"


def _formula_words(p: A.Points) -> str:
    return format_points(A.Points(p.expr, p.per, ()))


def _diff_rule(rule_id: str, a: A.Rule, b: A.Rule) -> Iterator[Edit]:
    subject = f"rule {_q(b.name)}"
    if a.name != b.name:
        yield _edit("rule", (rule_id, "name"), _q(a.name), _q(b.name), a, b, subject=subject, aspect="name")
    if _cmp_cond(a.when) != _cmp_cond(b.when):
        yield _edit("rule condition", (rule_id,), a.when and format_cond(a.when),
                    b.when and format_cond(b.when), a.when or a, b.when or b, subject=subject, aspect="when")
    pa, pb = a.points, b.points
    if (pa.expr, pa.per) != (pb.expr, pb.per):
        yield _edit("rule formula", (rule_id,), _formula_words(pa), _formula_words(pb), pa, pb,
                    subject=subject, aspect="points")
    yield from _diff_modifiers(rule_id, subject, pa, pb)


_MODIFIER_AREAS = ((A.AtMost, "cap"), (A.AtLeast, "floor"), (A.Rounded, "rounding"))


def _diff_modifiers(rule_id: str, subject: str, pa: A.Points, pb: A.Points) -> Iterator[Edit]:
    """Caps, floors and roundings compared kind by kind; then their order, which has meaning."""
    for kind, area in _MODIFIER_AREAS:
        ma = [m for m in pa.modifiers if isinstance(m, kind)]
        mb = [m for m in pb.modifiers if isinstance(m, kind)]
        if ma == mb:
            continue
        words_a = ", ".join(map(format_modifier, ma)) or None
        words_b = ", ".join(map(format_modifier, mb)) or None
        yield _edit(area, (rule_id,), words_a, words_b, ma[0] if ma else pa, mb[0] if mb else pb,
                    subject=subject, aspect=area)
    # `at most 10, rounded up` and `rounded up, at most 10` differ: report a new order of the
    # kinds both sides use, even when a cap's value changed too
    both = {type(m) for m in pa.modifiers} & {type(m) for m in pb.modifiers}
    if [type(m) for m in pa.modifiers if type(m) in both] != [type(m) for m in pb.modifiers if type(m) in both]:
        yield _edit("rule formula", (rule_id, "order"), _modifiers_words(pa), _modifiers_words(pb), pa, pb,
                    subject=subject, aspect="order of modifiers")


def _modifiers_words(p: A.Points) -> str:
    return ", ".join(map(format_modifier, p.modifiers))


def _diff_rule_order(rules_a, rules_b, by_id_a: dict, by_id_b: dict) -> Iterator[Edit]:
    """Under `combine first`: each common rule that left the longest common order moved."""
    order_a = [r.id for r in rules_a if r.id in by_id_b]
    order_b = [r.id for r in rules_b if r.id in by_id_a]
    order_a, order_b = list(dict.fromkeys(order_a)), list(dict.fromkeys(order_b))
    kept = set(_lcs(order_a, order_b))
    pos_a = {rid: i + 1 for i, rid in enumerate(dict.fromkeys(r.id for r in rules_a))}
    pos_b = {rid: i + 1 for i, rid in enumerate(dict.fromkeys(r.id for r in rules_b))}
    for rule_id in order_b:
        if rule_id not in kept:
            a, b = by_id_a[rule_id], by_id_b[rule_id]
            yield _edit("rule", (rule_id, "position"), str(pos_a[rule_id]), str(pos_b[rule_id]), a, b,
                        subject=f"rule {_q(b.name)}", aspect="combine first")


def _lcs(a: list, b: list) -> list:
    """A longest common subsequence (rule lists are short: quadratic is fine)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            out.append(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


# --------------------------------------------------------------------------- comparable forms
# Conditions compare with `and` / `or` operands and `in (...)` lists as sets: order there carries
# no meaning. Everything else compares by AST equality, which already ignores spans.


def _cmp_expr(node):
    if isinstance(node, (A.Number, A.Percent)):
        return ("num", node.value)
    return node


def _cmp_cond(node):
    if isinstance(node, (A.And, A.Or)):
        items = []
        for item in node.items:
            # `a and (b and c)` means `a and b and c`
            items.extend(item.items if type(item) is type(node) else (item,))
        return (type(node).__name__, frozenset(_cmp_cond(i) for i in items))
    if isinstance(node, A.Not):
        return ("not", _cmp_cond(node.operand))
    if isinstance(node, A.InList):
        return ("in", node.operand, frozenset(map(_cmp_expr, node.values)), node.negated)
    return node


# --------------------------------------------------------------------------- review


def _review_facts(ruleset: A.Ruleset) -> A.Review:
    return ruleset.review or A.Review()


def _newcomer_words(ruleset: A.Ruleset, review: A.Review) -> str:
    tier = review.newcomer
    if tier is None:
        tiers = ruleset.tiers.tiers if ruleset.tiers else ()
        tier = tiers[0].name if tiers else "the lowest tier"
    return f"newcomers start at {tier}"


def _downgrade_words(d: A.Downgrade | None) -> str:
    # no `downgrade` statement means `downgrade to earned`; the count of `earned` is unused
    d = d or A.Downgrade("earned")
    return format_node(A.Downgrade("earned") if d.kind == "earned" else d)


def _diff_review(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    ra, rb = _review_facts(old), _review_facts(new)
    span_a, span_b = ra.downgrade or old.review, rb.downgrade or new.review
    da, db = _downgrade_words(ra.downgrade), _downgrade_words(rb.downgrade)
    if da != db:
        yield _edit("downgrade", ("downgrade",), da, db, span_a, span_b, subject="review")
    na, nb = _newcomer_words(old, ra), _newcomer_words(new, rb)
    if na != nb:
        yield _edit("review", ("newcomers",), na, nb, old.review, new.review, subject="review")
    for which, ca, cb, default in (("partner", ra.legacy_partner, rb.legacy_partner, "partner_id"),
                                   ("status", ra.legacy_status, rb.legacy_status, "status")):
        if (ca or default) != (cb or default):
            yield _edit("review", (f"legacy {which} column",), f"legacy {which} column {_q(ca or default)}",
                        f"legacy {which} column {_q(cb or default)}", old.review, new.review, subject="review")
    legacy_a, legacy_b = _by(ra.legacy, lambda m: m.old), _by(rb.legacy, lambda m: m.old)
    for name, a, b in _matched(legacy_a, legacy_b):
        if a is None or b is None or a.new != b.new:
            yield _edit("legacy", (name,), a and a.new, b and b.new, a, b, subject=f"legacy {_q(name)}")


# --------------------------------------------------------------------------- quality


def _diff_quality(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    qa, qb = old.quality, new.quality
    if qa is None or qb is None:
        yield _edit("quality", ("quality",), qa and _quality_words(qa), qb and _quality_words(qb), qa, qb,
                    subject="quality")
        return
    for aspect, wa, wb in (("period", qa.period, qb.period),
                           ("reports", _reports_words(qa), _reports_words(qb)),
                           ("sustained", _periods(qa.sustained), _periods(qb.sustained))):
        if wa != wb:
            yield _edit("quality", (aspect,), wa, wb, qa, qb, subject="quality", aspect=aspect)
    kpis_a, kpis_b = _by(qa.kpis, lambda k: k.id), _by(qb.kpis, lambda k: k.id)
    for kpi_id, a, b in _matched(kpis_a, kpis_b):
        yield from _diff_kpi(kpi_id, a, b)


def _periods(n: int) -> str:
    return f"{n} period{'s' if n != 1 else ''}"


def _reports_words(q: A.Quality) -> str:
    return "by partner" if q.key == "partner" else f"by {q.counting} contract"


def _quality_words(q: A.Quality) -> str:
    kpis = "1 kpi" if len(q.kpis) == 1 else f"{len(q.kpis)} kpis"
    return f"period {q.period}, {kpis}, sustained {_periods(q.sustained)}"


def _kpi_aspects(k: A.Kpi) -> dict[str, tuple[object, str]]:
    return {
        "name": (k.name, _q(k.name)),
        "measure": ((k.aggregate, k.field), f"{k.aggregate} of {k.field}"),
        "threshold": ((k.direction, k.threshold.value), f"{k.direction} {format_expr(k.threshold)}"),
        "reports": (k.min_reports, f"at least {k.min_reports} report{'s' if k.min_reports != 1 else ''}"),
        "shown": (k.decimals, "shown exact" if k.decimals is None
                  else f"shown to {k.decimals} decimal{'s' if k.decimals != 1 else ''}"),
    }


def _kpi_words(k: A.Kpi) -> str:
    asp = _kpi_aspects(k)
    return f"{asp['measure'][1]} {asp['threshold'][1]}, {asp['reports'][1]}"


def _diff_kpi(kpi_id: str, a: A.Kpi | None, b: A.Kpi | None) -> Iterator[Edit]:
    subject = f"kpi {_q((b or a).name)}"
    if a is None or b is None:
        yield _edit("kpi", (kpi_id,), a and _kpi_words(a), b and _kpi_words(b), a, b, subject=subject)
        return
    asp_a, asp_b = _kpi_aspects(a), _kpi_aspects(b)
    for aspect in asp_a:
        if asp_a[aspect][0] != asp_b[aspect][0]:
            yield _edit("kpi", (kpi_id, aspect), asp_a[aspect][1], asp_b[aspect][1], a, b, subject=subject,
                        aspect="name" if aspect == "name" else "")


# --------------------------------------------------------------------------- examples


def _expects_words(ex: A.Example) -> str:
    return ", ".join(map(format_node, ex.expects))


def _contracts_words(ex: A.Example) -> str:
    return "; ".join(map(format_node, ex.contracts))


def _example_review_words(ex: A.Example) -> str:
    return "; ".join(map(format_node, (*ex.starts, *ex.points)))


def _example_reports_words(ex: A.Example) -> str:
    return "; ".join(map(format_node, ex.reports))


def _diff_examples(old: A.Ruleset, new: A.Ruleset) -> Iterator[Edit]:
    for name, a, b in _matched(_by(old.examples, lambda e: e.name), _by(new.examples, lambda e: e.name)):
        subject = f"example {_q(name)}"
        if a is None or b is None:
            yield _edit("example", (name,), a and _expects_words(a), b and _expects_words(b), a, b,
                        subject=subject, meaningful=False)
            continue
        if a.expects != b.expects:
            yield _edit("example", (name, "expect"), _expects_words(a), _expects_words(b), a, b,
                        subject=subject, meaningful=False)
        if _cmp_contracts(a) != _cmp_contracts(b):
            yield _edit("example", (name, "contracts"), _contracts_words(a), _contracts_words(b), a, b,
                        subject=subject, meaningful=False)
        for part, words in (("review", _example_review_words), ("reports", _example_reports_words)):
            if words(a) != words(b):
                yield _edit("example", (name, part), words(a), words(b), a, b, subject=subject, meaningful=False)


def _cmp_contracts(ex: A.Example) -> Counter:
    # the order of fields inside one `contract { ... }` carries no meaning, nor does the order of
    # contracts; but a contract given twice counts twice, hence a multiset
    return Counter(tuple(sorted(c.fields, key=lambda f: f[0])) for c in ex.contracts)
