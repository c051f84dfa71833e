"""A programme's status list as the public endpoint serves it: built, signed, kept briefly.

A scanner asks for the list often, and many scanners at once after a sync time; a list of a
million vouchers takes a second to build. Each process keeps the list it signed for
CACHE_SECONDS (by the service's clock, so that tests can move past it), and builds it once
for a burst of requests. A list is at most that much older than the vouchers it describes;
a redemption itself never waits on it, nor writes anything for it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import NotFound
from voucher_service.programs.models import Program
from voucher_service.statuslists.lists import (
    TTL_SECONDS,
    encode_lst,
    read_list,
    sign_list,
)

CACHE_SECONDS = 30
# An ETag names the list's bytes within a period of this length: a 304 then never keeps a
# scanner on a token older than this (plus CACHE_SECONDS), far from its `exp`. Every process
# gives the same ETag to the same list in the same period, though their signatures differ.
ETAG_PERIOD_SECONDS = 3600
MAX_CODE_LENGTH = 16  # as programs.code
PROGRAM_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]*")  # as schemas/program-create.request.json


@dataclass(frozen=True)
class SignedList:
    """The Status List Token, its (weak) ETag, how long it may be kept, and when it was built."""

    token: str
    etag: str
    ttl: int
    built_at: datetime


_cache: dict[tuple[str, str, str], SignedList] = {}
_building = threading.Lock()  # one build at a time: a burst of scanners waits for it


def status_list(
    database: Database, ctx: ServiceContext, program_code: str, now: datetime
) -> SignedList:
    """The programme's signed status list, from the cache while it is fresh; 404 for a
    programme we do not have."""
    program_id = _program_id(database, ctx, program_code)
    key = ctx.keys.voucher.current
    subject = status_list_url(ctx, program_code)
    slot = (program_id, key.kid, subject)  # a new key or address: a new list
    cached = _fresh(slot, now)
    if cached is not None:
        return cached
    with _building:
        cached = _fresh(slot, now)  # built by the request this one waited for
        if cached is not None:
            return cached
        with database.read() as session:
            packed = read_list(session, program_id)
        period = int(now.timestamp()) // ETAG_PERIOD_SECONDS
        built = SignedList(
            token=sign_list(key, subject, encode_lst(packed), now),
            etag=f"{packed.digest}.{period}",
            ttl=TTL_SECONDS,
            built_at=now,
        )
        _cache[slot] = built
        return built


def status_list_url(ctx: ServiceContext, program_code: str) -> str:
    """Where the programme's list lives: its token's `sub`."""
    return f"{ctx.settings.public_base_url}/v1/status-lists/{program_code}"


def _fresh(slot: tuple[str, str, str], now: datetime) -> SignedList | None:
    """The list kept for `slot`, unless it is CACHE_SECONDS old (a request that read the clock
    just before the one that built it, and waited for it, takes it too)."""
    cached = _cache.get(slot)
    if cached is None or abs(now - cached.built_at) >= timedelta(seconds=CACHE_SECONDS):
        return None
    return cached


def _program_id(database: Database, ctx: ServiceContext, program_code: str) -> str:
    def look_up(code: str) -> str | None:
        with database.read() as session:
            return session.scalar(select(Program.id).where(Program.code == code))

    found = None
    # Only what could be a programme's code reaches the database: PostgreSQL refuses a NUL
    # character in a text parameter outright (a 500), and nothing else is anyone's code.
    if 0 < len(program_code) <= MAX_CODE_LENGTH and PROGRAM_CODE.fullmatch(program_code):
        found = ctx.program_ids.get(program_code, look_up)
    if found is None:
        raise NotFound(f"no programme {program_code}")
    return found
