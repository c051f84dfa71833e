"""One pass over entries.jsonl: each line hashed as it was logged, and handed to the replay.

On two cores, the hashing runs in a worker subprocess (`HashWorker`) while this process
replays; below `PARALLEL_FROM` bytes, or should the worker fail, this process hashes too.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import os
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from voucher_service.ledger.merkle import EMPTY_ROOT, CompactRange
from voucher_service.ledger.verify.layout import ENTRIES
from voucher_service.ledger.verify.report import b64

CHUNK = 1 << 20
MAX_LINE = 16 << 20  # no entry comes near this; a longer "line" is garbage, not a ledger
PARALLEL_FROM = 16 << 20  # below this many bytes of entries, a second process costs more
READ_ERRORS = (  # what reading a damaged zip member may raise
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)

Check = Callable[[int, bytes], None]  # takes each line with its index


@dataclass(frozen=True)
class Streamed:
    """The outcome of one pass over entries.jsonl."""

    count: int
    root: bytes
    sha256: str
    prefix_root: bytes | None  # the root of the first `snapshot_at` entries, if reached


def read_entries(
    archive: zipfile.ZipFile, check: Check, snapshot_at: int, unterminated: Callable[[], None]
) -> Streamed:
    """Hashes the entries member and hands each line to `check`, in one read of the member.

    `snapshot_at` is the size of the tree whose root is kept as `prefix_root` (-1: none).
    """
    worker = None
    if archive.getinfo(ENTRIES).file_size >= PARALLEL_FROM:
        worker = HashWorker.start(snapshot_at)
    hasher = worker or Hasher(snapshot_at)
    try:
        with archive.open(ENTRIES) as member, _collector_paused():
            _read_pass(member, hasher, check, unterminated)
        streamed = hasher.result()
    finally:
        if worker is not None:
            worker.close()
    return streamed or _hash_alone(archive, snapshot_at)


class Hasher:
    """The member's SHA-256 and the Merkle tree of its lines, in O(log n) memory."""

    def __init__(self, snapshot_at: int) -> None:
        self._tree = CompactRange()
        self._digest = hashlib.sha256()
        self._snapshot_at = snapshot_at
        self._prefix_root = EMPTY_ROOT if snapshot_at == 0 else None

    def feed(self, block: bytes, lines: list[bytes]) -> None:
        """Takes a block of the member and the lines it completes."""
        self._digest.update(block)
        tree, sha256, snapshot_at = self._tree, hashlib.sha256, self._snapshot_at
        append = tree.append
        for line in lines:
            # The raw line is what was logged: hashing it, not a re-serialisation, proves that.
            append(sha256(b"\x00" + line).digest())
            if tree.size == snapshot_at:
                self._prefix_root = tree.root()

    def result(self) -> Streamed:
        tree = self._tree
        return Streamed(tree.size, tree.root(), self._digest.hexdigest(), self._prefix_root)


class HashWorker:
    """A Hasher in a child interpreter: on two cores, hashing overlaps the replay.

    The child is `python -c`, not multiprocessing: spawning would re-import the caller's
    __main__ and forking beside threads is unsafe. Should it fail, `result` is None and the
    caller hashes the entries itself.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._broken = False

    @classmethod
    def start(cls, snapshot_at: int) -> HashWorker | None:
        if not sys.executable or getattr(sys, "frozen", False):  # a frozen app has no `-c`
            return None
        code = f"from {__name__} import hash_stdin; hash_stdin({int(snapshot_at)})"
        env = os.environ | {"PYTHONPATH": _package_root_path()}
        try:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and code, no shell)
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError:
            return None
        return cls(process)

    def feed(self, block: bytes, lines: list[bytes]) -> None:
        """Sends the block; the child cuts its own lines."""
        stdin = self._process.stdin
        if stdin is None or self._broken:
            return
        try:
            stdin.write(block)
        except OSError:
            self._broken = True

    def result(self) -> Streamed | None:
        """What the child found once it read the whole member; None if it failed."""
        try:
            output, _ = self._process.communicate(timeout=600)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
        if self._broken or self._process.returncode != 0:
            return None
        return _streamed_from_json(output)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


def hash_stdin(snapshot_at: int) -> None:
    """The worker's side: the entries member on stdin, its Streamed as JSON on stdout."""
    hasher, splitter = Hasher(snapshot_at), Splitter()
    stdin = sys.stdin.buffer
    while block := stdin.read(CHUNK):
        hasher.feed(block, splitter.split(block))
    hasher.feed(b"", splitter.rest())
    streamed = hasher.result()
    prefix_root = streamed.prefix_root
    result = {
        "count": streamed.count,
        "root": b64(streamed.root),
        "sha256": streamed.sha256,
        "prefix_root": None if prefix_root is None else b64(prefix_root),
    }
    sys.stdout.write(json.dumps(result) + "\n")


class Splitter:
    """Cuts a stream of blocks into newline-terminated lines; a line never spans two results."""

    def __init__(self) -> None:
        self._tail = b""

    def split(self, block: bytes) -> list[bytes]:
        lines = block.split(b"\n")
        lines[0] = self._tail + lines[0]  # not tail + block: that would copy the whole block
        self._tail = lines.pop()
        if len(self._tail) > MAX_LINE:
            raise ValueError(f"a line longer than {MAX_LINE} bytes")
        return lines

    def rest(self) -> list[bytes]:
        """The last line when the member does not end with a newline."""
        return [self._tail] if self._tail else []


def _streamed_from_json(output: bytes) -> Streamed | None:
    try:
        value = json.loads(output.strip().rsplit(b"\n", 1)[-1])  # past any stray output
        prefix_root = value["prefix_root"]
        return Streamed(
            int(value["count"]),
            base64.b64decode(value["root"]),
            str(value["sha256"]),
            None if prefix_root is None else base64.b64decode(prefix_root),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _package_root_path() -> str:
    """The child must import this very module, whatever the parent's sys.path was."""
    root = str(Path(__file__).resolve().parents[3])
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([root, inherited]) if inherited else root


def _read_pass(
    member: IO[bytes],
    hasher: Hasher | HashWorker,
    check: Check | None,
    unterminated: Callable[[], None],
) -> None:
    """Reads the member once, feeding every block to the hasher and every line to `check`."""
    splitter = Splitter()
    index = 0
    while block := member.read(CHUNK):
        lines = splitter.split(block)
        hasher.feed(block, lines)
        if check is not None:
            for line in lines:
                check(index, line)
                index += 1
    rest = splitter.rest()
    if rest:
        unterminated()
        hasher.feed(b"", rest)
        if check is not None:
            check(index, rest[0])


def _hash_alone(archive: zipfile.ZipFile, snapshot_at: int) -> Streamed:
    """The hashing half of the pass, by itself: when the worker could not do it."""
    hasher = Hasher(snapshot_at)
    with archive.open(ENTRIES) as member:
        _read_pass(member, hasher, None, lambda: None)
    return hasher.result()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The pass makes no reference cycles; the collector would only re-walk the growing maps."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
