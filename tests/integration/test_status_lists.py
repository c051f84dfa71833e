"""Token Status Lists through HTTP: every voucher's token names its place (`s`) in its
programme's list, drawn at random; the list is signed under a key of the JWKS, cached with an
ETag, and a reader written here from draft-ietf-oauth-status-list (not the service's code)
reads each voucher's status out of it."""

from __future__ import annotations

import base64
import json
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import jwt
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from tests.conftest import Clock, World, make_world
from voucher_service.clock import now as clock_now
from voucher_service.db import Database
from voucher_service.migrate import upgrade
from voucher_service.programs.models import Program
from voucher_service.statuslists import api as statuslists_api
from voucher_service.statuslists.allocation import IndicesExhausted, allocate_indices
from voucher_service.statuslists.lists import read_list
from voucher_service.vouchers.expiry import expire_vouchers
from voucher_service.vouchers.issuance import lock_program
from voucher_service.vouchers.models import Voucher
from voucher_service.vouchers.printed import reprinted_token

T = TypeVar("T")
MEDIA_TYPE = "application/statuslist+jwt"
# The draft's values, as CONTRACT §9 maps our statuses onto them.
VALID, INVALID, SUSPENDED, REDEEMED = 0, 1, 2, 3
EXPECTED = {
    "issued": VALID,
    "cancelled": INVALID,
    "expired": INVALID,
    "printed": SUSPENDED,
    "redeemed": REDEEMED,
}


# A reader of Status List Tokens, from the draft alone


def read_status_list(
    token: str, jwks: dict[str, Any], url: str, now: int
) -> tuple[dict[str, Any], bytes]:
    """Verify the Status List Token against the JWKS (PyJWT) and at `now` (the test's clock,
    not PyJWT's), and return its claims and its list, inflated (the draft: base64url, then
    ZLIB)."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "statuslist+jwt" and header["alg"] == "ES256"
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        options={
            "require": ["sub", "iat", "exp", "ttl", "status_list"],
            "verify_iat": False,
            "verify_exp": False,
        },
    )
    assert claims["iat"] <= now < claims["exp"]
    assert claims["sub"] == url
    lst = claims["status_list"]["lst"]
    assert "=" not in lst
    return claims, zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))


def status_at(data: bytes, bits: int, index: int) -> int:
    """As the draft lays the list out: each byte holds 8/bits statuses, the first of them in
    its least significant bits."""
    per_byte = 8 // bits
    return (data[index // per_byte] >> (bits * (index % per_byte))) & ((1 << bits) - 1)


def claim_s(token: str) -> int:
    """The `s` a voucher token carries (read, not verified: the service verifies tokens)."""
    payload = token.split(".")[1]
    index: int = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["s"]
    return index


# Helpers


def fetch_list(world: World, code: str = "HV87", etag: str | None = None) -> Any:
    headers = {} if etag is None else {"If-None-Match": etag}
    return world.client.get(f"/v1/status-lists/{code}", headers=headers)


def decoded(world: World, code: str = "HV87") -> tuple[dict[str, Any], bytes]:
    response = fetch_list(world, code)
    assert response.status_code == 200, response.data
    assert response.mimetype == MEDIA_TYPE
    jwks = world.client.get("/.well-known/jwks.json").json
    url = f"https://pass.example.fr/v1/status-lists/{code}"
    return read_status_list(response.text, jwks, url, int(clock_now().timestamp()))


def database_of(world: World) -> Database:
    database: Database = world.client.application.extensions["voucher_service"].database
    return database


def statuses(world: World) -> dict[str, str]:
    with database_of(world).read() as session:
        return {row.id: row.status for row in session.execute(select(Voucher.id, Voucher.status))}


def indices_of(world: World) -> list[int]:
    with database_of(world).read() as session:
        return list(session.scalars(select(Voucher.status_index)))


def print_batch(world: World, count: int, size: int) -> Any:
    response = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, "count": count, "size": size},
        headers=world.headers("issuer", uuid.uuid4().hex),
    )
    assert response.status_code == 201, response.json
    return response.json


def issued(world: World, beneficiary: str, size: int | None = None) -> dict[str, Any]:
    response = world.issue(beneficiary, size=size)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


# The list tells every voucher's status


def test_the_list_gives_every_voucher_its_status_by_the_s_of_its_token(
    world: World, clock: Clock
) -> None:
    to_expire = issued(world, "case-1")["vouchers"]
    clock.advance(days=100)
    kept = issued(world, "case-2")["vouchers"]
    lost = issued(world, "case-3", size=4)
    printed = [v for b in print_batch(world, count=1, size=3)["booklets"] for v in b["vouchers"]]
    clock.advance(days=266)  # the first booklet is past its expiry, the others are not
    assert world.redeem(token=kept[0]["token"]).status_code == 201
    assert world.redeem(token=lost["vouchers"][0]["token"]).status_code == 201
    cancelled = world.client.post(
        f"/v1/booklets/{lost['id']}/cancellation",
        json={"reason": "perdu"},
        headers=world.headers("issuer"),
    )
    assert cancelled.status_code == 200, cancelled.json
    assert expire_vouchers(database_of(world), clock.current).vouchers == 10

    claims, data = decoded(world)

    assert claims["status_list"]["bits"] == 2
    assert len(data) * 4 >= 131_072
    assert claims["iat"] == int(clock.current.timestamp()) and claims["exp"] > claims["iat"]
    assert claims["ttl"] > 0
    now_status = statuses(world)
    vouchers = to_expire + kept + lost["vouchers"] + printed
    seen: Counter[int] = Counter()
    for voucher in vouchers:
        value = status_at(data, 2, claim_s(voucher["token"]))
        assert value == EXPECTED[now_status[voucher["id"]]], voucher["id"]
        seen[value] += 1
    assert seen == {INVALID: 10 + 3, VALID: 9, REDEEMED: 2, SUSPENDED: 3}
    # Nothing else in the list: every other entry is 0.
    marked = {claim_s(v["token"]) for v in vouchers if EXPECTED[now_status[v["id"]]] != VALID}
    others = [i for i in range(len(data) * 4) if status_at(data, 2, i) and i not in marked]
    assert others == []


def test_the_list_is_answered_with_its_type_a_weak_etag_and_public_caching(world: World) -> None:
    issued(world, "case-1")
    response = fetch_list(world)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MEDIA_TYPE
    claims, _ = decoded(world)
    assert response.headers["Cache-Control"] == f"public, max-age={claims['ttl']}"
    assert response.headers["ETag"].startswith('W/"')
    header = jwt.get_unverified_header(response.text)
    assert set(header) == {"alg", "kid", "typ"}
    assert header["kid"] in {
        key["kid"] for key in world.client.get("/.well-known/jwks.json").json["keys"]
    }


def test_an_unchanged_list_answers_304_to_its_etag_and_a_changed_one_200(
    world: World, clock: Clock
) -> None:
    token = issued(world, "case-1")["vouchers"][0]["token"]
    etag = fetch_list(world).headers["ETag"]
    clock.advance(seconds=31)  # past the process's cache: rebuilt, the same statuses
    again = fetch_list(world, etag=etag)
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert world.redeem(token=token).status_code == 201
    clock.advance(seconds=31)
    changed = fetch_list(world, etag=etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    _, data = decoded(world)
    assert status_at(data, 2, claim_s(token)) == REDEEMED


def test_the_list_is_built_once_for_a_burst_and_again_once_its_cache_has_aged(
    world: World, clock: Clock
) -> None:
    token = issued(world, "case-1")["vouchers"][0]["token"]
    first = fetch_list(world).text
    assert world.redeem(token=token).status_code == 201
    clock.advance(seconds=5)
    assert fetch_list(world).text == first  # the same token, from the cache
    clock.advance(seconds=30)
    assert fetch_list(world).text != first
    _, data = decoded(world)
    assert status_at(data, 2, claim_s(token)) == REDEEMED


def test_an_unknown_programme_has_no_list(world: World) -> None:
    # A NUL character was a 500 on PostgreSQL (a text parameter cannot hold one).
    for code in ("NOPE", "X" * 17, "hv87", "HV87%00", "%00", "H%C3%A9", "-HV87"):
        response = fetch_list(world, code)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.json["type"].endswith("/problems/not-found")


# Indices: random, unique, in a list that grows


def test_a_booklets_indices_are_not_in_issuance_order(world: World) -> None:
    tokens = [v["token"] for v in issued(world, "case-1")["vouchers"]]
    indices = [claim_s(token) for token in tokens]
    assert len(set(indices)) == 10
    assert any(b - a != 1 for a, b in pairwise(indices))
    assert sorted(indices) == sorted(indices_of(world))


def test_a_thousand_indices_are_spread_over_the_whole_list(app: Flask, client: FlaskClient) -> None:
    world = make_world(app, client, budget_cents=1_000_000)
    print_batch(world, count=100, size=10)
    indices = indices_of(world)
    assert len(indices) == len(set(indices)) == 1000
    capacity = 131_072
    assert all(0 <= index < capacity for index in indices)
    # Eight equal slices each hold about 125 (a uniform draw; ±5 standard deviations).
    slices = Counter(index * 8 // capacity for index in indices)
    assert set(slices) == set(range(8))
    assert all(70 <= count <= 180 for count in slices.values()), slices


def test_the_list_doubles_when_more_than_half_full(world: World) -> None:
    with database_of(world).atomic() as session:
        session.execute(
            update(Program).where(Program.id == world.program_id).values(status_list_capacity=16)
        )
    first = [claim_s(v["token"]) for v in issued(world, "case-1")["vouchers"]]
    assert capacity_and_count(world) == (32, 10)  # 10 of 16 would be over half: 32
    second = [claim_s(v["token"]) for v in issued(world, "case-2")["vouchers"]]
    assert capacity_and_count(world) == (64, 20)
    assert len(set(first + second)) == 20 and all(0 <= i < 64 for i in first + second)
    assert fetch_list(world).status_code == 200
    _, data = decoded(world)
    assert len(data) == 64 // 4


def test_concurrent_issuance_gives_distinct_indices_while_the_list_grows(
    app: Flask, world: World
) -> None:
    with database_of(world).atomic() as session:
        session.execute(
            update(Program).where(Program.id == world.program_id).values(status_list_capacity=8)
        )
    answers = at_once(
        app,
        8,
        lambda client, n: (
            client.post(
                "/v1/booklets",
                json={"program_id": world.program_id, "beneficiary_ref": f"case-{n}", "size": 5},
                headers=world.headers("issuer", uuid.uuid4().hex),
            ).status_code
        ),
    )
    assert answers == [201] * 8
    indices = indices_of(world)
    assert len(indices) == len(set(indices)) == 40
    assert capacity_and_count(world) == (128, 40)
    assert all(0 <= index < 128 for index in indices)


def test_a_burst_of_scanners_builds_the_list_once(
    app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued(world, "case-1")
    builds: list[str] = []

    def counted(session: Any, program_id: str) -> Any:
        builds.append(program_id)
        return read_list(session, program_id)

    monkeypatch.setattr(statuslists_api, "read_list", counted)
    bodies = at_once(app, 12, lambda client, _: client.get("/v1/status-lists/HV87").data)
    assert builds == [world.program_id]
    assert len(set(bodies)) == 1


def at_once(app: Flask, count: int, call: Callable[[FlaskClient, int], T]) -> list[T]:
    """`call` from `count` threads at once, each with its own client; their answers in order."""
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def run(slot: int) -> None:
        client = app.test_client()
        barrier.wait()
        answers[slot] = call(client, slot)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def capacity_and_count(world: World) -> tuple[int, int]:
    with database_of(world).read() as session:
        row = session.execute(
            select(Program.status_list_capacity, Program.status_list_count).where(
                Program.id == world.program_id
            )
        ).one()
        return int(row[0]), int(row[1])


def test_allocation_never_gives_a_taken_index_even_in_a_crowded_list(world: World) -> None:
    issued(world, "case-1", size=3)
    taken = set(indices_of(world))
    with database_of(world).atomic() as session:
        program = lock_program(session, world.program_id)
        program.status_list_capacity, program.status_list_count = 8, 3
        drawn = allocate_indices(session, program, 1)  # 4 of 8: exactly half full, no doubling
        assert program.status_list_capacity == 8 and program.status_list_count == 4
        session.rollback()
    # The 3 existing indices lie anywhere below 131,072: only those below 8 are in the way.
    assert drawn[0] not in taken and 0 <= drawn[0] < 8


def test_allocation_gives_up_rather_than_loop_when_the_count_lies(world: World) -> None:
    issued(world, "case-1", size=2)
    with database_of(world).atomic() as session:
        for place, voucher_id in enumerate(session.scalars(select(Voucher.id)).all()):
            session.execute(
                update(Voucher).where(Voucher.id == voucher_id).values(status_index=place)
            )
    with database_of(world).atomic() as session:
        program = lock_program(session, world.program_id)
        # A list of 2 entries said empty, both of them taken: no draw can succeed.
        program.status_list_capacity, program.status_list_count = 2, 0
        with pytest.raises(IndicesExhausted):
            allocate_indices(session, program, 1)
        session.rollback()


def test_the_unique_index_refuses_a_second_voucher_at_the_same_place(world: World) -> None:
    issued(world, "case-1", size=2)
    first, second = indices_of(world)
    taking_a_place = update(Voucher).where(Voucher.status_index == second)
    with (
        pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"),
        database_of(world).atomic() as session,
    ):
        session.execute(taking_a_place.values(status_index=first))


# Tokens and reprints


def test_a_reprint_signs_the_same_claims_s_included(world: World, ctx: Any) -> None:
    voucher = issued(world, "case-1")["vouchers"][3]
    with database_of(world).read() as session:
        row = session.get(Voucher, voucher["id"])
        assert row is not None
        reprint = reprinted_token(ctx, row, "HV87")
    assert reprint.split(".")[1] == voucher["token"].split(".")[1]
    assert claim_s(reprint) == row.status_index
    verified = world.client.post(
        "/v1/vouchers/verify", json={"token": reprint}, headers=world.headers("partner")
    )
    assert verified.status_code == 200 and verified.json["redeemable"] is True


# The migration gives the vouchers that exist their indices


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database of the same kind, not yet migrated."""
    if database_url.startswith("sqlite"):
        fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield fresh
        fresh.dispose()
        return
    name = f"vs_status_lists_{uuid.uuid4().hex[:8]}"
    server = database_url.rsplit("/", 1)[0]
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    fresh = Database(f"{server}/{name}")
    yield fresh
    fresh.dispose()
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_gives_existing_vouchers_random_distinct_indices(
    fresh_database: Database,
) -> None:
    upgrade(fresh_database, "20261129_0006")
    sizes = {"P1": 12, "P2": 3}
    with fresh_database.engine.begin() as connection:
        for code, count in sizes.items():
            _vouchers_before_status_lists(connection, code, count)
    upgrade(fresh_database)
    with fresh_database.read() as session:
        for code, count in sizes.items():
            program = session.scalars(select(Program).where(Program.code == code)).one()
            indices = list(
                session.scalars(
                    select(Voucher.status_index).where(Voucher.program_id == program.id)
                )
            )
            assert len(indices) == len(set(indices)) == count
            assert all(0 <= index < 131_072 for index in indices)
            assert sorted(indices) != list(range(min(indices), min(indices) + count))
            assert (program.status_list_capacity, program.status_list_count) == (131_072, count)


def _vouchers_before_status_lists(connection: Any, code: str, count: int) -> None:
    """A programme, an organisation, a booklet and `count` vouchers, as revision 0006 has
    them (no status_index)."""
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    program, organisation, booklet = (str(uuid.uuid4()) for _ in range(3))

    def insert(table: str, row: dict[str, Any]) -> None:
        names, values = ", ".join(row), ", ".join(f":{name}" for name in row)
        connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({values})"), row)

    insert(
        "programs",
        {"id": program, "code": code, "name": code, "funder": "F", "budget_cents": 10**6,
         "face_value_cents": 1000, "currency": "EUR", "booklet_size": count,
         "valid_from": moment, "valid_until": moment + timedelta(days=365),
         "voucher_validity_days": 365, "max_vouchers_per_beneficiary": 100,
         "territory": "[]", "created_at": moment},
    )  # fmt: skip
    insert(
        "organisations", {"id": organisation, "name": "CCAS", "kind": "ccas", "created_at": moment}
    )
    insert(
        "booklets",
        {"id": booklet, "program_id": program, "organisation_id": organisation,
         "beneficiary_hash": "h" * 64, "size": count, "issued_at": moment,
         "issued_by": str(uuid.uuid4()), "transfer_id": str(uuid.uuid4())},
    )  # fmt: skip
    for position in range(1, count + 1):
        insert(
            "vouchers",
            {"id": str(uuid.uuid4()), "jti": uuid.uuid4().hex[:22],
             "code_hash": uuid.uuid4().hex * 2, "booklet_id": booklet, "program_id": program,
             "position": position, "value_cents": 1000, "status": "issued", "kid": "k" * 8,
             "issued_at": moment, "expires_at": moment + timedelta(days=365)},
        )  # fmt: skip
