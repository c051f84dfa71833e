"""Offline verifier of an audit bundle: manifest, signed checkpoint, Merkle root, ledger replay.

No database and no network: it reads the bundle's zip (layout), checks its members, manifest
and checkpoint (checks, signature), reads the entries once (stream) while replaying the
ledger's rules on them (replay, vouchers, tables), and says what it found (report).
"""

from __future__ import annotations

from voucher_service.ledger.verify.checks import verify_bundle
from voucher_service.ledger.verify.report import Report

__all__ = ["Report", "verify_bundle"]
