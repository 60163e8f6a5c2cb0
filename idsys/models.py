"""Imports every domain's models so that Base.metadata is complete (migrations, schema tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "idsys.auth.models",
    "idsys.audit.models",
    "idsys.applications.models",
    "idsys.cards.models",
    "idsys.verification.models",
    "idsys.residents.models",
    "idsys.reports.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
