"""The auditor's API: checkpoint, entries, proofs, balances, CSV export and audit bundle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, stream_with_context

from voucher_service.errors import InvalidRequest
from voucher_service.ledger import audit, bundle, kinds, log
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    download,
    json_response,
    query_int,
    query_text,
    query_time,
    services,
)

blueprint = Blueprint("ledger", __name__)
MAX_INDEX = 2**62


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain")


@blueprint.get("/v1/ledger/checkpoint")
def get_checkpoint() -> Response:
    svc = services()
    return _text(audit.latest_note(svc.database, svc.context))


@blueprint.get("/v1/ledger/checkpoint/key")
def get_checkpoint_key() -> Response:
    return _text(bundle.ledger_verifier_key(services().context) + "\n")


@blueprint.get("/v1/ledger/entries")
@requires("auditor", "admin")
def get_entries() -> Response:
    svc = services()
    where = log.EntryFilter(
        program_id=query_text("program_id", 36),
        partner_id=query_text("partner_id", 36),
        kind=_kind(query_text("kind", 20)),
        start_at=query_time("from"),
        end_at=query_time("to", day_end=True),
    )
    start, limit = query_int("start", 0, 0, MAX_INDEX), query_int("limit", 100, 1, 1000)
    return json_response(audit.entries_page(svc.database, svc.context, start, limit, where))


@blueprint.get("/v1/ledger/entries/<uuid:entry_id>")
@requires("auditor", "admin", "partner")
def get_entry(entry_id: Any) -> Response:
    svc = services()
    return json_response(audit.entry(svc.database, svc.context, g.principal, str(entry_id)))


@blueprint.get("/v1/ledger/proof/inclusion")
@requires("auditor", "admin", "partner")
def get_inclusion_proof() -> Response:
    svc = services()
    index, size = _required_int("index"), _optional_int("size", low=1)
    proof = audit.inclusion_proof(svc.database, svc.context, g.principal, index, size)
    return json_response({"proof": proof})


@blueprint.get("/v1/ledger/proof/consistency")
@requires("auditor", "admin")
def get_consistency_proof() -> Response:
    svc = services()
    first, second = _required_int("first"), _required_int("second")
    proof = audit.consistency_proof(svc.database, svc.context, first, second)
    return json_response({"proof": proof})


@blueprint.get("/v1/ledger/balances")
@requires("auditor", "admin")
def get_balances() -> Response:
    svc = services()
    return json_response(audit.balances_at(svc.database, svc.context, _optional_int("size")))


@blueprint.get("/v1/ledger/export.csv")
@requires("auditor", "admin")
def get_export() -> Response:
    return ledger_csv_response("ledger.csv")


def ledger_csv_response(filename: str) -> Response:
    """Every posting of the log as CSV, streamed as it is read."""
    svc = services()
    return download(
        stream_with_context(audit.export_csv(svc.database, svc.context)), "text/csv", filename
    )


@blueprint.get("/v1/audit/bundle")
@requires("auditor", "admin")
def get_bundle() -> Response:
    return bundle_response("audit-bundle.zip")


def bundle_response(filename: str) -> Response:
    """The audit bundle as a download, streamed from its temporary file."""
    svc = services()
    archive = audit.audit_bundle(svc.database, svc.context)
    length = archive.seek(0, 2)
    archive.seek(0)

    def chunks() -> Iterator[bytes]:
        # The temporary file goes once its last byte is sent, whoever reads the answer.
        try:
            while block := archive.read(64 * 1024):
                yield block
        finally:
            archive.close()

    response = Response(chunks(), mimetype="application/zip")
    response.headers["Content-Length"] = str(length)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _required_int(name: str) -> int:
    if query_text(name) is None:
        raise InvalidRequest(f"{name} is required", [{"path": name, "message": "required"}])
    return query_int(name, 0, 0, MAX_INDEX)


def _optional_int(name: str, low: int = 0) -> int | None:
    return None if query_text(name) is None else query_int(name, low, low, MAX_INDEX)


def _kind(raw: str | None) -> str | None:
    if raw is not None and raw not in kinds.NAMES:
        raise InvalidRequest(
            f"kind is one of {', '.join(kinds.NAMES)}",
            [{"path": "kind", "message": "unknown kind"}],
        )
    return raw
