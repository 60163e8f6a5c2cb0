"""Immigration status and its proxies are never recorded: not in a column, a migration, a form
field, an API schema or the QR claim set. This scan fails the suite if one appears."""

from __future__ import annotations

import dataclasses
import gc
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

from flask import Flask
from flask_wtf import FlaskForm
from sqlalchemy import Column, Integer, MetaData, String, Table

import idsys
from idsys import ROOT
from idsys.crypto.claim169 import CardClaims
from idsys.db import Base
from idsys.models import import_all_models

# Names of things that must never be collected. Matched against identifiers split into words.
FORBIDDEN = re.compile(
    r"immigration|immigrant|legal_?status|citizen|nationality|national_origin|"
    r"country_?of_?birth|birth_?country|place_?of_?birth|birthplace|visa|alien|a_?number|"
    r"uscis|green_?card|ssn|social_?security|itin|tax_?id|asylum|refugee_?status|"
    r"undocumented|residency_?status|deport",
    re.IGNORECASE,
)


def _violations(names: Iterator[tuple[str, str]]) -> list[str]:
    return [f"{where}: {name}" for where, name in names if FORBIDDEN.search(name)]


def _columns(metadata: MetaData) -> Iterator[tuple[str, str]]:
    for table in metadata.tables.values():
        yield "table", table.name
        for column in table.columns:
            yield f"column of {table.name}", column.name


def _migration_identifiers() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(
            r"sa\.Column\(\s*\"([^\"]+)\"|create_table\(\s*\"([^\"]+)\"", text
        ):
            yield path.name, match.group(1) or match.group(2)


def _forms() -> Iterator[tuple[str, str]]:
    for module in pkgutil.walk_packages(idsys.__path__, "idsys."):
        if module.name.endswith(".forms"):
            importlib.import_module(module.name)
    stack = list(FlaskForm.__subclasses__())
    while stack:
        form = stack.pop()
        stack.extend(form.__subclasses__())
        for name in dir(form):
            if not name.startswith("_") and hasattr(getattr(form, name), "field_class"):
                yield f"form {form.__name__}", name


def _api_schemas(app: Flask) -> Iterator[tuple[str, str]]:
    """Every property name in every JSON schema the app serves or ships."""
    documents = list((ROOT / "idsys").rglob("*.json"))
    client = app.test_client()
    for url in ("/api/v1/openapi.json", "/openapi.json"):
        response = client.get(url)
        if response.status_code == 200 and response.is_json:
            yield from _keys(url, response.json)
    for path in documents:
        yield from _keys(path.name, json.loads(path.read_text(encoding="utf-8")))


def _keys(where: str, node: object) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield where, str(key)
            yield from _keys(where, value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(where, item)


def test_schema_has_no_forbidden_field() -> None:
    import_all_models()
    assert _violations(_columns(Base.metadata)) == []


def test_migrations_have_no_forbidden_field() -> None:
    found = list(_migration_identifiers())
    assert len(found) > 10  # the scan really reads the migrations
    assert _violations(iter(found)) == []


def test_forms_have_no_forbidden_field() -> None:
    fields = list(_forms())
    assert ("form LoginForm", "username") in fields
    assert _violations(iter(fields)) == []


def test_api_schemas_have_no_forbidden_field(app: Flask) -> None:
    assert _violations(_api_schemas(app)) == []


def test_qr_claims_have_no_forbidden_field() -> None:
    names = [f.name for f in dataclasses.fields(CardClaims)]
    assert names == ["card_number", "full_name", "date_of_birth", "gender"]
    assert _violations(("CardClaims", n) for n in names) == []


def test_profile_has_no_forbidden_field() -> None:
    from idsys.applications.profile import Address, ApplicantProfile

    names = [f.name for f in dataclasses.fields(ApplicantProfile)]
    names += [f.name for f in dataclasses.fields(Address)]
    assert "given_names" in names
    assert _violations(("profile", n) for n in names) == []


def test_scan_catches_a_planted_field() -> None:
    """The scan is not vacuous: a throwaway model with such a column is caught."""
    throwaway = MetaData()
    Table(
        "planted",
        throwaway,
        Column("id", Integer, primary_key=True),
        Column("Nationality", String(40)),
        Column("country_of_birth", String(40)),
        Column("alien_number", String(12)),
        Column("ssn", String(11)),
    )
    found = _violations(_columns(throwaway))
    assert len(found) == 4


def test_scan_catches_a_planted_form_field(tmp_path: Path) -> None:
    from wtforms import StringField

    class PlantedForm(FlaskForm):  # type: ignore[misc]
        immigration_status = StringField()

    try:
        assert _violations(_forms()) == ["form PlantedForm: immigration_status"]
    finally:
        del PlantedForm
        gc.collect()  # forget the class, so later scans see only the real forms
