"""problem+json answers (RFC 9457) and the pages that explain each problem type."""

from __future__ import annotations

import html
import json
from typing import Any

from flask import Response, current_app

from voucher_service.errors import ALL_ERRORS, ServiceError

PROBLEM_TYPE = "application/problem+json"

# What each problem means, for the people who meet it: (French, English).
EXPLANATIONS: dict[str, tuple[str, str]] = {
    "invalid-request": (
        "La requête est mal formée : un champ manque, a le mauvais type ou une valeur refusée. "
        "La liste `errors` indique chaque champ fautif.",
        "The request is malformed: a field is missing, has the wrong type or a refused value. "
        "The `errors` list names each faulty field.",
    ),
    "unauthorized": (
        "Aucune clé d'API valide n'accompagne la requête (en-tête Authorization: Bearer …).",
        "No valid API key came with the request (header Authorization: Bearer …).",
    ),
    "forbidden": (
        "Votre clé d'API ne permet pas cette action, ou l'objet appartient à une autre structure.",
        "Your API key does not allow this action, or the object belongs to another organisation.",
    ),
    "not-found": ("Cet objet n'existe pas.", "This object does not exist."),
    "invalid-voucher-token": (
        "Le QR code n'est pas un chèque authentique : signature fausse, clé inconnue ou format "
        "incorrect. Ne l'acceptez pas.",
        "The QR code is not a genuine voucher: bad signature, unknown key or wrong format. "
        "Do not accept it.",
    ),
    "voucher-not-found": (
        "Aucun chèque émis par ce service ne correspond. Vérifiez le code saisi.",
        "No voucher issued by this service matches. Check the code you typed.",
    ),
    "voucher-already-redeemed": (
        "Ce chèque a déjà été encaissé (voir `redeemed_at`). Il ne peut l'être qu'une fois.",
        "This voucher was already redeemed (see `redeemed_at`). It can be redeemed only once.",
    ),
    "voucher-expired": ("Ce chèque a expiré.", "This voucher has expired."),
    "voucher-revoked": (
        "Ce chèque a été annulé (carnet perdu ou remplacé).",
        "This voucher was cancelled (booklet lost or replaced).",
    ),
    "partner-not-eligible": (
        "Votre lieu n'est pas habilité pour le programme de ce chèque.",
        "Your venue is not affiliated to this voucher's programme.",
    ),
    "budget-exhausted": (
        "Le budget du programme ne suffit plus pour ce carnet. Rien n'a été émis.",
        "The programme's budget no longer covers this booklet. Nothing was issued.",
    ),
    "beneficiary-limit-reached": (
        "Cette personne a déjà reçu le nombre maximal de chèques du programme.",
        "This person has already received the programme's maximum number of vouchers.",
    ),
    "idempotency-key-required": (
        "Cette requête exige un en-tête Idempotency-Key, pour pouvoir être rejouée sans risque.",
        "This request needs an Idempotency-Key header, so that it can be retried safely.",
    ),
    "idempotency-key-reused": (
        "Cette Idempotency-Key a déjà servi pour une requête différente.",
        "This Idempotency-Key was already used for a different request.",
    ),
    "idempotency-key-in-use": (
        "Une requête avec cette Idempotency-Key est encore en cours. Réessayez dans un instant.",
        "A request with this Idempotency-Key is still running. Retry in a moment.",
    ),
    "reversal-not-allowed": (
        "Cet encaissement ne peut plus être annulé : délai dépassé, déjà annulé ou déjà payé.",
        "This redemption can no longer be reversed: too late, already reversed or already paid.",
    ),
    "voucher-not-activated": (
        "Ce chèque fait partie d'un carnet pré-imprimé qui n'a pas encore été remis à un "
        "bénéficiaire : il ne vaut rien tant que la structure qui le distribue ne l'a pas "
        "activé. Ne l'acceptez pas ; la personne peut s'adresser à cette structure.",
        "This voucher belongs to a pre-printed booklet not yet handed to a beneficiary: it is "
        "worth nothing until the distributing organisation activates it. Do not accept it; "
        "the holder may ask that organisation.",
    ),
    "booklet-already-activated": (
        "Ce carnet a déjà été remis à un bénéficiaire (ou n'est pas un carnet pré-imprimé). "
        "Rien n'a été modifié.",
        "This booklet was already handed to a beneficiary (or is not a pre-printed booklet). "
        "Nothing was changed.",
    ),
    "settlement-not-allowed": (
        "Ce règlement n'est pas possible : le mois n'est pas terminé, ou le paiement a déjà "
        "été confirmé. Rien n'a été modifié.",
        "This settlement step is not possible: the month is not over, or the payment was "
        "already confirmed. Nothing was changed.",
    ),
    "program-not-active": (
        "Le programme n'émet pas de chèques à cette date.",
        "The programme does not issue vouchers at this date.",
    ),
    "rate-limited": (
        "Trop de codes inconnus en peu de temps. Patientez une minute.",
        "Too many unknown codes in a short time. Wait a minute.",
    ),
    "conflict": (
        "Une valeur unique (code de programme, SIRET) appartient déjà à un autre objet.",
        "A unique value (programme code, SIRET) already belongs to another object.",
    ),
    "method-not-allowed": (
        "Cette adresse n'accepte pas cette méthode HTTP.",
        "This address does not accept this HTTP method.",
    ),
    "service-unavailable": (
        "Le service ne joint pas sa base de données (ou, pour une recherche par code, son "
        "compteur de tentatives) pour l'instant ; rien n'a été modifié. Réessayez dans "
        "quelques secondes (en-tête Retry-After). Si seul le compteur manque, un bon scanné "
        "par son QR code est encore accepté.",
        "The service cannot reach its database (or, for a lookup by code, its attempt "
        "counter) right now; nothing was changed. Try again in a few seconds (Retry-After "
        "header). When only the counter is missing, a voucher scanned by its QR code is still "
        "accepted.",
    ),
    "request-too-large": (
        "Le corps de la requête dépasse 64 Kio ; il a été refusé sans être lu.",
        "The request body exceeds 64 KiB; it was refused without being read.",
    ),
    "internal-error": (
        "Une erreur inattendue s'est produite ; rien n'a été modifié.",
        "An unexpected error occurred; nothing was changed.",
    ),
}

TITLES: dict[str, str] = {error.slug: error.title for error in ALL_ERRORS}
TITLES.update(
    {
        "method-not-allowed": "Method not allowed",
        "request-too-large": "Request too large",
        "internal-error": "Internal error",
    }
)


RETRY_AFTER = {"rate-limited": 60, "service-unavailable": 5}


def problem_type(slug: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/problems/{slug}"


def problem_response(
    slug: str, status: int, detail: str, extra: dict[str, Any] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": TITLES.get(slug, slug),
        "status": status,
        "detail": detail,
    }
    extra = dict(extra or {})
    retry_after = extra.pop("retry_after", RETRY_AFTER.get(slug))
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if slug == "unauthorized":
        response.headers["WWW-Authenticate"] = 'Bearer realm="voucher-service"'
    return response


def service_error_response(error: ServiceError) -> Response:
    return problem_response(error.slug, error.status, error.detail, error.extra)


def problem_page(slug: str) -> str:
    french, english = EXPLANATIONS[slug]
    title = html.escape(TITLES.get(slug, slug))
    return (
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body>"
        f"<h1>{title} <small>({html.escape(slug)})</small></h1>"
        f"<p lang='fr'>{html.escape(french)}</p>"
        f"<p lang='en'>{html.escape(english)}</p>"
        "</body></html>"
    )
