"""Verifying, redeeming and reversing through HTTP: exactly once, and refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.conftest import Clock, World
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.vouchers.codes import check_character
from voucher_service.vouchers.models import Redemption, Voucher


def database(world: World) -> Any:
    return world.client.application.extensions["voucher_service"].database


def transfers(world: World) -> int:
    with database(world).read() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerTransfer)) or 0)


@pytest.fixture
def voucher(world: World) -> dict[str, Any]:
    booklet: dict[str, Any] = world.issue().json
    return booklet["vouchers"][0]


def test_redeeming_by_token_pays_the_partner_and_returns_a_receipt(
    world: World, voucher: dict[str, Any]
) -> None:
    response = world.redeem(token=voucher["token"], service="atelier-smartphone")
    assert response.status_code == 201
    body = response.json
    assert body["voucher_id"] == voucher["id"]
    assert body["partner_id"] == world.partner_id
    assert body["program_id"] == world.program_id
    assert body["value_cents"] == 1000 and body["currency"] == "EUR"
    assert body["service"] == "atelier-smartphone"
    assert set(body["ledger_entry"]) == {"id", "leaf_hash"}
    import jwt

    jwks = world.client.get("/.well-known/jwks.json").json
    header = jwt.get_unverified_header(body["receipt"])
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        body["receipt"], jwt.PyJWK(key).key, algorithms=["ES256"], options={"verify_aud": False}
    )
    assert claims["sub"] == body["id"]
    assert claims["partner_id"] == world.partner_id
    assert claims["value_cents"] == 1000
    assert claims["leaf_hash"] == body["ledger_entry"]["leaf_hash"]
    assert claims["redeemed_at"] == body["redeemed_at"]
    assert "voucher_jti" in claims


def test_redeeming_by_typed_code_works_whatever_the_case_and_dashes(
    world: World, voucher: dict[str, Any]
) -> None:
    typed = voucher["code"].lower().replace("-", " ")
    response = world.redeem(code=typed)
    assert response.status_code == 201
    assert response.json["voucher_id"] == voucher["id"]


def test_a_second_redemption_of_a_voucher_is_refused_with_the_first_time(
    world: World, voucher: dict[str, Any]
) -> None:
    first = world.redeem(token=voucher["token"])
    before = transfers(world)
    second = world.redeem(token=voucher["token"])
    assert second.status_code == 409
    assert second.json["type"].endswith("/problems/voucher-already-redeemed")
    assert second.json["redeemed_at"] == first.json["redeemed_at"]
    by_code = world.redeem(code=voucher["code"])
    assert by_code.status_code == 409
    assert transfers(world) == before


def test_a_mistyped_code_is_an_invalid_request_not_a_lookup(
    world: World, voucher: dict[str, Any]
) -> None:
    code = voucher["code"].replace("-", "")
    wrong = code[:12] + ("0" if code[12] != "0" else "1")
    response = world.redeem(code=wrong)
    assert response.status_code == 400
    assert response.json["type"].endswith("/problems/invalid-request")


def test_unknown_codes_are_not_found_then_every_code_is_refused_until_the_window_ends(
    world: World, voucher: dict[str, Any], clock: Any
) -> None:
    statuses = []
    for n in range(25):
        body = f"{n:012d}".replace("1", "2")
        statuses.append(world.redeem(code=body + check_character(body)).status_code)
    assert statuses[:20] == [404] * 20
    assert statuses[20:] == [429] * 5
    limited = world.redeem(code="000000000000" + check_character("000000000000"))
    assert limited.json["type"].endswith("/problems/rate-limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # The limit is no oracle: a correct code hidden among the guesses is refused too.
    for path in ("/v1/redemptions", "/v1/vouchers/verify"):
        hidden = world.client.post(
            path, json={"code": voucher["code"]}, headers=world.headers("partner", "hidden")
        )
        assert hidden.status_code == 429, path
    assert world.redeem(token=voucher["token"]).status_code == 201  # a token is never limited
    other = world.client.post(
        "/v1/vouchers/verify",
        json={"code": voucher["code"]},
        headers=world.headers("other_partner"),
    )
    assert other.status_code == 403  # another partner's allowance is its own


def test_verify_tells_a_partner_of_another_programme_nothing(
    world: World, voucher: dict[str, Any]
) -> None:
    for body in ({"token": voucher["token"]}, {"code": voucher["code"]}):
        response = world.client.post(
            "/v1/vouchers/verify", json=body, headers=world.headers("other_partner")
        )
        assert response.status_code == 403
        assert response.json["type"].endswith("/problems/partner-not-eligible")
        assert "value_cents" not in response.json
        assert "expires_at" not in response.json


def test_an_expired_voucher_is_refused(world: World, voucher: dict[str, Any], clock: Clock) -> None:
    clock.advance(days=366)
    response = world.redeem(token=voucher["token"])
    assert response.status_code == 410
    assert response.json["type"].endswith("/problems/voucher-expired")
    verdict = world.client.post(
        "/v1/vouchers/verify", json={"token": voucher["token"]}, headers=world.headers("partner")
    ).json
    assert verdict["status"] == "expired" and verdict["reason"] == "voucher-expired"


def test_a_cancelled_voucher_is_revoked(world: World, voucher: dict[str, Any]) -> None:
    with database(world).atomic() as session:
        session.execute(
            update(Voucher).where(Voucher.id == voucher["id"]).values(status="cancelled")
        )
    response = world.redeem(token=voucher["token"])
    assert response.status_code == 410
    assert response.json["type"].endswith("/problems/voucher-revoked")


def test_a_partner_not_affiliated_to_the_programme_is_not_eligible(
    world: World, voucher: dict[str, Any]
) -> None:
    response = world.redeem(role="other_partner", token=voucher["token"])
    assert response.status_code == 403
    assert response.json["type"].endswith("/problems/partner-not-eligible")
    assert world.redeem(token=voucher["token"]).status_code == 201


def test_a_token_we_never_issued_is_not_found(world: World, ctx: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from voucher_service.vouchers.tokens import new_jti, sign_voucher

    token = sign_voucher(
        ctx.keys.voucher.current, "vs", new_jti(), "HV87", 1000,
        datetime.now(UTC) + timedelta(days=3),
    )  # fmt: skip
    assert world.redeem(token=token).status_code == 404


def test_verify_tells_what_a_redemption_would_meet_and_changes_nothing(
    world: World, voucher: dict[str, Any]
) -> None:
    headers = world.headers("partner")
    verdict = world.client.post(
        "/v1/vouchers/verify", json={"code": voucher["code"]}, headers=headers
    )
    assert verdict.status_code == 200
    assert verdict.json == {
        "voucher_id": voucher["id"],
        "status": "issued",
        "value_cents": 1000,
        "currency": "EUR",
        "expires_at": voucher["expires_at"],
        "redeemable": True,
    }
    world.redeem(token=voucher["token"])
    after = world.client.post(
        "/v1/vouchers/verify", json={"token": voucher["token"]}, headers=headers
    )
    assert after.json["redeemable"] is False
    assert after.json["reason"] == "voucher-already-redeemed"
    assert after.json["status"] == "redeemed"
    bad = world.client.post("/v1/vouchers/verify", json={"token": "x.y.z"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json["type"].endswith("/problems/invalid-voucher-token")


@pytest.mark.parametrize(
    "body",
    [{}, {"token": "a", "code": "b"}, {"token": 5}, {"token": "a", "extra": 1}, [], "text"],
)
def test_malformed_redemption_bodies_are_invalid_requests(world: World, body: Any) -> None:
    response = world.redeem(**body) if isinstance(body, dict) else world.client.post(
        "/v1/redemptions", json=body, headers=world.headers("partner", "k")
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json["type"].endswith("/problems/invalid-request")
    assert response.json["errors"]


def test_a_partner_reverses_its_own_redemption_and_the_voucher_is_redeemable_again(
    world: World, voucher: dict[str, Any]
) -> None:
    redeemed = world.redeem(token=voucher["token"]).json
    reversed_ = world.reverse(redeemed["id"], "wrong person")
    assert reversed_.status_code == 200
    assert reversed_.json["reversed_at"] is not None
    assert reversed_.json["reversal_reason"] == "wrong person"
    again = world.redeem(token=voucher["token"])
    assert again.status_code == 201
    assert again.json["id"] != redeemed["id"]
    twice = world.reverse(redeemed["id"], "again")
    assert twice.status_code == 409
    assert twice.json["type"].endswith("/problems/reversal-not-allowed")


def test_a_reversal_after_the_window_is_refused(
    world: World, voucher: dict[str, Any], clock: Clock
) -> None:
    redeemed = world.redeem(token=voucher["token"]).json
    clock.advance(hours=24, seconds=1)
    late = world.reverse(redeemed["id"], "late")
    assert late.status_code == 409
    assert late.json["type"].endswith("/problems/reversal-not-allowed")


def test_a_partner_cannot_reverse_another_partners_redemption(
    world: World, voucher: dict[str, Any]
) -> None:
    redeemed = world.redeem(token=voucher["token"]).json
    response = world.reverse(redeemed["id"], "not mine", role="other_partner")
    assert response.status_code == 404
    with database(world).read() as session:
        assert session.get(Redemption, redeemed["id"]).reversed_at is None  # type: ignore[union-attr]


def test_redemptions_are_listed_a_page_at_a_time_and_partners_see_only_their_own(
    world: World,
) -> None:
    vouchers = world.issue().json["vouchers"]
    ids = [world.redeem(token=v["token"]).json["id"] for v in vouchers[:5]]
    seen, cursor = [], None
    while True:
        query = "/v1/redemptions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = world.client.get(query, headers=world.headers("partner")).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    other = world.client.get("/v1/redemptions", headers=world.headers("other_partner")).json
    assert other == {"items": [], "next_cursor": None}
    audited = world.client.get("/v1/redemptions", headers=world.headers("auditor")).json
    assert len(audited["items"]) == 5
    future = world.client.get(
        "/v1/redemptions?from=2100-01-01T00:00:00Z", headers=world.headers("admin")
    ).json
    assert future["items"] == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=x", "from=yesterday", "cursor=%%%", "cursor=abc"]
)
def test_bad_listing_parameters_are_invalid_requests(world: World, query: str) -> None:
    response = world.client.get(f"/v1/redemptions?{query}", headers=world.headers("partner"))
    assert response.status_code == 400


def resigned(voucher: dict[str, Any], ctx: Any, **changes: Any) -> str:
    """The voucher's token with some claims changed, signed with our own current key."""
    import jwt

    from voucher_service.vouchers.tokens import sign

    claims = jwt.decode(voucher["token"], options={"verify_signature": False})
    return sign(ctx.keys.voucher.current, {**claims, **changes})


def status_of(world: World, voucher: dict[str, Any]) -> str:
    with database(world).read() as session:
        found = session.get(Voucher, voucher["id"])
        assert found is not None
        return found.status


@pytest.mark.parametrize(
    "changes",
    [{"v": 5000}, {"p": "CR23"}, {"exp": 4_102_444_800}],
    ids=["another-value", "another-programme", "another-expiry"],
)
def test_a_signed_token_whose_claims_differ_from_its_voucher_is_refused(
    world: World, voucher: dict[str, Any], ctx: Any, changes: dict[str, Any]
) -> None:
    forged = resigned(voucher, ctx, **changes)
    for path in ("/v1/redemptions", "/v1/vouchers/verify"):
        response = world.client.post(
            path, json={"token": forged}, headers=world.headers("partner", "forged")
        )
        assert response.status_code == 400, (path, response.json)
        assert response.json["type"].endswith("/problems/invalid-voucher-token")
    assert status_of(world, voucher) == "issued"
    assert transfers(world) == 2  # the allocation and the issue, nothing more
    assert world.redeem(token=voucher["token"]).status_code == 201


def test_a_token_whose_signed_expiry_has_passed_is_expired_whatever_its_row_says(
    world: World, voucher: dict[str, Any], ctx: Any
) -> None:
    stale = resigned(voucher, ctx, exp=int(datetime.now(UTC).timestamp()) - 60)
    response = world.redeem(token=stale)
    assert response.status_code == 410
    assert response.json["type"].endswith("/problems/voucher-expired")
    verdict = world.client.post(
        "/v1/vouchers/verify", json={"token": stale}, headers=world.headers("partner")
    ).json
    assert verdict["redeemable"] is False
    assert verdict["reason"] == "voucher-expired"
    assert status_of(world, voucher) == "issued"
    assert world.redeem(token=voucher["token"]).status_code == 201


def test_an_expired_token_still_replays_the_redemption_its_key_made(
    world: World, voucher: dict[str, Any], clock: Clock
) -> None:
    first = world.redeem(key="scan-1", token=voucher["token"])
    assert first.status_code == 201
    clock.advance(days=400)
    again = world.redeem(key="scan-1", token=voucher["token"])
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert world.redeem(key="scan-2", token=voucher["token"]).status_code == 410
