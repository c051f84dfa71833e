"""Writes audit-bundle zips without a database, for tests, benchmarks and offline tooling."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voucher_service.ledger.merkle import CompactRange, leaf_hash
from voucher_service.ledger.note import format_checkpoint, sign_note, verifier_key

ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint"
CHECKPOINT_KEY = "checkpoint.key"
JWKS = "jwks.json"
MANIFEST = "manifest.json"
COVERED_MEMBERS = (ENTRIES, CHECKPOINT, CHECKPOINT_KEY, JWKS)
BUNDLE_MEMBERS = (*COVERED_MEMBERS, MANIFEST)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleInfo:
    """What a written bundle commits to: its signed checkpoint and the key that verifies it."""

    origin: str
    size: int
    root: bytes
    checkpoint: str
    verifier_key: str

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode("ascii")


def canonical_line(entry: bytes | Mapping[str, Any]) -> bytes:
    """An entry's RFC 8785 bytes; bytes are taken as already canonical (the caller's promise)."""
    if isinstance(entry, bytes | bytearray):
        return bytes(entry)
    return bytes(rfc8785.dumps(dict(entry)))


def signed_checkpoint(origin: str, size: int, root: bytes, private_key: Ed25519PrivateKey) -> str:
    return sign_note(format_checkpoint(origin, size, root), origin, private_key)


def key_text(origin: str, private_key: Ed25519PrivateKey) -> str:
    return verifier_key(origin, private_key.public_key()) + "\n"


def jwks_text(jwks: Mapping[str, Any]) -> str:
    return json.dumps(jwks, indent=2) + "\n"


def manifest_text(
    origin: str, size: int, files: Mapping[str, bytes], created_at: str | None = None
) -> str:
    """The manifest over `files` (member name to its bytes), as the service writes it."""
    manifest = {
        "size": size,
        "origin": origin,
        "created_at": created_at or _now_rfc3339(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    return json.dumps(manifest, indent=2) + "\n"


def write_zip(path: Path, members: Mapping[str, bytes | str]) -> None:
    """A zip of the members exactly as given: tests use it to build tampered bundles."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def write_bundle_file(
    path: Path,
    entries: Iterable[bytes | Mapping[str, Any]],
    origin: str,
    private_key: Ed25519PrivateKey,
    jwks: Mapping[str, Any],
    *,
    created_at: str | None = None,
) -> BundleInfo:
    """Write a complete, correctly signed bundle, streaming the entries: memory stays flat."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        size, root, entries_digest = _write_entries(archive, entries)
        checkpoint = signed_checkpoint(origin, size, root, private_key)
        small = {
            CHECKPOINT: checkpoint.encode(),
            CHECKPOINT_KEY: key_text(origin, private_key).encode(),
            JWKS: jwks_text(jwks).encode(),
        }
        for name, data in small.items():
            archive.writestr(name, data)
        digests = {ENTRIES: entries_digest} | {
            name: hashlib.sha256(data).hexdigest() for name, data in small.items()
        }
        manifest = {
            "size": size,
            "origin": origin,
            "created_at": created_at or _now_rfc3339(),
            "files": digests,
        }
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return BundleInfo(origin, size, root, checkpoint, key_text(origin, private_key).strip())


def _write_entries(
    archive: zipfile.ZipFile, entries: Iterable[bytes | Mapping[str, Any]]
) -> tuple[int, bytes, str]:
    tree = CompactRange()
    digest = hashlib.sha256()
    pending: list[bytes] = []
    pending_bytes = 0
    with archive.open(ENTRIES, "w") as member:
        for entry in entries:
            line = canonical_line(entry)
            tree.append(leaf_hash(line))
            pending.append(line)
            pending_bytes += len(line) + 1
            # Writing line by line to a deflating member is slow; batches keep memory bounded.
            if pending_bytes >= _CHUNK:
                digest.update(_flush(member, pending))
                pending_bytes = 0
        digest.update(_flush(member, pending))
    return tree.size, tree.root(), digest.hexdigest()


def _flush(member: IO[bytes], pending: list[bytes]) -> bytes:
    """Writes the pending lines, newline-terminated, and returns the bytes written."""
    block = b"\n".join(pending) + b"\n" if pending else b""
    member.write(block)
    pending.clear()
    return block


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
