"""Charts as inline SVG, drawn on the server from figures already suppressed.

No script and no ``style`` attribute (the Content-Security-Policy forbids both): colours come from
classes in static/css. A withheld count draws no bar, only its marker ("<10" or "x"), so the chart
says no more than the table under it. Each chart names itself for screen readers and points to
that table, which holds the same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
SERIES_CLASSES = 6  # .s0 … .s5 in static/css/idsys.css
LABEL_CHARS = 50  # longer category names are cut short in a chart


@dataclass(frozen=True)
class Point:
    """One bar: the count when shown, else the marker that stands in for it."""

    value: int | None
    marker: str | None


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]


def _text(x: float, y: float, text: str, css: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{css}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _frame(key: str, title: str, description: str, height: float, body: list[str]) -> Markup:
    return Markup(  # noqa: S704 -- every text in body went through escape() above
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'role="img" aria-labelledby="{key}-title {key}-desc" focusable="false">'
        f'<title id="{key}-title">{escape(title)}</title>'
        f'<desc id="{key}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _scale(series: Sequence[Series]) -> int:
    top = max((p.value or 0 for s in series for p in s.points), default=0)
    return max(top, 1)


def bars(
    key: str,
    title: str,
    description: str,
    labels: Sequence[str],
    points: Sequence[Point],
    number: Callable[[int], str],
) -> Markup:
    """Horizontal bars, one per category: easy to read with long category names (cut short
    here when very long; the table has them whole)."""
    labels = [
        label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…" for label in labels
    ]
    longest = max((len(label) for label in labels), default=0)
    label_width, row, top = min(max(60.0, longest * 6.4 + 14), 330.0), 22.0, 8.0
    plot = WIDTH - label_width - 70
    scale = _scale([Series("", tuple(points))])
    body: list[str] = []
    for index, (label, point) in enumerate(zip(labels, points, strict=True)):
        y = top + index * row
        body.append(_text(label_width - 8, y + 15, label, "label", "end"))
        if point.value is None:
            body.append(_text(label_width + 4, y + 15, point.marker or "", "marker"))
            continue
        length = plot * point.value / scale
        body.append(
            f'<rect x="{label_width:.1f}" y="{y + 3:.1f}" width="{length:.1f}" '
            f'height="{row - 6:.1f}" class="bar s0"/>'
        )
        body.append(_text(label_width + length + 4, y + 15, number(point.value), "value"))
    body.append(
        f'<line x1="{label_width:.1f}" y1="{top:.1f}" x2="{label_width:.1f}" '
        f'y2="{top + row * len(labels):.1f}" class="axis"/>'
    )
    return _frame(key, title, description, top * 2 + row * len(labels), body)


def columns(
    key: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    number: Callable[[int], str],
) -> Markup:
    """Grouped vertical bars, one group per row (a month or a site), one colour per series.

    Values are not printed on the bars (they would crowd); the table below has them. A withheld
    count is marked at the foot of its bar's place.
    """
    left, right, top, plot_height, legend_row = 56.0, 8.0, 28.0, 220.0, 20.0
    plot_width = WIDTH - left - right
    scale = _scale(series)
    group = plot_width / max(len(labels), 1)
    bar = max(min((group * 0.8) / max(len(series), 1), 28.0), 1.0)
    base = top + plot_height
    body = [
        _text(left - 6, top + 4, number(scale), "tick", "end"),
        _text(left - 6, base, "0", "tick", "end"),
        f'<line x1="{left:.1f}" y1="{top:.1f}" x2="{left + plot_width:.1f}" y2="{top:.1f}" '
        'class="grid"/>',
        f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{left + plot_width:.1f}" y2="{base:.1f}" '
        'class="axis"/>',
    ]
    step = max(1, round(len(labels) / 12))  # at most about 12 labels under the axis
    for index, label in enumerate(labels):
        x0 = left + index * group + (group - bar * len(series)) / 2
        for number_of_series, line in enumerate(series):
            point = line.points[index]
            x = x0 + number_of_series * bar
            css = f"bar s{number_of_series % SERIES_CLASSES}"
            if point.value is None:
                body.append(
                    f'<rect x="{x:.1f}" y="{base - 3:.1f}" width="{bar:.1f}" height="3" '
                    'class="withheld"/>'
                )
                continue
            height = plot_height * point.value / scale
            body.append(
                f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" class="{css}"/>'
            )
        if index % step == 0:
            body.append(_text(left + (index + 0.5) * group, base + 16, label, "tick", "middle"))
    y = base + 28
    x = left
    for number_of_series, line in enumerate(series):
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" '
            f'class="bar s{number_of_series % SERIES_CLASSES}"/>'
        )
        body.append(_text(x + 16, y + 11, line.name, "label"))
        x += 24 + 8 * len(line.name)
        if x > WIDTH - 120:
            x, y = left, y + legend_row
    return _frame(key, title, description, y + legend_row + 4, body)
