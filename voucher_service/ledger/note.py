"""C2SP signed notes with Ed25519 (as Go's sumdb/note writes them) and tlog checkpoints."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
ROOT_HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1  # tree sizes are uint64 in every tlog implementation
_SIGNATURE_PREFIX = "— "  # an em dash (U+2014) and a space
_MAX_SIGNATURES = 100  # as Go's note.Open: a note must not make us verify forever
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A malformed or unverifiable signed note, verifier key or checkpoint."""


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()  # opaque extra lines the spec allows after the root


# --- Keys.


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key hash that names a key in signature lines (sumdb/note's keyHash)."""
    return _key_id(name, _encoded_key(public_key))


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    _require_name(name)
    encoded = _encoded_key(public_key)
    return f"{name}+{_key_id(name, encoded).hex()}+{_b64encode(encoded)}"


def parse_verifier_key(text: str) -> Verifier:
    name, _, rest = text.partition("+")
    key_id_hex, _, key_b64 = rest.partition("+")
    if not _is_valid_name(name):
        raise NoteError(f"verifier key: invalid key name {name!r}")
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise NoteError("verifier key: the key id must be 8 hexadecimal digits")
    encoded = _b64decode(key_b64, "verifier key")
    if len(encoded) != 33 or encoded[0] != ALG_ED25519:
        raise NoteError("verifier key: not an Ed25519 key (0x01 and 32 bytes)")
    if _key_id(name, encoded) != bytes.fromhex(key_id_hex):
        raise NoteError("verifier key: the key id does not match the name and key")
    public_key = Ed25519PublicKey.from_public_bytes(encoded[1:])
    return Verifier(name, bytes.fromhex(key_id_hex), public_key)


def _encoded_key(public_key: Ed25519PublicKey) -> bytes:
    return bytes([ALG_ED25519]) + public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, encoded_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + encoded_key).digest()[:4]


# --- Notes.


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    _require_text(text, "note text")
    _require_name(name)
    signature = private_key.sign(text.encode())
    tag = key_id(name, private_key.public_key())
    return f"{text}\n{_SIGNATURE_PREFIX}{name} {_b64encode(tag + signature)}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """Returns the note's text once the verifier's signature on it checks out."""
    text, lines = _split_note(note)
    signatures = [_parse_signature_line(line) for line in lines]
    ours = [s for n, k, s in signatures if n == verifier.name and k == verifier.key_id]
    label = f"{verifier.name}+{verifier.key_id.hex()}"
    if not ours:
        raise NoteError(f"note has no signature by key {label}")
    # As Go's note.Open, only the first signature by a key counts; repeats are ignored.
    if not _signature_holds(verifier.public_key, ours[0], text):
        raise NoteError(f"invalid signature for key {label}")
    return text


def _split_note(note: str) -> tuple[str, list[str]]:
    _require_characters(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note: the signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {_MAX_SIGNATURES} signatures")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """Splits `— name base64(key id || signature)` into its name, key id and signature."""
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"malformed note: {line!r} is not a signature line")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not _is_valid_name(name):
        raise NoteError(f"malformed note: invalid signer name {name!r}")
    raw = _b64decode(encoded, "signature")
    if len(raw) < 5:
        raise NoteError("malformed note: a signature must hold a key id and signature bytes")
    return name, raw[:4], raw[4:]


def _signature_holds(public_key: Ed25519PublicKey, signature: bytes, text: str) -> bool:
    try:
        public_key.verify(signature, text.encode())
    except InvalidSignature:
        return False
    return True


# --- Checkpoints (https://c2sp.org/tlog-checkpoint).


def format_checkpoint(origin: str, size: int, root_hash: bytes) -> str:
    if not origin or "\n" in origin:
        raise NoteError("checkpoint: the origin must be one non-empty line")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise NoteError(f"checkpoint: invalid tree size {size!r}")
    if len(root_hash) != ROOT_HASH_SIZE:
        raise NoteError(f"checkpoint: the root hash must be {ROOT_HASH_SIZE} bytes")
    text = f"{origin}\n{size}\n{_b64encode(root_hash)}\n"
    _require_characters(text, "checkpoint")
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    _require_text(text, "checkpoint")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or "" in lines:
        raise NoteError("checkpoint: needs an origin, size and root hash, on non-empty lines")
    origin, size_line, root_line, *extensions = lines
    return Checkpoint(origin, _parse_size(size_line), _parse_root(root_line), tuple(extensions))


def _parse_size(line: str) -> int:
    if not _DECIMAL.fullmatch(line) or int(line) > MAX_TREE_SIZE:
        raise NoteError(f"checkpoint: {line!r} is not a tree size (decimal, no leading zero)")
    return int(line)


def _parse_root(line: str) -> bytes:
    root_hash = _b64decode(line, "checkpoint root hash")
    if len(root_hash) != ROOT_HASH_SIZE:
        raise NoteError(f"checkpoint: the root hash must be {ROOT_HASH_SIZE} bytes")
    return root_hash


# --- Shared checks.


def _is_valid_name(name: str) -> bool:
    # As sumdb/note: non-empty, no spaces, no '+'; control characters would break the note.
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _require_name(name: str) -> None:
    if not _is_valid_name(name):
        raise NoteError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")


def _require_text(text: str, what: str) -> None:
    _require_characters(text, what)
    if not text.endswith("\n"):
        raise NoteError(f"{what} must end with a newline")


def _require_characters(text: str, what: str) -> None:
    """Signed notes are UTF-8 without control characters other than newline."""
    if any(c < " " and c != "\n" for c in text):
        raise NoteError(f"{what} contains a control character")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8") from exc


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64, canonical only, so one value has one spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what}: not standard base64") from exc
    if _b64encode(raw) != text:
        raise NoteError(f"{what}: not canonical base64")
    return raw
