"""The issuer's pages, /issue: issue and print a booklet, find, cancel and reissue.

Server-rendered forms that work without JavaScript. Each calls the same use case as the API
with the signed-in person's Principal. Issuing and reissuing are keyed: the form carries a
random nonce, the Idempotency-Key is made from it, so a form sent twice issues once. A
refusal changes nothing and is said in plain French on the page it came from.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from voucher_service.auth.api import Principal
from voucher_service.clock import local_zone, now, parse_rfc3339
from voucher_service.errors import InvalidRequest, ServiceError, Unauthorized
from voucher_service.idempotency.api import Idempotency, fingerprint
from voucher_service.organisations.models import Organisation
from voucher_service.partners.directory import directory_venues, nearest_venues
from voucher_service.printing.french import amount, distance, long_date, service_label
from voucher_service.programs.api import get_program, list_programs
from voucher_service.schemas import check_text
from voucher_service.vouchers import batches, booklets, issuance, lost, printed
from voucher_service.web import people
from voucher_service.web.helpers import services

blueprint = Blueprint("issue_pages", __name__)


@blueprint.after_request
def not_kept(response: Response) -> Response:
    """A front-desk computer is shared: no page or file of a person's session stays in a
    cache (the browser's back button after sign-out shows nothing)."""
    response.headers["Cache-Control"] = "no-store"
    return response


MAX_REFERENCE = 200
MAX_REASON = 500
MAX_HOLDER = 80
VENUES_SHOWN = 5
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# What each refusal means to a social worker, in one plain sentence.
REFUSALS: dict[str, str] = {
    "invalid-request": "Un champ est mal rempli : corrigez-le, puis recommencez.",
    "unauthorized": "Votre session a expiré : reconnectez-vous, puis recommencez.",
    "forbidden": "Votre compte ne permet pas cette action.",
    "not-found": "Ce carnet ou ce programme est introuvable dans votre structure.",
    "budget-exhausted": (
        "Le budget du programme ne suffit plus pour ce carnet : aucun carnet n'a été émis. "
        "Prévenez le financeur du programme."
    ),
    "beneficiary-limit-reached": (
        "Cette personne a déjà reçu le nombre maximal de chèques de ce programme : "
        "aucun carnet n'a été émis."
    ),
    "program-not-active": "Ce programme n'émet pas de chèques à cette date : rien n'a été émis.",
    "idempotency-key-reused": (
        "Ce formulaire a déjà servi pour une autre demande : rien n'a été fait. "
        "Rechargez la page, puis recommencez."
    ),
    "idempotency-key-in-use": (
        "Cette demande est déjà en cours de traitement. Patientez quelques secondes, "
        "puis consultez la liste des carnets."
    ),
    "booklet-already-activated": (
        "Ce carnet a déjà été remis à un bénéficiaire, ou ce n'est pas un carnet pré-imprimé : "
        "rien n'a été modifié."
    ),
    "conflict": "Cette action n'est pas possible sur ce carnet : rien n'a été modifié.",
    "service-unavailable": (
        "Le service est momentanément indisponible : rien n'a été fait. "
        "Réessayez dans quelques secondes."
    ),
    "rate-limited": "Trop de demandes en peu de temps : patientez une minute.",
}
DEFAULT_REFUSAL = "La demande n'a pas abouti : rien n'a été modifié. Réessayez plus tard."

# Conflicts on a booklet, told apart by what the use case says (their slug is shared).
CONFLICTS: tuple[tuple[str, str], ...] = (
    ("was cancelled at", "Ce carnet est déjà annulé : rien n'a été modifié."),
    ("cancel it first", "Seul un carnet annulé peut être remplacé : annulez-le d'abord."),
    (
        "no beneficiary",
        "Ce carnet pré-imprimé n'a jamais été remis : il n'y a personne à qui le remplacer "
        "(son annulation suffit).",
    ),
    ("reissued already", "Ce carnet a déjà été remplacé : rien n'a été émis."),
    ("nothing to reissue", "Tous les chèques de ce carnet ont été utilisés : rien à remplacer."),
    (
        "cannot be handed out",
        "Ce carnet a été annulé (perdu ou volé) : il ne peut plus être remis.",
    ),
)

# What a redirect after a success says on the booklet's page.
DONE: dict[str, str] = {
    "emis": "Le carnet est émis. Téléchargez son PDF pour l'imprimer et le remettre.",
    "deja-emis": ("Ce formulaire avait déjà été envoyé : un seul carnet a été émis, le voici."),
    "annule": (
        "Le carnet est annulé : ses chèques non utilisés ne valent plus rien et leur montant "
        "revient au programme."
    ),
    "remplace": "Le carnet de remplacement est émis. Téléchargez son PDF pour l'imprimer.",
    "active": "Le carnet est remis : ses chèques peuvent maintenant être utilisés.",
}

# A count of vouchers in a status, as one says it: (one, several).
STATUS_LABELS = {
    "issued": ("valable", "valables"),
    "redeemed": ("utilisé", "utilisés"),
    "cancelled": ("annulé", "annulés"),
    "expired": ("expiré", "expirés"),
    "printed": ("pas encore remis", "pas encore remis"),
}


def status_count(status: str, count: int) -> str:
    """`3 valables`, `1 utilisé`."""
    one, many = STATUS_LABELS.get(status, (status, status))
    return f"{count} {one if count <= 1 else many}"


def person() -> Principal:
    """The signed-in issuer (person_required has let them in)."""
    principal = people.current_person()
    if principal is None:
        raise Unauthorized("sign in first")
    return principal


def refusal(error: ServiceError) -> str:
    """A refusal in one plain French sentence."""
    if error.slug == "conflict":
        for clue, sentence in CONFLICTS:
            if clue in error.detail:
                return sentence
    return REFUSALS.get(error.slug, DEFAULT_REFUSAL)


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _keyed(principal: Principal, kind: str, path: str, body: dict[str, Any]) -> Idempotency:
    """The Idempotency-Key of a keyed form, from its nonce; a form without one is refused."""
    nonce = request.form.get("nonce", "")
    if not NONCE.fullmatch(nonce):
        raise InvalidRequest("the form's nonce is missing", [{"path": "nonce", "message": "nonce"}])
    secret = services().context.keys.secret
    return Idempotency(principal.id, f"page:{kind}:{nonce}", fingerprint(secret, path, body))


def _programs(principal: Principal) -> list[dict[str, Any]]:
    """The programmes the person's organisation distributes (a few: one page is enough)."""
    return list(list_programs(services().database, principal, 100, None)["items"])


def _form_text(name: str) -> str:
    return request.form.get(name, "").strip()


def _booklet_id(raw: str) -> str | None:
    try:
        return str(UUID(raw.strip()))
    except ValueError:
        return None


# The pages.


@blueprint.get("/issue")
@people.person_required("issuer")
def issue_page() -> str:
    return _issue_page({})


def _issue_page(
    fields: dict[str, str],
    errors: dict[str, str] | None = None,
    message: str | None = None,
    *,
    activation: dict[str, str] | None = None,
    activation_errors: dict[str, str] | None = None,
    activation_message: str | None = None,
) -> str:
    programs = _programs(person())
    return render_template(
        "issue.html",
        programs=programs,
        fields=fields,
        errors=errors or {},
        message=message,
        activation=activation or {},
        activation_errors=activation_errors or {},
        activation_message=activation_message,
        nonce=new_nonce(),
        amount=amount,
    )


@blueprint.post("/issue")
@people.person_required("issuer")
def issue_post() -> Any:
    principal = person()
    fields = {
        "program_id": _form_text("program_id"),
        "beneficiary_ref": _form_text("beneficiary_ref"),
        "size": _form_text("size"),
    }
    programs = {p["id"]: p for p in _programs(principal)}
    errors: dict[str, str] = {}
    if fields["program_id"] not in programs:
        errors["program_id"] = "Choisissez un programme dans la liste."
    reference = fields["beneficiary_ref"]
    if not reference:
        errors["beneficiary_ref"] = "Indiquez la référence du dossier de la personne."
    elif len(reference) > MAX_REFERENCE or "\x00" in reference:
        errors["beneficiary_ref"] = f"La référence compte au plus {MAX_REFERENCE} caractères."
    size: int | None = None
    if fields["size"]:
        if not fields["size"].isascii() or not fields["size"].isdigit():
            errors["size"] = "Le nombre de chèques est un nombre entier, de 1 à 50."
        else:
            size = int(fields["size"])
            if not 1 <= size <= 50:
                errors["size"] = "Le nombre de chèques est un nombre entier, de 1 à 50."
    if errors:
        return _issue_page(fields, errors), 400
    body: dict[str, Any] = {"program_id": fields["program_id"], "beneficiary_ref": reference}
    if size is not None:
        body["size"] = size
    svc = services()
    try:
        check_text(body)
        outcome = issuance.issue_booklet(
            svc.database,
            svc.context,
            principal,
            body["program_id"],
            reference,
            size,
            _keyed(principal, "issue", "/issue", body),
            now(),
        )
    except ServiceError as error:
        return _issue_page(fields, message=refusal(error)), error.status
    booklet_id = _outcome_id(outcome.body)
    done = "deja-emis" if outcome.replayed else "emis"
    return redirect(url_for("issue_pages.booklet_page", booklet_id=booklet_id, fait=done), 303)


def _outcome_id(body: str) -> str:
    return str(json.loads(body)["id"])


@blueprint.get("/issue/carnets/<uuid:booklet_id>")
@people.person_required("issuer")
def booklet_page(booklet_id: UUID) -> Any:
    done = DONE.get(request.args.get("fait", ""))
    return _booklet_page(str(booklet_id), done=done)


def _booklet_page(
    booklet_id: str,
    *,
    done: str | None = None,
    message: str | None = None,
    reason: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    principal = person()
    svc = services()
    try:
        booklet = issuance.get_booklet(svc.database, principal, booklet_id)
        program = get_program(svc.database, principal, booklet["program_id"])
    except ServiceError as error:
        return render_template("issue_missing.html", message=refusal(error)), error.status
    counts: dict[str, int] = {}
    for voucher in booklet["vouchers"]:
        counts[voucher["status"]] = counts.get(voucher["status"], 0) + 1
    value = sum(v["value_cents"] for v in booklet["vouchers"])
    expires = max((v["expires_at"] for v in booklet["vouchers"]), default=None)
    venues, located = _venues(booklet)
    page = render_template(
        "issue_booklet.html",
        booklet=booklet,
        program=program,
        counts=[status_count(s, n) for s, n in counts.items()],
        value=amount(value, program["currency"]),
        expires=None if expires is None else long_date(printed.last_day(parse_rfc3339(expires))),
        issued_at=paris_time(booklet["issued_at"]),
        cancelled_at=None if not booklet["cancelled_at"] else paris_time(booklet["cancelled_at"]),
        venues=venues,
        located=located,
        done=done,
        message=message,
        reason=reason,
        errors=errors or {},
        nonce=new_nonce(),
        reissuable=bool(booklet["cancelled_at"])
        and booklet["replaced_by"] is None
        and counts.get("cancelled", 0) > 0,
        cancellable=not booklet["cancelled_at"]
        and any(v["status"] in ("issued", "printed") for v in booklet["vouchers"]),
        waiting=bool(booklet.get("batch_id")) and not booklet.get("activated_at"),
    )
    return page, status


def _venues(booklet: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The affiliated venues nearest to the organisation (as the booklet's letter lists
    them), and True; an organisation without a location: a few of them by name, and False."""
    with services().database.read() as session:
        organisation = session.get(Organisation, booklet["organisation_id"])
        located = organisation is not None and None not in (
            organisation.latitude,
            organisation.longitude,
        )
        if organisation is not None and located:
            near = (float(organisation.latitude or 0), float(organisation.longitude or 0))
            found = nearest_venues(session, booklet["program_id"], near, VENUES_SHOWN)
            return [_venue(v, v.distance_km) for v in found], True
        some = directory_venues(session, booklet["program_id"], None)[:VENUES_SHOWN]
        return [_venue(v, None) for v in some], False


def _venue(venue: Any, km: float | None) -> dict[str, Any]:
    return {
        "name": venue.name,
        "address": venue.address,
        "postcode": venue.postcode,
        "distance": None if km is None else distance(km),
        "services": [service_label(s) for s in venue.services],
    }


@blueprint.route("/issue/carnets/<uuid:booklet_id>.pdf", methods=["GET", "POST"])
@people.person_required("issuer")
def booklet_pdf(booklet_id: UUID) -> Response:
    """The booklet's PDF, for the person's own organisation's booklet only; never cached.
    The page's button POSTs it (CSRF-checked), so that the holder's name, printed on the
    letter and never stored, stays out of the address bar and the browser's history."""
    holder = request.form.get("titulaire", "").strip() or None if request.method == "POST" else None
    svc = services()
    try:
        pdf = printed.booklet_pdf(
            svc.database, svc.context, person(), str(booklet_id), None, holder
        )
    except ServiceError as error:
        response = Response(
            render_template("issue_missing.html", message=refusal(error)), error.status
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="carnet-{booklet_id.hex[:8]}.pdf"'
    )
    return response


@blueprint.post("/issue/carnets/<uuid:booklet_id>/annulation")
@people.person_required("issuer")
def cancel_post(booklet_id: UUID) -> Any:
    principal = person()
    reason = _form_text("reason")
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "Indiquez pourquoi le carnet est annulé (par exemple : perdu)."
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"Le motif compte au plus {MAX_REASON} caractères."
    if request.form.get("confirm") != "oui":
        errors["confirm"] = "Cochez la case pour confirmer l'annulation."
    if errors:
        return _booklet_page(str(booklet_id), reason=reason, errors=errors, status=400)
    try:
        check_text(reason)
        lost.cancel_booklet(services().database, principal, str(booklet_id), reason, now())
    except ServiceError as error:
        return _booklet_page(
            str(booklet_id), message=refusal(error), reason=reason, status=error.status
        )
    return redirect(url_for("issue_pages.booklet_page", booklet_id=booklet_id, fait="annule"), 303)


@blueprint.post("/issue/carnets/<uuid:booklet_id>/remplacement")
@people.person_required("issuer")
def reissue_post(booklet_id: UUID) -> Any:
    principal = person()
    svc = services()
    path = f"/issue/carnets/{booklet_id}/remplacement"
    try:
        outcome = lost.reissue_booklet(
            svc.database,
            svc.context,
            principal,
            str(booklet_id),
            _keyed(principal, "reissue", path, {}),
            now(),
        )
    except ServiceError as error:
        return _booklet_page(str(booklet_id), message=refusal(error), status=error.status)
    new_id = _outcome_id(outcome.body)
    return redirect(url_for("issue_pages.booklet_page", booklet_id=new_id, fait="remplace"), 303)


@blueprint.post("/issue/activation")
@people.person_required("issuer")
def activation_post() -> Any:
    principal = person()
    fields = {
        "booklet_id": _form_text("booklet_id"),
        "beneficiary_ref": _form_text("beneficiary_ref"),
    }
    errors: dict[str, str] = {}
    booklet_id = _booklet_id(fields["booklet_id"])
    if booklet_id is None:
        errors["booklet_id"] = (
            "Recopiez le numéro du carnet tel qu'il est imprimé "
            "(32 chiffres et lettres, avec ou sans tirets)."
        )
    reference = fields["beneficiary_ref"]
    if not reference:
        errors["beneficiary_ref"] = "Indiquez la référence du dossier de la personne."
    elif len(reference) > MAX_REFERENCE:
        errors["beneficiary_ref"] = f"La référence compte au plus {MAX_REFERENCE} caractères."
    if errors or booklet_id is None:
        return _issue_page({}, activation=fields, activation_errors=errors), 400
    svc = services()
    try:
        check_text(reference)
        batches.activate_booklet(svc.database, svc.context, principal, booklet_id, reference, now())
    except ServiceError as error:
        return _issue_page({}, activation=fields, activation_message=refusal(error)), error.status
    return redirect(url_for("issue_pages.booklet_page", booklet_id=booklet_id, fait="active"), 303)


@blueprint.get("/issue/carnets")
@people.person_required("issuer")
def booklets_page() -> Any:
    """The organisation's booklets, a page at a time."""
    cursor = request.args.get("suite") or None
    if cursor is not None and len(cursor) > 200:
        abort(400)
    try:
        page = booklets.list_booklets(
            services().database,
            services().context,
            person(),
            booklets.BookletFilter(),
            50,
            cursor,
        )
    except ServiceError as error:
        return render_template("issue_missing.html", message=refusal(error)), error.status
    return render_template(
        "issue_booklets.html",
        rows=_rows(page["items"]),
        next_cursor=page["next_cursor"],
        searched=False,
    )


@blueprint.post("/issue/recherche")
@people.person_required("issuer")
def search_post() -> Any:
    """One person's booklets, by their case reference (sent in a form, never in the URL)."""
    reference = _form_text("beneficiary_ref")
    if not reference or len(reference) > MAX_REFERENCE:
        errors = {"search": "Indiquez la référence du dossier (au plus 200 caractères)."}
        return _issue_page({}, errors), 400
    try:
        check_text(reference)
        page = booklets.list_booklets(
            services().database,
            services().context,
            person(),
            booklets.BookletFilter(beneficiary_ref=reference),
            100,
            None,
        )
    except ServiceError as error:
        return _issue_page({}, message=refusal(error)), error.status
    return render_template(
        "issue_booklets.html",
        rows=_rows(page["items"]),
        next_cursor=None,
        searched=True,
        reference=reference,
    )


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {p["id"]: p["name"] for p in _programs(person())}
    return [
        {
            "id": item["id"],
            "program": names.get(item["program_id"], "—"),
            "issued_at": paris_time(item["issued_at"]),
            "size": item["size"],
            "statuses": ", ".join(status_count(s, n) for s, n in item["statuses"].items() if n)
            or "—",
        }
        for item in items
    ]


def paris_time(text: str) -> str:
    """An RFC 3339 time as people read it in France: `29/11/2026 à 15 h 04`."""
    moment: datetime = parse_rfc3339(text).astimezone(local_zone())
    return f"{moment:%d/%m/%Y} à {moment.hour} h {moment.minute:02d}"
