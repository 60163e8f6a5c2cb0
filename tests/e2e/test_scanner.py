"""The partner scanner page (/scan) in real Chromium, against the real API on a live server.

The counter computer it runs on is shared, the scanner may type the next card while a check is
still on its way, and staff act on the colour and the word they see: so a reply is only ever
shown for the latest scan, holder data leaves the screen on its own, a system failure never looks
like a forged or revoked card, and the key and the camera can always be switched off.

Network trouble (a slow, failed or proxy-mangled reply) is simulated by Playwright's routing of
the page's requests; everything else is the real server. Headless Chromium never hides a page on
its own (minimising its window or opening another tab leaves it "visible"), so the test for a
hidden page sets the visibility the browser would report and sends its event.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import pytest
from flask import Flask

from idsys.applications.models import Applicant
from idsys.audit.services import SYSTEM
from idsys.cards import services as cards
from idsys.cards.models import Card, RevocationReason
from idsys.crypto import KeyRing
from idsys.crypto.base45 import b45decode, b45encode
from idsys.db import db
from idsys.verification import services as partners
from idsys.verification.models import Partner, Scope
from tests.conftest import register_partner, sample_profile
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, axe_violations

pytestmark = pytest.mark.browser
API = "**/api/v1/verifications"
BORN = "1988-02-29"  # sample_profile()'s date of birth
RED, GREEN = "rgb(164, 22, 26)", "rgb(23, 106, 44)"
HOLDER = sample_profile().full_name
MADE_UP_KEY = "idsys_aaaaaaaa_" + "b" * 43
# A spy on the browser's camera API (not the page's code): it passes every call through and
# keeps the streams it hands out, so a test can see whether each one was stopped.
STREAM_SPY = """
window.__streams = [];
const realGetUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) =>
  realGetUserMedia(constraints).then((stream) => { window.__streams.push(stream); return stream; });
"""
LIVE_TRACKS = (
    "() => window.__streams.flatMap(s => s.getTracks()).filter(t => t.readyState === 'live').length"
)


@pytest.fixture
def app(live_app: Flask) -> Flask:
    """The shared card and user fixtures create their records in the live server's database."""
    return live_app


@pytest.fixture
def card(app: Flask, keys: KeyRing, make_card: Any) -> dict[str, Any]:
    """A printed (valid) card: its QR text, number and expiry date."""
    card_id, _ = make_card(printed=True)
    with app.app_context():
        row = db.session.get(Card, card_id)
        assert row is not None and row.expires_on is not None
        applicant = db.session.get(Applicant, row.applicant_id)
        assert applicant is not None
        qr = cards.qr_text(
            keys, row, applicant, app.extensions["idsys.policy"], "https://id.example.org"
        )
        return {
            "id": card_id,
            "qr": qr,
            "number": row.number,
            "expires": row.expires_on.isoformat(),
        }


@pytest.fixture
def partner_key(app: Flask, keys: KeyRing) -> Callable[..., str]:
    def make(scope: Scope = Scope.PHOTO, quota: int = 1000, name: str = "Biblioteca") -> str:
        with app.app_context():
            return register_partner(keys, name=name, scope=scope, quota=quota, contact="desk")

    return make


@pytest.fixture
def open_scanner(browser: Any, live: LiveServer) -> Iterator[Callable[..., Any]]:
    """Open /scan in a fresh browser profile, optionally with a key saved through the form.
    Afterwards, no page may have broken the content security policy."""
    csp_errors: list[str] = []

    def open_page(
        key: str | None = None, *, language: str = "en", init_script: str = "", **options: Any
    ) -> Any:
        context = browser.new_context(
            base_url=live.url,
            locale=language,
            extra_http_headers={"Accept-Language": language},
            **options,
        )
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.on(
            "console",
            lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto("/scan")
        if key is not None:
            page.fill("#api-key", key)
            page.click("#key-form button[type=submit]")
        return page

    yield open_page
    assert csp_errors == []


def scan(page: Any, text: str) -> None:
    page.fill("#qr-input", text)
    page.press("#qr-input", "Enter")


def assert_cleared(page: Any) -> None:
    """Nothing of the last holder left on the page: no verdict, no details, no photo."""
    from playwright.sync_api import expect

    expect(page.locator("#result")).to_be_hidden()
    assert page.locator("#result-word").text_content() == ""
    assert page.locator("#result-detail").text_content() == ""
    assert page.locator("#result-photo").get_attribute("src") is None


def background(page: Any) -> str:
    return str(page.eval_on_selector("#result", "e => getComputedStyle(e).backgroundColor"))


def focused_id(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def tampered(qr: str) -> str:
    """The genuine token with the holder's name changed: well formed, but the signature fails."""
    envelope = cbor2.loads(zlib.decompress(b45decode(qr)))
    protected, unprotected, payload, signature = envelope.value
    claims = cbor2.loads(payload)
    claims[169][4] = "Somebody Else"
    forged = cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature])
    return b45encode(zlib.compress(cbor2.dumps(forged)))


# -- 1. one answer, for the latest scan ---------------------------------------------------------


def test_a_slow_reply_never_shows_over_a_later_scan(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key())
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(API, hold_the_first)
    scan(page, card["qr"])
    # The input is free for the next card at once, and the screen says a check is under way.
    expect(page.locator("#qr-input")).to_have_value("")
    expect(page.locator("#result-word")).to_have_text("Checking…")
    assert not page.locator("#result-photo").is_visible()
    assert held, "the first request is held back"

    # The next card is scanned while the first reply is still on its way.
    page.keyboard.type("NOT A CARD")
    page.keyboard.press("Enter")
    expect(page.locator("#result-word")).to_have_text("Code not read — scan again")
    page.keyboard.type("NEXT")  # the scanner has started typing a third card

    # Now the first card's reply (valid, with a photo) arrives: it is not for the latest scan.
    with contextlib.suppress(Exception):  # the page may have cancelled it: also right
        held[0].continue_()
        held[0].request.response()
    page.wait_for_timeout(300)
    expect(page.locator("#result-word")).to_have_text("Code not read — scan again")
    assert page.locator("#result-photo").get_attribute("src") is None
    expect(page.locator("#qr-input")).to_have_value("NEXT")


# -- 2. the key: always removable, asked for again when refused ---------------------------------


def test_the_key_can_be_forgotten_and_an_empty_key_is_refused(open_scanner: Any) -> None:
    from playwright.sync_api import expect

    page = open_scanner()
    page.click("#key-form button[type=submit]")  # nothing typed
    expect(page.locator("#key-message")).to_have_text(re.compile("before saving"))
    expect(page.locator("#key-form")).to_be_visible()
    assert page.evaluate("localStorage.getItem('idsys-partner-key')") is None
    assert focused_id(page) == "api-key"

    page.fill("#api-key", MADE_UP_KEY)
    page.press("#api-key", "Enter")
    expect(page.locator("#key-form")).to_be_hidden()
    assert focused_id(page) == "qr-input"
    page.reload()
    # Stored: the form is out of the way, but the key can still be removed, by keyboard too.
    expect(page.locator("#key-form")).to_be_hidden()
    forget = page.locator("#forget-key")
    expect(forget).to_be_visible()
    forget.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("localStorage.getItem('idsys-partner-key')") is None
    expect(page.locator("#key-form")).to_be_visible()
    expect(forget).to_be_hidden()
    assert focused_id(page) == "api-key"


@pytest.mark.parametrize("problem", ["unknown", "suspended"])
def test_a_refused_key_brings_the_key_form_back(
    app: Flask,
    keys: KeyRing,
    open_scanner: Any,
    partner_key: Any,
    card: dict[str, Any],
    problem: str,
) -> None:
    from playwright.sync_api import expect

    if problem == "unknown":
        key, expected = MADE_UP_KEY, "The API key was refused"
    else:
        key, expected = partner_key(name="Clínica"), "access is suspended"
        with app.app_context():
            row = db.session.query(Partner).filter_by(name="Clínica").one()
            partners.set_enabled(db.session, keys, SYSTEM, row, False)
            db.session.commit()
    page = open_scanner(key)
    scan(page, card["qr"])
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_contain_text(expected)
    expect(page.locator("#result-detail")).to_contain_text(expected)
    expect(page.locator("#result-word")).to_have_text("NOT CHECKED")
    assert background(page) not in {RED, GREEN}
    assert focused_id(page) == "api-key"


# -- 3. holder data leaves the screen -----------------------------------------------------------


def test_the_clear_button_removes_the_holder_and_returns_to_the_scan_input(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key())
    scan(page, card["qr"])
    expect(page.locator("#result-word")).to_have_text("VALID")
    expect(page.locator("#result-photo")).to_be_visible()
    expect(page.locator("#result-detail")).to_contain_text(HOLDER)
    page.locator("#clear-result").focus()
    page.keyboard.press("Enter")
    assert_cleared(page)
    expect(page.locator("#clear-result")).to_be_hidden()
    assert focused_id(page) == "qr-input"


def test_the_result_is_cleared_after_a_minute(
    browser: Any, live: LiveServer, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = browser.new_context(base_url=live.url).new_page()
    page.clock.install()
    page.goto("/scan")
    page.fill("#api-key", partner_key())
    page.press("#api-key", "Enter")
    scan(page, card["qr"])
    expect(page.locator("#result-word")).to_have_text("VALID")
    page.clock.run_for(59_000)
    assert HOLDER in page.locator("#result-detail").inner_text()
    page.clock.run_for(2_000)
    assert_cleared(page)


def test_the_result_is_cleared_when_the_page_is_hidden(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key())
    scan(page, card["qr"])
    expect(page.locator("#result-photo")).to_be_visible()
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', "
        "configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"
    )
    assert_cleared(page)


def test_the_result_is_cleared_when_the_page_is_left(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    """As the browser leaves the page (pagehide): what is on screen then, noted by a listener
    added after the page's own, is what a back/forward cache would keep."""
    from playwright.sync_api import expect

    page = open_scanner(partner_key())
    scan(page, card["qr"])
    expect(page.locator("#result-photo")).to_be_visible()
    page.evaluate(
        "() => window.addEventListener('pagehide', () => sessionStorage.setItem('left', "
        "JSON.stringify([document.getElementById('result-detail').textContent, "
        "document.getElementById('result-photo').getAttribute('src')])))"
    )
    page.goto("/")
    assert page.evaluate("JSON.parse(sessionStorage.getItem('left'))") == ["", None]


# -- 4 and 6. what each answer says -------------------------------------------------------------


def test_a_misread_code_is_neutral_and_a_forgery_is_not_genuine(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(Scope.IDENTITY))
    scan(page, "HTTPS://EXAMPLE.ORG/NOT-A-CARD")
    expect(page.locator("#result-word")).to_have_text("Code not read — scan again")
    assert background(page) not in {RED, GREEN}
    scan(page, tampered(card["qr"]))
    expect(page.locator("#result-word")).to_have_text("NOT GENUINE")
    expect(page.locator("#result-detail")).to_contain_text("The signature does not match")
    assert "bad_signature" not in page.locator("#result-detail").inner_text()
    assert background(page) == RED
    assert "Somebody" not in page.content()


def test_check_by_card_number_by_keyboard(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(Scope.IDENTITY))
    number = page.get_by_label("Card number", exact=True)
    number.focus()
    page.keyboard.type(f"{card['number'][:4]} {card['number'][4:8]} {card['number'][8:]}")
    page.keyboard.press("Tab")
    assert focused_id(page) == page.get_by_label("Date of birth", exact=True).get_attribute("id")
    page.get_by_label("Date of birth", exact=True).fill(BORN)
    page.keyboard.press("Enter")
    expect(page.locator("#result-word")).to_have_text("VALID")
    expect(page.locator("#result-detail")).to_contain_text(f"Expires: {card['expires']}")
    expect(page.locator("#result-detail")).to_contain_text(f"Date of birth: {BORN}")
    assert focused_id(page) == "qr-input"
    # The date of birth does not stay on a shared screen's form.
    expect(page.get_by_label("Date of birth", exact=True)).to_have_value("")


def test_reasons_and_expiry_are_labelled_in_spanish(
    app: Flask, keys: KeyRing, open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(Scope.STATUS), language="es")
    scan(page, card["qr"])
    expect(page.locator("#result-word")).to_have_text("VIGENTE")
    expect(page.locator("#result-detail")).to_contain_text(f"Vence: {card['expires']}")
    with app.app_context():
        row = db.session.get(Card, card["id"])
        assert row is not None
        cards.revoke(db.session, keys, SYSTEM, row, RevocationReason.STOLEN)
        db.session.commit()
    scan(page, card["qr"])
    expect(page.locator("#result-word")).to_have_text("REVOCADA")
    expect(page.locator("#result-detail")).to_have_text("Denunciada como robada")
    scan(page, tampered(card["qr"]))
    expect(page.locator("#result-word")).to_have_text("NO AUTÉNTICA")
    expect(page.locator("#result-detail")).to_contain_text("La firma no coincide")
    scan(page, "no es una credencial")
    expect(page.locator("#result-word")).to_have_text("Código no leído: vuelva a escanear")


# -- 5. system errors: each its own message, never the red of a bad card ------------------------


@pytest.mark.parametrize(
    ("trouble", "expected"),
    [
        ("offline", "No connection to the server"),
        ("proxy_502", "The verification service is unavailable — try again"),
        ("server_500_json", "The verification service is unavailable — try again"),
        ("too_long", "The request was refused: invalid_qr"),
        ("rate_limit", r"try again in (\d+ seconds|1 minute)\."),
        ("daily_quota", "daily quota of checks is used up. It resets at midnight"),
    ],
)
def test_system_errors_are_named_and_neutral(
    live_app: Flask,
    open_scanner: Any,
    partner_key: Any,
    card: dict[str, Any],
    trouble: str,
    expected: str,
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(quota=1 if trouble == "daily_quota" else 1000))
    text = card["qr"]
    if trouble == "offline":
        page.route(API, lambda route: route.abort("internetdisconnected"))
    elif trouble == "proxy_502":
        page.route(
            API,
            lambda route: route.fulfill(
                status=502, content_type="text/html", body="<html>Bad Gateway</html>"
            ),
        )
    elif trouble == "server_500_json":
        page.route(
            API,
            lambda route: route.fulfill(
                status=500, json={"error": "something_went_wrong", "message": "An unexpected"}
            ),
        )
    elif trouble == "too_long":
        text = "A" * 5000
    elif trouble == "rate_limit":
        live_app.config["PARTNER_RATE_LIMIT"] = "1 per minute"
    if trouble in {"rate_limit", "daily_quota"}:
        scan(page, text)
        expect(page.locator("#result-word")).to_have_text("VALID")
    scan(page, text)
    expect(page.locator("#result-word")).to_have_text("NOT CHECKED")
    expect(page.locator("#result-detail")).to_have_text(re.compile(expected))
    assert background(page) not in {RED, GREEN}
    expect(page.locator("#key-form")).to_be_hidden()  # the key is fine
    assert focused_id(page) == "qr-input"


def test_errors_are_translated(open_scanner: Any, partner_key: Any, card: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(), language="es")
    page.route(API, lambda route: route.abort("internetdisconnected"))
    scan(page, card["qr"])
    expect(page.locator("#result-word")).to_have_text("NO VERIFICADA")
    expect(page.locator("#result-detail")).to_contain_text("Sin conexión con el servidor")


# -- 7 and 9. the camera ------------------------------------------------------------------------


def test_a_second_click_while_the_camera_starts_leaves_no_camera_on(
    open_scanner: Any, partner_key: Any
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(), init_script=STREAM_SPY)
    # Two clicks before the browser has answered the first request for the camera.
    page.evaluate(
        "() => { const b = document.getElementById('camera-button'); b.click(); b.click(); }"
    )
    page.wait_for_function("() => window.__streams.length >= 1")
    page.wait_for_timeout(500)
    assert page.evaluate(LIVE_TRACKS) == 0
    expect(page.locator("#scan-video")).to_be_hidden()
    # A third click starts it properly; a fourth stops it.
    page.click("#camera-button")
    expect(page.locator("#scan-video")).to_be_visible()
    assert page.evaluate(LIVE_TRACKS) == 1
    page.click("#camera-button")
    expect(page.locator("#scan-video")).to_be_hidden()
    assert page.evaluate(LIVE_TRACKS) == 0


def test_the_camera_stops_when_the_page_is_hidden_or_left(
    open_scanner: Any, partner_key: Any
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(), init_script=STREAM_SPY)
    page.click("#camera-button")
    expect(page.locator("#scan-video")).to_be_visible()
    assert page.evaluate(LIVE_TRACKS) == 1
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', "
        "configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"
    )
    assert page.evaluate(LIVE_TRACKS) == 0
    expect(page.locator("#scan-video")).to_be_hidden()

    page.evaluate("() => { delete document.visibilityState; }")
    page.click("#camera-button")
    expect(page.locator("#scan-video")).to_be_visible()
    page.evaluate(
        f"() => window.addEventListener('pagehide', () => sessionStorage.setItem('live', "
        f"String(({LIVE_TRACKS})())))"
    )
    page.goto("/")
    assert page.evaluate("sessionStorage.getItem('live')") == "0"


@pytest.fixture(scope="module")
def browser_that_asks(browser: Any) -> Iterator[Any]:
    """Chromium whose camera prompt nobody answers: without the permission granted to the
    context, the camera is refused, as when someone clicks "Block"."""
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    asking = browser.browser_type.launch(executable_path=CHROMIUM, args=args)
    yield asking
    asking.close()


def test_a_refused_camera_returns_to_the_scan_input(
    browser_that_asks: Any, live: LiveServer, partner_key: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_that_asks.new_context(base_url=live.url).new_page()
    page.goto("/scan")
    page.fill("#api-key", partner_key())
    page.press("#api-key", "Enter")
    page.locator("#camera-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#camera-status")).to_contain_text("check by card number")
    assert focused_id(page) == "qr-input"
    expect(page.locator("#scan-video")).to_be_hidden()
    expect(page.locator("#camera-button")).to_have_text("Use the camera")


# -- 8. a scanner that ends with Tab ------------------------------------------------------------


def test_tab_after_a_scan_submits(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = open_scanner(partner_key(Scope.STATUS))
    page.fill("#qr-input", card["qr"])
    page.press("#qr-input", "Tab")
    expect(page.locator("#result-word")).to_have_text("VALID")
    assert focused_id(page) == "qr-input"
    # Tab in an empty input, and Shift+Tab, still move the focus as usual.
    page.press("#qr-input", "Tab")
    assert focused_id(page) != "qr-input"
    page.fill("#qr-input", "typed by hand")
    page.press("#qr-input", "Shift+Tab")
    assert focused_id(page) != "qr-input"
    expect(page.locator("#result-word")).to_have_text("VALID")


# -- the page as a whole ------------------------------------------------------------------------


def test_the_scanner_page_passes_axe(
    open_scanner: Any, partner_key: Any, card: dict[str, Any]
) -> None:
    page = open_scanner(bypass_csp=True)  # axe is added as a script tag
    assert axe_violations(page) == []
    page.fill("#api-key", partner_key())
    page.press("#api-key", "Enter")
    scan(page, card["qr"])
    page.wait_for_selector("#result-photo", state="visible")
    assert axe_violations(page) == []
