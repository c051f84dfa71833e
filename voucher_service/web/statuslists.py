"""Token Status Lists (draft-ietf-oauth-status-list): each programme's list, public."""

from __future__ import annotations

from flask import Blueprint, Response, request

from voucher_service.clock import now
from voucher_service.statuslists.api import SignedList, status_list
from voucher_service.statuslists.lists import MEDIA_TYPE
from voucher_service.web.helpers import services

blueprint = Blueprint("statuslists", __name__)


@blueprint.get("/v1/status-lists/<program_code>")
def get_status_list(program_code: str) -> Response:
    svc = services()
    signed = status_list(svc.database, svc.context, program_code, now())
    if request.if_none_match.contains_weak(signed.etag):
        unchanged = Response(status=304)
        del unchanged.headers["Content-Type"]  # no body: nothing to type
        return _cacheable(unchanged, signed)
    return _cacheable(Response(signed.token, mimetype=MEDIA_TYPE), signed)


def _cacheable(response: Response, signed: SignedList) -> Response:
    """Public and keyless: any cache may keep it for its ttl, any origin may read it. The
    ETag is weak: the same list is signed again (a new signature, the same statuses)."""
    response.set_etag(signed.etag, weak=True)
    response.headers["Cache-Control"] = f"public, max-age={signed.ttl}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
