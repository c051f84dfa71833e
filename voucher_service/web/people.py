"""People's accounts on the pages: sign-in by e-mail and password, the session, CSRF.

The interface the pages use (see the docstrings); its inside is issue 11's accounts work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask

from voucher_service.auth.api import Principal

blueprint = Blueprint("people", __name__)

F = TypeVar("F", bound=Callable[..., Any])


def init_people(app: Flask) -> None:
    """Sessions and CSRF for the pages (the /v1 API keeps its bearer keys, without CSRF)."""


def current_person() -> Principal | None:
    """The signed-in person as a Principal (role and tenant, as an API key's), or None."""
    return None


def person_required(*roles: str) -> Callable[[F], F]:
    """A page for these roles: not signed in, to /login?next=…; another role, a 403 page."""

    def decorate(view: F) -> F:
        return view

    return decorate
