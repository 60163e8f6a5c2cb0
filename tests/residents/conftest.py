"""Helpers for the residents' pages: a resident's browser posts forms as a real one would."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import csrf_token

# The sample applicant of tests/conftest.py (sample_profile) was born on this day.
BIRTHDAY = "1988-02-29"


def look_up(
    client: FlaskClient, reference: str, date_of_birth: str = BIRTHDAY, **environ: Any
) -> Any:
    """Fill in and send the status form, from the client address in ``environ`` if given."""
    token = csrf_token(client, "/status")
    return client.post(
        "/status",
        data={"csrf_token": token, "reference": reference, "date_of_birth": date_of_birth},
        environ_base=environ,
    )


def without_tokens(html: str) -> str:
    """A page with its CSRF tokens and the echoed reference blanked, to compare two answers."""
    html = re.sub(r'value="[^"]*"', 'value=""', html)
    return html
