"""Ids in addresses beyond what a database row can have: 404, never a 500.

SQLite refuses to compare a column with an integer past 64 bits (OverflowError), and
PostgreSQL's INTEGER columns one past 32 bits (NumericValueOutOfRange).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter

from idsys.auth.models import Role


@pytest.mark.parametrize("huge", [2**31, 10**23])
def test_every_integer_address_refuses_ids_no_row_can_have(
    app: Flask, client: FlaskClient, signed_in: Any, huge: int
) -> None:
    signed_in(Role.ADMIN)
    urls = app.url_map.bind("localhost")
    checked = 0
    for rule in app.url_map.iter_rules():
        converters = rule._converters
        if not any(isinstance(c, IntegerConverter) for c in converters.values()):
            continue
        values = {
            name: huge if isinstance(converter, IntegerConverter) else "x"
            for name, converter in converters.items()
        }
        path = urls.build(rule.endpoint, values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)
            checked += 1
    assert checked >= 14
