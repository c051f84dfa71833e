"""Imports every table so that metadata (Alembic, tests) sees the whole schema."""

from voucher_service.auth.models import ApiKey
from voucher_service.db import Base
from voucher_service.idempotency.models import IdempotencyRecord
from voucher_service.ledger.models import (
    AccountTotal,
    LedgerBalanceSnapshot,
    LedgerCheckpoint,
    LedgerLeaf,
    LedgerNode,
    LedgerPosting,
    LedgerTransfer,
    LogQueue,
)
from voucher_service.organisations.models import Organisation, organisation_programs
from voucher_service.partners.models import Partner, partner_programs
from voucher_service.people.models import User
from voucher_service.programs.models import Program
from voucher_service.settlements.models import Settlement, SettlementLine, Statement
from voucher_service.vouchers.models import Booklet, BookletBatch, Redemption, Voucher

__all__ = [
    "AccountTotal",
    "ApiKey",
    "Base",
    "Booklet",
    "BookletBatch",
    "IdempotencyRecord",
    "LedgerBalanceSnapshot",
    "LedgerCheckpoint",
    "LedgerLeaf",
    "LedgerNode",
    "LedgerPosting",
    "LedgerTransfer",
    "LogQueue",
    "Organisation",
    "Partner",
    "Program",
    "Redemption",
    "Settlement",
    "SettlementLine",
    "Statement",
    "User",
    "Voucher",
    "organisation_programs",
    "partner_programs",
]
