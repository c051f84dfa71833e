"""The auditor's page, /audit: the figures, the monthly chart, the checkpoint, the downloads."""

from __future__ import annotations

import html
import io
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Clock, World, make_world
from voucher_service.clock import now
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.people.accounts import create_user
from voucher_service.web.audit_pages import age_in_words

SVG = re.compile(r"<svg .*?</svg>", re.S)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def sign_in(world: World, role: str = "auditor") -> None:
    """A person's session for `world.client`, as /login leaves it (web/people.py)."""
    database = world.client.application.extensions["voucher_service"].database
    binding = {"organisation_id": world.organisation_id} if role == "issuer" else {}
    user = create_user(
        database,
        f"{role}-{uuid.uuid4().hex[:6]}@example.fr",
        role,
        "un mot de passe assez long",
        now(),
        **binding,
    )
    with world.client.session_transaction() as session:
        session["uid"], session["gen"], session["seen"] = user["id"], 0, int(now().timestamp())


def text(response: Any) -> str:
    return html.unescape(response.text)


@pytest.fixture
def world(app: Flask, client: FlaskClient, clock: Clock) -> World:
    """The usual world on 2 November 2026: two booklets in October, one voucher redeemed,
    then three redeemed in November, and October settled on 2 November; the log integrated."""
    clock.current = at("2026-10-05T09:00:00+00:00")
    made = make_world(app, client)
    october = made.issue("dossier-a", size=4).json["vouchers"]
    assert made.redeem(token=october[0]["token"]).status_code == 201
    clock.current = at("2026-11-02T09:00:00+00:00")
    for voucher in october[1:]:
        assert made.redeem(token=voucher["token"]).status_code == 201
    settled = made.client.post(
        "/v1/settlements",
        json={"program_id": made.program_id, "period": "2026-10"},
        headers=made.headers("admin", uuid.uuid4().hex),
    )
    assert settled.status_code == 201, settled.json
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    clock.current = at("2026-11-02T09:03:30+00:00")
    return made


def test_a_visitor_is_sent_to_sign_in_and_an_issuer_is_refused(world: World) -> None:
    for path in ("/audit", "/audit/grand-livre.csv", "/audit/paquet-d-audit.zip"):
        answer = world.client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")
    sign_in(world, "issuer")
    assert world.client.get("/audit").status_code == 403
    assert world.client.get("/audit/grand-livre.csv").status_code == 403


def test_the_page_shows_each_programmes_figures_in_euros(world: World) -> None:
    sign_in(world)
    page = world.client.get("/audit")
    assert page.status_code == 200
    body = text(page)
    assert "Pass Numérique Haute-Vienne" in body and "Département de la Haute-Vienne" in body
    figures = dict(
        re.findall(r'<span class="label">([^<]+)</span><span class="value">([^<]+)</span>', body)
    )
    assert figures == {
        "Budget": "1\u202f000,00\u00a0€",
        "Émis": "40,00\u00a0€",
        "Encaissé": "40,00\u00a0€",
        "Réglé": "10,00\u00a0€",
        "Payé": "0,00\u00a0€",
        "Expiré": "0,00\u00a0€",
        "Annulé": "0,00\u00a0€",
        "En circulation": "0,00\u00a0€",
        "Disponible": "960,00\u00a0€",
    }
    assert "le beneficiary" not in body and "dossier-a" not in body  # never a reference


def test_the_monthly_chart_is_an_accessible_svg_with_its_table(world: World) -> None:
    sign_in(world)
    body = world.client.get("/audit").text
    svg, narrow = SVG.findall(body)  # one for wide screens, one for phones (6 months)
    root = ET.fromstring(svg)  # noqa: S314 - our own markup
    small = ET.fromstring(narrow)  # noqa: S314
    assert small.get("role") == "img" and small.get("id") != root.get("id")
    assert [r.get("data-month") for r in small.iter("{http://www.w3.org/2000/svg}rect")][-1] == (
        "2026-11"
    )
    assert len(list(small.iter("{http://www.w3.org/2000/svg}rect"))) == 12  # 6 months, 2 bars
    assert root.get("role") == "img"
    issued = {
        r.get("data-month"): int(r.get("data-cents", "0"))
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if "issued" in r.get("class", "")
    }
    redeemed = {
        r.get("data-month"): int(r.get("data-cents", "0"))
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if "redeemed" in r.get("class", "")
    }
    assert len(issued) == 12 and list(issued)[-1] == "2026-11"  # the last twelve months
    assert issued["2026-10"] == 4000 and issued["2026-11"] == 0
    assert redeemed["2026-10"] == 1000 and redeemed["2026-11"] == 3000
    readable = html.unescape(body)
    assert "<caption>Chèques émis et encaissés par mois, Pass Numérique Haute-Vienne</caption>" in (
        readable
    )
    assert '<th scope="row">octobre 2026</th><td class="amount">40,00\u00a0€</td>' in readable


def test_the_latest_checkpoint_with_its_size_and_age_in_words(world: World) -> None:
    sign_in(world)
    body = text(world.client.get("/audit"))
    size = int(re.search(r"<strong>(\d+) opérations</strong>", body).group(1))  # type: ignore[union-attr]
    checkpoint = world.client.get("/v1/ledger/checkpoint").text.splitlines()
    assert size == int(checkpoint[1]) > 0
    assert "il y a 3 minutes" in body and "(le 02/11/2026 à 10 h 00)" in body


def test_the_settlements_are_listed_with_their_statements(world: World) -> None:
    sign_in(world)
    body = text(world.client.get("/audit"))
    body = body[body.index('id="reglements"') :]
    row = re.search(r"<tr><th scope=\"row\">octobre 2026</th>.*?</tr>", body, re.S)
    assert row is not None
    assert "Médiathèque francophone" in row.group(0) and "10,00\u00a0€" in row.group(0)
    assert "en paiement" in row.group(0)
    link = re.search(r'href="(/audit/reglements/[^"]+\.csv)"', body).group(1)  # type: ignore[union-attr]
    statement = world.client.get(link)
    assert statement.status_code == 200 and statement.mimetype == "text/csv"
    pdf = world.client.get(link.replace(".csv", ".pdf"))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_every_download_works_for_a_signed_in_auditor_without_an_api_key(world: World) -> None:
    sign_in(world)
    body = world.client.get("/audit").text
    links = re.findall(r'href="(/audit/[^"#]+)"', body)
    wanted = {
        "/audit/grand-livre.csv": "text/csv",
        "/audit/paquet-d-audit.zip": "application/zip",
        f"/audit/programmes/{world.program_id}/rapport.csv": "text/csv",
        f"/audit/programmes/{world.program_id}/releve-de-cloture.pdf": "application/pdf",
    }
    assert set(wanted) <= set(links)
    for path, mimetype in wanted.items():
        answer = world.client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        assert answer.mimetype == mimetype and "attachment" in answer.headers["Content-Disposition"]
    ledger = world.client.get("/audit/grand-livre.csv").text
    api = world.client.get("/v1/ledger/export.csv", headers=world.headers("auditor")).text
    assert ledger == api  # the same use case
    bundle = zipfile.ZipFile(io.BytesIO(world.client.get("/audit/paquet-d-audit.zip").data))
    assert {"entries.jsonl", "checkpoint", "manifest.json"} <= set(bundle.namelist())
    report = world.client.get(f"/audit/programmes/{world.program_id}/rapport.csv")
    assert report.data.startswith(b"\xef\xbb\xbf")  # a spreadsheet reads its accents


def test_an_empty_service_says_so(app: Flask, client: FlaskClient) -> None:
    world = make_world(app, client)
    sign_in(world)
    body = text(world.client.get("/audit"))
    assert "Aucun chèque émis ni encaissé sur la période" in body
    assert "Aucun règlement pour l'instant." in body
    assert "le journal est vide" in body or "opération" in body


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "il y a moins d'une minute"),
        (59, "il y a moins d'une minute"),
        (60, "il y a 1 minute"),
        (3 * 60 + 30, "il y a 3 minutes"),
        (3600, "il y a 1 heure"),
        (5 * 3600, "il y a 5 heures"),
        (86400 * 2 + 5, "il y a 2 jours"),
        (-10, "il y a moins d'une minute"),  # a clock a little behind another
    ],
)
def test_ages_read_in_words(seconds: int, words: str) -> None:
    from datetime import timedelta

    then = at("2026-11-02T09:00:00+00:00")
    assert age_in_words(then, then + timedelta(seconds=seconds)) == words


def test_no_page_or_file_is_kept_in_a_cache(world: World) -> None:
    sign_in(world)
    for path in ("/audit", "/audit/grand-livre.csv", "/audit/paquet-d-audit.zip"):
        assert world.client.get(path).headers["Cache-Control"] == "no-store", path
