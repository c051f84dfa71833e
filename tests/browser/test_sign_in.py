"""Issue 11 (1): signing in and out of the pages in a real browser, CSRF, the attempts' limit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import ROLES, Live, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

Shot = Callable[["Page", str], Path]
Axe = Callable[["Page"], list[dict[str, Any]]]
HOMES = {"partner": "/r", "issuer": "/issue", "auditor": "/audit", "admin": "/docs"}


def _session_cookies(page: Page) -> list[dict[str, Any]]:
    return [c for c in page.context.cookies() if c["name"].endswith("vs_session")]


def _signed_in_here(page: Page) -> bool:
    page.goto("/login")
    return page.get_by_role("button", name="Se déconnecter").count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_through_the_form_and_out_again(
    role: str, live: Live, signed_in: Callable[..., Page], screenshot: Shot
) -> None:
    page = signed_in(role)
    assert page.url == live.base_url + HOMES[role]
    screenshot(page, f"sign-in-{role}-home")
    (cookie,) = _session_cookies(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert not cookie["secure"]  # served on http://127.0.0.1: the one exception
    page.goto("/login")
    assert page.get_by_text("Une session est déjà ouverte").is_visible()
    screenshot(page, f"sign-in-{role}-signed-in")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/login")
    assert page.get_by_role("button", name="Se déconnecter").count() == 0
    assert page.get_by_role("heading", name="Connexion").is_visible()
    screenshot(page, f"sign-in-{role}-signed-out")
    assert not _signed_in_here(page)


def test_next_takes_the_person_back_to_the_page_asked_for(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot
) -> None:
    page = signed_in("issuer", next_path="/problems/not-found")
    assert page.url == live.base_url + "/problems/not-found"
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    screenshot(page, "sign-in-next")


def test_a_wrong_password_and_an_unknown_email_get_the_same_message(
    live: Live, new_page: Callable[..., Page], screenshot: Shot
) -> None:
    page = new_page()
    sign_in(page, live.people["partner"].email, "pas le bon mot de passe")
    alert = page.get_by_role("alert")
    assert alert.inner_text().strip() == "Adresse e-mail ou mot de passe incorrect."
    assert page.get_by_label("Adresse e-mail").input_value() == live.people["partner"].email
    assert _session_cookies(page) == [] or not _signed_in_here(page)
    screenshot(page, "sign-in-wrong-password")
    sign_in(page, "personne@exemple.fr", "pas le bon mot de passe")
    assert page.get_by_role("alert").inner_text().strip() == (
        "Adresse e-mail ou mot de passe incorrect."
    )
    assert not _signed_in_here(page)


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = signed_in("partner")
    page.goto("/login")
    with page.expect_navigation() as navigation:
        # A form another site could make: the same action, without the token.
        page.evaluate(
            """() => { const form = document.createElement("form");
                       form.method = "post"; form.action = "/logout";
                       document.body.append(form); form.submit(); }"""
        )
    answer = navigation.value
    assert answer is not None and answer.status == 400
    assert page.get_by_role("heading", name="Formulaire expiré ou incomplet").is_visible()
    assert "Rien n'a été modifié" in page.content()
    screenshot(page, "sign-in-csrf-refused")
    assert axe(page) == []
    assert _signed_in_here(page)  # still signed in: the sign-out did not happen
    refused = page.request.post("/logout", headers={"X-CSRFToken": "not-the-token"})
    assert refused.status == 400
    assert _signed_in_here(page)


def test_too_many_failed_attempts_lock_the_email_even_with_the_right_password(
    live: Live, new_page: Callable[..., Page], screenshot: Shot
) -> None:
    email, password = "limite@exemple.fr", "le bon mot de passe, enfin"
    live.cli(
        "user", "create", "--email", email, "--role", "auditor", "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    page = new_page()
    for _ in range(10):  # ten failures are allowed in 15 minutes
        sign_in(page, email, "un mauvais mot de passe")
        assert "incorrect" in page.get_by_role("alert").inner_text()
    sign_in(page, email, "un mauvais mot de passe")  # the eleventh is one too many
    assert "Trop de tentatives" in page.get_by_role("alert").inner_text()
    page.goto("/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Se connecter").click()
    answer = navigation.value
    assert answer is not None and answer.status == 429
    assert 0 < int(answer.headers["retry-after"]) <= 15 * 60
    assert "Trop de tentatives" in page.get_by_role("alert").inner_text()
    assert not _signed_in_here(page)
    page.goto("/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    screenshot(page, "sign-in-rate-limited")
    # Another person, from the same address, still signs in.
    other = new_page()
    sign_in(other, live.people["auditor"].email, live.people["auditor"].password)
    assert "/login" not in other.url


@pytest.mark.parametrize("path", ["/login", "/login?next=/audit", "/problems/voucher-expired"])
def test_axe_finds_nothing_serious(
    path: str, new_page: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = new_page()
    page.goto(path)
    name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
    screenshot(page, f"axe-{name}")
    assert axe(page) == []


def test_axe_finds_nothing_serious_on_a_phone_after_a_wrong_password(
    live: Live, new_page: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = new_page(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    sign_in(page, live.people["issuer"].email, "faux mot de passe")
    screenshot(page, "sign-in-phone-wrong-password")
    assert axe(page) == []


def test_the_axe_helper_does_report_a_serious_violation(
    new_page: Callable[..., Page], axe: Axe
) -> None:
    page = new_page()
    page.set_content(
        '<html lang="fr"><title>t</title><main><img src="x.png"><input type="text"></main></html>'
    )
    found = {violation["id"] for violation in axe(page)}
    assert {"image-alt", "label"} <= found


def test_a_page_sends_a_stranger_to_login_and_back_after_signing_in(
    live: Live, new_page: Callable[..., Page], screenshot: Shot
) -> None:
    page = new_page()
    page.goto("/audit")
    assert page.url == live.base_url + "/login?next=/audit"
    person = live.people["auditor"]
    page.get_by_label("Adresse e-mail").fill(person.email)
    page.get_by_label("Mot de passe").fill(person.password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/audit")
    screenshot(page, "sign-in-then-audit")


def test_another_roles_page_is_a_french_403_page(
    signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    page = signed_in("partner", viewport={"width": 360, "height": 740}, is_mobile=True)
    answer = page.goto("/audit")
    assert answer is not None and answer.status == 403
    assert page.get_by_role("heading", name="Accès non autorisé").is_visible()
    assert page.get_by_text("lieu partenaire").first.is_visible()
    screenshot(page, "sign-in-forbidden-phone")
    assert axe(page) == []
    page.get_by_role("link", name="votre page d'accueil").click()
    page.wait_for_url("**/r")
