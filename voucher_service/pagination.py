"""Keyset pagination, the one way every list pages: in time order then by id, from a cursor."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from voucher_service.clock import parse_rfc3339
from voucher_service.errors import InvalidRequest

Row = TypeVar("Row")


def page_of(
    session: Session,
    query: Select[Row],
    moment: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> tuple[list[Row], str | None]:
    """Up to `limit` rows of `query` after `cursor` in (moment, id) order, and the cursor of
    the next page: None on the last. A row added meanwhile is neither skipped nor repeated
    unless it lands before the cursor."""
    query = query.order_by(moment, row_id).limit(limit + 1)
    if cursor is not None:
        after_time, after_id = decode_cursor(cursor)
        query = query.where(or_(moment > after_time, and_(moment == after_time, row_id > after_id)))
    rows = list(session.scalars(query))
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last: Any = page[-1]
    return page, encode_cursor(getattr(last, moment.key), getattr(last, row_id.key))


def encode_cursor(moment: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = raw.split("|", 1)
        if "\x00" in row_id or len(row_id) > 36:
            raise ValueError("not one of our ids")
        return parse_rfc3339(moment), row_id
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise InvalidRequest(
            "the cursor is not one we gave", [{"path": "cursor", "message": "unknown cursor"}]
        ) from None
