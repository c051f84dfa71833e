"""Issue 11 (2): the voucher page /r in a real browser, as a volunteer and as a beneficiary.

Each test saves a screenshot (var/screenshots/r-*.png) and runs axe-core on what it shows.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import Live

if TYPE_CHECKING:
    from playwright.sync_api import Page

Shot = Callable[["Page", str], Path]
Axe = Callable[["Page"], list[dict[str, Any]]]
VERDICT = "#verdict.good, #verdict.bad"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LIMOGES_CENTRE = {"latitude": 45.8336, "longitude": 1.2611}


def _api(live: Live, method: str, path: str, role: str, body: Any = None) -> Any:
    """The /v1 API with the demo's key of that role, and a fresh Idempotency-Key."""
    request = urllib.request.Request(  # noqa: S310 - our own service on 127.0.0.1
        live.base_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {live.keys[role]}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        raw = answer.read()
    return json.loads(raw) if raw else None


def _booklet(live: Live) -> dict[str, Any]:
    body = {"program_id": live.program_id, "beneficiary_ref": f"r-{uuid.uuid4().hex[:10]}"}
    booklet: dict[str, Any] = _api(live, "POST", "/v1/booklets", "issuer", body)
    return booklet


def _voucher(live: Live) -> dict[str, Any]:
    voucher: dict[str, Any] = _booklet(live)["vouchers"][0]
    return voucher


def _redemptions_of(live: Live, voucher_id: str) -> list[dict[str, Any]]:
    items = _api(live, "GET", "/v1/redemptions?limit=500", "partner")["items"]
    return [item for item in items if item["voucher_id"] == voucher_id]


def _verdict(page: Page) -> str:
    page.wait_for_selector(VERDICT)
    return page.inner_text("#verdict")


def _no_serious_violation(axe: Axe, page: Page) -> None:
    found = axe(page)
    assert found == [], json.dumps(found, ensure_ascii=False, indent=1)


def test_a_cancelled_voucher_is_caught_by_the_status_list(
    live: Live, new_page: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    booklet = _booklet(live)
    token = booklet["vouchers"][0]["token"]
    _api(live, "POST", f"/v1/booklets/{booklet['id']}/cancellation", "admin", {"reason": "perdu"})
    page = new_page(**PHONE)  # a beneficiary: the status list alone says it
    page.goto(f"/r#{token}")
    # The service keeps a signed list for 30 s: wait for the one that has the cancellation.
    deadline = time.monotonic() + 45
    while "annulé" not in _verdict(page) and time.monotonic() < deadline:
        time.sleep(2)
        page.reload()
    assert "Chèque annulé ou expiré" in _verdict(page)
    assert page.locator("#verdict.bad").is_visible()
    screenshot(page, "r-cancelled")
    _no_serious_violation(axe, page)


def test_a_volunteer_sees_a_valid_voucher_at_once_and_redeems_it(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    voucher = _voucher(live)
    page = signed_in("partner", **PHONE)
    assert page.url.endswith("/r")
    screenshot(page, "r-partner-empty")
    _no_serious_violation(axe, page)
    page.goto(f"/r#{voucher['token']}")
    # The value, the expiry and the programme are read from the token itself.
    assert page.locator("#v-value").inner_text() == "10,00\u00a0€"
    assert re.fullmatch(r"\d{1,2} \w+ 20\d\d", page.locator("#v-exp").inner_text())
    assert page.locator("#v-prog").inner_text() == "Pass Numérique Haute-Vienne"
    assert "Chèque valable" in _verdict(page)
    button = page.get_by_role("button", name="Encaisser 10,00\u00a0€")
    button.wait_for()
    screenshot(page, "r-partner-valid")
    _no_serious_violation(axe, page)
    button.click()
    outcome = page.locator("#outcome-ok")
    outcome.wait_for()
    assert "Chèque encaissé" in outcome.inner_text()
    assert "10,00\u00a0€" in outcome.inner_text()
    assert outcome.get_attribute("role") == "status"
    page.locator("#jour table").wait_for()
    assert page.get_by_role("button", name=re.compile("Annuler l’encaissement")).count() >= 1
    screenshot(page, "r-partner-redeemed")
    _no_serious_violation(axe, page)
    assert len(_redemptions_of(live, voucher["id"])) == 1
    # A mistake: "Annuler" on the day's list undoes it, and the voucher may be used again.
    page.get_by_role("button", name=re.compile("Annuler l’encaissement")).first.click()
    page.get_by_text("Encaissement annulé : le chèque de 10,00\u00a0€").wait_for()
    page.locator("#jour tr.reversed").first.wait_for()
    page.get_by_role("button", name="Encaisser 10,00\u00a0€").wait_for()  # usable again
    assert page.locator("#outcome-ok").is_hidden()
    screenshot(page, "r-partner-reversed")
    _no_serious_violation(axe, page)
    (redemption,) = _redemptions_of(live, voucher["id"])
    assert redemption["reversed_at"] is not None


def test_an_already_redeemed_voucher_says_when(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    voucher = _voucher(live)
    _api(live, "POST", "/v1/redemptions", "partner", {"token": voucher["token"]})
    page = signed_in("partner", **PHONE)
    page.goto(f"/r#{voucher['token']}")
    page.wait_for_selector("#verdict.bad")
    said = page.inner_text("#verdict")
    assert "déjà" in said and "utilisé" in said
    when = re.compile(r"le \d{1,2} \w+ 20\d\d à \d{1,2}\sh\s\d\d")
    page.locator("#verdict", has_text=when).wait_for()
    assert page.locator("#redeem").is_hidden()
    screenshot(page, "r-partner-already-redeemed")
    _no_serious_violation(axe, page)


def test_a_forged_voucher_is_said_so_in_red(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    token = _voucher(live)["token"]
    header, claims, signature = token.split(".")
    # The same claims, the value raised to 100 €, the signature kept: a forgery.
    raw = json.loads(_b64decode(claims))
    raw["v"] = 10000
    forged = ".".join([header, _b64encode(json.dumps(raw).encode()), signature])
    page = signed_in("partner", **PHONE)
    page.goto(f"/r#{forged}")
    assert page.locator("#v-value").inner_text() == "100,00\u00a0€"  # shown at once, then
    assert "Chèque falsifié" in _verdict(page)
    assert page.locator("#verdict.bad").is_visible()
    assert page.locator("#redeem").is_hidden()
    screenshot(page, "r-partner-forged")
    _no_serious_violation(axe, page)


def test_a_double_tap_redeems_once(live: Live, signed_in: Callable[..., Page]) -> None:
    voucher = _voucher(live)
    page = signed_in("partner", **PHONE)
    page.goto(f"/r#{voucher['token']}")
    button = page.locator("#redeem")
    button.wait_for()
    # Two taps in the same instant, then a third click for good measure.
    page.evaluate("() => { const b = document.getElementById('redeem'); b.click(); b.click(); }")
    button.dispatch_event("click")
    page.locator("#outcome-ok").wait_for()
    page.wait_for_timeout(500)
    assert page.locator("#outcome-ko").is_hidden()
    assert len(_redemptions_of(live, voucher["id"])) == 1
    # Two requests with one key (a retry after a lost answer): one redemption, replayed.
    other = _voucher(live)
    statuses = page.evaluate(
        """async (token) => {
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const key = crypto.randomUUID();
          const send = () => fetch('/r/redeem', {method: 'POST', body: JSON.stringify({token}),
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf,
                      'Idempotency-Key': key}});
          const [a, b] = [await send(), await send()];
          return [a.status, b.status, b.headers.get('Idempotent-Replayed')];
        }""",
        other["token"],
    )
    assert statuses == [201, 201, "true"]
    assert len(_redemptions_of(live, other["id"])) == 1


def test_a_typed_code_with_a_typo_is_caught_as_it_is_typed(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    code = _voucher(live)["code"]  # XXXX-XXXX-XXXX-C
    last = code[-1]
    typo = code[:-1] + ("7" if last != "7" else "8")
    page = signed_in("partner", **PHONE)
    field = page.get_by_role("textbox", name=re.compile("^Code du chèque"))
    field.press_sequentially(typo.lower(), delay=5)
    message = page.locator("#code-msg")
    assert "Erreur de saisie" in message.inner_text()
    assert field.get_attribute("aria-invalid") == "true"
    screenshot(page, "r-partner-code-typo")
    _no_serious_violation(axe, page)
    page.get_by_role("button", name="Vérifier et encaisser").click()
    assert page.url.endswith("/r")  # nothing sent: the page did not change
    assert page.locator("#cheque").is_hidden()
    field.fill(code.replace("-", " "))
    assert message.inner_text() == "Code bien saisi."
    page.get_by_role("button", name="Vérifier et encaisser").click()
    page.get_by_role("button", name="Encaisser 10,00\u00a0€").click()
    page.locator("#outcome-ok").wait_for()
    assert "Chèque encaissé" in page.inner_text("#outcome-ok")
    screenshot(page, "r-partner-code-redeemed")


def test_without_javascript_a_typed_code_still_redeems(
    live: Live, signed_in: Callable[..., Page], screenshot: Shot
) -> None:
    code = _voucher(live)["code"]
    page = signed_in("partner", java_script_enabled=False)
    page.get_by_role("textbox", name=re.compile("^Code du chèque")).fill(code)
    page.get_by_role("button", name="Vérifier et encaisser").click()
    page.wait_for_load_state()
    assert "Chèque encaissé" in page.inner_text("#outcome-server")
    screenshot(page, "r-partner-no-javascript")
    page.get_by_role("button", name=re.compile("Annuler l’encaissement")).first.click()
    page.wait_for_load_state()
    assert "Encaissement annulé" in page.inner_text("#outcome-server")


def test_the_beneficiary_sees_its_worth_and_where_to_use_it(
    live: Live, new_page: Callable[..., Page], screenshot: Shot, axe: Axe
) -> None:
    token = _voucher(live)["token"]
    page = new_page(**PHONE, geolocation=LIMOGES_CENTRE, permissions=["geolocation"])
    page.goto(f"/r#{token}")
    assert page.locator("#v-value").inner_text() == "10,00\u00a0€"
    assert "Chèque valable" in _verdict(page)
    venues = page.locator("#lieux-liste li")
    venues.first.wait_for()
    assert venues.count() == 3  # the demo's venues, by name
    assert page.get_by_role("link", name=re.compile("Connectez-vous")).is_visible()
    assert page.locator("#redeem").count() == 0 and page.locator("#code").count() == 0
    screenshot(page, "r-beneficiary")
    _no_serious_violation(axe, page)
    page.get_by_role("button", name="Voir les lieux les plus proches de moi").click()
    page.get_by_text("Du plus proche au plus éloigné.").wait_for()
    names = venues.all_inner_texts()
    assert "Saint-Junien" in names[-1]  # 25 km away: the farthest
    assert "km" in names[0]
    screenshot(page, "r-beneficiary-nearest")
    without = new_page(**PHONE)
    without.goto("/r")
    assert "Scannez le QR code" in without.inner_text("main")
    screenshot(without, "r-beneficiary-no-token")
    _no_serious_violation(axe, without)


def test_the_page_weighs_under_150_kb_before_the_scanner(
    live: Live, signed_in: Callable[..., Page]
) -> None:
    page = signed_in("partner")
    devtools = page.context.new_cdp_session(page)
    devtools.send("Network.enable")
    devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit
    page.goto(f"/r#{_voucher(live)['token']}")
    page.reload()
    page.locator("#redeem").wait_for()
    weight = page.evaluate(
        """() => {
          const all = [...performance.getEntriesByType('navigation'),
                       ...performance.getEntriesByType('resource')];
          return all.map((e) => [e.name, e.transferSize, e.encodedBodySize, e.decodedBodySize]);
        }"""
    )
    total = sum(entry[1] for entry in weight)
    assert 0 < total < 150 * 1024, weight
    print(f"/r weighs {total} bytes transferred before the scanner: {weight}")
    assert not any("/vendor/" in entry[0] for entry in weight)
    # served compressed (all but the smallest): less over the wire than it decodes to
    for name, _, encoded, decoded in weight:
        if decoded > 1024:
            assert encoded < decoded, name


def _b64decode(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64encode(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _camera_film(path: Path, text: str, size: int = 480) -> Path:
    """A Y4M video of a QR code for chromium's fake camera: what a phone pointed at a voucher
    sees (grey levels only; the colour planes are neutral)."""
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=4)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    scale = size // len(matrix)
    offset = (size - scale * len(matrix)) // 2
    luma = bytearray([255]) * (size * size)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = (offset + y * scale + dy) * size + offset + x * scale
                    luma[start : start + scale] = bytes(scale)
    chroma = bytes([128]) * (size * size // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma
    header = f"YUV4MPEG2 W{size} H{size} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)
    return path


def test_the_camera_scans_a_voucher_with_the_served_barcode_reader(
    live: Live, browser: Any, tmp_path: Path, screenshot: Shot
) -> None:
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, sign_in

    voucher = _voucher(live)
    film = _camera_film(tmp_path / "qr.y4m", voucher["qr_content"])
    camera = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={film}",
        ],
    )
    try:
        context = camera.new_context(
            base_url=live.base_url, locale="fr-FR", timezone_id="Europe/Paris", **PHONE
        )
        context.grant_permissions(["camera"])
        page = context.new_page()
        refused: list[str] = []
        page.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        person = live.people["partner"]
        sign_in(page, person.email, person.password)
        loaded: list[str] = []
        page.on("request", lambda r: loaded.append(r.url))
        page.get_by_role("button", name="Scanner avec l’appareil photo").click()
        page.locator("#cheque").wait_for(state="visible", timeout=30_000)
        assert voucher["token"] in page.url
        assert page.locator("#v-value").inner_text() == "10,00\u00a0€"
        page.get_by_role("button", name="Encaisser 10,00\u00a0€").wait_for()
        assert any(url.endswith("/zxing_reader.wasm") for url in loaded) or page.evaluate(
            "() => 'BarcodeDetector' in window"
        )
        assert refused == []
        screenshot(page, "r-partner-scanned")
    finally:
        camera.close()


def test_the_voucher_shows_before_any_network_answer(
    live: Live, new_page: Callable[..., Page], screenshot: Shot
) -> None:
    token = _voucher(live)["token"]
    page = new_page(**PHONE)
    held: list[Any] = []
    released: list[bool] = []

    def hold(route: Any) -> None:  # the service's answers wait until released
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/.well-known/jwks.json", hold)
    page.route("**/v1/status-lists/**", hold)
    page.goto(f"/r#{token}")
    assert page.locator("#v-value").inner_text() == "10,00\u00a0€"
    assert page.locator("#v-prog").inner_text() == "Pass Numérique Haute-Vienne"
    assert page.locator("#verdict").inner_text() == "Vérification du chèque…"
    screenshot(page, "r-before-the-network")
    while not held:
        page.wait_for_timeout(50)
    released.append(True)
    for route in held:
        route.continue_()
    assert "Chèque valable" in _verdict(page)
