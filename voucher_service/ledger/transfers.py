"""Transfers before they are written: balanced postings, canonical entry, leaf hash."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785

from voucher_service.clock import rfc3339
from voucher_service.ids import new_id
from voucher_service.ledger.merkle import leaf_hash


@dataclass(frozen=True)
class Posting:
    source: str
    destination: str
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0 or self.source == self.destination:
            raise ValueError(f"a posting moves a positive amount between two accounts: {self}")


@dataclass(frozen=True)
class RecordedTransfer:
    """A transfer as the ledger shows it: its entry, the entry's canonical bytes and leaf hash."""

    id: str
    kind: str
    at: datetime
    program_id: str | None
    partner_id: str | None
    entry: dict[str, Any]
    data: bytes
    leaf_hash: bytes

    @property
    def leaf_hash_b64(self) -> str:
        return base64.b64encode(self.leaf_hash).decode()

    def reference(self) -> dict[str, str]:
        """How an answer names its ledger entry."""
        return {"id": self.id, "leaf_hash": self.leaf_hash_b64}


def canonical(entry: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS): the bytes every leaf hash is taken over.

    For JSON made of ASCII keys, strings, safe integers, lists and objects, JCS is exactly
    what the C encoder writes with sorted keys and no white space; the pure-Python
    encoder is kept for anything else (floats, big integers, non-ASCII keys).
    """
    if _plain(entry):
        return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return bytes(rfc8785.dumps(entry))


SAFE_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -SAFE_INTEGER <= value <= SAFE_INTEGER
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(key.isascii() and _plain(item) for key, item in value.items())
    return False


def build_transfer(
    kind: str,
    at: datetime,
    postings: list[Posting],
    *,
    program_id: str | None = None,
    partner_id: str | None = None,
    transfer_id: str | None = None,
    moves_money: bool = True,
    **refs: Any,
) -> RecordedTransfer:
    """The transfer's entry, canonical bytes and leaf hash, before anything is written. A
    kind that `moves_money` has postings; one that does not (an activation) has none."""
    if bool(postings) != moves_money:
        wanted = "at least one posting" if moves_money else "no posting: it moves no money"
        raise ValueError(f"a {kind} transfer has {wanted}")
    transfer_id = transfer_id or new_id()
    entry: dict[str, Any] = {
        "id": transfer_id,
        "kind": kind,
        "at": rfc3339(at),
        "postings": [
            {"source": p.source, "destination": p.destination, "amount": p.amount} for p in postings
        ],
    }
    if program_id is not None:
        entry["program_id"] = program_id
    if partner_id is not None:
        entry["partner_id"] = partner_id
    entry.update({name: value for name, value in refs.items() if value is not None})
    data = canonical(entry)
    return RecordedTransfer(
        transfer_id, kind, at, program_id, partner_id, entry, data, leaf_hash(data)
    )
