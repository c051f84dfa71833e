"""The voucher page /r: the page itself, its CSP and weight, compression, its endpoints'
refusals, redeeming through them with a person's session, and the form that works without
JavaScript."""

from __future__ import annotations

import gzip
import re
import uuid
from typing import Any

from flask import Flask, Response
from flask.testing import FlaskClient

from tests.conftest import World
from voucher_service.clock import now
from voucher_service.db import Database
from voucher_service.people.accounts import create_user
from voucher_service.web.compression import compress

PASSWORD = "un mot de passe assez long pour les tests"
GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def sign_in(client: FlaskClient, database: Database, role: str = "partner", **binding: Any) -> None:
    """What the accounts' sign-in stores in the session, for an account made here."""
    user = create_user(
        database, f"{uuid.uuid4().hex[:10]}@example.fr", role, PASSWORD, now(), **binding
    )
    with client.session_transaction() as session:
        session["uid"] = user["id"]
        session["gen"] = 0
        session["seen"] = int(now().timestamp())


def csrf_of(client: FlaskClient) -> str:
    html = client.get("/r").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found is not None and found.group(1)
    return found.group(1)


def nonce_of(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def partner(client: FlaskClient, database: Database, world: World) -> str:
    sign_in(client, database, "partner", partner_id=world.partner_id)
    return csrf_of(client)


def voucher(world: World, index: int = 0) -> dict[str, Any]:
    answer = world.issue(beneficiary=f"case-{uuid.uuid4().hex[:8]}")
    assert answer.status_code == 201, answer.get_json()
    result: dict[str, Any] = answer.get_json()["vouchers"][index]
    return result


# The page -----------------------------------------------------------------------------------


def test_the_page_is_french_html_with_its_own_strict_csp(client: FlaskClient) -> None:
    answer = client.get("/r")
    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "Votre chèque numérique" in html
    assert 'href="/login?next=/r"' in html  # the way in for the venues
    assert 'id="code-form"' not in html  # typing a code is a venue's
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "connect-src 'self'" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "'unsafe-eval'" not in csp and "http" not in csp
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers  # a beneficiary's visit leaves no trace
    assert "<script>" not in html and "style=" not in html  # nothing inline: the CSP holds
    assert 'src="/static/vendor' not in html  # the scanner loads only when asked for
    # The WebAssembly allowance is this page's alone.
    other = client.get("/problems/not-found")
    assert "wasm-unsafe-eval" not in other.headers["Content-Security-Policy"]


def test_the_page_weighs_under_150_kb_compressed_before_the_scanner(client: FlaskClient) -> None:
    page = client.get("/r", headers=GZIP)
    html = gzip.decompress(page.get_data()).decode()
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert {"/static/site.css", "/static/r.css", "/static/r.js"} <= set(assets)
    total = len(page.get_data())
    for path in assets:
        answer = client.get(path, headers=GZIP)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Encoding"] == "gzip", path
        total += len(answer.get_data())
    assert total < 150 * 1024, total
    # and the scanner, once asked for, is served by the service itself, compressed too
    wasm = client.get("/static/vendor/barcode-detector/zxing_reader.wasm", headers=GZIP)
    assert wasm.status_code == 200 and wasm.mimetype == "application/wasm"
    assert wasm.headers["Content-Encoding"] == "gzip"
    again = client.get("/static/vendor/barcode-detector/zxing_reader.wasm", headers=GZIP)
    assert again.get_data() == wasm.get_data()  # compressed once, kept for its version
    assert gzip.decompress(wasm.get_data())[:4] == b"\0asm"
    script = client.get("/static/vendor/barcode-detector/barcode-detector.js", headers=GZIP)
    assert script.status_code == 200 and script.headers["Content-Encoding"] == "gzip"
    licence = client.get("/static/vendor/barcode-detector/LICENSE")
    assert licence.status_code == 200 and b"MIT License" in licence.get_data()
    licence.close()


# Compression ------------------------------------------------------------------------------


def test_pages_scripts_and_json_are_gzipped_for_clients_that_accept_it(
    client: FlaskClient,
) -> None:
    plain = client.get("/r")
    assert "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["Vary"]
    packed = client.get("/r", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.get_data())
    assert len(packed.get_data()) < len(plain.get_data())
    assert b"<html" in gzip.decompress(packed.get_data())
    refused = client.get("/r", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    for path in ("/static/r.js", "/static/r.css", "/static/site.css", "/openapi.json"):
        answer = client.get(path, headers=GZIP)
        assert answer.headers.get("Content-Encoding") == "gzip", path
        identity = client.get(path)
        assert gzip.decompress(answer.get_data()) == identity.get_data(), path
        identity.close()


def test_a_compressed_static_file_still_answers_304_to_its_validator(client: FlaskClient) -> None:
    first = client.get("/static/r.js", headers=GZIP)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')  # another representation: a weak validator
    again = client.get("/static/r.js", headers={**GZIP, "If-None-Match": etag})
    assert again.status_code == 304
    assert "Content-Encoding" not in again.headers
    again.close()


def test_small_streamed_encoded_or_binary_answers_are_left_alone(app: Flask) -> None:
    big = "x" * 5000
    with app.test_request_context("/", headers=GZIP):
        small = compress(Response('{"status":"ok"}', mimetype="application/json"))
        assert "Content-Encoding" not in small.headers
        assert "Accept-Encoding" in small.headers["Vary"]
        streamed = compress(Response(iter([big, big]), mimetype="text/html"))
        assert "Content-Encoding" not in streamed.headers
        assert streamed.get_data(as_text=True) == big + big
        encoded = Response(big, mimetype="text/css")
        encoded.headers["Content-Encoding"] = "br"
        assert compress(encoded).get_data(as_text=True) == big
        png = compress(Response(big.encode(), mimetype="image/png"))
        assert "Content-Encoding" not in png.headers and "Vary" not in png.headers
        svg = compress(Response(big, mimetype="image/svg+xml"))
        assert svg.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(svg.get_data()).decode() == big
        refused = compress(Response(big, status=404, mimetype="text/html"))
        assert "Content-Encoding" not in refused.headers
    with app.test_request_context("/", method="HEAD", headers=GZIP):
        head = compress(Response(big, mimetype="text/html"))
        assert "Content-Encoding" not in head.headers


# The endpoints' refusals --------------------------------------------------------------------


def test_nobody_signed_in_redeems_nothing(client: FlaskClient, world: World) -> None:
    token = voucher(world)["token"]
    login = client.get("/login").get_data(as_text=True)  # an anonymous session's token
    found = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert found is not None
    csrf = found.group(1)
    for path in ("/r/verify", "/r/redeem"):
        answer = client.post(
            path,
            json={"token": token},
            headers={"X-CSRFToken": csrf, "Idempotency-Key": "k-1"},
        )
        assert answer.status_code == 401, path
        assert answer.get_json()["type"].endswith("/problems/unauthorized")
        assert "connecté" in answer.get_json()["message"]
    assert client.get("/r/today").status_code == 401
    reverse = client.post(
        "/r/reverse", json={"redemption_id": str(uuid.uuid4())}, headers={"X-CSRFToken": csrf}
    )
    assert reverse.status_code == 401
    form = client.post("/r", data={"code": voucher(world)["code"], "csrf_token": csrf})
    assert form.status_code == 403
    assert "Vous n’êtes plus connecté" in form.get_data(as_text=True)
    assert world.redeem(token=token).status_code == 201  # nothing was redeemed above


def test_without_the_csrf_token_nothing_is_done(
    client: FlaskClient, database: Database, world: World
) -> None:
    partner(client, database, world)
    token = voucher(world)["token"]
    for headers in ({}, {"X-CSRFToken": "forged"}):
        answer = client.post(
            "/r/redeem", json={"token": token}, headers={**headers, "Idempotency-Key": "k-2"}
        )
        assert answer.status_code in (400, 403)
    form = client.post("/r", data={"code": voucher(world)["code"]})
    assert form.status_code in (400, 403)
    assert world.redeem(token=token).status_code == 201  # still redeemable


def test_another_roles_person_may_not_redeem(
    client: FlaskClient, database: Database, world: World
) -> None:
    sign_in(client, database, "issuer", organisation_id=world.organisation_id)
    csrf = csrf_of(client)
    page = client.get("/r").get_data(as_text=True)
    assert "pas celui d’un lieu partenaire" in page and 'id="redeem"' not in page
    token = voucher(world)["token"]
    answer = client.post(
        "/r/redeem", json={"token": token}, headers={"X-CSRFToken": csrf, "Idempotency-Key": "k"}
    )
    assert answer.status_code == 403
    assert answer.get_json()["type"].endswith("/problems/forbidden")


def test_a_redemption_needs_an_idempotency_key_and_a_well_formed_body(
    client: FlaskClient, database: Database, world: World
) -> None:
    csrf = partner(client, database, world)
    token = voucher(world)["token"]
    missing = client.post("/r/redeem", json={"token": token}, headers={"X-CSRFToken": csrf})
    assert missing.status_code == 400
    assert missing.get_json()["type"].endswith("/problems/idempotency-key-required")
    for body in ({}, {"token": token, "code": "X"}, {"token": 5}, [token]):
        answer = client.post(
            "/r/redeem", json=body, headers={"X-CSRFToken": csrf, "Idempotency-Key": "k-3"}
        )
        assert answer.status_code == 400, body


# Redeeming with a partner's session ---------------------------------------------------------


def test_a_partner_verifies_then_redeems_once_whatever_the_taps(
    client: FlaskClient, database: Database, world: World
) -> None:
    csrf = partner(client, database, world)
    page = client.get("/r").get_data(as_text=True)
    assert "Encaisser un chèque" in page and 'id="redeem"' in page and 'id="code-form"' in page
    assert "Aucun chèque encaissé aujourd’hui" in page
    token = voucher(world)["token"]
    seen = client.post("/r/verify", json={"token": token}, headers={"X-CSRFToken": csrf})
    assert seen.status_code == 200
    assert seen.get_json()["redeemable"] is True
    assert seen.get_json()["value_text"] == "10,00\u00a0€"
    headers = {"X-CSRFToken": csrf, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/r/redeem", json={"token": token}, headers=headers)
    second = client.post("/r/redeem", json={"token": token}, headers=headers)  # a double tap
    assert first.status_code == 201 and second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["id"] == second.get_json()["id"]
    assert first.get_json()["value_text"] == "10,00\u00a0€"
    today = client.get("/r/today").get_data(as_text=True)
    assert today.count("<tr>") == 1 + 1  # the head, and one redemption
    assert "Annuler" in today
    again = client.post(
        "/r/redeem", json={"token": token}, headers={**headers, "Idempotency-Key": "other"}
    )
    assert again.status_code == 409
    problem = again.get_json()
    assert problem["type"].endswith("/problems/voucher-already-redeemed")
    assert problem["message"].startswith("Ce chèque a déjà été utilisé le ")
    assert "\u00a0h\u00a0" in problem["message"]  # when, in Paris
    verified = client.post("/r/verify", json={"token": token}, headers={"X-CSRFToken": csrf})
    assert verified.get_json()["redeemable"] is False
    assert verified.get_json()["message"] == problem["message"]  # with when


def test_reasons_are_said_in_french(client: FlaskClient, database: Database, world: World) -> None:
    sign_in(client, database, "partner", partner_id=world.other_partner_id)
    csrf = csrf_of(client)
    token = voucher(world)["token"]
    headers = {"X-CSRFToken": csrf, "Idempotency-Key": "k-4"}
    other = client.post("/r/redeem", json={"token": token}, headers=headers)
    assert other.status_code == 403
    assert "autre programme" in other.get_json()["message"]
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    bad = client.post("/r/redeem", json={"token": forged}, headers=headers)
    assert bad.status_code == 400
    assert "faux" in bad.get_json()["message"]


def test_a_partner_reverses_a_redemption_of_the_day(
    client: FlaskClient, database: Database, world: World
) -> None:
    csrf = partner(client, database, world)
    token = voucher(world)["token"]
    done = client.post(
        "/r/redeem", json={"token": token}, headers={"X-CSRFToken": csrf, "Idempotency-Key": "r"}
    ).get_json()
    undone = client.post(
        "/r/reverse", json={"redemption_id": done["id"]}, headers={"X-CSRFToken": csrf}
    )
    assert undone.status_code == 200 and undone.get_json()["reversed_at"] is not None
    today = client.get("/r/today").get_data(as_text=True)
    assert "Annulé" in today and 'name="redemption_id"' not in today
    twice = client.post(
        "/r/reverse", json={"redemption_id": done["id"]}, headers={"X-CSRFToken": csrf}
    )
    assert twice.status_code == 409
    assert twice.get_json()["message"] == "Cet encaissement ne peut plus être annulé."


# Without JavaScript ------------------------------------------------------------------------


def test_a_typed_code_redeems_through_the_plain_form(
    client: FlaskClient, database: Database, world: World
) -> None:
    csrf = partner(client, database, world)
    page = client.get("/r").get_data(as_text=True)
    code = voucher(world)["code"].lower().replace("-", " ")  # as a person may type it
    form = {"code": code, "csrf_token": csrf, "nonce": nonce_of(page)}
    answer = client.post("/r", data=form)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "Chèque encaissé" in html and "10,00\u00a0€" in html
    assert 'role="status"' in html
    assert html.count('name="redemption_id"') == 1  # in the day's list, with its Annuler
    again = client.post("/r", data=form)  # the same form sent twice: one redemption
    assert again.status_code == 200 and "Chèque encaissé" in again.get_data(as_text=True)
    listed = client.get("/r/today").get_data(as_text=True)
    assert listed.count('name="redemption_id"') == 1
    fresh = {**form, "nonce": nonce_of(again.get_data(as_text=True))}
    used = client.post("/r", data=fresh)
    assert used.status_code == 409
    assert "déjà été utilisé le" in used.get_data(as_text=True)
    assert 'role="alert"' in used.get_data(as_text=True)
    redemption_id = re.search(r'name="redemption_id" value="([^"]+)"', listed)
    assert redemption_id is not None
    form = {"redemption_id": redemption_id.group(1), "csrf_token": csrf}
    reversal = client.post("/r/reversal", data=form)
    assert reversal.status_code == 303 and reversal.headers["Location"] == "/r"
    shown = client.get("/r").get_data(as_text=True)  # the outcome, once
    assert "Encaissement annulé" in shown and 'role="status"' in shown
    assert "Encaissement annulé" not in client.get("/r").get_data(as_text=True)
    refused = client.post("/r/reversal", data=form, follow_redirects=True)
    assert "Cet encaissement ne peut plus être annulé." in refused.get_data(as_text=True)
    wrong = client.post(
        "/r/reversal", data={**form, "redemption_id": "nope"}, follow_redirects=True
    )
    assert "Cet encaissement est introuvable." in wrong.get_data(as_text=True)


def test_a_mistyped_code_is_caught_without_a_lookup(
    client: FlaskClient, database: Database, world: World
) -> None:
    csrf = partner(client, database, world)
    code = voucher(world)["code"].replace("-", "")
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")  # the check character fails
    page = client.get("/r").get_data(as_text=True)
    answer = client.post("/r", data={"code": wrong, "csrf_token": csrf, "nonce": nonce_of(page)})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "mal saisi" in html and 'role="alert"' in html
    assert f'value="{wrong}"' in html  # kept in the field, to be corrected
    assert world.redeem(code=code).status_code == 201


# The beneficiary's venues -------------------------------------------------------------------


def test_the_venues_of_a_programme_nearest_first(client: FlaskClient, world: World) -> None:
    listed = client.get("/r/venues?p=HV87")
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["program"] == "Pass Numérique Haute-Vienne"
    assert [v["name"] for v in body["items"]] == ["Médiathèque francophone"]
    near = client.get("/r/venues?p=HV87&near=45.83,1.25").get_json()
    assert near["items"][0]["distance"].startswith("à\u00a0")
    assert client.get("/r/venues?p=NOPE").get_json() == {"program": None, "items": []}
    assert client.get("/r/venues?p=%3Cscript%3E").status_code == 400
    assert client.get("/r/venues?p=HV87&near=north").status_code == 400
