"""The statistics page and its CSV over HTTP: who may open them, the same suppressed figures in
both, charts that obey the Content-Security-Policy, and the date-range filter's messages."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idsys.auth.models import Role, StaffUser
from idsys.db import db
from idsys.reports.services import add_months
from tests.conftest import csrf_token
from tests.reports.conftest import Seed, this_month


class Tables(HTMLParser):
    """Every table's cells as text, keyed by the id of the section holding it."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and found.get("id"):
            self._section = found["id"] or ""
        elif tag == "table" and self._section:
            self.tables[self._section] = []
        elif tag == "tr" and self._section in self.tables:
            self._row = []
        elif tag in {"td", "th"} and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._section].append(self._row)
            self._row = None
        elif tag == "section":
            self._section = ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def period_args(seeded: Seed) -> dict[str, str]:
    return {"start": seeded.P.isoformat(), "end": seeded.Q.replace(day=28).isoformat()}


def test_a_clerk_cannot_open_the_statistics(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.CLERK)
    assert client.get("/statistics/").status_code == 403
    assert client.get("/statistics/figures.csv").status_code == 403
    assert "/statistics/" not in client.get("/home").get_data(as_text=True)


def test_admins_and_supervisors_can(app: Flask, make_user: Any) -> None:
    from tests.conftest import login

    for role in (Role.ADMIN, Role.SUPERVISOR):
        client = app.test_client()
        assert login(client, make_user(role)).status_code == 302
        page = client.get("/statistics/")
        assert page.status_code == 200, role
        assert 'href="/statistics/"' in page.get_data(as_text=True)  # in the menu
        assert client.get("/statistics/figures.csv").status_code == 200


def test_the_page_shows_suppressed_figures_with_charts_and_tables(
    client: FlaskClient, signed_in: Any, seeded: Seed
) -> None:
    signed_in(Role.SUPERVISOR)
    response = client.get("/statistics/", query_string=period_args(seeded))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    tables = page_tables(html)
    by_site = {row[0]: row[1:] for row in tables["by_site"][1:]}
    assert by_site["east"][0] == "<10"
    assert by_site["main"][0] == "x"
    assert by_site["north"][0] == "40"
    assert by_site["Total"][0] == "55"
    assert "&lt;10" in html and "<10<" not in html  # escaped as text
    # Accessible tables: a caption, column and row headers.
    assert html.count("<caption") == len(tables) == 9
    assert 'scope="col"' in html and 'scope="row"' in html
    # Charts drawn here, as inline SVG, with nothing the CSP forbids.
    assert html.count("<svg") == 9
    assert "<script" not in html.split("<main", 1)[1]
    assert not re.search(r"\sstyle=", html)
    assert 'role="img"' in html and "aria-labelledby" in html


def test_the_csv_holds_the_same_figures_as_the_page(
    client: FlaskClient, signed_in: Any, seeded: Seed
) -> None:
    signed_in(Role.ADMIN)
    html = client.get("/statistics/", query_string=period_args(seeded)).get_data(as_text=True)
    download = client.get("/statistics/figures.csv", query_string=period_args(seeded))
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    p, q = seeded.P.strftime("%Y-%m"), seeded.Q.strftime("%Y-%m")
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="idsys-statistics-{p}-to-{q}.csv"'
    )
    assert download.headers["Cache-Control"] == "no-store"
    lines = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert lines[0] == ["table", "row", "column", "value"]
    from_csv: dict[str, list[str]] = {}
    for key, _row, _column, value in lines[1:]:
        from_csv.setdefault(key, []).append(value)
    tables = page_tables(html)
    assert from_csv.keys() == tables.keys()
    for key, table in tables.items():
        shown = [cell.replace(",", "") for row in table[1:] for cell in row[1:]]
        assert shown == from_csv[key], key
    assert ["by_site", "east", "submitted", "<10"] in lines
    assert ["by_site", "main", "submitted", "x"] in lines
    assert ["by_site", "total", "submitted", "55"] in lines


def test_the_range_is_whole_months(client: FlaskClient, signed_in: Any, seeded: Seed) -> None:
    signed_in(Role.ADMIN)
    args = {
        "start": seeded.P.replace(day=20).isoformat(),
        "end": seeded.P.replace(day=3).isoformat(),
    }
    html = client.get("/statistics/", query_string=args).get_data(as_text=True)
    p = seeded.P.strftime("%Y-%m")
    assert f"from {p} to {p}" in html  # the whole of that month, whatever the days chosen
    months = [row[0] for row in page_tables(html)["by_month"][1:]]
    assert months == [p, "Total"]


def _field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert match, f"no message next to {field}"
    assert f'id="{field}"' in html and 'aria-invalid="true"' in html
    return match.group(1)


def test_bad_dates_get_a_message_next_to_the_field(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    signed_in(Role.ADMIN)
    with app.app_context():
        month = this_month(app.extensions["idsys.policy"])
    future = add_months(month, 1).isoformat()
    cases = [
        ({"start": "2026-13-45"}, "start", "Enter a date as YYYY-MM-DD, for example 2026-01-31."),
        ({"end": "yesterday"}, "end", "Enter a date as YYYY-MM-DD, for example 2026-01-31."),
        (
            {"start": month.isoformat(), "end": add_months(month, -2).isoformat()},
            "start",
            "The start must be before the end.",
        ),
        ({"end": future}, "end", "The end cannot be in a month that has not begun."),
        ({"start": future}, "start", "The start cannot be in a month that has not begun."),
        ({"start": "1999-12-31"}, "start", "Choose a date in the year 2000 or later."),
        (
            {"start": add_months(month, -60).isoformat()},
            "start",
            "Choose at most 60 months at a time.",
        ),
    ]
    for args, field, message in cases:
        response = client.get("/statistics/", query_string=args)
        assert response.status_code == 400, args
        assert _field_error(response.get_data(as_text=True), field) == message, args
    # The CSV link with a bad range leads to the page, which says what is wrong.
    response = client.get("/statistics/figures.csv", query_string={"start": "2026-02-30"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/statistics/?start=2026-02-30")


def test_the_page_speaks_spanish(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.SUPERVISOR)
    client.post(
        "/language",
        data={
            "lang": "es",
            "next": "/statistics/",
            "csrf_token": csrf_token(client, "/statistics/"),
        },
    )
    html = client.get("/statistics/", query_string={"start": "2026-02-31"}).get_data(as_text=True)
    assert "Estadísticas" in html
    assert "Escriba la fecha como AAAA-MM-DD" in html


def test_an_admin_sets_a_staff_members_site(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    signed_in(Role.ADMIN)
    clerk = make_user(Role.CLERK)
    path = f"/admin/staff/{clerk.id}"
    form = {
        "csrf_token": csrf_token(client, path),
        "display_name": clerk.display_name,
        "role": "clerk",
        "site": "North-Library",
    }
    assert client.post(path, data=form).status_code == 302
    with app.app_context():
        assert db.session.get(StaffUser, clerk.id).site == "north-library"  # type: ignore[union-attr]
    form["site"] = "north library!"
    page = client.post(path, data=form)
    assert page.status_code == 200
    assert "Lower-case letters, digits and dashes only" in page.get_data(as_text=True)
    created = client.post(
        "/admin/staff/new",
        data={
            "csrf_token": csrf_token(client, "/admin/staff/new"),
            "username": "east.clerk",
            "display_name": "East Clerk",
            "role": "clerk",
            "site": "east",
        },
    )
    assert created.status_code == 200
    with app.app_context():
        from idsys.auth.services import get_by_username

        user = get_by_username(db.session, "east.clerk")
        assert user is not None and user.site == "east"
    listing = client.get("/admin/staff/").get_data(as_text=True)
    assert "north-library" in listing
