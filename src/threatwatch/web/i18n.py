"""Dutch (default) and English texts of the web app, and which language a request gets.

Each message is one entry holding both languages, so neither can lack a text. The language comes from
``?lang=`` (remembered in a cookie), then that cookie, then ``Accept-Language``, then Dutch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from threatwatch.web.translations import MESSAGES

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
LANG_COOKIE = "tw_lang"
LANG_PARAM = "lang"


@dataclass(frozen=True)
class Translator:
    lang: str

    def __call__(self, key: str, **values: Any) -> str:
        texts = MESSAGES.get(key)
        if texts is None:
            return key  # visible in the page, and tests/web/test_i18n.py fails on unknown keys
        text = texts[LANGUAGES.index(self.lang)]
        return text.format(**values) if values else text


def _from_accept_language(header: str) -> str | None:
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((quality, primary))
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else None


def choose_language(request: Request) -> str:
    for candidate in (request.query_params.get(LANG_PARAM), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    return _from_accept_language(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE


def translator(request: Request) -> Translator:
    return Translator(choose_language(request))
