"""People's accounts on the pages: sign-in by e-mail and password, the session, CSRF.

The interface the pages use: `current_person()`, `person_required(*roles)`, and CSRF through
flask-wtf (`{{ csrf_token() }}` in every form, the `X-CSRFToken` header for fetch()).

The session is Flask's signed cookie, signed with a key derived from the service's secret
(never the secret itself). It holds the user's id and the account's session generation:
disabling the account or changing its password bumps the generation, which ends every
session at its next request, since the account is read at each request. Sessions slide: a
partner's lasts 12 hours from its last request (a front desk is not signed out every hour),
the others' 2 hours.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
)
from flask_wtf.csrf import CSRFError, CSRFProtect

from voucher_service.auth.api import Principal
from voucher_service.clock import now
from voucher_service.errors import ServiceUnavailable
from voucher_service.people.accounts import authenticate, session_principal
from voucher_service.services import Services
from voucher_service.vouchers.ratelimit import (
    FailureLimiter,
    RedisFailureLimiter,
    make_limiter,
    seconds_left,
)
from voucher_service.web.helpers import services
from voucher_service.web.problems import problem_response

blueprint = Blueprint("people", __name__)

F = TypeVar("F", bound=Callable[..., Any])

SESSION_LABEL = b"voucher-service/pages/session-signing-key/v1"
LIMIT_LABEL = b"voucher-service/pages/sign-in-limit/v1"
PARTNER_SESSION = timedelta(hours=12)
OTHER_SESSION = timedelta(hours=2)
SLIDE_EVERY_SECONDS = 60  # the cookie is rewritten (its lifetime renewed) at most this often
# Failed sign-ins allowed in a 15-minute window, per e-mail and per client address.
SIGN_IN_FAILURES_PER_EMAIL = 10
SIGN_IN_FAILURES_PER_ADDRESS = 30
SIGN_IN_WINDOW_SECONDS = 15 * 60
REDIS_PREFIX = "voucher-service:sign-in-failures"
# Where each role lands after signing in, when no `next` was asked for.
HOMES = {"partner": "/r", "issuer": "/issue", "auditor": "/audit", "admin": "/docs"}
WRONG_CREDENTIALS = "Adresse e-mail ou mot de passe incorrect."
ROLE_NAMES = {
    "admin": "administration",
    "issuer": "structure",
    "partner": "lieu partenaire",
    "auditor": "contrôle",
}
# Paths that keep bearer keys and never carry a CSRF token.
# The pages' blueprints: CSRF guards their unsafe requests. Everything else (the /v1 API,
# /metrics) is called with bearer keys, and a request no route matches meets its 404 or 405.
PAGES = frozenset({"people", "scan", "issue_pages", "audit_pages"})

csrf = CSRFProtect()


@dataclass
class PeopleState:
    limiter: FailureLimiter
    limit_key: bytes


def init_people(app: Flask) -> None:
    """Sessions and CSRF for the pages (the /v1 API keeps its bearer keys, without CSRF)."""
    svc: Services = app.extensions["voucher_service"]
    secret = svc.context.keys.secret
    settings = svc.context.settings
    insecure = plain_local(settings.public_base_url)
    app.config.update(
        SECRET_KEY=hmac.new(secret, SESSION_LABEL, hashlib.sha256).hexdigest(),
        SESSION_COOKIE_NAME="vs_session" if insecure else "__Host-vs_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=not insecure,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=max(PARTNER_SESSION, OTHER_SESSION),
        SESSION_REFRESH_EACH_REQUEST=False,  # slid by current_person(), once a minute at most
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in _protect(), on the pages only
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
    csrf.init_app(app)
    limiter = make_limiter(
        settings.redis_url,
        SIGN_IN_FAILURES_PER_EMAIL,
        SIGN_IN_WINDOW_SECONDS,
        SIGN_IN_FAILURES_PER_ADDRESS,
    )
    if isinstance(limiter, RedisFailureLimiter):
        limiter.prefix = REDIS_PREFIX  # apart from the code lookups' counts
    app.extensions["people"] = PeopleState(
        limiter, hmac.new(secret, LIMIT_LABEL, hashlib.sha256).digest()
    )
    app.before_request(_protect)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.jinja_env.globals["current_person"] = current_person
    app.jinja_env.globals["role_name"] = ROLE_NAMES.get


def plain_local(base_url: str) -> bool:
    """Served over plain HTTP on this machine (`make run`): the one case without Secure."""
    parts = urlsplit(base_url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _state() -> PeopleState:
    state: PeopleState = current_app.extensions["people"]
    return state


def _protect() -> None:
    """CSRF on every unsafe request to the pages; the API and /metrics use bearer keys."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    if request.blueprint not in PAGES:
        return
    csrf.protect()


def _csrf_refused(error: CSRFError) -> Response:
    if request.is_json:  # a page's script: a problem it can read
        return problem_response(
            "invalid-request",
            400,
            "this request's CSRF token is missing or wrong (X-CSRFToken): nothing was changed",
        )
    return _problem(
        400,
        "Formulaire expiré ou incomplet",
        "Ce formulaire n'a pas pu être vérifié : il est trop ancien, ou il ne vient pas de "
        "ce site. Rien n'a été modifié.",
        "Revenez à la page précédente, rechargez-la, puis recommencez.",
        "Form expired or incomplete",
        "This form could not be checked (missing or wrong CSRF token): nothing was changed.",
    )


def _problem(
    status: int,
    french_title: str,
    french: str,
    next_step: str,
    title: str,
    english: str,
    slug: str = "invalid-request",
    retry_after: int | None = None,
) -> Response:
    page = render_template(
        "problem.html",
        slug=slug,
        title=title,
        french_title=french_title,
        next_step=next_step,
        french=french,
        english=english,
    )
    response = Response(page, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


_UNREAD = object()


def current_person() -> Principal | None:
    """The signed-in person as a Principal (role and tenant, as an API key's), or None."""
    cached = g.get("_person", _UNREAD)
    if cached is not _UNREAD:
        return cast(Principal | None, cached)
    person = _read_session()
    g._person = person
    if person is not None:
        g.principal = person  # the access log names who asked
    return person


def _read_session() -> Principal | None:
    user_id, generation, seen = session.get("uid"), session.get("gen"), session.get("seen")
    if not isinstance(user_id, str) or not isinstance(generation, int):
        return None
    if not isinstance(seen, int):
        session.clear()
        return None
    person = session_principal(services().database, user_id, generation)
    moment = int(now().timestamp())
    lifetime = PARTNER_SESSION if person and person.role == "partner" else OTHER_SESSION
    if person is None or moment - seen > lifetime.total_seconds():
        session.clear()
        return None
    if moment - seen >= SLIDE_EVERY_SECONDS:
        session["seen"] = moment
    return person


def person_required(*roles: str) -> Callable[[F], F]:
    """A page for these roles: not signed in, to /login?next=…; another role, a 403 page."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            person = current_person()
            if person is None:
                wanted = request.path.encode()
                if request.query_string:
                    wanted += b"?" + request.query_string  # as sent: quoted once more
                return redirect("/login?next=" + quote(wanted, safe="/"), 302)
            if person.role not in roles:
                return _forbidden(person)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def _forbidden(person: Principal) -> Response:
    page = render_template(
        "forbidden.html", person=person, home=HOMES.get(person.role, "/r"), roles=ROLE_NAMES
    )
    response = Response(page, 403, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def local_path(target: str | None) -> str | None:
    """`next` when it is a path of this site (`/issue?x=1`), else None: never another
    origin (`//evil.example`, `/\\evil.example`, `https://…`), never a control character."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith(("//", "/\\")) or "\\" in target:
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@blueprint.get("/login")
def login_form() -> Response:
    return _login_page(local_path(request.args.get("next")))


def _login_page(
    next_path: str | None,
    status: int = 200,
    error: str | None = None,
    email: str = "",
    retry_after: int | None = None,
) -> Response:
    page = render_template(
        "login.html", next_path=next_path or "", error=error, email=email, person=current_person()
    )
    response = Response(page, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@blueprint.post("/login")
def login() -> Response:
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")
    next_path = local_path(request.form.get("next"))
    state = _state()
    email_key = hmac.new(state.limit_key, email.strip().lower().encode(), "sha256").hexdigest()
    address = request.remote_addr
    try:
        if state.limiter.over_limit(email_key, address):
            return _too_many(next_path, email)
        signed_in = authenticate(services().database, email, password)
        if signed_in is None:
            if not state.limiter.record_failure(email_key, address):
                return _too_many(next_path, email)
            return _login_page(next_path, 200, WRONG_CREDENTIALS, email)
    except ServiceUnavailable:
        return _problem(
            503,
            "Connexion momentanément indisponible",
            "Le service ne peut pas vérifier les tentatives de connexion pour l'instant.",
            "Réessayez dans quelques secondes.",
            "Sign-in unavailable",
            "The store of the sign-in attempts cannot be reached right now.",
            slug="service-unavailable",
            retry_after=5,
        )
    session.clear()
    session.permanent = True
    session["uid"] = signed_in.principal.id
    session["gen"] = signed_in.generation
    session["seen"] = int(now().timestamp())
    g._person = signed_in.principal
    return cast(Response, redirect(next_path or HOMES.get(signed_in.principal.role, "/r"), 303))


def _too_many(next_path: str | None, email: str) -> Response:
    wait = seconds_left(SIGN_IN_WINDOW_SECONDS)
    minutes = max(1, round(wait / 60))
    message = (
        "Trop de tentatives de connexion ont échoué. Par sécurité, la connexion est "
        f"suspendue : réessayez dans {minutes} minute{'s' if minutes > 1 else ''}."
    )
    return _login_page(next_path, 429, message, email, retry_after=wait)


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    g._person = None
    return cast(Response, redirect("/login", 303))
