"""Imports every domain's models so that Base.metadata is complete (migrations, schema tests)."""

from __future__ import annotations


def import_all_models() -> None:
    import idsys.applications.models
    import idsys.audit.models
    import idsys.auth.models
    import idsys.residents.models  # noqa: F401
