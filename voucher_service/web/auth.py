"""Bearer API keys at the door: who calls, and whether the route admits that role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from voucher_service.auth.api import Principal, find_principal
from voucher_service.errors import Forbidden, Unauthorized
from voucher_service.web.helpers import services

F = TypeVar("F", bound=Callable[..., Any])


def current_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(key) > 200 or not key.isascii():
        raise Unauthorized("send your API key as Authorization: Bearer <key>")
    svc = services()
    principal = svc.principals.get(key)
    if principal is None:
        principal = find_principal(svc.database, key)
        if principal is None:
            raise Unauthorized("this API key is unknown or revoked")
        svc.principals.put(key, principal)
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
