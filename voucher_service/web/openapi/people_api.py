"""People's accounts for the pages in the OpenAPI document (see areas.py)."""

from __future__ import annotations

from voucher_service.web.openapi.areas import Area
from voucher_service.web.openapi.examples import ORGANISATION, PARTNER, Examples
from voucher_service.web.openapi.operations import ADMIN, Operation

USER = "4d2b8f6a-1e3c-4a5b-9c7d-2e4f6a8b0c13"
TAG = "People"
CREATED = {
    "id": USER,
    "email": "accueil@ccas-limoges.fr",
    "role": "issuer",
    "organisation_id": ORGANISATION,
    "partner_id": None,
    "created_at": "2026-11-28T09:00:00Z",
    "disabled_at": None,
}

AREA = Area(
    operations=[
        Operation(
            "post",
            "/v1/users",
            (ADMIN,),
            "user-create.request",
            201,
            "user",
            (400, 401, 403, 409),
            "Create a person's account for the pages",
            "createUser",
            TAG,
        ),
        Operation(
            "get",
            "/v1/users/{user_id}",
            (ADMIN,),
            None,
            200,
            "user",
            (401, 403, 404),
            "A person's account (never its password)",
            "getUser",
            TAG,
        ),
    ],
    path_parameters={"user_id": "The person's account id."},
    notes={
        "createUser": "A person signs in to the pages (`/login`) with this e-mail and "
        "password; API keys stay for machines. The role and its binding follow the API "
        "keys' rule: an issuer names its organisation, a partner its venue, the others "
        "nothing (400 otherwise, or for an unknown one). The e-mail is stored lower-cased and "
        "is unique whatever its case (409 `conflict`). The password needs at least 12 "
        "characters; it is kept only as an argon2id hash and never shown again. The same as "
        "`voucher-service user create … --password-stdin`.",
    },
    examples={
        "createUser": Examples(
            request={
                "issuer": {
                    "email": "accueil@ccas-limoges.fr",
                    "role": "issuer",
                    "organisation_id": ORGANISATION,
                    "password": "cheval agrafe batterie correcte",
                },
                "partner": {
                    "email": "mediatheque@example.fr",
                    "role": "partner",
                    "partner_id": PARTNER,
                    "password": "une phrase de passe assez longue",
                },
            },
            response={
                "created": CREATED,
            },
        ),
        "getUser": Examples(response={"account": CREATED}),
    },
)
