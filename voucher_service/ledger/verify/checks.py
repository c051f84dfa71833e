"""The audit of a bundle, check by check: its members, manifest and JWKS, the checkpoint's
signature (see signature), origin, size and root, and the previous checkpoint's consistency;
the entries go through the stream and the replay."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from voucher_service.ledger.note import Checkpoint, Verifier
from voucher_service.ledger.verify.layout import (
    BUNDLE_MEMBERS,
    CHECKPOINT,
    CHECKPOINT_KEY,
    COVERED_MEMBERS,
    ENTRIES,
    JWKS,
    MANIFEST,
)
from voucher_service.ledger.verify.replay import RFC3339, Replay, is_time
from voucher_service.ledger.verify.report import Findings, Report, b64, short
from voucher_service.ledger.verify.signature import (
    choose_verifier,
    inconsistency,
    label,
    load_previous,
    read_checkpoint,
)
from voucher_service.ledger.verify.stream import CHUNK, READ_ERRORS, Streamed, read_entries

_MAX_SMALL_MEMBER = 16 << 20  # checkpoint, key, JWKS and manifest are read whole
_BYTES_PER_ENTRY = 512  # about what the service writes: the replay's first guess of the count
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def verify_bundle(
    path: Path, pinned_key: str | None = None, previous_checkpoint: str | None = None
) -> Report:
    """Check an audit bundle with no database and no network; never raises, reports instead."""
    audit = _Audit(pinned_key, previous_checkpoint)
    try:
        audit.run(Path(path))
    except Exception as exc:  # the last line of defence: an auditor gets a report, not a trace
        audit.findings.fail("bundle", f"unexpected error while verifying: {exc!r}")
    return audit.report()


@dataclass(frozen=True)
class _Manifest:
    size: int | None
    origin: str | None
    files: dict[str, str]


class _Audit:
    """One audit: what each check found so far, and what the later checks need from it."""

    def __init__(self, pinned_key: str | None, previous_checkpoint: str | None) -> None:
        self.pinned_key = pinned_key
        self.previous_text = previous_checkpoint
        self.findings = Findings()
        self.held: dict[str, str] = {}  # check -> what held, once it ran
        self.members: set[str] = set()
        self.manifest: _Manifest | None = None
        self.verifier: Verifier | None = None
        self.pinned = False
        self.checkpoint: Checkpoint | None = None
        self.previous: Checkpoint | None = None
        self.streamed: Streamed | None = None
        self.replay: Replay | None = None

    def fail(self, group: str, message: str) -> None:
        self.findings.fail(group, message)

    def run(self, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except READ_ERRORS as exc:
            self.fail("bundle", f"{path.name} is not a readable zip file ({short(exc)})")
            return
        with archive:
            self._read(archive)

    def report(self) -> Report:
        replay = self.replay
        return self.findings.report(
            self.held,
            previous_given=self.previous_text is not None,
            checkpoint=self.checkpoint,
            entries_checked=replay.entries if replay is not None else 0,
            balances=replay.balances if replay is not None else {},
        )

    def _read(self, archive: zipfile.ZipFile) -> None:
        self._check_members(archive)
        small = {
            name: data
            for name in (MANIFEST, CHECKPOINT, CHECKPOINT_KEY, JWKS)
            if name in self.members and (data := self._read_small(archive, name)) is not None
        }
        self.manifest = self._parse_manifest(small.get(MANIFEST))
        self._check_jwks(small.get(JWKS))
        self._check_signature(small.get(CHECKPOINT), small.get(CHECKPOINT_KEY))
        if self.previous_text is not None:
            self.previous = load_previous(self.previous_text, self.verifier, self.findings)
        if ENTRIES in self.members:
            self._stream_entries(archive)
        self._check_hashes(archive, small)
        self._check_checkpoint()
        self._check_root()
        self._check_previous()

    # Members.

    def _check_members(self, archive: zipfile.ZipFile) -> None:
        names = archive.namelist()
        self.members = set(names)
        for name in sorted(self.members):
            if names.count(name) > 1:
                self.fail("bundle", f"the zip holds {names.count(name)} members named {name}")
        missing = [name for name in BUNDLE_MEMBERS if name not in self.members]
        for name in missing:
            self.fail("bundle", f"{name} is missing from the bundle")
        if not missing:
            self.held["bundle"] = "bundle: a zip holding " + ", ".join(BUNDLE_MEMBERS)

    def _read_small(self, archive: zipfile.ZipFile, name: str) -> bytes | None:
        try:
            with archive.open(name) as member:
                data = member.read(_MAX_SMALL_MEMBER + 1)
        except READ_ERRORS as exc:
            self.fail("bundle", f"{name} could not be read ({short(exc)})")
            return None
        if len(data) > _MAX_SMALL_MEMBER:
            self.fail("bundle", f"{name} is larger than {_MAX_SMALL_MEMBER} bytes")
            return None
        return data

    # Check 1: the manifest.

    def _parse_manifest(self, data: bytes | None) -> _Manifest | None:
        if data is None:
            return None
        value = _load_json(data)
        if not isinstance(value, dict):
            self.fail("manifest", "manifest.json is not a JSON object")
            return None
        size, origin = value.get("size"), value.get("origin")
        if not _is_count(size):
            self.fail("manifest", f"manifest.json: size {size!r} is not a non-negative integer")
        if not isinstance(origin, str) or not origin:
            self.fail("manifest", f"manifest.json: origin {origin!r} is not a non-empty string")
        created_at = value.get("created_at")
        if not isinstance(created_at, str) or not is_time(created_at, RFC3339):
            self.fail("manifest", f"manifest.json: created_at {created_at!r} is not RFC 3339")
        return _Manifest(
            size if _is_count(size) else None,
            origin if isinstance(origin, str) and origin else None,
            self._manifest_files(value.get("files")),
        )

    def _manifest_files(self, files: object) -> dict[str, str]:
        if not isinstance(files, dict):
            self.fail("manifest", "manifest.json: files is not an object of SHA-256 digests")
            return {}
        valid: dict[str, str] = {}
        for name, digest in files.items():
            if isinstance(digest, str) and _SHA256_HEX.fullmatch(digest):
                valid[name] = digest
            else:
                self.fail("manifest", f"manifest.json: {name}: {digest!r} is not a hex SHA-256")
        for name in COVERED_MEMBERS:
            if name not in files:
                self.fail("manifest", f"manifest.json gives no SHA-256 for {name}")
        return valid

    def _check_hashes(self, archive: zipfile.ZipFile, small: dict[str, bytes]) -> None:
        if self.manifest is None:
            return
        before = self.findings.counts["manifest"]
        for name, expected in sorted(self.manifest.files.items()):
            actual = self._member_sha256(archive, name, small)
            if actual is not None and actual != expected:
                self.fail(
                    "manifest",
                    f"{name}: SHA-256 {actual} does not match the manifest's {expected}",
                )
        for name in sorted(self.members - set(self.manifest.files) - {MANIFEST}):
            self.findings.warn(f"{name} is in the bundle but not covered by the manifest")
        if self.findings.counts["manifest"] == before and self.streamed is not None:
            self.held["manifest"] = (
                "manifest: the SHA-256 of "
                + ", ".join(sorted(self.manifest.files))
                + " match their bytes"
            )

    def _member_sha256(
        self, archive: zipfile.ZipFile, name: str, small: dict[str, bytes]
    ) -> str | None:
        if name not in self.members:
            self.fail("manifest", f"the manifest lists {name}, which the bundle lacks")
            return None
        if name == ENTRIES:
            return self.streamed.sha256 if self.streamed is not None else None
        if name in small:
            return hashlib.sha256(small[name]).hexdigest()
        try:
            return _stream_sha256(archive, name)
        except READ_ERRORS as exc:
            self.fail("bundle", f"{name} could not be read ({short(exc)})")
            return None

    def _check_jwks(self, data: bytes | None) -> None:
        if data is None:
            return
        value = _load_json(data)
        if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
            self.fail("jwks", "jwks.json is not a JSON object with a keys list")
            return
        self.held["jwks"] = f"jwks.json: a key set of {len(value['keys'])} public key(s)"

    # Check 2: the signature.

    def _check_signature(self, note: bytes | None, key: bytes | None) -> None:
        self.verifier, self.pinned = choose_verifier(self.pinned_key, key, self.findings)
        if note is None:
            return
        self.checkpoint, signed = read_checkpoint(note, self.verifier, self.findings)
        if signed and self.verifier is not None:
            how = "the pinned key" if self.pinned else "the bundle's own key, not pinned"
            self.held["signature"] = f"checkpoint signed by {label(self.verifier)} ({how})"

    # Check 3: origin and size agree everywhere.

    def _check_checkpoint(self) -> None:
        checkpoint, manifest, streamed = self.checkpoint, self.manifest, self.streamed
        if checkpoint is None or manifest is None or streamed is None:
            return
        before = self.findings.counts["checkpoint"]
        origin, size = checkpoint.origin, checkpoint.size
        if manifest.origin is not None and manifest.origin != origin:
            self.fail(
                "checkpoint", f"checkpoint origin {origin} ≠ manifest origin {manifest.origin}"
            )
        if self.verifier is not None and self.verifier.name != origin:
            self.fail("checkpoint", f"checkpoint origin {origin} ≠ key name {self.verifier.name}")
        if manifest.size is not None and manifest.size != size:
            self.fail("checkpoint", f"checkpoint size {size} ≠ manifest size {manifest.size}")
        if streamed.count != size:
            self.fail(
                "checkpoint",
                f"checkpoint size {size} ≠ the {streamed.count} lines of entries.jsonl",
            )
        if self.findings.counts["checkpoint"] == before:
            self.held["checkpoint"] = (
                f"checkpoint origin {origin} and size {size} agree with the manifest, "
                "the key's name and the lines of entries.jsonl"
            )

    # Check 4: the Merkle root.

    def _check_root(self) -> None:
        if self.checkpoint is None or self.streamed is None:
            return
        expected, actual = b64(self.checkpoint.root_hash), b64(self.streamed.root)
        if expected != actual:
            self.fail(
                "root",
                f"the Merkle root of the {self.streamed.count} entries is {actual}, "
                f"not the checkpoint's {expected}",
            )
            return
        self.held["root"] = (
            f"the Merkle root recomputed from the {self.streamed.count} entries equals "
            f"the checkpoint's ({expected})"
        )

    # Checks 5 to 7: one pass over the entries.

    def _stream_entries(self, archive: zipfile.ZipFile) -> None:
        size = archive.getinfo(ENTRIES).file_size  # as the zip says: a guess, not a promise
        replay = self.replay = Replay(self.fail, self.findings.warn, size // _BYTES_PER_ENTRY)
        snapshot_at = self.previous.size if self.previous is not None else -1
        try:
            self.streamed = read_entries(archive, replay.entry, snapshot_at, self._unterminated)
        except READ_ERRORS as exc:
            message = f"entries.jsonl could not be read past its first {replay.entries} entries"
            self.fail("bundle", f"{message} ({short(exc)})")
            return
        replay.finish()
        count = self.streamed.count
        self.held["entries"] = (
            f"{count} entries are JSON objects with typed fields, RFC 3339 UTC times, "
            "unique ids and positive amounts between distinct accounts"
        )
        self.held["balances"] = (
            f"{len(replay.balances)} balances replayed over {count} entries; no account but "
            "the funders' appropriations went negative"
        )
        self.held["vouchers"] = (
            f"{replay.voucher_count} vouchers issued once each, at most one live redemption "
            "each, amounts equal to face values; each programme's outstanding balance equals "
            "the value of its vouchers in circulation; pre-printed vouchers redeemed only once "
            f"activated ({replay.activated_count} activated)"
        )

    def _unterminated(self) -> None:
        self.fail("entries", "entries.jsonl does not end with a newline")

    # Check 8: the previous checkpoint.

    def _check_previous(self) -> None:
        previous, checkpoint, streamed = self.previous, self.checkpoint, self.streamed
        if previous is None or checkpoint is None or streamed is None:
            return
        problem = inconsistency(previous, checkpoint, streamed)
        if problem is not None:
            self.fail("previous", f"inconsistent with the previous checkpoint: {problem}")
            return
        self.held["previous"] = (
            f"consistent with the previous checkpoint (size {previous.size}, "
            f"root {b64(previous.root_hash)}): the log only grew"
        )


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _load_json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _stream_sha256(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as member:
        while block := member.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
