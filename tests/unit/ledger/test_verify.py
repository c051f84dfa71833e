"""Tests of the offline audit-bundle verifier: a faithful bundle passes, any tampering fails.

The bundles are written by the service's own writer (ledger/bundle.py), the entries by the
service's own constructors (ledger/kinds.py).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.unit.ledger.logs import APPROPRIATION, FACE, PARTNER, PROGRAM, START, Log, history
from voucher_service.ledger import accounts, kinds, merkle
from voucher_service.ledger.bundle import BundleInfo, write_signed_bundle
from voucher_service.ledger.note import format_checkpoint, sign_note, verifier_key
from voucher_service.ledger.transfers import Posting, build_transfer, canonical
from voucher_service.ledger.verify import Report, stream, verify_bundle
from voucher_service.ledger.verify.layout import BUNDLE_MEMBERS, ENTRIES, MANIFEST
from voucher_service.ledger.verify.stream import Hasher, HashWorker, Splitter, Streamed

ORIGIN = "vouchers.example.org/ledger"
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k2026a01", "x": "AA", "y": "AA"}]}


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def pinned(key: Ed25519PrivateKey) -> str:
    return verifier_key(ORIGIN, key.public_key())


def write(
    path: Path, entries: Iterable[bytes | dict[str, Any]], key: Ed25519PrivateKey
) -> BundleInfo:
    return write_signed_bundle(path, list(entries), ORIGIN, key, JWKS, created_at=START)


@pytest.fixture
def story() -> Log:
    """The history the `good` bundle holds; entry ids are random, so tests share this one."""
    return history()


@pytest.fixture
def good(tmp_path: Path, key: Ed25519PrivateKey, story: Log) -> Path:
    path = tmp_path / "bundle.zip"
    write(path, story.entries, key)
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, content: dict[str, bytes]) -> None:
    """A zip of the members exactly as given: how a tampered bundle is built."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in content.items():
            archive.writestr(name, data)


def rezip(path: Path, changed: dict[str, bytes], fix_manifest: bool = True) -> Path:
    """Rewrites the bundle with some members changed; by default the manifest follows them."""
    content = members(path) | changed
    if fix_manifest:
        manifest = json.loads(content[MANIFEST])
        manifest["files"] = {
            name: hashlib.sha256(content[name]).hexdigest() for name in manifest["files"]
        }
        content[MANIFEST] = json.dumps(manifest, indent=2).encode()
    target = path.with_name("tampered.zip")
    write_zip(target, content)
    return target


def entry_lines(path: Path) -> list[bytes]:
    return members(path)[ENTRIES].splitlines()


def with_lines(lines: list[bytes]) -> dict[str, bytes]:
    return {ENTRIES: b"".join(line + b"\n" for line in lines)}


def signed_checkpoint(size: int, root: bytes, key: Ed25519PrivateKey) -> str:
    return sign_note(format_checkpoint(ORIGIN, size, root), ORIGIN, key)


def failures_mentioning(report: Report, text: str) -> list[str]:
    return [failure for failure in report.failures if text in failure]


def assert_fails_with(report: Report, text: str) -> None:
    assert not report.ok, report.render()
    assert failures_mentioning(report, text), report.render()
    assert report.render().endswith(f"FAILED: {report.problems} problem(s)")


# --- The faithful bundle.


def test_a_faithful_bundle_verifies_with_the_pinned_key(good: Path, pinned: str) -> None:
    report = verify_bundle(good, pinned_key=pinned)

    assert report.ok, report.render()
    assert report.failures == [] and report.warnings == []
    assert report.size == report.entries_checked == 11
    assert report.origin == ORIGIN
    assert report.balances == {
        APPROPRIATION: -100_000,
        accounts.partner_payable(PARTNER): 6 * FACE,
        accounts.program_available(PROGRAM): 80_000,
        accounts.program_outstanding(PROGRAM): 14 * FACE,
    }
    rendered = report.render()
    assert rendered.splitlines()[-1].startswith("OK: 11 entries")
    assert rendered.count("✓") == 9 and "✗" not in rendered
    assert "(the pinned key)" in rendered


def test_the_root_is_the_merkle_root_of_the_lines(good: Path) -> None:
    leaves = [merkle.leaf_hash(line) for line in entry_lines(good)]

    report = verify_bundle(good)

    assert report.root == base64.b64encode(merkle.root(leaves)).decode()


def test_the_bundle_holds_the_entries_as_the_service_wrote_them(good: Path, story: Log) -> None:
    assert entry_lines(good) == story.lines()
    assert json.loads(members(good)[MANIFEST])["created_at"] == "2026-11-27T10:00:00Z"


def test_an_unpinned_key_is_accepted_with_a_warning(good: Path) -> None:
    report = verify_bundle(good)

    assert report.ok, report.render()
    assert any("not pinned" in warning for warning in report.warnings)
    assert "! warning: the verifier key was not pinned" in report.render()


def test_an_empty_log_verifies(tmp_path: Path, key: Ed25519PrivateKey, pinned: str) -> None:
    path = tmp_path / "empty.zip"
    write(path, [], key)

    report = verify_bundle(path, pinned_key=pinned)

    assert report.ok, report.render()
    assert report.size == 0 and report.entries_checked == 0
    assert report.root == base64.b64encode(hashlib.sha256(b"").digest()).decode()
    assert report.balances == {}


@pytest.mark.parametrize("withdraw", [Log.cancel, Log.expire])
def test_a_withdrawal_returns_vouchers_to_the_budget(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str, withdraw: Any
) -> None:
    log = Log()
    log.allocate(10_000)
    vouchers = log.issue()
    log.redeem(vouchers[0])
    withdraw(log, vouchers[5:])
    path = tmp_path / "withdraw.zip"
    write(path, log.entries, key)

    report = verify_bundle(path, pinned_key=pinned)

    assert report.ok, report.render()
    assert report.balances[accounts.program_outstanding(PROGRAM)] == 4 * FACE
    assert report.balances[accounts.program_available(PROGRAM)] == 5 * FACE


SETTLEMENT = "settlement-1"


def settlement(log: Log, kind: kinds.Kind, postings: list[Posting]) -> None:
    log.add(
        build_transfer(
            kind.name,
            log.at(),
            postings,
            program_id=PROGRAM,
            partner_id=PARTNER,
            settlement_id=SETTLEMENT,
        )
    )


def test_a_settlement_puts_into_payment_then_pays_the_partner(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    route = [PROGRAM, PARTNER, SETTLEMENT]
    settlement(log, kinds.SETTLE, [kinds.SETTLE.posting(route, 2 * FACE)] * 2)
    settlement(log, kinds.PAY, [kinds.PAY.posting(route, 3 * FACE)])
    settlement(log, kinds.REJECT, [kinds.REJECT.posting(route, FACE)])

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert report.ok, report.render()
    assert report.balances[accounts.partner_paid(PARTNER)] == 3 * FACE
    assert accounts.program_in_payment(PROGRAM) not in report.balances or (
        report.balances[accounts.program_in_payment(PROGRAM)] == 0
    )


def test_a_settlement_off_its_route_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    paid, outstanding = accounts.partner_paid(PARTNER), accounts.program_outstanding(PROGRAM)
    settlement(log, kinds.SETTLE, [Posting(outstanding, paid, FACE)])

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    payable, in_payment = accounts.partner_payable(PARTNER), accounts.program_in_payment(PROGRAM)
    assert_fails_with(report, f"moves {outstanding} → {paid}, not {payable} → {in_payment}")


def test_an_unknown_balanced_kind_passes_with_a_warning(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.add(
        build_transfer(
            "rebate", log.at(), [Posting(APPROPRIATION, accounts.partner_payable(PARTNER), 5)]
        )
    )

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert report.ok, report.render()
    assert any("unknown kind 'rebate'" in warning for warning in report.warnings)


# --- Tampering with the log or its checkpoint.


def test_an_edited_amount_breaks_the_root(good: Path, pinned: str) -> None:
    lines = entry_lines(good)
    entry = json.loads(lines[3])
    entry["postings"][0]["amount"] = 100
    lines[3] = canonical(entry)

    report = verify_bundle(rezip(good, with_lines(lines)), pinned_key=pinned)

    assert_fails_with(report, "Merkle root")


def test_a_dropped_entry_is_caught(good: Path, pinned: str) -> None:
    lines = entry_lines(good)
    del lines[5]

    report = verify_bundle(rezip(good, with_lines(lines)), pinned_key=pinned)

    assert_fails_with(report, "Merkle root")
    assert_fails_with(report, "lines of entries.jsonl")


def test_reordered_entries_are_caught(good: Path, pinned: str) -> None:
    lines = entry_lines(good)
    lines[3], lines[4] = lines[4], lines[3]  # two redemptions: the ledger alone still balances

    report = verify_bundle(rezip(good, with_lines(lines)), pinned_key=pinned)

    assert_fails_with(report, "Merkle root")
    assert report.problems == 1, report.render()


def test_an_entry_appended_without_resigning_is_caught(good: Path, story: Log, pinned: str) -> None:
    extra = Log()
    extra.redeem(story.entries[2]["voucher_ids"][9])

    report = verify_bundle(
        rezip(good, with_lines([*entry_lines(good), *extra.lines()])), pinned_key=pinned
    )

    assert_fails_with(report, "Merkle root")
    assert_fails_with(report, "checkpoint size 11 ≠ the 12 lines")


def test_a_checkpoint_forged_with_another_key_fails_the_pinned_key(
    tmp_path: Path, story: Log, other_key: Ed25519PrivateKey, pinned: str
) -> None:
    forged = tmp_path / "forged.zip"
    write(forged, story.entries, other_key)  # self-consistent, but not ours

    report = verify_bundle(forged, pinned_key=pinned)

    assert_fails_with(report, "is not the pinned key")
    assert_fails_with(report, "checkpoint signature does not verify")


def test_our_checkpoint_under_a_substituted_key_file_fails_the_pinned_key(
    good: Path, other_key: Ed25519PrivateKey, pinned: str
) -> None:
    key_file = verifier_key(ORIGIN, other_key.public_key()).encode() + b"\n"

    report = verify_bundle(rezip(good, {"checkpoint.key": key_file}), pinned_key=pinned)

    assert_fails_with(report, "is not the pinned key")


def test_a_wrong_root_signed_by_the_right_key_is_caught(
    good: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    size = len(entry_lines(good))
    lie = signed_checkpoint(size, hashlib.sha256(b"lie").digest(), key)

    report = verify_bundle(rezip(good, {"checkpoint": lie.encode()}), pinned_key=pinned)

    assert_fails_with(report, "Merkle root")
    assert report.problems == 1, report.render()
    assert any("checkpoint signed by" in check for check in report.checks)


def test_a_corrupted_signature_is_caught(good: Path, pinned: str) -> None:
    note = members(good)["checkpoint"].decode()
    text, _, signature = note.rpartition("\n\n")
    raw = bytearray(base64.b64decode(signature.split(" ")[-1]))
    raw[-1] ^= 1
    forged = f"{text}\n\n— {ORIGIN} {base64.b64encode(bytes(raw)).decode()}\n"

    report = verify_bundle(rezip(good, {"checkpoint": forged.encode()}), pinned_key=pinned)

    assert_fails_with(report, "invalid signature")


def test_a_member_that_does_not_match_the_manifest_is_caught(good: Path, pinned: str) -> None:
    jwks = json.dumps({"keys": []}).encode()

    report = verify_bundle(rezip(good, {"jwks.json": jwks}, fix_manifest=False), pinned_key=pinned)

    assert_fails_with(report, "jwks.json: SHA-256")
    assert report.problems == 1, report.render()


def test_entries_that_do_not_match_the_manifest_are_caught(good: Path, pinned: str) -> None:
    lines = entry_lines(good)
    del lines[-1]

    report = verify_bundle(rezip(good, with_lines(lines), fix_manifest=False), pinned_key=pinned)

    assert_fails_with(report, "entries.jsonl: SHA-256")


def test_a_manifest_with_another_origin_is_caught(good: Path, pinned: str) -> None:
    manifest = json.loads(members(good)[MANIFEST])
    manifest["origin"] = "elsewhere.example/ledger"

    report = verify_bundle(
        rezip(good, {MANIFEST: json.dumps(manifest).encode()}, fix_manifest=False),
        pinned_key=pinned,
    )

    assert_fails_with(report, "≠ manifest origin elsewhere.example/ledger")


# --- The previous checkpoint, as a witness keeps it.


def test_a_consistent_previous_checkpoint_passes(
    tmp_path: Path, good: Path, story: Log, key: Ed25519PrivateKey, pinned: str
) -> None:
    earlier = write(tmp_path / "earlier.zip", story.entries[:6], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert report.ok, report.render()
    assert any("consistent with the previous checkpoint" in c for c in report.checks)


@pytest.mark.parametrize("size", [0, 11])
def test_a_previous_checkpoint_at_either_end_passes(
    tmp_path: Path, good: Path, story: Log, key: Ed25519PrivateKey, pinned: str, size: int
) -> None:
    earlier = write(tmp_path / "earlier.zip", story.entries[:size], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert report.ok, report.render()


def test_a_previous_checkpoint_from_another_history_is_inconsistent(
    tmp_path: Path, good: Path, story: Log, key: Ed25519PrivateKey, pinned: str
) -> None:
    other = copy.deepcopy(story)
    other.entries[1]["at"] = "2026-11-26T09:00:00Z"  # the same story, told differently
    earlier = write(tmp_path / "earlier.zip", other.entries[:6], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert_fails_with(report, "inconsistent with the previous checkpoint")


def test_a_previous_checkpoint_larger_than_the_log_is_inconsistent(
    tmp_path: Path, good: Path, story: Log, key: Ed25519PrivateKey, pinned: str
) -> None:
    story.redeem(story.entries[2]["voucher_ids"][9])  # after `good` was written
    later = write(tmp_path / "later.zip", story.entries, key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=later.checkpoint)

    assert_fails_with(report, "inconsistent with the previous checkpoint")


def test_a_previous_checkpoint_signed_by_another_key_is_refused(
    tmp_path: Path, good: Path, story: Log, other_key: Ed25519PrivateKey, pinned: str
) -> None:
    earlier = write(tmp_path / "earlier.zip", story.entries[:6], other_key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert_fails_with(report, "the previous checkpoint does not verify")


# --- A log that is faithfully signed but records a violation.


def signed(tmp_path: Path, log: Log, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "recorded.zip"
    write(path, log.entries, key)
    return path


def test_a_double_redemption_in_the_log_breaks_the_voucher_invariant(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.redeem(log.entries[1]["voucher_ids"][0])  # already redeemed at entry 3

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, "entry 11 (redeem): voucher")
    assert_fails_with(report, "redeemed twice: entry 3's redemption is still live")
    assert_fails_with(report, "its vouchers in circulation are worth")


def test_a_redemption_for_another_amount_than_the_face_value_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.redeem(log.entries[2]["voucher_ids"][5], amount=FACE - 100)

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"moves {FACE - 100} for voucher")


def test_a_non_source_account_going_negative_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = Log()
    log.allocate(5 * FACE)
    log.issue(10)  # twice the budget

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    available = accounts.program_available(PROGRAM)
    assert_fails_with(report, f"entry 1 (issue): {available} goes negative (-5000)")
    assert report.problems == 1, report.render()


def test_a_second_issue_of_a_voucher_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    first = log.entries[1]["voucher_ids"]
    log.issue(ids=[*first[7:], log.serial("v")])

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"voucher {first[7]} issued again (first by entry 1)")


def test_a_reversal_of_a_redemption_that_is_not_live_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    voucher = log.entries[1]["voucher_ids"][2]
    log.reverse(voucher, log.entries[5]["id"])  # the redemption reversed at entry 8

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"not the live redemption of voucher {voucher}")


def test_a_reversal_by_another_partner_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    voucher = log.entries[2]["voucher_ids"][0]  # redeemed by PARTNER at entry 10
    other = "9d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d002"
    log.reverse(voucher, log.entries[10]["id"], partner=other)

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"reverses a redemption by partner {PARTNER}, not {other}")


def test_redeeming_a_cancelled_voucher_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = Log()
    log.allocate(10 * FACE)
    vouchers = log.issue()
    log.cancel(vouchers[:1])
    log.redeem(vouchers[0])

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, "was withdrawn by cancel entry 2")


def test_expiring_a_redeemed_voucher_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    voucher = log.entries[1]["voucher_ids"][0]
    log.expire([voucher])

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"voucher {voucher} is not in circulation (redeemed by entry 3)")


def test_a_posting_to_the_wrong_account_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.redeem(log.entries[2]["voucher_ids"][5])
    log.entries[-1]["postings"][0]["destination"] = accounts.partner_paid(PARTNER)

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    outstanding, payable = accounts.program_outstanding(PROGRAM), accounts.partner_payable(PARTNER)
    assert_fails_with(report, f"not {outstanding} → {payable}")


def test_malformed_entries_are_reported_with_their_index(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    lines = history().lines()
    lines[4] = b'{"id": "x", "kind": "redeem"'
    lines[6] = b"[1, 2]"
    entry = json.loads(lines[7])
    entry["postings"][0]["amount"] = 10.5
    entry["at"] = "27/11/2026"
    lines[7] = json.dumps(entry).encode()
    path = tmp_path / "malformed.zip"
    write(path, lines, key)

    report = verify_bundle(path, pinned_key=pinned)

    assert_fails_with(report, "entry 4 (?): not valid UTF-8 JSON")
    assert_fails_with(report, "entry 6 (?): not one JSON object")
    assert_fails_with(report, "entry 7 (redeem): posting amount 10.5 is not a positive integer")
    assert_fails_with(report, "entry 7 (redeem): at '27/11/2026' is not an RFC 3339 UTC time")


def test_an_entry_without_its_references_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    del log.entries[3]["partner_id"]

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, "entry 3 (redeem): partner_id None is not a non-empty string")


def test_a_repeated_entry_id_is_caught(tmp_path: Path, key: Ed25519PrivateKey, pinned: str) -> None:
    log = history()
    log.entries[4]["id"] = log.entries[3]["id"]

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"id {log.entries[3]['id']} appears twice")


def test_ids_that_differ_only_in_case_are_not_one_id(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.entries[4]["id"] = log.entries[3]["id"].upper()

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert report.ok, report.render()


def test_a_61st_second_is_caught_within_a_minute_of_good_times(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    assert log.entries[4]["at"] == "2026-11-27T10:00:04Z"
    log.entries[5]["at"] = "2026-11-27T10:00:60Z"

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, "entry 5 (redeem): at '2026-11-27T10:00:60Z' is not an RFC 3339")
    assert report.problems == 1, report.render()


# --- Garbage: a report, never an exception.


def test_a_file_that_is_not_a_zip_is_reported(tmp_path: Path, pinned: str) -> None:
    path = tmp_path / "garbage.zip"
    path.write_bytes(b"PK\x03\x04 this is not a zip at all" * 10)

    report = verify_bundle(path, pinned_key=pinned)

    assert_fails_with(report, "is not a readable zip file")
    assert report.not_checked


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    assert_fails_with(verify_bundle(tmp_path / "nowhere.zip"), "is not a readable zip file")


@pytest.mark.parametrize("member", BUNDLE_MEMBERS)
def test_a_missing_member_is_reported(good: Path, pinned: str, member: str) -> None:
    content = members(good)
    del content[member]
    path = good.with_name("partial.zip")
    write_zip(path, content)

    report = verify_bundle(path, pinned_key=pinned)

    assert_fails_with(report, f"{member} is missing from the bundle")


@pytest.mark.parametrize(
    ("member", "content"),
    [
        ("manifest.json", b"{not json"),
        ("manifest.json", b'{"size": "11", "origin": 3, "created_at": "yesterday", "files": []}'),
        ("checkpoint", b"\xff\xfe garbage"),
        ("checkpoint", b"just one line\n"),
        ("checkpoint.key", b"not-a-key"),
        ("jwks.json", b'{"keys": 3}'),
        ("entries.jsonl", b"\x00\xff\n" * 3),
        ("entries.jsonl", b'{"id": "a", "kind": "issue", "postings": [{}], "at": 1}'),
        ("entries.jsonl", b"[" * 100_000 + b"\n"),
        ("entries.jsonl", b'{"id":"a","kind":"issue","at":"2026-11-27T10:00:00Z","postings":3}\n'),
    ],
)
def test_garbage_members_are_reported_not_raised(
    good: Path, pinned: str, member: str, content: bytes
) -> None:
    changed = rezip(good, {member: content}, fix_manifest=member != MANIFEST)
    report = verify_bundle(changed, pinned_key=pinned)

    assert not report.ok
    assert report.failures
    assert report.render().endswith(f"FAILED: {report.problems} problem(s)")


def zip_with_a_second_entries_member(path: Path, content: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in content.items():
            archive.writestr(name, data)
        archive.writestr(ENTRIES, b"")


def test_a_zip_with_duplicated_members_is_refused(good: Path, pinned: str) -> None:
    path = good.with_name("duplicated.zip")
    with pytest.warns(UserWarning, match="Duplicate"):
        zip_with_a_second_entries_member(path, members(good))

    report = verify_bundle(path, pinned_key=pinned)

    assert_fails_with(report, "2 members named entries.jsonl")


def test_a_garbage_pinned_key_is_reported(good: Path) -> None:
    assert_fails_with(verify_bundle(good, pinned_key="nonsense"), "the pinned key is not")


def test_the_failures_listed_are_capped_but_all_counted(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    path = tmp_path / "junk.zip"
    write(path, [b"junk"] * 500, key)

    report = verify_bundle(path)

    assert report.problems == 500
    assert len(report.failures) < 500
    assert f"… and {report.unlisted_failures} more problem(s)" in report.render()


def test_a_truncated_bundle_is_reported(good: Path, pinned: str) -> None:
    path = good.with_name("truncated.zip")
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    assert_fails_with(verify_bundle(path, pinned_key=pinned), "not a readable zip file")


def test_flipped_bytes_anywhere_never_raise(good: Path, pinned: str) -> None:
    original = good.read_bytes()
    path = good.with_name("flipped.zip")
    rng = random.Random(9162)
    for _ in range(60):
        damaged = bytearray(original)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))

        report = verify_bundle(path, pinned_key=pinned)

        assert report.render().splitlines()[-1].startswith(("OK: ", "FAILED: "))


# --- Hashing in a second process, as large bundles do.


@pytest.fixture
def in_parallel(monkeypatch: pytest.MonkeyPatch) -> list[Streamed | None]:
    """Sends even small bundles to the hashing worker; lists what each worker returned."""
    monkeypatch.setattr(stream, "PARALLEL_FROM", 0)
    results: list[Streamed | None] = []
    original = HashWorker.result

    def spy(worker: HashWorker) -> Streamed | None:
        results.append(original(worker))
        return results[-1]

    monkeypatch.setattr(HashWorker, "result", spy)
    return results


def hashed_here(data: bytes, snapshot_at: int = -1) -> Streamed:
    """What this process makes of the member's bytes: what the worker must return too."""
    hasher, splitter = Hasher(snapshot_at), Splitter()
    hasher.feed(data, splitter.split(data))
    hasher.feed(b"", splitter.rest())
    return hasher.result()


def test_the_worker_agrees_on_a_faithful_bundle(
    in_parallel: list[Streamed | None],
    good: Path,
    story: Log,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    pinned: str,
) -> None:
    earlier = write(tmp_path / "earlier.zip", story.entries[:6], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert report.ok, report.render()
    assert in_parallel == [hashed_here(members(good)[ENTRIES], snapshot_at=6)]
    assert in_parallel[0] is not None and in_parallel[0].prefix_root == earlier.root


def test_the_worker_catches_an_edited_entry(
    in_parallel: list[Streamed | None], good: Path, pinned: str
) -> None:
    lines = entry_lines(good)
    lines[3] = lines[3].replace(b'"amount":1000', b'"amount":1001')

    report = verify_bundle(rezip(good, with_lines(lines)), pinned_key=pinned)

    assert_fails_with(report, "Merkle root")
    assert in_parallel == [hashed_here(with_lines(lines)[ENTRIES])]


def test_the_worker_hashes_a_last_line_without_newline(
    in_parallel: list[Streamed | None], good: Path, pinned: str
) -> None:
    unterminated = members(good)[ENTRIES].rstrip(b"\n")

    report = verify_bundle(
        rezip(good, {ENTRIES: unterminated}, fix_manifest=True), pinned_key=pinned
    )

    assert report.failures == ["entries.jsonl does not end with a newline"]
    assert any("Merkle root" in check for check in report.checks)
    # The worker's own answer, not the fallback's: hashing here would pass the checks alone.
    assert in_parallel == [hashed_here(unterminated)]
    assert in_parallel[0] is not None and in_parallel[0].count == 11


def test_a_failed_worker_falls_back_to_hashing_here(
    monkeypatch: pytest.MonkeyPatch, in_parallel: list[Streamed | None], good: Path, pinned: str
) -> None:
    def broken(cls: type[HashWorker], snapshot_at: int) -> HashWorker:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit(3)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return cls(process)

    monkeypatch.setattr(HashWorker, "start", classmethod(broken))

    report = verify_bundle(good, pinned_key=pinned)

    assert report.ok, report.render()
    assert in_parallel == [None]


# --- Offline: no database code.


def test_the_verifier_imports_no_database_code() -> None:
    """It runs on an auditor's machine, and its hashing worker's import time counts."""
    code = (
        "import json, sys, voucher_service.ledger.verify, voucher_service.ledger.verify.stream\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    loaded = set(json.loads(result.stdout))

    assert "voucher_service.ledger.verify.replay" in loaded
    assert "sqlalchemy" not in loaded
    assert not {"flask", "psycopg"} & loaded
