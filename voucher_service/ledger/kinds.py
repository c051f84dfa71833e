"""The kinds of transfer: the list of them, the accounts each moves money between, and one
constructor per kind. The writers, the routes, the verifier's replay and the one-statement
redemption all take their kinds from here (DESIGN "Ledger")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voucher_service.ledger import accounts
from voucher_service.ledger.transfers import Posting, RecordedTransfer, build_transfer

Route = Callable[[Sequence[str]], tuple[str, str]]  # the refs' values → (source, destination)


@dataclass(frozen=True)
class Kind:
    """A kind of transfer: the references its entry names, and where its money goes (None: a
    change of vouchers' state that moves no money; its entries have no postings)."""

    name: str
    refs: tuple[str, ...]  # each a non-empty string in every entry of this kind
    route: Route | None

    @property
    def moves_money(self) -> bool:
        return self.route is not None

    def accounts(self, refs: Sequence[str]) -> tuple[str, str]:
        """Where this kind's money goes: (source, destination)."""
        if self.route is None:
            raise ValueError(f"a {self.name} transfer moves no money")
        return self.route(refs)

    def posting(self, refs: Sequence[str], amount: int) -> Posting:
        return Posting(*self.accounts(refs), amount)


ALLOCATE = Kind(
    "allocate",
    ("program_id", "funder"),
    lambda r: (accounts.funder_appropriation(r[1]), accounts.program_available(r[0])),
)
ISSUE = Kind(
    "issue",
    ("program_id", "booklet_id"),
    lambda r: (accounts.program_available(r[0]), accounts.program_outstanding(r[0])),
)
REDEEM = Kind(
    "redeem",
    ("program_id", "partner_id", "redemption_id"),
    lambda r: (accounts.program_outstanding(r[0]), accounts.partner_payable(r[1])),
)
REVERSE = Kind(
    "reverse",
    ("program_id", "partner_id", "reverses", "redemption_id"),
    lambda r: (accounts.partner_payable(r[1]), accounts.program_outstanding(r[0])),
)
CANCEL = Kind(
    "cancel",
    ("program_id",),
    lambda r: (accounts.program_outstanding(r[0]), accounts.program_available(r[0])),
)
EXPIRE = Kind("expire", CANCEL.refs, CANCEL.route)
# The money cycle of a statement (one partner, one programme, one settlement): its amount goes
# from the partner's payable into the programme's payments in progress, then out to the
# partner's paid once the bank confirms, or back to payable when the payment is rejected.
SETTLE = Kind(
    "settle",
    ("program_id", "partner_id", "settlement_id"),
    lambda r: (accounts.partner_payable(r[1]), accounts.program_in_payment(r[0])),
)
PAY = Kind(
    "pay",
    SETTLE.refs,
    lambda r: (accounts.program_in_payment(r[0]), accounts.partner_paid(r[1])),
)
REJECT = Kind(
    "reject",
    SETTLE.refs,
    lambda r: (accounts.program_in_payment(r[0]), accounts.partner_payable(r[1])),
)
# A pre-printed booklet handed to its beneficiary: its vouchers, issued (and in circulation)
# since their printing, become redeemable. Their value was already outstanding: no money moves.
ACTIVATE = Kind("activate", ("program_id", "booklet_id"), None)

ALL = (ALLOCATE, ISSUE, REDEEM, REVERSE, CANCEL, EXPIRE, SETTLE, PAY, REJECT, ACTIVATE)
BY_NAME = {kind.name: kind for kind in ALL}
NAMES = tuple(BY_NAME)


def allocate(
    at: datetime, program_id: str, funder: str, amount: int, reference: str | None = None
) -> RecordedTransfer:
    """Budget for a programme, from its funder's appropriation (`funder` is the funder's name;
    `reference`, the funder's own for a later allocation: a decision's or an order's number)."""
    key = accounts.funder_key(funder)
    return _build(ALLOCATE, at, amount, program_id=program_id, funder=key, reference=reference)


def issue(
    at: datetime,
    program_id: str,
    booklet_id: str,
    voucher_ids: list[str],
    amount: int,
    transfer_id: str | None = None,
    batch_id: str | None = None,
    organisation_id: str | None = None,
) -> RecordedTransfer:
    """A booklet's vouchers go into circulation, by the organisation that hands them out (so
    that reports by organisation read the ledger alone). With `batch_id`, a pre-printed
    booklet of that batch: its vouchers are `printed`, not redeemable before an `activate`
    entry names them."""
    return _build(
        ISSUE,
        at,
        amount,
        transfer_id=transfer_id,
        program_id=program_id,
        booklet_id=booklet_id,
        voucher_ids=voucher_ids,
        batch_id=batch_id,
        organisation_id=organisation_id,
    )


def activate(
    at: datetime, program_id: str, booklet_id: str, voucher_ids: list[str]
) -> RecordedTransfer:
    """A pre-printed booklet handed to its beneficiary: no money moves (no postings), and
    nothing names the beneficiary."""
    return _build(
        ACTIVATE, at, 0, program_id=program_id, booklet_id=booklet_id, voucher_ids=voucher_ids
    )


def redeem(
    at: datetime,
    program_id: str,
    partner_id: str,
    voucher_id: str,
    redemption_id: str,
    amount: int,
) -> RecordedTransfer:
    """A voucher leaves circulation; the partner is owed its value."""
    return _build(
        REDEEM,
        at,
        amount,
        program_id=program_id,
        partner_id=partner_id,
        voucher_ids=[voucher_id],
        redemption_id=redemption_id,
    )


def reverse(
    at: datetime,
    program_id: str,
    partner_id: str,
    voucher_id: str,
    redemption_id: str,
    reverses: str,
    amount: int,
) -> RecordedTransfer:
    """A redemption undone: the voucher is back in circulation (`reverses`: its transfer)."""
    return _build(
        REVERSE,
        at,
        amount,
        program_id=program_id,
        partner_id=partner_id,
        voucher_ids=[voucher_id],
        redemption_id=redemption_id,
        reverses=reverses,
    )


def settle(
    at: datetime, program_id: str, partner_id: str, settlement_id: str, amount: int, **refs: Any
) -> RecordedTransfer:
    """A partner's statement of a settlement: its redemptions go into payment."""
    return _statement(SETTLE, at, program_id, partner_id, settlement_id, amount, **refs)


def pay(
    at: datetime, program_id: str, partner_id: str, settlement_id: str, amount: int, **refs: Any
) -> RecordedTransfer:
    """The bank confirmed a statement's payment: the partner is paid."""
    return _statement(PAY, at, program_id, partner_id, settlement_id, amount, **refs)


def reject(
    at: datetime, program_id: str, partner_id: str, settlement_id: str, amount: int, **refs: Any
) -> RecordedTransfer:
    """A statement's payment was rejected: the amount is payable again."""
    return _statement(REJECT, at, program_id, partner_id, settlement_id, amount, **refs)


def _statement(
    kind: Kind,
    at: datetime,
    program_id: str,
    partner_id: str,
    settlement_id: str,
    amount: int,
    **refs: Any,
) -> RecordedTransfer:
    return _build(
        kind,
        at,
        amount,
        program_id=program_id,
        partner_id=partner_id,
        settlement_id=settlement_id,
        **refs,
    )


def cancel(
    at: datetime, program_id: str, voucher_ids: list[str], amount: int, **refs: str
) -> RecordedTransfer:
    """Vouchers withdrawn from circulation (a lost booklet); their value back to the budget."""
    return _build(CANCEL, at, amount, program_id=program_id, voucher_ids=voucher_ids, **refs)


def expire(
    at: datetime, program_id: str, voucher_ids: list[str], amount: int, **refs: str
) -> RecordedTransfer:
    """Vouchers past their expiry; their value back to the budget."""
    return _build(EXPIRE, at, amount, program_id=program_id, voucher_ids=voucher_ids, **refs)


def _build(
    kind: Kind, at: datetime, amount: int, transfer_id: str | None = None, **refs: Any
) -> RecordedTransfer:
    route = [str(refs[name]) for name in kind.refs]
    program_id, partner_id = refs.pop("program_id", None), refs.pop("partner_id", None)
    return build_transfer(
        kind.name,
        at,
        [kind.posting(route, amount)] if kind.moves_money else [],
        program_id=None if program_id is None else str(program_id),
        partner_id=None if partner_id is None else str(partner_id),
        transfer_id=transfer_id,
        moves_money=kind.moves_money,
        **refs,
    )
