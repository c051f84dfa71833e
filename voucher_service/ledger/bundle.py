"""The audit bundle: the log at its latest checkpoint, in a zip an auditor verifies offline."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from voucher_service.clock import now, rfc3339
from voucher_service.context import ServiceContext
from voucher_service.ledger import note
from voucher_service.ledger.log import b64, latest_checkpoint, stream_entries
from voucher_service.ledger.merkle import CompactRange, leaf_hash
from voucher_service.ledger.transfers import canonical
from voucher_service.ledger.verify.layout import (
    CHECKPOINT,
    CHECKPOINT_KEY,
    ENTRIES,
    JWKS,
    MANIFEST,
)
from voucher_service.vouchers.jwks import published_jwks

_BATCH = 1 << 20  # bytes of lines written to the deflating member at once


def ledger_verifier_key(ctx: ServiceContext) -> str:
    return note.verifier_key(ctx.settings.origin, ctx.keys.ledger.public_key())


def write_bundle(session: Session, ctx: ServiceContext) -> IO[bytes]:
    """Write the bundle to a temporary file (rewound), entry by entry: memory stays flat."""
    checkpoint = latest_checkpoint(session, ctx)
    target = tempfile.TemporaryFile()  # noqa: SIM115 (the caller sends, then closes it)
    write_bundle_to(
        target,
        (entry.encode() for _, entry, _ in stream_entries(session, checkpoint.size)),
        checkpoint=checkpoint.note,
        size=checkpoint.size,
        verifier_key=ledger_verifier_key(ctx),
        jwks=published_jwks(session, ctx.keys.voucher, now()),
        origin=ctx.settings.origin,
        created_at=now(),
    )
    target.seek(0)
    return target


def write_bundle_to(
    target: IO[bytes] | Path,
    entries: Iterable[bytes],
    *,
    checkpoint: str,
    size: int,
    verifier_key: str,
    jwks: Mapping[str, Any],
    origin: str,
    created_at: datetime,
) -> None:
    """The one bundle writer: streams the entries (canonical lines) into the zip, then the
    signed checkpoint of `size` entries, its verifier key, the JWKS and the manifest."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        digests = {ENTRIES: _write_entries(archive, entries)}
        for name, text in (
            (CHECKPOINT, checkpoint),
            (CHECKPOINT_KEY, verifier_key + "\n"),
            (JWKS, json.dumps(jwks, indent=2) + "\n"),
        ):
            data = text.encode()
            archive.writestr(name, data)
            digests[name] = hashlib.sha256(data).hexdigest()
        manifest = {
            "size": size,
            "origin": origin,
            "created_at": rfc3339(created_at),
            "files": digests,
        }
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _write_entries(archive: zipfile.ZipFile, entries: Iterable[bytes]) -> str:
    """Writes each entry as a line of the entries member; returns the member's SHA-256."""
    digest = hashlib.sha256()
    pending: list[bytes] = []
    pending_bytes = 0
    with archive.open(ENTRIES, "w") as member:
        for line in entries:
            pending.append(line)
            pending_bytes += len(line) + 1
            # Writing line by line to a deflating member is slow; batches keep memory bounded.
            if pending_bytes >= _BATCH:
                digest.update(_flush(member, pending))
                pending_bytes = 0
        digest.update(_flush(member, pending))
    return digest.hexdigest()


def _flush(member: IO[bytes], pending: list[bytes]) -> bytes:
    """Writes the pending lines, newline-terminated, and returns the bytes written."""
    block = b"\n".join(pending) + b"\n" if pending else b""
    member.write(block)
    pending.clear()
    return block


# --- Signed bundles from arbitrary entries, without a database: tests, benchmarks, tooling.


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


def write_signed_bundle(
    path: Path,
    entries: Iterable[bytes | Mapping[str, Any]],
    origin: str,
    private_key: Ed25519PrivateKey,
    jwks: Mapping[str, Any],
    *,
    created_at: datetime | None = None,
) -> BundleInfo:
    """Signs a checkpoint over the entries, then writes them with `write_bundle_to`.

    An entry is a mapping (written in its canonical form) or bytes (written as given, garbage
    included). The entries are read twice, for the root and then for the zip: a list or
    another re-iterable collection, not an iterator.
    """
    if iter(entries) is entries:
        raise TypeError("the entries are read twice: pass a re-iterable, not an iterator")
    tree = CompactRange()
    for line in _lines(entries):
        tree.append(leaf_hash(line))
    size, root = tree.size, tree.root()
    signed = note.sign_note(note.format_checkpoint(origin, size, root), origin, private_key)
    key = note.verifier_key(origin, private_key.public_key())
    write_bundle_to(
        path,
        _lines(entries),
        checkpoint=signed,
        size=size,
        verifier_key=key,
        jwks=jwks,
        origin=origin,
        created_at=created_at or now(),
    )
    return BundleInfo(origin, size, root, signed, key)


def _lines(entries: Iterable[bytes | Mapping[str, Any]]) -> Iterator[bytes]:
    for entry in entries:
        yield bytes(entry) if isinstance(entry, bytes | bytearray) else canonical(dict(entry))


# --- The auditors' spreadsheet.

CSV_COLUMNS = (
    "index",
    "entry_id",
    "kind",
    "at",
    "program_id",
    "partner_id",
    "source",
    "destination",
    "amount_cents",
    "leaf_hash",
)


def export_csv(session: Session, size: int) -> Iterator[str]:
    """One line a posting, streamed: the auditors' spreadsheet view of the log."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for index, raw, digest in stream_entries(session, size):
        entry: dict[str, Any] = json.loads(raw)
        for posting in entry["postings"]:
            writer.writerow(
                (
                    index,
                    entry["id"],
                    entry["kind"],
                    entry["at"],
                    entry.get("program_id", ""),
                    entry.get("partner_id", ""),
                    posting["source"],
                    posting["destination"],
                    posting["amount"],
                    b64(digest),
                )
            )
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
