"""The replay's vouchers: each one's programme, face value and whereabouts, in a compact table.

Check 7's rules: a voucher is issued once, redeemed at most once while live, given back only
by the reversal of its live redemption, withdrawn only while in circulation, and always for
its face value; each programme's vouchers in circulation are worth its outstanding balance.
A pre-printed voucher (issued with a batch) is in circulation but redeemable only once an
activation entry has named it, and it is activated once.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable

from voucher_service.ledger import kinds
from voucher_service.ledger.verify.tables import KEY_SIZE, Table, id_key, id_keys

# A voucher's record, past its key: its issue, its taker and its state. Its state is 0 while in
# circulation and redeemable, _PRINTED while in circulation but not yet activated; else 4 x the
# index of the entry that took it out of circulation, plus how. Its taker is the partner of its
# live redemption (0 when none). 2^32 entries, issues or partners would take terabytes of log:
# `struct` would refuse them.
_VOUCHER = struct.Struct("<IIq")
_LIVE, _CANCELLED, _EXPIRED = 1, 2, 3
_PRINTED = -1  # never an entry's state: those are >= 0
_WITHDRAWN = {kinds.CANCEL.name: _CANCELLED, kinds.EXPIRE.name: _EXPIRED}
_HOW = {_LIVE: "redeemed by"} | {how: f"withdrawn by {name}" for name, how in _WITHDRAWN.items()}
_Found = tuple[int, int, int, int]  # where a voucher's record is, then its issue, taker, state

Bad = Callable[[int, str, str], None]  # reports (entry index, kind, message)


class Circulation:
    """Every voucher issued so far, where it is, and what each programme has in circulation."""

    def __init__(self, bad: Bad, expected: int = 0) -> None:
        self._bad = bad
        self._records = Table(f"{_VOUCHER.size}s", expected)  # a _VOUCHER, packed
        # Each issue entry's programme (by number), face value and index: its vouchers share it.
        self._issue_programs = array("I")
        self._issue_values: list[int] = []
        self._issue_entries = array("q")
        self._programs: dict[str, int] = {}  # programme id -> its number
        self._program_ids: list[str] = []
        self._circulating: list[int] = []  # by programme: the value of its vouchers in circulation
        self._partners: dict[str, int] = {}  # partner id -> its number
        self._partner_ids: list[str] = []
        self._activated = 0

    @property
    def count(self) -> int:
        """How many vouchers were issued."""
        return self._records.count

    @property
    def activated(self) -> int:
        """How many pre-printed vouchers were activated."""
        return self._activated

    def circulating(self) -> dict[str, int]:
        """Each programme's vouchers in circulation, by value."""
        return dict(zip(self._program_ids, self._circulating, strict=True))

    def issue(
        self,
        index: int,
        kind: str,
        program: str,
        voucher_ids: list[str],
        amount: int,
        printed: bool = False,
    ) -> None:
        """A booklet's vouchers go into circulation, each worth an equal share of `amount`;
        `printed`: not redeemable before their activation."""
        value, rest = divmod(amount, len(voucher_ids))
        if rest:
            self._bad(
                index, kind, f"{amount} is not a whole face value for {len(voucher_ids)} vouchers"
            )
            return
        number = self._programs.get(program)
        if number is None:
            number = self._programs[program] = len(self._program_ids)
            self._program_ids.append(program)
            self._circulating.append(0)
        issue = len(self._issue_entries)  # its vouchers' records name it by this number
        self._issue_programs.append(number)
        self._issue_values.append(value)
        self._issue_entries.append(index)
        payload = _VOUCHER.pack(issue, 0, _PRINTED if printed else 0)
        add, new = self._records.add, 0
        for voucher_id, key in zip(voucher_ids, id_keys(voucher_ids), strict=True):
            at = add(key, payload)
            if at < 0:
                new += 1
                continue
            first = self._issue_entries[_VOUCHER.unpack_from(self._records.slots, at + KEY_SIZE)[0]]
            self._bad(index, kind, f"voucher {voucher_id} issued again (first by entry {first})")
        self._circulating[number] += new * value

    def redeem(
        self, index: int, kind: str, program: str, partner: str, voucher_id: str, amount: int | None
    ) -> None:
        """Takes a voucher out of circulation: a second live redemption is a double spend."""
        records, key = self._records, id_key(voucher_id)
        at = records.find(key)
        if at >= 0:  # the one path of nearly every entry: inline, not _known and _move
            issue, _, state = _VOUCHER.unpack_from(records.slots, at + KEY_SIZE)
            value = self._issue_values[issue]
            if (
                not state
                and amount == value
                and self._program_ids[self._issue_programs[issue]] == program
            ):
                taker = self._partners.get(partner)
                if taker is None:
                    taker = self._new_partner(partner)
                _VOUCHER.pack_into(records.slots, at + KEY_SIZE, issue, taker, index << 2 | _LIVE)
                self._circulating[self._issue_programs[issue]] -= value
                return
        self._refuse(index, kind, program, partner, voucher_id, key, amount)

    def _refuse(
        self,
        index: int,
        kind: str,
        program: str,
        partner: str,
        voucher_id: str,
        key: bytes,
        amount: int | None,
    ) -> None:
        """Says why a redemption does not hold: the voucher's state, or its amount."""
        found = self._known(index, kind, voucher_id, key, program)
        if amount is None or found is None:
            return
        _, issue, _, state = found
        if state & 3 == _LIVE:
            message = f"voucher {voucher_id} redeemed twice: entry {state >> 2}'s redemption"
            self._bad(index, kind, f"{message} is still live")
        elif state not in (0, _PRINTED):
            self._bad(index, kind, f"voucher {voucher_id} was {_whereabouts(state)}")
        else:  # in circulation, for the wrong amount or not activated: it leaves all the same
            if state == _PRINTED:
                message = f"voucher {voucher_id} redeemed while printed: no entry activated it"
                self._bad(index, kind, message)
            taker = self._partners.get(partner)
            if taker is None:
                taker = self._new_partner(partner)
            self._move(found, taker, index << 2 | _LIVE, -1)
        if amount != self._issue_values[issue]:
            self._wrong_value(index, kind, voucher_id, found, amount)

    def _new_partner(self, partner: str) -> int:
        number = self._partners[partner] = len(self._partner_ids)
        self._partner_ids.append(partner)
        return number

    def give_back(
        self,
        index: int,
        kind: str,
        program: str,
        partner: str,
        voucher_id: str,
        amount: int | None,
        reverses: str,
        reversed_at: int | None,
    ) -> None:
        """Undoes the live redemption `reverses` names (logged at `reversed_at`, if it was)."""
        found = self._known(index, kind, voucher_id, id_key(voucher_id), program)
        if amount is None or found is None:
            return
        _, issue, taker, state = found
        live = state >> 2 if state & 3 == _LIVE else None
        if live is None or live != reversed_at:
            current = "none" if live is None else f"entry {live}"
            message = f"reverses {reverses}, not the live redemption of voucher {voucher_id}"
            self._bad(index, kind, f"{message} (live: {current})")
        elif self._partner_ids[taker] != partner:
            message = f"reverses a redemption by partner {self._partner_ids[taker]}, not {partner}"
            self._bad(index, kind, message)
        else:
            self._move(found, 0, 0, 1)
        if amount != self._issue_values[issue]:
            self._wrong_value(index, kind, voucher_id, found, amount)

    def withdraw(
        self, index: int, kind: str, program: str, voucher_ids: list[str], amount: int | None
    ) -> None:
        """Cancel or expire: vouchers in circulation go back to the programme's budget."""
        state = index << 2 | _WITHDRAWN[kind]
        total: int | None = 0
        for voucher_id, key in zip(voucher_ids, id_keys(voucher_ids), strict=True):
            found = self._known(index, kind, voucher_id, key, program)
            if found is None:
                total = None
                continue
            value = self._issue_values[found[1]]
            total = None if total is None else total + value
            if found[3] not in (0, _PRINTED):  # printed vouchers may be withdrawn too
                message = f"voucher {voucher_id} is not in circulation ({_whereabouts(found[3])})"
                self._bad(index, kind, message)
            else:
                self._move(found, 0, state, -1)
        if amount is not None and total is not None and amount != total:
            self._bad(index, kind, f"withdraws {amount} for vouchers worth {total}")

    def activate(self, index: int, kind: str, program: str, voucher_ids: list[str]) -> None:
        """A pre-printed booklet handed out: its printed vouchers become redeemable, once."""
        for voucher_id, key in zip(voucher_ids, id_keys(voucher_ids), strict=True):
            found = self._known(index, kind, voucher_id, key, program)
            if found is None:
                continue
            at, issue, taker, state = found
            if state == _PRINTED:
                _VOUCHER.pack_into(self._records.slots, at + KEY_SIZE, issue, taker, 0)
                self._activated += 1
            elif state:
                message = f"voucher {voucher_id} is not in circulation ({_whereabouts(state)})"
                self._bad(index, kind, message)
            else:
                message = f"voucher {voucher_id} is not printed: issued to a beneficiary already"
                self._bad(index, kind, message)

    def _known(
        self, index: int, kind: str, voucher_id: str, key: bytes, program: str
    ) -> _Found | None:
        """Where the voucher's record is, then its issue, taker and state; None once reported."""
        at = self._records.find(key)
        if at < 0:
            self._bad(index, kind, f"voucher {voucher_id} was never issued")
            return None
        issue, taker, state = _VOUCHER.unpack_from(self._records.slots, at + KEY_SIZE)
        owner = self._program_ids[self._issue_programs[issue]]
        if owner != program:
            self._bad(
                index, kind, f"voucher {voucher_id} belongs to programme {owner}, not {program}"
            )
            return None
        return at, issue, taker, state

    def _move(self, found: _Found, taker: int, state: int, sign: int) -> None:
        """Records a voucher's new state; sign 1 when it comes back into circulation, -1 out."""
        at, issue, _, _ = found
        _VOUCHER.pack_into(self._records.slots, at + KEY_SIZE, issue, taker, state)
        self._circulating[self._issue_programs[issue]] += sign * self._issue_values[issue]

    def _wrong_value(
        self, index: int, kind: str, voucher_id: str, found: _Found, amount: int
    ) -> None:
        message = f"moves {amount} for voucher {voucher_id} worth {self._issue_values[found[1]]}"
        self._bad(index, kind, message)


def _whereabouts(state: int) -> str:
    """Why a voucher whose state is not 0 is out of circulation (or not yet redeemable)."""
    if state == _PRINTED:
        return "printed and not activated"
    return f"{_HOW[state & 3]} entry {state >> 2}"
