"""The audit bundle: the log at its latest checkpoint, in a zip an auditor verifies offline."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy.orm import Session

from voucher_service.clock import now, rfc3339
from voucher_service.context import ServiceContext
from voucher_service.ledger.log import b64, latest_checkpoint, stream_entries
from voucher_service.ledger.note import verifier_key
from voucher_service.vouchers.jwks import published_jwks


def ledger_verifier_key(ctx: ServiceContext) -> str:
    return verifier_key(ctx.settings.origin, ctx.keys.ledger.public_key())


def write_bundle(session: Session, ctx: ServiceContext) -> IO[bytes]:
    """Write the bundle to a temporary file (rewound), entry by entry: memory stays flat."""
    checkpoint = latest_checkpoint(session, ctx)
    target = tempfile.TemporaryFile()  # noqa: SIM115 (the caller sends, then closes it)
    digests: dict[str, str] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("entries.jsonl", "w") as member:
            digest = hashlib.sha256()
            for _, entry, _ in stream_entries(session, checkpoint.size):
                line = entry.encode() + b"\n"
                digest.update(line)
                member.write(line)
            digests["entries.jsonl"] = digest.hexdigest()
        jwks = json.dumps(published_jwks(session, ctx.keys.voucher, now()), indent=2) + "\n"
        for name, content in (
            ("checkpoint", checkpoint.note),
            ("checkpoint.key", ledger_verifier_key(ctx) + "\n"),
            ("jwks.json", jwks),
        ):
            archive.writestr(name, content)
            digests[name] = hashlib.sha256(content.encode()).hexdigest()
        manifest = {
            "size": checkpoint.size,
            "origin": ctx.settings.origin,
            "created_at": rfc3339(now()),
            "files": digests,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
    target.seek(0)
    return target


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
