"""The replay of the ledger's rules, entry by entry: form, routes, balances, vouchers.

Checks 5 to 7. The kinds of transfer, the references each names and the accounts it moves
money between come from ledger/kinds.py; account names from ledger/accounts.py.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, cast

from voucher_service.ledger import accounts, kinds
from voucher_service.ledger.kinds import Kind
from voucher_service.ledger.verify.report import clip, short
from voucher_service.ledger.verify.tables import KEY_SIZE, Table, id_key
from voucher_service.ledger.verify.vouchers import Circulation

_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
UTC_TIME = re.compile(_DATE_TIME + r"(Z|\+00:00)")  # entries: UTC, as the service writes them
RFC3339 = re.compile(_DATE_TIME + r"(Z|[+-][0-9]{2}:[0-9]{2})")
_SECONDS = frozenset(f"{second:02d}Z" for second in range(60))  # how "at" ends: "SSZ"
_STR = frozenset((str,))  # the only type a reference may have
_ENTRY_INDEX = struct.Struct("<I")  # an entry id's record, past its key: its entry's index
# The references the rules need by name, beyond the accounts (each kind's refs say which it has).
_PROGRAM, _PARTNER, _REVERSES = "program_id", "partner_id", "reverses"
_BATCH = "batch_id"  # an issue entry's, when it issues a pre-printed booklet

Fail = Callable[[str, str], None]
Entry = dict[str, Any]
Postings = list[dict[str, Any]]
_Rule = Callable[[int, Kind, Entry, Postings], None]


class Replay:
    """Checks each entry and replays its postings; keeps ids and vouchers, never entries.

    `expected` is a guess of the number of entries: the tables start at that size.
    """

    def __init__(self, fail: Fail, warn: Callable[[str], None], expected: int = 0) -> None:
        self._fail = fail
        self._warn = warn
        self.entries = 0
        self.balances: dict[str, int] = {}
        self.unknown_kinds: dict[str, list[int]] = {}  # kind -> [count, first index]
        self._ids = Table("I", expected)  # read back with _ENTRY_INDEX
        self._vouchers = Circulation(partial(self._bad, "vouchers"), expected)
        decoder: Any = json.JSONDecoder()  # its scanner is raw_decode's, less a Python frame
        self._scan: Callable[[str, int], tuple[object, int]] = decoder.scan_once
        self._last_at = ""
        rules: dict[Kind, _Rule] = {
            kinds.ALLOCATE: self._allocate,
            kinds.ISSUE: self._issue,
            kinds.REDEEM: self._redeem,
            kinds.REVERSE: self._reverse,
            kinds.CANCEL: self._withdraw,
            kinds.EXPIRE: self._withdraw,
            kinds.ACTIVATE: self._activate,
        }
        # Any other kind (settle) moves money along its route and touches no voucher.
        self._kinds = {kind.name: (kind, rules.get(kind, self._routed)) for kind in kinds.ALL}

    @property
    def voucher_count(self) -> int:
        return self._vouchers.count

    @property
    def activated_count(self) -> int:
        return self._vouchers.activated

    def entry(self, index: int, line: bytes) -> None:
        """Checks the line at `index` (the lines come in order, each once)."""
        self.entries = index + 1
        try:
            text = line.decode()
            try:
                entry, end = self._scan(text, 0)
            except StopIteration as stop:  # as raw_decode words it
                raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        except (ValueError, RecursionError) as exc:
            self._bad("entries", index, None, f"not valid UTF-8 JSON ({short(exc)})")
            return
        if end != len(text) or type(entry) is not dict:
            self._bad("entries", index, None, "not one JSON object")
            return
        name = self._header(index, entry)
        postings = self._post(index, name, entry)
        if postings is None or not name:
            return
        known = self._kinds.get(name)
        if known is not None:
            kind, rule = known
            rule(index, kind, entry, postings)
        else:
            self.unknown_kinds.setdefault(name, [0, index])[0] += 1

    def finish(self) -> None:
        """The end-of-log checks, once the last entry was checked."""
        self._check_outstanding()
        for kind, (count, first) in sorted(self.unknown_kinds.items()):
            self._warn(f"{count} entries of unknown kind {kind!r} (first: entry {first})")

    def _check_outstanding(self) -> None:
        """The end-of-log invariant: outstanding balances are the vouchers in circulation."""
        expected = self._vouchers.circulating()
        programs = set(expected)
        programs.update(filter(None, map(accounts.outstanding_program, self.balances)))
        for program in sorted(programs):
            account = accounts.program_outstanding(program)
            actual, due = self.balances.get(account, 0), expected.get(program, 0)
            if actual != due:
                self._fail(
                    "vouchers",
                    f"at the end, {account} holds {actual} but its vouchers in circulation "
                    f"are worth {due}",
                )

    def _bad(self, group: str, index: int, kind: str | None, message: str) -> None:
        self._fail(group, f"entry {index} ({kind or '?'}): {message}")

    # Form (check 5) and balances (check 6).

    def _header(self, index: int, entry: Entry) -> str | None:
        kind = entry.get("kind")
        if type(kind) is not str or not kind:
            self._bad("entries", index, None, f"kind {kind!r} is not a non-empty string")
            kind = None
        entry_id = entry.get("id")
        if type(entry_id) is not str or not entry_id:
            self._bad("entries", index, kind, f"id {entry_id!r} is not a non-empty string")
        elif self._ids.add(id_key(entry_id), index) >= 0:
            self._bad("entries", index, kind, f"id {entry_id} appears twice in the log")
        at, last = entry.get("at"), self._last_at
        if at != last:  # most entries share the second, or at least the minute, of the last
            if type(at) is str and (
                (len(at) == 20 and at[17:] in _SECONDS and at[:17] == last[:17])
                or is_time(at, UTC_TIME)
            ):
                self._last_at = at
            else:
                self._bad("entries", index, kind, f"at {at!r} is not an RFC 3339 UTC time")
        return kind

    def _post(self, index: int, kind: str | None, entry: Entry) -> Postings | None:
        """Validates the postings, then applies them all (a transfer is atomic)."""
        postings = entry.get("postings")
        if type(postings) is list and len(postings) == 1 and type(postings[0]) is dict:
            posting = postings[0]  # most transfers: _postings_problem's checks, at less cost
            amount, source, destination = (
                posting.get("amount"),
                posting.get("source"),
                posting.get("destination"),
            )
            if (
                type(amount) is int
                and amount > 0
                and type(source) is type(destination) is str
                and source
                and destination
                and source != destination
            ):
                balances = self.balances
                balances[destination] = balances.get(destination, 0) + amount
                balances[source] = left = balances.get(source, 0) - amount
                if left < 0:
                    self._negatives(index, kind, postings)
                return postings
        if postings == [] and self._moves_no_money(kind):
            return []  # an activation: a change of vouchers' state, not of money
        problem = _postings_problem(postings)
        if problem is not None:
            self._bad("entries", index, kind, problem)
            return None
        postings = cast("Postings", postings)
        balances = self.balances
        get = balances.get
        dipped = False
        for posting in postings:
            amount, source, destination = (
                posting["amount"],
                posting["source"],
                posting["destination"],
            )
            balances[destination] = get(destination, 0) + amount
            left = balances[source] = get(source, 0) - amount
            dipped = dipped or left < 0
        if dipped:  # judged after the whole transfer: its postings land together
            self._negatives(index, kind, postings)
        return postings

    def _moves_no_money(self, kind: str | None) -> bool:
        known = self._kinds.get(kind) if kind else None
        return known is not None and not known[0].moves_money

    def _negatives(self, index: int, kind: str | None, postings: Postings) -> None:
        for source in dict.fromkeys(posting["source"] for posting in postings):
            balance = self.balances[source]
            if balance < 0 and not accounts.is_source_account(source):
                self._bad("balances", index, kind, f"{source} goes negative ({balance})")

    def _refs(self, index: int, kind: Kind, entry: Entry) -> tuple[str, ...] | None:
        """The entry's values of the kind's references, each a non-empty string; or None."""
        values: tuple[Any, ...] = tuple(map(entry.get, kind.refs))
        if all(values) and _STR.issuperset(map(type, values)):
            return values
        for name, value in zip(kind.refs, values, strict=True):
            if type(value) is not str or not value:
                message = f"{name} {value!r} is not a non-empty string"
                self._bad("entries", index, kind.name, message)
        return None

    def _voucher_ids(self, index: int, kind: Kind, entry: Entry, one: bool) -> list[str] | None:
        ids = entry.get("voucher_ids")
        if type(ids) is not list or not ids:
            pass
        elif len(ids) == 1:  # every redemption and reversal: spare them the general check
            if type(ids[0]) is str and ids[0]:
                return ids
        elif not one and all(type(vid) is str and vid for vid in ids) and len(set(ids)) == len(ids):
            return ids
        wanted = "one voucher id" if one else "distinct voucher ids"
        message = f"voucher_ids {clip(ids)} is not a list of {wanted}"
        self._bad("entries", index, kind.name, message)
        return None

    def _one_posting(
        self, index: int, kind: Kind, postings: Postings, refs: tuple[str, ...]
    ) -> int | None:
        """The amount of the transfer's one posting, if it follows the kind's route."""
        if len(postings) != 1:
            message = f"{len(postings)} postings where one is expected"
            self._bad("entries", index, kind.name, message)
            return None
        posting = postings[0]
        source, destination = kind.accounts(refs)
        if posting["source"] != source or posting["destination"] != destination:
            self._off_route(index, kind, posting, source, destination)
            return None
        amount: int = posting["amount"]
        return amount

    def _off_route(
        self, index: int, kind: Kind, posting: dict[str, Any], source: str, destination: str
    ) -> None:
        moves = f"moves {posting['source']} → {posting['destination']}"
        self._bad("entries", index, kind.name, f"{moves}, not {source} → {destination}")

    # The rules of each kind (checks 5 and 7).

    def _routed(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        if refs is None:
            return
        source, destination = kind.accounts(refs)
        for posting in postings:
            if posting["source"] != source or posting["destination"] != destination:
                self._off_route(index, kind, posting, source, destination)

    def _allocate(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        if refs is not None:
            self._one_posting(index, kind, postings, refs)

    def _issue(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        voucher_ids = self._voucher_ids(index, kind, entry, one=False)
        batch = entry.get(_BATCH)
        if batch is not None and (type(batch) is not str or not batch):
            self._bad("entries", index, kind.name, f"batch_id {clip(batch)} is not an id")
            return
        if refs is None or voucher_ids is None:
            return
        amount = self._one_posting(index, kind, postings, refs)
        if amount is not None:
            printed = batch is not None  # a pre-printed booklet: redeemable once activated
            self._vouchers.issue(index, kind.name, entry[_PROGRAM], voucher_ids, amount, printed)

    def _redeem(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        voucher_ids = self._voucher_ids(index, kind, entry, one=True)
        if refs is None or voucher_ids is None:
            return
        amount = self._one_posting(index, kind, postings, refs)
        program, partner = entry[_PROGRAM], entry[_PARTNER]
        self._vouchers.redeem(index, kind.name, program, partner, voucher_ids[0], amount)

    def _reverse(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        voucher_ids = self._voucher_ids(index, kind, entry, one=True)
        if refs is None or voucher_ids is None:
            return
        amount = self._one_posting(index, kind, postings, refs)
        program, partner, reverses = entry[_PROGRAM], entry[_PARTNER], entry[_REVERSES]
        reversed_at = self._index_of(reverses)
        self._vouchers.give_back(
            index, kind.name, program, partner, voucher_ids[0], amount, reverses, reversed_at
        )

    def _index_of(self, entry_id: str) -> int | None:
        """The index of the entry with this id (the first, should there be several)."""
        at = self._ids.find(id_key(entry_id))
        return None if at < 0 else int(_ENTRY_INDEX.unpack_from(self._ids.slots, at + KEY_SIZE)[0])

    def _activate(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        voucher_ids = self._voucher_ids(index, kind, entry, one=False)
        if postings:
            message = f"{len(postings)} postings where an activation moves no money"
            self._bad("entries", index, kind.name, message)
        if refs is not None and voucher_ids is not None:
            self._vouchers.activate(index, kind.name, entry[_PROGRAM], voucher_ids)

    def _withdraw(self, index: int, kind: Kind, entry: Entry, postings: Postings) -> None:
        refs = self._refs(index, kind, entry)
        voucher_ids = self._voucher_ids(index, kind, entry, one=False)
        if refs is None or voucher_ids is None:
            return
        amount = self._one_posting(index, kind, postings, refs)
        self._vouchers.withdraw(index, kind.name, entry[_PROGRAM], voucher_ids, amount)


def is_time(text: str, pattern: re.Pattern[str]) -> bool:
    """Whether `text` matches the pattern and is a real time (no 61st second, no 30 February)."""
    if not pattern.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _postings_problem(postings: object) -> str | None:
    """Why `postings` is not a list of positive moves between two distinct accounts, if not."""
    if type(postings) is not list or not postings:
        return "postings is not a non-empty list"
    for posting in postings:
        if type(posting) is not dict:
            return f"posting {clip(posting)} is not an object"
        source, destination = posting.get("source"), posting.get("destination")
        amount = posting.get("amount")
        if type(source) is not str or type(destination) is not str or not source or not destination:
            return f"posting {clip(posting)} lacks a source or destination account"
        if source == destination:
            return f"posting moves money from {source} to itself"
        if type(amount) is not int or amount <= 0:
            return f"posting amount {amount!r} is not a positive integer"
    return None
