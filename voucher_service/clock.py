"""The one clock of the service, replaceable in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from voucher_service.errors import InvalidRequest

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds."""
    return _source()


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests travel in time); None restores the real one."""
    global _source
    _source = source if source is not None else (lambda: datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with a Z, seconds precision: how every time leaves the service."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time; naive times are refused by raising ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time needs its offset (Z or ±hh:mm)")
    return moment.astimezone(UTC)


def parse_time(text: str, path: str) -> datetime:
    """An RFC 3339 time from a request (a body field or a query parameter at `path`), or 400."""
    try:
        return parse_rfc3339(text)
    except (ValueError, OverflowError):  # a year 9999 time with an offset overflows in UTC
        raise InvalidRequest(
            f"{path.lstrip('/')} is not an RFC 3339 time",
            [{"path": path, "message": "RFC 3339 time"}],
        ) from None
