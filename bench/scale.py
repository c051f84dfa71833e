"""Scale: what issuing, reading a programme and redeeming cost in a programme of N vouchers,
beside an empty programme in the same database and the same run. The target is flat: each
call in the big programme at most 1.5 times its cost in the empty one.

python -m bench.scale [--vouchers N] [--rounds R] [--warm-up W] [--json]

Both programmes are made over HTTP (Flask's test client, one client, in process); the big one
is grown by bulk SQL and the service's sequencer (bench/scale_growth.py). Each call is then
made W + R times a programme, empty and big in turn, the first W unmeasured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from flask.testing import FlaskClient

from bench.redemption import fresh_database
from bench.scale_growth import grow
from bench.scale_setup import FACE_VALUE_CENTS, Headers, Programme, admin_headers, answer
from bench.scale_setup import make_programme as make
from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.migrate import upgrade
from voucher_service.vouchers.tokens import sign_voucher
from voucher_service.web.app import create_app

VOUCHERS = int(os.environ.get("BENCH_SCALE_VOUCHERS", "2000000"))
ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "200"))
WARM_UP = int(os.environ.get("BENCH_SCALE_WARM_UP", "20"))
TARGET_RATIO = 1.5
# The background sequencer keeps the log queue a second or so long; so does this bench, by
# integrating (unmeasured) after every few pairs of calls.
INTEGRATE_EVERY = 10


@dataclass
class Side:
    """One programme during the measurement, and the tokens it has to redeem."""

    programme: Programme
    recent: list[str] = field(default_factory=list)  # from booklets issued in this run
    grown: list[str] = field(default_factory=list)  # signed for grown vouchers (big only)
    booklets: int = 0


def timed(
    client: FlaskClient, method: str, path: str, headers: Headers, body: Any = None
) -> tuple[float, Any]:
    """The call's seconds, client side, and its answer (CallFailed unless 2xx)."""
    started = time.perf_counter()
    response = client.open(path, method=method, headers=headers, json=body)
    seconds = time.perf_counter() - started
    return seconds, answer(method, path, response)


def issue_booklet(client: FlaskClient, side: Side) -> float:
    side.booklets += 1
    p = side.programme
    body = {"program_id": p.id, "beneficiary_ref": f"scale-{p.label}-{side.booklets}"}
    headers = {**p.issuer, "Idempotency-Key": uuid.uuid4().hex}
    seconds, booklet = timed(client, "POST", "/v1/booklets", headers, body)
    side.recent += [voucher["token"] for voucher in booklet["vouchers"]]
    return seconds


def read_programme(client: FlaskClient, side: Side) -> float:
    p = side.programme
    return timed(client, "GET", f"/v1/programs/{p.id}", p.issuer)[0]


def redeem(client: FlaskClient, side: Side, tokens: list[str]) -> float:
    headers = {**side.programme.partner, "Idempotency-Key": uuid.uuid4().hex}
    return timed(client, "POST", "/v1/redemptions", headers, {"token": tokens.pop()})[0]


Call = Callable[[FlaskClient, Side], float]
# name, what it is, the call in the empty programme, the call in the big one
CALLS: list[tuple[str, str, Call, Call]] = [
    (
        "issue_booklet",
        "issue a 10-voucher booklet (POST /v1/booklets)",
        issue_booklet,
        issue_booklet,
    ),
    ("read_programme", "GET /v1/programs/{id}", read_programme, read_programme),
    (
        "redeem",
        "redeem by token (POST /v1/redemptions)",
        lambda c, s: redeem(c, s, s.recent),
        lambda c, s: redeem(c, s, s.grown),
    ),
    (
        "redeem_recent",
        "  the same, a voucher issued in this run",
        lambda c, s: redeem(c, s, s.recent),
        lambda c, s: redeem(c, s, s.recent),
    ),
]


def measure(
    client: FlaskClient,
    sides: tuple[Side, Side],
    sequencer: Callable[[], object],
    rounds: int,
    warm_up: int,
) -> dict[str, Any]:
    """Each call, empty then big, W + R times; the medians and p90s of the last R, in ms."""
    results: dict[str, Any] = {}
    for name, _, *calls in CALLS:
        times: tuple[list[float], list[float]] = ([], [])
        for round_ in range(warm_up + rounds):
            for side, make_call, kept in zip(sides, calls, times, strict=True):
                seconds = make_call(client, side)
                if round_ >= warm_up:
                    kept.append(seconds * 1000)
            if (round_ + 1) % INTEGRATE_EVERY == 0:
                sequencer()
        empty, big = (summary(kept) for kept in times)
        ratio = round(big["p50_ms"] / empty["p50_ms"], 2)
        results[name] = {
            "empty": empty,
            "big": big,
            "ratio_p50": ratio,
            "within_target": ratio <= TARGET_RATIO,
        }
    return results


def summary(milliseconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(milliseconds), 2),
        "p90_ms": round(statistics.quantiles(milliseconds, n=10)[-1], 2),
    }


def run(
    vouchers: int = VOUCHERS, rounds: int = ROUNDS, warm_up: int = WARM_UP, out: TextIO = sys.stderr
) -> dict[str, Any]:
    """Make both programmes, grow the big one, measure; print the table to `out`."""
    if vouchers < warm_up + rounds:
        raise ValueError(f"grow at least {warm_up + rounds} vouchers: one a measured redemption")
    dsn = fresh_database("vs_bench_scale")
    with tempfile.TemporaryDirectory() as keys:
        settings = Settings(
            database_url=dsn,
            keys_dir=Path(keys),
            run_sequencer=False,
            public_base_url="https://pass.example.fr",
        )
        ctx = ServiceContext.from_settings(settings)
        database = Database(dsn)
        try:
            upgrade(database)
            client = create_app(settings, database, start_sequencer=False).test_client()
            admin = admin_headers(database)
            empty = Side(make(client, admin, "empty", "SCALE-E", 0))
            big = Side(make(client, admin, "big", "SCALE-B", vouchers))
            grown = grow(database, ctx, big.programme, vouchers, warm_up + rounds, _progress)
            key, issuer = ctx.keys.voucher.current, settings.issuer
            big.grown = [
                sign_voucher(
                    key, issuer, jti, big.programme.code, FACE_VALUE_CENTS, grown.expires_at
                )
                for jti in grown.sample
            ]
            calls = measure(
                client, (empty, big), lambda: integrate_all(database, ctx), rounds, warm_up
            )
        finally:
            database.dispose()
    result = {
        "vouchers": vouchers,
        "rounds": rounds,
        "warm_up": warm_up,
        "target_ratio": TARGET_RATIO,
        "growth_seconds": grown.seconds,
        "calls": calls,
    }
    print(table(result), file=out, flush=True)
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Scale: a programme of {result['vouchers']:,} vouchers beside an empty one, same "
        f"database; {result['rounds']} calls each after {result['warm_up']} unmeasured, "
        "one client, milliseconds",
        f"{'call':<48} {'empty p50':>9} {'p90':>7} {'big p50':>9} {'p90':>7} {'big/empty':>9}",
    ]
    for name, what, *_ in CALLS:
        c = result["calls"][name]
        verdict = "ok" if c["within_target"] else f"over {result['target_ratio']}x"
        lines.append(
            f"{what:<48} {c['empty']['p50_ms']:>9.1f} {c['empty']['p90_ms']:>7.1f} "
            f"{c['big']['p50_ms']:>9.1f} {c['big']['p90_ms']:>7.1f} "
            f"{c['ratio_p50']:>8.2f}x  {verdict}"
        )
    g = result["growth_seconds"]
    lines.append(
        f"growth to {result['vouchers']:,} vouchers: {g['total']:.0f} s (rows by COPY "
        f"{g['rows']:.0f} s, sequencer {g['sequencer']:.0f} s, VACUUM ANALYZE "
        f"{g['vacuum_analyze']:.0f} s)"
    )
    return "\n".join(lines)


def _progress(message: str) -> None:
    print(f"scale: {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--vouchers", type=int, default=VOUCHERS, help="grown into the big one")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="measured calls of each kind")
    parser.add_argument("--warm-up", type=int, default=WARM_UP, help="unmeasured calls first")
    parser.add_argument(
        "--json", action="store_true", help="print JSON on stdout, the table on stderr"
    )
    args = parser.parse_args()
    result = run(args.vouchers, args.rounds, args.warm_up, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
