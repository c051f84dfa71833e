"""The lifecycle operations of the OpenAPI document, with their examples (see areas.py): lost
booklets (cancellation, reissue), vouchers expiring soon, the closing statement, allocations."""

from __future__ import annotations

from voucher_service.web.openapi.areas import Area
from voucher_service.web.openapi.examples import (
    BOOKLET,
    CODE,
    ORGANISATION,
    PROGRAM,
    VOUCHER,
    VOUCHER_JWS,
    Examples,
)
from voucher_service.web.openapi.operations import (
    ADMIN,
    AUDITOR,
    ISSUER,
    Operation,
    Parameter,
    RawOperation,
)

REPLACEMENT = "8b2d4f6a-1c3e-4a5b-9d7f-2e4a6c8b0d13"
ALLOCATION = "3e5a7c9b-2d4f-4b6a-8c1e-5f7a9b2d4c60"
CANCELLED_VOUCHER = "1f3b5d7e-9a2c-4e6b-8d0f-3a5c7e9b1d24"
OTHER_BOOKLET = "6a8c0e2b-4d6f-4a1c-9e3b-5d7f9a1c3e57"
SECOND_ORGANISATION = "2c4e6a8b-0d2f-4b4d-8a6c-7e9b1d3f5a79"
REISSUE_ENTRY = "9c1e3a5d-7f9b-4d2c-a4e6-8b0d2f4a6c35"
ALLOCATE_LEAF = "r3Yk9ZQm1b2C4d6E8f0G1h3J5k7L9m1N3p5Q7r9S1t0="
REISSUE_LEAF = "Xw2v4T6s8R0q2P4o6N8m0L2k4J6i8H0g2F4e6D8c0B0="
REASON = "carnet perdu, signalé par la bénéficiaire le 3 décembre"

CANCELLED = {
    "id": BOOKLET,
    "program_id": PROGRAM,
    "organisation_id": ORGANISATION,
    "issued_at": "2026-11-27T10:00:00Z",
    "cancelled_at": "2026-12-03T15:20:00Z",
    "cancellation_reason": REASON,
    "replaces": None,
    "replaced_by": None,
    "vouchers": [
        {
            "id": VOUCHER,
            "status": "redeemed",
            "value_cents": 1000,
            "currency": "EUR",
            "expires_at": "2027-11-27T10:00:00Z",
            "redeemed_at": "2026-11-28T10:42:00Z",
        },
        {
            "id": CANCELLED_VOUCHER,
            "status": "cancelled",
            "value_cents": 1000,
            "currency": "EUR",
            "expires_at": "2027-11-27T10:00:00Z",
            "redeemed_at": None,
        },
    ],
}
REISSUED = {
    "id": REPLACEMENT,
    "program_id": PROGRAM,
    "organisation_id": ORGANISATION,
    "issued_at": "2026-12-03T15:25:00Z",
    "ledger_entry": {"id": REISSUE_ENTRY, "leaf_hash": REISSUE_LEAF},
    "replaces": {"id": BOOKLET},
    "vouchers": [
        {
            "id": VOUCHER,
            "position": 1,
            "code": CODE,
            "token": VOUCHER_JWS,
            "qr_content": f"https://pass.example.fr/r#{VOUCHER_JWS}",
            "value_cents": 1000,
            "currency": "EUR",
            "expires_at": "2027-12-03T15:25:00Z",
        }
    ],
}
EXPIRING = {
    "program_id": PROGRAM,
    "at": "2027-10-28T08:00:00Z",
    "within_days": 30,
    "until": "2027-11-27T08:00:00Z",
    "count": 12,
    "value_cents": 12_000,
    "organisations": [
        {
            "organisation_id": ORGANISATION,
            "name": "CCAS de Limoges",
            "count": 9,
            "value_cents": 9_000,
            "earliest_expires_at": "2027-11-02T09:15:00Z",
            "latest_expires_at": "2027-11-20T16:40:00Z",
            "booklets": [
                {
                    "booklet_id": BOOKLET,
                    "count": 7,
                    "value_cents": 7_000,
                    "earliest_expires_at": "2027-11-02T09:15:00Z",
                    "latest_expires_at": "2027-11-02T09:15:00Z",
                },
                {
                    "booklet_id": OTHER_BOOKLET,
                    "count": 2,
                    "value_cents": 2_000,
                    "earliest_expires_at": "2027-11-20T16:40:00Z",
                    "latest_expires_at": "2027-11-20T16:40:00Z",
                },
            ],
        },
        {
            "organisation_id": SECOND_ORGANISATION,
            "name": "Mairie de Saint-Junien",
            "count": 3,
            "value_cents": 3_000,
            "earliest_expires_at": "2027-11-09T13:00:00Z",
            "latest_expires_at": "2027-11-09T13:00:00Z",
            "booklets": [
                {
                    "booklet_id": REPLACEMENT,
                    "count": 3,
                    "value_cents": 3_000,
                    "earliest_expires_at": "2027-11-09T13:00:00Z",
                    "latest_expires_at": "2027-11-09T13:00:00Z",
                }
            ],
        },
    ],
}
CLOSING = {
    "program": {
        "id": PROGRAM,
        "code": "HV87",
        "name": "Pass Numérique Haute-Vienne",
        "funder": "Département de la Haute-Vienne",
        "currency": "EUR",
        "valid_from": "2026-11-30T23:00:00Z",
        "valid_until": "2027-12-31T23:00:00Z",
    },
    "at": "2028-01-15T09:00:00Z",
    "allocated": 5_500_000,
    "issued": 4_200_000,
    "redeemed": 3_100_000,
    "settled": 3_000_000,
    "paid": 2_900_000,
    "expired": 950_000,
    "cancelled": 30_000,
    "outstanding": 120_000,
    "available": 2_280_000,
    "unused": 2_400_000,
    "unpaid": 200_000,
}

AREA = Area(
    operations=[
        Operation(
            "post", "/v1/booklets/{booklet_id}/cancellation", (ISSUER, ADMIN),
            "booklet-cancellation.request", 200, "booklet", (400, 401, 403, 404, 409),
            "Cancel a lost or stolen booklet", "cancelBooklet", "Booklets",
        ),
        Operation(
            "post", "/v1/booklets/{booklet_id}/reissue", (ISSUER,), None, 201,
            "booklet-reissued", (400, 401, 403, 404, 409, 422),
            "Reissue a cancelled booklet to the same beneficiary", "reissueBooklet", "Booklets",
        ),
        Operation(
            "get", "/v1/programs/{program_id}/expiring", (ADMIN, AUDITOR, ISSUER), None, 200,
            "expiring-vouchers", (400, 401, 403, 404),
            "Vouchers that expire soon, by organisation and booklet", "listExpiringVouchers",
            "Programmes",
        ),
        Operation(
            "get", "/v1/programs/{program_id}/closing-statement", (ADMIN, AUDITOR), None, 200,
            "closing-statement", (401, 403, 404),
            "The programme's closing statement, from the ledger", "getClosingStatement",
            "Programmes",
        ),
        Operation(
            "post", "/v1/programs/{program_id}/allocations", (ADMIN,),
            "allocation-create.request", 201, "allocation", (400, 401, 403, 404),
            "Allocate more budget to a programme", "allocateBudget", "Programmes",
        ),
    ],
    raw_operations=[
        RawOperation(
            "get", "/v1/programs/{program_id}/closing-statement.pdf", (ADMIN, AUDITOR),
            "application/pdf", "The closing statement as a one-page PDF, in French",
            "printClosingStatement", "Programmes",
        ),
    ],
    parameters={
        ("get", "/v1/programs/{program_id}/expiring"): [
            Parameter(
                "within_days", "query", {"type": "integer", "minimum": 1, "maximum": 366},
                "How many days ahead to look, 1 to 366 (default 30): 30 and 15 for the "
                "J-30 and J-15 reminders.",
            ),
        ],
    },
    idempotent={("post", "/v1/booklets/{booklet_id}/reissue")},
    notes={
        "cancelBooklet": "Every voucher of the booklet not yet redeemed (`issued`, or `printed` "
        "for a pre-printed booklet never handed out) becomes `cancelled` at once, and one "
        "`cancel` ledger entry gives their value back to the programme's available budget. "
        "Redeemed vouchers stay redeemed; a redemption racing the cancellation either wins "
        "or meets 410 `voucher-revoked`, never both. A booklet is cancelled once: again, 409 "
        "`conflict`, and nothing changes. An issuer cancels its own organisation's booklets "
        "(another's: 404).",
        "reissueBooklet": "A new booklet for the cancelled booklet's beneficiary (the case "
        "reference is not needed: the booklet keeps its keyed hash), with as many vouchers as "
        "the cancellation withdrew, under the rules of issuance (budget, the programme's "
        "dates, the cap, which ignores cancelled vouchers: the replacement does not count "
        "twice). Once per booklet; a booklet not cancelled, already reissued, whose every "
        "voucher was redeemed, or pre-printed and never handed out (no beneficiary): 409 "
        "`conflict`. Its view names the booklet it `replaces`; the old one's, `replaced_by`. "
        "Codes and tokens are shown in this answer once; its replays (same "
        "Idempotency-Key) give the same ones.",
        "listExpiringVouchers": "The vouchers still redeemable (`issued`) that expire after now "
        "and within `within_days` days, grouped by organisation and booklet, soonest first. "
        "An issuer sees its own organisation's booklets, of a programme it distributes.",
        "getClosingStatement": "Read from the ledger's balances, so that it agrees with the "
        "audit to the cent. `unused` is what the funder gets credit for: allocated − "
        "redeemed, which is `available` (never issued, or given back by expiry and "
        "cancellation) + `outstanding` (still in circulation: back to the budget as it "
        "expires). The figures add up: allocated = redeemed + unused, unused = available + "
        "outstanding, redeemed = paid + unpaid, outstanding = issued − redeemed − expired − "
        "cancelled.",
        "printClosingStatement": "The same figures as `GET "
        "/v1/programs/{program_id}/closing-statement`, on one A4 page in French, with how "
        "they add up.",
        "allocateBudget": "More budget, as an `allocate` ledger entry from the programme's "
        "funder carrying `reference` (a decision's or an order's number): issuance can spend "
        "it at once. The programme's `budget_cents` becomes everything allocated to it. At "
        "most 10^13 cents at a time, and 10^15 in all.",
    },
    examples={
        "cancelBooklet": Examples(
            request={"lost": {"reason": REASON}, "stolen": {"reason": "vol de sac"}},
            response={"cancelled": CANCELLED},
        ),
        "reissueBooklet": Examples(response={"reissued": REISSUED}),
        "listExpiringVouchers": Examples(response={"within 30 days": EXPIRING}),
        "getClosingStatement": Examples(response={"closed": CLOSING}),
        "allocateBudget": Examples(
            request={
                "more budget": {"amount_cents": 500_000, "reference": "Délibération CP-2027-114"}
            },
            response={
                "allocated": {
                    "id": ALLOCATION,
                    "program_id": PROGRAM,
                    "amount_cents": 500_000,
                    "reference": "Délibération CP-2027-114",
                    "funder": "Département de la Haute-Vienne",
                    "allocated_at": "2027-03-01T09:00:00Z",
                    "budget_cents": 5_500_000,
                    "available_cents": 1_890_000,
                    "ledger_entry": {"id": ALLOCATION, "leaf_hash": ALLOCATE_LEAF},
                }
            },
        ),
    },
    problems={
        ("cancelBooklet", 409): (
            "conflict",
            "Conflict",
            "this booklet was cancelled at 2026-12-03T15:20:00Z",
        ),
        ("reissueBooklet", 409): (
            "conflict",
            "Conflict",
            "only a cancelled booklet can be reissued: cancel it first",
        ),
        ("reissueBooklet", 404): ("not-found", "Not found", f"no booklet {BOOKLET}"),
        ("cancelBooklet", 404): ("not-found", "Not found", f"no booklet {BOOKLET}"),
    },
)  # fmt: skip
