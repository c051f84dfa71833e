"""Voucher tokens: compact ES256 JWS, short enough for a QR code, verifiable offline."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from voucher_service.errors import InvalidVoucherToken
from voucher_service.keys import KeyRing, SigningKey, b64url

LEEWAY_SECONDS = 300  # scanners' clocks drift
MAX_TOKEN_LENGTH = 1024
# `s`, the voucher's index in its programme's status list (CONTRACT §9), is absent from the
# tokens signed before status lists: those stay good.
ALLOWED_CLAIMS = frozenset({"iss", "jti", "p", "v", "exp", "iat", "nbf", "s"})


@dataclass(frozen=True)
class VoucherClaims:
    jti: str
    program_code: str
    value_cents: int
    expires_at: int
    kid: str
    status_index: int | None = None  # None: a token from before status lists


# Voucher ids are derived from the jti, so a token names its voucher row without a lookup.
VOUCHER_NAMESPACE = uuid.UUID("3f1d4a2e-8c57-4b8e-9a61-0c7d2e5b9f10")


def voucher_id_for(jti: str) -> str:
    return str(uuid.uuid5(VOUCHER_NAMESPACE, jti))


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to choose our key; PyJWT then verifies all of the token."""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidVoucherToken("the token is not a compact JWS") from None
    if not isinstance(header, dict):
        raise InvalidVoucherToken("the token is not a compact JWS")
    return header


def new_jti() -> str:
    """128 random bits, base64url: the voucher's public identity."""
    return b64url(secrets.token_bytes(16))


def sign_voucher(
    key: SigningKey,
    issuer: str,
    jti: str,
    program_code: str,
    value: int,
    expires: datetime,
    status_index: int | None = None,
) -> str:
    return sign(key, voucher_claims(issuer, jti, program_code, value, expires, status_index))


def voucher_claims(
    issuer: str,
    jti: str,
    program_code: str,
    value: int,
    expires: datetime,
    status_index: int | None = None,
) -> dict[str, Any]:
    """A voucher's claims, in the order every token of ours lists them (a reprint signs the
    same bytes): `s` last, and only for a voucher that has a status list index."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "jti": jti,
        "p": program_code,
        "v": value,
        "exp": int(expires.timestamp()),
    }
    if status_index is not None:
        claims["s"] = status_index
    return claims


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    """ES256 with the kid and nothing else in the header (no typ: every byte counts)."""
    return jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": None}
    )


def verify_voucher(token: str, keys: KeyRing, issuer: str) -> VoucherClaims:
    """Check the signature, the header, the issuer and the claims' shape.

    Expiry is not judged here: the voucher's own row is the authority on that, so that
    an expired voucher is told `voucher-expired`, not `invalid-voucher-token`.
    """
    claims, kid = _decode(token, keys, issuer)
    jti, program, value = claims.get("jti"), claims.get("p"), claims.get("v")
    if not isinstance(jti, str) or not isinstance(program, str) or type(value) is not int:
        raise InvalidVoucherToken("the token's claims are not those of a voucher")
    if set(claims) - ALLOWED_CLAIMS:
        raise InvalidVoucherToken("the token carries claims a voucher never has")
    index = claims.get("s")
    if "s" in claims and (type(index) is not int or index < 0):
        raise InvalidVoucherToken("the token's status list index is not a whole number")
    return VoucherClaims(jti, program, value, int(claims["exp"]), kid, index)


def _decode(token: str, keys: KeyRing, issuer: str) -> tuple[dict[str, Any], str]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidVoucherToken("the token is empty or too long")
    header = _header(token)
    kid = header.get("kid")
    # A kid the ring lacks makes it read the keys directory again (at most once a second):
    # another worker may have signed with a key published since this one last looked.
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidVoucherToken("the token is signed by a key we do not know")
    if header.get("alg") != "ES256" or "crit" in header:
        raise InvalidVoucherToken("the token's header is not ours")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=["ES256"],
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "jti"], "verify_exp": False},
        )
    except jwt.PyJWTError as error:
        raise InvalidVoucherToken(f"the token does not verify: {error}") from None
    if type(claims["exp"]) is not int:
        raise InvalidVoucherToken("the token's exp is not a whole number of seconds")
    return claims, key.kid
