"""A batch's booklets as one PDF, streamed: memory stays that of one part, whatever the count.

fpdf2 holds a whole document until `output()`, and a font's subset is only final then, so a
batch is drawn in parts of a few booklets, each its own small fpdf2 document. The joiner
renumbers each part's objects past those already sent, gives their pages one page tree and
lets the part go; what it keeps is one offset per object and one number per page, for the
cross-reference table and the page tree written last. Each part embeds its own font subsets
(some 15 kB a part), which is the price of never holding the batch.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from itertools import islice, pairwise

from voucher_service.printing.booklet import render_booklets
from voucher_service.printing.model import PrintedBooklet

BOOKLETS_PER_PART = 10  # a part of ten 10-voucher booklets: ~20 pages, a few MB at most
PAGES_ROOT = 1  # the joined document's page tree: numbered first, written last

_REFERENCE = re.compile(rb"(\d+) 0 R\b")
_STREAM = re.compile(rb">>\s*stream\r?\n")


def render_batch(
    booklets: Iterable[PrintedBooklet],
    *,
    created_at: datetime,
    booklets_per_part: int = BOOKLETS_PER_PART,
    processes: int = 1,
) -> Iterator[bytes]:
    """The booklets' PDF in pieces, each sendable as soon as it is yielded. With
    `processes` > 1, parts are drawn side by side in that many fresh processes (drawing is
    pure CPU), at most two parts ahead of what is sent each, in order."""
    joiner = PdfJoiner()
    iterator = iter(booklets)
    parts = iter(lambda: list(islice(iterator, booklets_per_part)), [])
    if processes <= 1:
        for part in parts:
            yield joiner.add(render_booklets(part, created_at))
    else:
        for document in _drawn_aside(parts, created_at, processes):
            yield joiner.add(document)
    yield joiner.close()


def _drawn_aside(
    parts: Iterator[list[PrintedBooklet]], created_at: datetime, processes: int
) -> Iterator[bytes]:
    """Each part drawn in a pool of spawned processes (never forked from a worker that holds
    threads and connections), yielded in order, with a bounded number in flight."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        pending: deque[Future[bytes]] = deque()
        for part in parts:
            pending.append(pool.submit(render_booklets, part, created_at))
            if len(pending) >= 2 * processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class PdfJoiner:
    """Joins whole PDF documents written by fpdf2 into one, sending each part as it comes."""

    def __init__(self) -> None:
        self._offsets: list[int] = [0, 0]  # byte offset of each object; 0 is the free head
        self._kids: list[int] = []
        self._sent = 0
        self._digest = hashlib.sha256()
        self._version = b""
        self._info = b""
        self._media_box = b""

    def add(self, document: bytes) -> bytes:
        """This document's pages and everything they use, renumbered; the header first."""
        part = _Part(document)
        out = bytearray()
        if not self._version:
            self._version, self._info, self._media_box = part.version, part.info, part.media_box
            out += b"%PDF-" + part.version + b"\n%\xe2\xe3\xcf\xd3\n"
        elif part.version > self._version:
            raise ValueError(
                f"a part needs PDF {part.version!r}, the header said {self._version!r}"
            )
        numbers = {part.pages_root: PAGES_ROOT}
        for old in part.kept:
            numbers[old] = len(self._offsets)
            self._offsets.append(0)
        for old in part.kept:
            self._offsets[numbers[old]] = self._sent + len(out)
            out += b"%d 0 obj\n" % numbers[old] + _renumber(part.objects[old], numbers)
            out += b"\nendobj\n"
        self._kids.extend(numbers[kid] for kid in part.kids)
        return self._send(out)

    def close(self) -> bytes:
        """The page tree, the catalogue, the document information, the cross-references."""
        if not self._kids:
            raise ValueError("there is no booklet to print")
        kids = b" ".join(b"%d 0 R" % kid for kid in self._kids)
        catalog, info = len(self._offsets), len(self._offsets) + 1
        self._offsets += [0, 0]
        out = bytearray()
        for number, body in (
            (PAGES_ROOT, b"<</Type /Pages /Kids [%s] /Count %d /MediaBox %s>>"
             % (kids, len(self._kids), self._media_box)),
            (catalog, b"<</Type /Catalog /Pages %d 0 R /Lang (fr)>>" % PAGES_ROOT),
            (info, self._info),
        ):  # fmt: skip
            self._offsets[number] = self._sent + len(out)
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = self._sent + len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % len(self._offsets)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in self._offsets[1:])
        self._digest.update(out)
        file_id = self._digest.hexdigest()[:32].upper().encode()
        out += b"trailer\n<</Size %d /Root %d 0 R /Info %d 0 R /ID [<%s><%s>]>>\n" % (
            len(self._offsets), catalog, info, file_id, file_id
        )  # fmt: skip
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)

    def _send(self, out: bytearray) -> bytes:
        self._sent += len(out)
        self._digest.update(out)
        return bytes(out)


class _Part:
    """A PDF as fpdf2 writes it, read back through its cross-reference table: its objects,
    its page tree's kids and what the joined document takes from it."""

    def __init__(self, document: bytes) -> None:
        self.version = document[5:8]
        xref = int(document[document.rindex(b"startxref") + 9 :].split()[0])
        trailer = document[document.index(b"trailer", xref) :]
        table = document[xref : document.index(b"trailer", xref)].split(b"\n")
        count = int(table[1].split()[1])
        offsets = {n: int(table[2 + n][:10]) for n in range(1, count)}
        following = dict(pairwise([*sorted(offsets.values()), xref]))
        self.objects = {
            n: _body(document[start : following[start]], n) for n, start in offsets.items()
        }
        root, info = _ref(trailer, b"/Root"), _ref(trailer, b"/Info")
        self.pages_root = _ref(self.objects[root], b"/Pages")
        pages = self.objects[self.pages_root]
        kids = pages[pages.index(b"/Kids") : pages.index(b"]", pages.index(b"/Kids"))]
        self.kids = [int(n) for n in _REFERENCE.findall(kids)]
        self.media_box = _value(pages, b"/MediaBox", rb"\[[^\]]*\]")
        self.info = self.objects[info]
        self.kept = sorted(set(self.objects) - {root, info, self.pages_root})


def _body(text: bytes, number: int) -> bytes:
    """What lies between `n 0 obj` and `endobj`."""
    head = b"%d 0 obj" % number
    if not text.startswith(head):
        raise ValueError(f"object {number} is not where the cross-reference table says")
    return text[len(head) : text.rindex(b"endobj")].strip(b"\r\n")


def _ref(dictionary: bytes, key: bytes) -> int:
    return int(_value(dictionary, key, rb"(\d+) 0 R").split()[0])


def _value(dictionary: bytes, key: bytes, pattern: bytes) -> bytes:
    found = re.search(re.escape(key) + rb"\s*(" + pattern + rb")", dictionary)
    if found is None:
        raise ValueError(f"no {key.decode()} in {dictionary[:60]!r}")
    return found.group(1)


def _renumber(body: bytes, numbers: dict[int, int]) -> bytes:
    """References renumbered in the object's dictionary; a stream's bytes are left alone."""
    stream = _STREAM.search(body)
    head, tail = (body[: stream.start()], body[stream.start() :]) if stream else (body, b"")
    return _REFERENCE.sub(lambda ref: b"%d 0 R" % numbers[int(ref.group(1))], head) + tail
