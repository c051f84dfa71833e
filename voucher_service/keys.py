"""The keys directory: voucher-signing keys (ES256), the ledger key (Ed25519), the secret.

The voucher keys live in `voucher/`: one `<kid>.pem` per key, `current` (the kid that
signs) and, once `keys rotate` has run, `next` ("<kid> <RFC 3339 time>": a key published
now that signs new vouchers from that time). Every worker computes the signing key from
these files and the clock, so all agree without talking to one another. A worker looks
at the directory at most once a second (a few `stat` calls) and reloads it when it has
changed, and reloads it at once when a token names a kid it does not hold (at most once
a second, so that made-up kids cost nothing).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from voucher_service.clock import now, parse_rfc3339, rfc3339
from voucher_service.config import ConfigurationError, Settings

log = logging.getLogger(__name__)

KID_LENGTH = 8
VOUCHER_KEYS = "voucher"  # the voucher keys' folder in the keys directory
CURRENT, NEXT = "current", "next"
CHECK_INTERVAL_SECONDS = 1.0  # how stale a worker's view of the directory may be
UNKNOWN_KID_INTERVAL_SECONDS = 1.0  # at most one reload a second for kids we do not hold
MAX_DELAY = timedelta(days=365)
_PLAUSIBLE_KID = re.compile(r"[A-Za-z0-9_-]{8,64}")  # what a kid of ours can look like
_DURATION = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


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


@dataclass(frozen=True)
class KeySchedule:
    """One consistent reading of the voucher keys: every key, and which one signs when."""

    keys: Mapping[str, SigningKey]
    current_kid: str  # signs until the next key's activation
    next_kid: str | None = None
    activates_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.current_kid not in self.keys:
            raise ConfigurationError(f"the current voucher key {self.current_kid} is missing")
        if self.next_kid is not None and self.next_kid not in self.keys:
            raise ConfigurationError(f"the next voucher key {self.next_kid} is missing")
        if (self.next_kid is None) != (self.activates_at is None):
            raise ConfigurationError("the next voucher key needs its activation time")

    def signing_kid(self, at: datetime) -> str:
        """The key that signs new vouchers at `at`."""
        if self.next_kid is not None and self.activates_at is not None and at >= self.activates_at:
            return self.next_kid
        return self.current_kid

    def pending_kid(self, at: datetime) -> str | None:
        """The key published at `at` that does not sign yet, if there is one."""
        return self.next_kid if self.signing_kid(at) != self.next_kid else None


Fingerprint = tuple[tuple[str, int, int, int], ...] | None


class KeyRing:
    """Every voucher-signing key the service holds, and which one signs new vouchers now.

    A ring read from a directory (`from_directory`) follows that directory: it is safe to
    share between threads, and whatever it answers comes from one consistent reading.
    """

    def __init__(
        self,
        keys: Mapping[str, SigningKey],
        current_kid: str,
        next_kid: str | None = None,
        activates_at: datetime | None = None,
    ) -> None:
        self._schedule = KeySchedule(dict(keys), current_kid, next_kid, activates_at)
        self._directory: Path | None = None
        self._timer: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._fingerprint: Fingerprint = None
        self._checked_at = self._forced_at = -math.inf

    @classmethod
    def from_directory(
        cls, directory: Path, *, timer: Callable[[], float] = time.monotonic
    ) -> KeyRing:
        """Read the voucher keys of `directory` (never writing to it), and follow it."""
        fingerprint = _fingerprint(directory)
        schedule = _read_schedule(directory)
        ring = cls(schedule.keys, schedule.current_kid, schedule.next_kid, schedule.activates_at)
        ring._directory, ring._timer, ring._fingerprint = directory, timer, fingerprint
        ring._checked_at = timer()
        return ring

    @property
    def schedule(self) -> KeySchedule:
        """The keys as they are now: read what you need from one schedule, not several."""
        return self._fresh()

    @property
    def keys(self) -> Mapping[str, SigningKey]:
        return self._fresh().keys

    @property
    def current_kid(self) -> str:
        return self._fresh().signing_kid(now())

    @property
    def current(self) -> SigningKey:
        """The key that signs new vouchers (and receipts) now."""
        schedule = self._fresh()
        return schedule.keys[schedule.signing_kid(now())]

    def get(self, kid: str) -> SigningKey | None:
        """The key named `kid`; a kid we do not hold makes the ring read its directory again
        (at most once a second), since another process may just have published it."""
        key = self._fresh().keys.get(kid)
        if key is not None or self._directory is None or not _PLAUSIBLE_KID.fullmatch(kid):
            return key
        with self._lock:
            if self._timer() - self._forced_at >= UNKNOWN_KID_INTERVAL_SECONDS:
                self._forced_at = self._timer()
                self._reload(force=True)
        return self._schedule.keys.get(kid)

    def _fresh(self) -> KeySchedule:
        if self._directory is not None and self._due() and self._lock.acquire(blocking=False):
            try:
                if self._due():  # another thread may have looked while we waited
                    self._reload(force=False)
            finally:
                self._lock.release()
        return self._schedule

    def _due(self) -> bool:
        return self._timer() - self._checked_at >= CHECK_INTERVAL_SECONDS

    def _reload(self, force: bool) -> None:
        """Read the directory again if it changed (or if forced); the lock is held."""
        assert self._directory is not None
        self._checked_at = self._timer()
        fingerprint = _fingerprint(self._directory)
        if fingerprint == self._fingerprint and not force:
            return
        # Taken before reading: a change made while we read shows at the next look.
        self._fingerprint = fingerprint
        try:
            self._schedule = _read_schedule(self._directory)
        except Exception as error:  # whatever a half-written folder does, requests go on
            log.warning("voucher keys in %s not reloaded, keeping those held: %s",
                        self._directory, error)  # fmt: skip


@dataclass(frozen=True)
class Keys:
    """What the keys directory holds; the voucher keys follow the directory's changes."""

    voucher: KeyRing
    ledger: ed25519.Ed25519PrivateKey
    secret: bytes


def load_keys(settings: Settings) -> Keys:
    """Load the keys. Production only reads the directory (it may be read-only);
    development makes whatever is missing on its first start."""
    directory = settings.keys_dir
    if settings.production:
        if not directory.is_dir():
            raise ConfigurationError(
                f"VOUCHER_SERVICE_KEYS_DIR={directory} does not exist: production needs its keys"
            )
        return _read_keys(settings, create=False)
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
    with _locked(directory):  # workers starting together must agree on one set of keys
        return _read_keys(settings, create=True)


def _read_keys(settings: Settings, create: bool) -> Keys:
    directory = settings.keys_dir
    if create and not (directory / VOUCHER_KEYS / CURRENT).exists():
        _make_first_voucher_key(directory / VOUCHER_KEYS)
    return Keys(
        voucher=KeyRing.from_directory(directory / VOUCHER_KEYS),
        ledger=_load_ledger_key(directory / "ledger.pem", create),
        secret=settings.secret or _load_secret(directory / "secret", create),
    )


@dataclass(frozen=True)
class Rotation:
    """What `keys rotate` did: `key` is published now and signs from `signs_from`."""

    key: SigningKey
    signs_from: datetime
    previous: str | None  # the key that signs until then (None: the directory had none)
    superseded: str | None  # a published key that never signed, replaced by this one

    @property
    def kid(self) -> str:
        return self.key.kid


def rotate_voucher_key(settings: Settings, after: timedelta = timedelta(0)) -> Rotation:
    """Publish a new voucher-signing key now; it signs new vouchers once `after` has passed.

    The key and the time are written to the directory (each file atomically), so every
    worker switches at that time by itself. A next key that already signs becomes the
    current one first; a next key still waiting is replaced (it never signed anything).
    """
    if not timedelta(0) <= after <= MAX_DELAY:
        raise ValueError(f"the delay must be between 0s and {MAX_DELAY.days}d")
    if not settings.keys_dir.is_dir():
        settings.keys_dir.mkdir(parents=True, exist_ok=True)
        settings.keys_dir.chmod(0o700)
    directory = settings.keys_dir / VOUCHER_KEYS
    directory.mkdir(exist_ok=True)
    with _locked(settings.keys_dir):
        key = _new_signing_key({path.stem for path in directory.glob("*.pem")})
        _write_signing_key(directory, key)
        moment = now()
        if not (directory / CURRENT).exists():
            _write_atomically(directory / CURRENT, f"{key.kid}\n".encode())
            return Rotation(key, moment, previous=None, superseded=None)
        current, superseded = (directory / CURRENT).read_text().strip(), None
        pending = _read_next(directory)
        if pending is not None and pending[1] <= moment:
            if pending[0] != current:  # the next key signs already: it becomes the current
                current = pending[0]
                _write_atomically(directory / CURRENT, f"{current}\n".encode())
        elif pending is not None:
            superseded = pending[0]
        signs_from = (moment + after).replace(microsecond=0)
        _write_atomically(directory / NEXT, f"{key.kid} {rfc3339(signs_from)}\n".encode())
    return Rotation(key, signs_from, previous=current, superseded=superseded)


@dataclass(frozen=True)
class MadeKeys:
    """What `keys init` made: the private keys stay in the directory, these are public."""

    directory: Path
    voucher: SigningKey
    ledger_public: ed25519.Ed25519PublicKey


def init_keys(directory: Path) -> MadeKeys:
    """Make every private key the service needs, in a new or empty directory: the first
    voucher-signing key (ES256) and the ledger-signing key (Ed25519). Refuses to overwrite
    any key; the secret stays in the environment (VOUCHER_SERVICE_SECRET)."""
    held = [p.name for p in (directory / "ledger.pem", directory / VOUCHER_KEYS) if p.exists()]
    if held:
        raise ConfigurationError(
            f"{directory} already holds {' and '.join(held)}: keys init never overwrites keys "
            "(use `voucher-service keys rotate` for a new voucher-signing key)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    with _locked(directory):
        _make_first_voucher_key(directory / VOUCHER_KEYS)
        ledger = ed25519.Ed25519PrivateKey.generate()
        _write_private(directory / "ledger.pem", _pem(ledger))
    (directory / ".lock").unlink(missing_ok=True)  # a read-only mount needs none
    ring = KeyRing.from_directory(directory / VOUCHER_KEYS)
    return MadeKeys(directory, ring.current, ledger.public_key())


def parse_duration(text: str) -> timedelta:
    """`24h`, `15m`, `0s`, `2d` or `1h30m`: a whole number and a unit, once or more."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit (d, h, m, s), "
                         "such as 24h, 15m, 0s or 1h30m")  # fmt: skip
    try:
        return sum((timedelta(**{_UNITS[unit]: int(n)}) for n, unit in parts), timedelta())
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def _fingerprint(directory: Path) -> Fingerprint:
    """What `stat` says of the folder and each of its files: any write changes it."""
    try:
        own = directory.stat()
        seen = [("", own.st_ino, own.st_mtime_ns, own.st_size)]
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    found = entry.stat()
                except OSError:  # gone since the listing, or a broken link
                    continue
                seen.append((entry.name, found.st_ino, found.st_mtime_ns, found.st_size))
    except OSError:
        return None
    return tuple(sorted(seen))


def _read_schedule(directory: Path) -> KeySchedule:
    if not (directory / CURRENT).exists():
        raise ConfigurationError(
            f"no voucher-signing key in {directory} (VOUCHER_SERVICE_KEYS_DIR): "
            "production needs its keys; run `voucher-service keys rotate` once"
        )
    # A rotation may rewrite `current` then `next`: a reading between the two is retried.
    for _ in range(5):
        before = _read_next(directory)
        current = (directory / CURRENT).read_text().strip()
        pending = _read_next(directory)
        if pending == before:
            break
    else:
        raise ConfigurationError(f"the voucher keys in {directory} kept changing while read")
    keys: dict[str, SigningKey] = {}
    for path in sorted(directory.glob("*.pem")):
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"{path} is not an EC P-256 private key")
        keys[path.stem] = SigningKey(path.stem, private)
    if pending is None:
        return KeySchedule(keys, current)
    return KeySchedule(keys, current, *pending)


def _read_next(directory: Path) -> tuple[str, datetime] | None:
    """The `next` file: the kid published ahead of time, and when it starts to sign."""
    try:
        text = (directory / NEXT).read_text()
    except FileNotFoundError:
        return None
    match text.split():
        case [kid, at]:
            try:
                return kid, parse_rfc3339(at)
            except (ValueError, OverflowError):
                pass
    raise ConfigurationError(f"{directory / NEXT} should read '<kid> <RFC 3339 time>'")


def _make_first_voucher_key(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_signing_key({path.stem for path in directory.glob("*.pem")})
    _write_signing_key(directory, key)
    _write_atomically(directory / CURRENT, f"{key.kid}\n".encode())


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


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer of the keys directory at a time (across processes)."""
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_signing_key(directory: Path, key: SigningKey) -> None:
    """Whole or not at all: a worker reading the folder never meets half a key."""
    temporary = directory / f".{key.kid}.tmp"
    temporary.unlink(missing_ok=True)  # left by a rotation that died; we hold the lock
    _write_private(temporary, _pem(key.private_key))
    os.link(temporary, directory / f"{key.kid}.pem")  # refuses to overwrite a key
    temporary.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
