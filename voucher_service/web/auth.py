"""Bearer API keys at the door: who calls, and whether the route admits that role."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from voucher_service.auth.api import Principal, find_principal
from voucher_service.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])
CACHE_SECONDS = 10.0


class PrincipalCache:
    """A short-lived cache of key lookups: the hot path skips a query, revocation lags ≤ 10 s."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + CACHE_SECONDS, principal)


def current_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(key) > 200 or not key.isascii():
        raise Unauthorized("send your API key as Authorization: Bearer <key>")
    services = current_app.extensions["voucher_service"]
    principal: Principal | None = services.principals.get(key)
    if principal is None:
        with services.database.read() as session:
            principal = find_principal(session, key)
        if principal is None:
            raise Unauthorized("this API key is unknown or revoked")
        services.principals.put(key, principal)
    return principal


def requires(*roles: str) -> Callable[[F], F]:
    """Admit only these roles; the principal is in `g.principal` for the view."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in roles:
                raise Forbidden(f"the {principal.role} role may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate
