"""What operators see of each request: its id, its access-log line and its counts; and
/metrics, where Prometheus reads them."""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import structlog
from flask import Blueprint, Flask, Response, g, request
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from voucher_service.config import Settings
from voucher_service.errors import Forbidden, ServiceError, Unauthorized
from voucher_service.logs import get_logger
from voucher_service.metrics import (
    HTTP_DURATION,
    HTTP_REQUESTS,
    REDEMPTION_REFUSALS,
    REDEMPTIONS,
    exposition,
)
from voucher_service.web.helpers import services

blueprint = Blueprint("metrics", __name__)
access_log = get_logger("voucher_service.access")

REQUEST_ID_HEADER = "X-Request-Id"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Anything else is counted as "other": a client must not mint label values at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route of a request no URL rule matched (404, 405)

F = TypeVar("F", bound=Callable[..., Any])


def observe_requests(app: Flask) -> None:
    """Give every request an id, an access-log line and its counts, and serve /metrics."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)
    app.register_blueprint(blueprint)


def request_id_of(given: str | None) -> str:
    """The caller's X-Request-Id when it is sane (a proxy's or a client's, to follow a
    request across systems), else a new one: nothing else reaches the logs."""
    if given is not None and SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _finish(response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    request_id = g.get("request_id") or request_id_of(None)
    method = request.method if request.method in METHODS else "other"
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
    HTTP_DURATION.labels(method=method, route=route).observe(elapsed)
    response.headers[REQUEST_ID_HEADER] = request_id
    principal = g.get("principal")
    access_log.info(
        "request",
        method=method,
        route=route,
        status=response.status_code,
        duration_ms=round(elapsed * 1000, 2),
        request_id=request_id,
        principal_id=None if principal is None else principal.id,
    )
    return response


def _forget(_: BaseException | None) -> None:
    structlog.contextvars.unbind_contextvars("request_id")


def counts_redemptions(view: F) -> F:
    """Count the view's redemptions (new 201 answers) and its refusals by problem slug."""

    @wraps(view)
    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            response = view(*args, **kwargs)
        except ServiceError as refusal:
            REDEMPTION_REFUSALS.labels(slug=refusal.slug).inc()
            raise
        if response.status_code == 201 and "Idempotent-Replayed" not in response.headers:
            REDEMPTIONS.inc()
        return response

    return cast(F, counted)


@blueprint.get("/metrics")
def get_metrics() -> Response:
    svc = services()
    admit_metrics_reader(svc.context.settings)
    response = Response(exposition(svc.database), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


def admit_metrics_reader(settings: Settings) -> None:
    """Metrics tell the business's volume: with VOUCHER_SERVICE_METRICS_TOKEN set, only its
    bearer reads them; without it, anyone in development and no one in production."""
    token = settings.metrics_token
    if token is None:
        if settings.production:
            raise Forbidden("metrics are closed: set VOUCHER_SERVICE_METRICS_TOKEN to read them")
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Unauthorized("send the metrics token as Authorization: Bearer <token>")
