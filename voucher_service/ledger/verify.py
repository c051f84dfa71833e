"""Offline verifier of an audit bundle: manifest, signed checkpoint, Merkle root, ledger replay."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from voucher_service.ledger.accounts import is_source_account
from voucher_service.ledger.bundle_format import (
    BUNDLE_MEMBERS,
    CHECKPOINT,
    CHECKPOINT_KEY,
    COVERED_MEMBERS,
    ENTRIES,
    JWKS,
    MANIFEST,
)
from voucher_service.ledger.merkle import EMPTY_ROOT, CompactRange
from voucher_service.ledger.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)

_CHUNK = 1 << 20
_MAX_LINE = 16 << 20  # no entry comes near this; a longer "line" is garbage, not a ledger
_MAX_SMALL_MEMBER = 16 << 20  # checkpoint, key, JWKS and manifest are read whole
_MAX_LISTED = 200  # a garbage log must not produce a million-line report
_PARALLEL_FROM = 16 << 20  # below this many bytes of entries, a second process costs more
_READ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
_UTC_TIME = re.compile(_DATE_TIME + r"(Z|\+00:00)")  # entries: UTC, as the service writes them
_RFC3339 = re.compile(_DATE_TIME + r"(Z|[+-][0-9]{2}:[0-9]{2})")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# Each check the report names, in the order it prints them, with what it covers.
_GROUPS = {
    "bundle": "the bundle's zip and members",
    "manifest": "the manifest's SHA-256 of each member",
    "jwks": "jwks.json",
    "signature": "the checkpoint's signature",
    "checkpoint": "the checkpoint's origin and size",
    "root": "the Merkle root of entries.jsonl",
    "entries": "the entries' form",
    "balances": "the replayed balances",
    "vouchers": "the voucher invariants",
    "previous": "consistency with the previous checkpoint",
}

Fail = Callable[[str, str], None]
Entry = dict[str, Any]
Postings = list[dict[str, Any]]


@dataclass
class Report:
    """What an audit of a bundle found; `ok` only when every check ran and held."""

    ok: bool = False
    size: int | None = None
    origin: str | None = None
    root: str | None = None
    entries_checked: int = 0
    balances: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    unlisted_failures: int = 0
    unlisted_warnings: int = 0

    @property
    def problems(self) -> int:
        return len(self.failures) + self.unlisted_failures

    def render(self) -> str:
        lines = [
            f"Audit bundle: origin {self.origin or '?'}, size {_or_unknown(self.size)}, "
            f"root {self.root or '?'}"
        ]
        lines += [f"✓ {check}" for check in self.checks]
        lines += [f"✗ {failure}" for failure in self.failures]
        if self.unlisted_failures:
            lines.append(f"✗ … and {self.unlisted_failures} more problem(s), not listed")
        lines += [f"– not checked: {what}" for what in self.not_checked]
        lines += [f"! warning: {warning}" for warning in self.warnings]
        if self.unlisted_warnings:
            lines.append(f"! … and {self.unlisted_warnings} more warning(s), not listed")
        lines += self._balance_lines()
        lines.append(self._verdict())
        return "\n".join(lines)

    def _balance_lines(self) -> list[str]:
        if not self.balances:
            return [f"Balances after {self.entries_checked} entries: no account moved"]
        kinds: dict[str, tuple[int, int]] = {}
        for account, balance in self.balances.items():
            count, total = kinds.get(_account_kind(account), (0, 0))
            kinds[_account_kind(account)] = (count + 1, total + balance)
        lines = [
            f"Balances after {self.entries_checked} entries, by kind of account (cents; "
            f"all accounts sum to {sum(self.balances.values())}):"
        ]
        width = max(len(kind) for kind in kinds)
        for kind, (count, total) in sorted(kinds.items()):
            lines.append(f"  {kind:<{width}}  {count:>7} account(s)  total {total:>16}")
        return lines

    def _verdict(self) -> str:
        if self.ok:
            return (
                f"OK: {self.entries_checked} entries verified against the signed checkpoint "
                f"(origin {self.origin}, size {self.size}, root {self.root})"
            )
        return f"FAILED: {self.problems} problem(s)"


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


# --- Collecting findings.


class _Findings:
    """Failures by check (the first few hundred listed, all counted) and warnings."""

    def __init__(self) -> None:
        self.failures: dict[str, list[str]] = {group: [] for group in _GROUPS}
        self.counts = dict.fromkeys(_GROUPS, 0)
        self.listed = 0
        self.unlisted = 0
        self.warnings: list[str] = []
        self.unlisted_warnings = 0

    def fail(self, group: str, message: str) -> None:
        self.counts[group] += 1
        if self.listed < _MAX_LISTED:
            self.failures[group].append(message)
            self.listed += 1
        else:
            self.unlisted += 1

    def warn(self, message: str) -> None:
        if len(self.warnings) < _MAX_LISTED:
            self.warnings.append(message)
        else:
            self.unlisted_warnings += 1

    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Manifest:
    size: int | None
    origin: str | None
    files: dict[str, str]


@dataclass(frozen=True)
class _Streamed:
    """The outcome of one pass over entries.jsonl."""

    count: int
    root: bytes
    sha256: str
    prefix_root: bytes | None  # the root of the first `previous.size` entries, if reached


# --- The audit: reading the bundle, then each check.


class _Audit:
    def __init__(self, pinned_key: str | None, previous_checkpoint: str | None) -> None:
        self.pinned_key = pinned_key
        self.previous_text = previous_checkpoint
        self.findings = _Findings()
        self.held: dict[str, str] = {}  # check -> what held, once it ran
        self.members: set[str] = set()
        self.manifest: _Manifest | None = None
        self.verifier: Verifier | None = None
        self.pinned = False
        self.checkpoint: Checkpoint | None = None
        self.previous: Checkpoint | None = None
        self.streamed: _Streamed | None = None
        self.replay: _Replay | None = None

    def fail(self, group: str, message: str) -> None:
        self.findings.fail(group, message)

    def run(self, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except _READ_ERRORS as exc:
            self.fail("bundle", f"{path.name} is not a readable zip file ({_short(exc)})")
            return
        with archive:
            self._read(archive)

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
        self.previous = self._load_previous()
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
        except _READ_ERRORS as exc:
            self.fail("bundle", f"{name} could not be read ({_short(exc)})")
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
        if not isinstance(created_at, str) or not _is_time(created_at, _RFC3339):
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
        except _READ_ERRORS as exc:
            self.fail("bundle", f"{name} could not be read ({_short(exc)})")
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
        bundle_key = self._bundle_key(key)
        self.verifier = self._choose_verifier(bundle_key)
        if note is None:
            return
        try:
            text = note.decode()
        except UnicodeDecodeError:
            self.fail("signature", "checkpoint is not UTF-8 text")
            return
        signed = self._open(text)
        body = signed if signed is not None else text[: text.rfind("\n\n") + 1]
        try:
            self.checkpoint = parse_checkpoint(body)
        except NoteError as exc:
            self.fail("checkpoint", f"checkpoint: {exc}")
        if signed is not None and self.verifier is not None:
            how = "the pinned key" if self.pinned else "the bundle's own key, not pinned"
            self.held["signature"] = f"checkpoint signed by {_label(self.verifier)} ({how})"

    def _bundle_key(self, key: bytes | None) -> Verifier | None:
        if key is None:
            return None
        try:
            return parse_verifier_key(key.decode().strip())
        except (UnicodeDecodeError, NoteError) as exc:
            self.fail("signature", f"checkpoint.key is not a verifier key ({_short(exc)})")
            return None

    def _choose_verifier(self, bundle_key: Verifier | None) -> Verifier | None:
        if self.pinned_key is None:
            self.findings.warn(
                "the verifier key was not pinned (--key): the bundle's own checkpoint.key "
                "vouched for its checkpoint; compare it with the key the service publishes"
            )
            return bundle_key
        try:
            pinned = parse_verifier_key(self.pinned_key.strip())
        except NoteError as exc:
            self.fail("signature", f"the pinned key is not a verifier key ({_short(exc)})")
            return None
        self.pinned = True
        if bundle_key is not None and not _same_key(pinned, bundle_key):
            self.fail(
                "signature",
                f"checkpoint.key ({_label(bundle_key)}) is not the pinned key ({_label(pinned)})",
            )
        return pinned

    def _open(self, note: str) -> str | None:
        if self.verifier is None:
            self.fail("signature", "no verifier key to check the checkpoint's signature with")
            return None
        try:
            return open_note(note, self.verifier)
        except NoteError as exc:
            self.fail("signature", f"checkpoint signature does not verify: {exc}")
            return None

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
        expected, actual = _b64(self.checkpoint.root_hash), _b64(self.streamed.root)
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
        replay = self.replay = _Replay(self.fail, self.findings.warn, size // _BYTES_PER_ENTRY)
        snapshot_at = self.previous.size if self.previous is not None else -1
        try:
            self.streamed = self._read_entries(archive, replay, snapshot_at)
        except _READ_ERRORS as exc:
            message = f"entries.jsonl could not be read past its first {replay.entries} entries"
            self.fail("bundle", f"{message} ({_short(exc)})")
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
            "the value of its vouchers in circulation"
        )

    def _read_entries(
        self, archive: zipfile.ZipFile, replay: _Replay, snapshot_at: int
    ) -> _Streamed:
        worker = None
        if archive.getinfo(ENTRIES).file_size >= _PARALLEL_FROM:
            worker = _HashWorker.start(snapshot_at)
        hasher = worker or _Hasher(snapshot_at)
        try:
            with archive.open(ENTRIES) as member, _collector_paused():
                _replay_pass(member, hasher, replay, self._unterminated)
            streamed = hasher.result()
        finally:
            if worker is not None:
                worker.close()
        return streamed or _hash_alone(archive, snapshot_at)

    def _unterminated(self) -> None:
        self.fail("entries", "entries.jsonl does not end with a newline")

    # Check 8: the previous checkpoint.

    def _load_previous(self) -> Checkpoint | None:
        if self.previous_text is None:
            return None
        if self.verifier is None:
            self.fail("previous", "the previous checkpoint cannot be checked without a key")
            return None
        try:
            return parse_checkpoint(open_note(self.previous_text, self.verifier))
        except NoteError as exc:
            self.fail(
                "previous",
                f"the previous checkpoint does not verify with {_label(self.verifier)}: {exc}",
            )
            return None

    def _check_previous(self) -> None:
        previous, checkpoint, streamed = self.previous, self.checkpoint, self.streamed
        if previous is None or checkpoint is None or streamed is None:
            return
        problem = _inconsistency(previous, checkpoint, streamed)
        if problem is not None:
            self.fail("previous", f"inconsistent with the previous checkpoint: {problem}")
            return
        self.held["previous"] = (
            f"consistent with the previous checkpoint (size {previous.size}, "
            f"root {_b64(previous.root_hash)}): the log only grew"
        )

    # The report.

    def report(self) -> Report:
        findings = self.findings
        previous_given = self.previous_text is not None
        ran = [g for g in _GROUPS if g in self.held and findings.counts[g] == 0]
        skipped = [
            _GROUPS[g]
            for g in _GROUPS
            if g not in self.held
            and findings.counts[g] == 0
            and (g != "previous" or previous_given)
        ]
        if skipped and not findings.total():
            findings.fail("bundle", "some checks could not run: " + ", ".join(skipped))
        replay = self.replay
        return Report(
            ok=findings.total() == 0 and not skipped,
            size=self.checkpoint.size if self.checkpoint else None,
            origin=self.checkpoint.origin if self.checkpoint else None,
            root=_b64(self.checkpoint.root_hash) if self.checkpoint else None,
            entries_checked=replay.entries if replay is not None else 0,
            balances=dict(sorted(replay.balances.items())) if replay is not None else {},
            failures=[message for g in _GROUPS for message in findings.failures[g]],
            warnings=list(findings.warnings),
            checks=[self.held[g] for g in ran],
            not_checked=skipped,
            unlisted_failures=findings.unlisted,
            unlisted_warnings=findings.unlisted_warnings,
        )


def _inconsistency(previous: Checkpoint, checkpoint: Checkpoint, streamed: _Streamed) -> str | None:
    if previous.origin != checkpoint.origin:
        return f"its origin {previous.origin} is not {checkpoint.origin}"
    if previous.size > checkpoint.size:
        return f"its size {previous.size} exceeds the new size {checkpoint.size}: the log shrank"
    if streamed.prefix_root is None:
        return f"it covers {previous.size} entries, the bundle holds only {streamed.count}"
    if streamed.prefix_root != previous.root_hash:
        return (
            f"the first {previous.size} entries hash to {_b64(streamed.prefix_root)}, "
            f"not to its root {_b64(previous.root_hash)}: the history was rewritten"
        )
    return None


# --- The streaming pass: hash each line as it was logged, and replay it.


class _Hasher:
    """The member's SHA-256 and the Merkle tree of its lines, in O(log n) memory."""

    def __init__(self, snapshot_at: int) -> None:
        self._tree = CompactRange()
        self._digest = hashlib.sha256()
        self._snapshot_at = snapshot_at
        self._prefix_root = EMPTY_ROOT if snapshot_at == 0 else None

    def feed(self, block: bytes, lines: list[bytes]) -> None:
        """Takes a block of the member and the lines it completes."""
        self._digest.update(block)
        tree, sha256, snapshot_at = self._tree, hashlib.sha256, self._snapshot_at
        append = tree.append
        for line in lines:
            # The raw line is what was logged: hashing it, not a re-serialisation, proves that.
            append(sha256(b"\x00" + line).digest())
            if tree.size == snapshot_at:
                self._prefix_root = tree.root()

    def result(self) -> _Streamed:
        tree = self._tree
        return _Streamed(tree.size, tree.root(), self._digest.hexdigest(), self._prefix_root)


class _HashWorker:
    """A _Hasher in a child interpreter: on two cores, hashing overlaps the replay.

    The child is `python -c`, not multiprocessing: spawning would re-import the caller's
    __main__ and forking beside threads is unsafe. Should it fail, `result` is None and the
    caller hashes the entries itself.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._broken = False

    @classmethod
    def start(cls, snapshot_at: int) -> _HashWorker | None:
        if not sys.executable or getattr(sys, "frozen", False):  # a frozen app has no `-c`
            return None
        code = f"from {__name__} import _hash_stdin; _hash_stdin({int(snapshot_at)})"
        env = os.environ | {"PYTHONPATH": _package_root_path()}
        try:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and code, no shell)
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError:
            return None
        return cls(process)

    def feed(self, block: bytes, lines: list[bytes]) -> None:
        stdin = self._process.stdin
        if stdin is None or self._broken:
            return
        try:
            stdin.write(block)
        except OSError:
            self._broken = True

    def result(self) -> _Streamed | None:
        try:
            output, _ = self._process.communicate(timeout=600)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
        if self._broken or self._process.returncode != 0:
            return None
        return _streamed_from_json(output)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


def _hash_stdin(snapshot_at: int) -> None:
    """The child's side: the entries member on stdin, its _Streamed as JSON on stdout."""
    hasher, splitter = _Hasher(snapshot_at), _Splitter()
    stdin = sys.stdin.buffer
    while block := stdin.read(_CHUNK):
        hasher.feed(block, splitter.split(block))
    hasher.feed(b"", splitter.rest())
    streamed = hasher.result()
    prefix_root = streamed.prefix_root
    result = {
        "count": streamed.count,
        "root": _b64(streamed.root),
        "sha256": streamed.sha256,
        "prefix_root": None if prefix_root is None else _b64(prefix_root),
    }
    sys.stdout.write(json.dumps(result) + "\n")


def _streamed_from_json(output: bytes) -> _Streamed | None:
    try:
        value = json.loads(output.strip().rsplit(b"\n", 1)[-1])  # past any stray output
        prefix_root = value["prefix_root"]
        return _Streamed(
            int(value["count"]),
            base64.b64decode(value["root"]),
            str(value["sha256"]),
            None if prefix_root is None else base64.b64decode(prefix_root),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _package_root_path() -> str:
    """The child must import this very module, whatever the parent's sys.path was."""
    root = str(Path(__file__).resolve().parents[2])
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([root, inherited]) if inherited else root


class _Splitter:
    """Cuts a stream of blocks into newline-terminated lines; a line never spans two results."""

    def __init__(self) -> None:
        self._tail = b""

    def split(self, block: bytes) -> list[bytes]:
        lines = block.split(b"\n")
        lines[0] = self._tail + lines[0]  # not tail + block: that would copy the whole block
        self._tail = lines.pop()
        if len(self._tail) > _MAX_LINE:
            raise ValueError(f"a line longer than {_MAX_LINE} bytes")
        return lines

    def rest(self) -> list[bytes]:
        """The last line when the member does not end with a newline."""
        return [self._tail] if self._tail else []


def _replay_pass(
    member: IO[bytes],
    hasher: _Hasher | _HashWorker,
    replay: _Replay | None,
    unterminated: Callable[[], None],
) -> None:
    """Reads the member once, feeding every block to the hasher and every line to the replay."""
    splitter = _Splitter()
    check = replay.entry if replay is not None else None
    index = 0
    while block := member.read(_CHUNK):
        lines = splitter.split(block)
        hasher.feed(block, lines)
        if check is not None:
            for line in lines:
                check(index, line)
                index += 1
    rest = splitter.rest()
    if rest:
        unterminated()
        hasher.feed(b"", rest)
        if check is not None:
            check(index, rest[0])


def _hash_alone(archive: zipfile.ZipFile, snapshot_at: int) -> _Streamed:
    """The hashing half of the pass, by itself: when the worker could not do it."""
    hasher = _Hasher(snapshot_at)
    with archive.open(ENTRIES) as member:
        _replay_pass(member, hasher, None, lambda: None)
    return hasher.result()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The pass makes no reference cycles; the collector would only re-walk the growing maps."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- The replay: balances and voucher invariants, entry by entry.
#
# The replay must remember every entry id (to find one used twice, and the redemption a
# reversal names) and every voucher (its programme, value and whereabouts): a million-entry log
# holds about a million of each. As sets and dicts of strings and tuples they took 110 to 130
# bytes apiece, ~440 MiB in all; here each is one record of a 16-byte key (see _key) and a few
# packed integers in one bytearray per kind (_Table), ~26 and ~42 bytes with the room to spare.
# In memory, not on disk: a sqlite3 lookup takes ~2 µs, and an entry needs about three, out of
# the 10 µs it may take in all at 100,000 entries a second.

_KEY = 16  # bytes of a key, at the start of each record
_ENTRY_ID = struct.Struct("<I")  # an entry id's record, past the key: the index of its entry
_VOUCHER = struct.Struct("<IIq")  # a voucher's record, past the key: issue, taker and state
# A voucher's state: 0 while in circulation; else 4 x the index of the entry that took it out
# of circulation, plus how. Its taker is the partner of its live redemption (0 when none).
# 2^32 entries, issues or partners would take terabytes of log: `struct` would refuse them.
_LIVE, _CANCELLED, _EXPIRED = 1, 2, 3
_HOW = {_LIVE: "redeemed by", _CANCELLED: "withdrawn by cancel", _EXPIRED: "withdrawn by expire"}
_Found = tuple[int, int, int, int]  # where a voucher's record is, then its issue, taker, state
_SLOTS = 16  # records in a region of a table
_MIN_REGIONS = 4
_BYTES_PER_ENTRY = 512  # about what the service writes: a table's first size is a guess from it
_MAX_EXPECTED = 1 << 20  # a zip's word is not trusted beyond that many: the tables double later
_SECONDS = frozenset(f"{second:02d}Z" for second in range(60))  # how "at" ends: "SSZ"
_STR = frozenset((str,))  # the only type a reference may have


def _key(text: str) -> bytes:
    """The 16 bytes the replay's tables know an id by: exact for a UUID, a digest otherwise.

    A UUID in canonical form with the RFC 4122 variant (as the service writes ids) is its own
    16 bytes: two of them share a key only when they are the same id. Any other id is its
    SHA-256 cut to 16 bytes, with the variant's two bits set to 11 rather than 10, so that it
    cannot take a UUID's key. Two such ids could share one only by a collision of 126-bit
    digests: ~2^63 work on purpose, never by chance; not a practical concern for an audit.
    """
    if text[8:24:5] == "----" and len(text) == 36:
        digits = text.replace("-", "")
        try:
            key = bytes.fromhex(digits)
        except ValueError:
            key = b""
        # fromhex takes upper case and spaces too, and the hyphens could have been elsewhere:
        # only the canonical form, with 32 lower-case hex digits, is the key's very own.
        if key.hex() == digits and len(key) == _KEY and key[8] >> 6 == 0b10:
            return key
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return digest[:8] + bytes((digest[8] | 0xC0,)) + digest[9:_KEY]


def _keys(texts: list[str]) -> list[bytes]:
    """The _key of each text; for a list of canonical UUIDs (a booklet's), in a few steps."""
    count = len(texts)
    joined = "".join(texts)
    if (
        set(map(len, texts)) == {36}
        and joined.count("-") == 4 * count
        and joined[8::36] == joined[13::36] == joined[18::36] == joined[23::36] == "-" * count
    ):
        digits = joined.replace("-", "")
        try:
            keys = bytes.fromhex(digits)
        except ValueError:
            keys = b""
        variants = keys[8::_KEY]
        if keys.hex() == digits and min(variants) >= 0x80 and max(variants) < 0xC0:
            return [keys[at : at + _KEY] for at in range(0, len(keys), _KEY)]
    return list(map(_key, texts))


class _Table:
    """Fixed-size records, each a 16-byte key then a few integers, in one bytearray: `slots`.

    A set or a dict costs ~100 bytes an id in objects and slots; a record here costs its own
    size and its share of the room left (the table is 3/4 full at first if the guess of its
    size was right, never more than 7/8: then it doubles). The bytearray is cut into regions of
    _SLOTS records. A key's home is region hash(key) % their number (a salted hash: no log can
    pile its keys into one region), its record is in the first region from there with room,
    and a region fills from its start with none ever taken out: a lookup is a `find` among the
    records of a region, seldom more than one, and stops at the first region with room.
    """

    def __init__(self, payload: str, expected: int) -> None:
        """`payload` is the struct format in which `add` takes the rest of a record."""
        self._record = struct.Struct(f"<{_KEY}s{payload}")
        self.size = self._record.size
        expected = min(expected, _MAX_EXPECTED)
        self._allot(max(4 * expected // (3 * _SLOTS), _MIN_REGIONS), 0)  # 3/4 full at `expected`

    def _allot(self, regions: int, records: int) -> None:
        self._regions = regions
        self._span = span = _SLOTS * self.size
        self.slots = bytearray(regions * span)
        self._ends = array("q", range(0, regions * span, span))  # where each region's room is
        self._room = 7 * regions * _SLOTS // 8 - records  # how many more before it doubles

    @property
    def count(self) -> int:
        """How many records the table holds."""
        return (sum(self._ends) - sum(range(0, len(self.slots), self._span))) // self.size

    def find(self, key: bytes) -> int:
        """Where the key's record starts in `slots`, or -1 when it has none."""
        region = hash(key) % self._regions
        start = region * self._span
        end = self._ends[region]
        at = self.slots.find(key, start, end)
        if at >= 0 and not (at - start) % self.size:
            return at
        if at < 0 and end - start < self._span:
            return -1
        return self._search(key, region)[0]

    def add(self, key: bytes, payload: bytes | int) -> int:
        """Adds the key's record unless it has one: then returns where that starts, else -1."""
        region = hash(key) % self._regions
        start = region * self._span
        end = self._ends[region]
        if end - start == self._span or self.slots.find(key, start, end) >= 0:
            at, region = self._search(key, region)  # seldom: the region is full, or a match
            if at >= 0:
                return at
            end = self._ends[region]
        self._record.pack_into(self.slots, end, key, payload)
        self._ends[region] = end + self.size
        self._room -= 1
        if not self._room:
            self._grow()
        return -1

    def _search(self, key: bytes, region: int) -> tuple[int, int]:
        """Where the key's record starts, or -1 and the first region from `region` with room."""
        slots, size, span = self.slots, self.size, self._span
        while True:
            start, end = region * span, self._ends[region]
            at = slots.find(key, start, end)
            while at >= 0 and (at - start) % size:  # bytes astride two records: not a key
                at = slots.find(key, at + 1, end)
            if at >= 0 or end - start < span:
                return at, region
            region = (region + 1) % self._regions

    def _grow(self) -> None:
        """Doubles the regions, then puts each record back: the only time one moves."""
        slots, ends, span, record = self.slots, self._ends, self._span, self._record
        self._allot(2 * self._regions, self.count)
        for start, end in zip(range(0, len(slots), span), ends, strict=True):
            for key, payload in record.iter_unpack(slots[start:end]):
                home = hash(key) % self._regions
                while self._ends[home] - home * span == span:
                    home = (home + 1) % self._regions
                record.pack_into(self.slots, self._ends[home], key, payload)
                self._ends[home] += self.size


class _Replay:
    """Checks each entry and replays its postings; keeps ids and vouchers, never entries."""

    def __init__(self, fail: Fail, warn: Callable[[str], None], expected: int = 0) -> None:
        self._fail = fail
        self._warn = warn
        self.entries = 0
        self.balances: dict[str, int] = {}
        self.unknown_kinds: dict[str, list[int]] = {}  # kind -> [count, first index]
        self._ids = _Table("I", expected)  # an entry's index, read back as _ENTRY_ID
        self._vouchers = _Table(f"{_VOUCHER.size}s", expected)  # a _VOUCHER, packed
        # Each issue entry's programme (by number), face value and index: its vouchers share it.
        self._issue_programs = array("I")
        self._issue_values: list[int] = []
        self._issue_entries = array("q")
        self._programs: dict[str, int] = {}  # programme id -> its number
        self._program_ids: list[str] = []
        self._circulating: list[int] = []  # by programme: the value of its vouchers in circulation
        self._partners: dict[str, int] = {}  # partner id -> its number
        self._partner_ids: list[str] = []
        decoder: Any = json.JSONDecoder()  # its scanner is raw_decode's, less a Python frame
        self._scan: Callable[[str, int], tuple[object, int]] = decoder.scan_once
        self._last_at = ""
        self._kinds: dict[str, Callable[[int, str, Entry, Postings], None]] = {
            "allocate": self._allocate,
            "issue": self._issue,
            "redeem": self._redeem,
            "reverse": self._reverse,
            "cancel": self._withdraw,
            "expire": self._withdraw,
            "settle": self._settle,
        }

    @property
    def voucher_count(self) -> int:
        return self._vouchers.count

    def entry(self, index: int, line: bytes) -> None:
        self.entries = index + 1
        try:
            text = line.decode()
            try:
                entry, end = self._scan(text, 0)
            except StopIteration as stop:  # as raw_decode words it
                raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        except (ValueError, RecursionError) as exc:
            self._bad("entries", index, None, f"not valid UTF-8 JSON ({_short(exc)})")
            return
        if end != len(text) or type(entry) is not dict:
            self._bad("entries", index, None, "not one JSON object")
            return
        kind = self._header(index, entry)
        postings = self._post(index, kind, entry)
        if postings is None or not kind:
            return
        handler = self._kinds.get(kind)
        if handler is not None:
            handler(index, kind, entry, postings)
        else:
            self.unknown_kinds.setdefault(kind, [0, index])[0] += 1

    def finish(self) -> None:
        self._check_outstanding()
        for kind, (count, first) in sorted(self.unknown_kinds.items()):
            self._warn(f"{count} entries of unknown kind {kind!r} (first: entry {first})")

    def _check_outstanding(self) -> None:
        """The end-of-log invariant: outstanding balances are the vouchers in circulation."""
        expected = dict(zip(self._program_ids, self._circulating, strict=True))
        programs = set(expected) | {
            account[len("program:") : -len(":outstanding")]
            for account in self.balances
            if account.startswith("program:") and account.endswith(":outstanding")
        }
        for program in sorted(programs):
            account = f"program:{program}:outstanding"
            actual, due = self.balances.get(account, 0), expected.get(program, 0)
            if actual != due:
                self._fail(
                    "vouchers",
                    f"at the end, {account} holds {actual} but its vouchers in circulation "
                    f"are worth {due}",
                )

    def _bad(self, group: str, index: int, kind: str | None, message: str) -> None:
        self._fail(group, f"entry {index} ({kind or '?'}): {message}")

    # Form (check 5).

    def _header(self, index: int, entry: Entry) -> str | None:
        kind = entry.get("kind")
        if type(kind) is not str or not kind:
            self._bad("entries", index, None, f"kind {kind!r} is not a non-empty string")
            kind = None
        entry_id = entry.get("id")
        if type(entry_id) is not str or not entry_id:
            self._bad("entries", index, kind, f"id {entry_id!r} is not a non-empty string")
        elif self._ids.add(_key(entry_id), index) >= 0:
            self._bad("entries", index, kind, f"id {entry_id} appears twice in the log")
        at, last = entry.get("at"), self._last_at
        if at != last:  # most entries share the second, or at least the minute, of the last
            if type(at) is str and (
                (len(at) == 20 and at[17:] in _SECONDS and at[:17] == last[:17])
                or _is_time(at, _UTC_TIME)
            ):
                self._last_at = at
            else:
                self._bad("entries", index, kind, f"at {at!r} is not an RFC 3339 UTC time")
        return kind

    def _post(self, index: int, kind: str | None, entry: Entry) -> Postings | None:
        """Validates the postings, then applies them all (a transfer is atomic)."""
        postings = entry.get("postings")
        if type(postings) is list and len(postings) == 1 and type(postings[0]) is dict:
            posting = postings[0]  # most transfers: _postings_problem's checks, at less cost
            amount, source, destination = (
                posting.get("amount"),
                posting.get("source"),
                posting.get("destination"),
            )
            if (
                type(amount) is int
                and amount > 0
                and type(source) is type(destination) is str
                and source
                and destination
                and source != destination
            ):
                balances = self.balances
                balances[destination] = balances.get(destination, 0) + amount
                balances[source] = left = balances.get(source, 0) - amount
                if left < 0:
                    self._negatives(index, kind, postings)
                return postings
        problem = _postings_problem(postings)
        if problem is not None:
            self._bad("entries", index, kind, problem)
            return None
        postings = cast("Postings", postings)
        balances = self.balances
        get = balances.get
        dipped = False
        for posting in postings:
            amount, source, destination = (
                posting["amount"],
                posting["source"],
                posting["destination"],
            )
            balances[destination] = get(destination, 0) + amount
            left = balances[source] = get(source, 0) - amount
            dipped = dipped or left < 0
        if dipped:  # judged after the whole transfer: its postings land together
            self._negatives(index, kind, postings)
        return postings

    def _negatives(self, index: int, kind: str | None, postings: Postings) -> None:
        for source in dict.fromkeys(posting["source"] for posting in postings):
            balance = self.balances[source]
            if balance < 0 and not is_source_account(source):
                self._bad("balances", index, kind, f"{source} goes negative ({balance})")

    def _refs(
        self, index: int, kind: str, entry: Entry, names: tuple[str, ...]
    ) -> tuple[str, ...] | None:
        """The entry's references `names`, each a non-empty string, or None once reported."""
        values: tuple[Any, ...] = tuple(map(entry.get, names))
        if all(values) and _STR.issuperset(map(type, values)):
            return values
        for name, value in zip(names, values, strict=True):
            if type(value) is not str or not value:
                self._bad("entries", index, kind, f"{name} {value!r} is not a non-empty string")
        return None

    def _voucher_ids(self, index: int, kind: str, entry: Entry, one: bool) -> list[str] | None:
        ids = entry.get("voucher_ids")
        if type(ids) is not list or not ids:
            pass
        elif len(ids) == 1:  # every redemption and reversal: spare them the general check
            if type(ids[0]) is str and ids[0]:
                return ids
        elif not one and all(type(vid) is str and vid for vid in ids) and len(set(ids)) == len(ids):
            return ids
        wanted = "one voucher id" if one else "distinct voucher ids"
        self._bad("entries", index, kind, f"voucher_ids {_clip(ids)} is not a list of {wanted}")
        return None

    def _one_posting(
        self, index: int, kind: str, postings: Postings, source: str, destination: str
    ) -> int | None:
        if len(postings) != 1:
            self._bad("entries", index, kind, f"{len(postings)} postings where one is expected")
            return None
        posting = postings[0]
        if posting["source"] != source or posting["destination"] != destination:
            self._bad(
                "entries",
                index,
                kind,
                f"moves {posting['source']} → {posting['destination']}, "
                f"not {source} → {destination}",
            )
            return None
        amount: int = posting["amount"]
        return amount

    # Vouchers (check 7): each a record in self._vouchers, updated in place.

    def _known(
        self, index: int, kind: str, voucher_id: str, key: bytes, program: str
    ) -> _Found | None:
        """Where the voucher's record is, then its issue, taker and state; None once reported."""
        at = self._vouchers.find(key)
        if at < 0:
            self._bad("vouchers", index, kind, f"voucher {voucher_id} was never issued")
            return None
        issue, taker, state = _VOUCHER.unpack_from(self._vouchers.slots, at + _KEY)
        owner = self._program_ids[self._issue_programs[issue]]
        if owner != program:
            message = f"voucher {voucher_id} belongs to programme {owner}, not {program}"
            self._bad("vouchers", index, kind, message)
            return None
        return at, issue, taker, state

    def _move(self, found: _Found, taker: int, state: int, sign: int) -> None:
        """Records a voucher's new state; sign 1 when it comes back into circulation, -1 out."""
        at, issue, _, _ = found
        _VOUCHER.pack_into(self._vouchers.slots, at + _KEY, issue, taker, state)
        self._circulating[self._issue_programs[issue]] += sign * self._issue_values[issue]

    def _wrong_value(
        self, index: int, kind: str, voucher_id: str, found: _Found, amount: int
    ) -> None:
        message = f"moves {amount} for voucher {voucher_id} worth {self._issue_values[found[1]]}"
        self._bad("vouchers", index, kind, message)

    # Kinds (checks 5 and 7).

    def _allocate(self, index: int, kind: str, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry, ("program_id", "funder"))
        if refs is not None:
            program, funder = refs
            source, destination = f"funder:{funder}:appropriation", f"program:{program}:available"
            self._one_posting(index, kind, postings, source, destination)

    def _issue(self, index: int, kind: str, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry, ("program_id", "booklet_id"))
        voucher_ids = self._voucher_ids(index, kind, entry, one=False)
        if refs is None or voucher_ids is None:
            return
        program = refs[0]
        accounts = f"program:{program}:available", f"program:{program}:outstanding"
        amount = self._one_posting(index, kind, postings, *accounts)
        if amount is None:
            return
        value, rest = divmod(amount, len(voucher_ids))
        if rest:
            message = f"{amount} is not a whole face value for {len(voucher_ids)} vouchers"
            self._bad("vouchers", index, kind, message)
            return
        number = self._programs.get(program)
        if number is None:
            number = self._programs[program] = len(self._program_ids)
            self._program_ids.append(program)
            self._circulating.append(0)
        issue = len(self._issue_entries)  # its vouchers' records name it by this number
        self._issue_programs.append(number)
        self._issue_values.append(value)
        self._issue_entries.append(index)
        payload, add, new = _VOUCHER.pack(issue, 0, 0), self._vouchers.add, 0
        for voucher_id, key in zip(voucher_ids, _keys(voucher_ids), strict=True):
            at = add(key, payload)
            if at < 0:
                new += 1
                continue
            first = self._issue_entries[_VOUCHER.unpack_from(self._vouchers.slots, at + _KEY)[0]]
            message = f"voucher {voucher_id} issued again (first by entry {first})"
            self._bad("vouchers", index, kind, message)
        self._circulating[number] += new * value

    def _redeem(self, index: int, kind: str, entry: Entry, postings: Postings) -> None:
        """Takes a voucher out of circulation: a second live redemption is a double spend."""
        refs = self._refs(index, kind, entry, ("program_id", "partner_id", "redemption_id"))
        voucher_ids = self._voucher_ids(index, kind, entry, one=True)
        if refs is None or voucher_ids is None:
            return
        program, partner, _ = refs
        voucher_id = voucher_ids[0]
        amount = self._one_posting(
            index, kind, postings, f"program:{program}:outstanding", f"partner:{partner}:payable"
        )
        found = self._known(index, kind, voucher_id, _key(voucher_id), program)
        if amount is None or found is None:
            return
        at, issue, _, state = found
        if state & 3 == _LIVE:
            message = f"voucher {voucher_id} redeemed twice: entry {state >> 2}'s redemption"
            self._bad("vouchers", index, kind, f"{message} is still live")
        elif state:
            self._bad("vouchers", index, kind, f"voucher {voucher_id} was {_whereabouts(state)}")
        else:  # the one path of nearly every entry: inline, not _move
            taker = self._partners.get(partner)
            if taker is None:
                taker = self._partners[partner] = len(self._partner_ids)
                self._partner_ids.append(partner)
            _VOUCHER.pack_into(self._vouchers.slots, at + _KEY, issue, taker, index << 2 | _LIVE)
            self._circulating[self._issue_programs[issue]] -= self._issue_values[issue]
        if amount != self._issue_values[issue]:
            self._wrong_value(index, kind, voucher_id, found, amount)

    def _reverse(self, index: int, kind: str, entry: Entry, postings: Postings) -> None:
        names = ("program_id", "partner_id", "reverses", "redemption_id")
        refs = self._refs(index, kind, entry, names)
        voucher_ids = self._voucher_ids(index, kind, entry, one=True)
        if refs is None or voucher_ids is None:
            return
        program, partner, reverses, _ = refs
        accounts = f"partner:{partner}:payable", f"program:{program}:outstanding"
        amount = self._one_posting(index, kind, postings, *accounts)
        found = self._known(index, kind, voucher_ids[0], _key(voucher_ids[0]), program)
        if amount is not None and found is not None:
            self._give_back(index, kind, voucher_ids[0], partner, reverses, found)
            if amount != self._issue_values[found[1]]:
                self._wrong_value(index, kind, voucher_ids[0], found, amount)

    def _give_back(
        self, index: int, kind: str, voucher_id: str, partner: str, reverses: str, found: _Found
    ) -> None:
        """Undoes the live redemption `reverses` names: the voucher may be redeemed again."""
        _, _, taker, state = found
        live = state >> 2 if state & 3 == _LIVE else None
        if live is None or live != self._index_of(reverses):
            current = "none" if live is None else f"entry {live}"
            message = f"reverses {reverses}, not the live redemption of voucher {voucher_id}"
            self._bad("vouchers", index, kind, f"{message} (live: {current})")
        elif self._partner_ids[taker] != partner:
            message = f"reverses a redemption by partner {self._partner_ids[taker]}, not {partner}"
            self._bad("vouchers", index, kind, message)
        else:
            self._move(found, 0, 0, 1)

    def _index_of(self, entry_id: str) -> int | None:
        """The index of the entry with this id (the first, should there be several)."""
        at = self._ids.find(_key(entry_id))
        return None if at < 0 else int(_ENTRY_ID.unpack_from(self._ids.slots, at + _KEY)[0])

    def _withdraw(self, index: int, kind: str, entry: Entry, postings: Postings) -> None:
        """Cancel or expire: vouchers in circulation go back to the programme's budget."""
        refs = self._refs(index, kind, entry, ("program_id",))
        voucher_ids = self._voucher_ids(index, kind, entry, one=False)
        if refs is None or voucher_ids is None:
            return
        program = refs[0]
        accounts = f"program:{program}:outstanding", f"program:{program}:available"
        amount = self._one_posting(index, kind, postings, *accounts)
        state = index << 2 | (_CANCELLED if kind == "cancel" else _EXPIRED)
        total: int | None = 0
        for voucher_id, key in zip(voucher_ids, _keys(voucher_ids), strict=True):
            found = self._known(index, kind, voucher_id, key, program)
            if found is None:
                total = None
                continue
            value = self._issue_values[found[1]]
            total = None if total is None else total + value
            if found[3]:
                message = f"voucher {voucher_id} is not in circulation ({_whereabouts(found[3])})"
                self._bad("vouchers", index, kind, message)
            else:
                self._move(found, 0, state, -1)
        if amount is not None and total is not None and amount != total:
            message = f"withdraws {amount} for vouchers worth {total}"
            self._bad("vouchers", index, kind, message)

    def _settle(self, index: int, kind: str, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry, ("partner_id",))
        if refs is None:
            return
        source, destination = f"partner:{refs[0]}:payable", f"partner:{refs[0]}:paid"
        for posting in postings:
            if posting["source"] != source or posting["destination"] != destination:
                message = f"moves {posting['source']} → {posting['destination']}"
                self._bad("entries", index, kind, f"{message}, not {source} → {destination}")


def _whereabouts(state: int) -> str:
    """Why a voucher whose state is not 0 is out of circulation."""
    return f"{_HOW[state & 3]} entry {state >> 2}"


def _postings_problem(postings: object) -> str | None:
    """Why `postings` is not a list of positive moves between two distinct accounts, if not."""
    if type(postings) is not list or not postings:
        return "postings is not a non-empty list"
    for posting in postings:
        if type(posting) is not dict:
            return f"posting {_clip(posting)} is not an object"
        source, destination = posting.get("source"), posting.get("destination")
        amount = posting.get("amount")
        if type(source) is not str or type(destination) is not str or not source or not destination:
            return f"posting {_clip(posting)} lacks a source or destination account"
        if source == destination:
            return f"posting moves money from {source} to itself"
        if type(amount) is not int or amount <= 0:
            return f"posting amount {amount!r} is not a positive integer"
    return None


# --- Small helpers.


def _is_time(text: str, pattern: re.Pattern[str]) -> bool:
    if not pattern.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


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
        while block := member.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _same_key(a: Verifier, b: Verifier) -> bool:
    return (
        a.name == b.name
        and a.key_id == b.key_id
        and a.public_key.public_bytes_raw() == b.public_key.public_bytes_raw()
    )


def _label(verifier: Verifier) -> str:
    return f"{verifier.name}+{verifier.key_id.hex()}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _account_kind(account: str) -> str:
    parts = account.split(":")
    return f"{parts[0]}:*:{parts[-1]}" if len(parts) >= 3 else "other"


def _short(exc: BaseException) -> str:
    return _clip(str(exc) or type(exc).__name__, 160)


def _clip(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _or_unknown(value: int | None) -> str:
    return "?" if value is None else str(value)
