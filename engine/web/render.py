"""HTML pieces the templates cannot make on their own: highlighted ruleset source (the project's
Pygments lexer, dsl.highlight.PointsLexer) and charts as inline SVG. Everything is escaped here:
Pygments escapes the source's text, and every label of a chart goes through markupsafe."""
from __future__ import annotations

import functools

from markupsafe import Markup, escape

from dsl.errors import visible_lines


@functools.lru_cache(maxsize=64)
def highlight_lines(text: str) -> tuple[Markup, ...]:
    """The lines of a ruleset as HTML (one entry per line as the language counts lines), coloured
    by the language's lexer; control characters are shown as escapes (`\\x1b`). Kept per text: a
    page shows several rules of one file, and each request shows the same files again."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    from dsl.highlight import PointsLexer

    shown = visible_lines(text.replace("\r\n", "\n").replace("\r", "\n"))
    count = shown.count("\n") + (0 if shown.endswith("\n") or not shown else 1)
    html = highlight(shown, PointsLexer(stripnl=False, ensurenl=True), HtmlFormatter(nowrap=True))
    lines = html.split("\n")
    return tuple(Markup(line) for line in lines[:count])


def highlight_html(text: str) -> Markup:
    """The whole text as highlighted HTML lines joined by line breaks."""
    return Markup("\n").join(highlight_lines(text))


def tier_chart(order: list[str], old: dict[str, int], new: dict[str, int], old_label: str, new_label: str) -> Markup:
    """Partners by tier under each version: grouped bars, one pair per tier, as an SVG."""
    width, height, top, bottom, left = 560, 260, 44, 40, 40
    most = max([*old.values(), *new.values(), 1])
    group = (width - left - 10) / max(len(order), 1)
    bar = min(40.0, group / 3)
    plot = height - top - bottom
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape("partners by tier")}">',
             f'<line x1="{left}" y1="{top + plot}" x2="{width - 10}" y2="{top + plot}" class="axis"/>']
    for i, tier in enumerate(order):
        x = left + i * group + group / 2 - bar
        for j, (counts, cls) in enumerate(((old, "old"), (new, "new"))):
            n = counts.get(tier, 0)
            h = plot * n / most
            bx = x + j * bar
            parts.append(f'<rect class="{cls}" x="{bx:.1f}" y="{top + plot - h:.1f}" width="{bar - 2:.1f}" '
                         f'height="{h:.1f}"><title>{escape(tier)}: {n:,}</title></rect>')
            parts.append(f'<text class="n" x="{bx + bar / 2 - 1:.1f}" y="{top + plot - h - 4:.1f}" '
                         f'text-anchor="middle">{n:,}</text>')
        parts.append(f'<text class="tier" x="{left + i * group + group / 2:.1f}" y="{height - bottom + 18}" '
                     f'text-anchor="middle">{escape(tier)}</text>')
    parts.append(f'<rect class="old" x="{left}" y="4" width="10" height="10"/>'
                 f'<text x="{left + 14}" y="13">{escape(old_label)}</text>'
                 f'<rect class="new" x="{left + 160}" y="4" width="10" height="10"/>'
                 f'<text x="{left + 174}" y="13">{escape(new_label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
