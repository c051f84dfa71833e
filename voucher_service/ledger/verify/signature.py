"""Which key vouches for the checkpoint, whether its signature holds (check 2), and whether a
witness's previous checkpoint is a prefix of the log (check 8)."""

from __future__ import annotations

from voucher_service.ledger.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)
from voucher_service.ledger.verify.report import Findings, b64, short
from voucher_service.ledger.verify.stream import Streamed


def choose_verifier(
    pinned_key: str | None, bundle_key: bytes | None, findings: Findings
) -> tuple[Verifier | None, bool]:
    """The key that checks signatures, and whether it was pinned: the auditor's, else the
    bundle's own (which vouches for nothing but itself, so a warning says so)."""
    bundled = _parse_bundle_key(bundle_key, findings)
    if pinned_key is None:
        findings.warn(
            "the verifier key was not pinned (--key): the bundle's own checkpoint.key "
            "vouched for its checkpoint; compare it with the key the service publishes"
        )
        return bundled, False
    try:
        pinned = parse_verifier_key(pinned_key.strip())
    except NoteError as exc:
        findings.fail("signature", f"the pinned key is not a verifier key ({short(exc)})")
        return None, False
    if bundled is not None and not _same_key(pinned, bundled):
        findings.fail(
            "signature",
            f"checkpoint.key ({label(bundled)}) is not the pinned key ({label(pinned)})",
        )
    return pinned, True


def read_checkpoint(
    note: bytes, verifier: Verifier | None, findings: Findings
) -> tuple[Checkpoint | None, bool]:
    """The checkpoint, and whether its signature held; it is read even when its signature
    fails, so that the other checks can say what else is wrong."""
    try:
        text = note.decode()
    except UnicodeDecodeError:
        findings.fail("signature", "checkpoint is not UTF-8 text")
        return None, False
    signed = _open(text, verifier, findings)
    body = signed if signed is not None else text[: text.rfind("\n\n") + 1]
    try:
        return parse_checkpoint(body), signed is not None
    except NoteError as exc:
        findings.fail("checkpoint", f"checkpoint: {exc}")
        return None, signed is not None


def load_previous(text: str, verifier: Verifier | None, findings: Findings) -> Checkpoint | None:
    """The witness's previous checkpoint, once its signature holds under the same key."""
    if verifier is None:
        findings.fail("previous", "the previous checkpoint cannot be checked without a key")
        return None
    try:
        return parse_checkpoint(open_note(text, verifier))
    except NoteError as exc:
        message = f"the previous checkpoint does not verify with {label(verifier)}: {exc}"
        findings.fail("previous", message)
        return None


def inconsistency(previous: Checkpoint, checkpoint: Checkpoint, streamed: Streamed) -> str | None:
    """Why the log in the bundle does not extend the previous checkpoint's, if it does not."""
    if previous.origin != checkpoint.origin:
        return f"its origin {previous.origin} is not {checkpoint.origin}"
    if previous.size > checkpoint.size:
        return f"its size {previous.size} exceeds the new size {checkpoint.size}: the log shrank"
    if streamed.prefix_root is None:
        return f"it covers {previous.size} entries, the bundle holds only {streamed.count}"
    if streamed.prefix_root != previous.root_hash:
        return (
            f"the first {previous.size} entries hash to {b64(streamed.prefix_root)}, "
            f"not to its root {b64(previous.root_hash)}: the history was rewritten"
        )
    return None


def label(verifier: Verifier) -> str:
    return f"{verifier.name}+{verifier.key_id.hex()}"


def _parse_bundle_key(key: bytes | None, findings: Findings) -> Verifier | None:
    if key is None:
        return None
    try:
        return parse_verifier_key(key.decode().strip())
    except (UnicodeDecodeError, NoteError) as exc:
        findings.fail("signature", f"checkpoint.key is not a verifier key ({short(exc)})")
        return None


def _open(note: str, verifier: Verifier | None, findings: Findings) -> str | None:
    if verifier is None:
        findings.fail("signature", "no verifier key to check the checkpoint's signature with")
        return None
    try:
        return open_note(note, verifier)
    except NoteError as exc:
        findings.fail("signature", f"checkpoint signature does not verify: {exc}")
        return None


def _same_key(a: Verifier, b: Verifier) -> bool:
    return (
        a.name == b.name
        and a.key_id == b.key_id
        and a.public_key.public_bytes_raw() == b.public_key.public_bytes_raw()
    )
