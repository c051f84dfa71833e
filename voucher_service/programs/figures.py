"""A programme's money, read from its accounts' balances (never a scan of its vouchers)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from voucher_service.ledger import accounts, kinds
from voucher_service.ledger.balances import Totals, balance, current_totals


def available_cents(session: Session, program_id: str) -> int:
    """What the programme can still issue: its available account's balance."""
    account = accounts.program_available(program_id)
    return balance(current_totals(session, [account]), account)


def program_figures(session: Session, program_id: str) -> dict[str, int]:
    """The figures of CONTRACT §5, each a balance or what one kind moved through an account."""
    return programs_figures(session, [program_id])[program_id]


def programs_figures(session: Session, program_ids: list[str]) -> dict[str, dict[str, int]]:
    """The figures of several programmes (a page of them), from one read of their totals."""
    wanted = [
        account
        for program_id in program_ids
        for account in (
            accounts.program_available(program_id),
            accounts.program_outstanding(program_id),
            accounts.program_in_payment(program_id),
        )
    ]
    totals = current_totals(session, wanted) if wanted else {}
    return {program_id: _figures(totals, program_id) for program_id in program_ids}


def _figures(totals: Totals, program_id: str) -> dict[str, int]:
    available = accounts.program_available(program_id)
    outstanding = accounts.program_outstanding(program_id)
    # Every settlement of the programme passes through its in_payment account, whichever
    # partner it pays: what went in (less what a rejection sent back) is settled; what went
    # out to the partners is paid. So both are read from one account, as the others are.
    in_payment = accounts.program_in_payment(program_id)

    def moved(account: str, kind: kinds.Kind) -> int:
        return totals.get((account, kind.name), 0)

    return {
        "budget_cents": moved(available, kinds.ALLOCATE),
        "issued_cents": moved(outstanding, kinds.ISSUE),
        "redeemed_cents": -moved(outstanding, kinds.REDEEM) - moved(outstanding, kinds.REVERSE),
        "expired_cents": -moved(outstanding, kinds.EXPIRE),
        "cancelled_cents": -moved(outstanding, kinds.CANCEL),
        "outstanding_cents": balance(totals, outstanding),
        "available_cents": balance(totals, available),
        # Settled: in a settlement, paid or not (a rejected payment is payable again).
        "settled_cents": moved(in_payment, kinds.SETTLE) + moved(in_payment, kinds.REJECT),
        "paid_cents": -moved(in_payment, kinds.PAY),
    }
