"""The partner API against its own served OpenAPI document, fuzzed by schemathesis.

schemathesis reads ``/api/v1/openapi.json`` from the running app (in-process, through WSGI),
generates valid and invalid requests for every operation, sends them with a real partner key,
and checks that no answer is a server error and that every answer (status code, content type,
body) is one the document describes.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from idsys.crypto import KeyRing
from idsys.verification.models import Scope
from tests.conftest import register_partner

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def partner_key(app: Flask, keys: KeyRing, make_card: Any) -> str:
    """A photo-scope key (the widest answers), and a printed card for it to find."""
    make_card(printed=True)
    with app.app_context():
        key = register_partner(keys, name="Schema library", scope=Scope.PHOTO, quota=1_000_000)
    return key


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_partner_api_answers_as_its_openapi_document_says(
    app: Flask, partner_key: str, mode: GenerationMode
) -> None:
    """Valid requests (positive) and requests that break the document (negative), for every
    operation; schemathesis' own pytest plugin is not used (it does not run under pytest 9)."""
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {partner_key}"}

    @given(case=api.as_strategy(generation_mode=mode))
    @settings(
        max_examples=250,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
