"""Issue 8 (5): the Docker image and compose.yaml, checked without a Docker daemon.

The files are read as Docker would read them (the Dockerfile's instructions, compose's
YAML with its merge keys); what the image runs is run here outside Docker: the gunicorn
command of its CMD, with its settings module, against SQLite.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.e2e.test_package import call, free_port, service_env, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE_COMMAND = [
    "gunicorn",
    "-c",
    "python:voucher_service.gunicorn_conf",
    "voucher_service.wsgi:app",
]
# A release, with an optional variant (-slim-bookworm), never a moving tag such as latest
# or 15; each image's own test below asks for all the parts its releases have.
PINNED_TAG = re.compile(r"^[a-z0-9./-]+:\d+(\.\d+)+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")


# The Dockerfile.


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (the ARGs before the first FROM are dropped)."""
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def base_image() -> str:
    """The image the stages start from, after the global ARGs' defaults."""
    defaults = {}
    for keyword, rest in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name] = value
    images = {rest.split()[0] for keyword, rest in instructions() if keyword == "FROM"}
    assert len(images) == 1, images
    image = images.pop()
    return re.sub(r"\$\{(\w+)\}", lambda match: defaults[match.group(1)], image)


def test_the_base_image_is_an_exact_python_3_11_release() -> None:
    image = base_image()
    assert PINNED_TAG.match(image), image
    assert re.match(r"^python:3\.11\.\d+-slim-bookworm$", image), image


def test_the_locked_dependencies_are_installed_before_the_code_arrives() -> None:
    final = stages()[-1]
    steps = [f"{keyword} {rest}" for keyword, rest in final]
    lock_copy = next(i for i, step in enumerate(steps) if step.startswith("COPY requirements.lock"))
    lock_install = next(
        i for i, step in enumerate(steps) if "pip install" in step and "requirements.lock" in step
    )
    assert "--require-hashes" in steps[lock_install]
    code = [
        i
        for i, step in enumerate(steps)
        if step.startswith(("COPY", "ADD")) and not step.startswith("COPY requirements.lock")
    ]
    assert code, "the project never reaches the image"
    assert lock_copy < lock_install < min(code)
    project_install = next(i for i, step in enumerate(steps) if "pip install --no-deps" in step)
    assert project_install > min(code)
    assert not any(
        step.startswith(("COPY", "ADD")) and ("voucher_service" in step or " . " in step)
        for step in steps
    ), "the final stage takes the code from the wheel stage only"


def test_the_wheel_stage_copies_only_what_builds_the_wheel() -> None:
    build = stages()[0]
    copied = {
        source
        for keyword, rest in build
        if keyword == "COPY"
        for source in shlex.split(rest)[:-1]
        if not source.startswith("--")
    }
    assert copied == {"pyproject.toml", "README.md", "schemas", "voucher_service"}
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # an allow list: nothing else enters the build context
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    assert copied | {"requirements.lock"} <= allowed


def test_the_image_runs_gunicorn_with_its_settings_as_a_user() -> None:
    final = dict(stages()[-1])
    assert json.loads(final["CMD"]) == IMAGE_COMMAND
    assert final["USER"].split(":")[0] not in ("", "0", "root")
    assert "/readyz" in final["HEALTHCHECK"]
    env = final["ENV"]
    for setting in ("PROMETHEUS_MULTIPROC_DIR=/tmp/", "VOUCHER_SERVICE_ENV=production", "PORT="):
        assert setting in env


# requirements.lock


def locked() -> dict[str, tuple[str, list[str]]]:
    """Each locked package: its version and its hashes."""
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement = Requirement(line.split(" --hash")[0].strip())
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        found[canonicalize_name(requirement.name)] = (spec.version, hashes)
    return found


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    lock = locked()
    assert lock
    assert all(hashes for _, hashes in lock.values())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is not in requirements.lock: run `make lock`"
        version = lock[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {name}=={version}, pyproject.toml asks {requirement}: "
            "run `make lock`"
        )


def test_make_lock_regenerates_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^lock:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert rule, "no `lock` target in the Makefile"
    recipe = rule.group(1).replace("\\\n", " ")
    for part in ("pip compile", "pyproject.toml", "--generate-hashes", "requirements.lock"):
        assert part in recipe


# compose.yaml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def test_compose_names_its_services_and_pins_their_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker"} <= set(services)
    assert re.match(r"^postgres:15\.\d+-", services["postgres"]["image"])  # 15.19: a release
    assert re.match(r"^redis:7\.\d+\.\d+-", services["redis"]["image"])
    for name, service in services.items():
        if "build" in service:  # this project's image, built from the Dockerfile
            continue
        assert PINNED_TAG.match(service["image"]), f"{name}: {service['image']}"


def test_compose_migrates_before_web_and_worker_start(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["voucher-service", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    postgres = services["migrate"]["depends_on"]["postgres"]["condition"]
    assert postgres == "service_healthy"
    for name in ("web", "worker"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert services["worker"]["command"] == ["voucher-service", "worker"]
    assert services["web"]["command"] == IMAGE_COMMAND


def test_compose_checks_web_readiness_and_mounts_the_keys_read_only(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert any("/readyz" in part for part in services["web"]["healthcheck"]["test"])
    for name in ("migrate", "web", "worker"):
        service = services[name]
        assert "/etc/voucher-service/keys:ro" in " ".join(service["volumes"]), name
        assert service["environment"]["VOUCHER_SERVICE_KEYS_DIR"] == "/etc/voucher-service/keys"
        assert "VOUCHER_SERVICE_SECRET" not in service["environment"], "from the env file only"
        assert service["env_file"], name
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["worker"]["healthcheck"] == {"disable": True}
    # the one service that writes the keys, and only when asked for
    keys = services["keys"]
    assert keys["profiles"] == ["setup"]
    assert keys["command"][:3] == ["voucher-service", "keys", "init"]
    assert compose["volumes"]["keys"]["name"] == "voucher-service-keys"


# The gunicorn settings.


@pytest.fixture
def gunicorn_conf(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The settings module as gunicorn loads it, afresh for the environment of the test."""
    for name in ("PORT", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)

    def load() -> ModuleType:
        sys.modules.pop("voucher_service.gunicorn_conf", None)
        return importlib.import_module("voucher_service.gunicorn_conf")

    yield load
    sys.modules.pop("voucher_service.gunicorn_conf", None)


def test_the_gunicorn_settings_follow_port_and_web_concurrency(
    gunicorn_conf: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = gunicorn_conf()
    assert (conf.bind, conf.workers, conf.accesslog) == (["0.0.0.0:8000"], 4, None)
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    conf = gunicorn_conf()
    assert (conf.bind, conf.workers) == (["0.0.0.0:9123"], 3)
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    with pytest.raises(RuntimeError, match="WEB_CONCURRENCY must be a whole number"):
        gunicorn_conf()


def test_the_gunicorn_hooks_keep_multiprocess_metrics_right(
    gunicorn_conf: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    metrics = tmp_path / "prometheus"
    conf = gunicorn_conf()
    conf.on_starting(None)  # without PROMETHEUS_MULTIPROC_DIR: nothing to do
    conf.child_exit(None, SimpleNamespace(pid=4321))
    assert not metrics.exists()

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics))
    conf = gunicorn_conf()
    conf.on_starting(None)
    assert metrics.is_dir()
    (metrics / "counter_999.db").write_bytes(b"from an earlier run")
    (metrics / "notes.txt").write_text("not ours")
    conf.on_starting(None)  # a restart forgets the earlier run's samples
    assert sorted(path.name for path in metrics.iterdir()) == ["notes.txt"]

    for name in ("gauge_livesum_4321.db", "gauge_livesum_77.db", "counter_4321.db"):
        (metrics / name).write_bytes(b"")
    conf.child_exit(None, SimpleNamespace(pid=4321))  # the live gauges of a dead worker go
    names = sorted(path.name for path in metrics.iterdir())
    assert names == ["counter_4321.db", "gauge_livesum_77.db", "notes.txt"]


@pytest.mark.slow
def test_the_image_command_serves_outside_docker(tmp_path: Path) -> None:
    """The CMD of the image, with the image's settings, on SQLite: /healthz and /readyz."""
    port = free_port()
    env = service_env(
        tmp_path,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        PATH=f"{BIN}:{service_env(tmp_path)['PATH']}",
    )
    upgrade = [str(BIN / "voucher-service"), "db", "upgrade"]
    subprocess.run(upgrade, env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    command = [str(BIN / IMAGE_COMMAND[0]), *IMAGE_COMMAND[1:]]
    server = start_server(command, env, tmp_path, port, tmp_path / "gunicorn.log")
    try:
        assert call(f"{server.base}/healthz") == (200, {"status": "ok"})
        assert call(f"{server.base}/readyz")[0] == 200
    finally:
        assert stop_server(server) == 0, server.output()
    output = server.output()
    assert output.count("Booting worker") == 2
    assert '"route": "/healthz", "status": 200' in output, output  # the service's JSON line
