"""Key rotation across workers: `keys rotate` publishes a key first and signs with it later,
and workers on one keys directory and one database agree on both at every moment."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import Clock, World, make_world, with_settings
from voucher_service.cli import main
from voucher_service.clock import rfc3339
from voucher_service.config import Settings
from voucher_service.db import Database
from voucher_service.keys import CHECK_INTERVAL_SECONDS
from voucher_service.web.app import create_app

ANNOUNCED = re.compile(r"published key (\S+) now; it signs new vouchers from (\S+)")


@dataclass
class Worker:
    app: Flask
    client: FlaskClient


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test's own keys directory, so that rotating it leaves the other tests alone."""
    return with_settings(settings, keys_dir=tmp_path / "keys")


@pytest.fixture
def start_worker(own_settings: Settings) -> Iterator[Callable[[], Worker]]:
    """Start a worker as gunicorn does: its own app, context and database pool."""
    databases: list[Database] = []

    def start() -> Worker:
        databases.append(Database(own_settings.database_url))
        app = create_app(own_settings, databases[-1], start_sequencer=False)
        app.testing = True
        return Worker(app, app.test_client())

    yield start
    for database in databases:
        database.dispose()


def rotate(keys_dir: Path, *options: str) -> tuple[str, str, str]:
    """`voucher-service keys rotate`: the new kid, when it signs, and what was printed."""
    env = {"VOUCHER_SERVICE_KEYS_DIR": str(keys_dir)}
    result = CliRunner().invoke(main, ["keys", "rotate", *options], env=env)
    assert result.exit_code == 0, result.output
    announced = ANNOUNCED.search(result.output)
    assert announced, result.output
    return announced[1], announced[2], result.output


def kid_of(token: str) -> str:
    header = token.split(".", 1)[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def issue(worker: Worker, world: World) -> list[str]:
    """A booklet issued on `worker`: its vouchers' tokens."""
    body = {"program_id": world.program_id, "beneficiary_ref": uuid.uuid4().hex, "size": 2}
    response = worker.client.post(
        "/v1/booklets", json=body, headers=world.headers("issuer", uuid.uuid4().hex)
    )
    assert response.status_code == 201, response.json
    return [voucher["token"] for voucher in response.json["vouchers"]]


def verify_and_redeem(worker: Worker, world: World, tokens: list[str]) -> None:
    """The first token verified, the last redeemed, on `worker`."""
    verified = worker.client.post(
        "/v1/vouchers/verify", json={"token": tokens[0]}, headers=world.headers("partner")
    )
    assert verified.status_code == 200, verified.json
    assert verified.json["redeemable"] is True
    redeemed = worker.client.post(
        "/v1/redemptions",
        json={"token": tokens[-1]},
        headers=world.headers("partner", uuid.uuid4().hex),
    )
    assert redeemed.status_code == 201, redeemed.json


def jwks(worker: Worker) -> list[str]:
    keys = worker.client.get("/.well-known/jwks.json").json["keys"]
    return [key["kid"] for key in keys]


def test_two_workers_sign_with_the_old_key_until_the_activation_then_with_the_new(
    start_worker: Callable[[], Worker], own_settings: Settings, clock: Clock
) -> None:
    a, b = start_worker(), start_worker()
    world = make_world(a.app, a.client)
    old = kid_of(issue(a, world)[0])
    new, signs_from, _ = rotate(own_settings.keys_dir, "--after", "1h")
    assert signs_from == rfc3339(clock.current + timedelta(hours=1))
    time.sleep(CHECK_INTERVAL_SECONDS)  # each worker looks at its keys at least once a second

    # Published, not signing: both workers sign with the old key and publish both keys.
    before = {"a": issue(a, world), "b": issue(b, world)}
    assert {kid_of(token) for tokens in before.values() for token in tokens} == {old}
    assert jwks(a) == jwks(b) == sorted([old, new])
    assert (
        a.client.get("/.well-known/jwks.json").data == b.client.get("/.well-known/jwks.json").data
    )
    verify_and_redeem(b, world, before["a"])
    verify_and_redeem(a, world, before["b"])

    clock.advance(minutes=59, seconds=59)
    assert kid_of(issue(b, world)[0]) == old
    clock.advance(seconds=1)  # the activation time: every worker switches by itself
    after = {"a": issue(a, world), "b": issue(b, world)}
    assert {kid_of(token) for tokens in after.values() for token in tokens} == {new}
    verify_and_redeem(b, world, after["a"])
    verify_and_redeem(a, world, after["b"])
    assert jwks(a) == jwks(b) == sorted([old, new])  # the old key's vouchers are still valid


def test_a_worker_restarted_after_a_rotation_and_one_started_before_agree_at_once(
    start_worker: Callable[[], Worker], own_settings: Settings, clock: Clock
) -> None:
    """The issue's case: one worker restarts after `keys rotate` and signs with the new key;
    the others, started before, meet a kid they do not hold and read their keys again."""
    started_before = start_worker()
    world = make_world(started_before.app, started_before.client)
    old_tokens = issue(started_before, world)
    old = kid_of(old_tokens[0])
    new, _, _ = rotate(own_settings.keys_dir, "--after", "0s")
    restarted = start_worker()
    new_tokens = issue(restarted, world)
    assert kid_of(new_tokens[0]) == new
    verify_and_redeem(started_before, world, new_tokens)  # no wait: the unknown kid reloads
    assert kid_of(issue(started_before, world)[0]) == new
    verify_and_redeem(restarted, world, old_tokens)
    assert jwks(started_before) == jwks(restarted) == sorted([old, new])


def test_keys_rotate_says_when_the_new_key_signs_and_refuses_a_bad_duration(
    own_settings: Settings, start_worker: Callable[[], Worker], clock: Clock
) -> None:
    worker = start_worker()
    old = worker.app.extensions["voucher_service"].context.keys.voucher.current_kid
    new, signs_from, output = rotate(own_settings.keys_dir)
    assert signs_from == rfc3339(clock.current + timedelta(hours=24))  # the default: 24h
    assert f"key {old} signs until then" in output
    env = {"VOUCHER_SERVICE_KEYS_DIR": str(own_settings.keys_dir)}
    refused = CliRunner().invoke(main, ["keys", "rotate", "--after", "soon"], env=env)
    assert refused.exit_code == 2
    assert "'soon' is not a duration" in refused.output
    replaced = rotate(own_settings.keys_dir, "--after", "15m")
    assert f"it replaces key {new}, published but never used to sign" in replaced[2]
    assert replaced[1] == rfc3339(clock.current + timedelta(minutes=15))


# -- three gunicorn workers ------------------------------------------------------------------


class Server:
    """gunicorn serving `voucher_service.wsgi:app`, and what it logs: one line a request,
    which starts with the pid of the worker that served it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process, self.lines, self.port = process, list[str](), 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_until_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in list(self.lines):
                if listening := re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line):
                    self.port = int(listening[1])
                    return
            time.sleep(0.05)
        pytest.fail("gunicorn did not start:\n" + "\n".join(self.lines))

    def served_by(self) -> set[str]:
        return {line.split()[0] for line in list(self.lines) if line.startswith("<")}

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request on a connection of its own: any worker may take it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, payload, headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()


@contextmanager
def gunicorn(env: dict[str, str], workers: int, cwd: Path) -> Iterator[Server]:
    """`gunicorn -w N voucher_service.wsgi:app` on a free port of the loopback."""
    from gunicorn.config import KNOWN_SETTINGS

    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", "127.0.0.1:0"]
    command += ["--access-logfile", "-", "--access-logformat", "%(p)s %(m)s %(U)s %(s)s"]
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        command.append("--no-control-socket")  # else one socket in $HOME for every server
    process = subprocess.Popen(
        [*command, "voucher_service.wsgi:app"],
        env=env,
        cwd=cwd,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(process)
    try:
        server.wait_until_listening()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        server.reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture
def demo_env(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    """The service's environment on a SQLite file of its own, seeded with the demo."""
    shutil.copyfile(sqlite_template, tmp_path / "voucher.db")
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'voucher.db'}",
        "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path / "keys"),
        "PUBLIC_BASE_URL": "https://pass.example.fr",
        "VOUCHER_SERVICE_SEQUENCER": "off",
    }


@pytest.mark.slow
def test_three_gunicorn_workers_agree_through_a_rotation(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    from voucher_service.programs.models import Program

    demo = CliRunner().invoke(main, ["demo", "--json"], env=demo_env)
    assert demo.exit_code == 0, demo.output
    keys = json.loads(demo.output)["keys"]
    database = Database(demo_env["DATABASE_URL"])
    with database.read() as session:
        program_id = session.scalar(select(Program.id))
    database.dispose()
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("VOUCHER_SERVICE_") and name != "DATABASE_URL"
    }
    env = {**inherited, **demo_env, "PYTHONUNBUFFERED": "1"}

    with gunicorn(env, 3, tmp_path) as server, ThreadPoolExecutor(6) as pool:

        def issue_booklet(_: int) -> list[str]:
            body = {"program_id": program_id, "beneficiary_ref": uuid.uuid4().hex, "size": 2}
            headers = {"Authorization": f"Bearer {keys['issuer']}"}
            status, issued = server.call(
                "POST", "/v1/booklets", body, {**headers, "Idempotency-Key": uuid.uuid4().hex}
            )
            assert status == 201, issued
            return [voucher["token"] for voucher in issued["vouchers"]]

        def verify_and_redeem(tokens: list[str]) -> None:
            headers = {"Authorization": f"Bearer {keys['partner']}"}
            status, verified = server.call(
                "POST", "/v1/vouchers/verify", {"token": tokens[0]}, headers
            )
            assert (status, verified.get("redeemable")) == (200, True), verified
            status, redeemed = server.call(
                "POST",
                "/v1/redemptions",
                {"token": tokens[-1]},
                {**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert status == 201, redeemed

        def published(_: int) -> str:
            status, document = server.call("GET", "/.well-known/jwks.json")
            assert status == 200, document
            return json.dumps(document, sort_keys=True)

        # Every worker has loaded its keys, and answered, before the rotation.
        deadline = time.monotonic() + 20
        while len(server.served_by()) < 3 and time.monotonic() < deadline:
            list(pool.map(published, range(6)))
        assert len(server.served_by()) == 3, server.lines
        before = list(pool.map(issue_booklet, range(6)))
        (old,) = {kid_of(tokens[0]) for tokens in before}

        new, _, _ = rotate(tmp_path / "keys", "--after", "0s")
        rotated_at = time.monotonic()
        # At once, whichever worker signs a voucher, every worker takes it.
        list(pool.map(verify_and_redeem, list(pool.map(issue_booklet, range(6)))))
        # Within a second every worker has seen the new key: one JWKS, and the new key signs.
        time.sleep(max(0.0, rotated_at + CHECK_INTERVAL_SECONDS + 0.1 - time.monotonic()))
        documents = set(pool.map(published, range(12)))
        after = list(pool.map(issue_booklet, range(6)))
        list(pool.map(verify_and_redeem, after + before))
        documents |= set(pool.map(published, range(6)))
        assert {kid_of(tokens[0]) for tokens in after} == {new}
        assert len(documents) == 1
        assert [key["kid"] for key in json.loads(documents.pop())["keys"]] == sorted([old, new])
