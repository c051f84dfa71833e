"""Redemption throughput under gunicorn, side by side with the shared yardstick.

Both servers run with 4 workers on the same PostgreSQL and are driven by the same
wrk script (16 connections, 2 threads), alternating A B A B; each run redeems
fresh vouchers. The figure that counts is the median ratio of requests per second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
YARDSTICK = ROOT.parent / "shared" / "bench"
PG = os.environ.get("VOUCHER_BENCH_PG", "postgresql://root@127.0.0.1:5432")
PYTHON = sys.executable
BIN = Path(PYTHON).parent
OURS_PORT, REF_PORT = 8711, 8701
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARM_UP_SECONDS = 3
TOKENS_PER_RUN = int(os.environ.get("BENCH_TOKENS_PER_RUN", "20000"))


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def prepare_ours(dsn: str, work: Path, runs: int) -> tuple[dict[str, str], str, list[Path]]:
    """Migrate, seed a bench programme and issue vouchers; tokens split into one file a run."""
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "VOUCHER_SERVICE_KEYS_DIR": str(work / "keys"),
        "PUBLIC_BASE_URL": "https://pass.example.fr",
    }
    subprocess.run([BIN / "voucher-service", "db", "upgrade"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    out = subprocess.run(
        [PYTHON, "-m", "bench.issuance", str(runs * TOKENS_PER_RUN)],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    made = json.loads(out.stdout)
    # As the yardstick's prepare.py does: fresh statistics, no autovacuum left to run.
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return env, made["partner_key"], split_tokens(made["tokens"], work / "ours", runs)


def prepare_yardstick(dsn: str, work: Path, runs: int) -> list[Path]:
    tokens = work / "ref-tokens.txt"
    subprocess.run(
        [PYTHON, str(YARDSTICK / "prepare.py"), dsn, str(runs * TOKENS_PER_RUN), str(tokens),
         "ref-key"], check=True, capture_output=True,
    )  # fmt: skip
    return split_tokens(tokens.read_text().split(), work / "ref", runs)


def split_tokens(tokens: list[str], prefix: Path, runs: int) -> list[Path]:
    files = []
    for run in range(runs):
        path = Path(f"{prefix}-{run}.txt")
        path.write_text("\n".join(tokens[run * TOKENS_PER_RUN : (run + 1) * TOKENS_PER_RUN]) + "\n")
        files.append(path)
    return files


def start(app: str, port: int, env: dict[str, str], chdir: Path) -> subprocess.Popen[bytes]:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            sys.exit(f"port {port} is taken: stop what listens there first")
    process = subprocess.Popen(
        [BIN / "gunicorn", "-w", "4", "-b", f"127.0.0.1:{port}", "--chdir", str(chdir), app],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except urllib.error.HTTPError:  # the yardstick has no /healthz: any answer means it is up
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"{app} did not start on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def wrk_script() -> Path:
    """The yardstick's wrk script when it is there (the same load for both), else ours."""
    shared = YARDSTICK / "redeem.lua"
    return shared if shared.is_file() else Path(__file__).with_name("redeem.lua")


def wrk(port: int, tokens: Path, key: str, prefix: str, seconds: int = SECONDS) -> dict[str, float]:
    env = {**os.environ, "TOKENS": str(tokens), "API_KEY": key, "KEY_PREFIX": prefix}
    out = subprocess.run(
        [ensure_wrk(), "-t2", "-c16", f"-d{seconds}s", "-s", str(wrk_script()),
         f"http://127.0.0.1:{port}"], env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"p50_ms=([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = float(re.search(r"p99_ms=([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if requests > TOKENS_PER_RUN:
        sys.exit(f"a run sent {requests} requests for {TOKENS_PER_RUN} fresh tokens: raise "
                 "BENCH_TOKENS_PER_RUN")  # fmt: skip
    return {
        "requests": requests,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def run() -> dict[str, Any]:
    if not YARDSTICK.is_dir():
        print(f"(no yardstick at {YARDSTICK}: measuring voucher-service alone)")
    servers: list[subprocess.Popen[bytes]] = []
    results: dict[str, list[dict[str, float]]] = {"voucher_service": [], "yardstick": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            ours_env, partner_key, ours_tokens = prepare_ours(
                fresh_database("vs_bench"), work, ROUNDS + 1
            )
            servers.append(start("voucher_service.wsgi:app", OURS_PORT, ours_env, ROOT))
            if YARDSTICK.is_dir():
                ref_dsn = fresh_database("refbench")
                ref_tokens = prepare_yardstick(ref_dsn, work, ROUNDS + 1)
                servers.append(
                    start(
                        "reference_app:app", REF_PORT, {**os.environ, "REF_DSN": ref_dsn}, YARDSTICK
                    )
                )
            # An unmeasured warm-up each (caches, prepared statements), then the rounds.
            wrk(OURS_PORT, ours_tokens[0], partner_key, "ours-warm", WARM_UP_SECONDS)
            if YARDSTICK.is_dir():
                wrk(REF_PORT, ref_tokens[0], "ref-key", "ref-warm", WARM_UP_SECONDS)
            for round_ in range(1, ROUNDS + 1):
                results["voucher_service"].append(
                    wrk(OURS_PORT, ours_tokens[round_], partner_key, f"ours{round_}")
                )
                if YARDSTICK.is_dir():
                    results["yardstick"].append(
                        wrk(REF_PORT, ref_tokens[round_], "ref-key", f"ref{round_}")
                    )
        finally:
            for server in servers:
                stop(server)
    return summarise(results)


def summarise(results: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                               "seconds": SECONDS, "rounds": ROUNDS, "runs": results}  # fmt: skip
    failed = [r for runs in results.values() for r in runs if r["non_2xx"]]
    if failed:
        # A run whose requests were refused measured refusals, not redemptions.
        summary["invalid"] = f"{len(failed)} run(s) had non-2xx answers"
    for name, runs in results.items():
        if runs:
            summary[name] = {field: statistics.median(r[field] for r in runs) for field in runs[0]}
    if results["yardstick"]:
        ratios = [
            ours["rps"] / ref["rps"]
            for ours, ref in zip(results["voucher_service"], results["yardstick"], strict=True)
        ]
        summary["ratio_rps_median"] = round(statistics.median(ratios), 3)
        summary["ratios"] = [round(r, 3) for r in ratios]
    return summary


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
