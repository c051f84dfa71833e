"""Issue 11 (1): people's accounts, through HTTP and the CLI: sign-in, sessions, CSRF, limits."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import redis
from argon2 import PasswordHasher
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.conftest import REDIS_URL, World, with_settings
from voucher_service.cli import main
from voucher_service.config import Settings
from voucher_service.db import Database
from voucher_service.people.accounts import change_password, disable_user
from voucher_service.people.models import User
from voucher_service.web.app import create_app
from voucher_service.web.people import current_person, person_required

PASSWORD = "une phrase de passe solide"
WRONG = "Adresse e-mail ou mot de passe incorrect."


def add_user(world: World, role: str = "issuer", /, email: str | None = None, **body: Any) -> Any:
    binding = {
        "issuer": {"organisation_id": world.organisation_id},
        "partner": {"partner_id": world.partner_id},
    }.get(role, {})
    payload = {
        "email": email or f"{role}-{uuid.uuid4().hex[:8]}@exemple.fr",
        "role": role,
        "password": PASSWORD,
        **binding,
        **body,
    }
    return world.client.post("/v1/users", json=payload, headers=world.headers("admin"))


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(
    client: FlaskClient, email: str, password: str = PASSWORD, next_path: str | None = None
) -> TestResponse:
    form = {"email": email, "password": password, "csrf_token": csrf_token(client)}
    if next_path is not None:
        form["next"] = next_path
    return client.post("/login", data=form)


@pytest.fixture(autouse=True)
def guarded(app: Flask) -> Flask:
    """Two pages behind person_required, as the pages of issue 11 use it (added before the
    app's first request, hence autouse)."""

    @person_required("issuer")
    def issuer_page() -> str:
        person = current_person()
        assert person is not None
        return f"issuer {person.id} {person.organisation_id}"

    @person_required("partner", "issuer")
    def counter_page() -> str:
        return "counter"

    app.add_url_rule("/test-issuer", "test_issuer", issuer_page)
    app.add_url_rule("/test-counter", "test_counter", counter_page)
    return app


# Accounts: the API and the CLI


def test_the_admin_creates_an_account_without_its_password_ever_shown(
    world: World, database: Database
) -> None:
    answer = add_user(world, "issuer", email="Accueil@CCAS-Limoges.fr")
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["email"] == "accueil@ccas-limoges.fr"
    assert body["role"] == "issuer" and body["organisation_id"] == world.organisation_id
    assert body["partner_id"] is None and body["disabled_at"] is None
    assert set(body) == {
        "id",
        "email",
        "role",
        "organisation_id",
        "partner_id",
        "created_at",
        "disabled_at",
    }
    assert PASSWORD not in answer.text and "argon2" not in answer.text
    assert answer.headers["Location"] == f"/v1/users/{body['id']}"
    assert answer.headers["Cache-Control"] == "no-store"
    with database.read() as session:
        stored = session.scalars(select(User.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    shown = world.client.get(answer.headers["Location"], headers=world.headers("admin"))
    assert shown.status_code == 200 and shown.json == body
    assert PASSWORD not in shown.text and "argon2" not in shown.text


def test_only_the_admin_reads_an_account_and_a_missing_one_is_not_found(world: World) -> None:
    account = add_user(world, "issuer").json
    for role in ("issuer", "partner", "auditor"):
        answer = world.client.get(f"/v1/users/{account['id']}", headers=world.headers(role))
        assert answer.status_code == 403
    missing = world.client.get(f"/v1/users/{uuid.uuid4()}", headers=world.headers("admin"))
    assert missing.status_code == 404
    assert (
        world.client.get("/v1/users/not-an-id", headers=world.headers("admin")).status_code == 404
    )


@pytest.mark.parametrize("role", ["issuer", "partner", "auditor"])
def test_only_the_admin_creates_accounts(world: World, role: str) -> None:
    answer = world.client.post(
        "/v1/users",
        json={"email": "x@exemple.fr", "role": "auditor", "password": PASSWORD},
        headers=world.headers(role),
    )
    assert answer.status_code == 403
    assert world.client.post("/v1/users", json={}).status_code == 401


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"password": "court"}, "/password"),
        ({"password": "x" * 1025}, "/password"),
        ({"email": "pas-une-adresse"}, "/email"),
        ({"email": "deux@@exemple.fr"}, "/email"),
        ({"role": "root"}, "/role"),
        ({"organisation_id": None}, "/organisation_id"),
        ({"extra": 1}, ""),
    ],
)
def test_bad_inputs_are_refused_with_400(world: World, change: dict[str, Any], path: str) -> None:
    answer = add_user(world, "issuer", **change)
    assert answer.status_code == 400, answer.json
    assert answer.json["type"].endswith("/problems/invalid-request")


@pytest.mark.parametrize(
    ("role", "binding", "path"),
    [
        ("issuer", {}, "/organisation_id"),
        ("partner", {}, "/partner_id"),
        ("auditor", {"organisation_id": "ORG"}, "/organisation_id"),
        ("partner", {"partner_id": "PARTNER", "organisation_id": "ORG"}, "/organisation_id"),
        ("issuer", {"organisation_id": str(uuid.uuid4())}, "/organisation_id"),
        ("partner", {"partner_id": str(uuid.uuid4())}, "/partner_id"),
    ],
)
def test_the_binding_follows_the_api_keys_rule(
    world: World, role: str, binding: dict[str, str], path: str
) -> None:
    values = {"ORG": world.organisation_id, "PARTNER": world.partner_id}
    body = {key: values.get(value, value) for key, value in binding.items()}
    answer = world.client.post(
        "/v1/users",
        json={"email": "a@exemple.fr", "role": role, "password": PASSWORD, **body},
        headers=world.headers("admin"),
    )
    assert answer.status_code == 400, answer.json
    assert [error["path"] for error in answer.json["errors"]] == [path]


def test_an_email_has_one_account_whatever_its_case(world: World) -> None:
    assert add_user(world, "auditor", email="controle@exemple.fr").status_code == 201
    again = add_user(world, "auditor", email="Controle@Exemple.FR")
    assert again.status_code == 409
    assert again.json["type"].endswith("/problems/conflict")


def test_the_cli_creates_an_account_from_a_password_on_stdin(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    runner = CliRunner()
    args = ["user", "create", "--email", "Mediatheque@Exemple.fr", "--role", "partner"]
    made = runner.invoke(
        main, [*args, "--partner", world.partner_id, "--password-stdin", "--json"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    view = json.loads(made.output)
    assert view["email"] == "mediatheque@exemple.fr" and view["partner_id"] == world.partner_id
    assert PASSWORD not in made.output
    assert sign_in(world.client, "mediatheque@exemple.fr").status_code == 303

    weak = runner.invoke(
        main, ["user", "create", "--email", "b@exemple.fr", "--role", "auditor",
               "--password-stdin"], input="court\n",
    )  # fmt: skip
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output
    unbound = runner.invoke(
        main, ["user", "create", "--email", "c@exemple.fr", "--role", "partner",
               "--password-stdin"], input=PASSWORD + "\n",
    )  # fmt: skip
    assert unbound.exit_code != 0 and "partner" in unbound.output
    twice = runner.invoke(main, [*args, "--partner", world.partner_id, "--password-stdin"],
                          input=PASSWORD + "\n")  # fmt: skip
    assert twice.exit_code != 0 and "exists already" in twice.output
    without = runner.invoke(main, ["user", "create", "--email", "d@exemple.fr", "--role", "admin"])
    assert without.exit_code != 0 and "--password-stdin" in without.output


def test_the_cli_disables_an_account_which_then_cannot_sign_in(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    account = add_user(world, "auditor").json
    before = world.client.application.test_client()
    assert sign_in(before, account["email"]).status_code == 303  # it could, until now
    closed = CliRunner().invoke(main, ["user", "disable", account["id"]])
    assert closed.exit_code == 0, closed.output
    assert closed.output.startswith(f"disabled {account['id']} ({account['email']}) at ")
    shown = world.client.get(f"/v1/users/{account['id']}", headers=world.headers("admin"))
    assert shown.json["disabled_at"] is not None
    assert sign_in(world.client, account["email"]).status_code != 303
    unknown = CliRunner().invoke(main, ["user", "disable", str(uuid.uuid4())])
    assert unknown.exit_code != 0 and "no user" in unknown.output


# Signing in, the session


def test_signing_in_sets_a_hardened_session_cookie_and_lands_on_the_roles_home(
    world: World, app: Flask
) -> None:
    email = add_user(world, "partner").json["email"]
    answer = sign_in(world.client, email.upper())
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/r"
    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("__Host-vs_session=")
    )
    flags = [flag.strip() for flag in cookie.split(";")]
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} <= set(flags)
    assert not any(flag.lower().startswith("domain") for flag in flags)
    secret = app.extensions["voucher_service"].context.keys.secret
    assert app.config["SECRET_KEY"] not in (secret, secret.decode(errors="replace"))
    assert len(app.config["SECRET_KEY"]) == 64


def test_on_plain_http_at_127_0_0_1_the_cookie_is_not_secure(
    settings: Settings, database: Database
) -> None:
    for base, secure in [
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
        ("http://pass.example.fr", True),
        ("https://pass.example.fr", True),
    ]:
        app = create_app(with_settings(settings, public_base_url=base), database)
        assert app.config["SESSION_COOKIE_SECURE"] is secure, base
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_wrong_credentials_get_one_message_that_says_not_which(
    world: World, database: Database, clock: Any, guarded: Flask
) -> None:
    body = add_user(world, "auditor").json
    disable_user(database, body["id"], clock())
    email = add_user(world, "auditor").json["email"]
    for who, password in [
        (email, "pas le bon mot de passe"),
        ("personne@exemple.fr", PASSWORD),
        (body["email"], PASSWORD),  # right password, disabled account
        (email, ""),
    ]:
        answer = sign_in(world.client, who, password)
        assert answer.status_code == 200
        assert answer.text.count(WRONG) == 1 and 'role="alert"' in answer.text
        assert world.client.get("/test-issuer").status_code == 302


def test_person_required_sends_strangers_to_login_and_other_roles_to_a_403_page(
    world: World, guarded: Flask
) -> None:
    first = world.client.get("/test-issuer?x=1&y=é")
    assert first.status_code == 302
    location = urlsplit(first.headers["Location"])
    assert location.path == "/login"
    (wanted,) = parse_qs(location.query)["next"]
    assert unquote(wanted) == "/test-issuer?x=1&y=é"
    partner = add_user(world, "partner").json["email"]
    assert sign_in(world.client, partner).status_code == 303
    refused = world.client.get("/test-issuer")
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    assert "Accès non autorisé" in refused.text and 'lang="fr"' in refused.text
    assert "lieu partenaire" in refused.text
    assert world.client.get("/test-counter").text == "counter"


def test_next_brings_back_to_a_local_page_only(world: World, guarded: Flask) -> None:
    email = add_user(world, "issuer").json["email"]
    kept = sign_in(world.client, email, next_path="/test-issuer?x=1")
    assert kept.headers["Location"] == "/test-issuer?x=1"
    person = world.client.get("/test-issuer")
    assert person.status_code == 200 and world.organisation_id in person.text
    for outside in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/%5Cevil.example" + "\\",
        "javascript:alert(1)",
        "/ok\r\nLocation: https://evil.example",
        "evil.example",
    ]:
        answer = sign_in(world.client, email, next_path=outside)
        assert answer.status_code == 303
        assert answer.headers["Location"] == "/issue", outside
    page = world.client.get("/login?next=//evil.example")
    assert "evil.example" not in page.text


def test_signing_out_ends_the_session(world: World, guarded: Flask) -> None:
    email = add_user(world, "issuer").json["email"]
    sign_in(world.client, email)
    assert world.client.get("/test-issuer").status_code == 200
    page = world.client.get("/login")
    assert "Se déconnecter" in page.text
    token = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]
    out = world.client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert world.client.get("/test-issuer").status_code == 302


def test_a_disabled_account_or_a_new_password_ends_its_sessions(
    world: World, guarded: Flask, database: Database, clock: Any
) -> None:
    made = add_user(world, "issuer").json
    sign_in(world.client, made["email"])
    assert world.client.get("/test-issuer").status_code == 200
    change_password(database, made["id"], "un tout nouveau mot de passe")
    assert world.client.get("/test-issuer").status_code == 302
    assert sign_in(world.client, made["email"]).status_code == 200  # the old one: refused
    assert sign_in(world.client, made["email"], "un tout nouveau mot de passe").status_code == 303
    assert world.client.get("/test-issuer").status_code == 200
    disable_user(database, made["id"], clock())
    assert world.client.get("/test-issuer").status_code == 302
    assert sign_in(world.client, made["email"], "un tout nouveau mot de passe").status_code == 200


def test_sessions_slide_12_hours_for_a_partner_and_2_hours_for_the_others(
    world: World, guarded: Flask, app: Flask, clock: Any
) -> None:
    partner, issuer = app.test_client(), app.test_client()
    sign_in(partner, add_user(world, "partner").json["email"])
    sign_in(issuer, add_user(world, "issuer").json["email"])
    clock.advance(hours=1, minutes=50)
    assert issuer.get("/test-counter").status_code == 200  # used: the 2 hours start again
    clock.advance(hours=1, minutes=50)
    assert issuer.get("/test-counter").status_code == 200
    assert partner.get("/test-counter").status_code == 200
    clock.advance(hours=2, minutes=1)
    assert issuer.get("/test-counter").status_code == 302  # idle for more than 2 hours
    clock.advance(hours=9, minutes=58)
    assert partner.get("/test-counter").status_code == 200  # idle 11 h 59: still in
    clock.advance(hours=12, minutes=1)
    assert partner.get("/test-counter").status_code == 302


def test_a_weaker_hash_is_replaced_at_sign_in(world: World, database: Database) -> None:
    made = add_user(world, "auditor").json
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with database.atomic() as session:
        user = session.get(User, made["id"])
        assert user is not None
        user.password_hash = weak
    assert sign_in(world.client, made["email"]).status_code == 303
    with database.read() as session:
        rehashed = session.scalars(select(User.password_hash)).one()
    assert rehashed != weak and not PasswordHasher().check_needs_rehash(rehashed)


# CSRF


def test_a_form_without_its_token_is_refused_with_a_french_page_and_changes_nothing(
    world: World, guarded: Flask
) -> None:
    email = add_user(world, "issuer").json["email"]
    refused = world.client.post("/login", data={"email": email, "password": PASSWORD})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert "Formulaire expiré" in refused.text and 'lang="fr"' in refused.text
    assert world.client.get("/test-issuer").status_code == 302  # not signed in
    sign_in(world.client, email)
    for headers in ({}, {"X-CSRFToken": "faux"}):
        assert world.client.post("/logout", headers=headers).status_code == 400
    assert world.client.post("/logout", data={"csrf_token": "faux"}).status_code == 400
    assert world.client.get("/test-issuer").status_code == 200  # still signed in
    token = csrf_token(world.client)
    assert world.client.post("/logout", headers={"X-CSRFToken": token}).status_code == 303


def test_the_api_keeps_its_bearer_keys_without_csrf(world: World) -> None:
    # A browser session does not open the API, and the API needs no CSRF token.
    email = add_user(world, "admin").json["email"]
    sign_in(world.client, email)
    assert world.client.get("/v1/api-keys").status_code == 401
    assert add_user(world, "auditor").status_code == 201


# The attempts' limit


def _limited(client: FlaskClient, email: str) -> None:
    for _ in range(10):
        assert WRONG in sign_in(client, email, "pas le bon mot de passe").text
    over = sign_in(client, email, "pas le bon mot de passe")
    assert over.status_code == 429
    assert 0 < int(over.headers["Retry-After"]) <= 900
    assert "Trop de tentatives" in over.text
    right = sign_in(client, email)  # the right password, while over: refused too
    assert right.status_code == 429 and "Retry-After" in right.headers


def test_failed_sign_ins_are_limited_per_email_then_per_address(
    world: World, app: Flask, clock: Any
) -> None:
    email, other = add_user(world, "auditor").json["email"], add_user(world, "auditor").json
    _limited(world.client, email)
    assert sign_in(world.client, other["email"]).status_code == 303  # another e-mail: fine
    clock.advance(minutes=15)
    assert sign_in(world.client, email).status_code == 303  # the next window
    # Per address: 30 failures, whatever the e-mails; other addresses are not held back.
    far = app.test_client()
    far.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for n in range(30):
        assert sign_in(far, f"inconnu-{n}@exemple.fr", "faux").status_code == 200
    assert sign_in(far, "inconnu-30@exemple.fr", "faux").status_code == 429
    assert sign_in(far, other["email"]).status_code == 429
    assert sign_in(world.client, other["email"]).status_code == 303


def test_with_redis_the_limit_is_shared_by_every_worker(
    settings: Settings, database: Database, redis_client: redis.Redis, world: World
) -> None:
    shared = with_settings(settings, redis_url=REDIS_URL)
    one = create_app(shared, database, start_sequencer=False).test_client()
    two = create_app(shared, database, start_sequencer=False).test_client()
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"  # counts from earlier runs stay apart
    one.environ_base["REMOTE_ADDR"] = two.environ_base["REMOTE_ADDR"] = address
    email = add_user(world, "auditor").json["email"]
    for n in range(11):
        sign_in(one if n % 2 else two, email, "pas le bon mot de passe")
    assert sign_in(one, email).status_code == 429
    assert sign_in(two, email).status_code == 429
    assert any(key.startswith(b"voucher-service:sign-in-failures:") for key in
               redis_client.scan_iter("voucher-service:sign-in-failures:*"))  # fmt: skip
    assert not any(email.encode() in key for key in redis_client.scan_iter("*sign-in*"))
