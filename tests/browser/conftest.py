"""The browser-test harness: the real service, Debian's chromium driven by playwright.

One service per session, started as `make run` starts it (a fresh SQLite file, the demo
seeded, `voucher-service serve` on a free port), with one person per role made with
`voucher-service user create`. Chromium is Debian's (/usr/bin/chromium), never one that
`playwright install` downloads.

Fixtures:
- `live`: the running service (base URL, the demo's keys and ids, the people and their
  passwords, its environment for more CLI calls);
- `browser`: the headless chromium; `new_page(**context_options)` a page in a fresh
  context (French, Europe/Paris, the live base URL);
- `signed_in(role)`: a page signed in as that role's person through the real /login form;
- `screenshot(page, name)`: a full-page PNG in var/screenshots/<name>.png (gitignored);
- `axe(page)`: axe-core's serious and critical violations on the page, as a list.

Without chromium or the python `playwright` package every test of the folder is skipped, with
a notice; with CI=true that is an error instead. Test modules import playwright only under
TYPE_CHECKING (or inside a test), so that they can be collected without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = HERE / "vendor" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROLES = ("admin", "issuer", "partner", "auditor")
SERIOUS = ("serious", "critical")


def _missing() -> list[str]:
    missing = []
    if not (CHROMIUM.exists() or shutil.which("chromium")):
        missing.append(f"chromium ({CHROMIUM}: apt-get install chromium fonts-dejavu-core)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the python package playwright (pip install -e '.[dev]')")
    return missing


MISSING = _missing()
if MISSING and IN_CI:
    raise pytest.UsageError("CI=true and the browser tests lack: " + "; ".join(MISSING))


def pytest_report_header() -> list[str]:
    if not MISSING:
        return [f"browser tests: {CHROMIUM} headless, via playwright"]
    return [
        "!" * 70,
        "!! browser tests (tests/browser) SKIPPED: missing " + "; ".join(MISSING),
        "!" * 70,
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One service and one chromium for the folder: its tests run on one xdist worker (and
    a module named on the command line is skipped when something is missing)."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))
            if MISSING:
                item.add_marker(pytest.mark.skip(reason="missing " + "; ".join(MISSING)))


@dataclass
class Person:
    role: str
    email: str
    password: str
    id: str


@dataclass
class Live:
    """The running service, and what the demo and the harness made in it."""

    base_url: str
    env: dict[str, str]
    keys: dict[str, str]
    program_id: str
    organisation_id: str
    partner_id: str
    people: dict[str, Person] = field(default_factory=dict)
    folder: Path = Path()

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `voucher-service ARGS…` against the live service's database and keys."""
        done = subprocess.run(
            [str(BIN / "voucher-service"), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def api(self, method: str, path: str, role: str, body: Any = None) -> Any:
        """Call the /v1 API with the demo's key of that role (to set up a test's data)."""
        request = urllib.request.Request(  # noqa: S310 - our own service on 127.0.0.1
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.keys[role]}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            raw = answer.read()
        return json.loads(raw) if raw else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                tail = log.read_text()[-3000:]
                raise RuntimeError(f"the service did not start:\n{tail}") from None
            time.sleep(0.2)


def _password(role: str) -> str:
    return f"mot de passe du compte {role}"


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("browser")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder}/voucher.db",
        "VOUCHER_SERVICE_KEYS_DIR": str(folder / "keys"),
        "PUBLIC_BASE_URL": base,
        "VOUCHER_SERVICE_ENV": "development",
    }
    env.pop("REDIS_URL", None)
    env.pop("VOUCHER_SERVICE_SECRET", None)
    cli = str(BIN / "voucher-service")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    demo = json.loads(
        subprocess.run(
            [cli, "demo", "--json"], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    log = folder / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [cli, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(base, server, log)
        service = Live(base, env, demo["keys"], demo["program_id"], "", "", folder=folder)
        keys = service.api("GET", "/v1/api-keys", "admin")["items"]
        bound = {key["label"]: key for key in keys}
        service.organisation_id = bound["demo issuer"]["organisation_id"]
        service.partner_id = bound["demo partner"]["partner_id"]
        for role in ROLES:
            email = f"{role}@exemple.fr"
            binding = {
                "issuer": ["--organisation", service.organisation_id],
                "partner": ["--partner", service.partner_id],
            }.get(role, [])
            made = json.loads(
                service.cli(
                    "user", "create", "--email", email, "--role", role, *binding,
                    "--password-stdin", "--json",
                    stdin=_password(role) + "\n",
                )
            )  # fmt: skip
            service.people[role] = Person(role, email, _password(role), made["id"])
        yield service
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(live: Live, browser: Browser) -> Iterator[Callable[..., Page]]:
    """A page in a fresh context (its own cookies): French, in Paris, on the live service;
    keyword arguments go to browser.new_context (viewport, is_mobile…)."""
    contexts = []

    def make(**options: Any) -> Page:
        settings: dict[str, Any] = {
            "base_url": live.base_url,
            "locale": "fr-FR",
            "timezone_id": "Europe/Paris",
            "viewport": {"width": 1280, "height": 800},
            **options,
        }
        context = browser.new_context(**settings)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, email: str, password: str, next_path: str | None = None) -> None:
    """Fill and send the real /login form, as a person would."""
    page.goto("/login" if next_path is None else f"/login?next={next_path}")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


@pytest.fixture
def signed_in(live: Live, new_page: Callable[..., Page]) -> Callable[..., Page]:
    """`signed_in(role, next_path=None, **context_options)`: a page signed in as that role's
    person through /login; it ends on the role's home page (or on `next_path`)."""

    def make(role: str, next_path: str | None = None, **options: Any) -> Page:
        page = new_page(**options)
        person = live.people[role]
        sign_in(page, person.email, person.password, next_path)
        assert "/login" not in page.url, f"{role} could not sign in: {page.url}"
        return page

    return make


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """`screenshot(page, name)`: the whole page to var/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# axe-core is evaluated through the DevTools protocol, which the page's Content-Security-
# Policy does not govern: a <script> tag (add_script_tag) would be refused by script-src.
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map((n) => n.target.join(" ") + " " + n.failureSummary)}));
}"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text()


@pytest.fixture
def axe(axe_source: str) -> Callable[[Page], list[dict[str, Any]]]:
    """`axe(page)`: the serious and critical violations axe-core finds on the page."""

    def check(page: Page) -> list[dict[str, Any]]:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source)
        found: list[dict[str, Any]] = page.evaluate(AXE_RUN)
        return found

    return check
