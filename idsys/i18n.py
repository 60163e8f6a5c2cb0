"""Choosing the language of a page: an explicit choice first, then the browser's preference."""

from __future__ import annotations

from flask import current_app, request, session


def select_locale() -> str:
    languages: tuple[str, ...] = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]
