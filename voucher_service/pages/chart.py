"""A programme's months as an SVG bar chart, drawn on the server: no script, no library.

Each month has two bars side by side, the vouchers issued and those redeemed (in cents),
on one scale from zero, so that a bar's height is proportional to its amount. The SVG is
accessible on its own (role="img", a <title> and a <desc> that say what it shows); the
page puts the same numbers in a table for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from voucher_service.printing.french import MONTHS, NBSP, NNBSP, amount

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 80, 12, 16, 48  # room for the scale and the months' names
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
NARROW_WIDTH, NARROW_MONTHS = 360, 6  # for phones: fewer months, the same size of text
TICKS = 4
ISSUED_COLOUR = "#1f3c88"  # the site's accent: 10.4:1 on white
REDEEMED_COLOUR = "#126b3a"  # the site's "good" green: 6.6:1 on white
GRID_COLOUR = "#6b6b6b"
INK = "#161616"
SHORT_MONTHS = (
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
)  # fmt: skip


@dataclass(frozen=True)
class MonthBar:
    month: str  # "2026-11"
    issued_cents: int
    redeemed_cents: int


def months_from_report(report: dict[str, Any], last: int = 12) -> list[MonthBar]:
    """The last `last` months of a programme's report (reports/api.program_report)."""
    return [
        MonthBar(
            month["month"],
            int(month["totals"].get("issued_cents", 0)),
            int(month["totals"].get("redeemed_cents", 0)),
        )
        for month in report["months"][-last:]
    ]


def month_label(month: str, *, short: bool = False) -> str:
    """`2026-11` → `novembre 2026`, or `nov. 26` when short (the chart's axis)."""
    year, number = int(month[:4]), int(month[5:7])
    if short:
        return f"{SHORT_MONTHS[number - 1]}{NBSP}{year % 100:02d}"
    return f"{MONTHS[number - 1]} {year}"


def nice_ceiling(cents: int) -> int:
    """The top of the scale: 1, 2, 2.5 or 5 times a power of ten euros, at least `cents`
    (and at least 10 €, so that an empty chart still has a scale)."""
    euros = max(cents, 1) / 100
    step = 10.0
    while True:
        for factor in (1, 2, 2.5, 5):
            if step * factor >= euros:
                return int(step * factor * 100)
        step *= 10


def euros(cents: int) -> str:
    """A scale's label: whole euros, `1 200 €` (with cents only when it has some)."""
    if cents % 100:
        return amount(cents)
    return f"{cents // 100:,}".replace(",", NNBSP) + f"{NBSP}€"


def monthly_chart(
    months: Sequence[MonthBar], *, title: str, chart_id: str, width: int = WIDTH
) -> Markup:
    """The chart as inline SVG markup, `width` units wide (drawn at that many CSS pixels at
    most, so its text stays legible: a narrow one for phones); `chart_id` makes its ids
    unique on the page."""
    plot_width = width - LEFT - RIGHT
    title_id, desc_id = f"{chart_id}-titre", f"{chart_id}-desc"
    top = nice_ceiling(
        max([0, *(m.issued_cents for m in months), *(m.redeemed_cents for m in months)])
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" '
        f'font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(describe(months))}</desc>',
    ]
    parts += _scale(top, plot_width)
    if not months or all(m.issued_cents == 0 and m.redeemed_cents == 0 for m in months):
        parts.append(
            f'<text x="{LEFT + plot_width / 2:.1f}" y="{TOP + PLOT_HEIGHT / 2:.1f}" '
            f'text-anchor="middle" fill="{INK}">Aucun chèque émis ni encaissé sur la période</text>'
        )
    parts += _bars(months, top, plot_width)
    parts.append("</svg>")
    # Every piece of text in it was escaped above; the rest is our own markup.
    return Markup("".join(parts))  # noqa: S704


def describe(months: Sequence[MonthBar]) -> str:
    """What the chart shows, in words: its period and its totals."""
    if not months:
        return "Aucun mois à montrer."
    issued = sum(m.issued_cents for m in months)
    redeemed = sum(m.redeemed_cents for m in months)
    period = (
        month_label(months[0].month)
        if len(months) == 1
        else f"{_from(month_label(months[0].month))} à {month_label(months[-1].month)}"
    )
    return (
        f"Montants des chèques émis et encaissés chaque mois, {period}. "
        f"Au total : {amount(issued)} émis, {amount(redeemed)} encaissés. "
        "Les mêmes chiffres figurent dans le tableau qui suit."
    )


def _from(label: str) -> str:
    """`de mars`, but `d'avril`, `d'août`, `d'octobre`."""
    return f"d'{label}" if label[0] in "aeiouéo" else f"de {label}"


def bar_height(cents: int, top: int) -> float:
    return PLOT_HEIGHT * cents / top if top else 0.0


def _scale(top: int, plot_width: float) -> list[str]:
    lines = []
    for tick in range(TICKS + 1):
        value = top * tick // TICKS
        y = TOP + PLOT_HEIGHT - bar_height(value, top)
        dashes = ' stroke-dasharray="2 4"' if tick else ""
        lines.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_width}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="{1 if tick else 2}"{dashes}/>'
        )
        lines.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(euros(value))}</text>"
        )
    return lines


def _bars(months: Sequence[MonthBar], top: int, plot_width: float) -> list[str]:
    if not months:
        return []
    slot = plot_width / len(months)
    width = min(slot * 0.36, 40.0)
    base = TOP + PLOT_HEIGHT
    every = max(1, -(-len(months) // 12))  # at most 12 names under the axis
    shapes = []
    for index, month in enumerate(months):
        middle = LEFT + slot * (index + 0.5)
        for kind, cents, x, colour in (
            ("issued", month.issued_cents, middle - width - 1, ISSUED_COLOUR),
            ("redeemed", month.redeemed_cents, middle + 1, REDEEMED_COLOUR),
        ):
            height = bar_height(cents, top)
            shapes.append(
                f'<rect class="bar {kind}" data-month="{month.month}" data-cents="{cents}" '
                f'x="{x:.1f}" y="{base - height:.1f}" width="{width:.1f}" '
                f'height="{height:.1f}" fill="{colour}"/>'
            )
        if index % every == 0:
            # The month's short name; its year below it, under the first month and January.
            year = index == 0 or month.month.endswith("-01")
            shapes.append(
                f'<text x="{middle:.1f}" y="{base + 18}" text-anchor="middle" fill="{INK}">'
                f"{escape(SHORT_MONTHS[int(month.month[5:7]) - 1])}"
                + (f'<tspan x="{middle:.1f}" dy="16">{month.month[:4]}</tspan>' if year else "")
                + "</text>"
            )
    return shapes
