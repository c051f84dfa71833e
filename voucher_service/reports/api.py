"""The funder's monthly report of a programme, summed from the programme's ledger entries
alone (its `ledger_transfers` rows, read through their (program_id, at) index, in chunks):
the figures a report gives agree with the ledger, and with the programme's figures, to the
cent. Only the names of the partners and organisations come from the directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voucher_service.clock import month_bounds, month_of, month_text, parse_month, rfc3339
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest
from voucher_service.ledger import kinds
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.organisations.models import Organisation
from voucher_service.partners.models import Partner
from voucher_service.programs.api import load_program
from voucher_service.reports.monthly import ORGANISATION, PARTNER, MonthlyReport

MAX_MONTHS = 120  # ten years: a report stays one answer, its months one screen of rows
CHUNK = 2000  # entries read at a time


@dataclass(frozen=True)
class Period:
    """Months asked for (first days), each None when not given."""

    first: date | None
    last: date | None

    @classmethod
    def parse(cls, first: str | None, last: str | None) -> Period:
        """The query's `from` and `to` (YYYY-MM), or 400."""
        return cls(
            None if first is None else parse_month(first, "from"),
            None if last is None else parse_month(last, "to"),
        )


def program_report(
    database: Database, program_id: str, period: Period, now: datetime
) -> dict[str, Any]:
    """The programme's months from `period.first` to `period.last` (inclusive; by default
    from its first month to the current one)."""
    with database.read() as session:
        program = load_program(session, program_id)
        months = _months(session, program.id, program.created_at, period, now)
        start, end = month_bounds(months[0])[0], month_bounds(months[-1])[1]
        report = MonthlyReport(months)
        for entry in _entries(session, program.id, start, end):
            report.add(entry)
        if report.wanted_vouchers:
            # The vouchers' organisations: every issue entry before the period's end, since a
            # voucher redeemed this month may have been issued years ago.
            for entry in _entries(session, program.id, None, end, kinds.ISSUE.name):
                report.learn_issue(entry)
        report.resolve()
        partners = _names(session, Partner, report.keys(PARTNER))
        organisations = _names(session, Organisation, report.keys(ORGANISATION))
        return {
            "program_id": program.id,
            "currency": program.currency,
            "from": month_text(months[0]),
            "to": month_text(months[-1]),
            "generated_at": rfc3339(now),
            **report.view(partners, organisations),
        }


def _months(
    session: Session, program_id: str, created_at: datetime, period: Period, now: datetime
) -> list[date]:
    """The months of the report; 400 when `from` is after `to` or the range is too long."""
    first, last = period.first, period.last
    if first is None:
        # The programme's first month: its creation's, or its first entry's if earlier.
        oldest = session.scalar(
            select(func.min(LedgerTransfer.at)).where(LedgerTransfer.program_id == program_id)
        )
        first = month_of(min(created_at, oldest) if oldest is not None else created_at)
        if last is not None:
            first = min(first, last)
    if last is None:
        last = max(month_of(now), first)
    if first > last:
        raise InvalidRequest(
            "from is after to", [{"path": "from", "message": "a month at or before to"}]
        )
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if count > MAX_MONTHS:
        raise InvalidRequest(
            f"a report covers at most {MAX_MONTHS} months; this one would cover {count}",
            [{"path": "from", "message": f"at most {MAX_MONTHS} months before to"}],
        )
    return [date(first.year + (first.month - 1 + n) // 12, (first.month - 1 + n) % 12 + 1, 1)
            for n in range(count)]  # fmt: skip


def _entries(
    session: Session,
    program_id: str,
    start: datetime | None,
    end: datetime,
    kind: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The programme's entries with `start <= at < end`, parsed, read a chunk at a time."""
    query = select(LedgerTransfer.entry).where(
        LedgerTransfer.program_id == program_id, LedgerTransfer.at < end
    )
    if start is not None:
        query = query.where(LedgerTransfer.at >= start)
    if kind is not None:
        query = query.where(LedgerTransfer.kind == kind)
    for (text,) in session.execute(query.execution_options(yield_per=CHUNK)):
        entry = json.loads(text)
        if isinstance(entry, dict):
            yield entry


def _names(
    session: Session, model: type[Partner] | type[Organisation], ids: set[str]
) -> dict[str, str]:
    """The names of these partners or organisations (for people reading the report)."""
    names: dict[str, str] = {}
    wanted = sorted(ids)
    for offset in range(0, len(wanted), 500):
        chunk = wanted[offset : offset + 500]
        rows = session.execute(select(model.id, model.name).where(model.id.in_(chunk)))
        names.update((str(key), str(name)) for key, name in rows)
    return names
