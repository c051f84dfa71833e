"""problem+json answers (RFC 9457) and the pages that explain each problem type."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, render_template

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

# Each problem's page, for a person: its French title, and one sentence on what to do next.
FOR_PEOPLE: dict[str, tuple[str, str]] = {
    "invalid-request": (
        "Demande incomplète ou mal remplie",
        "Corrigez le champ indiqué, puis recommencez.",
    ),
    "unauthorized": (
        "Connexion nécessaire",
        "Connectez-vous, ou joignez une clé d'API valide, puis recommencez.",
    ),
    "forbidden": (
        "Action non autorisée",
        "Demandez à l'administrateur du service les droits nécessaires.",
    ),
    "not-found": ("Introuvable", "Vérifiez l'adresse ou l'identifiant saisi."),
    "invalid-voucher-token": (
        "Chèque non authentique",
        "N'acceptez pas ce chèque ; demandez-en un autre à la personne.",
    ),
    "voucher-not-found": (
        "Chèque inconnu",
        "Vérifiez le code saisi, caractère par caractère, puis recommencez.",
    ),
    "voucher-already-redeemed": (
        "Chèque déjà encaissé",
        "N'acceptez pas ce chèque une seconde fois ; la personne peut utiliser un autre "
        "chèque de son carnet.",
    ),
    "voucher-expired": (
        "Chèque expiré",
        "N'acceptez pas ce chèque ; la personne peut demander un nouveau carnet à la "
        "structure qui le lui a remis.",
    ),
    "voucher-revoked": (
        "Chèque annulé",
        "N'acceptez pas ce chèque : son carnet a été déclaré perdu ou volé et remplacé.",
    ),
    "partner-not-eligible": (
        "Lieu non habilité pour ce chèque",
        "Orientez la personne vers un lieu partenaire de ce programme.",
    ),
    "budget-exhausted": (
        "Budget du programme épuisé",
        "Prévenez le financeur du programme ; aucun carnet n'a été émis.",
    ),
    "beneficiary-limit-reached": (
        "Plafond atteint pour cette personne",
        "Cette personne a déjà reçu le nombre maximum de chèques de ce programme.",
    ),
    "idempotency-key-required": (
        "Clé d'idempotence manquante",
        "Ajoutez un en-tête Idempotency-Key à la requête, puis recommencez.",
    ),
    "idempotency-key-reused": (
        "Clé d'idempotence déjà utilisée",
        "Utilisez une nouvelle clé pour une nouvelle demande.",
    ),
    "idempotency-key-in-use": (
        "Demande déjà en cours",
        "Attendez quelques secondes, puis recommencez avec la même clé.",
    ),
    "reversal-not-allowed": (
        "Annulation impossible",
        "Contactez l'administrateur du programme pour corriger cet encaissement.",
    ),
    "voucher-not-activated": (
        "Carnet pas encore remis",
        "N'acceptez pas ce chèque ; la personne peut s'adresser à la structure qui "
        "distribue ce carnet.",
    ),
    "booklet-already-activated": (
        "Carnet déjà remis",
        "Vérifiez le numéro du carnet ; rien n'a été modifié.",
    ),
    "settlement-not-allowed": (
        "Règlement impossible",
        "Attendez la fin du mois, ou consultez l'état du paiement.",
    ),
    "program-not-active": (
        "Programme hors période",
        "Vérifiez les dates du programme ; aucun carnet n'a été émis.",
    ),
    "rate-limited": ("Trop de tentatives", "Patientez une minute, puis recommencez."),
    "conflict": (
        "Déjà existant",
        "Vérifiez la valeur saisie : elle appartient déjà à un autre objet.",
    ),
    "method-not-allowed": (
        "Action non prévue à cette adresse",
        "Vérifiez l'adresse et la méthode de la requête.",
    ),
    "service-unavailable": (
        "Service momentanément indisponible",
        "Réessayez dans quelques secondes ; rien n'a été modifié.",
    ),
    "request-too-large": (
        "Demande trop volumineuse",
        "Envoyez une demande plus petite (64 Kio au plus).",
    ),
    "internal-error": (
        "Erreur inattendue",
        "Réessayez ; si l'erreur revient, prévenez l'administrateur du service.",
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
    """The page a problem's `type` points to: in French for the people who meet it, with what
    to do next, and in English below; the look of the service's other pages."""
    french, english = EXPLANATIONS[slug]
    french_title, next_step = FOR_PEOPLE.get(slug, (TITLES.get(slug, slug), ""))
    return render_template(
        "problem.html",
        slug=slug,
        title=TITLES.get(slug, slug),
        french_title=french_title,
        next_step=next_step,
        french=french,
        english=english,
    )
