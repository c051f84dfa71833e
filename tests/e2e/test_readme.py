"""Issue 8 (8): the README's walk-through runs as written.

Its shell blocks, from "Walk-through with curl" to the end of the audit section, are taken
out of README.md and run in order, in one bash, against a live `voucher-service serve` on
a fresh database, as a reader would in a second terminal beside `make run`. Any command
that fails, or any request the service refuses, fails the test.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIRST, AFTER_LAST = "## Walk-through with curl", "## Running it for real"

pytestmark = pytest.mark.slow


def walk_through() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(FIRST) : readme.index(AFTER_LAST)]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)


def test_the_walk_through_is_long_enough_to_mean_something() -> None:
    blocks = walk_through()
    assert len(blocks) >= 8
    text = "\n".join(blocks)
    for needed in ("demo --json", "/v1/booklets", "/v1/redemptions", "audit verify"):
        assert needed in text
    assert "uuidgen" not in text  # not installed on a fresh machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A fresh service on SQLite, as `make run` starts it, and a reader's working folder
    (where `.venv/bin/voucher-service` is the project's)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/voucher.db",
        "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path / "keys"),
        "PUBLIC_BASE_URL": base,
        "VOUCHER_SERVICE_ENV": "development",
    }
    env.pop("REDIS_URL", None)
    cli = BIN / "voucher-service"
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([cli, "demo"], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    reader = tmp_path / "reader"
    (reader / ".venv").mkdir(parents=True)
    (reader / ".venv" / "bin").symlink_to(BIN)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield base, env, reader
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


# What the reader's shell adds: stop at the first failure, and a refused request (4xx,
# 5xx) fails its curl, its problem still printed.
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
"""


def test_the_readme_walk_through_runs_as_written(live: tuple[str, dict[str, str], Path]) -> None:
    base, env, reader = live
    script = PRELUDE + "\n".join(walk_through())
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=reader,
        env={**env, "BASE": base},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "consistent with the previous checkpoint" in done.stdout
    assert "\nOK: " in done.stdout, done.stdout[-2000:]
    assert (reader / "earlier.checkpoint").read_text().count("\n") >= 3
    assert (reader / "ledger.csv").read_text().startswith("index,")
    assert (reader / "carnet.pdf").read_bytes().startswith(b"%PDF-")
