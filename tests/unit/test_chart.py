"""The audit page's monthly chart: an SVG drawn on the server, accessible, bars to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from voucher_service.pages.chart import (
    HEIGHT,
    PLOT_HEIGHT,
    TOP,
    MonthBar,
    describe,
    month_label,
    monthly_chart,
    months_from_report,
    nice_ceiling,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own markup


def bars(root: ET.Element, kind: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if kind in r.get("class", "").split()]


def test_the_svg_parses_and_is_an_accessible_image() -> None:
    months = [MonthBar("2026-09", 12_000, 0), MonthBar("2026-10", 30_000, 8_000)]
    root = parse(monthly_chart(months, title="Émis & encaissés <HV87>", chart_id="g1"))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "g1-titre g1-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "g1-titre"
    assert title.text == "Émis & encaissés <HV87>"  # escaped in the markup, whole once parsed
    assert desc is not None and desc.get("id") == "g1-desc"
    assert "de septembre 2026 à octobre 2026" in (desc.text or "")
    assert "420,00\u00a0€ émis, 80,00\u00a0€ encaissés" in (desc.text or "")
    assert "script" not in str(monthly_chart(months, title="t", chart_id="g"))
    assert "style=" not in str(monthly_chart(months, title="t", chart_id="g"))  # the CSP


def test_bars_are_proportional_to_their_amounts_on_one_scale_from_zero() -> None:
    months = [MonthBar("2026-10", 10_000, 2_500), MonthBar("2026-11", 5_000, 7_500)]
    root = parse(monthly_chart(months, title="t", chart_id="g"))
    issued, redeemed = bars(root, "issued"), bars(root, "redeemed")
    assert [b.get("data-month") for b in issued] == ["2026-10", "2026-11"]
    heights = {
        (b.get("data-month"), kind): float(b.get("height", "0"))
        for kind, group in (("issued", issued), ("redeemed", redeemed))
        for b in group
    }
    top = nice_ceiling(10_000)
    assert top == 10_000
    assert heights[("2026-10", "issued")] == pytest.approx(PLOT_HEIGHT)
    assert heights[("2026-11", "issued")] == pytest.approx(PLOT_HEIGHT / 2, abs=0.1)
    assert heights[("2026-10", "redeemed")] == pytest.approx(PLOT_HEIGHT / 4, abs=0.1)
    assert heights[("2026-11", "redeemed")] == pytest.approx(PLOT_HEIGHT * 3 / 4, abs=0.1)
    for bar in issued + redeemed:  # every bar stands on the axis
        assert float(bar.get("y", "0")) + float(bar.get("height", "0")) == pytest.approx(
            TOP + PLOT_HEIGHT, abs=0.1
        )
    assert int(root.get("height", "0")) == HEIGHT
    narrow = parse(monthly_chart(months, title="t", chart_id="g", width=360))
    assert narrow.get("viewBox") == f"0 0 360 {HEIGHT}"
    assert [float(b.get("height", "0")) for b in bars(narrow, "issued")] == [
        float(b.get("height", "0")) for b in issued
    ]  # the same scale, narrower bars
    for bar in bars(narrow, "bar"):
        assert float(bar.get("x", "0")) + float(bar.get("width", "0")) <= 360


def test_an_empty_programme_has_a_scale_and_says_so() -> None:
    quiet = [MonthBar("2026-11", 0, 0)]
    root = parse(monthly_chart(quiet, title="t", chart_id="g"))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "Aucun chèque émis ni encaissé sur la période" in texts
    assert all(float(b.get("height", "1")) == 0 for b in bars(root, "bar"))
    assert "10\u00a0€" in texts  # the smallest scale
    none = parse(monthly_chart([], title="t", chart_id="g"))
    assert none.find(f"{SVG}desc") is not None
    assert describe([]) == "Aucun mois à montrer."


@pytest.mark.parametrize(
    ("cents", "top"),
    [(0, 1000), (999, 1000), (1001, 2000), (2_400, 2_500), (2_600, 5_000), (123_456, 200_000)],
)
def test_the_scale_ends_on_a_round_amount(cents: int, top: int) -> None:
    assert nice_ceiling(cents) == top


def test_months_are_named_in_french() -> None:
    assert month_label("2026-08") == "août 2026"
    assert month_label("2026-02", short=True) == "févr.\u00a026"
    assert month_label("2026-05", short=True) == "mai\u00a026"
    first = describe([MonthBar("2026-04", 0, 0), MonthBar("2026-05", 0, 0)])
    assert "d'avril 2026 à mai 2026" in first


def test_the_last_months_of_a_report_are_taken() -> None:
    report = {
        "months": [
            {"month": f"2026-{n:02d}", "totals": {"issued_cents": n * 100, "redeemed_cents": n}}
            for n in range(1, 13)
        ]
    }
    months = months_from_report(report, last=3)
    assert months == [
        MonthBar("2026-10", 1000, 10),
        MonthBar("2026-11", 1100, 11),
        MonthBar("2026-12", 1200, 12),
    ]
