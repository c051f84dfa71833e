"""Tests of the replay's compact tables: ids as 16-byte keys, records packed in a bytearray."""

from __future__ import annotations

import random
import uuid

from tests.unit.ledger.logs import FACE, Log
from voucher_service.ledger.verify.replay import Replay
from voucher_service.ledger.verify.tables import Table, id_key, id_keys


def test_a_canonical_uuid_is_its_own_key_and_any_other_id_a_digest() -> None:
    canonical = "5f0c6a52-7f1e-4c1d-9a59-3b8f0b6a1001"
    others = [
        canonical.upper(),
        canonical.replace("-", ""),
        f"{{{canonical}}}",
        "5f0c6a527-f1e-4c1d-9a59-3b8f0b6a1001",  # the same digits, a hyphen moved
        "5f0c6a52-7f1e-4c1d-9a59 3b8f0b6a1001",
        "5f0c6a52-7f1e-4c1d-1a59-3b8f0b6a1001",  # not the RFC 4122 variant
        "v0000001-0000-4000-8000-000000000000",
        "",
        "\ud800",
    ]
    keys = [id_key(text) for text in others]

    assert id_key(canonical) == uuid.UUID(canonical).bytes
    assert len({id_key(canonical), *keys}) == len(others) + 1
    assert all(len(key) == 16 and key[8] >> 6 == 0b11 for key in keys)  # never a UUID's
    assert id_keys([canonical, *others]) == [id_key(canonical), *keys]
    booklet = [str(uuid.uuid4()) for _ in range(10)]
    assert id_keys(booklet) == [uuid.UUID(text).bytes for text in booklet]


def test_the_table_finds_what_it_holds_as_it_doubles() -> None:
    rng = random.Random(2026)
    table = Table("4s", expected=0)
    held: dict[bytes, bytes] = {}
    keys = [rng.randbytes(16) for _ in range(3000)]

    for n, key in enumerate(keys + keys[::7]):
        at = table.add(key, n.to_bytes(4, "little"))
        if key in held:
            assert at >= 0 and table.slots[at : at + 20] == key + held[key]
        else:
            assert at == -1
            held[key] = n.to_bytes(4, "little")

    assert table.count == len(held) == len(keys)
    for key, payload in held.items():
        at = table.find(key)
        assert at % table.size == 0 and table.slots[at : at + 20] == key + payload
    assert table.find(rng.randbytes(16)) == -1


def test_bytes_astride_two_records_are_no_key() -> None:
    table = Table("4s", expected=0)
    for n in range(1, 40):
        table.add(bytes([n]) * 16, bytes([n]) * 4)
    records = range(0, len(table.slots) - 2 * table.size, table.size)
    astride = {bytes(table.slots[at + 10 : at + 26]) for at in records} - {bytes(16)}

    for key in astride:
        assert table.find(key) == -1
        assert table.add(key, b"new!") == -1
        at = table.find(key)
        assert at % table.size == 0 and table.slots[at : at + 20] == key + b"new!"


def replayed(log: Log) -> list[str]:
    """The failures a replay whose tables start at their least finds in the log."""
    failures: list[str] = []
    replay = Replay(lambda group, message: failures.append(message), failures.append, expected=0)
    for index, line in enumerate(log.lines()):
        replay.entry(index, line)
    replay.finish()
    return failures


def test_a_long_log_outgrows_the_first_guess_and_is_still_checked() -> None:
    log = Log()
    log.allocate(1000 * FACE)
    vouchers = [
        voucher
        for booklet in range(80)
        for voucher in log.issue(ids=[str(uuid.uuid4()) for _ in range(10)])
        + (log.issue(count=2) if booklet % 10 == 0 else [])  # ids that are not UUIDs, too
    ]
    redeems = {voucher: log.redeem(voucher) for voucher in vouchers[::2]}
    log.reverse(vouchers[8], redeems[vouchers[8]])
    log.cancel(vouchers[1:9:2])
    log.redeem(vouchers[8])

    assert replayed(log) == []

    log.redeem(vouchers[-2])
    log.redeem(vouchers[3])
    failures = replayed(log)

    assert any(f"voucher {vouchers[-2]} redeemed twice: entry" in f for f in failures), failures
    assert any(f"voucher {vouchers[3]} was withdrawn by cancel entry" in f for f in failures)
