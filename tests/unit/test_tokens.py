"""Voucher tokens: short ES256 JWS; every forgery we know of is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import qrcode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from voucher_service.errors import InvalidVoucherToken
from voucher_service.keys import KeyRing, SigningKey, _new_signing_key, public_jwk
from voucher_service.printing.qr import qr_matrix
from voucher_service.vouchers.tokens import new_jti, sign, sign_voucher, verify_voucher

KEY = _new_signing_key(set())
RING = KeyRing({KEY.kid: KEY}, KEY.kid)
LATER = datetime.now(UTC) + timedelta(days=365)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def good_token(**claims: object) -> str:
    return sign_voucher(KEY, "vs", new_jti(), "HV87", 1000, LATER) if not claims else sign(
        KEY, {"iss": "vs", "jti": new_jti(), "p": "HV87", "v": 1000,
              "exp": int(LATER.timestamp()), **claims}
    )  # fmt: skip


def test_a_genuine_token_verifies_and_names_its_voucher() -> None:
    jti = new_jti()
    token = sign_voucher(KEY, "vs", jti, "HV87", 1000, LATER)
    claims = verify_voucher(token, RING, "vs")
    assert (claims.jti, claims.program_code, claims.value_cents, claims.kid) == (
        jti, "HV87", 1000, KEY.kid
    )  # fmt: skip


def test_the_header_carries_only_alg_and_an_eight_character_kid() -> None:
    header = jwt.get_unverified_header(good_token())
    assert header == {"alg": "ES256", "kid": KEY.kid}
    assert len(KEY.kid) == 8


def test_the_jti_carries_128_random_bits() -> None:
    assert len(base64.urlsafe_b64decode(new_jti() + "==")) == 16


def test_a_token_carries_its_status_list_index_as_s() -> None:
    token = sign_voucher(KEY, "vs", new_jti(), "HV87", 1000, LATER, 123_456)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert list(payload) == ["iss", "jti", "p", "v", "exp", "s"]
    assert verify_voucher(token, RING, "vs").status_index == 123_456


def test_a_token_from_before_status_lists_still_verifies() -> None:
    token = sign_voucher(KEY, "vs", new_jti(), "HV87", 1000, LATER)
    assert "s" not in json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert verify_voucher(token, RING, "vs").status_index is None


def qr_version(content: str) -> int:
    """The version the service prints `content` at (printing/qr.py: level Q, smallest fit)."""
    return qr_matrix(content).version


def test_the_qr_code_fits_version_16_at_level_q_with_a_40_character_base_url() -> None:
    base = "https://pass-numerique.haute-vienne.gouv"
    assert len(base) == 40
    # The largest of each claim: the longest programme code the table holds (16), the
    # largest face value, an index of a list of 2^24 entries, an exp past 2038.
    worst = sign_voucher(KEY, "vs", new_jti(), "ABCDEFGHIJKLMNOP", 100000, LATER, 2**24 - 1)
    assert qr_version(f"{base}/r#{worst}") <= 16
    # As plain `qrcode` fits it (another encoder of the same standard), too.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q)
    code.add_data(f"{base}/r#{worst}")
    code.make(fit=True)
    assert code.version <= 16
    far = sign_voucher(
        KEY, "vs", new_jti(), "ABCDEFGHIJKLMNOP", 100000, datetime(2100, 1, 1, tzinfo=UTC),
        2**24 - 1,
    )  # fmt: skip
    assert qr_version(f"{base}/r#{far}") <= 16


def _alg_none() -> str:
    header = b64(json.dumps({"alg": "none", "kid": KEY.kid}).encode())
    payload = b64(json.dumps({"iss": "vs", "jti": "x", "p": "HV87", "v": 1000,
                              "exp": int(LATER.timestamp())}).encode())  # fmt: skip
    return f"{header}.{payload}."


def _hs256_with_public_key() -> str:
    pem = KEY.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": KEY.kid}).encode())
    payload = b64(json.dumps({"iss": "vs", "jti": "x", "p": "HV87", "v": 1000,
                              "exp": int(LATER.timestamp())}).encode())  # fmt: skip
    import hashlib
    import hmac

    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _tampered() -> str:
    header, payload, signature = good_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["v"] = 100000
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def _foreign_key_same_kid() -> str:
    foreign = SigningKey(KEY.kid, ec.generate_private_key(ec.SECP256R1()))
    return sign(foreign, {"iss": "vs", "jti": "x", "p": "HV87", "v": 1000,
                          "exp": int(LATER.timestamp())})  # fmt: skip


def _unknown_kid() -> str:
    return sign(_new_signing_key({KEY.kid}), {"iss": "vs", "jti": "x", "p": "HV87", "v": 1,
                                            "exp": int(LATER.timestamp())})  # fmt: skip


def _embedded_jwk() -> str:
    foreign = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(
        {"iss": "vs", "jti": "x", "p": "HV87", "v": 1000, "exp": int(LATER.timestamp())},
        foreign,
        algorithm="ES256",
        headers={"kid": "evil", "jwk": public_jwk(foreign.public_key()), "jku": "https://x"},
    )


FORGERIES = {
    "alg none": _alg_none,
    "HS256 keyed with the public key": _hs256_with_public_key,
    "tampered claims": _tampered,
    "a foreign key under our kid": _foreign_key_same_kid,
    "an unknown kid": _unknown_kid,
    "a key embedded in the header": _embedded_jwk,
    "missing exp": lambda: sign(KEY, {"iss": "vs", "jti": "x", "p": "HV87", "v": 1}),
    "missing jti": lambda: sign(KEY, {"iss": "vs", "p": "HV87", "v": 1, "exp": 2**31}),
    "another issuer": lambda: good_token(iss="someone-else"),
    "a claim vouchers never carry": lambda: good_token(name="Jeanne"),
    "a value that is not an integer": lambda: good_token(v="1000"),
    "a status list index that is not an integer": lambda: good_token(s="12"),
    "a negative status list index": lambda: good_token(s=-1),
    "a status list index that is a boolean": lambda: good_token(s=True),
    "a null status list index": lambda: good_token(s=None),
    "garbage": lambda: "not.a.token",
    "empty": lambda: "",
    "too long": lambda: "a" * 5000,
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_tokens_are_refused(forgery: str) -> None:
    with pytest.raises(InvalidVoucherToken):
        verify_voucher(FORGERIES[forgery](), RING, "vs")
