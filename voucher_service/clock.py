"""The one clock of the service, replaceable in tests, and how times enter and leave it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from voucher_service.errors import InvalidRequest

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731

# Days are the days of the people the programmes serve: a date given alone is a day in Paris.
LOCAL_ZONE = "Europe/Paris"
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


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


@cache
def local_zone() -> ZoneInfo:
    return ZoneInfo(LOCAL_ZONE)


def day_boundary(day: date, *, day_end: bool = False) -> datetime:
    """The instant a day of Europe/Paris begins, or with `day_end` the instant it ends (the
    next day's midnight, so that `< end` keeps the whole day), in UTC. Midnight exists on
    every day there: the clocks change at 02:00 and 03:00."""
    start = day + timedelta(days=1) if day_end else day
    return datetime.combine(start, time(0), tzinfo=local_zone()).astimezone(UTC)


def parse_time(text: str, path: str, *, day_end: bool = False) -> datetime:
    """A time from a request (a body field or a query parameter at `path`), or 400: an RFC 3339
    time, or a date (YYYY-MM-DD), a day of Europe/Paris: its first instant, or with `day_end`
    the instant it ends (a `valid_until`, a `to`: through the end of that day)."""
    try:
        if _DATE_ONLY.fullmatch(text):
            return day_boundary(date.fromisoformat(text), day_end=day_end)
        return parse_rfc3339(text)
    except (ValueError, OverflowError):  # a year 9999 time with an offset overflows in UTC
        raise InvalidRequest(
            f"{path.lstrip('/')} is neither an RFC 3339 time nor a date (YYYY-MM-DD)",
            [{"path": path, "message": TIME_FORMS}],
        ) from None


TIME_FORMS = "an RFC 3339 time (2027-01-01T00:00:00Z) or a date (2027-01-01, a day in Paris)"


# Months are calendar months of Europe/Paris: settlements, reports and statements use them.
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])", re.ASCII)


def parse_month(text: str, path: str) -> date:
    """A month from a request ("2026-11"), as its first day, or 400 naming `path`."""
    found = _MONTH.fullmatch(text)
    # From year 2: January of year 1 begins, in UTC, on 31 December of year 0, which Python's
    # datetime cannot hold (month_bounds would overflow); to 9998, for the month after it.
    if found is None or not 2 <= int(found.group(1)) <= 9998:
        raise InvalidRequest(
            f"{path.lstrip('/')} is not a month (YYYY-MM, such as 2026-11)",
            [{"path": path, "message": "a month, YYYY-MM"}],
        )
    return date(int(found.group(1)), int(found.group(2)), 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The instants a month of Europe/Paris begins and ends (the next month's first instant),
    in UTC: a redemption at 00:30 on 1 December in Limoges belongs to December."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return day_boundary(month.replace(day=1)), day_boundary(following)


def month_of(moment: datetime) -> date:
    """The month of Europe/Paris `moment` falls in, as its first day."""
    local = moment.astimezone(local_zone())
    return date(local.year, local.month, 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"
