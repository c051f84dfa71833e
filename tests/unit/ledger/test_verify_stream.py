"""Tests of the verifier's pass over entries.jsonl: its line splitter and its hashing worker."""

from __future__ import annotations

import pytest

from voucher_service.ledger import merkle
from voucher_service.ledger.verify.stream import Hasher, HashWorker, Splitter, Streamed

LINES = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * n) for n in range(300)]


def test_the_splitter_cuts_lines_wherever_the_blocks_end() -> None:
    data = b"".join(b"line %d %s\n" % (n, b"x" * n) for n in range(200)) + b"last"
    for size in (1, 7, 64, 1000, len(data)):
        splitter = Splitter()
        blocks = [data[at : at + size] for at in range(0, len(data), size)]

        lines = [line for block in blocks for line in splitter.split(block)]

        assert [*lines, *splitter.rest()] == data.split(b"\n")


def through_the_worker(data: bytes, snapshot_at: int, block: int = 1000) -> Streamed | None:
    worker = HashWorker.start(snapshot_at)
    assert worker is not None
    try:
        for at in range(0, len(data), block):
            worker.feed(data[at : at + block], [])  # the worker cuts its own lines
        return worker.result()
    finally:
        worker.close()


@pytest.mark.parametrize("ending", [b"\n", b""])
def test_the_worker_hashes_every_line_as_logged(ending: bytes) -> None:
    data = b"\n".join(LINES) + ending
    leaves = [merkle.leaf_hash(line) for line in LINES]

    streamed = through_the_worker(data, snapshot_at=100)

    assert streamed is not None  # None would send the verifier to hash the entries itself
    assert streamed.count == len(LINES)
    assert streamed.root == merkle.root(leaves)
    assert streamed.prefix_root == merkle.root(leaves[:100])
    hasher, splitter = Hasher(100), Splitter()
    hasher.feed(data, splitter.split(data))
    hasher.feed(b"", splitter.rest())
    assert streamed == hasher.result()


def test_the_worker_keeps_no_prefix_root_it_never_reached() -> None:
    streamed = through_the_worker(b"\n".join(LINES) + b"\n", snapshot_at=len(LINES) + 1)

    assert streamed is not None and streamed.prefix_root is None
