"""Manual codes: 12 Crockford base32 characters and a Luhn mod 32 check character."""

from __future__ import annotations

import hashlib
import hmac

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {char: value for value, char in enumerate(ALPHABET)}
# Crockford's reading rules: what a person may type for what is printed.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
BODY_LENGTH = 12


class InvalidCode(ValueError):
    """The text typed is not a well-formed code (wrong length, letters or check character)."""


def check_character(body: str) -> str:
    """Luhn mod N (N = 32) over the Crockford alphabet."""
    factor, total = 2, 0
    for char in reversed(body):
        addend = factor * _VALUE[char]
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return ALPHABET[(32 - total % 32) % 32]


def derive_code(secret: bytes, jti: str) -> str:
    """The voucher's code, derived from its jti: reprintable without being stored."""
    digest = hmac.new(secret, b"code\x00" + jti.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") >> 4  # 60 bits
    body = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(BODY_LENGTH)))
    return body + check_character(body)


def format_code(code: str) -> str:
    """As printed: XXXX-XXXX-XXXX-C."""
    return f"{code[0:4]}-{code[4:8]}-{code[8:12]}-{code[12]}"


def normalise_code(text: str) -> str:
    """What a partner typed, as the 13 characters of a code; InvalidCode if it cannot be one."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != BODY_LENGTH + 1:
        raise InvalidCode(f"a code has {BODY_LENGTH + 1} characters, this one {len(cleaned)}")
    if any(char not in _VALUE for char in cleaned):
        raise InvalidCode("a code uses only digits and the letters A-Z without I, L, O and U")
    if check_character(cleaned[:BODY_LENGTH]) != cleaned[BODY_LENGTH]:
        raise InvalidCode("the check character does not match: the code was mistyped")
    return cleaned


def code_hash(secret: bytes, code: str) -> str:
    """The keyed hash under which a code is looked up; the code itself is never stored."""
    return hmac.new(secret, b"code-lookup\x00" + code.encode(), hashlib.sha256).hexdigest()
