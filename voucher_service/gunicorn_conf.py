"""Gunicorn's settings for production, read from the environment:

    gunicorn -c python:voucher_service.gunicorn_conf voucher_service.wsgi:app

`PORT` (default 8000) is the port it listens on, on every interface; `WEB_CONCURRENCY`
(default 4) the number of worker processes. Access and error logs go to standard output
and error. Options given on the command line or in GUNICORN_CMD_ARGS override these.

Metrics: when PROMETHEUS_MULTIPROC_DIR is set (the image sets it), each worker process
writes its samples there; the master empties the folder at start and marks each worker
that exits as dead, so that the numbers gathered across workers stay right.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

DEFAULT_PORT = 8000
DEFAULT_WORKERS = 4


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise RuntimeError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return value


bind = [f"0.0.0.0:{_whole('PORT', DEFAULT_PORT)}"]  # every interface: a container has one
workers = _whole("WEB_CONCURRENCY", DEFAULT_WORKERS)
# A batch of pre-printed booklets streams for a few dozen seconds; a hung worker still goes.
timeout = _whole("GUNICORN_TIMEOUT", 60)
# No gunicorn access log: it writes raw query strings (a person's case reference, a
# holder's name); the service logs one structured line per request, by route.
accesslog = None
errorlog = "-"
# The workers' heartbeat files in memory, not on a container's overlay disk, when it can.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


def multiprocess_dir() -> Path | None:
    """Where the workers write their metrics, or None when metrics are per process."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(configured) if configured else None


def on_starting(server: Any) -> None:
    """In the master, before any worker: an empty folder for the workers' metrics (the
    files of an earlier run would add their counts to this one's)."""
    directory = multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker exits: its live gauges no longer count."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(worker.pid, str(directory))  # type: ignore[no-untyped-call]
