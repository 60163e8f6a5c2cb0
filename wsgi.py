"""Entry point for gunicorn: ``gunicorn wsgi:app``.

Defaults to the production configuration, so that a server started without IDSYS_ENV refuses to
run on development secrets instead of quietly generating them.
"""

from __future__ import annotations

import os
import sys

from idsys import StartupError, create_app

try:
    app = create_app(os.environ.get("IDSYS_ENV", "production"))
except StartupError as exc:
    print(exc, file=sys.stderr)
    raise SystemExit(3) from None
