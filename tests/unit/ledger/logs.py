"""Ledger entries for the verifier's tests, built by the service's own constructors (kinds.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from voucher_service.ledger import accounts, kinds
from voucher_service.ledger.transfers import RecordedTransfer, canonical

PROGRAM = "5f0c6a52-7f1e-4c1d-9a59-3b8f0b6a1001"
OTHER_PROGRAM = "5f0c6a52-7f1e-4c1d-9a59-3b8f0b6a1002"
PARTNER = "9d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d001"
FUNDER = "Région Occitanie"
APPROPRIATION = accounts.funder_appropriation(accounts.funder_key(FUNDER))
FACE = 1000
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class Log:
    """A ledger as the service records it: entry i is at START + i seconds.

    Entries are dicts, so that a test may tamper with one before it is written. Voucher,
    booklet and redemption ids are numbered (and not UUIDs: the verifier takes any id).
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._serial = 0

    def serial(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:07d}-0000-4000-8000-000000000000"

    def add(self, transfer: RecordedTransfer) -> str:
        self.entries.append(transfer.entry)
        return transfer.id

    def at(self) -> datetime:
        return START + timedelta(seconds=len(self.entries))

    def allocate(self, amount: int, program: str = PROGRAM) -> str:
        return self.add(kinds.allocate(self.at(), program, FUNDER, amount))

    def issue(
        self, count: int = 10, program: str = PROGRAM, ids: list[str] | None = None
    ) -> list[str]:
        voucher_ids = ids or [self.serial("v") for _ in range(count)]
        amount = len(voucher_ids) * FACE
        self.add(kinds.issue(self.at(), program, self.serial("b"), voucher_ids, amount))
        return voucher_ids

    def redeem(self, voucher: str, amount: int = FACE, partner: str = PARTNER) -> str:
        redemption = self.serial("r")
        return self.add(kinds.redeem(self.at(), PROGRAM, partner, voucher, redemption, amount))

    def reverse(self, voucher: str, redeem_entry: str, partner: str = PARTNER) -> str:
        redemption = self.serial("r")
        return self.add(
            kinds.reverse(self.at(), PROGRAM, partner, voucher, redemption, redeem_entry, FACE)
        )

    def cancel(self, vouchers: list[str]) -> str:
        return self.add(kinds.cancel(self.at(), PROGRAM, vouchers, len(vouchers) * FACE))

    def expire(self, vouchers: list[str]) -> str:
        return self.add(kinds.expire(self.at(), PROGRAM, vouchers, len(vouchers) * FACE))

    def lines(self) -> list[bytes]:
        return [canonical(entry) for entry in self.entries]


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
