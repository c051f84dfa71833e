"""Pre-printed batches through HTTP: printed vouchers hold budget and are worth nothing until
their booklet's activation, which applies the cap, once; the batch's PDF streams and scans."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import Clock, World, make_world
from tests.unit.test_printing import poppler, rasterise, scan, text_of
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.verify import verify_bundle
from voucher_service.vouchers import batches
from voucher_service.vouchers.models import Redemption, Voucher
from voucher_service.vouchers.tokens import verify_voucher, voucher_id_for


def print_batch(
    world: World, count: int = 2, size: int | None = 3, key: str | None = None, **extra: Any
) -> Any:
    body = {"program_id": world.program_id, "count": count, **extra}
    if size is not None:
        body["size"] = size
    return world.client.post(
        "/v1/booklet-batches", json=body, headers=world.headers("issuer", key or uuid.uuid4().hex)
    )


def activate(
    world: World, booklet_id: str, beneficiary: str = "case-1", role: str = "issuer"
) -> Any:
    return world.client.post(
        f"/v1/booklets/{booklet_id}/activation",
        json={"beneficiary_ref": beneficiary},
        headers=world.headers(role),
    )


def slug(response: Any) -> str:
    return str(response.json["type"]).rpartition("/")[2]


def count_rows(world: World, query: Any) -> int:
    with world.client.application.extensions["voucher_service"].database.read() as session:
        return int(session.scalar(query) or 0)


def vouchers_in(world: World) -> int:
    return count_rows(world, select(func.count()).select_from(Voucher))


def transfers_of(world: World, kind: str) -> int:
    return count_rows(
        world, select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == kind)
    )


def figures(world: World) -> dict[str, int]:
    programme = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    result: dict[str, int] = programme.json["figures"]
    return result


@pytest.fixture
def batch(world: World) -> dict[str, Any]:
    response = print_batch(world)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


# Printing


def test_a_batch_prints_booklets_whose_vouchers_are_printed_not_issued(
    world: World, batch: dict[str, Any], ctx: Any
) -> None:
    assert batch["count"] == 2 and batch["size"] == 3
    assert batch["organisation_id"] == world.organisation_id
    assert [len(booklet["vouchers"]) for booklet in batch["booklets"]] == [3, 3]
    voucher = batch["booklets"][0]["vouchers"][0]
    assert voucher["position"] == 1
    assert voucher["qr_content"] == f"https://pass.example.fr/r#{voucher['token']}"
    claims = verify_voucher(voucher["token"], ctx.keys.voucher, ctx.settings.issuer)
    assert voucher_id_for(claims.jti) == voucher["id"]
    booklet = world.client.get(
        f"/v1/booklets/{batch['booklets'][0]['id']}", headers=world.headers("issuer")
    ).json
    assert {v["status"] for v in booklet["vouchers"]} == {"printed"}
    assert booklet["batch_id"] == batch["id"] and booklet["activated_at"] is None


def test_a_batch_names_where_it_lives_and_lists_its_booklets_without_tokens(
    world: World,
) -> None:
    response = print_batch(world)
    batch_id = response.json["id"]
    assert response.headers["Location"] == f"/v1/booklet-batches/{batch_id}"
    assert response.headers["Cache-Control"] == "no-store"
    listed = world.client.get(response.headers["Location"], headers=world.headers("issuer"))
    assert listed.status_code == 200
    assert [b["id"] for b in listed.json["booklets"]] == [
        b["id"] for b in response.json["booklets"]
    ]
    assert listed.json["booklets"][0]["statuses"]["printed"] == 3
    assert "token" not in listed.text and "code" not in listed.text


def test_a_replayed_batch_answers_the_same_vouchers_and_prints_nothing_more(
    world: World,
) -> None:
    first = print_batch(world, key="batch-2026-11")
    printed = vouchers_in(world)
    again = print_batch(world, key="batch-2026-11")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert vouchers_in(world) == printed
    other_body = print_batch(world, count=1, key="batch-2026-11")
    assert other_body.status_code == 422 and slug(other_body) == "idempotency-key-reused"


def test_a_batch_needs_an_idempotency_key(world: World) -> None:
    response = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, "count": 1},
        headers=world.headers("issuer"),
    )
    assert response.status_code == 400 and slug(response) == "idempotency-key-required"


@pytest.mark.parametrize("body", [{"count": 0}, {"count": 101}, {"count": 1, "size": 11}])
def test_a_batch_out_of_bounds_is_refused_and_prints_nothing(
    world: World, body: dict[str, int]
) -> None:
    response = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, **body},
        headers=world.headers("issuer", "k"),
    )
    assert response.status_code == 400 and slug(response) == "invalid-request"
    assert vouchers_in(world) == 0


def test_only_an_issuer_prints_a_batch(world: World) -> None:
    response = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, "count": 1},
        headers=world.headers("admin", "k"),
    )
    assert response.status_code == 403


# Budget


def test_printed_vouchers_hold_their_budget_from_the_printing(
    app: Flask, client: FlaskClient
) -> None:
    world = make_world(app, client, budget_cents=25_000)
    assert print_batch(world, count=2, size=10).status_code == 201
    assert figures(world) == {
        "budget_cents": 25_000,
        "issued_cents": 20_000,
        "redeemed_cents": 0,
        "expired_cents": 0,
        "cancelled_cents": 0,
        "outstanding_cents": 20_000,
        "available_cents": 5_000,
        "settled_cents": 0,
        "paid_cents": 0,
    }
    refused = world.issue("case-1", size=10)
    assert refused.status_code == 409 and slug(refused) == "budget-exhausted"
    printed = vouchers_in(world)
    too_big = print_batch(world, count=1, size=6)
    assert too_big.status_code == 409 and slug(too_big) == "budget-exhausted"
    assert vouchers_in(world) == printed
    assert transfers_of(world, "issue") == 2  # one per booklet


def test_activation_moves_no_money(world: World, batch: dict[str, Any]) -> None:
    before = figures(world)
    assert activate(world, batch["booklets"][0]["id"]).status_code == 200
    assert figures(world) == before


# Printed vouchers are worth nothing


def test_a_printed_voucher_is_refused_by_token_and_by_code_and_nothing_is_written(
    world: World, batch: dict[str, Any]
) -> None:
    first, second = batch["booklets"][0]["vouchers"][:2]
    by_token = world.redeem(token=first["token"])
    by_code = world.redeem(code=second["code"])
    for refused in (by_token, by_code):
        assert refused.status_code == 409, refused.json
        assert slug(refused) == "voucher-not-activated"
    assert count_rows(world, select(func.count()).select_from(Redemption)) == 0
    assert transfers_of(world, "redeem") == 0


def test_verifying_a_printed_voucher_says_it_is_not_activated(
    world: World, batch: dict[str, Any]
) -> None:
    voucher = batch["booklets"][0]["vouchers"][0]
    for body in ({"token": voucher["token"]}, {"code": voucher["code"]}):
        answer = world.client.post(
            "/v1/vouchers/verify", json=body, headers=world.headers("partner")
        )
        assert answer.status_code == 200
        assert answer.json["status"] == "printed"
        assert answer.json["redeemable"] is False
        assert answer.json["reason"] == "voucher-not-activated"


# Activation


def test_an_activated_booklet_is_issued_and_redeemable(world: World, batch: dict[str, Any]) -> None:
    booklet = batch["booklets"][0]
    activated = activate(world, booklet["id"])
    assert activated.status_code == 200, activated.json
    assert activated.json["activated_at"] is not None
    assert {v["status"] for v in activated.json["vouchers"]} == {"issued"}
    first, second = booklet["vouchers"][:2]
    assert world.redeem(token=first["token"]).status_code == 201
    assert world.redeem(code=second["code"]).status_code == 201
    still_printed = batch["booklets"][1]["vouchers"][0]
    assert slug(world.redeem(token=still_printed["token"])) == "voucher-not-activated"


def test_activation_applies_the_beneficiary_cap_and_a_refusal_changes_nothing(
    world: World,
) -> None:
    batch = print_batch(world, count=2, size=10).json
    assert world.issue("case-7", size=10).status_code == 201
    assert activate(world, batch["booklets"][0]["id"], "case-7").status_code == 200
    refused = activate(world, batch["booklets"][1]["id"], "CASE-7 ")  # the same reference
    assert refused.status_code == 409 and slug(refused) == "beneficiary-limit-reached"
    booklet = world.client.get(
        f"/v1/booklets/{batch['booklets'][1]['id']}", headers=world.headers("issuer")
    ).json
    assert booklet["activated_at"] is None
    assert {v["status"] for v in booklet["vouchers"]} == {"printed"}
    assert transfers_of(world, "activate") == 1
    assert activate(world, batch["booklets"][1]["id"], "case-8").status_code == 200
    # The cap (20) counts activated vouchers from then on.
    assert world.issue("case-8", size=10).status_code == 201
    assert slug(world.issue("case-8", size=1)) == "beneficiary-limit-reached"


def test_a_booklet_is_activated_once(world: World, batch: dict[str, Any]) -> None:
    booklet_id = batch["booklets"][0]["id"]
    assert activate(world, booklet_id, "case-1").status_code == 200
    again = activate(world, booklet_id, "case-2")
    assert again.status_code == 409 and slug(again) == "booklet-already-activated"
    issued = world.issue("case-3", size=1).json["id"]
    not_printed = activate(world, issued, "case-3")
    assert not_printed.status_code == 409 and slug(not_printed) == "booklet-already-activated"
    assert transfers_of(world, "activate") == 1


def test_racing_activations_make_exactly_one_winner(
    app: Flask, world: World, batch: dict[str, Any]
) -> None:
    booklet_id, racers = batch["booklets"][0]["id"], 8
    barrier = threading.Barrier(racers)
    statuses: list[int] = [0] * racers

    def race(slot: int) -> None:
        client = app.test_client()
        barrier.wait()
        answer = client.post(
            f"/v1/booklets/{booklet_id}/activation",
            json={"beneficiary_ref": f"case-{slot}"},
            headers=world.headers("issuer"),
        )
        statuses[slot] = answer.status_code

    threads = [threading.Thread(target=race, args=(slot,)) for slot in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * (racers - 1)
    assert transfers_of(world, "activate") == 1


def test_another_organisation_sees_neither_the_batch_nor_its_booklets(
    world: World, batch: dict[str, Any]
) -> None:
    other = other_issuer(world)
    booklet_id = batch["booklets"][0]["id"]
    refused = world.client.post(
        f"/v1/booklets/{booklet_id}/activation",
        json={"beneficiary_ref": "case-1"},
        headers=other,
    )
    assert refused.status_code == 404
    for path in (f"/v1/booklet-batches/{batch['id']}", f"/v1/booklet-batches/{batch['id']}/pdf"):
        assert world.client.get(path, headers=other).status_code == 404
        seen = world.client.get(path, headers=world.headers("admin"))
        assert seen.status_code == 200
        seen.close()
    assert activate(world, booklet_id, role="admin").status_code == 403


def other_issuer(world: World) -> dict[str, str]:
    admin = world.headers("admin")
    organisation = world.client.post(
        "/v1/organisations",
        json={"name": "Mairie d'Isle", "kind": "mairie", "programs": [world.program_id]},
        headers=admin,
    ).json
    key = world.client.post(
        "/v1/api-keys",
        json={"role": "issuer", "organisation_id": organisation["id"], "label": "Isle"},
        headers=admin,
    ).json["key"]
    return {"Authorization": f"Bearer {key}"}


def test_a_printed_voucher_expires_as_printed_whenever_it_is_activated(
    world: World, clock: Clock
) -> None:
    batch = print_batch(world, count=1, size=1).json
    voucher = batch["booklets"][0]["vouchers"][0]
    printed_at = datetime.fromisoformat(batch["created_at"])
    assert datetime.fromisoformat(voucher["expires_at"]) == printed_at + timedelta(days=365)
    clock.advance(days=30)
    activated = activate(world, batch["booklets"][0]["id"]).json
    assert activated["vouchers"][0]["expires_at"] == voucher["expires_at"]


# The ledger


def test_the_audit_bundle_verifies_after_a_batch_an_activation_and_a_redemption(
    app: Flask, world: World, batch: dict[str, Any], tmp_path: Path
) -> None:
    booklet = batch["booklets"][0]
    assert activate(world, booklet["id"], "DOSSIER-SECRET-42").status_code == 200
    assert world.redeem(token=booklet["vouchers"][0]["token"]).status_code == 201
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    entries = world.client.get("/v1/ledger/entries", headers=world.headers("auditor")).json
    by_kind = {item["entry"]["kind"]: item["entry"] for item in entries["items"]}
    assert by_kind["issue"]["batch_id"] == batch["id"]
    assert by_kind["activate"]["postings"] == []
    assert sorted(by_kind["activate"]["voucher_ids"]) == sorted(
        v["id"] for v in booklet["vouchers"]
    )
    archive = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(archive.data)
    archive.close()
    assert b"DOSSIER-SECRET-42" not in path.read_bytes()
    report = verify_bundle(path)
    assert report.ok, report.render()
    assert "(3 activated)" in report.render()


# The batch's PDF


def test_the_batch_pdf_streams_its_first_part_before_reading_every_booklet(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = print_batch(world, count=11, size=1).json
    read: list[str] = []
    original = batches.printed_booklet

    def counted(session: Any, ctx: Any, booklet_id: str, *args: Any) -> Any:
        read.append(booklet_id)
        return original(session, ctx, booklet_id, *args)

    monkeypatch.setattr(batches, "printed_booklet", counted)
    response = world.client.get(
        f"/v1/booklet-batches/{batch['id']}/pdf", headers=world.headers("issuer")
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    pieces: Iterator[bytes] = iter(response.response)
    assert next(pieces).startswith(b"%PDF-")
    assert 0 < len(read) < 11  # the first part left before the last booklets were read
    rest = b"".join(pieces)
    response.close()
    assert rest.endswith(b"%%EOF\n")
    assert len(read) == 11


@poppler
def test_the_batch_pdf_shows_each_booklet_whose_qr_codes_scan_back_to_its_vouchers(
    world: World, ctx: Any, tmp_path: Path
) -> None:
    located = world.client.patch(
        f"/v1/organisations/{world.organisation_id}",
        json={"latitude": 45.8297, "longitude": 1.26},
        headers=world.headers("admin"),
    )
    assert located.status_code == 200
    batch = print_batch(world, count=2, size=3).json
    response = world.client.get(
        f"/v1/booklet-batches/{batch['id']}/pdf", headers=world.headers("admin")
    )
    pdf = response.get_data()
    for number, booklet in enumerate(batch["booklets"], start=1):
        sheet = 2 * number  # each booklet: its cover letter, then its page of vouchers
        letter = text_of(pdf, "-f", str(sheet - 1), "-l", str(sheet - 1))
        assert "Médiathèque francophone" in letter  # the venue nearest the organisation
        assert "Clic Saint-Junien" not in letter  # not affiliated to the programme
        shown = text_of(pdf, "-f", str(sheet), "-l", str(sheet))
        assert all(voucher["code"] in shown for voucher in booklet["vouchers"])
        scanned = scan(rasterise(pdf, tmp_path, sheet))
        assert len(scanned) == 3
        ids = set()
        for code in scanned:
            token = code.text.removeprefix("https://pass.example.fr/r#")
            claims = verify_voucher(token, ctx.keys.voucher, ctx.settings.issuer)
            ids.add(voucher_id_for(claims.jti))
        assert ids == {voucher["id"] for voucher in booklet["vouchers"]}


@poppler
def test_a_large_batch_pdf_drawn_on_every_core_holds_every_booklet(world: World) -> None:
    """Past four parts of ten booklets the batch is drawn in several processes: the pieces
    still come in order and make one document with every booklet's two pages."""
    import subprocess

    batch = print_batch(world, count=41, size=1, key="big-box").json
    assert batch_parts(batch) > batches.PARTS_WORTH_PROCESSES
    response = world.client.get(
        f"/v1/booklet-batches/{batch['id']}/pdf", headers=world.headers("issuer")
    )
    assert response.status_code == 200
    info = subprocess.run(
        ["pdfinfo", "-"], input=response.data, capture_output=True, check=True
    ).stdout.decode()
    pages = next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:"))
    assert pages == "82"  # a cover letter and a voucher page per booklet


def batch_parts(batch: dict[str, Any]) -> int:
    return -(-len(batch["booklets"]) // 10)
