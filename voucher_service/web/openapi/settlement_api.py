"""The settlement operations of the OpenAPI document, with their examples (see areas.py)."""

from __future__ import annotations

from typing import Any

from voucher_service.web.openapi.areas import Area
from voucher_service.web.openapi.examples import PARTNER, PROGRAM, Examples
from voucher_service.web.openapi.operations import (
    ADMIN,
    AUDITOR,
    Operation,
    Parameter,
    RawOperation,
)

PARTNER_ROLE = "partner"  # (examples.PARTNER is a partner's id)

SETTLEMENT = "3b9e7c51-0d2a-4f6e-9a1c-5e7b3d9f1a24"
OTHER_PARTNER = "1c3e5a7b-9d2f-4b6a-8c1e-3f5a7c9e2b46"
TAG = "Settlements"

MINE: dict[str, Any] = {
    "partner_id": PARTNER,
    "count": 42,
    "amount_cents": 42_000,
    "status": "in_payment",
    "closed_at": None,
    "reason": None,
}
THEIRS: dict[str, Any] = {
    "partner_id": OTHER_PARTNER,
    "count": 31,
    "amount_cents": 31_000,
    "status": "in_payment",
    "closed_at": None,
    "reason": None,
}
SETTLED: dict[str, Any] = {
    "id": SETTLEMENT,
    "program_id": PROGRAM,
    "period": "2026-11",
    "status": "in_payment",
    "total_cents": 73_000,
    "currency": "EUR",
    "cutoff": "2026-11-30T23:00:00Z",
    "created_at": "2026-12-02T08:00:00Z",
    "payment_file": None,
    "statements": [MINE, THEIRS],
}
PAYMENT_FILE = {
    "msg_id": "VS3b9e7c510d2a4f6e9a1c5e7b3d9f1a24",
    "created_at": "2026-12-02T08:05:00Z",
}
ANSWERED = {
    **SETTLED,
    "status": "partly_paid",
    "payment_file": PAYMENT_FILE,
    "statements": [
        {**MINE, "status": "paid", "closed_at": "2026-12-05T09:00:00Z"},
        {
            **THEIRS,
            "status": "rejected",
            "closed_at": "2026-12-05T09:00:00Z",
            "reason": "AC04: compte clôturé",
        },
    ],
}
AS_PARTNER = {**SETTLED, "total_cents": 42_000, "statements": [MINE]}
MASKED = "FR76 **** **** 0189"

PAIN = (
    '<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
    'pain.001.001.09"><CstmrCdtTrfInitn><GrpHdr><MsgId>VS3b9e7c510d2a4f6e9a1c5e7b3d9f1a24'
    "</MsgId><CreDtTm>2026-12-02T09:05:00+01:00</CreDtTm><NbOfTxs>2</NbOfTxs><CtrlSum>730.00"
    '</CtrlSum>…</GrpHdr><PmtInf>…<CdtTrfTxInf>…<InstdAmt Ccy="EUR">420.00</InstdAmt>…'
    "</CdtTrfTxInf>…</PmtInf></CstmrCdtTrfInitn></Document>"
)
CSV = (
    "Date (heure de Paris);Chèque;Service;Montant\r\n"
    "03/11/2026 10:42;ca6e38c4-a1a9-5002-905a-d4b64a11a80e;Atelier ordinateur;10,00\u00a0€\r\n"
    "Total;1 chèque;;10,00\u00a0€\r\n"
)
ANSWER_PROBLEMS = (400, 401, 403, 404, 409)

AREA = Area(
    operations=[
        Operation(
            "put", "/v1/partners/{partner_id}/bank-account", (ADMIN,), "bank-account.request",
            200, "bank-account", (400, 401, 403, 404),
            "Set the bank account a partner is paid to", "setPartnerBankAccount", TAG,
        ),
        Operation(
            "put", "/v1/programs/{program_id}/debtor-account", (ADMIN,),
            "debtor-account.request", 200, "debtor-account", (400, 401, 403, 404),
            "Set the funder's account a programme pays from", "setProgramDebtorAccount", TAG,
        ),
        Operation(
            "post", "/v1/settlements", (ADMIN,), "settlement-create.request", 201, "settlement",
            (400, 401, 403, 404, 409, 422), "Settle a programme's month: a statement a partner",
            "createSettlement", TAG,
        ),
        Operation(
            "get", "/v1/settlements", (ADMIN, AUDITOR, PARTNER_ROLE), None, 200,
            "settlement-list", (400, 401, 403), "Settlements, newest first", "listSettlements",
            TAG,
        ),
        Operation(
            "get", "/v1/settlements/{settlement_id}", (ADMIN, AUDITOR, PARTNER_ROLE), None, 200,
            "settlement", (401, 403, 404), "A settlement and its statements", "getSettlement",
            TAG,
        ),
        Operation(
            "post", "/v1/settlements/{settlement_id}/confirm", (ADMIN,),
            "settlement-answer.request", 200, "settlement", ANSWER_PROBLEMS,
            "The bank paid: statements paid", "confirmSettlement", TAG,
        ),
        Operation(
            "post", "/v1/settlements/{settlement_id}/reject", (ADMIN,),
            "settlement-answer.request", 200, "settlement", ANSWER_PROBLEMS,
            "The bank rejected: statements payable again", "rejectSettlement", TAG,
        ),
    ],
    raw_operations=[
        RawOperation(
            "get", "/v1/settlements/{settlement_id}/statements/{partner_id}.csv",
            (PARTNER_ROLE, ADMIN, AUDITOR), "text/csv", "A partner's statement as CSV",
            "getStatementCsv", TAG,
        ),
        RawOperation(
            "get", "/v1/settlements/{settlement_id}/statements/{partner_id}.pdf",
            (PARTNER_ROLE, ADMIN, AUDITOR), "application/pdf", "A partner's statement as PDF",
            "getStatementPdf", TAG,
        ),
        RawOperation(
            "post", "/v1/settlements/{settlement_id}/payment-file", (ADMIN,), "application/xml",
            "The SEPA credit transfer file (pain.001.001.09), made once", "getPaymentFile", TAG,
        ),
    ],
    parameters={
        ("get", "/v1/settlements"): [
            Parameter(
                "program_id", "query", {"type": "string", "maxLength": 36},
                "Only the settlements of this programme.",
            ),
        ],
    },
    path_parameters={"settlement_id": "The settlement's id."},
    idempotent={("post", "/v1/settlements")},
    notes={
        "setPartnerBankAccount": "The IBAN is checked (mod 97, the country's length and "
        "format) and the BIC too, with schwifty: a bad one is 400 `invalid-request` naming "
        "`/iban` or `/bic`. Spaces and case do not matter. Stored whole, shown masked "
        "(`FR76 **** **** 0189`) here and everywhere. A payment file already made keeps the "
        "account it named.",
        "setProgramDebtorAccount": "The account the programme's payment files debit: its "
        "name, IBAN and BIC, checked as a partner's are; shown masked.",
        "createSettlement": "Every redemption of the programme whose time falls in the month "
        "(Europe/Paris: 00:30 on 1 December in Paris is December), not reversed and in no "
        "live statement, goes into payment: one statement a partner (a `settle` transfer from "
        "its payable to the programme's in_payment account). Only a month that is over: "
        "before, 409 `settlement-not-allowed`. Running a month again settles nothing twice: "
        "it takes only what is new (a redemption whose payment was rejected, one that "
        "committed late), or nothing (`status: empty`, no statement, 201 all the same). A "
        "database constraint keeps a redemption in one live statement at most; a settled "
        "redemption cannot be reversed (409 `reversal-not-allowed`).",
        "listSettlements": "A partner sees the settlements holding a statement of its own, "
        "with that statement only.",
        "getSettlement": "A partner sees only its own statement (and `total_cents` is its "
        "amount); a settlement without one of its statements is 404 to it.",
        "confirmSettlement": "The bank paid the statements of `partner_ids` (all those still in "
        "payment that the payment file orders paid when absent, or when there is no body): "
        "each becomes `paid` (a `pay` transfer to the partner's paid account). Only a "
        "statement the settlement's payment file orders can be confirmed: before the file, "
        "or for a statement left out of it (its partner had no bank account then), 409 "
        "`settlement-not-allowed` (such a statement can be rejected, and settled again). A "
        "statement is answered once: confirming or rejecting one paid or rejected is 409 "
        "`settlement-not-allowed`. A partner named without a statement here: 400. The "
        "settlement's status follows its statements.",
        "rejectSettlement": "The bank rejected the statements of `partner_ids` (all those still "
        "in payment when absent): each becomes `rejected` (a `reject` transfer back to the "
        "partner's payable) and its redemptions leave it: they stand, payable again, and a "
        "later settlement of the month takes them anew (for the rules they are not settled). "
        "A paid statement cannot be rejected (409 `settlement-not-allowed`).",
        "getStatementCsv": "One line a redemption (its day and hour in Paris, the voucher, the "
        "service, the amount) and the total, in French: `;` between fields, amounts as "
        "`10,00 €`, UTF-8 with a byte-order mark. A partner reads its own statements.",
        "getStatementPdf": "The statement as an A4 PDF in French: the partner, the programme, "
        "the month, its state, one line a redemption and the total. A partner reads its own.",
        "getPaymentFile": "One credit transfer a statement in payment whose partner has a bank "
        "account, from the programme's debtor account (none: 409 `settlement-not-allowed`); "
        "amounts written from cents. Made at the first call and kept with its `MsgId`: every "
        "later call answers the same bytes. Validated against the ISO 20022 XSD before it is "
        "kept.",
    },
    examples={
        "setPartnerBankAccount": Examples(
            request={
                "account": {
                    "holder": "Médiathèque francophone",
                    "iban": "FR76 3000 6000 0112 3456 7890 189",
                    "bic": "AGRIFRPPXXX",
                }
            },
            response={
                "masked": {
                    "partner_id": PARTNER,
                    "holder": "Médiathèque francophone",
                    "iban": MASKED,
                    "bic": "AGRIFRPPXXX",
                }
            },
        ),
        "setProgramDebtorAccount": Examples(
            request={
                "account": {
                    "name": "Département de la Haute-Vienne",
                    "iban": "FR76 3000 6000 0112 3456 7890 189",
                    "bic": "AGRIFRPPXXX",
                }
            },
            response={
                "masked": {
                    "program_id": PROGRAM,
                    "name": "Département de la Haute-Vienne",
                    "iban": MASKED,
                    "bic": "AGRIFRPPXXX",
                }
            },
        ),
        "createSettlement": Examples(
            request={"november": {"program_id": PROGRAM, "period": "2026-11"}},
            response={
                "settled": SETTLED,
                "nothing new": {**SETTLED, "status": "empty", "total_cents": 0, "statements": []},
            },
        ),
        "listSettlements": Examples(response={"settlements": {"items": [ANSWERED]}}),
        "getSettlement": Examples(
            response={"admin": {**SETTLED, "payment_file": PAYMENT_FILE}, "partner": AS_PARTNER}
        ),
        "confirmSettlement": Examples(
            request={"one partner": {"partner_ids": [PARTNER]}, "every one": {}},
            response={"answered": ANSWERED},
        ),
        "rejectSettlement": Examples(
            request={
                "one partner": {"partner_ids": [OTHER_PARTNER], "reason": "AC04: compte clôturé"}
            },
            response={"answered": ANSWERED},
        ),
    },
    raw_examples={"getStatementCsv": CSV, "getPaymentFile": PAIN},
    problems={
        ("createSettlement", 409): (
            "settlement-not-allowed",
            "Settlement not allowed",
            "2026-12 is not over: it can be settled from 2026-12-31T23:00:00Z",
        ),
        ("confirmSettlement", 409): (
            "settlement-not-allowed",
            "Settlement not allowed",
            "the statement of partner 9e4b1d7a-2c6f-4a3e-8b5d-1f7c9e3a5b20 was paid already: "
            "a statement is answered once",
        ),
        ("rejectSettlement", 409): (
            "settlement-not-allowed",
            "Settlement not allowed",
            "the statement of partner 9e4b1d7a-2c6f-4a3e-8b5d-1f7c9e3a5b20 was paid already: "
            "a statement is answered once",
        ),
    },
)  # fmt: skip
