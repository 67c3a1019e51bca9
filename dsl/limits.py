"""The range of numbers: one bound for every number a ruleset writes and every number a contract holds.

Design:
- Every number of the language (table cells, tiers, caps, floors, conditions, bounds, defaults,
  examples) and every integer or decimal value of an input row is exact and fits DECIMAL(28,10):
  at most `MAX_INTEGER_DIGITS` digits before the decimal point and `MAX_FRACTION_DIGITS` after
  it. A SQL engine holds such a value exactly. The product of two of them can need 36 digits
  before the point and 20 after it (below 10^36): the evaluator computes exactly up to 28
  significant digits and makes a contract that needs more unscored (engine.evaluate), never
  rounding it; a SQL engine must give the same verdict.
- Leading zeros before the point and trailing zeros after it do not count (`007.50` is 7.5).
- Counts are small whole numbers with bounds of their own (`COUNTS`).
- Text is measured before it is converted: `int()` of more than 4,300 digits raises in Python,
  and nothing this long is ever a number a program means, so long digit strings are refused by
  their length alone.
"""
from __future__ import annotations

from decimal import Decimal

MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 10
MAX_MAGNITUDE = 10 ** MAX_INTEGER_DIGITS  # every value is strictly below it in absolute value
RANGE_TEXT = (f"at most {MAX_INTEGER_DIGITS} digits before the decimal point and "
              f"{MAX_FRACTION_DIGITS} after it")

# What a count counts -> (the largest count, the words for the message).
COUNTS = {
    "decimals": (MAX_FRACTION_DIGITS, "decimals to round to"),
    "levels": (1_000, "levels to downgrade"),
    "grace": (1_000, "grace periods"),
    "sustained": (1_000, "periods in a row"),
    "reports": (1_000_000, "reports"),
    "example reports": (10_000, "reports in one entry of an example"),
}


def text_problem(text: str, percent: bool = False) -> str | None:
    """Why a number as written (`7_500`, `0.25`, `5%` without its `%`) is out of range, or None.

    Only the text is looked at, so this is safe on any length. A percentage is a hundredth of
    the number written: two more digits before the point and two fewer after it are allowed.
    """
    whole, _, fraction = text.replace("_", "").partition(".")
    shift = 2 if percent else 0
    if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS + shift:
        return f"has more than {MAX_INTEGER_DIGITS} digits before the decimal point"
    if len(fraction.rstrip("0")) > MAX_FRACTION_DIGITS - shift:
        return f"has more than {MAX_FRACTION_DIGITS} digits after the decimal point"
    return None


def value_problem(value: int | Decimal) -> str | None:
    """Why a number (an int or a finite Decimal) is out of range, or None when it fits."""
    if isinstance(value, int):
        return None if -MAX_MAGNITUDE < value < MAX_MAGNITUDE else \
            f"has more than {MAX_INTEGER_DIGITS} digits before the decimal point"
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return "is not a number"
    if not any(digits):
        return None
    size = len(digits)
    while digits[size - 1] == 0:  # trailing zeros: 2.50 is 2.5, 1E+3 is a whole thousand
        size -= 1
        exponent += 1
    if size + exponent > MAX_INTEGER_DIGITS:
        return f"has more than {MAX_INTEGER_DIGITS} digits before the decimal point"
    if -exponent > MAX_FRACTION_DIGITS:
        return f"has more than {MAX_FRACTION_DIGITS} digits after the decimal point"
    return None


def count_problem(text: str, kind: str) -> str | None:
    """Why a count as written is out of its range, or None; the text is measured before converting."""
    largest, words = COUNTS[kind]
    digits = text.replace("_", "").lstrip("0")
    if len(digits) > len(str(largest)) or (digits and int(digits) > largest):
        return f"at most {largest:,} {words} can be given"
    return None
