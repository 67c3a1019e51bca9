"""The reason codes of unscored and rejected rows: stable words a program can rely on.

Every unscored or rejected row carries a code beside its message. The message is for a person
and keeps the particulars (the field, the value, the rule, the versions); the code never changes
with them, so a script, a spreadsheet filter or an `example` can match on it.

Design:
- Codes are short lower-case words joined by `-` (`no-version`, `not-a-date`): readable in a CSV
  cell and a summary table without a look-up, stable, and each is the name of its page in
  docs/reasons/. The status column (`unscored` / `rejected`) says which kind a row is, so codes
  carry no prefix; no code is used for both kinds.
- A code is set where the decision is made (the validator's converters, the evaluator's
  `Unscorable`, the runner's version choice), never parsed back out of a message.
- A code is never renamed or reused for something else; a new decision gets a new code (and a
  page), and the output files' `format` (engine.run.OUTPUT_FORMAT) is raised when a column changes.
"""
from __future__ import annotations

# --------------------------------------------------------------------------- unscored rows
NO_VERSION = "no-version"
UNKNOWN_PRODUCT = "unknown-product"
PRODUCT_NOT_IN_VERSION = "product-not-in-version"
NO_RULE = "no-rule"
EMPTY_FIELD = "empty-field"
FIELD_NOT_A_NUMBER = "field-not-a-number"
NO_TABLE_ENTRY = "no-table-entry"
DIVISION_BY_ZERO = "division-by-zero"
TOO_LARGE = "too-large"
SEVERAL_RULES = "several-rules"

# --------------------------------------------------------------------------- rejected rows
UNREADABLE_ROW = "unreadable-row"
MISSING_REQUIRED = "missing-required"
NOT_A_NUMBER = "not-a-number"
NOT_A_WHOLE_NUMBER = "not-a-whole-number"
NOT_A_DATE = "not-a-date"
NOT_YES_OR_NO = "not-yes-or-no"
NOT_ONE_OF = "not-one-of"
NOT_TEXT = "not-text"
OUTSIDE_BOUNDS = "outside-bounds"
OUT_OF_RANGE = "out-of-range"
DUPLICATE = "duplicate"
REQUIRED_WHEN = "required-when"
OUTSIDE_BOUNDS_WHEN = "outside-bounds-when"
NOT_ONE_OF_WHEN = "not-one-of-when"
INVALID_VALUE = "invalid-value"

UNSCORED = {
    NO_VERSION: "no version of the program is in force on the contract's signed date",
    UNKNOWN_PRODUCT: "the product is in no version of the program",
    PRODUCT_NOT_IN_VERSION: "the product is not in the version in force, but other versions have it",
    NO_RULE: "no rule matches the contract",
    EMPTY_FIELD: "a rule needs a field that is empty",
    FIELD_NOT_A_NUMBER: "a rule computes with a field whose value is not a number",
    NO_TABLE_ENTRY: "a table has no row or cell for the contract's values",
    DIVISION_BY_ZERO: "a rule divides by zero",
    TOO_LARGE: "a number grows beyond what can be computed or rounded exactly",
    SEVERAL_RULES: "under `combine exclusive`, more than one rule matches",
}

REJECTED = {
    UNREADABLE_ROW: "the row could not be read as a row of the file (its columns, its JSON)",
    MISSING_REQUIRED: "a required field is empty",
    NOT_A_NUMBER: "a decimal field holds something that is not a number",
    NOT_A_WHOLE_NUMBER: "an integer field holds something that is not a whole number",
    NOT_A_DATE: "a date field holds something that is not a date",
    NOT_YES_OR_NO: "a boolean field holds something other than yes or no",
    NOT_ONE_OF: "a `one of` field holds a value not in its list",
    NOT_TEXT: "a text field holds a JSON value that is not text",
    OUTSIDE_BOUNDS: "a value is outside the bounds the input block declares",
    OUT_OF_RANGE: "a number is beyond what any export means (above 1e40 or below 1e-40)",
    DUPLICATE: "a `unique` field repeats the value of an earlier row",
    REQUIRED_WHEN: "a field required when a condition holds (`required when`) is empty, and the condition holds",
    OUTSIDE_BOUNDS_WHEN: "a value is outside a bound that holds when a condition holds (`<= 100 when ...`)",
    NOT_ONE_OF_WHEN: "a value is not in a list that holds when a condition holds (`one of (S, M) when ...`)",
    INVALID_VALUE: "a value the input block does not accept, for a reason without a code of its own",
}

ALL = {**UNSCORED, **REJECTED}


def is_code(code: str) -> bool:
    return code in ALL
