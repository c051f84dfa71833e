"""The keys directory: voucher-signing keys (ES256), the ledger key (Ed25519), the secret."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from voucher_service.config import ConfigurationError, Settings

KID_LENGTH = 8


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, no white space."""
    canonical = json.dumps(public_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.public_key), "kid": self.kid, "alg": "ES256", "use": "sig"}


class KeyRing:
    """Every voucher-signing key the service holds, and which one signs new vouchers."""

    def __init__(self, keys: dict[str, SigningKey], current_kid: str) -> None:
        if current_kid not in keys:
            raise ConfigurationError(f"the current voucher key {current_kid} is missing")
        self.keys = keys
        self.current_kid = current_kid

    @property
    def current(self) -> SigningKey:
        return self.keys[self.current_kid]

    def get(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)


@dataclass(frozen=True)
class Keys:
    """What the keys directory holds, loaded once at start."""

    voucher: KeyRing
    ledger: ed25519.Ed25519PrivateKey
    secret: bytes


def load_keys(settings: Settings) -> Keys:
    """Load the keys; in development, make whatever is missing (production refuses)."""
    directory = settings.keys_dir
    create = not settings.production
    if not directory.is_dir():
        if not create:
            raise ConfigurationError(
                f"VOUCHER_SERVICE_KEYS_DIR={directory} does not exist: production needs its keys"
            )
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
    # Workers starting together must agree on one set of keys.
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return Keys(
            voucher=_load_voucher_keys(directory / "voucher", create),
            ledger=_load_ledger_key(directory / "ledger.pem", create),
            secret=settings.secret or _load_secret(directory / "secret", create),
        )


def rotate_voucher_key(settings: Settings) -> SigningKey:
    """Start signing with a new key; old ones stay for verification and in the JWKS."""
    directory = settings.keys_dir / "voucher"
    directory.mkdir(parents=True, exist_ok=True)
    existing = {p.stem for p in directory.glob("*.pem")}
    key = _new_signing_key(existing)
    _write_private(directory / f"{key.kid}.pem", _pem(key.private_key))
    _write_atomically(directory / "current", key.kid.encode())
    return key


def _load_voucher_keys(directory: Path, create: bool) -> KeyRing:
    current_file = directory / "current"
    if not current_file.exists():
        if not create:
            raise ConfigurationError(
                f"no voucher-signing key in {directory} (VOUCHER_SERVICE_KEYS_DIR): "
                "production needs its keys; run `voucher-service keys rotate` once"
            )
        directory.mkdir(parents=True, exist_ok=True)
        key = _new_signing_key(set())
        _write_private(directory / f"{key.kid}.pem", _pem(key.private_key))
        _write_atomically(current_file, key.kid.encode())
    keys: dict[str, SigningKey] = {}
    for path in sorted(directory.glob("*.pem")):
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"{path} is not an EC P-256 private key")
        keys[path.stem] = SigningKey(path.stem, private)
    return KeyRing(keys, current_file.read_text().strip())


def _new_signing_key(taken: set[str]) -> SigningKey:
    while True:
        private = ec.generate_private_key(ec.SECP256R1())
        kid = thumbprint(private.public_key())[:KID_LENGTH]
        if kid not in taken:
            return SigningKey(kid, private)


def _load_ledger_key(path: Path, create: bool) -> ed25519.Ed25519PrivateKey:
    if not path.exists():
        if not create:
            raise ConfigurationError(
                f"no ledger-signing key {path} (VOUCHER_SERVICE_KEYS_DIR): production needs it"
            )
        _write_private(path, _pem(ed25519.Ed25519PrivateKey.generate()))
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ConfigurationError(f"{path} is not an Ed25519 private key")
    return private


def _load_secret(path: Path, create: bool) -> bytes:
    if not path.exists():
        if not create:
            raise ConfigurationError("VOUCHER_SERVICE_SECRET is not set: production needs it")
        _write_private(path, secrets.token_hex(32).encode())
    return path.read_bytes().strip()


def _pem(private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
