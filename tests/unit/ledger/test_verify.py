"""Tests of the offline audit-bundle verifier: a faithful bundle passes, any tampering fails."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voucher_service.ledger import bundle_format, verify
from voucher_service.ledger.bundle_format import BundleInfo, write_bundle_file
from voucher_service.ledger.verify import Report, verify_bundle

ORIGIN = "vouchers.example.org/ledger"
PROGRAM = "5f0c6a52-7f1e-4c1d-9a59-3b8f0b6a1001"
OTHER_PROGRAM = "5f0c6a52-7f1e-4c1d-9a59-3b8f0b6a1002"
PARTNER = "9d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d001"
FUNDER = "region-occitanie"
FACE = 1000
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k2026a01", "x": "AA", "y": "AA"}]}


class Log:
    """Builds realistic ledger entries with deterministic ids, as the service records them."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._serial = 0

    def _id(self, prefix: str = "e") -> str:
        self._serial += 1
        return f"{prefix}{self._serial:07d}-0000-4000-8000-000000000000"

    def _add(self, kind: str, source: str, destination: str, amount: int, **refs: Any) -> str:
        entry = {
            "id": self._id(),
            "kind": kind,
            "at": f"2026-11-27T10:{len(self.entries) // 60:02d}:{len(self.entries) % 60:02d}Z",
            "postings": [{"source": source, "destination": destination, "amount": amount}],
            **refs,
        }
        self.entries.append(entry)
        return str(entry["id"])

    def allocate(self, amount: int, program: str = PROGRAM) -> str:
        return self._add(
            "allocate",
            f"funder:{FUNDER}:appropriation",
            f"program:{program}:available",
            amount,
            program_id=program,
            funder=FUNDER,
        )

    def issue(
        self, count: int = 10, program: str = PROGRAM, ids: list[str] | None = None
    ) -> list[str]:
        voucher_ids = ids or [self._id("v") for _ in range(count)]
        self._add(
            "issue",
            f"program:{program}:available",
            f"program:{program}:outstanding",
            len(voucher_ids) * FACE,
            program_id=program,
            booklet_id=self._id("b"),
            voucher_ids=voucher_ids,
        )
        return voucher_ids

    def redeem(self, voucher: str, amount: int = FACE, partner: str = PARTNER) -> str:
        return self._add(
            "redeem",
            f"program:{PROGRAM}:outstanding",
            f"partner:{partner}:payable",
            amount,
            program_id=PROGRAM,
            partner_id=partner,
            voucher_ids=[voucher],
            redemption_id=self._id("r"),
        )

    def reverse(self, voucher: str, redeem_entry: str, partner: str = PARTNER) -> str:
        return self._add(
            "reverse",
            f"partner:{partner}:payable",
            f"program:{PROGRAM}:outstanding",
            FACE,
            program_id=PROGRAM,
            partner_id=partner,
            voucher_ids=[voucher],
            redemption_id=self._id("r"),
            reverses=redeem_entry,
        )

    def cancel(self, vouchers: list[str]) -> str:
        return self._add(
            "cancel",
            f"program:{PROGRAM}:outstanding",
            f"program:{PROGRAM}:available",
            len(vouchers) * FACE,
            program_id=PROGRAM,
            voucher_ids=vouchers,
        )

    def lines(self) -> list[bytes]:
        return [bytes(rfc8785.dumps(entry)) for entry in self.entries]


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def pinned(key: Ed25519PrivateKey) -> str:
    return bundle_format.key_text(ORIGIN, key).strip()


def history() -> Log:
    """Budget, two booklets, redemptions, a reversal and a redemption again after it."""
    log = Log()
    log.allocate(100_000)
    first, second = log.issue(), log.issue()
    redeems = [log.redeem(voucher) for voucher in first[:5]]
    log.reverse(first[2], redeems[2])
    log.redeem(first[2])
    log.redeem(second[0])
    return log


def write(
    path: Path, entries: Iterable[bytes | dict[str, Any]], key: Ed25519PrivateKey
) -> BundleInfo:
    return write_bundle_file(path, entries, ORIGIN, key, JWKS, created_at="2026-11-27T11:00:00Z")


@pytest.fixture
def good(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "bundle.zip"
    write(path, history().entries, key)
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(path: Path, changed: dict[str, bytes], fix_manifest: bool = True) -> Path:
    """Rewrites the bundle with some members changed; by default the manifest follows them."""
    content = members(path) | changed
    if fix_manifest:
        manifest = json.loads(content["manifest.json"])
        covered = {name: content[name] for name in bundle_format.COVERED_MEMBERS}
        text = bundle_format.manifest_text(
            manifest["origin"], manifest["size"], covered, manifest["created_at"]
        )
        content["manifest.json"] = text.encode()
    target = path.with_name("tampered.zip")
    bundle_format.write_zip(target, content)
    return target


def entry_lines(path: Path) -> list[bytes]:
    return members(path)["entries.jsonl"].splitlines()


def with_lines(lines: list[bytes]) -> dict[str, bytes]:
    return {"entries.jsonl": b"".join(line + b"\n" for line in lines)}


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
    assert report.size == report.entries_checked == len(history().entries)
    assert report.origin == ORIGIN
    assert report.balances == {
        f"funder:{FUNDER}:appropriation": -100_000,
        f"partner:{PARTNER}:payable": 6 * FACE,
        f"program:{PROGRAM}:available": 80_000,
        f"program:{PROGRAM}:outstanding": 14 * FACE,
    }
    rendered = report.render()
    assert rendered.splitlines()[-1].startswith("OK: 11 entries")
    assert rendered.count("✓") == 9 and "✗" not in rendered
    assert "(the pinned key)" in rendered


def test_the_root_is_the_checkpoints(good: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    info = write(tmp_path / "again.zip", history().lines(), key)

    report = verify_bundle(good)

    assert report.root == info.root_b64


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


def test_a_cancellation_returns_vouchers_to_the_budget(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = Log()
    log.allocate(10_000)
    vouchers = log.issue()
    log.redeem(vouchers[0])
    log.cancel(vouchers[5:])
    path = tmp_path / "cancel.zip"
    write(path, log.entries, key)

    report = verify_bundle(path, pinned_key=pinned)

    assert report.ok, report.render()
    assert report.balances[f"program:{PROGRAM}:outstanding"] == 4 * FACE
    assert report.balances[f"program:{PROGRAM}:available"] == 5 * FACE


def test_an_unknown_balanced_kind_passes_with_a_warning(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log._add("rebate", f"funder:{FUNDER}:appropriation", f"partner:{PARTNER}:payable", 5)
    path = tmp_path / "unknown.zip"
    write(path, log.entries, key)

    report = verify_bundle(path, pinned_key=pinned)

    assert report.ok, report.render()
    assert any("unknown kind 'rebate'" in warning for warning in report.warnings)


# --- Tampering with the log or its checkpoint.


def test_an_edited_amount_breaks_the_root(good: Path, pinned: str) -> None:
    lines = entry_lines(good)
    entry = json.loads(lines[3])
    entry["postings"][0]["amount"] = 100
    lines[3] = bytes(rfc8785.dumps(entry))

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


def test_an_entry_appended_without_resigning_is_caught(good: Path, pinned: str) -> None:
    extra = Log()
    extra._serial = 900
    extra.redeem(history().entries[2]["voucher_ids"][9])

    report = verify_bundle(
        rezip(good, with_lines([*entry_lines(good), *extra.lines()])), pinned_key=pinned
    )

    assert_fails_with(report, "Merkle root")
    assert_fails_with(report, "checkpoint size 11 ≠ the 12 lines")


def test_a_checkpoint_forged_with_another_key_fails_the_pinned_key(
    tmp_path: Path, other_key: Ed25519PrivateKey, pinned: str
) -> None:
    forged = tmp_path / "forged.zip"
    write(forged, history().entries, other_key)  # self-consistent, but not ours

    report = verify_bundle(forged, pinned_key=pinned)

    assert_fails_with(report, "is not the pinned key")
    assert_fails_with(report, "checkpoint signature does not verify")


def test_our_checkpoint_under_a_substituted_key_file_fails_the_pinned_key(
    good: Path, other_key: Ed25519PrivateKey, pinned: str
) -> None:
    key_file = bundle_format.key_text(ORIGIN, other_key).encode()

    report = verify_bundle(rezip(good, {"checkpoint.key": key_file}), pinned_key=pinned)

    assert_fails_with(report, "is not the pinned key")


def test_a_wrong_root_signed_by_the_right_key_is_caught(
    good: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    size = len(entry_lines(good))
    lie = bundle_format.signed_checkpoint(ORIGIN, size, hashlib.sha256(b"lie").digest(), key)

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
    manifest = json.loads(members(good)["manifest.json"])
    manifest["origin"] = "elsewhere.example/ledger"

    report = verify_bundle(
        rezip(good, {"manifest.json": json.dumps(manifest).encode()}, fix_manifest=False),
        pinned_key=pinned,
    )

    assert_fails_with(report, "≠ manifest origin elsewhere.example/ledger")


# --- The previous checkpoint, as a witness keeps it.


def test_a_consistent_previous_checkpoint_passes(
    tmp_path: Path, good: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    earlier = write(tmp_path / "earlier.zip", history().entries[:6], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert report.ok, report.render()
    assert any("consistent with the previous checkpoint" in c for c in report.checks)


@pytest.mark.parametrize("size", [0, 11])
def test_a_previous_checkpoint_at_either_end_passes(
    tmp_path: Path, good: Path, key: Ed25519PrivateKey, pinned: str, size: int
) -> None:
    earlier = write(tmp_path / "earlier.zip", history().entries[:size], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert report.ok, report.render()


def test_a_previous_checkpoint_from_another_history_is_inconsistent(
    tmp_path: Path, good: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    other = history()
    other.entries[1]["at"] = "2026-11-26T09:00:00Z"  # the same story, told differently
    earlier = write(tmp_path / "earlier.zip", other.entries[:6], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert_fails_with(report, "inconsistent with the previous checkpoint")


def test_a_previous_checkpoint_larger_than_the_log_is_inconsistent(
    tmp_path: Path, good: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.redeem(log.entries[2]["voucher_ids"][9])
    later = write(tmp_path / "later.zip", log.entries, key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=later.checkpoint)

    assert_fails_with(report, "inconsistent with the previous checkpoint")


def test_a_previous_checkpoint_signed_by_another_key_is_refused(
    tmp_path: Path, good: Path, other_key: Ed25519PrivateKey, pinned: str
) -> None:
    earlier = write(tmp_path / "earlier.zip", history().entries[:6], other_key)

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

    assert_fails_with(report, f"entry 1 (issue): program:{PROGRAM}:available goes negative (-5000)")
    assert report.problems == 1, report.render()


def test_a_second_issue_of_a_voucher_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    first = log.entries[1]["voucher_ids"]
    log.issue(ids=[*first[7:], log._id("v")])

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


def test_a_posting_to_the_wrong_account_is_caught(
    tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    log = history()
    log.redeem(log.entries[2]["voucher_ids"][5])
    log.entries[-1]["postings"][0]["destination"] = f"partner:{PARTNER}:paid"

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"not program:{PROGRAM}:outstanding → partner:{PARTNER}:payable")


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
    log.entries[5]["at"] = "2026-11-27T10:00:60Z"  # entry 4 was at 10:00:04Z

    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, "entry 5 (redeem): at '2026-11-27T10:00:60Z' is not an RFC 3339")
    assert report.problems == 1, report.render()


def test_a_long_log_outgrows_the_first_guess_and_is_still_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    monkeypatch.setattr(verify, "_BYTES_PER_ENTRY", 1 << 40)  # tables start at their least
    log = Log()
    log.allocate(1000 * FACE)
    vouchers = [
        voucher
        for booklet in range(80)
        for voucher in log.issue(ids=[str(uuid.uuid4()) for _ in range(10)])
        + (log.issue(count=2) if booklet % 10 == 0 else [])  # ids that are not UUIDs, too
    ]
    redeems = {voucher: log.redeem(voucher) for voucher in vouchers[::2]}
    log.reverse(vouchers[8], redeems[vouchers[8]])
    log.cancel(vouchers[1:9:2])
    log.redeem(vouchers[8])
    path = signed(tmp_path, log, key)

    assert verify_bundle(path, pinned_key=pinned).ok, verify_bundle(path).render()

    log.redeem(vouchers[-2])
    log.redeem(vouchers[3])
    report = verify_bundle(signed(tmp_path, log, key), pinned_key=pinned)

    assert_fails_with(report, f"voucher {vouchers[-2]} redeemed twice: entry")
    assert_fails_with(report, f"voucher {vouchers[3]} was withdrawn by cancel entry")


# --- The replay's tables: ids as 16-byte keys, records packed in a bytearray.


def test_a_canonical_uuid_is_its_own_key_and_any_other_id_a_digest() -> None:
    canonical = "5f0c6a52-7f1e-4c1d-9a59-3b8f0b6a1001"
    others = [
        canonical.upper(),
        canonical.replace("-", ""),
        f"{{{canonical}}}",
        "5f0c6a527-f1e-4c1d-9a59-3b8f0b6a1001",  # the same digits, a hyphen moved
        "5f0c6a52-7f1e-4c1d-9a59 3b8f0b6a1001",
        "5f0c6a52-7f1e-4c1d-1a59-3b8f0b6a1001",  # not the RFC 4122 variant
        "v0000001-0000-4000-8000-000000000000",
        "",
        "\ud800",
    ]
    keys = [verify._key(text) for text in others]

    assert verify._key(canonical) == uuid.UUID(canonical).bytes
    assert len({verify._key(canonical), *keys}) == len(others) + 1
    assert all(len(key) == 16 and key[8] >> 6 == 0b11 for key in keys)  # never a UUID's
    assert verify._keys([canonical, *others]) == [verify._key(canonical), *keys]
    booklet = [str(uuid.uuid4()) for _ in range(10)]
    assert verify._keys(booklet) == [uuid.UUID(text).bytes for text in booklet]


def test_the_table_finds_what_it_holds_as_it_doubles() -> None:
    rng = random.Random(2026)
    table = verify._Table("4s", expected=0)
    held: dict[bytes, bytes] = {}
    keys = [rng.randbytes(16) for _ in range(3000)]

    for n, key in enumerate(keys + keys[::7]):
        at = table.add(key, n.to_bytes(4, "little"))
        if key in held:
            assert at >= 0 and table.slots[at : at + 20] == key + held[key]
        else:
            assert at == -1
            held[key] = n.to_bytes(4, "little")

    assert table.count == len(held) == len(keys)
    for key, payload in held.items():
        at = table.find(key)
        assert at % table.size == 0 and table.slots[at : at + 20] == key + payload
    assert table.find(rng.randbytes(16)) == -1


def test_bytes_astride_two_records_are_no_key() -> None:
    table = verify._Table("4s", expected=0)
    for n in range(1, 40):
        table.add(bytes([n]) * 16, bytes([n]) * 4)
    records = range(0, len(table.slots) - 2 * table.size, table.size)
    astride = {bytes(table.slots[at + 10 : at + 26]) for at in records} - {bytes(16)}

    for key in astride:
        assert table.find(key) == -1
        assert table.add(key, b"new!") == -1
        at = table.find(key)
        assert at % table.size == 0 and table.slots[at : at + 20] == key + b"new!"


def test_the_splitter_cuts_lines_wherever_the_blocks_end() -> None:
    data = b"".join(b"line %d %s\n" % (n, b"x" * n) for n in range(200)) + b"last"
    for size in (1, 7, 64, 1000, len(data)):
        splitter = verify._Splitter()
        blocks = [data[at : at + size] for at in range(0, len(data), size)]

        lines = [line for block in blocks for line in splitter.split(block)]

        assert [*lines, *splitter.rest()] == data.split(b"\n")


# --- Garbage: a report, never an exception.


def test_a_file_that_is_not_a_zip_is_reported(tmp_path: Path, pinned: str) -> None:
    path = tmp_path / "garbage.zip"
    path.write_bytes(b"PK\x03\x04 this is not a zip at all" * 10)

    report = verify_bundle(path, pinned_key=pinned)

    assert_fails_with(report, "is not a readable zip file")
    assert report.not_checked


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    assert_fails_with(verify_bundle(tmp_path / "nowhere.zip"), "is not a readable zip file")


@pytest.mark.parametrize("member", bundle_format.BUNDLE_MEMBERS)
def test_a_missing_member_is_reported(good: Path, pinned: str, member: str) -> None:
    content = members(good)
    del content[member]
    path = good.with_name("partial.zip")
    bundle_format.write_zip(path, content)

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
    changed = rezip(good, {member: content}, fix_manifest=member != "manifest.json")
    report = verify_bundle(changed, pinned_key=pinned)

    assert not report.ok
    assert report.failures
    assert report.render().endswith(f"FAILED: {report.problems} problem(s)")


def zip_with_a_second_entries_member(path: Path, content: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in content.items():
            archive.writestr(name, data)
        archive.writestr("entries.jsonl", b"")


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
def in_parallel(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Sends even small bundles to the hashing worker; lists what each worker returned."""
    monkeypatch.setattr(verify, "_PARALLEL_FROM", 0)
    results: list[object] = []
    original = verify._HashWorker.result

    def spy(worker: verify._HashWorker) -> object:
        results.append(original(worker))
        return results[-1]

    monkeypatch.setattr(verify._HashWorker, "result", spy)
    return results


def test_the_worker_agrees_on_a_faithful_bundle(
    in_parallel: list[object], good: Path, tmp_path: Path, key: Ed25519PrivateKey, pinned: str
) -> None:
    earlier = write(tmp_path / "earlier.zip", history().entries[:6], key)

    report = verify_bundle(good, pinned_key=pinned, previous_checkpoint=earlier.checkpoint)

    assert report.ok, report.render()
    assert len(in_parallel) == 1 and in_parallel[0] is not None


def test_the_worker_catches_an_edited_entry(
    in_parallel: list[object], good: Path, pinned: str
) -> None:
    lines = entry_lines(good)
    lines[3] = lines[3].replace(b'"amount":1000', b'"amount":1001')

    report = verify_bundle(rezip(good, with_lines(lines)), pinned_key=pinned)

    assert_fails_with(report, "Merkle root")
    assert in_parallel and in_parallel[0] is not None


def test_the_worker_hashes_a_last_line_without_newline(
    in_parallel: list[object], good: Path, pinned: str
) -> None:
    unterminated = members(good)["entries.jsonl"].rstrip(b"\n")

    report = verify_bundle(
        rezip(good, {"entries.jsonl": unterminated}, fix_manifest=True), pinned_key=pinned
    )

    assert report.failures == ["entries.jsonl does not end with a newline"]
    assert any("Merkle root" in check for check in report.checks)


def test_a_failed_worker_falls_back_to_hashing_here(
    monkeypatch: pytest.MonkeyPatch, good: Path, pinned: str
) -> None:
    def broken(cls: type[verify._HashWorker], snapshot_at: int) -> verify._HashWorker:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit(3)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return cls(process)

    monkeypatch.setattr(verify, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(verify._HashWorker, "start", classmethod(broken))

    report = verify_bundle(good, pinned_key=pinned)

    assert report.ok, report.render()
