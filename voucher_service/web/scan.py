"""The voucher page, /r: what a voucher is worth, and redeeming it for a signed-in venue.

`/r#<token>` is what a voucher's QR code opens: the token stays in the fragment (it never
reaches a server log), and the page's script reads it, shows the voucher at once and checks
its signature and its status list in the browser. A partner's person signed in redeems with
one button through this page's own endpoints (session and CSRF, never the bearer API), which
call the use cases with the person's Principal, exactly as the API views do. Without
JavaScript, a typed code still redeems through a plain form.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Blueprint, Response, redirect, render_template, request, session
from flask_wtf.csrf import ValidationError, generate_csrf, validate_csrf
from sqlalchemy import select

from voucher_service.auth.api import Principal
from voucher_service.clock import day_boundary, local_zone, now, parse_rfc3339, rfc3339
from voucher_service.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    ServiceError,
    Unauthorized,
)
from voucher_service.idempotency.api import Idempotency, fingerprint
from voucher_service.partners.directory import find_partners
from voucher_service.printing.french import NBSP, amount, distance, long_date, service_label
from voucher_service.programs.models import Program
from voucher_service.schemas import check_text
from voucher_service.statuslists.api import PROGRAM_CODE
from voucher_service.vouchers import redemption
from voucher_service.vouchers.codes import InvalidCode, normalise_code
from voucher_service.vouchers.models import Redemption
from voucher_service.web import people
from voucher_service.web.helpers import (
    idempotency,
    json_response,
    outcome_response,
    query_near,
    services,
)
from voucher_service.web.observability import counts_redemptions
from voucher_service.web.problems import problem_type

blueprint = Blueprint("scan", __name__)

# The page runs its own script (and, once the scan button is pressed, the barcode reader's
# WebAssembly): 'self' only, and 'wasm-unsafe-eval' on this page alone.
R_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MAX_TOKEN_LENGTH = 1024
MAX_CODE_LENGTH = 40
TODAY_LIMIT = 500
OUTCOME = "r_outcome"  # the session's key for a form's outcome, shown once after its redirect
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # the form's own key: a form sent twice is one

# What a volunteer reads when a voucher is refused: one plain sentence per slug.
REASONS = {
    "voucher-already-redeemed": "Ce chèque a déjà été utilisé.",
    "voucher-expired": "Ce chèque a expiré : sa date de validité est passée.",
    "voucher-revoked": "Ce chèque a été annulé (carnet perdu ou remplacé).",
    "voucher-not-activated": "Ce chèque n’a pas encore été remis à son bénéficiaire "
    "(carnet pas encore activé).",
    "partner-not-eligible": "Ce chèque est d’un autre programme : votre lieu ne peut pas "
    "l’accepter.",
    "invalid-voucher-token": "Ce chèque est faux ou illisible : sa signature n’est pas la nôtre.",
    "voucher-not-found": "Aucun chèque ne porte ce code. Vérifiez le code saisi.",
    "invalid-request": "Ce code est mal saisi : vérifiez chaque caractère.",
    "rate-limited": "Trop de codes inconnus ont été saisis : attendez quelques minutes "
    "avant de réessayer.",
    "budget-exhausted": "Le budget du programme est épuisé.",
    "reversal-not-allowed": "Cet encaissement ne peut plus être annulé.",
    "service-unavailable": "Le service est momentanément indisponible : réessayez dans un instant.",
    "unauthorized": "Vous n’êtes plus connecté : reconnectez-vous.",
    "forbidden": "Cette action n’est pas permise à votre compte.",
    "not-found": "Cet encaissement est introuvable.",
}


def reason_text(slug: str, extra: dict[str, Any] | None = None) -> str:
    """The French sentence for a refusal, with when it was used for an already-used one."""
    text = REASONS.get(slug, "Ce chèque ne peut pas être encaissé.")
    redeemed_at = (extra or {}).get("redeemed_at")
    if slug == "voucher-already-redeemed" and isinstance(redeemed_at, str):
        try:
            moment = parse_rfc3339(redeemed_at)
        except ValueError:
            return text
        text = f"Ce chèque a déjà été utilisé le {when(moment)}."
    return text


def when(moment: datetime) -> str:
    """`29 novembre 2026 à 15 h 04`, in Paris."""
    local = moment.astimezone(local_zone())
    return f"{long_date(local.date())} à {clock_time(local)}"


def clock_time(local: datetime) -> str:
    """`15 h 04`, never broken across lines."""
    return f"{local.hour}{NBSP}h{NBSP}{local.minute:02d}"


def _csrf_token() -> str:
    """The session's CSRF token (flask-wtf's, as `csrf_token()` in the other pages)."""
    return str(generate_csrf())


def _check_csrf(token: str | None) -> None:
    """The page's own token, from the form or the X-CSRFToken header; 403 otherwise. (The
    accounts' hook checks every POST to the pages first; this keeps these endpoints safe on
    their own.)"""
    try:
        validate_csrf(token)
    except ValidationError as error:
        raise Forbidden(f"the CSRF token is missing or wrong ({error})") from None


def _partner() -> Principal:
    """The signed-in partner's person: 401 when nobody is signed in, 403 for another role."""
    person = people.current_person()
    if person is None:
        raise Unauthorized("sign in with a partner's account to redeem")
    if person.role != "partner" or person.partner_id is None:
        raise Forbidden("only a partner's account redeems vouchers")
    return person


def _json_partner() -> Principal:
    """A page endpoint's caller: a partner's person, with the page's CSRF header."""
    person = _partner()
    _check_csrf(request.headers.get("X-CSRFToken"))
    return person


def _voucher_body() -> dict[str, Any]:
    """{token} or {code} from the page's JSON, checked as the API's schemas would."""
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        raise InvalidRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body is a JSON object: {token} or {code}")
    check_text(body)
    token, code = body.get("token"), body.get("code")
    if (token is None) == (code is None):
        raise InvalidRequest("send a token or a code, one of them")
    for name, value, limit in (("token", token, MAX_TOKEN_LENGTH), ("code", code, 40)):
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
            raise InvalidRequest(f"{name} is a string of 1 to {limit} characters")
    return {"token": token} if token is not None else {"code": code}


def _page_error(error: ServiceError) -> Response:
    """A refusal as problem+json, with the sentence the page shows."""
    body: dict[str, Any] = {
        "type": problem_type(error.slug),
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        **error.extra,
        "message": reason_text(error.slug, error.extra),
    }
    response = Response(json.dumps(body), error.status, mimetype="application/problem+json")
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# The page ---------------------------------------------------------------------------------


def _form_partner() -> Principal | Response:
    """The venue that sent a plain form, its CSRF token checked; or the page that refuses."""
    person = people.current_person()
    if person is None or person.role != "partner" or person.partner_id is None:
        return _page(
            outcome=_refusal("unauthorized" if person is None else "forbidden"), status=403
        )
    try:
        _check_csrf(request.form.get("csrf_token"))
    except Forbidden:
        return _page(outcome=_refusal("forbidden", "La page a expiré : recommencez."), status=403)
    return person


@blueprint.get("/r")
def get_page() -> Response:
    kept = session.pop(OUTCOME, None)  # what a form just did, before its redirect
    return _page(outcome=kept if isinstance(kept, dict) else None)


@blueprint.post("/r")
def post_code_form() -> Response:
    """Without JavaScript: a typed code, redeemed at once; the answer is this page again."""
    person = _form_partner()
    if isinstance(person, Response):
        return person
    typed = request.form.get("code", "")[:MAX_CODE_LENGTH]
    try:
        code = normalise_code(typed)
    except InvalidCode:
        message = "Ce code est mal saisi (le dernier caractère, de contrôle, ne correspond pas "
        message += "ou le code n’a pas 13 caractères) : vérifiez chaque caractère."
        return _page(person, outcome=_refusal("invalid-request", message), typed=typed, status=400)
    nonce = request.form.get("nonce", "")
    if not NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(16)
    svc = services()
    body = {"code": code}
    idem = Idempotency(
        person.id, f"r-form-{nonce}", fingerprint(svc.context.keys.secret, "/r/redeem", body)
    )
    try:
        outcome = redemption.redeem(
            svc.database, svc.context, person, None, code, None, idem, now(),
            address=request.remote_addr,
        )  # fmt: skip
    except ServiceError as error:
        status = error.status
        return _page(
            person, outcome=_refusal(error.slug, extra=error.extra), typed=typed, status=status
        )
    done = json.loads(outcome.body)
    return _page(
        person,
        outcome={
            "ok": True,
            "amount": amount(done["value_cents"]),
            "when": when(parse_rfc3339(done["redeemed_at"])),
        },
    )


def _refusal(
    slug: str, message: str | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"ok": False, "slug": slug, "message": message or reason_text(slug, extra)}


def _page(
    person: Principal | None = None,
    *,
    outcome: dict[str, Any] | None = None,
    typed: str = "",
    status: int = 200,
) -> Response:
    person = person or people.current_person()
    partner = person if person is not None and person.role == "partner" else None
    today = _today_rows(partner) if partner is not None else []
    svc = services()
    html = render_template(
        "r.html",
        person=person,
        partner=partner,
        csrf=_csrf_token() if person is not None else "",  # a beneficiary gets no cookie
        nonce=secrets.token_urlsafe(16),
        outcome=outcome,
        typed=typed,
        today=today,
        summary=_summary(today),
        issuer=svc.context.settings.issuer,
        programs=json.dumps(_program_names(), ensure_ascii=False, separators=(",", ":")),
    )
    response = Response(html, status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = R_CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    return _no_store(response)


def _program_names() -> dict[str, str]:
    """Each programme's name by its code: the page names a token's `p` before any request."""
    with services().database.read() as db:
        rows = db.execute(select(Program.code, Program.name).limit(500)).all()
    return {row.code: row.name for row in rows}


# The day's redemptions ---------------------------------------------------------------------


def _today_rows(partner: Principal) -> list[dict[str, Any]]:
    """This venue's redemptions of the day (in Paris), latest first, as the page lists them."""
    moment = now()
    day = moment.astimezone(local_zone()).date()
    start, end = day_boundary(day), day_boundary(day, day_end=True)
    svc = services()
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = redemption.list_redemptions(svc.database, partner, start, end, TODAY_LIMIT, cursor)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None or len(items) >= 2000:
            break
    window = timedelta(hours=svc.context.settings.reversal_window_hours)
    rows = []
    for item in reversed(items):
        redeemed_at = parse_rfc3339(item["redeemed_at"])
        local = redeemed_at.astimezone(local_zone())
        rows.append(
            {
                "id": item["id"],
                "time": clock_time(local),
                "amount": amount(item["value_cents"]),
                "cents": item["value_cents"],
                "voucher": item["voucher_id"][:8],
                "service": service_label(item["service"]) if item["service"] else "",
                "reversed": item["reversed_at"] is not None,
                "reversible": item["reversed_at"] is None and moment - redeemed_at < window,
            }
        )
    return rows


def _summary(rows: list[dict[str, Any]]) -> str:
    """`2 chèques encaissés aujourd’hui : 20,00 €`."""
    kept = [row for row in rows if not row["reversed"]]
    if not kept:
        return "Aucun chèque encaissé aujourd’hui."
    plural = "s" if len(kept) > 1 else ""
    total = amount(sum(row["cents"] for row in kept))
    return f"{len(kept)} chèque{plural} encaissé{plural} aujourd’hui : {total}."


@blueprint.get("/r/today")
def get_today() -> Response:
    """The day's list as the page shows it (HTML), for the page's script to refresh."""
    try:
        partner = _partner()
    except ServiceError as error:
        return _no_store(_page_error(error))
    rows = _today_rows(partner)
    html = render_template("r_today.html", today=rows, summary=_summary(rows), csrf=_csrf_token())
    return _no_store(Response(html, mimetype="text/html"))


@blueprint.post("/r/reversal")
def post_reversal_form() -> Response:
    """ "Annuler": a plain form, with or without JavaScript; the answer is the page again."""
    person = _form_partner()
    if isinstance(person, Response):
        return person
    try:
        done = _reverse(person, request.form.get("redemption_id", ""))
    except ServiceError as error:
        session[OUTCOME] = _refusal(error.slug, extra=error.extra)
    else:
        session[OUTCOME] = {"ok": True, "reversed": True, "message": _reversed_text(done)}
    # Post/redirect/get: reloading the page shows it again, and sends nothing twice.
    return _no_store(cast(Response, redirect("/r", 303)))


def _reverse(person: Principal, redemption_id: str) -> dict[str, Any]:
    """Undo one of the venue's redemptions (the use case checks it is its own, within the
    window, not settled)."""
    try:
        uuid.UUID(redemption_id)
    except ValueError:
        raise NotFound("no such redemption") from None
    svc = services()
    return redemption.reverse(
        svc.database, svc.context, person, redemption_id, "annulé au guichet (page /r)", now()
    )


def _reversed_text(done: dict[str, Any]) -> str:
    return (
        f"Encaissement annulé : le chèque de {amount(done['value_cents'])} peut de nouveau "
        "être utilisé."
    )


# The page's JSON endpoints ----------------------------------------------------------------


@blueprint.post("/r/verify")
def post_verify() -> Response:
    """What a redemption would meet (the API's verify, for the signed-in partner)."""
    try:
        partner = _json_partner()
        body = _voucher_body()
        svc = services()
        view = redemption.verify(
            svc.database, svc.context, partner, body.get("token"), body.get("code"), now(),
            address=request.remote_addr,
        )  # fmt: skip
    except ServiceError as error:
        return _no_store(_page_error(error))
    view["value_text"] = amount(view["value_cents"])
    view["expires_text"] = long_date(
        parse_rfc3339(view["expires_at"]).astimezone(local_zone()).date()
    )
    if view.get("reason") == "voucher-already-redeemed":
        redeemed_at = _redeemed_at(view["voucher_id"])
        if redeemed_at is not None:
            view["redeemed_at"] = rfc3339(redeemed_at)
    if "reason" in view:
        view["message"] = reason_text(view["reason"], view)
    return _no_store(json_response(view))


def _redeemed_at(voucher_id: str) -> datetime | None:
    """When the voucher was redeemed (the redemption that stands), as a refusal says it."""
    with services().database.read() as db:
        return db.scalar(
            select(Redemption.redeemed_at)
            .where(Redemption.voucher_id == voucher_id, Redemption.reversed_at.is_(None))
            .order_by(Redemption.redeemed_at.desc())
            .limit(1)
        )


@blueprint.post("/r/redeem")
@counts_redemptions
def post_redeem() -> Response:
    """Redeem for the signed-in partner, once per Idempotency-Key (a double tap is one)."""
    try:
        partner = _json_partner()
        body = _voucher_body()
        svc = services()
        outcome = redemption.redeem(
            svc.database, svc.context, partner, body.get("token"), body.get("code"), None,
            idempotency(partner.id, body), now(), address=request.remote_addr,
        )  # fmt: skip
    except ServiceError as error:
        return _no_store(_page_error(error))
    response = outcome_response(outcome)
    done = json.loads(outcome.body)
    extra = {
        "value_text": amount(done["value_cents"]),
        "when": when(parse_rfc3339(done["redeemed_at"])),
    }
    response.set_data(json.dumps({**done, **extra}))
    return _no_store(response)


@blueprint.post("/r/reverse")
def post_reverse() -> Response:
    """Undo one of this venue's redemptions of the day, from the page's script."""
    try:
        partner = _json_partner()
        body = json.loads(request.get_data(cache=True) or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("redemption_id"), str):
            raise InvalidRequest("send {redemption_id}")
        done = _reverse(partner, body["redemption_id"])
    except ValueError:
        return _no_store(_page_error(InvalidRequest("the body is not JSON")))
    except ServiceError as error:
        return _no_store(_page_error(error))
    done["message"] = _reversed_text(done)
    return _no_store(json_response(done))


@blueprint.get("/r/venues")
def get_venues() -> Response:
    """The venues that take a programme's vouchers, nearest first when a place is given."""
    code = request.args.get("p", "")
    if not (1 <= len(code) <= 16 and PROGRAM_CODE.fullmatch(code)):
        return _page_error(InvalidRequest("p is a programme's code"))
    try:
        near = query_near()
    except ServiceError as error:
        return _page_error(error)
    svc = services()
    with svc.database.read() as db:
        program = db.execute(select(Program.id, Program.name).where(Program.code == code)).first()
    if program is None:
        return json_response({"program": None, "items": []})
    items = find_partners(svc.database, near, None, program.id, None, 10)
    venues = [
        {
            "name": item["name"],
            "address": item["address"],
            "postcode": item["postcode"],
            "services": [service_label(s) for s in item["services"]],
            "distance": None if item["distance_km"] is None else distance(item["distance_km"]),
        }
        for item in items
    ]
    response = json_response({"program": program.name, "items": venues})
    response.headers["Cache-Control"] = "public, max-age=300" if near is None else "no-store"
    return response
