"""A server-rendered SVG bar chart of mentions and flagged posts per day (no JavaScript, no CDN).

Only numbers and dates we format ourselves go into the SVG, and they are escaped anyway; colours are
presentation attributes and CSS classes, since the CSP forbids inline ``style``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 240
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 40, 28, 12


class ChartDay(Protocol):
    """What ``review.official_timeline`` returns per day."""

    @property
    def day(self) -> date: ...
    @property
    def mentions(self) -> int: ...
    @property
    def flagged(self) -> int: ...


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    return value


def timeline_svg(days: Sequence[ChartDay], *, title: str, mentions_label: str, flagged_label: str) -> Markup:
    """Two bars a day (mentions, flagged), a y axis with four grid lines, every seventh date labelled."""
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 8, HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    top = _nice_max(max([d.mentions for d in days] + [d.flagged for d in days] + [1]))
    slot = plot_w / max(len(days), 1)
    bar = max(slot / 2 - 1, 1)
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        value = top * i // 4
        y = MARGIN_TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text class="axis" x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="10">{value}</text>'
        )
    for index, day in enumerate(days):
        x = MARGIN_LEFT + index * slot
        for offset, count, css, colour, name in (
            (0.0, day.mentions, "mentions", "#8aa4c8", mentions_label),
            (bar, day.flagged, "flagged", "#c0392b", flagged_label),
        ):
            h = plot_h * count / top
            out.append(
                f'<rect class="{css}" x="{x + offset:.1f}" y="{MARGIN_TOP + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}" fill="{colour}" data-day="{day.day.isoformat()}" '
                f'data-count="{count}"><title>{day.day.isoformat()}: {escape(name)} {count}</title></rect>'
            )
        last = len(days) - 1
        if index % 7 == 0 or (index == last and last % 7 >= 3):  # the last day, unless crowded
            out.append(
                f'<text class="axis" x="{x + bar:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                f'font-size="10">{day.day.strftime("%d-%m")}</text>'
            )
    out.append(
        f'<rect x="{MARGIN_LEFT + 4}" y="2" width="10" height="8" fill="#8aa4c8"/>'
        f'<text x="{MARGIN_LEFT + 18}" y="10" font-size="10">{escape(mentions_label)}</text>'
        f'<rect x="{MARGIN_LEFT + 124}" y="2" width="10" height="8" fill="#c0392b"/>'
        f'<text x="{MARGIN_LEFT + 138}" y="10" font-size="10">{escape(flagged_label)}</text></svg>'
    )
    return Markup("".join(out))
