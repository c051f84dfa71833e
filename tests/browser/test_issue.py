"""Issue 11 (3): a social worker issues a booklet in a real browser and downloads its PDF."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import Live

if TYPE_CHECKING:
    from playwright.sync_api import Page

Shot = Callable[["Page", str], Path]
Axe = Callable[["Page"], list[dict[str, Any]]]


def test_issuing_a_booklet_and_downloading_its_pdf(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot, axe: Axe, tmp_path: Path
) -> None:
    # The demo's CCAS gets its address, as an admin would enter it: venues come with distances.
    live.api(
        "PATCH",
        f"/v1/organisations/{live.organisation_id}",
        "admin",
        {
            "address": "Place Léon Betoulle",
            "postcode": "87000",
            "latitude": 45.8297,
            "longitude": 1.2578,
        },
    )
    page = signed_in("issuer")
    assert page.url == live.base_url + "/issue"
    assert page.get_by_role("heading", name="Émettre un carnet de chèques").is_visible()
    screenshot(page, "issue-form")
    assert axe(page) == []
    reference = f"dossier-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Référence du dossier de la personne").first.fill(reference)
    page.get_by_label("Nombre de chèques (facultatif)").fill("3")
    page.get_by_role("button", name="Émettre le carnet").click()
    page.wait_for_url(re.compile(r"/issue/carnets/[0-9a-f-]{36}\?fait=emis$"))
    assert page.get_by_role("status").filter(has_text="Le carnet est émis.").is_visible()
    assert page.get_by_text("3, pour").is_visible()
    assert page.locator("ul.venues li").count() > 0  # the venues near the organisation
    assert "\u00a0km" in page.locator("ul.venues li").first.inner_text()
    screenshot(page, "issue-booklet")
    assert axe(page) == []
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Télécharger le PDF du carnet").click()
    download = waiting.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename.startswith("carnet-")
    assert saved.read_bytes().startswith(b"%PDF")
    booklet_id = page.url.split("/issue/carnets/")[1].split("?")[0]
    issued = live.api("GET", f"/v1/booklets/{booklet_id}", "admin")
    assert [v["status"] for v in issued["vouchers"]] == ["issued"] * 3


def test_a_refusal_reads_in_french_and_the_keyboard_reaches_every_field(
    signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = signed_in("issuer", viewport={"width": 390, "height": 844}, is_mobile=True)
    page.get_by_label("Nombre de chèques (facultatif)").fill("99")
    page.get_by_role("button", name="Émettre le carnet").click()
    page.wait_for_load_state()
    alert = page.get_by_role("alert").first
    assert "Le formulaire n'a pas été envoyé" in alert.inner_text()
    assert "Indiquez la référence du dossier de la personne." in alert.inner_text()
    assert (
        page.get_by_label("Nombre de chèques (facultatif)").get_attribute("aria-invalid") == "true"
    )
    screenshot(page, "issue-refused-phone")
    assert axe(page) == []
    # The keyboard: from the skip link, Tab reaches the programme, the reference and the size.
    page.keyboard.press("Tab")
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.id"))
    assert {"program_id", "beneficiary_ref", "size"} <= set(focused)


def test_finding_cancelling_and_reissuing_a_lost_booklet(
    signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = signed_in("issuer")
    reference = f"dossier-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Référence du dossier de la personne").first.fill(reference)
    page.get_by_label("Nombre de chèques (facultatif)").fill("2")
    page.get_by_role("button", name="Émettre le carnet").click()
    page.wait_for_url(re.compile(r"fait=emis"))
    page.goto("/issue")
    page.get_by_label("Référence du dossier", exact=True).fill(reference)
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"1 carnet pour la référence « {reference} »").is_visible()
    screenshot(page, "issue-search")
    assert axe(page) == []
    page.get_by_role("link", name="Carnets de la structure").click()
    page.wait_for_load_state()
    assert page.get_by_role("table", name=re.compile("^Les carnets émis")).is_visible()
    screenshot(page, "issue-booklets")
    assert axe(page) == []
    page.get_by_role("link", name=re.compile("^Ouvrir")).last.click()  # the newest is last
    page.get_by_label("Motif").fill("perdu")
    page.get_by_label("Je confirme l'annulation de ce carnet").check()
    page.get_by_role("button", name="Annuler le carnet").click()
    page.wait_for_url(re.compile(r"fait=annule"))
    assert page.get_by_role("status").filter(has_text="Le carnet est annulé").is_visible()
    screenshot(page, "issue-cancelled")
    assert axe(page) == []
    page.get_by_role("button", name="Émettre le carnet de remplacement").click()
    page.wait_for_url(re.compile(r"fait=remplace"))
    assert page.get_by_text("2 valables").is_visible()
    screenshot(page, "issue-reissued")
    assert axe(page) == []
