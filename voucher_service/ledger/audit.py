"""The auditor's reads: each opens its own read transaction over the log at its latest
checkpoint, so a page, a proof or an export sees one consistent state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from voucher_service.auth.api import Principal
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.ledger import balances, bundle, log


def latest_note(database: Database, ctx: ServiceContext) -> str:
    """The latest checkpoint as a signed note (the empty tree's before any entry)."""
    with database.read() as session:
        return log.latest_checkpoint(session, ctx).note


def entries_page(
    database: Database, ctx: ServiceContext, start: int, limit: int, where: log.EntryFilter
) -> dict[str, Any]:
    """Integrated entries from index `start`, as far as the latest checkpoint reaches."""
    with database.read() as session:
        size = log.latest_checkpoint(session, ctx).size
        return log.list_entries(session, start, limit, where, size)


def entry(
    database: Database, ctx: ServiceContext, principal: Principal, transfer_id: str
) -> dict[str, Any]:
    """One entry with its inclusion proof once integrated; a partner sees only its own."""
    partner_id = principal.partner_id if principal.role == "partner" else None
    with database.read() as session:
        return log.entry_with_proof(session, ctx, transfer_id, partner_id)


def inclusion_proof(
    database: Database, ctx: ServiceContext, principal: Principal, index: int, size: int | None
) -> list[str]:
    """The proof that leaf `index` is in the tree of `size` (default the latest) entries;
    a partner gets proofs of its own entries only (another's is reported missing)."""
    with database.read() as session:
        if principal.role == "partner" and not log.leaf_belongs_to(
            session, index, principal.partner_id
        ):
            raise NotFound(f"no entry of yours at index {index}")
        return log.inclusion(session, ctx, index, size)


def consistency_proof(
    database: Database, ctx: ServiceContext, first: int, second: int
) -> list[str]:
    """The proof that the tree of `first` entries is a prefix of the tree of `second`."""
    with database.read() as session:
        return log.consistency(session, ctx, first, second)


def balances_at(database: Database, ctx: ServiceContext, size: int | None) -> dict[str, Any]:
    """Every account's balance over the first `size` entries (default the latest checkpoint's)."""
    with database.read() as session:
        latest = log.latest_checkpoint(session, ctx).size
        size = latest if size is None else size
        if not 0 <= size <= latest:
            raise InvalidRequest(
                f"size must be a whole number from 0 to {latest}",
                [{"path": "size", "message": f"integer from 0 to {latest}"}],
            )
        return {"size": size, "balances": balances.balances(session, size)}


def export_csv(database: Database, ctx: ServiceContext) -> Iterator[str]:
    """The log at its latest checkpoint, one CSV line a posting; the read transaction stays
    open while the caller consumes the lines, so the export is one consistent state."""
    with database.read() as session:
        size = log.latest_checkpoint(session, ctx).size
        yield from bundle.export_csv(session, size)


def audit_bundle(database: Database, ctx: ServiceContext) -> IO[bytes]:
    """The audit bundle, written to a temporary file (rewound) that the caller sends, then
    closes."""
    with database.read() as session:
        return bundle.write_bundle(session, ctx)
