"""The offline verifier and pre-printed booklets: their vouchers are in circulation (their value
outstanding) from the printing, redeemable only once an activation entry has named them, and
activated once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.unit.ledger.logs import FACE, PROGRAM, START, Log
from voucher_service.ledger import accounts, kinds
from voucher_service.ledger.bundle import write_signed_bundle
from voucher_service.ledger.verify import Report, verify_bundle

ORIGIN = "vouchers.example.org/ledger"
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k2026a01", "x": "AA", "y": "AA"}]}
BATCH = "a0000000-0000-4000-8000-000000000001"


class PrintingLog(Log):
    """A Log that also prints booklets ahead and activates them."""

    def __init__(self) -> None:
        super().__init__()
        self.booklets: dict[str, list[str]] = {}

    def print_booklet(self, count: int = 10) -> str:
        booklet, vouchers = self.serial("b"), [self.serial("v") for _ in range(count)]
        self.add(kinds.issue(self.at(), PROGRAM, booklet, vouchers, count * FACE, batch_id=BATCH))
        self.booklets[booklet] = vouchers
        return booklet

    def activate(self, booklet: str, vouchers: list[str] | None = None) -> str:
        ids = self.booklets[booklet] if vouchers is None else vouchers
        return self.add(kinds.activate(self.at(), PROGRAM, booklet, ids))


def verified(log: Log, tmp_path: Path, entries: list[Any] | None = None) -> Report:
    path = tmp_path / "bundle.zip"
    write_signed_bundle(
        path, entries or log.entries, ORIGIN, Ed25519PrivateKey.generate(), JWKS, created_at=START
    )
    return verify_bundle(path)


def assert_fails_with(report: Report, text: str) -> None:
    assert not report.ok, report.render()
    assert any(text in failure for failure in report.failures), report.render()


@pytest.fixture
def log() -> PrintingLog:
    log = PrintingLog()
    log.allocate(100_000)
    return log


def test_a_printed_booklet_activated_then_redeemed_verifies(
    log: PrintingLog, tmp_path: Path
) -> None:
    booklet, waiting = log.print_booklet(), log.print_booklet()
    log.activate(booklet)
    log.redeem(log.booklets[booklet][0])
    log.cancel(log.booklets[waiting][:2])  # a printed voucher may be withdrawn
    report = verified(log, tmp_path)
    assert report.ok, report.render()
    # Outstanding: the activated booklet's nine vouchers and the waiting one's eight.
    assert report.balances[accounts.program_outstanding(PROGRAM)] == 17 * FACE
    assert "(10 activated)" in report.render()


def test_redeeming_a_printed_voucher_before_its_activation_is_caught(
    log: PrintingLog, tmp_path: Path
) -> None:
    booklet = log.print_booklet()
    log.redeem(log.booklets[booklet][0])
    report = verified(log, tmp_path)
    assert_fails_with(report, "redeemed while printed: no entry activated it")
    assert len(report.failures) == 1  # nothing else follows from it


def test_activating_twice_is_caught(log: PrintingLog, tmp_path: Path) -> None:
    booklet = log.print_booklet()
    log.activate(booklet)
    log.activate(booklet)
    assert_fails_with(verified(log, tmp_path), "is not printed: issued to a beneficiary already")


def test_activating_a_voucher_issued_to_its_beneficiary_is_caught(
    log: PrintingLog, tmp_path: Path
) -> None:
    issued = log.issue(2)
    log.booklets["b-issued"] = issued
    log.activate("b-issued")
    assert_fails_with(verified(log, tmp_path), f"voucher {issued[0]} is not printed")


def test_activating_a_redeemed_or_unknown_voucher_is_caught(
    log: PrintingLog, tmp_path: Path
) -> None:
    booklet = log.print_booklet(2)
    log.activate(booklet)
    log.redeem(log.booklets[booklet][0])
    log.activate(booklet, [log.booklets[booklet][0], "v-never-issued"])
    report = verified(log, tmp_path)
    assert_fails_with(report, "is not in circulation (redeemed by entry")
    assert_fails_with(report, "voucher v-never-issued was never issued")


def test_an_activation_that_moves_money_is_caught(log: PrintingLog, tmp_path: Path) -> None:
    booklet = log.print_booklet()
    log.activate(booklet)
    log.entries[-1]["postings"] = [
        {
            "source": accounts.program_available(PROGRAM),
            "destination": accounts.program_outstanding(PROGRAM),
            "amount": FACE,
        }
    ]
    assert_fails_with(verified(log, tmp_path), "where an activation moves no money")


def test_only_an_activation_may_have_no_postings(log: PrintingLog, tmp_path: Path) -> None:
    log.issue(1)
    log.entries[-1]["postings"] = []
    assert_fails_with(verified(log, tmp_path), "postings is not a non-empty list")


def test_a_batch_id_that_is_not_an_id_is_caught(log: PrintingLog, tmp_path: Path) -> None:
    log.print_booklet()
    log.entries[-1]["batch_id"] = 7
    assert_fails_with(verified(log, tmp_path), "batch_id 7 is not an id")
