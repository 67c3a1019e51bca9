"""Periods partner points are totalled over: labels, bounds, order.

Design: a period is named by a short label that sorts and reads well in a spreadsheet:
`2016` (year), `2016-Q2` (quarter), `2016-03` (month). Labels are the keys of per-partner
results, so they are plain strings; these functions are the only place that knows their shape.
"""
from __future__ import annotations

import calendar
import re
from datetime import date

UNITS = ("year", "quarter", "month")
_LABEL = re.compile(r"^(\d{4})(?:-Q([1-4])|-(\d{2}))?$")


def period_of(d: date, unit: str) -> str:
    """The label of the period of `unit` that contains the day `d`."""
    if unit == "year":
        return f"{d.year:04d}"
    if unit == "quarter":
        return f"{d.year:04d}-Q{(d.month - 1) // 3 + 1}"
    if unit == "month":
        return f"{d.year:04d}-{d.month:02d}"
    raise ValueError(f"unknown period `{unit}`: use one of {', '.join(UNITS)}")


def _parse(label: str) -> tuple[int, str, int]:
    """(year, unit, index within the year) of a label; ValueError naming the label if malformed."""
    m = _LABEL.match(label)
    if not m or (m.group(3) and not 1 <= int(m.group(3)) <= 12):
        raise ValueError(f"`{label}` is no period: write 2016, 2016-Q2 or 2016-03")
    year = int(m.group(1))
    if m.group(2):
        return year, "quarter", int(m.group(2))
    if m.group(3):
        return year, "month", int(m.group(3))
    return year, "year", 0


def period_bounds(label: str, unit: str) -> tuple[date, date]:
    """The first and last day of the period `label` of `unit`."""
    year, found, index = _parse(label)
    if found != unit:
        raise ValueError(f"`{label}` is no {unit} period")
    first_month, last_month = {"year": (1, 12), "quarter": (3 * index - 2, 3 * index),
                               "month": (index, index)}[unit]
    last_day = calendar.monthrange(year, last_month)[1]
    return date(year, first_month, 1), date(year, last_month, last_day)


def period_sort_key(label: str) -> tuple[int, int]:
    """A key that orders labels of one unit in time: (year, quarter or month)."""
    year, _, index = _parse(label)
    return year, index


def next_period(label: str, unit: str) -> str:
    """The label of the period right after `label`."""
    _, last = period_bounds(label, unit)
    return period_of(date.fromordinal(last.toordinal() + 1), unit)


# --------------------------------------------------------------------------- periods as operators write them

_SPELLED = (
    (re.compile(r"^(\d{4})-?Q([1-4])$", re.I), "quarter", lambda m: (int(m[1]), int(m[2]))),
    (re.compile(r"^Q([1-4])[ -/]?(\d{4})$", re.I), "quarter", lambda m: (int(m[2]), int(m[1]))),
    (re.compile(r"^(\d{4})-(\d{2})$"), "month", lambda m: (int(m[1]), int(m[2]))),
    (re.compile(r"^(\d{4})$"), "year", lambda m: (int(m[1]), 0)),
)
_GERMAN_DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})$")


def read_period(text: str) -> tuple[str, date, date]:
    """A period as a report writes it: (unit, first day, last day).

    A date (`2016-05-31`, `31.05.2016`) is a period of one day (unit `day`); a label is a month
    (`2016-05`), a quarter (`2016-Q2`, `2016Q2`, `Q2 2016`, `Q2-2016`, `q2 2016`) or a year (`2016`).
    ValueError with a message naming the accepted forms for anything else.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text) if len(text) == 10 and text[4] == "-" else None
        m = _GERMAN_DATE.match(text)
        if m:
            day = date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        raise ValueError(f"'{text}' is not a date of the calendar") from None
    if day is not None:
        return "day", day, day
    for pattern, unit, parts in _SPELLED:
        m = pattern.match(text)
        if m:
            year, index = parts(m)
            if unit == "month" and not 1 <= index <= 12:
                break
            label = {"year": f"{year:04d}", "quarter": f"{year:04d}-Q{index}", "month": f"{year:04d}-{index:02d}"}[unit]
            first, last = period_bounds(label, unit)
            return unit, first, last
    raise ValueError(f"'{text}' is no date or period: write a date (2016-05-31, 31.05.2016), a month (2016-05), "
                     f"a quarter (2016-Q2, 2016Q2, Q2 2016) or a year (2016)")


def period_in(text: str, unit: str) -> str:
    """The label of the period of `unit` that the date or period `text` lies in.

    A finer period is placed in the one containing it (the month `2016-05` in the quarter
    `2016-Q2`); a coarser one (a quarter in a monthly program) is a ValueError: it spans several.
    """
    found, first, last = read_period(text)
    label = period_of(first, unit)
    if period_of(last, unit) != label:
        raise ValueError(f"'{text}' is a {found}, which spans several {unit}s: report by {unit} or by date")
    return label
