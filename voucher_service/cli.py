"""The `voucher-service` command: database, demo, server, keys, ledger and offline audit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voucher_service.clock import now
from voucher_service.config import ConfigurationError, Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from voucher_service.db import Database

    return Database(settings.database_url)


def _context(settings: Settings):  # type: ignore[no-untyped-def]
    from voucher_service.context import ServiceContext

    try:
        return ServiceContext.from_settings(settings)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main() -> None:
    """voucher-service: signed QR vouchers, redeemed exactly once, on an auditable ledger."""


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations to head on DATABASE_URL."""
    from voucher_service.migrate import upgrade

    settings = _settings()
    database = _database(settings)
    upgrade(database)
    database.dispose()
    click.echo(f"database at head: {settings.database_url}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
def demo(as_json: bool) -> None:
    """Seed the demo once and print a fresh API key per role."""
    from voucher_service.demo import mint_demo_keys, seed_demo

    settings = _settings()
    if settings.production:
        raise click.ClickException("the demo is refused in production")
    _context(settings)  # make the development keys now, before any worker starts
    database = _database(settings)
    with database.atomic() as session:
        seeded = seed_demo(session, now())
        keys = mint_demo_keys(session, seeded, now())
        program_id = seeded.program.id
    database.dispose()
    if as_json:
        click.echo(json.dumps({"keys": keys, "base_url": settings.public_base_url}))
        return
    click.echo(f"Demo programme HV87 (Pass Numérique Haute-Vienne): {program_id}")
    click.echo("API keys (shown once; earlier ones stay valid):")
    for role, key in keys.items():
        click.echo(f"  {role:8} {key}")
    click.echo(f"Service: {settings.public_base_url}  (see README.md for a walk-through)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the API with the development server (use gunicorn in production)."""
    from voucher_service.web.app import create_app

    try:
        app = create_app(_settings())
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    app.run(host=host, port=port, threaded=True)


def _read_body(source: str, schema: str) -> dict[str, Any]:
    """A JSON body from a file (or - for standard input), checked as the API checks it."""
    from voucher_service.errors import ServiceError
    from voucher_service.web.schemas import check_text, validate

    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        body = json.loads(text)
        check_text(body)
        validate(schema, body)
    except ValueError as error:
        raise click.ClickException(f"{source} is not JSON: {error}") from None
    except ServiceError as error:
        problems = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in error.extra["errors"])
        raise click.ClickException(f"{error.detail}: {problems}") from None
    assert isinstance(body, dict)
    return body


def _create(
    make: Callable[[Session, dict[str, Any]], dict[str, Any]], body: dict[str, Any]
) -> None:
    """Run one administration use case in its transaction and print what it made, as JSON."""
    from voucher_service.errors import ServiceError

    database = _database(_settings())
    try:
        with database.atomic() as session:
            click.echo(json.dumps(make(session, body), indent=2, ensure_ascii=False))
    except ServiceError as error:
        raise click.ClickException(error.detail) from None
    finally:
        database.dispose()


@main.group()
def program() -> None:
    """Programmes."""


@program.command("create")
@click.argument("source", default="-")
def program_create(source: str) -> None:
    """Create a programme from a JSON file (the body of POST /v1/programs)."""
    from voucher_service.programs.api import ProgramInput, create_program, program_figures
    from voucher_service.web.admin import program_times, program_view

    def make(session: Session, body: dict[str, Any]) -> dict[str, Any]:
        made = create_program(session, ProgramInput(**program_times(body)), now())
        return program_view(made, program_figures(session, made))

    _create(make, _read_body(source, "program-create.request"))


@main.group()
def organisation() -> None:
    """Organisations (distributors)."""


@organisation.command("create")
@click.argument("source", default="-")
def organisation_create(source: str) -> None:
    """Create an organisation from a JSON file (the body of POST /v1/organisations)."""
    from voucher_service.organisations.api import create_organisation
    from voucher_service.web.admin import organisation_view

    def make(session: Session, body: dict[str, Any]) -> dict[str, Any]:
        made = create_organisation(
            session, body["name"], body["kind"], body.get("programs", []), now()
        )
        return organisation_view(session, made)

    _create(make, _read_body(source, "organisation-create.request"))


@main.group()
def partner() -> None:
    """Partner venues."""


@partner.command("create")
@click.argument("source", default="-")
def partner_create(source: str) -> None:
    """Qualify a partner from a JSON file (the body of POST /v1/partners)."""
    from voucher_service.partners.api import PartnerInput, create_partner, partner_program_ids
    from voucher_service.web.admin import partner_view

    def make(session: Session, body: dict[str, Any]) -> dict[str, Any]:
        made = create_partner(session, PartnerInput(**{"programs": [], **body}), now())
        return partner_view(made, partner_program_ids(session, made.id))

    _create(make, _read_body(source, "partner-create.request"))


@main.group()
def apikey() -> None:
    """API keys."""


@apikey.command("create")
@click.option("--role", required=True, type=click.Choice(["admin", "issuer", "partner", "auditor"]))
@click.option("--organisation", "organisation_id", default=None)
@click.option("--partner", "partner_id", default=None)
@click.option("--label", default="")
@click.option("--json", "as_json", is_flag=True)
def apikey_create(
    role: str, organisation_id: str | None, partner_id: str | None, label: str, as_json: bool
) -> None:
    """Mint an API key; it is printed once and stored only as a hash."""
    from voucher_service.auth.api import create_api_key
    from voucher_service.errors import ServiceError

    database = _database(_settings())
    try:
        with database.atomic() as session:
            api_key, plain = create_api_key(
                session, role, now(), organisation_id, partner_id, label
            )
            key_id = api_key.id
    except ServiceError as error:
        raise click.ClickException(error.detail) from None
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps({"id": key_id, "key": plain, "role": role}))
    else:
        click.echo(plain)


@main.group()
def keys() -> None:
    """Voucher-signing keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Sign new vouchers with a new key; old keys stay published while their vouchers live."""
    from voucher_service.keys import rotate_voucher_key

    key = rotate_voucher_key(_settings())
    click.echo(f"new voucher-signing key {key.kid}; restart the service to sign with it")


@main.group()
def ledger() -> None:
    """The State-funding ledger."""


@ledger.command("integrate")
def ledger_integrate() -> None:
    """Integrate every pending entry into the Merkle log now and sign a checkpoint."""
    from voucher_service.ledger.sequencer import integrate_all

    settings = _settings()
    database = _database(settings)
    done = integrate_all(database, _context(settings))
    database.dispose()
    click.echo(f"integrated {done.count} entries; log size {done.size}")


@main.group()
def audit() -> None:
    """Offline audit."""


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_file", default=None, help="Verifier key (text or file) to pin.")
@click.option("--previous", default=None, type=click.Path(dir_okay=False, path_type=Path))
def audit_verify(bundle: Path, key_file: str | None, previous: Path | None) -> None:
    """Verify an audit bundle with no access to the service; exit 1 on any failure."""
    from voucher_service.ledger.verify import verify_bundle

    pinned = None
    if key_file is not None:
        candidate = Path(key_file)
        pinned = candidate.read_text().strip() if candidate.is_file() else key_file.strip()
    earlier = previous.read_text() if previous is not None else None
    report = verify_bundle(bundle, pinned_key=pinned, previous_checkpoint=earlier)
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)


@main.group()
def idempotency() -> None:
    """Idempotency keys."""


@idempotency.command("purge")
def idempotency_purge() -> None:
    """Forget idempotency keys past their retention (72 h)."""
    from voucher_service.idempotency.api import purge

    database = _database(_settings())
    with database.atomic() as session:
        count = purge(session, now())
    database.dispose()
    click.echo(f"purged {count} idempotency keys")
