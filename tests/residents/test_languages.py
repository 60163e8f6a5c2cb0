"""The residents' pages in English, Spanish, French, Haitian Creole and Portuguese; staff screens
in Spanish too. The language comes from the switcher, else from the browser's Accept-Language."""

from __future__ import annotations

from typing import Any

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient

from idsys.applications import services as applications
from idsys.auth.models import Role
from idsys.db import db
from idsys.policy import local_date
from tests.conftest import csrf_token, login, mexico_city_documents
from tests.residents.conftest import look_up

HEADING = {
    "en": "Check your application",
    "es": "Consulte su solicitud",
    "fr": "Suivez votre demande",
    "ht": "Swiv demann ou",
    "pt": "Acompanhe sua solicitação",
}
RECEIVED = {
    "en": "We received your application",
    "es": "Recibimos su solicitud",
    "fr": "Nous avons reçu votre demande",
    "ht": "Nou resevwa demann ou",
    "pt": "Recebemos sua solicitação",
}
MISS = {
    "en": "We could not find an application with these details",
    "es": "No encontramos ninguna solicitud con estos datos",
    "fr": "Nous n'avons trouvé aucune demande avec ces informations",
    "ht": "Nou pa jwenn okenn demann ak enfòmasyon sa yo",
    "pt": "Não encontramos nenhuma solicitação com estes dados",
}
VOTER_CARD = {
    "en": "Voter card",
    "es": "Credencial para votar",
    "fr": "Carte d&#39;électeur",
    "ht": "Kat elektoral",
    "pt": "Credencial de eleitor",
}


@pytest.mark.parametrize("lang", ["en", "es", "fr", "ht", "pt"])
def test_status_page_in_each_language(client: FlaskClient, lang: str) -> None:
    page = client.get("/status", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert HEADING[lang] in page
    if lang != "en":
        assert "Check your application" not in page
        assert "Date of birth" not in page


@pytest.mark.parametrize("lang", ["en", "es", "fr", "ht", "pt"])
def test_status_answers_in_each_language_with_local_dates(
    app: Flask, client: FlaskClient, make_application: Any, lang: str
) -> None:
    reference = make_application(documents=mexico_city_documents(), submit=True)
    with app.app_context():
        submitted_at = applications.get_application(db.session, reference).submitted_at
        assert submitted_at is not None
        from datetime import UTC

        received = local_date(app.extensions["idsys.policy"], submitted_at.replace(tzinfo=UTC))
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    page = look_up(client, reference).get_data(as_text=True)
    assert RECEIVED[lang] in page
    assert format_date(received, "long", locale=lang) in page
    assert MISS[lang] in look_up(client, reference, "1960-01-01").get_data(as_text=True)


def test_accept_language_picks_the_best_supported(client: FlaskClient) -> None:
    page = client.get("/status", headers={"Accept-Language": "de-DE, pt-BR;q=0.8, en;q=0.5"})
    assert '<html lang="pt">' in page.get_data(as_text=True)
    unknown = client.get("/status", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="en">' in unknown


def test_the_switcher_overrides_the_browser(client: FlaskClient) -> None:
    token = csrf_token(client, "/status")
    response = client.post("/language", data={"lang": "ht", "next": "/status", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/status"
    page = client.get("/status", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert '<html lang="ht">' in page and HEADING["ht"] in page
    assert 'lang="ht" class="link" aria-current="true">Kreyòl ayisyen</button>' in page
    # Every language is offered, each named in itself and marked with its language.
    for code, name in (
        ("en", "English"),
        ("es", "Español"),
        ("fr", "Français"),
        ("pt", "Português"),
    ):
        assert f'value="{code}" lang="{code}" class="link">{name}</button>' in page


def test_the_switcher_refuses_a_redirect_elsewhere(client: FlaskClient) -> None:
    token = csrf_token(client, "/status")
    response = client.post(
        "/language", data={"lang": "fr", "next": "https://evil.example/", "csrf_token": token}
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("lang", ["en", "es", "fr", "ht", "pt"])
def test_policy_document_labels_follow_the_language(client: FlaskClient, lang: str) -> None:
    page = client.get("/apply", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert VOTER_CARD[lang] in page


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("es", "Página no encontrada"),
        ("ht", "Nou pa jwenn paj la"),
        ("pt", "Página não encontrada"),
    ],
)
def test_error_pages_are_translated(client: FlaskClient, lang: str, text: str) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": lang})
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


def test_staff_screens_in_spanish(app: Flask, make_user: Any, make_application: Any) -> None:
    clerk = make_user(Role.CLERK)
    reference = make_application(documents=mexico_city_documents(), clerk_id=clerk.id)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es"
    assert "Acceso del personal" in client.get("/login").get_data(as_text=True)
    login(client, clerk)
    counter = client.get("/intake/").get_data(as_text=True)
    assert "Iniciar una solicitud" in counter and "Comenzar con una presolicitud" in counter
    documents = client.get(f"/intake/{reference}/documents").get_data(as_text=True)
    assert "borrador" in documents  # the status, through ENUM_MESSAGES
    assert "Documentos presentados" in documents
    # The rules engine's reasons, translated, with the policy's Spanish labels.
    assert "Credencial para votar: aceptado (identidad +1)" in documents
    assert "Recibo de luz: aceptado (domicilio +1)" in documents
