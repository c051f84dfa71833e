"""How fast booklets print: `python -m voucher_service.printing.bench` (or `bench_render()`)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

from voucher_service.printing.batch import render_batch
from voucher_service.printing.booklet import render_booklet
from voucher_service.printing.model import PrintedBooklet, PrintedVoucher, Venue

CREATED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
VENUES = tuple(
    Venue(f"Espace numérique n° {n}", f"{n} rue de la République, Limoges", "87000",
          ("atelier-smartphone", "demarches-en-ligne"), n * 1.3, "Du lundi au vendredi")
    for n in range(1, 6)
)  # fmt: skip


def sample_booklet(serial: int, size: int = 10) -> PrintedBooklet:
    """A booklet whose QR contents are as long as a signed voucher's (a 26-character URL and a
    230-character token), made without keys: what it costs to print is all we measure."""
    vouchers = tuple(_sample_voucher(serial, position, size) for position in range(1, size + 1))
    return PrintedBooklet(
        program_name="Pass numérique Cœur de France",
        program_code="CDF1",
        funder="Conseil départemental de la Haute-Vienne",
        face_value_cents=1000,
        currency="EUR",
        valid_until=date(2027, 12, 31),
        organisation_name="CCAS de Limoges",
        holder=None,
        venues=VENUES,
        vouchers=vouchers,
    )


def _sample_voucher(serial: int, position: int, size: int) -> PrintedVoucher:
    seed = hashlib.sha256(f"{serial}/{position}".encode()).digest()
    token = base64.urlsafe_b64encode(seed * 6).decode().rstrip("=")[:230]
    code = base64.b32encode(seed).decode()[:13]
    return PrintedVoucher(
        id=f"{serial}-{position}",
        code=f"{code[0:4]}-{code[4:8]}-{code[8:12]}-{code[12]}",
        qr_content=f"https://pass.example.fr/r#{token}",
        position=position,
        of=size,
    )


def bench_render(booklet_runs: int = 10, batch_vouchers: int = 2300) -> dict[str, float]:
    """Median time of a 10-voucher booklet; time, size and peak memory of a batch (CPU times
    beside wall times: on a shared machine the wall clock measures the neighbours too)."""
    booklet = sample_booklet(0)
    render_booklet(booklet, created_at=CREATED_AT)  # fonts and modules loaded, caches warm
    times, cpu_times = [], []
    for _ in range(booklet_runs):
        started, cpu = time.perf_counter(), time.process_time()
        render_booklet(booklet, created_at=CREATED_AT)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
    rss_before = _peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    size = sum(len(piece) for piece in render_batch(_batch(batch_vouchers), created_at=CREATED_AT))
    one_process_s = time.perf_counter() - started
    one_process_cpu_s = time.process_time() - cpu
    rss_after = _peak_rss_mb()
    processes = os.cpu_count() or 1
    started = time.perf_counter()
    pieces = render_batch(_batch(batch_vouchers), created_at=CREATED_AT, processes=processes)
    parallel_size = sum(len(piece) for piece in pieces)
    assert parallel_size == size  # the same document, drawn side by side
    return {
        "booklet_10_vouchers_median_s": round(statistics.median(times), 4),
        "booklet_10_vouchers_median_cpu_s": round(statistics.median(cpu_times), 4),
        "batch_vouchers": batch_vouchers,
        "batch_s": round(one_process_s, 2),
        "batch_cpu_s": round(one_process_cpu_s, 2),
        "batch_mb": round(size / 1e6, 1),
        "peak_rss_before_batch_mb": rss_before,
        "peak_rss_mb": rss_after,
        "batch_processes": processes,
        "batch_parallel_s": round(time.perf_counter() - started, 2),
        "peak_rss_of_a_drawing_process_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


def _batch(vouchers: int) -> Iterator[PrintedBooklet]:
    """Booklets of ten made one at a time, so that the input holds no more than the output."""
    for serial in range(vouchers // 10):
        yield sample_booklet(serial + 1)


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    peak = resource.getrusage(who).ru_maxrss  # kB on Linux, bytes on macOS
    return round(peak / (1e6 if sys.platform == "darwin" else 1e3), 1)


if __name__ == "__main__":
    print(json.dumps(bench_render(), indent=2))
