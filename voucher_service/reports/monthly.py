"""A programme's months, summed from its ledger entries alone: the totals, by partner and by
organisation. Pure: it is handed entries (parsed JSON) and knows nothing of the database.

Two passes, so that memory grows with the period's activity, not with the programme's size:
the entries of the period first; then, only if some entries name vouchers but not the
organisation that handed them out (redemptions, reversals, older cancellations and expiries),
the programme's issue entries, which say which organisation issued each of those vouchers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from voucher_service.clock import month_of, month_text, parse_rfc3339
from voucher_service.ledger import kinds

# What each kind of entry adds to, by the name its figures take in a report.
MEASURE_OF_KIND = {
    kinds.ALLOCATE.name: "allocated",
    kinds.ISSUE.name: "issued",
    kinds.REDEEM.name: "redeemed",
    kinds.REVERSE.name: "reversed",
    kinds.EXPIRE.name: "expired",
    kinds.CANCEL.name: "cancelled",
    kinds.SETTLE.name: "settled",
    kinds.REJECT.name: "rejected",
    kinds.PAY.name: "paid",
}
MEASURES = tuple(MEASURE_OF_KIND.values())
# The measures whose entries list their vouchers: these have a count as well as cents.
COUNTED = ("issued", "redeemed", "reversed", "expired", "cancelled")
BY_PARTNER = ("redeemed", "reversed", "settled", "rejected", "paid")
BY_ORGANISATION = ("issued", "redeemed", "reversed", "expired", "cancelled")
# The entries whose organisation is the one that issued their vouchers.
VIA_VOUCHERS = ("redeemed", "reversed", "expired", "cancelled")

TOTAL, PARTNER, ORGANISATION = "total", "partner", "organisation"
Cell = tuple[date, str, str | None]  # (month, dimension, key); key None: total, or unknown
Sums = dict[str, int]


def fields(measures: Iterable[str]) -> list[str]:
    """The members of a row: each measure's cents, and its count where entries give one."""
    names: list[str] = []
    for measure in measures:
        if measure in COUNTED:
            names.append(f"{measure}_count")
        names.append(f"{measure}_cents")
    return names


TOTAL_FIELDS = fields(MEASURES)
PARTNER_FIELDS = fields(BY_PARTNER)
ORGANISATION_FIELDS = fields(BY_ORGANISATION)


class MonthlyReport:
    """The sums of one programme's entries over a run of months."""

    def __init__(self, months: list[date]) -> None:
        self.months = months
        self._in_range = set(months)
        # month → (dimension, key) → sums
        self._cells: dict[date, dict[tuple[str, str | None], Sums]] = {}
        # Entries whose organisation must be found from their vouchers' issue entries:
        # (month, measure, voucher ids, amount).
        self._pending: list[tuple[date, str, tuple[str, ...], int]] = []
        self._wanted: set[str] = set()
        self._issued_by: dict[str, tuple[str | None, int]] = {}  # voucher → (org, value)
        self._months_by_hour: dict[str, date] = {}

    # First pass: the entries of the period.

    def add(self, entry: dict[str, Any]) -> None:
        """Count one entry; an entry of a kind the report does not know is skipped."""
        measure = MEASURE_OF_KIND.get(entry.get("kind", ""))
        if measure is None:
            return
        month = self._month(str(entry["at"]))
        if month not in self._in_range:
            return
        amount = sum(int(posting["amount"]) for posting in entry.get("postings", []))
        vouchers = tuple(str(v) for v in entry.get("voucher_ids") or ())
        count = len(vouchers)
        self._add((month, TOTAL, None), measure, amount, count)
        if measure in BY_PARTNER:
            self._add((month, PARTNER, _text(entry.get("partner_id"))), measure, amount, count)
        if measure == "issued":
            organisation = _text(entry.get("organisation_id"))
            self._add((month, ORGANISATION, organisation), measure, amount, count)
        elif measure in VIA_VOUCHERS:
            organisation = _text(entry.get("organisation_id"))
            if organisation is not None or not vouchers:
                self._add((month, ORGANISATION, organisation), measure, amount, count)
            else:
                self._pending.append((month, measure, vouchers, amount))
                self._wanted.update(vouchers)

    def _month(self, at: str) -> date:
        """The month of Paris of an entry's `at`. Paris is a whole number of hours from UTC,
        so the month follows from the UTC hour: remembered by it (`2026-11-30T23`), which
        spares a time-zone conversion per entry."""
        if len(at) != 20 or not at.endswith("Z"):
            return month_of(parse_rfc3339(at))
        hour = at[:13]
        found = self._months_by_hour.get(hour)
        if found is None:
            found = self._months_by_hour[hour] = month_of(parse_rfc3339(at))
        return found

    @property
    def wanted_vouchers(self) -> bool:
        """Whether some entries need the organisation of their vouchers (a second pass)."""
        return bool(self._wanted)

    # Second pass: the programme's issue entries, for the vouchers the first one met.

    def learn_issue(self, entry: dict[str, Any]) -> None:
        """Note which organisation issued the wanted vouchers of an issue entry, and their
        value (a booklet's vouchers share its amount)."""
        if entry.get("kind") != kinds.ISSUE.name:
            return
        vouchers = [str(v) for v in entry.get("voucher_ids") or ()]
        wanted = [v for v in vouchers if v in self._wanted]
        if not wanted:
            return
        amount = sum(int(posting["amount"]) for posting in entry.get("postings", []))
        organisation = _text(entry.get("organisation_id"))
        for voucher in wanted:
            self._issued_by[voucher] = (organisation, amount // len(vouchers))

    def resolve(self) -> None:
        """Give each pending entry's amount to the organisations that issued its vouchers.
        The whole amount is always given, so the organisations add up to the totals to the
        cent: to the one organisation when all its vouchers come from one, else to each its
        vouchers' value, and what no issue entry explains to the unknown organisation."""
        for month, measure, vouchers, amount in self._pending:
            groups: dict[str | None, list[int]] = {}
            for voucher in vouchers:
                organisation, value = self._issued_by.get(voucher, (None, 0))
                groups.setdefault(organisation, []).append(value)
            if len(groups) == 1:
                (organisation,) = groups
                self._add((month, ORGANISATION, organisation), measure, amount, len(vouchers))
                continue
            given = 0
            for organisation, values in groups.items():
                self._add((month, ORGANISATION, organisation), measure, sum(values), len(values))
                given += sum(values)
            if given != amount:
                self._add((month, ORGANISATION, None), measure, amount - given, 0)
        self._pending.clear()

    # The answer.

    def view(
        self,
        partner_names: dict[str, str],
        organisation_names: dict[str, str],
    ) -> dict[str, Any]:
        """Every month of the range (a quiet month too, with zeros), then the range's totals."""
        months = []
        whole = dict.fromkeys(TOTAL_FIELDS, 0)
        for month in self.months:
            totals = self._row((month, TOTAL, None), TOTAL_FIELDS)
            for name, value in totals.items():
                whole[name] += value
            months.append(
                {
                    "month": month_text(month),
                    "totals": totals,
                    "partners": [
                        {
                            "partner_id": key,
                            "name": partner_names.get(key or ""),
                            **self._row((month, PARTNER, key), PARTNER_FIELDS),
                        }
                        for key in self._keys(month, PARTNER, partner_names)
                    ],
                    "organisations": [
                        {
                            "organisation_id": key,
                            "name": organisation_names.get(key or ""),
                            **self._row((month, ORGANISATION, key), ORGANISATION_FIELDS),
                        }
                        for key in self._keys(month, ORGANISATION, organisation_names)
                    ],
                }
            )
        return {"months": months, "totals": whole}

    def keys(self, dimension: str) -> set[str]:
        """Every partner's or organisation's id the report names (for their names)."""
        return {
            key
            for cells in self._cells.values()
            for (name, key) in cells
            if name == dimension and key is not None
        }

    def _keys(self, month: date, dimension: str, names: dict[str, str]) -> list[str | None]:
        """The keys of a month, by name then id (those without a name after); the unknown
        organisation last."""
        found = [key for (name, key) in self._cells.get(month, {}) if name == dimension]
        known = sorted(
            (k for k in found if k is not None), key=lambda k: (k not in names, names.get(k), k)
        )
        return [*known, *([None] if None in found else [])]

    def _row(self, cell: Cell, names: list[str]) -> dict[str, int]:
        month, dimension, key = cell
        sums = self._cells.get(month, {}).get((dimension, key), {})
        return {name: sums.get(name, 0) for name in names}

    def _add(self, cell: Cell, measure: str, amount: int, count: int) -> None:
        month, dimension, key = cell
        sums = self._cells.setdefault(month, {}).setdefault((dimension, key), {})
        sums[f"{measure}_cents"] = sums.get(f"{measure}_cents", 0) + amount
        if measure in COUNTED:
            sums[f"{measure}_count"] = sums.get(f"{measure}_count", 0) + count


def _text(value: Any) -> str | None:
    return str(value) if value else None
