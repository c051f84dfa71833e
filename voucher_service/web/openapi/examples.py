"""An example of every request and answer of the API, each valid against its schema (tested)."""

from __future__ import annotations

from typing import Any, NamedTuple


class Examples(NamedTuple):
    """Named examples of an operation's request body and of its success answer."""

    response: dict[str, Any]
    request: dict[str, Any] | None = None


PROGRAM = "0b7f3c52-5d7e-4c1a-9a4e-2f6b8d1c3e90"
ORGANISATION = "5c2e9a41-7b3d-4f8e-a1c6-9d0e2b4f6a83"
PARTNER = "9e4b1d7a-2c6f-4a3e-8b5d-1f7c9e3a5b20"
BOOKLET = "c3a8f2e1-6d4b-4e9a-b7c5-3a1f8e6d2b94"
VOUCHER = "ca6e38c4-a1a9-5002-905a-d4b64a11a80e"
REDEMPTION = "e8b3c1f5-9a2d-4b6e-8c4f-7d1a3e5b9c62"
ISSUE_ENTRY = "6f1e3d5c-7b9a-4c2e-8d4f-0a2b4c6d8e1f"
REDEEM_ENTRY = "2a9c4e6b-8d1f-4a3c-b5e7-9f2d4c6a8e13"
API_KEY = "7d5f3b1e-4c8a-4e2d-9f6b-1a3c5e7d9b40"
ISSUE_LEAF = "C65pPpLZgjm4owaKUAjFZ7NtZDlYe7M6zcOzB2eWOp8="
REDEEM_LEAF = "pVk1YyL45PL082FqNT96+xHvtCHSGnw6gkD6Ri01s0I="
ROOT = "OiXcQPCtMjqO6Okfv0RE7zKfNfsEEDuAZ/6rWyb9txk="
VOUCHER_JWS = (  # an example voucher, signed by a throwaway key
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Img2WnQwazJRIn0.eyJpc3MiOiJ2cyIsImp0aSI6InEzVjBiV0YwWlhKcFl"
    "Xd3RkbTkxWTJobGNnIiwicCI6IkhWODciLCJ2IjoxMDAwLCJleHAiOjE4Mjc0MTc2MDB9.XxZHVZmRGyF7pkwQE"
    "xooRmreqelTFmuMPxxWEFm4dpTrs9UXXjr9l0oNAyWyKWMcnQXO8FElcVWbEK6tVAhZkQ"
)
RECEIPT = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Img2WnQwazJRIn0.eyJpc3MiOiJ2cyIsInN1YiI6ImU4YjNjMWY1LTlhMmQ"
    "tNGI2ZS04YzRmLTdkMWEzZTViOWM2MiIsInZhbHVlX2NlbnRzIjoxMDAwfQ.-4oi8wGSozMaJAcEqwx8ukX5y2O3"
    "0dCUY3C0nj5ZavNgFQZ-WZCsyqEg-G9yKodI5E1Zm-cw09Z-h4JLzM0inA"
)
CODE = "7KQ2-M9XD-4HBT-K"

PROGRAM_FIELDS = {
    "code": "HV87",
    "name": "Pass Numérique Haute-Vienne",
    "funder": "Département de la Haute-Vienne",
    "budget_cents": 5_000_000,
    "face_value_cents": 1000,
    "currency": "EUR",
    "booklet_size": 10,
    "voucher_validity_days": 365,
    "max_vouchers_per_beneficiary": 20,
    "territory": ["87"],
}
PROGRAM_VIEW = {
    "id": PROGRAM,
    **PROGRAM_FIELDS,
    "valid_from": "2026-11-30T23:00:00Z",
    "valid_until": "2027-12-31T23:00:00Z",
    "created_at": "2026-11-27T09:00:00Z",
    "figures": {
        "budget_cents": 5_000_000,
        "issued_cents": 120_000,
        "redeemed_cents": 45_000,
        "expired_cents": 0,
        "cancelled_cents": 10_000,
        "outstanding_cents": 65_000,
        "available_cents": 4_890_000,
        "settled_cents": 30_000,
        "paid_cents": 20_000,
    },
}
LOCATION = {
    "address": "Place Léon Betoulle, 87000 Limoges",
    "postcode": "87000",
    "latitude": 45.8297,
    "longitude": 1.26,
}
ORGANISATION_VIEW = {
    "id": ORGANISATION,
    "name": "CCAS de Limoges",
    "kind": "ccas",
    **LOCATION,
    "programs": [PROGRAM],
    "created_at": "2026-11-27T09:05:00Z",
}
HOURS = {
    "tu": [["10:00", "12:00"], ["14:00", "18:00"]],
    "we": [["10:00", "18:00"]],
    "fr": [["14:00", "18:00"]],
    "sa": [["10:00", "17:00"]],
}
VENUE = {
    "name": "Médiathèque francophone",
    "address": "2 place Aimé Césaire, 87000 Limoges",
    "postcode": "87000",
    "latitude": 45.8336,
    "longitude": 1.2532,
    "services": ["atelier-ordinateur", "atelier-smartphone"],
}
PARTNER_VIEW = {
    "id": PARTNER,
    "siret": "73282932000074",
    **VENUE,
    "opening_hours": HOURS,
    "programs": [PROGRAM],
    "created_at": "2026-11-27T09:10:00Z",
}
KEY_RECORD = {
    "id": API_KEY,
    "role": "issuer",
    "organisation_id": ORGANISATION,
    "partner_id": None,
    "label": "CCAS de Limoges, accueil",
    "created_at": "2026-11-27T09:15:00Z",
    "revoked_at": None,
}
REDEMPTION_VIEW = {
    "id": REDEMPTION,
    "voucher_id": VOUCHER,
    "program_id": PROGRAM,
    "partner_id": PARTNER,
    "value_cents": 1000,
    "currency": "EUR",
    "service": "atelier-smartphone",
    "redeemed_at": "2026-11-27T10:42:00Z",
    "reversed_at": None,
    "reversal_reason": None,
    "ledger_entry": {"id": REDEEM_ENTRY, "leaf_hash": REDEEM_LEAF},
    "receipt": RECEIPT,
}
REDEEM_ENTRY_VIEW = {
    "id": REDEEM_ENTRY,
    "kind": "redeem",
    "at": "2026-11-27T10:42:00Z",
    "postings": [
        {
            "source": f"program:{PROGRAM}:outstanding",
            "destination": f"partner:{PARTNER}:payable",
            "amount": 1000,
        }
    ],
    "program_id": PROGRAM,
    "partner_id": PARTNER,
    "voucher_ids": [VOUCHER],
    "redemption_id": REDEMPTION,
}
PROOF = {"proof": [ISSUE_LEAF, ROOT]}

EXAMPLES: dict[str, Examples] = {
    "createProgram": Examples(
        request={
            "dates": {**PROGRAM_FIELDS, "valid_from": "2026-12-01", "valid_until": "2027-12-31"},
            "times": {
                **PROGRAM_FIELDS,
                "valid_from": "2026-11-30T23:00:00Z",
                "valid_until": "2028-01-01T00:00:00+01:00",
            },
        },
        response={"created": PROGRAM_VIEW},
    ),
    "listPrograms": Examples(
        response={"page": {"items": [PROGRAM_VIEW], "next_cursor": None}},
    ),
    "getProgram": Examples(response={"programme": PROGRAM_VIEW}),
    "createOrganisation": Examples(
        request={
            "ccas": {"name": "CCAS de Limoges", "kind": "ccas", "programs": [PROGRAM]},
            "located": {"name": "CCAS de Limoges", "kind": "ccas", **LOCATION},
        },
        response={"created": ORGANISATION_VIEW},
    ),
    "updateOrganisation": Examples(
        request={
            "moved": LOCATION,
            "renamed": {"name": "CCAS de la Ville de Limoges"},
            "location forgotten": {
                "address": None,
                "postcode": None,
                "latitude": None,
                "longitude": None,
            },
        },
        response={"organisation": ORGANISATION_VIEW},
    ),
    "listOrganisations": Examples(
        response={
            "page": {
                "items": [ORGANISATION_VIEW],
                "next_cursor": "MjAyNi0xMS0yN1QwOTowNTowMCswMDowMHw1YzJlOWE0MQ",
            }
        },
    ),
    "getOrganisation": Examples(response={"organisation": ORGANISATION_VIEW}),
    "addOrganisationProgram": Examples(
        request={"programme": {"program_id": PROGRAM}},
        response={"organisation": ORGANISATION_VIEW},
    ),
    "createPartner": Examples(
        request={
            "venue": {"siret": "73282932000074", **VENUE, "programs": [PROGRAM]},
            "with hours": {
                "siret": "73282932000074",
                **VENUE,
                "opening_hours": HOURS,
                "programs": [PROGRAM],
            },
        },
        response={"created": PARTNER_VIEW},
    ),
    "findPartners": Examples(
        response={
            "nearest": {
                "items": [{"id": PARTNER, **VENUE, "opening_hours": HOURS, "distance_km": 1.204}]
            },
            "hours unknown": {
                "items": [{"id": PARTNER, **VENUE, "opening_hours": None, "distance_km": None}]
            },
        },
    ),
    "updatePartner": Examples(
        request={
            "hours": {"opening_hours": HOURS},
            "moved": {
                "address": "12 rue Jean Jaurès, 87000 Limoges",
                "latitude": 45.8318,
                "longitude": 1.2589,
            },
            "programmes": {"programs": [PROGRAM]},
            "hours forgotten": {"opening_hours": None},
        },
        response={"venue": PARTNER_VIEW},
    ),
    "mapPartners": Examples(
        response={
            "map": {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": PARTNER,
                        "geometry": {"type": "Point", "coordinates": [1.2532, 45.8336]},
                        "properties": {
                            "id": PARTNER,
                            "name": VENUE["name"],
                            "address": VENUE["address"],
                            "postcode": VENUE["postcode"],
                            "services": VENUE["services"],
                            "opening_hours": HOURS,
                            "programs": [PROGRAM],
                        },
                    }
                ],
            }
        },
    ),
    "getPartner": Examples(response={"venue": PARTNER_VIEW}),
    "createApiKey": Examples(
        request={
            "issuer": {
                "role": "issuer",
                "organisation_id": ORGANISATION,
                "label": "CCAS de Limoges, accueil",
            },
            "auditor": {"role": "auditor", "label": "Cour des comptes"},
        },
        response={
            "created": {
                "id": API_KEY,
                "key": "vsk_3q2Hc9T0yZ7uPq4bV1mN8xK6rD5sF2gJ0aL9wE3tY7i",
                "role": "issuer",
                "organisation_id": ORGANISATION,
                "partner_id": None,
                "label": "CCAS de Limoges, accueil",
            }
        },
    ),
    "listApiKeys": Examples(response={"keys": {"items": [KEY_RECORD]}}),
    "getApiKey": Examples(response={"key": KEY_RECORD}),
    "revokeApiKey": Examples(
        response={"revoked": {**KEY_RECORD, "revoked_at": "2026-11-28T17:00:00Z"}}
    ),
    "issueBooklet": Examples(
        request={
            "booklet": {"program_id": PROGRAM, "beneficiary_ref": "DOSSIER-2026-0042"},
            "smaller": {"program_id": PROGRAM, "beneficiary_ref": "DOSSIER-2026-0042", "size": 5},
        },
        response={
            "issued": {
                "id": BOOKLET,
                "program_id": PROGRAM,
                "organisation_id": ORGANISATION,
                "issued_at": "2026-11-27T10:00:00Z",
                "ledger_entry": {"id": ISSUE_ENTRY, "leaf_hash": ISSUE_LEAF},
                "vouchers": [
                    {
                        "id": VOUCHER,
                        "position": 1,
                        "code": CODE,
                        "token": VOUCHER_JWS,
                        "qr_content": f"https://pass.example.fr/r#{VOUCHER_JWS}",
                        "value_cents": 1000,
                        "currency": "EUR",
                        "expires_at": "2027-11-27T10:00:00Z",
                    }
                ],
            }
        },
    ),
    "listBooklets": Examples(
        response={
            "page": {
                "items": [
                    {
                        "id": BOOKLET,
                        "program_id": PROGRAM,
                        "organisation_id": ORGANISATION,
                        "issued_at": "2026-11-27T10:00:00Z",
                        "size": 10,
                        "statuses": {"issued": 9, "redeemed": 1, "cancelled": 0, "expired": 0},
                    }
                ],
                "next_cursor": None,
            }
        },
    ),
    "getBooklet": Examples(
        response={
            "booklet": {
                "id": BOOKLET,
                "program_id": PROGRAM,
                "organisation_id": ORGANISATION,
                "issued_at": "2026-11-27T10:00:00Z",
                "vouchers": [
                    {
                        "id": VOUCHER,
                        "status": "redeemed",
                        "value_cents": 1000,
                        "currency": "EUR",
                        "expires_at": "2027-11-27T10:00:00Z",
                        "redeemed_at": "2026-11-27T10:42:00Z",
                    }
                ],
            }
        },
    ),
    "verifyVoucher": Examples(
        request={"scanned": {"token": VOUCHER_JWS}, "typed": {"code": "7kq2 m9xd 4hbt k"}},
        response={
            "redeemable": {
                "voucher_id": VOUCHER,
                "status": "issued",
                "value_cents": 1000,
                "currency": "EUR",
                "expires_at": "2027-11-27T10:00:00Z",
                "redeemable": True,
            },
            "redeemed already": {
                "voucher_id": VOUCHER,
                "status": "redeemed",
                "value_cents": 1000,
                "currency": "EUR",
                "expires_at": "2027-11-27T10:00:00Z",
                "redeemable": False,
                "reason": "voucher-already-redeemed",
            },
            "printed, not handed out": {
                "voucher_id": VOUCHER,
                "status": "printed",
                "value_cents": 1000,
                "currency": "EUR",
                "expires_at": "2027-11-27T10:00:00Z",
                "redeemable": False,
                "reason": "voucher-not-activated",
            },
        },
    ),
    "redeemVoucher": Examples(
        request={
            "scanned": {"token": VOUCHER_JWS, "service": "atelier-smartphone"},
            "typed": {"code": CODE},
        },
        response={"redeemed": REDEMPTION_VIEW},
    ),
    "listRedemptions": Examples(
        response={"page": {"items": [REDEMPTION_VIEW], "next_cursor": None}},
    ),
    "getRedemption": Examples(response={"redemption": REDEMPTION_VIEW}),
    "reverseRedemption": Examples(
        request={"mistake": {"reason": "scanned the wrong voucher"}},
        response={
            "reversed": {
                **REDEMPTION_VIEW,
                "reversed_at": "2026-11-27T10:45:00Z",
                "reversal_reason": "scanned the wrong voucher",
            }
        },
    ),
    "listLedgerEntries": Examples(
        response={
            "page": {
                "items": [{"index": 41, "entry": REDEEM_ENTRY_VIEW, "leaf_hash": REDEEM_LEAF}],
                "next": None,
            }
        },
    ),
    "getLedgerEntry": Examples(
        response={
            "integrated": {
                "id": REDEEM_ENTRY,
                "entry": REDEEM_ENTRY_VIEW,
                "leaf_hash": REDEEM_LEAF,
                "integrated": True,
                "index": 41,
                "checkpoint": {
                    "size": 42,
                    "root_hash": ROOT,
                    "note": f"pass.example.fr/ledger\n42\n{ROOT}\n\n"
                    "— pass.example.fr/ledger Ab3xQ0vY2F1cmRzLWxlZGdlci1zaWduYXR1cmU=\n",
                },
                "proof": PROOF["proof"],
            }
        },
    ),
    "getInclusionProof": Examples(response={"proof": PROOF}),
    "getConsistencyProof": Examples(response={"proof": PROOF}),
    "getBalances": Examples(
        response={
            "balances": {
                "size": 42,
                "balances": {
                    "funder:departement-de-la-haute-vienne:appropriation": -5_000_000,
                    f"program:{PROGRAM}:available": 4_890_000,
                    f"program:{PROGRAM}:outstanding": 65_000,
                    f"partner:{PARTNER}:payable": 45_000,
                },
            }
        },
    ),
    "getJwks": Examples(
        response={
            "keys": {
                "keys": [
                    {
                        "kty": "EC",
                        "crv": "P-256",
                        "x": "D3ap7TiTWGLNmQfp-88T5XgHHFPu2XFr4NWyCyikzYc",
                        "y": "zpjmm1ujUKnTHD9-QAOLsPfKCQbZ-3To6-mZ_XO1SMg",
                        "kid": "h6Zt0k2Q",
                        "alg": "ES256",
                        "use": "sig",
                    }
                ]
            }
        },
    ),
    "getHealth": Examples(response={"alive": {"status": "ok"}}),
    "getReadiness": Examples(response={"ready": {"status": "ok", "database": "ok"}}),
}

RAW_EXAMPLES: dict[str, str] = {
    "getCheckpoint": f"pass.example.fr/ledger\n42\n{ROOT}\n\n"
    "— pass.example.fr/ledger Ab3xQ0vY2F1cmRzLWxlZGdlci1zaWduYXR1cmU=\n",
    "getCheckpointKey": "pass.example.fr/ledger+01b3c5d7+AQt0aGUtbGVkZ2VyLXZlcmlmaWVyLWtleQ==\n",
    "exportPostings": "index,entry_id,kind,at,program_id,partner_id,source,destination,"
    f"amount_cents,leaf_hash\n41,{REDEEM_ENTRY},redeem,2026-11-27T10:42:00Z,{PROGRAM},{PARTNER},"
    f"program:{PROGRAM}:outstanding,partner:{PARTNER}:payable,1000,{REDEEM_LEAF}\n",
    "getProblemPage": "<!doctype html><html><head><title>voucher-already-redeemed</title>"
    "</head><body><section lang='fr'>…</section><section lang='en'>…</section></body></html>",
}

# What each problem status most often means, per operation where it differs from the default.
PROBLEMS: dict[int, tuple[str, str, str]] = {
    400: ("invalid-request", "Invalid request", "the request body does not match its schema"),
    401: ("unauthorized", "Unauthorized", "send your API key as Authorization: Bearer <key>"),
    403: ("forbidden", "Forbidden", "the partner role may not do this"),
    404: ("not-found", "Not found", f"no programme {PROGRAM}"),
    409: ("conflict", "Conflict", "a programme with code HV87 exists already"),
    410: ("voucher-expired", "Voucher expired", "this voucher expired on 2027-11-27"),
    422: (
        "idempotency-key-reused",
        "Idempotency-Key reused",
        "this Idempotency-Key was used for a different request",
    ),
    429: ("rate-limited", "Too many requests", "too many unknown codes: try again in 60 s"),
    503: ("service-unavailable", "Service unavailable", "the database cannot be reached"),
}
PROBLEMS_BY_OPERATION: dict[tuple[str, int], tuple[str, str, str]] = {
    ("issueBooklet", 409): (
        "beneficiary-limit-reached",
        "Beneficiary limit reached",
        "this beneficiary may receive 0 more vouchers of this programme",
    ),
    ("redeemVoucher", 409): (
        "voucher-already-redeemed",
        "Voucher already redeemed",
        "this voucher was redeemed at 2026-11-27T10:42:00Z",
    ),
    ("redeemVoucher", 403): (
        "partner-not-eligible",
        "Partner not eligible",
        "this venue is not affiliated to the voucher's programme",
    ),
    ("printBookletBatch", 409): (
        "budget-exhausted",
        "Budget exhausted",
        "these vouchers need 500000 cents and the programme has 120000 left",
    ),
    ("activateBooklet", 409): (
        "booklet-already-activated",
        "Booklet already activated",
        "this booklet was activated already",
    ),
    ("reverseRedemption", 409): (
        "reversal-not-allowed",
        "Reversal not allowed",
        "a redemption can be reversed within 24 h; this one is older",
    ),
}


def problem_example(
    base_url: str,
    operation_id: str,
    status: int,
    *,
    body_error: dict[str, str] | None,
    query: str | None,
) -> dict[str, Any]:
    """A refusal this operation may answer with `status`; a 400 names what is wrong: the
    body's `body_error`, else a malformed query parameter."""
    slug, title, detail = PROBLEMS_BY_OPERATION.get((operation_id, status), PROBLEMS[status])
    extra: dict[str, Any] = {}
    if slug == "invalid-request" and body_error is not None:
        extra["errors"] = [body_error]
    elif slug == "invalid-request" and query is not None:
        detail = f"{query} is malformed"
        extra["errors"] = [{"path": query, "message": "malformed"}]
    return {
        "type": f"{base_url}/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
