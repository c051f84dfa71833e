"""Issue 8 (1): a normal install runs.

The wheel is built as the Docker image builds it (from pyproject.toml, README.md, schemas/
and voucher_service/ alone), installed with its locked dependencies into a fresh virtual
environment without the checkout, and run from an unrelated folder: `voucher-service db
upgrade`, `demo --json`, `serve`, and gunicorn with the image's settings. A request whose
body is validated against its JSON Schema must succeed, and /readyz must say 200 only
when the schemas load.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from voucher_service import schemas

ROOT = Path(__file__).resolve().parents[2]
# What the image's build stage copies: the wheel must be whole from these alone.
BUILD_INPUTS = ("pyproject.toml", "README.md", "schemas", "voucher_service")
# Files of folders that do not exist yet: they must be packed the day they do.
FUTURE_FILES = {
    "voucher_service/templates/pages/page.html": "<p>page</p>\n",
    "voucher_service/static/css/site.css": "p { margin: 0 }\n",
    "voucher_service/static/robots.txt": "User-agent: *\n",
    "voucher_service/web/templates/web.html": "<p>web</p>\n",
}
# What the service reads at run time besides its modules.
PACKAGE_DATA = (
    "voucher_service/py.typed",
    "voucher_service/migrations/script.py.mako",
    "voucher_service/migrations/env.py",
    *(
        f"voucher_service/migrations/versions/{path.name}"
        for path in (ROOT / "voucher_service/migrations/versions").glob("*.py")
    ),
    *(f"voucher_service/jsonschemas/{path.name}" for path in (ROOT / "schemas").glob("*.json")),
)
PROGRAM = {
    "code": "CR23",
    "name": "Pass Numérique Creuse",
    "funder": "Département de la Creuse",
    "budget_cents": 5_000_000,
    "face_value_cents": 1000,
    "currency": "EUR",
    "booklet_size": 10,
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_until": "2027-12-31T00:00:00Z",
    "voucher_validity_days": 365,
    "max_vouchers_per_beneficiary": 20,
    "territory": ["23"],
}


# Helpers shared with test_docker_files.py: a free port, a server process, HTTP calls.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def call(
    url: str, body: Any = None, token: str | None = None, timeout: float = 10
) -> tuple[int, Any]:
    """The status and the decoded JSON body (or text) of one request."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    command: list[str], env: dict[str, str], cwd: Path, port: int, log: Path
) -> Server:
    """Start a server and wait until /healthz answers 200 (at most 60 s)."""
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, text=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{command[0]} exited with {process.returncode}:\n{server.output()}")
        try:
            if call(f"{server.base}/healthz", timeout=2)[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    pytest.fail(f"{command[0]} did not answer /healthz within 60 s:\n{server.output()}")


def stop_server(server: Server) -> int:
    """SIGTERM, then SIGKILL after 30 s; the exit code."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


def service_env(base: Path, **extra: str) -> dict[str, str]:
    """The environment of a development service on an SQLite file under `base`, nothing of
    the caller's own settings or of the checkout (no PYTHONPATH)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("VOUCHER_SERVICE_", "PROMETHEUS_", "GUNICORN_", "PYTHON"))
        and name not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "PORT")
        and name != "WEB_CONCURRENCY"
    }
    env.update(
        DATABASE_URL=f"sqlite:///{base}/voucher.db",
        VOUCHER_SERVICE_KEYS_DIR=str(base / "keys"),
        VOUCHER_SERVICE_ENV="development",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


# The installed package.


@dataclass
class Installed:
    wheel: Path
    bin: Path  # the fresh environment's bin/
    timings: dict[str, float]
    package_files: list[str]  # the checkout's files of voucher_service/ when it was built

    def run(self, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin / "voucher-service"), *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"voucher-service {' '.join(args)}:\n{result.stderr}"
        return result


def pip(*args: str) -> None:
    """This environment's pip, for another environment's interpreter where asked
    (`--python`): the fresh environment needs no pip of its own."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def package_files() -> set[str]:
    """Every file of voucher_service/ that Git keeps or would keep (not the ignored ones),
    the files of the schemas' link included."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "voucher_service"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listing.returncode != 0:  # not a Git checkout: what is on disk, less the caches
        names = [
            str(path.relative_to(ROOT))
            for path in (ROOT / "voucher_service").rglob("*")
            if "__pycache__" not in path.parts and not path.name.startswith(".")
        ]
    else:
        names = [name for name in listing.stdout.decode().split("\0") if name]
    found = set()
    for name in names:
        path = ROOT / name
        if path.is_dir():  # the link to schemas/
            found |= {f"{name}/{child.name}" for child in path.iterdir() if child.is_file()}
        elif path.is_file():  # a file deleted from the work tree is still listed
            found.add(name)
    return found


def build_and_install(target: Path) -> dict[str, Any]:
    """The wheel in target/wheels, installed in target/venv; how long each step took, and
    the files of the package it was built from."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    files = sorted(package_files())
    source = target / "source"
    for name in BUILD_INPUTS:
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    for name, text in FUTURE_FILES.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(target / "wheels"), str(source))
    (wheel,) = (target / "wheels").glob("voucher_service-*.whl")
    timings["build the wheel"] = time.monotonic() - started

    started = time.monotonic()
    environment = target / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(environment)
    python = str(environment / "bin" / "python")
    # As the image does: the locked dependencies, each checked against its hash, then the
    # project alone.
    lock = str(ROOT / "requirements.lock")
    common = ("--quiet", "--no-deps", "--only-binary=:all:")
    pip("--python", python, "install", *common, "--require-hashes", "-r", lock)
    pip("--python", python, "install", *common, str(wheel))
    pip("--python", python, "check")
    timings["install into a fresh environment"] = time.monotonic() - started
    return {"timings": timings, "package_files": files}


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Built and installed once per test run, by whichever xdist worker asks first; the
    others wait for it on a lock in the folder all the workers share."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    target = shared / "installed-package"
    done = target / "built.json"
    with (shared / "installed-package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)  # what a failed attempt left
            target.mkdir()
            done.write_text(json.dumps(build_and_install(target)))
    (wheel,) = (target / "wheels").glob("voucher_service-*.whl")
    built = json.loads(done.read_text())
    return Installed(wheel, target / "venv" / "bin", built["timings"], built["package_files"])


@pytest.mark.slow
def test_the_wheel_carries_every_file_of_the_package(installed: Installed) -> None:
    """Schemas, migrations, fonts, static files and templates: a file the wheel would miss
    needs its pattern in pyproject.toml's [tool.setuptools.package-data]."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {*PACKAGE_DATA, *FUTURE_FILES, *installed.package_files}
    assert sorted(expected - names) == []
    assert not [name for name in names if "__pycache__" in name or name.startswith("tests/")]


@pytest.mark.slow
def test_the_installed_package_finds_its_schemas_inside_itself(
    installed: Installed, tmp_path: Path
) -> None:
    probe = "from voucher_service.schemas import all_schemas, schemas_dir; " + (
        "print(schemas_dir().resolve()); print(len(all_schemas()))"
    )
    result = subprocess.run(
        [str(installed.bin / "python"), "-c", probe],
        env=service_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    where, count = result.stdout.split()
    assert Path(where).is_relative_to(installed.bin.parent.resolve())
    assert not Path(where).is_relative_to(ROOT)
    assert int(count) == len(list((ROOT / "schemas").glob("*.json")))


@pytest.mark.slow
def test_installed_it_migrates_seeds_and_serves_validated_requests_from_anywhere(
    installed: Installed, tmp_path: Path
) -> None:
    started = time.monotonic()
    port = free_port()
    env = service_env(tmp_path, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    installed.run(env, tmp_path, "db", "upgrade")
    keys = json.loads(installed.run(env, tmp_path, "demo", "--json").stdout)["keys"]
    command = [str(installed.bin / "voucher-service"), "serve", "--port", str(port)]
    server = start_server(command, env, tmp_path, port, tmp_path / "serve.log")
    try:
        assert call(f"{server.base}/readyz")[0] == 200
        status, body = call(f"{server.base}/v1/programs", PROGRAM, keys["admin"])
        assert status == 201, body
        assert body["code"] == "CR23"
        dollars = {**PROGRAM, "currency": "USD"}
        status, body = call(f"{server.base}/v1/programs", dollars, keys["admin"])
        assert status == 400
        assert body["type"].endswith("/problems/invalid-request")
        assert [error["path"] for error in body["errors"]] == ["/currency"]
    finally:
        assert stop_server(server) in (0, -signal.SIGTERM), server.output()
    timings = {**installed.timings, "migrate, seed and serve": time.monotonic() - started}
    print(f"\npackage test timings: {timings}")  # shown with -s


@pytest.mark.slow
def test_installed_gunicorn_serves_with_the_image_settings(
    installed: Installed, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(
        tmp_path,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    installed.run(env, tmp_path, "db", "upgrade")
    admin = json.loads(installed.run(env, tmp_path, "demo", "--json").stdout)["keys"]["admin"]
    command = [
        str(installed.bin / "gunicorn"),
        *("-c", "python:voucher_service.gunicorn_conf", "voucher_service.wsgi:app"),
    ]
    server = start_server(command, env, tmp_path, port, tmp_path / "gunicorn.log")
    try:
        assert call(f"{server.base}/readyz")[0] == 200
        status, body = call(f"{server.base}/v1/programs", PROGRAM, admin)
        assert status == 201, body
    finally:
        assert stop_server(server) == 0, server.output()
    assert '"route": "/readyz", "status": 200' in server.output()  # the access log
    assert (tmp_path / "prometheus").is_dir()


# A broken install is not ready.


@pytest.fixture
def without_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    empty = tmp_path / "no-schemas"
    empty.mkdir()
    monkeypatch.setenv("VOUCHER_SERVICE_SCHEMAS", str(empty))
    schemas.all_schemas.cache_clear()
    yield
    schemas.all_schemas.cache_clear()  # read again, from the real folder, when next asked


@pytest.mark.usefixtures("without_schemas")
def test_readyz_is_503_when_the_schemas_cannot_be_loaded(client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["detail"] == "the JSON Schemas cannot be loaded"
    assert client.get("/healthz").status_code == 200


def test_the_checkout_finds_the_schemas_through_the_package_link() -> None:
    link = ROOT / "voucher_service" / "jsonschemas"
    assert link.is_symlink()
    assert os.readlink(link) == "../schemas"
    assert schemas.schemas_dir().resolve() == (ROOT / "schemas").resolve()


def test_a_checkout_without_the_link_falls_back_to_the_top_level_schemas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Git on a system without symbolic links writes the link as a small text file."""
    stand_in = tmp_path / "jsonschemas"
    stand_in.write_text("../schemas")
    monkeypatch.delenv("VOUCHER_SERVICE_SCHEMAS", raising=False)
    monkeypatch.setattr(schemas, "PACKAGED", stand_in)
    assert schemas.schemas_dir() == ROOT / "schemas"
