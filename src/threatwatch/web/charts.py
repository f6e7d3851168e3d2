"""Server-rendered SVG bar charts (no JavaScript, no CDN): an official's mentions and flagged posts per
day, and a person's posts per week by label.

Only numbers and dates we format ourselves go into the SVG, and they are escaped anyway; colours are
presentation attributes and CSS classes, since the CSP forbids inline ``style``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
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


# One colour per label (the badges' hues, darker for contrast on white); presentation attributes only.
LABEL_COLOURS: dict[str, str] = {
    "threat": "#c0392b",
    "coercion": "#d35400",
    "doxxing": "#2e5fa8",
    "abuse": "#8e44ad",
    "none": "#7fb77e",
}
MAX_WEEKS = 104  # two years of weeks at most; older weeks fall off the left of the chart


def _week_span(weeks: Sequence[tuple[date, Mapping[str, int]]]) -> list[tuple[date, Mapping[str, int]]]:
    """Every week from the first to the last (empty weeks too, so the x axis is time), at most
    ``MAX_WEEKS`` of the latest."""
    if not weeks:
        return []
    counts = dict(weeks)
    first, last = min(counts), max(counts)
    span: list[tuple[date, Mapping[str, int]]] = []
    week = max(first, last - timedelta(weeks=MAX_WEEKS - 1))
    while week <= last:
        span.append((week, counts.get(week, {})))
        week += timedelta(weeks=1)
    return span


def labels_per_week_svg(
    weeks: Sequence[tuple[date, Mapping[str, int]]], *, title: str, label_names: Mapping[str, str]
) -> Markup:
    """A stacked bar per week (Monday's date) of a person's posts by label, most severe at the bottom;
    a legend of the labels in ``label_names`` order (which also gives the stacking order)."""
    span = _week_span(weeks)
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 8, HEIGHT - MARGIN_BOTTOM - MARGIN_TOP - 8
    base = MARGIN_TOP + 8 + plot_h
    top = _nice_max(max([sum(c.values()) for _, c in span] + [1]))
    slot = plot_w / max(len(span), 1)
    bar = max(min(slot * 0.8, 40.0), 1.0)
    out = [
        f'<svg class="chart weeks" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        value = top * i // 4
        y = base - plot_h * i / 4
        out.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text class="axis" x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="10">{value}</text>'
        )
    every = max(1, -(-len(span) // 10))  # at most about ten dates under the axis
    for index, (week, counts) in enumerate(span):
        x = MARGIN_LEFT + index * slot + (slot - bar) / 2
        y = float(base)
        for label, name in label_names.items():
            count = int(counts.get(label, 0))
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            out.append(
                f'<rect class="week {escape(label)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{LABEL_COLOURS.get(label, "#999")}" '
                f'data-week="{week.isoformat()}" data-label="{escape(label)}" data-count="{count}">'
                f"<title>{week.isoformat()}: {escape(name)} {count}</title></rect>"
            )
        if index % every == 0:
            out.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                f'font-size="10">{week.strftime("%d-%m-%y")}</text>'
            )
    for i, (label, name) in enumerate(label_names.items()):
        lx = MARGIN_LEFT + 4 + i * 120
        out.append(
            f'<rect x="{lx}" y="2" width="10" height="8" fill="{LABEL_COLOURS.get(label, "#999")}"/>'
            f'<text x="{lx + 14}" y="10" font-size="10">{escape(name)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
