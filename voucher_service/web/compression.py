"""Compressed answers: pages, scripts and styles go out gzipped to browsers that accept it."""

from __future__ import annotations

import gzip
import threading

from flask import Response, request

# What is worth compressing: text, and the WebAssembly of the scanner (a megabyte raw).
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "application/geo+json",
        "image/svg+xml",
        "application/wasm",
    }
)
MIN_BYTES = 1024  # below this, gzip's header and the CPU cost more than they save
MAX_BYTES = 8 * 1024 * 1024  # a file larger than this is not read into memory to compress
LEVEL = 6
# Static files, compressed once per version (their ETag names their size and time): the
# scanner's megabyte of WebAssembly is not gzipped again for every phone.
_FILES: dict[str, bytes] = {}
_FILES_LIMIT = 64
_files_lock = threading.Lock()


def compress(response: Response) -> Response:
    """The answer, gzipped when the client accepts it and it is worth it."""
    if response.mimetype not in COMPRESSIBLE:
        return response
    response.vary.add("Accept-Encoding")  # a cache keeps one copy per encoding
    if (
        request.method == "HEAD"
        or response.status_code != 200
        or "Content-Encoding" in response.headers
        or "Content-Range" in response.headers
        or not _accepts_gzip()
    ):
        return response
    etag, weak = response.get_etag()
    file_key = f"{request.path}|{etag}" if etag and response.direct_passthrough else None
    body = _whole_body(response)
    if body is None or len(body) <= MIN_BYTES:
        return response
    packed = _FILES.get(file_key) if file_key else None
    if packed is None:
        packed = gzip.compress(body, compresslevel=LEVEL, mtime=0)
        if file_key is not None:
            _keep(file_key, packed)
    response.direct_passthrough = False
    response.set_data(packed)  # sets Content-Length
    response.headers["Content-Encoding"] = "gzip"
    if etag and not weak:
        # Another representation: the bytes differ, so a strong validator would lie. Weak, a
        # conditional request (If-None-Match compares weakly) still gets its 304.
        response.set_etag(etag, weak=True)
    return response


def _keep(key: str, packed: bytes) -> None:
    with _files_lock:
        if len(_FILES) >= _FILES_LIMIT:
            _FILES.pop(next(iter(_FILES)))  # the oldest kept
        _FILES[key] = packed


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _whole_body(response: Response) -> bytes | None:
    """The body, when it is all known: a buffered answer, or a file of a known size (static
    files); None for a streamed answer, which goes out as it is made."""
    if not response.is_streamed:
        return response.get_data()
    length = response.content_length
    if not response.direct_passthrough or length is None or length > MAX_BYTES:
        return None
    stream = response.response
    try:
        body = b"".join(stream)  # type: ignore[arg-type]
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    response.direct_passthrough = False
    response.set_data(body)  # the iterator is consumed: the body is kept, compressed or not
    return body
