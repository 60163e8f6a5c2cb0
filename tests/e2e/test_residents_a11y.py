"""Residents' pages in real Chromium on a 360-pixel phone, in each of the five languages, with an
automated accessibility check (axe-core, vendored): no serious or critical violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from idsys.applications import services as applications
from idsys.applications.models import ApplicationKind
from idsys.audit.services import Actor
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import TODAY, mexico_city_documents, photo_bytes, sample_profile
from tests.e2e.conftest import LiveServer, axe_violations

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


def _submitted_reference(app: Flask, keys: KeyRing) -> str:
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        actor = Actor(1, "clerk")
        application = applications.start_application(
            db.session,
            keys,
            actor,
            kind=ApplicationKind.NEW,
            intake_token="e2e-token-" + "x" * 8,
            policy_id=rules.id,
        )
        applications.save_profile(
            db.session, keys, actor, application, sample_profile(), has_caretaker=False, today=TODAY
        )
        applications.save_photo(db.session, keys, actor, application, photo_bytes())
        for document in mexico_city_documents():
            applications.add_document(db.session, keys, actor, application, rules, document)
        applications.submit_application(db.session, keys, actor, application, rules, TODAY)
        db.session.commit()
        return application.reference


@pytest.mark.parametrize("language", ["en", "es", "fr", "ht", "pt"])
def test_status_page_in_each_language_on_a_phone(
    browser: Any,
    live: LiveServer,
    live_app: Flask,
    keys: KeyRing,
    screenshots: Path,
    language: str,
) -> None:
    reference = _submitted_reference(live_app, keys)
    context = browser.new_context(
        viewport=PHONE,
        locale=language,
        bypass_csp=True,
        extra_http_headers={"Accept-Language": language},
    )
    page = context.new_page()
    page.goto(f"{live.url}/status")
    assert page.locator("html").get_attribute("lang") == language
    page.screenshot(path=str(screenshots / f"status-form-{language}.png"), full_page=True)
    assert axe_violations(page) == []
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Keyboard only: the form is reachable and sendable with Tab and Enter.
    page.keyboard.press("Tab")
    page.locator("input[name=reference]").fill(reference)
    page.locator("input[name=date_of_birth]").fill("1988-02-29")
    page.locator("input[name=date_of_birth]").press("Enter")
    page.wait_for_load_state()
    page.screenshot(path=str(screenshots / f"status-result-{language}.png"), full_page=True)
    assert page.locator("html").get_attribute("lang") == language
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    body = page.locator("main").inner_text()
    assert "Minh Khai" not in body  # the status page never shows the name
    context.close()


@pytest.mark.parametrize("language", ["en", "es", "fr", "ht", "pt"])
def test_pre_application_and_start_pages_on_a_phone(
    browser: Any, live: LiveServer, screenshots: Path, language: str
) -> None:
    context = browser.new_context(
        viewport=PHONE,
        locale=language,
        bypass_csp=True,
        extra_http_headers={"Accept-Language": language},
    )
    page = context.new_page()
    for path in ("/start", "/apply"):
        page.goto(f"{live.url}{path}")
        assert page.locator("html").get_attribute("lang") == language
        name = path.strip("/")
        page.screenshot(path=str(screenshots / f"{name}-{language}.png"), full_page=True)
        assert axe_violations(page) == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    context.close()
