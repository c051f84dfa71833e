"""The `voucher-service` command: database, demo, server, worker, keys, ledger and audit."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from voucher_service.clock import now
from voucher_service.config import (
    DEFAULT_DATABASE_URL,
    MAKE_A_SECRET,
    ConfigurationError,
    Settings,
)

if TYPE_CHECKING:
    from voucher_service.context import ServiceContext
    from voucher_service.db import Database

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


def _database_only() -> Settings:
    """What a migration job holds: DATABASE_URL, no signing secret or key."""
    return Settings(database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))


def _database(settings: Settings) -> Database:
    from voucher_service.db import Database

    return Database(settings.database_url)


def _context(settings: Settings) -> ServiceContext:
    from voucher_service.context import ServiceContext

    try:
        return ServiceContext.from_settings(settings)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


class _Commands(click.Group):
    """Every failure ends in one clear line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ConfigurationError as error:
            raise click.ClickException(str(error)) from None
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise click.ClickException(f"the database refused: {reason}") from None
        except OSError as error:
            where = f": {error.filename}" if error.filename else ""
            raise click.ClickException(f"{error.strerror or error}{where}") from None
        except Exception as error:
            if os.environ.get("VOUCHER_SERVICE_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(error).__name__}: {error} "
                "(VOUCHER_SERVICE_DEBUG=1 shows the traceback)"
            ) from None


@click.group(
    "voucher-service", cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="voucher-service", message="%(prog)s %(version)s")
def main() -> None:
    """voucher-service: signed QR vouchers, redeemed exactly once, on an auditable ledger.

    Settings come from the environment (DATABASE_URL, VOUCHER_SERVICE_ENV,
    VOUCHER_SERVICE_KEYS_DIR, VOUCHER_SERVICE_SECRET, PUBLIC_BASE_URL…): see README.md.
    """


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations to head on DATABASE_URL (the only setting it reads)."""
    from voucher_service.migrate import upgrade

    settings = _database_only()
    _run(upgrade, settings)
    click.echo(f"database at head: {_shown(settings.database_url)}")


@main.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print the keys, programme id and base URL as JSON."
)
def demo(as_json: bool) -> None:
    """Seed the demo once and print a fresh API key per role."""
    from voucher_service.demo import set_up_demo

    settings = _settings()
    if settings.production:
        raise click.ClickException("the demo is refused in production")
    ctx = _context(settings)  # make the development keys now, before any worker starts
    demo = _run(lambda database: set_up_demo(database, ctx, now()))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "keys": demo.keys,
                    "program_id": demo.program_id,
                    "base_url": settings.public_base_url,
                }
            )
        )
        return
    click.echo(f"Demo programme HV87 (Pass Numérique Haute-Vienne): {demo.program_id}")
    click.echo("API keys (shown once; earlier ones stay valid):")
    for role, key in demo.keys.items():
        click.echo(f"  {role:8} {key}")
    click.echo(f"Service: {settings.public_base_url}  (see README.md for a walk-through)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
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
    from voucher_service.schemas import check_text, validate

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


def _run(use_case: Callable[[Database], T], settings: Settings | None = None) -> T:
    """Run one use case on DATABASE_URL; a refusal is a clear error, not a traceback."""
    from sqlalchemy.exc import OperationalError

    from voucher_service.errors import ServiceError

    database = _database(settings or _settings())
    try:
        return use_case(database)
    except ServiceError as error:
        raise click.ClickException(error.detail) from None
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "no answer"
        raise click.ClickException(
            f"the database at {_shown(str(database.engine.url))} cannot be reached: {reason}"
        ) from None
    finally:
        database.dispose()


def _shown(url: str) -> str:
    """A database URL fit to print: its password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _print(view: dict[str, Any]) -> None:
    click.echo(json.dumps(view, indent=2, ensure_ascii=False))


@main.group()
def program() -> None:
    """Programmes."""


@program.command("create")
@click.argument("source", default="-")
def program_create(source: str) -> None:
    """Create a programme from a JSON file (the body of POST /v1/programs)."""
    from voucher_service.programs.api import ProgramInput, create_program

    body = _read_body(source, "program-create.request")
    _print(_run(lambda database: create_program(database, ProgramInput.from_body(body), now())))


@main.group()
def organisation() -> None:
    """Organisations (distributors)."""


@organisation.command("create")
@click.argument("source", default="-")
def organisation_create(source: str) -> None:
    """Create an organisation from a JSON file (the body of POST /v1/organisations)."""
    from voucher_service.organisations.api import OrganisationInput, create_organisation

    data = OrganisationInput.from_body(_read_body(source, "organisation-create.request"))
    _print(_run(lambda database: create_organisation(database, data, now())))


@main.group()
def partner() -> None:
    """Partner venues."""


@partner.command("create")
@click.argument("source", default="-")
def partner_create(source: str) -> None:
    """Qualify a partner from a JSON file (the body of POST /v1/partners)."""
    from voucher_service.partners.api import PartnerInput, create_partner

    data = PartnerInput.from_body(_read_body(source, "partner-create.request"))
    _print(_run(lambda database: create_partner(database, data, now())))


@main.group()
def apikey() -> None:
    """API keys."""


@apikey.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "issuer", "partner", "auditor"]),
    help="What the key may do (CONTRACT §2).",
)
@click.option(
    "--organisation", "organisation_id", default=None, help="The issuer's organisation id."
)
@click.option("--partner", "partner_id", default=None, help="The partner key's venue id.")
@click.option("--label", default="", help="A note for whoever lists keys later.")
@click.option("--json", "as_json", is_flag=True, help="Print id, key and role as JSON.")
def apikey_create(
    role: str, organisation_id: str | None, partner_id: str | None, label: str, as_json: bool
) -> None:
    """Mint an API key; it is printed once and stored only as a hash."""
    from voucher_service.auth.api import create_api_key

    made = _run(
        lambda database: create_api_key(database, role, now(), organisation_id, partner_id, label)
    )
    if as_json:
        click.echo(json.dumps({"id": made["id"], "key": made["key"], "role": made["role"]}))
    else:
        click.echo(made["key"])


@apikey.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
def apikey_list(as_json: bool) -> None:
    """List every API key: its id, role, binding, label and dates, never its secret."""
    from voucher_service.auth.api import list_api_keys

    keys = _run(list_api_keys)
    if as_json:
        _print(keys)
        return
    for key in keys["items"]:
        bound = key["organisation_id"] or key["partner_id"] or "-"
        state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "active"
        click.echo(f"{key['id']}  {key['role']:8} {bound:36}  {state:28} {key['label']}")


@apikey.command("revoke")
@click.argument("key_id")
def apikey_revoke(key_id: str) -> None:
    """Revoke an API key: refused everywhere within a second."""
    from voucher_service.auth.api import revoke_api_key

    revoked = _run(lambda database: revoke_api_key(database, key_id, now()))
    click.echo(f"revoked {revoked['id']} ({revoked['role']}) at {revoked['revoked_at']}")


@main.group()
def user() -> None:
    """People's accounts for the pages (/login)."""


@user.command("create")
@click.option("--email", required=True, help="What the person signs in with.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "issuer", "partner", "auditor"]),
    help="What the person may do (CONTRACT §2), as an API key.",
)
@click.option("--organisation", "organisation_id", default=None, help="An issuer's organisation.")
@click.option("--partner", "partner_id", default=None, help="A partner's venue id.")
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the password from standard input (its first line); at least 12 characters.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
def user_create(
    email: str,
    role: str,
    organisation_id: str | None,
    partner_id: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Make a person's account; the password is stored only as an argon2 hash."""
    from voucher_service.people.accounts import create_user

    if not password_stdin:
        raise click.UsageError("give the password on standard input, with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    made = _run(
        lambda database: create_user(
            database, email, role, password, now(), organisation_id, partner_id
        )
    )
    if as_json:
        _print(made)
    else:
        bound = made["organisation_id"] or made["partner_id"] or "-"
        click.echo(f"{made['id']}  {made['role']:8} {bound}  {made['email']}")


@user.command("disable")
@click.argument("user_id")
def user_disable(user_id: str) -> None:
    """Close a person's account: no more sign-in, and its sessions end at their next request."""
    from voucher_service.people.accounts import disable_user

    closed = _run(lambda database: disable_user(database, user_id, now()))
    click.echo(f"disabled {closed['id']} ({closed['email']}) at {closed['disabled_at']}")


@main.group()
def keys() -> None:
    """The service's private keys: voucher signing (ES256) and ledger signing (Ed25519)."""


@keys.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def keys_init(directory: Path | None) -> None:
    """Make every private key the service needs in DIRECTORY (default
    VOUCHER_SERVICE_KEYS_DIR) and print their public parts; never overwrites a key."""
    from voucher_service.config import check_public_base_url
    from voucher_service.keys import init_keys
    from voucher_service.ledger.note import verifier_key

    target = directory or Path(os.environ.get("VOUCHER_SERVICE_KEYS_DIR", "var/keys"))
    base_url = check_public_base_url(os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"))
    origin = Settings(
        public_base_url=base_url, log_origin=os.environ.get("VOUCHER_SERVICE_LOG_ORIGIN")
    ).origin
    made = init_keys(target)
    click.echo(f"made the private keys in {made.directory} (keep them secret, back them up)")
    click.echo(f"voucher-signing key (JWK): {json.dumps(made.voucher.jwk())}")
    click.echo(f"ledger verifier key for {origin}: {verifier_key(origin, made.ledger_public)}")
    click.echo(
        "the secret stays in the environment: VOUCHER_SERVICE_SECRET=$(" + MAKE_A_SECRET + ")"
    )


@keys.command("rotate")
@click.option(
    "--after",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How long the new key is published before it signs (24h, 15m, 0s, 1h30m…): "
    "offline scanners that sync the JWKS daily learn it first.",
)
def keys_rotate(after: str) -> None:
    """Publish a next voucher-signing key now, then sign new vouchers with it once --after
    has passed; every worker switches by itself, and old keys stay published while their
    vouchers can be valid."""
    from voucher_service.clock import rfc3339
    from voucher_service.keys import parse_duration, rotate_voucher_key

    try:
        delay = parse_duration(after)
        rotation = rotate_voucher_key(_settings(), delay)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--after") from None
    except (ConfigurationError, OSError) as error:
        raise click.ClickException(f"no key rotated: {error}") from None
    signs_from = rfc3339(rotation.signs_from)
    click.echo(f"published key {rotation.kid} now; it signs new vouchers from {signs_from}")
    if rotation.superseded:
        click.echo(f"it replaces key {rotation.superseded}, published but never used to sign")
    if rotation.previous:
        click.echo(
            f"key {rotation.previous} signs until then; every worker switches by itself "
            "(no restart), and the JWKS keeps each old key while its vouchers can be valid"
        )


@main.command()
@click.option("--once", is_flag=True, help="Run each job once, then exit (for cron or a check).")
def worker(once: bool) -> None:
    """Run the periodic jobs (ledger sequencer, idempotency purge, voucher expiry) until
    stopped by SIGTERM or Ctrl-C. In production this process runs them and the web workers
    do not."""
    from voucher_service.jobs import BackgroundJobs, periodic_jobs
    from voucher_service.logs import configure_logging

    settings = _settings()
    configure_logging(settings)
    context = _context(settings)
    database = _database(settings)
    jobs = periodic_jobs(database, context)
    try:
        if once:
            for job in jobs:
                job.run()
                click.echo(f"ran {job.name}")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        runner = BackgroundJobs(jobs)
        runner.start()
        names = ", ".join(f"{job.name} every {job.every_seconds:g} s" for job in jobs)
        click.echo(f"worker running: {names}", err=True)
        stop.wait()
        runner.stop()
        click.echo("worker stopped", err=True)
    finally:
        database.dispose()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print what expired as JSON.")
def expire(as_json: bool) -> None:
    """Expire every voucher past its expiry now: status `expired`, its value back to its
    programme (one `expire` ledger entry per programme and organisation, in chunks). The
    worker also runs this daily; running it again expires nothing twice."""
    from voucher_service.clock import rfc3339
    from voucher_service.vouchers.expiry import expire_vouchers

    moment = now()
    done = _run(lambda database: expire_vouchers(database, moment))
    if as_json:
        click.echo(json.dumps({**done.as_dict(), "at": rfc3339(moment)}))
        return
    click.echo(
        f"expired {done.vouchers} vouchers worth {done.cents} cents "
        f"({done.transfers} ledger entries) at {rfc3339(moment)}"
    )


@main.group()
def ledger() -> None:
    """The State-funding ledger."""


@ledger.command("integrate")
@click.option(
    "--wait",
    "wait_seconds",
    default=60.0,
    show_default=True,
    type=float,
    help="How long to wait for another sequencer to let go of the log.",
)
def ledger_integrate(wait_seconds: float) -> None:
    """Integrate every pending entry into the Merkle log now and sign a checkpoint; wait for
    a sequencer that holds the log, and fail if it holds it past --wait seconds."""
    from voucher_service.ledger.sequencer import SequencerBusy, integrate_pending

    context = _context(_settings())
    try:
        done = _run(lambda database: integrate_pending(database, context, wait_seconds))
    except SequencerBusy as busy:
        raise click.ClickException(f"nothing integrated: {busy}; try again") from None
    click.echo(f"integrated {done.count} entries; log size {done.size}")


@main.group()
def audit() -> None:
    """Offline audit."""


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_file", default=None, help="Verifier key (text or file) to pin.")
@click.option(
    "--previous",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept from an earlier audit: the log must extend it.",
)
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

    count = _run(lambda database: purge(database, now()))
    click.echo(f"purged {count} idempotency keys")


if __name__ == "__main__":
    main()
