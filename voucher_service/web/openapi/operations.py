"""What the API offers, operation by operation: the table the OpenAPI document is built from."""

from __future__ import annotations

from typing import Any, NamedTuple

Roles = tuple[str, ...] | None  # None: public


class Operation(NamedTuple):
    """An operation whose answer is JSON: its request and success schemas, by file name."""

    method: str
    path: str
    roles: Roles
    request: str | None
    status: int
    response: str | None
    problems: tuple[int, ...]
    summary: str
    operation_id: str
    tag: str
    media: str = "application/json"  # of the success answer


class RawOperation(NamedTuple):
    """An operation whose answer is not JSON (text, CSV, a zip, a page)."""

    method: str
    path: str
    roles: Roles
    media: str
    summary: str
    operation_id: str
    tag: str


class Parameter(NamedTuple):
    name: str
    where: str  # "query" or "header"
    schema: dict[str, Any]
    description: str
    required: bool = False


ADMIN, AUDITOR, ISSUER, PARTNER = "admin", "auditor", "issuer", "partner"

OPERATIONS: list[Operation] = [
    Operation(
        "post", "/v1/programs", (ADMIN,), "program-create.request", 201, "program",
        (400, 401, 403, 409), "Create a programme and allocate its budget",
        "createProgram", "Programmes",
    ),
    Operation(
        "get", "/v1/programs", (ADMIN, AUDITOR, ISSUER), None, 200, "program-page",
        (400, 401, 403), "Programmes, a page at a time", "listPrograms", "Programmes",
    ),
    Operation(
        "get", "/v1/programs/{program_id}", (ADMIN, AUDITOR, ISSUER), None, 200, "program",
        (401, 403, 404), "A programme and its figures", "getProgram", "Programmes",
    ),
    Operation(
        "post", "/v1/organisations", (ADMIN,), "organisation-create.request", 201,
        "organisation", (400, 401, 403), "Create a distributor organisation",
        "createOrganisation", "Organisations",
    ),
    Operation(
        "get", "/v1/organisations", (ADMIN,), None, 200, "organisation-page", (400, 401, 403),
        "Organisations, a page at a time", "listOrganisations", "Organisations",
    ),
    Operation(
        "get", "/v1/organisations/{organisation_id}", (ADMIN, ISSUER), None, 200,
        "organisation", (401, 403, 404), "An organisation and the programmes it distributes",
        "getOrganisation", "Organisations",
    ),
    Operation(
        "post", "/v1/organisations/{organisation_id}/programs", (ADMIN,),
        "organisation-program-add.request", 200, "organisation", (400, 401, 403, 404),
        "Let an organisation distribute one more programme", "addOrganisationProgram",
        "Organisations",
    ),
    Operation(
        "patch", "/v1/organisations/{organisation_id}", (ADMIN,),
        "organisation-update.request", 200, "organisation", (400, 401, 403, 404),
        "Change an organisation's name, kind or location", "updateOrganisation",
        "Organisations",
    ),
    Operation(
        "post", "/v1/partners", (ADMIN,), "partner-create.request", 201, "partner",
        (400, 401, 403, 409), "Qualify a partner venue", "createPartner", "Partners",
    ),
    Operation(
        "get", "/v1/partners", (ADMIN, ISSUER, PARTNER, AUDITOR), None, 200,
        "partner-directory", (400, 401), "The partner directory, nearest first",
        "findPartners", "Partners",
    ),
    Operation(
        "get", "/v1/partners/{partner_id}", (ADMIN, PARTNER), None, 200, "partner",
        (401, 403, 404), "A partner venue with its SIRET and programmes", "getPartner",
        "Partners",
    ),
    Operation(
        "patch", "/v1/partners/{partner_id}", (ADMIN,), "partner-update.request", 200,
        "partner", (400, 401, 403, 404), "Change a partner venue (hours, place, programmes…)",
        "updatePartner", "Partners",
    ),
    Operation(
        "get", "/v1/partners.geojson", None, None, 200, "partner-map", (400,),
        "The partner directory as a GeoJSON map", "mapPartners", "Partners",
        "application/geo+json",
    ),
    Operation(
        "post", "/v1/api-keys", (ADMIN,), "api-key-create.request", 201, "api-key",
        (400, 401, 403), "Mint an API key (shown once)", "createApiKey", "API keys",
    ),
    Operation(
        "get", "/v1/api-keys", (ADMIN,), None, 200, "api-key-list", (401, 403),
        "Every API key (never its secret)", "listApiKeys", "API keys",
    ),
    Operation(
        "get", "/v1/api-keys/{key_id}", (ADMIN,), None, 200, "api-key-record",
        (401, 403, 404), "One API key (never its secret)", "getApiKey", "API keys",
    ),
    Operation(
        "delete", "/v1/api-keys/{key_id}", (ADMIN,), None, 200, "api-key-record",
        (401, 403, 404), "Revoke an API key (within a second on every worker)",
        "revokeApiKey", "API keys",
    ),
    Operation(
        "post", "/v1/booklets", (ISSUER,), "booklet-create.request", 201, "booklet-issued",
        (400, 401, 403, 404, 409, 422), "Issue a booklet of signed vouchers", "issueBooklet",
        "Booklets",
    ),
    Operation(
        "get", "/v1/booklets", (ISSUER, ADMIN), None, 200, "booklet-page", (400, 401, 403),
        "Booklets, a page at a time (a person's, by case reference)", "listBooklets",
        "Booklets",
    ),
    Operation(
        "get", "/v1/booklets/{booklet_id}", (ISSUER, ADMIN), None, 200, "booklet",
        (401, 403, 404), "A booklet and its vouchers' statuses", "getBooklet", "Booklets",
    ),
    Operation(
        "post", "/v1/booklet-batches", (ISSUER,), "booklet-batch-create.request", 201,
        "booklet-batch-printed", (400, 401, 403, 404, 409, 422),
        "Print a batch of booklets in advance (not redeemable until activated)",
        "printBookletBatch", "Booklets",
    ),
    Operation(
        "get", "/v1/booklet-batches/{batch_id}", (ISSUER, ADMIN), None, 200, "booklet-batch",
        (401, 403, 404), "A batch and which of its booklets were handed out",
        "getBookletBatch", "Booklets",
    ),
    Operation(
        "post", "/v1/booklets/{booklet_id}/activation", (ISSUER,),
        "booklet-activation.request", 200, "booklet", (400, 401, 403, 404, 409),
        "Hand a pre-printed booklet to a beneficiary", "activateBooklet", "Booklets",
    ),
    Operation(
        "post", "/v1/vouchers/verify", (PARTNER,), "voucher-verify.request", 200,
        "voucher-verification", (400, 401, 403, 404, 429),
        "What a redemption would meet (changes nothing)", "verifyVoucher", "Redemptions",
    ),
    Operation(
        "post", "/v1/redemptions", (PARTNER,), "redemption-create.request", 201, "redemption",
        (400, 401, 403, 404, 409, 410, 422, 429), "Redeem a voucher, exactly once",
        "redeemVoucher", "Redemptions",
    ),
    Operation(
        "get", "/v1/redemptions", (PARTNER, ADMIN, AUDITOR), None, 200, "redemption-page",
        (400, 401, 403), "Redemptions, a page at a time", "listRedemptions", "Redemptions",
    ),
    Operation(
        "get", "/v1/redemptions/{redemption_id}", (PARTNER, ADMIN, AUDITOR), None, 200,
        "redemption", (401, 403, 404), "One redemption and its receipt", "getRedemption",
        "Redemptions",
    ),
    Operation(
        "post", "/v1/redemptions/{redemption_id}/reversal", (PARTNER,),
        "reversal-create.request", 200, "redemption", (400, 401, 403, 404, 409),
        "Reverse one's own redemption", "reverseRedemption", "Redemptions",
    ),
    Operation(
        "get", "/v1/ledger/entries", (AUDITOR, ADMIN), None, 200, "ledger-entries",
        (400, 401, 403), "Integrated ledger entries", "listLedgerEntries", "Ledger",
    ),
    Operation(
        "get", "/v1/ledger/entries/{entry_id}", (AUDITOR, ADMIN, PARTNER), None, 200,
        "ledger-entry", (401, 403, 404), "One entry and its inclusion proof", "getLedgerEntry",
        "Ledger",
    ),
    Operation(
        "get", "/v1/ledger/proof/inclusion", (AUDITOR, ADMIN, PARTNER), None, 200, "proof",
        (400, 401, 403), "Inclusion proof", "getInclusionProof", "Ledger",
    ),
    Operation(
        "get", "/v1/ledger/proof/consistency", (AUDITOR, ADMIN), None, 200, "proof",
        (400, 401, 403), "Consistency proof", "getConsistencyProof", "Ledger",
    ),
    Operation(
        "get", "/v1/ledger/balances", (AUDITOR, ADMIN), None, 200, "balances", (400, 401, 403),
        "Balances over a prefix of the log", "getBalances", "Ledger",
    ),
    Operation(
        "get", "/.well-known/jwks.json", None, None, 200, "jwks", (),
        "Voucher-signing public keys", "getJwks", "Service",
    ),
    Operation("get", "/healthz", None, None, 200, "health", (), "Liveness", "getHealth", "Service"),
    Operation(
        "get", "/readyz", None, None, 200, "health", (503,), "Readiness (includes the database)",
        "getReadiness", "Service",
    ),
]  # fmt: skip

RAW_OPERATIONS: list[RawOperation] = [
    RawOperation(
        "get", "/v1/ledger/checkpoint", None, "text/plain", "The latest signed checkpoint (C2SP)",
        "getCheckpoint", "Ledger",
    ),
    RawOperation(
        "get", "/v1/ledger/checkpoint/key", None, "text/plain", "The checkpoint's verifier key",
        "getCheckpointKey", "Ledger",
    ),
    RawOperation(
        "get", "/v1/ledger/export.csv", (AUDITOR, ADMIN), "text/csv", "Postings as CSV, streamed",
        "exportPostings", "Ledger",
    ),
    RawOperation(
        "get", "/v1/audit/bundle", (AUDITOR, ADMIN), "application/zip", "The audit bundle",
        "getAuditBundle", "Ledger",
    ),
    RawOperation(
        "get", "/problems/{slug}", None, "text/html", "What a problem type means (fr, en)",
        "getProblemPage", "Service",
    ),
    RawOperation(
        "get", "/v1/booklet-batches/{batch_id}/pdf", (ISSUER, ADMIN), "application/pdf",
        "Every booklet of a batch in one PDF, streamed", "printBookletBatchPdf", "Booklets",
    ),
    RawOperation(
        "get", "/v1/booklets/{booklet_id}/pdf", (ISSUER, ADMIN), "application/pdf",
        "The booklet to print: a cover letter, then its vouchers", "printBooklet", "Booklets",
    ),
    RawOperation(
        "get", "/v1/vouchers/{voucher_id}/qr.svg", (ISSUER, ADMIN), "image/svg+xml",
        "A voucher's QR code as SVG", "getVoucherQrSvg", "Booklets",
    ),
    RawOperation(
        "get", "/v1/vouchers/{voucher_id}/qr.png", (ISSUER, ADMIN), "image/png",
        "A voucher's QR code as PNG", "getVoucherQrPng", "Booklets",
    ),
]  # fmt: skip

# What the operations say beyond their summary.
NOTES = {
    "printBookletBatch": "The #APTIC model: booklets printed ahead (at the printer's, or "
    "with `GET /v1/booklet-batches/{batch_id}/pdf`) and handed out later. Their vouchers "
    "are `printed`: they hold their share of the budget from now on (the ledger moves it "
    "from available to outstanding, as for an issued booklet) but every redemption refuses "
    "them (409 `voucher-not-activated`) until the booklet's activation: a stolen box is "
    "worth nothing. No beneficiary yet, so no cap applies here. Their expiry is fixed now "
    "(`voucher_validity_days` from today): their tokens carry it, signed. Codes and tokens "
    "are shown in this answer once; its replays (same Idempotency-Key) give the same ones.",
    "getBookletBatch": "No code and no token: they were shown once, and are on the batch's "
    "PDF. An issuer sees its own organisation's batches.",
    "printBookletBatchPdf": "A cover letter and the vouchers of each booklet in turn, in the "
    "order `GET /v1/booklet-batches/{batch_id}` lists them; the letter names the affiliated "
    "venues nearest to the organisation's location. Sent as it is drawn (chunked), so the "
    "first booklets arrive before the last are read; the same document at every reprint. "
    "Never cached (`Cache-Control: no-store`).",
    "activateBooklet": "The booklet's own organisation only. Its vouchers become `issued` "
    "(redeemable), and the beneficiary's cap counts them from now on: over the cap, 409 "
    "`beneficiary-limit-reached` and nothing changes. A booklet is activated once: again, or "
    "for a booklet issued to its beneficiary, 409 `booklet-already-activated`. Nothing about "
    "the beneficiary enters the ledger (an `activate` entry, which moves no money).",
    "printBooklet": "An A4 cover letter in French (the programme, its funder, how to use the "
    "vouchers, until when, the five affiliated venues nearest to `near`, else to the "
    "organisation's location), then the vouchers, ten to a page, with cut lines. The same "
    "vouchers with the same codes and QR codes at every reprint. `holder` is printed on the "
    "letter, never stored nor logged. An issuer prints its own organisation's booklets. "
    "Never cached (`Cache-Control: no-store`): the vouchers can be redeemed.",
    "getVoucherQrSvg": "The voucher's `qr_content`, level Q, with its quiet zone, as on its "
    "printed booklet. Never cached: it can be redeemed. An issuer reads its own "
    "organisation's vouchers.",
    "getVoucherQrPng": "The voucher's `qr_content`, level Q, with its quiet zone, 8 pixels a "
    "module, as on its printed booklet. Never cached: it can be redeemed. An issuer reads its "
    "own organisation's vouchers.",
    "listPrograms": "An issuer sees the programmes its organisation distributes.",
    "getOrganisation": "An issuer sees its own organisation only.",
    "addOrganisationProgram": "Adding a programme the organisation distributes already "
    "changes nothing (200 all the same).",
    "getPartner": "A partner sees its own venue only.",
    "updatePartner": "Only the members given change. `programs` replaces the venue's "
    "affiliations (a venue taken out of a programme can no longer redeem its vouchers). "
    "`opening_hours` is the week day by day (`mo` … `su`), each day its intervals "
    '`["HH:MM", "HH:MM"]` in order and without overlap; a day absent or `[]` is '
    "closed; `null` forgets the hours. The SIRET never changes.",
    "mapPartners": "Every venue (or a programme's, or those offering a service) as a GeoJSON "
    "FeatureCollection (RFC 7946): a Point per venue, coordinates `[longitude, latitude]`, "
    "properties what a person needs to go there (never the SIRET). Any map library reads "
    "it as it is; cached 5 minutes, readable from any origin (CORS).",
    "updateOrganisation": "Only the members given change; `null` forgets a part of the "
    "location; latitude and longitude go together. The booklet's cover letter lists the "
    "venues nearest to this location when the issuer names no other place.",
    "listBooklets": "An issuer sees its own organisation's booklets, the admin every one. "
    "Booklets are listed without their vouchers: codes and tokens are shown once, at issue. "
    "`beneficiary_ref` finds one person's booklets by the keyed hash of the case reference, "
    "written in any spelling the issuer would (case, spaces, dashes); a reference means "
    "something within its organisation only, so the admin names `organisation_id` with it.",
    "listRedemptions": "A partner sees its own redemptions.",
    "getRedemption": "A partner sees its own redemptions only.",
}

LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}
CURSOR = {"type": "string", "maxLength": 200}
UUID = {"type": "string", "format": "uuid", "maxLength": 36}
# A time as RFC 3339, or a date alone (a day in Europe/Paris).
TIME_OR_DATE = {
    "type": "string",
    "maxLength": 40,
    "pattern": r"^\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$",
}


def _page(what: str) -> list[Parameter]:
    return [
        Parameter("limit", "query", LIMIT, f"At most this many {what} (1 to 500; default 100)."),
        Parameter(
            "cursor", "query", CURSOR, "The `next_cursor` of the previous page; none: the first."
        ),
    ]


def _period(what: str) -> list[Parameter]:
    return [
        Parameter(
            "from", "query", TIME_OR_DATE,
            f"{what} at or after this time: RFC 3339, or a date for the start of that day "
            "(Europe/Paris).",
        ),
        Parameter(
            "to", "query", TIME_OR_DATE,
            f"{what} before this time: RFC 3339, or a date for through the end of that day "
            "(Europe/Paris).",
        ),
    ]  # fmt: skip


PARAMETERS: dict[tuple[str, str], list[Parameter]] = {
    ("get", "/v1/programs"): _page("programmes"),
    ("get", "/v1/organisations"): _page("organisations"),
    ("get", "/v1/partners"): [
        Parameter(
            "near", "query", {"type": "string", "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$"},
            "Where the person is, LAT,LON in degrees (45.8336,1.2532): venues nearest first.",
        ),
        Parameter(
            "radius_km", "query", {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
            "How far from `near` to look, in km (default 20).",
        ),
        Parameter(
            "program_id", "query", {"type": "string", "maxLength": 36},
            "Only the venues affiliated to this programme.",
        ),
        Parameter(
            "service", "query", {"type": "string", "maxLength": 100},
            "Only the venues that offer this service (atelier-ordinateur, …).",
        ),
        Parameter(
            "limit", "query", LIMIT, "At most this many venues (1 to 500; default 50)."
        ),
    ],
    ("get", "/v1/partners.geojson"): [
        Parameter(
            "program_id", "query", {"type": "string", "maxLength": 36},
            "Only the venues affiliated to this programme.",
        ),
        Parameter(
            "service", "query", {"type": "string", "maxLength": 100},
            "Only the venues that offer this service (atelier-ordinateur, …).",
        ),
    ],
    ("get", "/v1/booklets"): [
        Parameter(
            "program_id", "query", {"type": "string", "maxLength": 36},
            "Only the booklets of this programme.",
        ),
        Parameter(
            "organisation_id", "query", {"type": "string", "maxLength": 36},
            "Only the booklets of this organisation (an issuer: its own only).",
        ),
        Parameter(
            "beneficiary_ref", "query", {"type": "string", "minLength": 1, "maxLength": 200},
            "Only this person's booklets: the issuer's case reference, in any spelling "
            "(case, spaces, dashes). The admin names `organisation_id` with it.",
        ),
        *_page("booklets"),
    ],
    ("get", "/v1/redemptions"): [*_period("Redemptions"), *_page("redemptions")],
    ("get", "/v1/booklets/{booklet_id}/pdf"): [
        Parameter(
            "near", "query", {"type": "string", "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$"},
            "Where the holder lives, LAT,LON in degrees (45.8336,1.2532): the letter lists the "
            "affiliated venues nearest to it (default: the organisation's location).",
        ),
        Parameter(
            "holder", "query", {"type": "string", "maxLength": 80},
            "The holder's name, printed on the letter; never stored, never logged (at most 80 "
            "printable characters).",
        ),
    ],
    ("get", "/v1/ledger/entries"): [
        Parameter(
            "start", "query", {"type": "integer", "minimum": 0},
            "The index of the first entry (default 0).",
        ),
        Parameter(
            "limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
            "At most this many entries (1 to 1000; default 100).",
        ),
        Parameter(
            "program_id", "query", {"type": "string", "maxLength": 36},
            "Only the entries of this programme.",
        ),
        Parameter(
            "partner_id", "query", {"type": "string", "maxLength": 36},
            "Only the entries of this partner.",
        ),
        Parameter(
            "kind", "query", {"type": "string", "maxLength": 20},
            "Only the entries of this kind (allocate, issue, redeem, reverse, …).",
        ),
        *_period("Entries"),
    ],
    ("get", "/v1/ledger/proof/inclusion"): [
        Parameter(
            "index", "query", {"type": "integer", "minimum": 0},
            "The index of the entry in the log.", required=True,
        ),
        Parameter(
            "size", "query", {"type": "integer", "minimum": 1},
            "The size of the tree to prove against (default: the latest checkpoint's).",
        ),
    ],
    ("get", "/v1/ledger/proof/consistency"): [
        Parameter(
            "first", "query", {"type": "integer", "minimum": 0},
            "The size of the earlier tree.", required=True,
        ),
        Parameter(
            "second", "query", {"type": "integer", "minimum": 0},
            "The size of the later tree.", required=True,
        ),
    ],
    ("get", "/v1/ledger/balances"): [
        Parameter(
            "size", "query", {"type": "integer", "minimum": 0},
            "Over the first `size` entries (default: the latest checkpoint's size).",
        ),
    ],
}  # fmt: skip

IDEMPOTENCY_KEY = Parameter(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "Names this request: its retries, with the same key and body, answer what the first "
    "success answered (1 to 255 printable ASCII; kept at least 24 h).",
    required=True,
)
IDEMPOTENT = {
    ("post", "/v1/booklets"),
    ("post", "/v1/redemptions"),
    ("post", "/v1/booklet-batches"),
}

PATH_PARAMETERS = {
    "program_id": "The programme's id.",
    "organisation_id": "The organisation's id.",
    "partner_id": "The partner venue's id.",
    "key_id": "The API key's id (never the key itself).",
    "booklet_id": "The booklet's id.",
    "batch_id": "The booklet batch's id.",
    "redemption_id": "The redemption's id.",
    "entry_id": "The ledger entry's (transfer's) id.",
    "slug": "The problem type, the last part of a problem's `type`.",
    "voucher_id": "The voucher's id.",
}
