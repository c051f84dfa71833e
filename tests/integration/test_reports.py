"""The funder's monthly report, read from the ledger alone: its months add up to the
programme's figures to the cent, by the months of Europe/Paris, by partner and by
organisation (the one that issued the vouchers, found from the issue entries); as JSON and as
CSV; for the admin and the auditor only."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Clock, World, make_world
from voucher_service.clock import now
from voucher_service.ledger import kinds
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.transfers import Posting, build_transfer
from voucher_service.ledger.writes import write_transfer
from voucher_service.reports.monthly import (
    BY_ORGANISATION,
    BY_PARTNER,
    ORGANISATION_FIELDS,
    PARTNER_FIELDS,
    TOTAL_FIELDS,
)
from voucher_service.schemas import validate


def services(app: Flask) -> Any:
    return app.extensions["voucher_service"]


def at(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def report(world: World, role: str = "auditor", suffix: str = "", **query: str) -> Any:
    return world.client.get(
        f"/v1/reports/programs/{world.program_id}{suffix}",
        query_string=query,
        headers=world.headers(role),
    )


def fetched(world: World, **query: str) -> dict[str, Any]:
    answer = report(world, **query)
    assert answer.status_code == 200, answer.json
    validate("program-report", answer.json)
    body: dict[str, Any] = answer.json
    return body


def figures(world: World) -> dict[str, int]:
    answer = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    found: dict[str, int] = answer.json["figures"]
    return found


def write(app: Flask, *transfers: Any) -> None:
    with services(app).database.atomic() as session:
        for transfer in transfers:
            write_transfer(session, transfer)


def slug(response: Any) -> str:
    return str(response.json["type"]).rpartition("/")[2]


def month(body: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [m for m in body["months"] if m["month"] == name]
    return found


def as_figures(sums: dict[str, int]) -> dict[str, int]:
    """What the programme's figures say, from a report's sums."""
    return {
        "budget_cents": sums["allocated_cents"],
        "issued_cents": sums["issued_cents"],
        "redeemed_cents": sums["redeemed_cents"] - sums["reversed_cents"],
        "expired_cents": sums["expired_cents"],
        "cancelled_cents": sums["cancelled_cents"],
        "settled_cents": sums["settled_cents"] - sums["rejected_cents"],
        "paid_cents": sums["paid_cents"],
    }


def assert_dimensions_add_up(body: dict[str, Any]) -> None:
    """Each month's partners and organisations add up to its totals, to the cent."""
    for found in body["months"]:
        for rows, measures, fields in (
            (found["partners"], BY_PARTNER, PARTNER_FIELDS),
            (found["organisations"], BY_ORGANISATION, ORGANISATION_FIELDS),
        ):
            for field in fields:
                assert sum(row[field] for row in rows) == found["totals"][field], (found, field)
            assert all(any(row[f] for f in fields) for row in rows)  # no empty row
            assert measures
    for field in TOTAL_FIELDS:
        assert body["totals"][field] == sum(m["totals"][field] for m in body["months"])


def a_year(app: Flask, world: World, clock: Clock) -> dict[str, dict[str, int]]:
    """A year of a programme: each month a booklet issued and two redemptions, some
    reversed, cancelled or expired (with and without the organisation named), a settlement
    paid or rejected. The figures at the end of each month, by month."""
    program, partner = world.program_id, world.partner_id
    snapshots = {}
    for number in range(1, 13):
        clock.current = at(2026, number, 10, 9)
        vouchers = world.issue(f"case-{number}", size=3).json["vouchers"]
        first = world.redeem(token=vouchers[0]["token"]).json
        world.redeem(token=vouchers[1]["token"])
        if number % 3 == 0:
            assert world.reverse(first["id"]).status_code == 200
        spare = [vouchers[2]["id"]]
        if number % 4 == 0:
            write(
                app,
                kinds.cancel(now(), program, spare, 1000, organisation_id=world.organisation_id),
            )
        elif number % 4 == 1:
            write(app, kinds.expire(now(), program, spare, 1000))  # the organisation unnamed
        elif number % 4 == 2:
            write(app, kinds.cancel(now(), program, spare, 1000))
        clock.advance(days=5)
        settlement = str(uuid.uuid4())
        write(app, kinds.settle(now(), program, partner, settlement, 1000))
        clock.advance(days=3)
        answer = kinds.reject if number % 5 == 0 else kinds.pay
        write(app, answer(now(), program, partner, settlement, 1000))
        snapshots[f"2026-{number:02d}"] = figures(world)
    return snapshots


def test_a_years_months_add_up_to_the_programmes_figures(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    clock.current = at(2026, 1, 2, 9)
    world = make_world(app, client)
    snapshots = a_year(app, world, clock)
    clock.current = at(2026, 12, 28, 12)
    body = fetched(world)  # by default, from the programme's first month to this one
    assert (body["from"], body["to"]) == ("2026-01", "2026-12")
    assert [m["month"] for m in body["months"]] == [f"2026-{n:02d}" for n in range(1, 13)]
    assert_dimensions_add_up(body)
    # Month after month, what the months so far add up to is what the figures said then.
    running = dict.fromkeys(TOTAL_FIELDS, 0)
    for found in body["months"]:
        for field in TOTAL_FIELDS:
            running[field] += found["totals"][field]
        said = snapshots[found["month"]]
        assert as_figures(running) == {name: said[name] for name in as_figures(running)}
    assert as_figures(body["totals"]) == {
        name: figures(world)[name] for name in as_figures(body["totals"])
    }
    march = month(body, "2026-03")["totals"]
    assert (march["issued_count"], march["redeemed_count"], march["reversed_count"]) == (3, 2, 1)
    assert month(body, "2026-05")["totals"]["rejected_cents"] == 1000
    # Every voucher came from the world's organisation, named or found from its vouchers.
    for found in body["months"]:
        assert [row["organisation_id"] for row in found["organisations"]] == [world.organisation_id]
        assert [row["partner_id"] for row in found["partners"]] == [world.partner_id]
    # Queued or integrated, the ledger says the same.
    integrate_all(services(app).database, services(app).context)
    again = fetched(world)
    assert {**again, "generated_at": None} == {**body, "generated_at": None}


def test_a_redemption_at_half_past_midnight_in_paris_counts_in_the_new_month(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    clock.current = at(2026, 7, 31, 20)
    world = make_world(app, client)
    vouchers = world.issue(size=4).json["vouchers"]  # July
    for moment, voucher in zip(
        (
            at(2026, 7, 31, 21, 59, 59),  # 23:59:59 in Paris (summer time): July
            at(2026, 7, 31, 22, 30),  # 00:30 on 1 August in Paris
            at(2026, 11, 30, 22, 59, 59),  # 23:59:59 in Paris (winter time): November
            at(2026, 11, 30, 23, 30),  # 00:30 on 1 December in Paris
        ),
        vouchers,
        strict=True,
    ):
        clock.current = moment
        assert world.redeem(token=voucher["token"]).status_code == 201
    body = fetched(world, **{"from": "2026-07", "to": "2026-12"})
    redeemed = {m["month"]: m["totals"]["redeemed_count"] for m in body["months"]}
    assert redeemed == {
        "2026-07": 1,
        "2026-08": 1,
        "2026-09": 0,
        "2026-10": 0,
        "2026-11": 1,
        "2026-12": 1,
    }
    assert month(body, "2026-07")["totals"]["issued_cents"] == 4000
    # December alone: the organisation of a voucher issued in July is still found.
    december = fetched(world, **{"from": "2026-12", "to": "2026-12"})
    (only,) = december["months"]
    assert only["totals"]["issued_cents"] == 0
    assert only["organisations"] == [
        {
            "organisation_id": world.organisation_id,
            "name": "CCAS de Limoges",
            **dict.fromkeys(ORGANISATION_FIELDS, 0),
            "redeemed_cents": 1000,
            "redeemed_count": 1,
        }
    ]
    assert only["partners"][0]["name"] == "Médiathèque francophone"


def test_organisations_are_found_from_the_issue_entries(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    clock.current = at(2026, 10, 5, 9)
    world = make_world(app, client)
    program, other = world.program_id, str(uuid.uuid4())
    mine = world.issue(size=3).json["vouchers"]  # names the world's organisation
    old = [str(uuid.uuid4()) for _ in range(2)]
    theirs = [str(uuid.uuid4()) for _ in range(2)]
    write(
        app,
        kinds.issue(now(), program, str(uuid.uuid4()), old, 2000),  # before issue named one
        kinds.issue(now(), program, str(uuid.uuid4()), theirs, 2000, organisation_id=other),
    )
    clock.advance(days=1)
    assert world.redeem(token=mine[0]["token"]).status_code == 201
    write(
        app,
        kinds.redeem(now(), program, world.partner_id, old[0], str(uuid.uuid4()), 1000),
        # One cancellation over two organisations' vouchers, naming neither: split.
        kinds.cancel(now(), program, [mine[1]["id"], theirs[0]], 2000),
        kinds.expire(now(), program, [theirs[1]], 1000, organisation_id=other),
        # A voucher no issue entry lists: its value goes to the unknown organisation.
        kinds.expire(now(), program, [str(uuid.uuid4())], 500),
    )
    body = fetched(world, **{"from": "2026-10", "to": "2026-10"})
    assert_dimensions_add_up(body)
    rows = {row["organisation_id"]: row for row in body["months"][0]["organisations"]}
    assert list(rows) == [world.organisation_id, other, None]  # by name; the unknown last

    def row(**values: int) -> dict[str, int]:
        return {**dict.fromkeys(ORGANISATION_FIELDS, 0), **values}

    assert {key: {f: r[f] for f in ORGANISATION_FIELDS} for key, r in rows.items()} == {
        world.organisation_id: row(
            issued_cents=3000, issued_count=3, redeemed_cents=1000, redeemed_count=1,
            cancelled_cents=1000, cancelled_count=1,
        ),
        other: row(
            issued_cents=2000, issued_count=2, cancelled_cents=1000, cancelled_count=1,
            expired_cents=1000, expired_count=1,
        ),
        None: row(
            issued_cents=2000, issued_count=2, redeemed_cents=1000, redeemed_count=1,
            expired_cents=500, expired_count=1,
        ),
    }  # fmt: skip
    assert (rows[other]["name"], rows[None]["name"]) == (None, None)


def test_entries_of_kinds_the_report_does_not_know_are_skipped(app: Flask, world: World) -> None:
    vouchers = world.issue(size=1).json["vouchers"]
    write(
        app,
        build_transfer(
            "frobnicate",
            now(),
            [Posting("x:a", "x:b", 5)],
            program_id=world.program_id,
            voucher_ids=[vouchers[0]["id"]],
        ),
        kinds.activate(now(), world.program_id, str(uuid.uuid4()), [vouchers[0]["id"]]),
    )
    body = fetched(world)
    assert as_figures(body["totals"]) == {
        name: figures(world)[name] for name in as_figures(body["totals"])
    }
    assert body["totals"]["issued_count"] == 1


def test_the_csv_says_the_same_in_french(app: Flask, client: FlaskClient, clock: Clock) -> None:
    clock.current = at(2026, 11, 20, 9)
    world = make_world(app, client)
    vouchers = world.issue(size=2).json["vouchers"]
    world.redeem(token=vouchers[0]["token"])
    clock.current = at(2026, 12, 2, 9)
    world.redeem(token=vouchers[1]["token"])
    write(app, kinds.settle(now(), world.program_id, world.partner_id, str(uuid.uuid4()), 1050))
    answer = report(world, suffix=".csv", **{"from": "2026-11", "to": "2026-12"})
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeffmois;dimension;identifiant;nom;")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    body = fetched(world, **{"from": "2026-11", "to": "2026-12"})
    expected = sum(1 + len(m["partners"]) + len(m["organisations"]) for m in body["months"])
    assert len(rows) == expected == 6
    assert [(r["mois"], r["dimension"]) for r in rows] == [
        ("2026-11", "total"),
        ("2026-11", "partenaire"),
        ("2026-11", "organisation"),
        ("2026-12", "total"),
        ("2026-12", "partenaire"),
        ("2026-12", "organisation"),
    ]
    december_partner = rows[4]
    assert december_partner["identifiant"] == world.partner_id
    assert december_partner["nom"] == "Médiathèque francophone"
    assert december_partner["utilisés (nombre)"] == "1"
    assert december_partner["mis en paiement (centimes)"] == "1050"
    assert december_partner["mis en paiement (euros)"] == "10,50"
    assert december_partner["émis (centimes)"] == ""  # not a partner's measure
    november_total = rows[0]
    assert november_total["budget alloué (centimes)"] == "100000"
    assert november_total["budget alloué (euros)"] == "1000,00"
    assert november_total["émis (nombre)"] == "2"
    # Every amount in cents is the JSON's.
    assert sum(int(r["utilisés (centimes)"]) for r in rows if r["dimension"] == "total") == 2000


def test_the_csv_names_the_unknown_organisation_and_keeps_names_as_text(
    app: Flask, world: World
) -> None:
    admin = world.headers("admin")
    renamed = world.client.patch(
        f"/v1/organisations/{world.organisation_id}", json={"name": "=1+1"}, headers=admin
    )
    assert renamed.status_code == 200, renamed.json
    world.issue(size=1)
    write(app, kinds.issue(now(), world.program_id, str(uuid.uuid4()), ["v"], 700))
    text = report(world, suffix=".csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    names = [(r["identifiant"], r["nom"]) for r in rows if r["dimension"] == "organisation"]
    assert names == [(world.organisation_id, "'=1+1"), ("", "inconnue")]


@pytest.mark.parametrize("suffix", ["", ".csv"])
def test_only_the_admin_and_the_auditor_read_reports(world: World, suffix: str) -> None:
    for role in ("admin", "auditor"):
        assert report(world, role, suffix).status_code == 200
    for role in ("issuer", "partner"):
        refused = report(world, role, suffix)
        assert refused.status_code == 403
        assert slug(refused) == "forbidden"
    anonymous = world.client.get(f"/v1/reports/programs/{world.program_id}{suffix}")
    assert anonymous.status_code == 401
    unknown = world.client.get(
        f"/v1/reports/programs/{uuid.uuid4()}{suffix}", headers=world.headers("auditor")
    )
    assert unknown.status_code == 404
    assert slug(unknown) == "not-found"


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-13"},
        {"from": "2026-1"},
        {"to": "nonsense"},
        {"from": "2026-11-01"},
        {"from": ""},
        {"from": "2026-12", "to": "2026-11"},
        {"from": "2016-01", "to": "2026-12"},  # 132 months
        {"from": "x" * 300},
        # January of year 1 begins in UTC in year 0, which a datetime cannot hold: was a 500.
        {"to": "0001-01"},
        {"from": "0001-01", "to": "0001-02"},
    ],
)
def test_bad_periods_are_refused(world: World, query: dict[str, str]) -> None:
    for suffix in ("", ".csv"):
        refused = report(world, suffix=suffix, **query)
        assert refused.status_code == 400, (query, refused.json)
        assert slug(refused) == "invalid-request"
        assert refused.json["errors"][0]["path"] in ("from", "to")


def test_the_period_defaults_and_its_longest_range(world: World, clock: Clock) -> None:
    body = fetched(world)  # from the programme's first month (this one) to this one
    assert body["from"] == body["to"]
    assert len(body["months"]) == 1
    longest = fetched(world, **{"from": "2017-01", "to": "2026-12"})
    assert len(longest["months"]) == 120
    only_to = fetched(world, to="2025-06")  # before the programme: one quiet month
    assert (only_to["from"], only_to["to"]) == ("2025-06", "2025-06")
    assert only_to["months"][0]["totals"] == dict.fromkeys(TOTAL_FIELDS, 0)
    clock.advance(days=70)
    later = fetched(world, **{"from": body["from"]})
    assert later["to"] != body["to"]
    assert len(later["months"]) in (3, 4)
