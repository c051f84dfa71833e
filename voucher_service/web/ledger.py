"""The auditor's API: checkpoint, entries, proofs, balances, CSV export and audit bundle."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, stream_with_context

from voucher_service.clock import parse_rfc3339
from voucher_service.errors import InvalidRequest
from voucher_service.ledger import balances, bundle, log
from voucher_service.web.auth import requires
from voucher_service.web.helpers import json_response, query_int, query_text, services

blueprint = Blueprint("ledger", __name__)
MAX_INDEX = 2**62
KINDS = ("allocate", "issue", "redeem", "reverse", "cancel", "expire", "settle")


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain; charset=utf-8")


@blueprint.get("/v1/ledger/checkpoint")
def get_checkpoint() -> Response:
    svc = services()
    with svc.database.read() as session:
        note = log.latest_checkpoint(session, svc.context).note
    return _text(note)


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
        start_at=_time("from"),
        end_at=_time("to"),
    )
    with svc.database.read() as session:
        size = log.latest_checkpoint(session, svc.context).size
        page = log.list_entries(
            session,
            query_int("start", 0, 0, MAX_INDEX),
            query_int("limit", 100, 1, 1000),
            where,
            size,
        )
    return json_response(page)


@blueprint.get("/v1/ledger/entries/<uuid:entry_id>")
@requires("auditor", "admin", "partner")
def get_entry(entry_id: Any) -> Response:
    svc = services()
    partner = g.principal.partner_id if g.principal.role == "partner" else None
    with svc.database.read() as session:
        view = log.entry_with_proof(session, svc.context, str(entry_id), partner)
    return json_response(view)


@blueprint.get("/v1/ledger/proof/inclusion")
@requires("auditor", "admin", "partner")
def get_inclusion_proof() -> Response:
    svc = services()
    index = _required_int("index")
    size = query_int("size", 0, 1, MAX_INDEX) if query_text("size") is not None else None
    with svc.database.read() as session:
        proof = log.inclusion(session, svc.context, index, size)
    return json_response({"proof": proof})


@blueprint.get("/v1/ledger/proof/consistency")
@requires("auditor", "admin")
def get_consistency_proof() -> Response:
    svc = services()
    first, second = _required_int("first"), _required_int("second")
    with svc.database.read() as session:
        proof = log.consistency(session, svc.context, first, second)
    return json_response({"proof": proof})


@blueprint.get("/v1/ledger/balances")
@requires("auditor", "admin")
def get_balances() -> Response:
    svc = services()
    with svc.database.read() as session:
        latest = log.latest_checkpoint(session, svc.context).size
        size = query_int("size", latest, 0, latest)
        view = {"size": size, "balances": balances.balances(session, size)}
    return json_response(view)


@blueprint.get("/v1/ledger/export.csv")
@requires("auditor", "admin")
def get_export() -> Response:
    svc = services()

    def rows() -> Any:
        with svc.database.read() as session:
            size = log.latest_checkpoint(session, svc.context).size
            yield from bundle.export_csv(session, size)

    response = Response(stream_with_context(rows()), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = "attachment; filename=ledger.csv"
    return response


@blueprint.get("/v1/audit/bundle")
@requires("auditor", "admin")
def get_bundle() -> Response:
    svc = services()
    with svc.database.read() as session:
        archive = bundle.write_bundle(session, svc.context)
    length = archive.seek(0, 2)
    archive.seek(0)

    def chunks() -> Any:
        # The temporary file goes once its last byte is sent, whoever reads the answer.
        try:
            while block := archive.read(64 * 1024):
                yield block
        finally:
            archive.close()

    response = Response(chunks(), mimetype="application/zip")
    response.headers["Content-Length"] = str(length)
    response.headers["Content-Disposition"] = "attachment; filename=audit-bundle.zip"
    return response


def _required_int(name: str) -> int:
    if query_text(name) is None:
        raise InvalidRequest(f"{name} is required", [{"path": name, "message": "required"}])
    return query_int(name, 0, 0, MAX_INDEX)


def _kind(raw: str | None) -> str | None:
    if raw is not None and raw not in KINDS:
        raise InvalidRequest(
            f"kind is one of {', '.join(KINDS)}", [{"path": "kind", "message": "unknown kind"}]
        )
    return raw


def _time(name: str) -> Any:
    raw = query_text(name, 40)
    if raw is None:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise InvalidRequest(
            f"{name} is not an RFC 3339 time", [{"path": name, "message": "RFC 3339 time"}]
        ) from None
