"""The status list's bytes are the draft's: its own 2-bit example packs and deflates to the
`lst` the draft prints; capacity doubles past half full."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from voucher_service.keys import _new_signing_key
from voucher_service.statuslists.capacity import MIN_CAPACITY, capacity_for
from voucher_service.statuslists.lists import encode_lst, pack, sign_list

# draft-ietf-oauth-status-list, the example with `bits: 2`: statuses 1 2 0 3 0 1 0 1 1 2 3 3
# are the bytes C9 44 F9, whose `lst` is "eNo76fITAAPfAgc".
DRAFT_VALUES = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
STATUS_OF_VALUE = {0: "issued", 1: "cancelled", 2: "printed", 3: "redeemed"}


def test_the_drafts_two_bit_example_packs_and_deflates_as_the_draft_prints_it() -> None:
    statuses = [(i, STATUS_OF_VALUE[v]) for i, v in enumerate(DRAFT_VALUES)]
    packed = pack(len(DRAFT_VALUES), statuses)
    assert packed.data == bytes([0xC9, 0x44, 0xF9])
    assert encode_lst(packed) == "eNo76fITAAPfAgc"


def test_expired_is_invalid_like_cancelled_and_an_unknown_status_too() -> None:
    packed = pack(8, [(0, "expired"), (1, "cancelled"), (5, "some-future-status")])
    assert packed.data == bytes([0b0101, 0b0100])


def test_capacity_is_at_least_2_17_and_doubles_past_half_full() -> None:
    assert MIN_CAPACITY == 131_072
    assert capacity_for(0) == capacity_for(65_536) == 131_072
    assert capacity_for(65_537) == 262_144
    assert capacity_for(10, 16) == 32 and capacity_for(8, 16) == 16


def test_the_token_is_typed_and_names_its_key() -> None:
    key = _new_signing_key(set())
    moment = datetime(2026, 11, 27, 10, 42, tzinfo=UTC)
    token = sign_list(
        key, "https://pass.example.fr/v1/status-lists/HV87", "eNo76fITAAPfAgc", moment
    )
    assert jwt.get_unverified_header(token) == {
        "alg": "ES256",
        "kid": key.kid,
        "typ": "statuslist+jwt",
    }
    claims = jwt.decode(token, key.public_key, algorithms=["ES256"], options={"verify_exp": False})
    assert claims["status_list"] == {"bits": 2, "lst": "eNo76fITAAPfAgc"}
    assert claims["iat"] == int(moment.timestamp()) < claims["exp"]
