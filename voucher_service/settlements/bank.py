"""Bank details: IBAN and BIC checked with schwifty, stored compact, shown masked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from voucher_service.errors import InvalidRequest


@dataclass(frozen=True)
class BankAccount:
    """An account a payment file names: its holder, and IBAN and BIC in compact form."""

    holder: str
    iban: str
    bic: str


def checked_account(holder: str, iban: str, bic: str) -> BankAccount:
    """The account, IBAN and BIC checked (mod 97, the country's length and format; a BIC's
    shape and country), or 400 naming each bad field. Spaces and case do not matter."""
    errors = []
    iban_compact = bic_compact = ""
    try:
        iban_compact = IBAN(iban).compact
    except SchwiftyException as error:
        errors.append({"path": "/iban", "message": f"not a valid IBAN: {error}"})
    try:
        bic_compact = BIC(bic).compact
    except SchwiftyException as error:
        errors.append({"path": "/bic", "message": f"not a valid BIC: {error}"})
    holder = " ".join(holder.split())
    if not holder:
        errors.append({"path": "/holder", "message": "the account holder's name is empty"})
    if errors:
        raise InvalidRequest("invalid bank details", errors)
    return BankAccount(holder, iban_compact, bic_compact)


def masked_iban(iban: str) -> str:
    """`FR7630006000011234567890189` → `FR76 **** **** 0189`: the country and check digits
    and the last four characters, enough to recognise an account, not to use it."""
    return f"{iban[:4]} **** **** {iban[-4:]}"


def account_view(holder: str | None, iban: str | None, bic: str | None) -> dict[str, Any] | None:
    """An account as the API shows it (never the whole IBAN), or None when there is none."""
    if holder is None or iban is None or bic is None:
        return None
    return {"holder": holder, "iban": masked_iban(iban), "bic": bic}
