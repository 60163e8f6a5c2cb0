"""The whole journey in real Chromium, as the people who use idsys meet it.

An admin creates a clerk and a partner; the clerk signs in with TOTP, takes an application with a
photo from the (fake) counter camera, adds documents and submits; a supervisor approves, releases
a print batch and downloads the PDF; the QR is decoded from the rasterised page; the partner's
scanner page says "valid" with the photo; the resident checks the status in Spanish; the card is
reported stolen and the scanner says "revoked". A screenshot of every step is written under
test-output/e2e/journey/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from idsys.audit.services import SYSTEM, verify_chain
from idsys.auth import services as auth
from idsys.auth.models import Role
from idsys.crypto import KeyRing, hash_password
from idsys.crypto.totp import current_code
from idsys.db import db
from tests.conftest import city_days_ago
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "admin pass phrase 2026"
CLERK_PASSWORD = "clerk pass phrase 2026"
SUPERVISOR_PASSWORD = "supervisor pass phrase"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (poppler-utils / zbar-tools)")
    return path


def submit(page: Any, selector: str) -> None:
    """Click a button that sends a form, and wait for the page it leads to: a click returns once
    the navigation has started, and the next step must read and fill the new page, not the old
    one still on screen (which made this test fail now and then on a busy machine)."""
    with page.expect_navigation():
        page.click(selector)


class Journey:
    def __init__(self, browser: Any, live: LiveServer, folder: Path) -> None:
        self.browser, self.live, self.folder = browser, live, folder
        self.step = 0
        folder.mkdir(parents=True, exist_ok=True)

    def context(self, **kwargs: Any) -> Any:
        return self.browser.new_context(
            viewport={"width": 1280, "height": 900}, base_url=self.live.url, **kwargs
        )

    def shot(self, page: Any, name: str) -> None:
        self.step += 1
        page.screenshot(path=str(self.folder / f"{self.step:02d}-{name}.png"), full_page=True)

    @staticmethod
    def sign_in(page: Any, username: str, password: str) -> None:
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        submit(page, "main button[type=submit]")


def _first_admin(app: Flask, keys: KeyRing) -> None:
    with app.app_context():
        created = auth.ensure_first_admin(db.session, keys)
        assert created is not None
        user, _ = created
        user.password_hash = hash_password(ADMIN_PASSWORD)
        user.must_change_password = False
        supervisor, _ = auth.create_user(
            db.session,
            keys,
            SYSTEM,
            username="sofia",
            display_name="Sofía Supervisora",
            role=Role.SUPERVISOR,
            password=SUPERVISOR_PASSWORD,
        )
        supervisor.must_change_password = False
        db.session.commit()


def test_the_whole_journey(
    browser: Any,
    live: LiveServer,
    live_app: Flask,
    keys: KeyRing,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    pdftoppm, zbarimg = _tool("pdftoppm"), _tool("zbarimg")
    from playwright.sync_api import expect

    journey = Journey(browser, live, screenshots / "journey")
    _first_admin(live_app, keys)

    # 1. The admin creates a clerk and a partner with photo scope.
    admin = journey.context().new_page()
    journey.sign_in(admin, "admin", ADMIN_PASSWORD)
    admin.goto("/admin/staff/new")
    admin.fill("input[name=username]", "lucia")
    admin.fill("input[name=display_name]", "Lucía Empleada")
    admin.select_option("select[name=role]", "clerk")
    submit(admin, "main button[type=submit]")
    clerk_otp = admin.locator("p.otp code").inner_text().strip()
    journey.shot(admin, "admin-created-clerk")
    admin.goto("/admin/partners/new")
    admin.fill("input[name=name]", "Biblioteca Vasconcelos")
    admin.select_option("select[name=kind]", "library")
    admin.select_option("select[name=scope]", "photo")
    admin.fill("input[name=daily_quota]", "500")
    submit(admin, "main button[type=submit]")
    api_key = admin.locator("p.otp code").inner_text().strip()
    assert api_key.startswith("idsys_")
    journey.shot(admin, "admin-created-partner")

    # 2. The clerk signs in with the one-time password, chooses a password, enrols TOTP, and signs
    #    in again with the second factor.
    clerk_context = journey.context(permissions=["camera"])
    clerk = clerk_context.new_page()
    journey.sign_in(clerk, "lucia", clerk_otp)
    clerk.fill("input[name=current]", clerk_otp)
    clerk.fill("input[name=new]", CLERK_PASSWORD)
    clerk.fill("input[name=confirm]", CLERK_PASSWORD)
    submit(clerk, "main button[type=submit]")
    clerk.goto("/account/totp")
    secret = clerk.locator("code.secret").inner_text().strip()
    journey.shot(clerk, "clerk-totp-enrolment")
    clerk.fill("input[name=code]", current_code(secret))
    submit(clerk, "main button[type=submit]")
    submit(clerk, "button:has-text('Sign out')")
    journey.sign_in(clerk, "lucia", CLERK_PASSWORD)
    assert "/login/totp" in clerk.url
    with live_app.app_context():
        user = auth.get_by_username(db.session, "lucia")
        assert user is not None and user.totp_last_step is not None
        step = user.totp_last_step
    # The enrolment's own code cannot be used twice; the next step's code is within the drift
    # that authenticator clocks are allowed, so it is what a phone a little fast would show.
    clerk.fill("input[name=code]", current_code(secret, at=(step + 1) * 30))
    submit(clerk, "main button[type=submit]")
    assert clerk.url.endswith("/home")
    journey.shot(clerk, "clerk-signed-in-with-totp")

    # 3. The clerk takes the application.
    clerk.goto("/intake/")
    submit(clerk, "button:has-text('Start')")
    reference_path = clerk.url.rsplit("/", 1)[0]
    for name, value in {
        "given_names": "Guadalupe",
        "family_names": "Ñúñez Trịnh",
        "date_of_birth": "1990-05-17",
        "line1": "Calle Río Lerma 23",
        "city": "Ciudad de México",
        "postal_code": "06500",
        "phone": "+52 55 1234 5678",
    }.items():
        clerk.fill(f"[name={name}]", value)
    clerk.select_option("select[name=gender]", "F")
    clerk.select_option("select[name=language1]", "es")
    journey.shot(clerk, "clerk-details")
    submit(clerk, "button:has-text('Save and continue')")
    assert clerk.url.endswith("/documents")
    assert "Not enough yet" in clerk.content()
    for code_, issued, expiry, address in (
        ("voter_card", "2020-01-10", "2030-12-31", "na"),
        ("electricity_receipt", city_days_ago(live_app, 40), "", "yes"),
    ):
        clerk.select_option("select[name=code]", code_)
        clerk.fill("input[name=issue_date]", issued)
        if expiry:
            clerk.fill("input[name=expiry_date]", expiry)
        clerk.check("input[name=name_matches][value=yes]")
        clerk.check(f"input[name=address_matches][value={address}]")
        submit(clerk, "button:has-text('Add document')")
    assert "The documents meet the rules" in clerk.content()
    journey.shot(clerk, "clerk-documents-evaluated")
    clerk.goto(f"{reference_path}/photo")
    clerk.wait_for_selector("#camera-take", state="visible", timeout=15000)
    journey.shot(clerk, "clerk-camera")
    clerk.click("#camera-take")
    clerk.wait_for_url(f"**{reference_path}/review", timeout=15000)
    assert clerk.locator("img.photo").count() == 1
    journey.shot(clerk, "clerk-review-with-photo")
    submit(clerk, "button:has-text('Submit application')")
    reference = clerk.locator("p.otp code").inner_text().strip()
    journey.shot(clerk, "clerk-submitted")

    # 4. A supervisor approves, releases a batch, prepares and downloads the PDF.
    supervisor = journey.context(accept_downloads=True).new_page()
    journey.sign_in(supervisor, "sofia", SUPERVISOR_PASSWORD)
    supervisor.goto(f"/review/{reference.replace('-', '')}")
    supervisor.check("input[name=decision][value=approve]")
    supervisor.check("input[name=approve_codes][value=rules_satisfied]")
    journey.shot(supervisor, "supervisor-decision")
    submit(supervisor, "button:has-text('Record decision')")
    supervisor.goto("/cards/")
    submit(supervisor, "button:has-text('Release into a new print batch')")
    submit(supervisor, "button:has-text('Prepare PDF')")
    journey.shot(supervisor, "supervisor-batch")
    with supervisor.expect_download() as download_info:
        supervisor.click("a:has-text('Download')")
    pdf_path = tmp_path / "batch.pdf"
    download_info.value.save_as(pdf_path)
    submit(supervisor, "button:has-text('Mark batch printed')")
    assert "its cards are now valid" in supervisor.content()
    journey.shot(supervisor, "supervisor-batch-printed")
    subprocess.run(
        [
            pdftoppm,
            "-r",
            "300",
            "-f",
            "2",
            "-l",
            "2",
            "-png",
            "-singlefile",
            str(pdf_path),
            str(tmp_path / "back"),
        ],
        check=True,
    )
    shutil.copy(tmp_path / "back.png", journey.folder / "card-back.png")
    qr_text = (
        subprocess.run(
            [zbarimg, "--quiet", "--raw", str(tmp_path / "back.png")],
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .strip()
    )
    assert qr_text

    # 5. The partner's scanner page: key entered once, the scanned text, "valid" and the photo.
    partner = journey.context().new_page()
    partner.goto("/scan")
    partner.fill("#api-key", api_key)
    partner.click("#key-form button[type=submit]")
    partner.fill("#qr-input", qr_text)
    partner.press("#qr-input", "Enter")
    expect(partner.locator("#result-word")).to_have_text("VALID")
    assert partner.locator("#result-photo").is_visible()
    journey.shot(partner, "scanner-valid")

    # 6. The resident checks the status in Spanish.
    resident = journey.context(locale="es", extra_http_headers={"Accept-Language": "es"}).new_page()
    resident.goto("/status")
    resident.fill("input[name=reference]", reference)
    resident.fill("input[name=date_of_birth]", "1990-05-17")
    with resident.expect_navigation():
        resident.press("input[name=date_of_birth]", "Enter")
    assert resident.locator("html").get_attribute("lang") == "es"
    assert "Guadalupe" not in resident.content()
    journey.shot(resident, "resident-status-es")

    # 7. The card is reported stolen; the scanner now says "revoked".
    clerk.goto(f"/cards/history/{reference.replace('-', '')}")
    clerk.check("input[name=reason][value=stolen]")
    submit(clerk, "button:has-text('Revoke and replace')")
    journey.shot(clerk, "clerk-reported-stolen")
    partner.fill("#qr-input", qr_text)
    partner.press("#qr-input", "Enter")
    expect(partner.locator("#result-word")).to_have_text("REVOKED")
    assert not partner.locator("#result-photo").is_visible()
    journey.shot(partner, "scanner-revoked")

    with live_app.app_context():
        from idsys.audit.services import seal_all

        seal_all(db.session, keys)
        assert verify_chain(db.session, keys).ok
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", reference)
