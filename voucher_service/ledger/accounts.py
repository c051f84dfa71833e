"""Account names of the double-entry ledger (DESIGN "Ledger"): the only place that spells them."""

from __future__ import annotations

import re
import unicodedata


def funder_key(funder: str) -> str:
    """A stable, readable key for a funder's name: lower case, words joined by dashes."""
    ascii_name = unicodedata.normalize("NFKD", funder).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "funder"


def funder_appropriation(funder: str) -> str:
    """The funder's source account; `funder` is its key (see `funder_key`)."""
    return f"funder:{funder}:appropriation"


def program_available(program_id: str) -> str:
    return f"program:{program_id}:available"


def program_outstanding(program_id: str) -> str:
    return f"program:{program_id}:outstanding"


def program_in_payment(program_id: str) -> str:
    """What the programme's settlements put into payment and the bank has not yet confirmed."""
    return f"program:{program_id}:in_payment"


def partner_payable(partner_id: str) -> str:
    return f"partner:{partner_id}:payable"


def partner_paid(partner_id: str) -> str:
    return f"partner:{partner_id}:paid"


def is_source_account(account: str) -> bool:
    """Only a funder's appropriation may go negative: it is where the money comes from."""
    return account.startswith("funder:") and account.endswith(":appropriation")


def outstanding_program(account: str) -> str | None:
    """The programme whose outstanding account this is, or None for any other account."""
    prefix, suffix = "program:", ":outstanding"
    if account.startswith(prefix) and account.endswith(suffix):
        return account[len(prefix) : -len(suffix)] or None
    return None
