"""Issue 11 (4): the auditor's page in a real browser: figures, chart, checkpoint, exports."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tests.browser.conftest import Live

if TYPE_CHECKING:
    from playwright.sync_api import Page

Shot = Callable[["Page", str], Path]
Axe = Callable[["Page"], list[dict[str, Any]]]


def settle_last_month(live: Live) -> None:
    """The admin settles the demo's last month (its history has redemptions then)."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date().replace(day=1)
    last = (today - timedelta(days=1)).strftime("%Y-%m")
    request = urllib.request.Request(  # noqa: S310 - our own service on 127.0.0.1
        live.base_url + "/v1/settlements",
        method="POST",
        data=json.dumps({"program_id": live.program_id, "period": last}).encode(),
        headers={
            "Authorization": f"Bearer {live.keys['admin']}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"browser-audit-{last}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status in (200, 201)


def test_the_audit_page(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot, axe: Axe, tmp_path: Path
) -> None:
    settle_last_month(live)
    page = signed_in("auditor")
    assert page.url == live.base_url + "/audit"
    assert page.get_by_role("heading", name="Audit des programmes", level=1).is_visible()
    chart = page.get_by_role("img", name="Chèques émis et encaissés par mois")
    assert chart.count() >= 1 and chart.first.is_visible()
    assert page.locator("ul.figures .value").first.inner_text().endswith("€")
    assert "Dernier point de contrôle signé" in page.locator(".checkpoint").inner_text()
    settlements = page.get_by_role("table", name=re.compile("^Les règlements"))
    assert settlements.locator("tbody tr").count() >= 1
    screenshot(page, "audit")
    assert axe(page) == []
    for name, prefix in (
        ("Grand livre complet", b""),
        ("Paquet d'audit", b"PK"),
        ("Relevé de clôture", b"%PDF"),
        ("Rapport mensuel", b"\xef\xbb\xbf"),
    ):
        with page.expect_download() as waiting:
            page.get_by_role("link", name=name).first.click()
        saved = tmp_path / waiting.value.suggested_filename
        waiting.value.save_as(saved)
        assert saved.stat().st_size > 0 and saved.read_bytes().startswith(prefix), name


def test_the_audit_page_on_a_phone(
    signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = signed_in("auditor", viewport={"width": 390, "height": 844}, is_mobile=True)
    screenshot(page, "audit-phone")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.table-scroll')
                    && !e.closest('.visually-hidden'))
            .map((e) => e.tagName + '.' + e.className)"""
    )
    assert wide == []  # nothing wider than the screen but the scrolled tables
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert axe(page) == []
