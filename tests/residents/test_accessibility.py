"""What a screen reader, a keyboard and a small phone need from the residents' pages, checked on
the HTML itself: a language, one main heading in order, a label for every control, error
messages tied to their fields, no duplicate ids, a viewport for phones, and colours with enough
contrast (WCAG 2.1 AA). The real-browser run with axe-core lives in tests/e2e."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from idsys import ROOT
from tests.conftest import csrf_token
from tests.residents.conftest import look_up
from tests.residents.test_pre_application import pre_apply

LANGUAGES = ("en", "es", "fr", "ht", "pt")


class Page(HTMLParser):
    """Collects what the checks need in one pass."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang: str | None = None
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.headings: list[int] = []
        self.described: list[str] = []
        self.landmarks: list[str] = []
        self.viewport = ""
        self.buttons: list[str] = []
        self._label_depth = 0
        self._button: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        if "id" in a:
            self.ids.append(a["id"])
        if a.get("aria-describedby"):
            self.described += a["aria-describedby"].split()
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in {"input", "select", "textarea"} and a.get("type") not in {"hidden", "submit"}:
            self.controls.append({**a, "_in_label": str(self._label_depth > 0)})
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag in {"main", "nav", "header"}:
            self.landmarks.append(tag)
        if tag == "meta" and a.get("name") == "viewport":
            self.viewport = a.get("content", "")
        if tag == "button":
            self._button = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_depth -= 1
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)


def check(html: str, lang: str) -> None:
    page = Page(html)
    assert page.lang == lang
    assert page.viewport == "width=device-width, initial-scale=1"  # zoom stays allowed
    assert {"main", "nav", "header"} <= set(page.landmarks)
    assert page.headings.count(1) == 1 and page.headings[0] == 1
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        assert after <= before + 1, f"heading h{after} follows h{before}"
    duplicates = {i for i in page.ids if page.ids.count(i) > 1}
    assert duplicates == set()
    for control in page.controls:
        named = (
            control.get("id") in page.label_for
            or control["_in_label"] == "True"
            or control.get("aria-label")
            or control.get("aria-labelledby")
        )
        assert named, f"control without a label: {control}"
    assert set(page.described) <= set(page.ids), "aria-describedby points nowhere"
    assert all(page.buttons), "a button without text"
    for forbidden in ("<script>", " style=", "<style"):
        assert forbidden not in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_public_pages(client: FlaskClient, lang: str) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    for path in ("/start", "/status", "/apply", "/no-such-page"):
        check(client.get(path).get_data(as_text=True), lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pages_with_answers_and_errors(
    client: FlaskClient, make_application: Any, lang: str
) -> None:
    from tests.conftest import mexico_city_documents

    reference = make_application(documents=mexico_city_documents(), submit=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    check(look_up(client, reference).get_data(as_text=True), lang)
    check(look_up(client, reference, "1960-01-01").get_data(as_text=True), lang)
    wrong = look_up(client, reference, "")
    html = wrong.get_data(as_text=True)
    check(html, lang)
    assert 'aria-describedby="date_of_birth-hint date_of_birth-error"' in html
    check(pre_apply(client, given_names="", family_names="").get_data(as_text=True), lang)
    pre_apply(client)
    check(client.get("/apply/slip").get_data(as_text=True), lang)


def test_the_language_form_needs_no_script(client: FlaskClient) -> None:
    """Keyboard users switch with Tab and Enter: plain buttons in a form, no script."""
    html = client.get("/status").get_data(as_text=True)
    switcher = html[html.index('<nav class="langs"') : html.index("</nav>", html.index("langs"))]
    assert switcher.count('<button type="submit" name="lang"') == len(LANGUAGES)
    assert "<script" not in html
    assert csrf_token(client, "/status")


# -- colour contrast (WCAG 2.1 AA: 4.5:1 for text) ----------------------------------------------


def _luminance(hex_colour: str) -> float:
    if len(hex_colour) == 4:  # #fff
        hex_colour = "#" + "".join(c * 2 for c in hex_colour[1:])
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_have_enough_contrast() -> None:
    css = (ROOT / "static" / "css" / "idsys.css").read_text(encoding="utf-8")
    root = css[css.index(":root") : css.index("}", css.index(":root"))]
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})\b", root))
    white = "#ffffff"
    pairs = {
        "text on the page": (var["ink"], var["bg"]),
        "text on a card": (var["ink"], white),
        "hints on a card": (var["muted"], white),
        "hints on the page": (var["muted"], var["bg"]),
        "links": (var["brand"], white),
        "top bar and language buttons": (var["brand-ink"], var["brand"]),
        "primary buttons": (var["brand-ink"], var["brand"]),
        "errors": (var["bad"], white),
        "answer: received": (var["ink"], "#e8f0fa"),
        "answer: approved": (var["ink"], "#e7f4ea"),
        "answer: miss": (var["ink"], "#fbe9e9"),
        "answer: withdrawn": (var["ink"], "#f0f1f3"),
        "notice": (var["ink"], "#fff4e0"),
    }
    low = {name: round(contrast(*pair), 2) for name, pair in pairs.items() if contrast(*pair) < 4.5}
    assert low == {}
