"""Compact tables for the replay: ids as 16-byte keys, records packed in one bytearray.

The replay must remember every entry id (to find one used twice, and the redemption a
reversal names) and every voucher (its programme, value and whereabouts): a million-entry log
holds about a million of each. As sets and dicts of strings and tuples they took 110 to 130
bytes apiece, ~440 MiB in all; here each is one record of a 16-byte key (see `id_key`) and a
few packed integers in one bytearray per kind (`Table`), ~26 and ~42 bytes with the room to
spare. In memory, not on disk: a sqlite3 lookup takes ~2 µs, and an entry needs about three,
out of the 10 µs it may take in all at 100,000 entries a second.
"""

from __future__ import annotations

import hashlib
import struct
from array import array

KEY_SIZE = 16  # bytes of a key, at the start of each record
_SLOTS = 16  # records in a region of a table
_MIN_REGIONS = 4
_MAX_EXPECTED = 1 << 20  # a caller's guess is not trusted beyond that many: tables double later


def id_key(text: str) -> bytes:
    """The 16 bytes the replay's tables know an id by: exact for a UUID, a digest otherwise.

    A UUID in canonical form with the RFC 4122 variant (as the service writes ids) is its own
    16 bytes: two of them share a key only when they are the same id. Any other id is its
    SHA-256 cut to 16 bytes, with the variant's two bits set to 11 rather than 10, so that it
    cannot take a UUID's key. Two such ids could share one only by a collision of 126-bit
    digests: ~2^63 work on purpose, never by chance; not a practical concern for an audit.
    """
    if text[8:24:5] == "----" and len(text) == 36:
        digits = text.replace("-", "")
        try:
            key = bytes.fromhex(digits)
        except ValueError:
            key = b""
        # fromhex takes upper case and spaces too, and the hyphens could have been elsewhere:
        # only the canonical form, with 32 lower-case hex digits, is the key's very own.
        if key.hex() == digits and len(key) == KEY_SIZE and key[8] >> 6 == 0b10:
            return key
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return digest[:8] + bytes((digest[8] | 0xC0,)) + digest[9:KEY_SIZE]


def id_keys(texts: list[str]) -> list[bytes]:
    """The `id_key` of each text; for a list of canonical UUIDs (a booklet's), in a few steps."""
    count = len(texts)
    joined = "".join(texts)
    if (
        set(map(len, texts)) == {36}
        and joined.count("-") == 4 * count
        and joined[8::36] == joined[13::36] == joined[18::36] == joined[23::36] == "-" * count
    ):
        digits = joined.replace("-", "")
        try:
            keys = bytes.fromhex(digits)
        except ValueError:
            keys = b""
        variants = keys[8::KEY_SIZE]
        if keys.hex() == digits and min(variants) >= 0x80 and max(variants) < 0xC0:
            return [keys[at : at + KEY_SIZE] for at in range(0, len(keys), KEY_SIZE)]
    return list(map(id_key, texts))


class Table:
    """Fixed-size records, each a 16-byte key then a few integers, in one bytearray: `slots`.

    A set or a dict costs ~100 bytes an id in objects and slots; a record here costs its own
    size and its share of the room left (the table is 3/4 full at first if the guess of its
    size was right, never more than 7/8: then it doubles). The bytearray is cut into regions of
    _SLOTS records. A key's home is region hash(key) % their number (a salted hash: no log can
    pile its keys into one region), its record is in the first region from there with room,
    and a region fills from its start with none ever taken out: a lookup is a `find` among the
    records of a region, seldom more than one, and stops at the first region with room.
    """

    def __init__(self, payload: str, expected: int) -> None:
        """`payload` is the struct format in which `add` takes the rest of a record."""
        self._record = struct.Struct(f"<{KEY_SIZE}s{payload}")
        self.size = self._record.size
        expected = min(expected, _MAX_EXPECTED)
        self._allot(max(4 * expected // (3 * _SLOTS), _MIN_REGIONS), 0)  # 3/4 full at `expected`

    def _allot(self, regions: int, records: int) -> None:
        self._regions = regions
        self._span = span = _SLOTS * self.size
        self.slots = bytearray(regions * span)
        self._ends = array("q", range(0, regions * span, span))  # where each region's room is
        self._room = 7 * regions * _SLOTS // 8 - records  # how many more before it doubles

    @property
    def count(self) -> int:
        """How many records the table holds."""
        return (sum(self._ends) - sum(range(0, len(self.slots), self._span))) // self.size

    def find(self, key: bytes) -> int:
        """Where the key's record starts in `slots`, or -1 when it has none."""
        region = hash(key) % self._regions
        start = region * self._span
        end = self._ends[region]
        at = self.slots.find(key, start, end)
        if at >= 0 and not (at - start) % self.size:
            return at
        if at < 0 and end - start < self._span:
            return -1
        return self._search(key, region)[0]

    def add(self, key: bytes, payload: bytes | int) -> int:
        """Adds the key's record unless it has one: then returns where that starts, else -1."""
        region = hash(key) % self._regions
        start = region * self._span
        end = self._ends[region]
        if end - start == self._span or self.slots.find(key, start, end) >= 0:
            at, region = self._search(key, region)  # seldom: the region is full, or a match
            if at >= 0:
                return at
            end = self._ends[region]
        self._record.pack_into(self.slots, end, key, payload)
        self._ends[region] = end + self.size
        self._room -= 1
        if not self._room:
            self._grow()
        return -1

    def _search(self, key: bytes, region: int) -> tuple[int, int]:
        """Where the key's record starts, or -1 and the first region from `region` with room."""
        slots, size, span = self.slots, self.size, self._span
        while True:
            start, end = region * span, self._ends[region]
            at = slots.find(key, start, end)
            while at >= 0 and (at - start) % size:  # bytes astride two records: not a key
                at = slots.find(key, at + 1, end)
            if at >= 0 or end - start < span:
                return at, region
            region = (region + 1) % self._regions

    def _grow(self) -> None:
        """Doubles the regions, then puts each record back: the only time one moves."""
        slots, ends, span, record = self.slots, self._ends, self._span, self._record
        self._allot(2 * self._regions, self.count)
        for start, end in zip(range(0, len(slots), span), ends, strict=True):
            for key, payload in record.iter_unpack(slots[start:end]):
                home = hash(key) % self._regions
                while self._ends[home] - home * span == span:
                    home = (home + 1) % self._regions
                record.pack_into(self.slots, self._ends[home], key, payload)
                self._ends[home] += self.size
