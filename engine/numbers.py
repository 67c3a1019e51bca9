"""How points are written: exact decimals in plain notation, the same bytes for the same value."""
from __future__ import annotations

from decimal import Decimal


def fmt_points(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: 3000, 12.5, -0.25 (never 3E+3 or 12.50)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def fmt_grouped(value: Decimal) -> str:
    """For people: thousands grouped with `,` (14,980 or 7,512.5)."""
    text = fmt_points(value)
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    grouped = f"{int(whole.lstrip('-')):,}"
    return sign + grouped + (f".{frac}" if frac else "")
