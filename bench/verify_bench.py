"""Benchmark of the offline bundle verifier on a synthetic million-entry ledger."""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voucher_service.ledger import kinds
from voucher_service.ledger.bundle import write_signed_bundle
from voucher_service.ledger.kinds import Kind
from voucher_service.ledger.verify import verify_bundle

ORIGIN = "bench.example.org/ledger"
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "bench001", "x": "AA", "y": "AA"}]}
FACE = 1000
BOOKLET = 10
PROGRAMS = [f"{n:08x}-9000-4000-8000-{n:012x}" for n in range(5)]
PARTNERS = [f"{n:08x}-a000-4000-8000-{n:012x}" for n in range(50)]
FUNDER = "etat-inclusion-numerique"
_LIVE_POOL = 10_000  # reversals pick among this many recent redemptions
_START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _uuid(kind: int, n: int) -> str:
    return f"{n:08x}-{kind:04x}-4000-8000-{n:012x}"


class _Generator:
    """Streams a valid, realistic log: ~10% issues of 10 vouchers, ~85% redeems, ~5% reverses."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.index = 0
        self.issued = 0  # vouchers issued so far, numbered in order
        self.next_fresh = 0  # the next never-redeemed voucher
        self.live: list[tuple[int, str, str]] = []  # (voucher, redeem entry id, partner)
        self.reversed: list[int] = []  # vouchers whose redemption was reversed

    def entries(self, count: int) -> Iterator[bytes]:
        for program in PROGRAMS[:count]:
            yield self._line(kinds.ALLOCATE, program, count * BOOKLET * FACE, funder=FUNDER)
        while self.index < count:
            yield self._next()

    def _next(self) -> bytes:
        choice = self.rng.random()
        if choice >= 0.95 and self.live:
            return self._reverse()
        if choice >= 0.10 and (self.next_fresh < self.issued or self.reversed):
            return self._redeem()
        return self._issue()

    def _issue(self) -> bytes:
        first, self.issued = self.issued, self.issued + BOOKLET
        program = PROGRAMS[(first // BOOKLET) % len(PROGRAMS)]
        vouchers = [_uuid(0xB, n) for n in range(first, self.issued)]
        booklet = _uuid(0xC, first // BOOKLET)
        return self._line(
            kinds.ISSUE, program, BOOKLET * FACE, booklet_id=booklet, voucher_ids=vouchers
        )

    def _redeem(self) -> bytes:
        if self.reversed and (self.next_fresh >= self.issued or self.rng.random() < 0.5):
            voucher = self.reversed.pop()
        else:
            voucher, self.next_fresh = self.next_fresh, self.next_fresh + 1
        partner = PARTNERS[self.rng.randrange(len(PARTNERS))]
        entry_id = _uuid(0xE, self.index)
        record = (voucher, entry_id, partner)
        if len(self.live) < _LIVE_POOL:
            self.live.append(record)
        else:
            self.live[self.rng.randrange(_LIVE_POOL)] = record
        return self._line(
            kinds.REDEEM,
            self._program_of(voucher),
            FACE,
            partner_id=partner,
            voucher_ids=[_uuid(0xB, voucher)],
            redemption_id=_uuid(0xD, self.index),
        )

    def _reverse(self) -> bytes:
        slot = self.rng.randrange(len(self.live))
        self.live[slot], self.live[-1] = self.live[-1], self.live[slot]
        voucher, redeem_id, partner = self.live.pop()
        self.reversed.append(voucher)
        return self._line(
            kinds.REVERSE,
            self._program_of(voucher),
            FACE,
            partner_id=partner,
            voucher_ids=[_uuid(0xB, voucher)],
            redemption_id=_uuid(0xD, self.index),
            reverses=redeem_id,
        )

    def _program_of(self, voucher: int) -> str:
        return PROGRAMS[(voucher // BOOKLET) % len(PROGRAMS)]

    def _line(self, kind: Kind, program: str, amount: int, **refs: Any) -> bytes:
        refs["program_id"] = program
        source, destination = kind.route([refs[name] for name in kind.refs])
        entry = {
            "id": _uuid(0xE, self.index),
            "kind": kind.name,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_START + self.index // 3)),
            "postings": [{"source": source, "destination": destination, "amount": amount}],
            **refs,
        }
        self.index += 1
        # Sorted keys, no whitespace, ASCII strings and ints: already RFC 8785.
        return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def synthetic_entries(count: int, seed: int = 2026) -> Iterator[bytes]:
    return _Generator(seed).entries(count)


@dataclass(frozen=True)
class SyntheticLog:
    """The same synthetic log each time it is iterated: a bundle's writer reads it twice."""

    count: int
    seed: int = 2026

    def __iter__(self) -> Iterator[bytes]:
        return synthetic_entries(self.count, self.seed)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(entries: int = 1_000_000) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bundle.zip"
        started = time.perf_counter()
        info = write_signed_bundle(path, SyntheticLog(entries), ORIGIN, key, JWKS)
        built = time.perf_counter() - started
        rss_before = _peak_rss_mib()
        cpu_main, cpu_worker = _cpu_seconds(RUSAGE_SELF), _cpu_seconds(RUSAGE_CHILDREN)
        started = time.perf_counter()
        report = verify_bundle(path, pinned_key=info.verifier_key)
        verified = time.perf_counter() - started
        cpu_main = _cpu_seconds(RUSAGE_SELF) - cpu_main
        cpu_worker = _cpu_seconds(RUSAGE_CHILDREN) - cpu_worker
        rss_after = _peak_rss_mib()
        bundle_bytes = path.stat().st_size
    return {
        "entries": report.entries_checked,
        "ok": report.ok,
        "problems": report.problems,
        "bundle_mib": round(bundle_bytes / 2**20, 1),
        "build_s": round(built, 2),
        "verify_s": round(verified, 2),
        "entries_per_s": round(report.entries_checked / verified),
        "cpu_s_main": round(cpu_main, 2),
        "cpu_s_hash_worker": round(cpu_worker, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine
        "peak_rss_mib_before": round(rss_before, 1),
        "peak_rss_mib_after": round(rss_after, 1),
    }


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(run(size)))
