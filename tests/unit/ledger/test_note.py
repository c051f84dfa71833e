"""Tests of C2SP signed notes and checkpoints, including Go sumdb/note's known answers."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voucher_service.ledger import merkle
from voucher_service.ledger.note import (
    Checkpoint,
    NoteError,
    Verifier,
    format_checkpoint,
    key_id,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

# Known answers from golang.org/x/mod/sumdb/note's note_test.go.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_PETER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

ORIGIN = "vouchers.example.org/ledger"
ROOT = merkle.root([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])


@pytest.fixture
def go_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(GO_SEED)


@pytest.fixture
def peter() -> Verifier:
    return parse_verifier_key(GO_PETER_KEY)


# --- Verifier keys.


def test_verifier_key_is_written_exactly_as_go_writes_it(go_key: Ed25519PrivateKey) -> None:
    assert verifier_key("PeterNeumann", go_key.public_key()) == GO_PETER_KEY


def test_verifier_key_structure() -> None:
    public_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    text = verifier_key(ORIGIN, public_key)
    match = re.fullmatch(r"(?P<name>[^+]+)\+(?P<id>[0-9a-f]{8})\+(?P<key>[A-Za-z0-9+/=]+)", text)
    assert match is not None
    encoded = base64.b64decode(match["key"])
    assert match["name"] == ORIGIN
    assert len(encoded) == 33
    assert encoded[0] == 0x01
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n" + encoded).digest()[:4]
    assert bytes.fromhex(match["id"]) == expected_id == key_id(ORIGIN, public_key)


def test_parsed_verifier_key_round_trips(peter: Verifier) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id == bytes.fromhex("c74f20a3")
    assert verifier_key(peter.name, peter.public_key) == GO_PETER_KEY


def _go_manglings() -> list[str]:
    """Every proper substring and every one-character bump of Go's key, as Go tests them."""
    key = GO_PETER_KEY
    cut = {key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1)} - {key}
    bumped = {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    return sorted(cut | bumped)


def test_mangled_verifier_keys_are_refused() -> None:
    for mangled in _go_manglings():
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid key name"),
        ("PeterNeumann", "8 hexadecimal digits"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "hexadecimal"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "base64"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        # Go's own refusals, each with a matching id: a wrong-length key (whose base64 Go
        # decodes leniently, and we refuse already as non-canonical) and an unknown algorithm.
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "base64"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Ed25519"),
    ],
)
def test_malformed_verifier_keys_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_verifier_key(text)


def test_a_short_key_with_a_matching_id_is_refused() -> None:
    encoded = b"\x01" + bytes(31)
    hex_id = hashlib.sha256(b"short\n" + encoded).digest()[:4].hex()
    with pytest.raises(NoteError, match="Ed25519"):
        parse_verifier_key(f"short+{hex_id}+{base64.b64encode(encoded).decode()}")


def test_upper_case_key_ids_are_read_as_go_reads_them() -> None:
    upper = GO_PETER_KEY.replace("c74f20a3", "C74F20A3")
    assert parse_verifier_key(upper).key_id == bytes.fromhex("c74f20a3")


# --- Signing and opening.


def test_signature_is_byte_for_byte_the_one_go_writes(go_key: Ed25519PrivateKey) -> None:
    assert sign_note(GO_TEXT, "PeterNeumann", go_key) == GO_TEXT + "\n" + GO_PETER_SIG


def test_signed_note_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = parse_verifier_key(verifier_key(ORIGIN, key.public_key()))
    text = "first line\n\nafter a blank line\n"
    assert open_note(sign_note(text, ORIGIN, key), verifier) == text


def test_go_notes_open_and_unknown_signers_are_ignored(peter: Verifier) -> None:
    note = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    assert open_note(note, peter) == GO_TEXT
    assert open_note(note, parse_verifier_key(GO_ENOCH_KEY)) == GO_TEXT


def test_a_note_signed_only_by_someone_else_is_refused(peter: Verifier) -> None:
    with pytest.raises(NoteError, match="no signature by key PeterNeumann"):
        open_note(GO_TEXT + "\n" + GO_ENOCH_SIG, peter)


def test_tampered_text_is_refused(peter: Verifier) -> None:
    tampered = GO_TEXT.replace("problem,", "problems,") + "\n" + GO_PETER_SIG
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, peter)


def test_tampered_signature_is_refused(peter: Verifier) -> None:
    note = GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note, peter)


def test_another_key_under_the_same_name_is_refused(go_key: Ed25519PrivateKey) -> None:
    note = sign_note(GO_TEXT, "PeterNeumann", go_key)
    impostor = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(NoteError, match="no signature"):
        open_note(note, parse_verifier_key(verifier_key("PeterNeumann", impostor)))


def test_same_key_id_with_another_key_is_refused(peter: Verifier) -> None:
    # A colliding key id must not pass: the signature itself is what is checked.
    other = Verifier(peter.name, peter.key_id, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_TEXT + "\n" + GO_PETER_SIG, other)


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        "\ud800" + GO_TEXT + "\n" + GO_PETER_SIG,
        GO_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p\n",
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + GO_PETER_SIG.replace("— ", "- "),
        GO_TEXT + "\n" + "— PeterNeumann AAAA\n",
        GO_TEXT + "\n" + GO_PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(note: str, peter: Verifier) -> None:
    with pytest.raises(NoteError):
        open_note(note, peter)


@pytest.mark.parametrize(
    ("text", "name"),
    [("no final newline", ORIGIN), ("bell \x07\n", ORIGIN), ("ok\n", "two words"), ("ok\n", "")],
)
def test_unsignable_notes_are_refused(text: str, name: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, name, Ed25519PrivateKey.generate())


# --- Checkpoints.


def test_checkpoint_format() -> None:
    expected = f"{ORIGIN}\n2\n{base64.b64encode(ROOT).decode()}\n"
    assert format_checkpoint(ORIGIN, 2, ROOT) == expected
    assert format_checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT) == (
        f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    )


def test_checkpoint_round_trips_through_a_signed_note() -> None:
    key = Ed25519PrivateKey.generate()
    note = sign_note(format_checkpoint(ORIGIN, 2, ROOT), ORIGIN, key)
    verifier = parse_verifier_key(verifier_key(ORIGIN, key.public_key()))
    assert parse_checkpoint(open_note(note, verifier)) == Checkpoint(ORIGIN, 2, ROOT)


def test_c2sp_example_checkpoint_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert format_checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root_hash) == text


def test_extension_lines_are_kept_apart() -> None:
    text = format_checkpoint(ORIGIN, 2, ROOT) + "ext one\next two\n"
    assert parse_checkpoint(text).extensions == ("ext one", "ext two")


ROOT_LINE = base64.b64encode(ROOT).decode()
URLSAFE_ROOT_LINE = base64.urlsafe_b64encode(b"\xff" * 32).decode()
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# The last data character of a 32-byte value carries two padding bits; setting one of them
# spells the same bytes non-canonically.
NON_CANONICAL_ROOT_LINE = (
    ROOT_LINE[:-2] + B64_ALPHABET[B64_ALPHABET.index(ROOT_LINE[-2]) | 1] + ROOT_LINE[-1]
)


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n2\n{ROOT_LINE}",  # no final newline
        f"{ORIGIN}\n2\n",  # no root
        f"\n2\n{ROOT_LINE}\n",  # empty origin
        f"{ORIGIN}\n\n{ROOT_LINE}\n",  # empty size
        f"{ORIGIN}\n02\n{ROOT_LINE}\n",  # leading zero
        f"{ORIGIN}\n00\n{ROOT_LINE}\n",
        f"{ORIGIN}\n-2\n{ROOT_LINE}\n",
        f"{ORIGIN}\n+2\n{ROOT_LINE}\n",
        f"{ORIGIN}\n 2\n{ROOT_LINE}\n",
        f"{ORIGIN}\n2 \n{ROOT_LINE}\n",
        f"{ORIGIN}\n٢\n{ROOT_LINE}\n",  # a non-ASCII digit
        f"{ORIGIN}\n0x2\n{ROOT_LINE}\n",
        f"{ORIGIN}\n{2**64}\n{ROOT_LINE}\n",
        f"{ORIGIN}\n2\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{ORIGIN}\n2\n{base64.b64encode(ROOT + b'x').decode()}\n",
        f"{ORIGIN}\n2\n{ROOT_LINE.rstrip('=')}\n",  # missing padding
        f"{ORIGIN}\n2\n{URLSAFE_ROOT_LINE}\n",
        f"{ORIGIN}\n2\n{NON_CANONICAL_ROOT_LINE}\n",
        f"{ORIGIN}\n2\n{ROOT_LINE}\n\n",  # empty extension line
        f"{ORIGIN}\r\n2\n{ROOT_LINE}\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash"),
    [
        ("", 1, ROOT),
        ("two\nlines", 1, ROOT),
        (ORIGIN, -1, ROOT),
        (ORIGIN, 2**64, ROOT),
        (ORIGIN, 1, ROOT[:31]),
    ],
)
def test_impossible_checkpoints_are_not_formatted(origin: str, size: int, root_hash: bytes) -> None:
    with pytest.raises(NoteError):
        format_checkpoint(origin, size, root_hash)
