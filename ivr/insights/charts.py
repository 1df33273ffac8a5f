"""Server-rendered SVG charts: no script, no CDN, readable by screen readers (each bar has a title).

The SVG scales to its container through its viewBox, so one chart fits a phone and a desktop.
"""
from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR = "#2a6f97"
AXIS = "#59606b"


def _nice_max(value: int) -> int:
    if value <= 5:
        return max(value, 1)
    for step in (1, 2, 5):
        magnitude = 10 ** (len(str(value)) - 1)
        top = step * magnitude
        if top >= value:
            return top
    return 10 ** len(str(value))


def bar_chart(points: list[tuple[str, int]], title: str, unit: str = "calls", label_every: int = 1,
              chart_id: str = "") -> Markup:
    """Vertical bars, one per (label, value); every `label_every`-th label is printed under the axis."""
    width, height, left, bottom, top = 640, 240, 36, 34, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = _nice_max(max((v for _, v in points), default=0))
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.72, 1.0)
    total = sum(v for _, v in points)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
             f'xmlns="http://www.w3.org/2000/svg" id="{chart_id}" data-total="{total}">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{total} {unit} in all; highest {max((v for _, v in points), default=0)}.</desc>']
    for frac in ((0, 0.5, 1) if peak % 2 == 0 else (0, 1)):  # only whole-number gridlines
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="{AXIS}">'
                     f'{round(peak * frac)}</text>')
    for i, (label, value) in enumerate(points):
        h = plot_h * value / peak if peak else 0
        x = left + i * slot + (slot - bar_w) / 2
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                     f'fill="{BAR}" data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {value} {unit}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'font-size="12" fill="{AXIS}">{escape(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbar_chart(points: list[tuple[str, int]], title: str, unit: str = "times", chart_id: str = "") -> Markup:
    """Horizontal bars for ranked lists (top questions, outcomes); labels sit above their bar."""
    width, row = 640, 38
    height = max(row * len(points), row) + 4
    peak = max((v for _, v in points), default=0) or 1
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}-t" '
             f'xmlns="http://www.w3.org/2000/svg" id="{chart_id}">',
             f'<title id="{chart_id}-t">{escape(title)}</title>']
    if not points:
        parts.append(f'<text x="0" y="24" font-size="14" fill="{AXIS}">Nothing in this period.</text>')
    for i, (label, value) in enumerate(points):
        y = i * row
        w = (width - 60) * value / peak
        short = label if len(label) <= 80 else label[:77] + "…"
        parts.append(f'<text x="0" y="{y + 13}" font-size="13" fill="#1d2330">{escape(short)}</text>')
        parts.append(f'<rect class="bar" x="0" y="{y + 18}" width="{max(w, 2):.1f}" height="14" fill="{BAR}" '
                     f'data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {value} {unit}</title></rect>')
        parts.append(f'<text x="{max(w, 2) + 6:.1f}" y="{y + 30}" font-size="12" fill="{AXIS}">{value}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
