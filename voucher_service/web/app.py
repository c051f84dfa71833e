"""The Flask application factory: wires settings, database, keys and the blueprints."""

from __future__ import annotations

import logging

import psycopg
from flask import Flask, Response
from sqlalchemy.exc import InternalError as SQLAlchemyInternalError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from voucher_service.config import Settings, warnings_for
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import ServiceError, ServiceUnavailable
from voucher_service.jobs import BackgroundJobs, periodic_jobs
from voucher_service.logs import configure_logging
from voucher_service.services import Services
from voucher_service.web import (
    admin,
    audit_pages,
    batches,
    issue_pages,
    ledger,
    lifecycle,
    people,
    printing,
    public,
    reports,
    scan,
    settlements,
    statuslists,
    vouchers,
)
from voucher_service.web.compression import compress
from voucher_service.web.helpers import MAX_BODY_BYTES, secure_headers
from voucher_service.web.observability import observe_requests
from voucher_service.web.problems import problem_response, service_error_response

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    *,
    start_sequencer: bool | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    database = database or Database(settings.database_url)
    context = ServiceContext.from_settings(settings)
    app = Flask(__name__)
    _trust_proxies(app, settings)
    _warn_of_a_count_per_process(settings)
    for warning in warnings_for(settings):
        log.warning(warning)
    app.config["PUBLIC_BASE_URL"] = settings.public_base_url
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Werkzeug refuses a larger body with 413 from its Content-Length (or once a chunked one
    # passes the limit), before the body is read into memory.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    services = Services(database, context)
    app.extensions["voucher_service"] = services
    observe_requests(app)  # first, so that its request id is bound before any other hook
    _register_blueprints(app)
    _register_error_handlers(app)
    people.init_people(app)
    app.after_request(secure_headers)
    app.after_request(compress)  # the body alone changes: every header set elsewhere stays
    if settings.run_sequencer if start_sequencer is None else start_sequencer:
        services.jobs = BackgroundJobs(periodic_jobs(database, context))
        services.jobs.start()
    return app


def _trust_proxies(app: Flask, settings: Settings) -> None:
    """The client's address (request.remote_addr) is the one the outermost trusted proxy
    saw: the N-th X-Forwarded-For entry from the right. With none, the header is never read:
    anyone could write it."""
    if settings.trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]


def _warn_of_a_count_per_process(settings: Settings) -> None:
    if not settings.redis_url:
        log.warning(
            "REDIS_URL is not set: failed code lookups are counted per worker process, so "
            "each worker allows its own %d per partner and %d per client address every %d s; "
            "set REDIS_URL to share the count across workers and hosts",
            settings.code_failures_per_window,
            settings.code_failures_per_address,
            settings.code_failure_window_seconds,
        )


def _register_blueprints(app: Flask) -> None:
    for module in (
        public,
        admin,
        vouchers,
        ledger,
        printing,
        batches,
        statuslists,
        settlements,
        lifecycle,
        reports,
        people,
        scan,
        issue_pages,
        audit_pages,
    ):
        app.register_blueprint(module.blueprint)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def on_service_error(error: ServiceError) -> Response:
        return service_error_response(error)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        slug = {
            400: "invalid-request",
            401: "unauthorized",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            413: "request-too-large",
        }.get(status, "invalid-request" if status < 500 else "internal-error")
        extra = (
            {"errors": [{"path": "", "message": error.description or ""}]} if status == 400 else {}
        )
        response = problem_response(slug, status, error.description or slug, extra)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    @app.errorhandler(psycopg.OperationalError)  # the one-statement redemption's own driver
    def on_database_unreachable(error: Exception) -> Response:
        # A refused or dropped connection, a pool with none free, a full disk: nothing was
        # committed, and a retry may well pass.
        log.warning("database unavailable: %s", error)
        return service_error_response(ServiceUnavailable("the database cannot be reached"))

    @app.errorhandler(SQLAlchemyInternalError)
    @app.errorhandler(psycopg.errors.ReadOnlySqlTransaction)
    def on_database_internal(error: Exception) -> Response:
        original = getattr(error, "orig", error)
        if isinstance(original, psycopg.errors.ReadOnlySqlTransaction):
            # A standby, or a database set read-only for maintenance: nothing was written.
            log.warning("database read-only: %s", original)
            return service_error_response(ServiceUnavailable("the database is read-only"))
        return on_unexpected(error)

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return problem_response("internal-error", 500, "an unexpected error occurred")
