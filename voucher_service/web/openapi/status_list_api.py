"""The status list operations of the OpenAPI document, with their examples (see areas.py)."""

from __future__ import annotations

from voucher_service.web.openapi.areas import Area
from voucher_service.web.openapi.operations import RawOperation

# A list of 131,072 entries in which four vouchers are not `issued`, as signed on
# 2026-11-27T10:42:00Z (the signature is that of a throwaway key).
SIGNED_LIST_EXAMPLE = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IlNEeWNQZTR2IiwidHlwIjoic3RhdHVzbGlzdCtqd3QifQ"
    ".eyJzdWIiOiJodHRwczovL3Bhc3MuZXhhbXBsZS5mci92MS9zdGF0dXMtbGlzdHMvSFY4NyIsImlhdCI6MTc5"
    "NTc3NjEyMCwiZXhwIjoxNzk1ODYyNTIwLCJ0dGwiOjMwMCwic3RhdHVzX2xpc3QiOnsiYml0cyI6MiwibHN0Ij"
    "oiZU5ydDBERU5BRUFJd0VEWWZrQVVfbFVoNEExQWNqZDJiRlFBQUFBQUFBQUFBQURBZWM4Q0FBQUFBQUFBQUFB"
    "QUFBRFdhd3NBQUFBQUFBQUFBQUFBVnNtdkRNVWpBRlkifX0"
    ".mI5kDHQk-kVPBZ208SCWqk7b7AHFUr_9ih75g0Mn3dGcJ24qTd6mx4TgoNlTk8zO1fbJ2RaLxbeHEshhsHoWCA"
)

AREA = Area(
    raw_operations=[
        RawOperation(
            "get",
            "/v1/status-lists/{program_code}",
            None,
            "application/statuslist+jwt",
            "A programme's Token Status List (signed)",
            "getStatusList",
            "Vouchers",
        )
    ],
    path_parameters={
        "program_code": "The programme's code, as vouchers carry it in their claim `p`.",
    },
    notes={
        "getStatusList": "The Token Status List of draft-ietf-oauth-status-list: a JWT "
        "(header `typ: statuslist+jwt`, ES256, `kid` a key of `/.well-known/jwks.json`) "
        "whose claims are `sub` (this URL), `iat`, `exp` (a day later), `ttl` (seconds a "
        "scanner may keep it) and `status_list: {bits: 2, lst}`. `lst` is the base64url "
        "(unpadded) of the ZLIB-deflated list, two bits a voucher, the lowest bits first: "
        "voucher `s` (its token's claim) is bits `2 (s mod 4)` and `2 (s mod 4) + 1` of byte "
        "`s div 4`. Values: 0 valid (`issued`), 1 invalid (`cancelled`, `expired`), 2 "
        "suspended (`printed`, not yet handed out), 3 redeemed. Indices are drawn at random; a "
        "list has at least 131,072 entries and doubles when half full. A scanner that is "
        "offline refuses what the list it last fetched says is not valid. Built at most every "
        "30 seconds; `Cache-Control: public, max-age=<ttl>`, and a weak `ETag`: "
        "`If-None-Match` answers 304 while the list is unchanged. Tokens signed before status "
        "lists carry no `s`: the list does not speak for them. An unknown programme code: 404.",
    },
    raw_examples={"getStatusList": SIGNED_LIST_EXAMPLE},
    problems={("getStatusList", 404): ("not-found", "Not found", "no programme XY99")},
)
