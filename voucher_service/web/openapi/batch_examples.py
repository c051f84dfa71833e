"""Examples of the pre-printed batches' requests and answers (see examples.py), each valid
against its schema (tested)."""

from __future__ import annotations

from voucher_service.web.openapi.examples import (
    BOOKLET,
    EXAMPLES,
    ORGANISATION,
    PROGRAM,
    VOUCHER,
    Examples,
)

BATCH = "4d7e1a9c-3b5f-4c2d-8e6a-0f9b2c4d6e81"

BATCH_EXAMPLES: dict[str, Examples] = {
    "printBookletBatch": Examples(
        request={
            "box": {"program_id": PROGRAM, "count": 50},
            "smaller booklets": {"program_id": PROGRAM, "count": 20, "size": 5},
        },
        response={
            "printed": {
                "id": BATCH,
                "program_id": PROGRAM,
                "organisation_id": ORGANISATION,
                "created_at": "2026-11-27T10:00:00Z",
                "count": 1,
                "size": 1,
                "booklets": [EXAMPLES["issueBooklet"].response["issued"]],
            }
        },
    ),
    "getBookletBatch": Examples(
        response={
            "batch": {
                "id": BATCH,
                "program_id": PROGRAM,
                "organisation_id": ORGANISATION,
                "created_at": "2026-11-27T10:00:00Z",
                "count": 2,
                "size": 10,
                "booklets": [
                    {
                        "id": BOOKLET,
                        "activated_at": "2026-12-03T14:20:00Z",
                        "statuses": {
                            "printed": 0,
                            "issued": 9,
                            "redeemed": 1,
                            "cancelled": 0,
                            "expired": 0,
                        },
                    },
                    {
                        "id": "f1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b",
                        "activated_at": None,
                        "statuses": {
                            "printed": 10,
                            "issued": 0,
                            "redeemed": 0,
                            "cancelled": 0,
                            "expired": 0,
                        },
                    },
                ],
            }
        },
    ),
    "activateBooklet": Examples(
        request={"handed out": {"beneficiary_ref": "DOSSIER-2026-0042"}},
        response={
            "activated": {
                "id": BOOKLET,
                "program_id": PROGRAM,
                "organisation_id": ORGANISATION,
                "issued_at": "2026-11-27T10:00:00Z",
                "batch_id": BATCH,
                "activated_at": "2026-12-03T14:20:00Z",
                "vouchers": [
                    {
                        "id": VOUCHER,
                        "status": "issued",
                        "value_cents": 1000,
                        "currency": "EUR",
                        "expires_at": "2027-11-27T10:00:00Z",
                        "redeemed_at": None,
                    }
                ],
            }
        },
    ),
}
