"""Translation catalogs (Fluent files in locales/<lang>/aduan.ftl) for every channel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fluent.runtime import FluentBundle, FluentResource

log = logging.getLogger(__name__)

DEFAULT_LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("id", "en")
TEXT_CACHE_SIZE = 4096


class Translator:
    """Renders message keys in a language; falls back to the default language, then the key."""

    def __init__(self, locales_dir: Path = DEFAULT_LOCALES_DIR, default: str = "id") -> None:
        self.default = default
        self.bundles: dict[str, FluentBundle] = {}
        for lang in LANGUAGES:
            bundle = FluentBundle([lang], use_isolating=False)
            for path in sorted((locales_dir / lang).glob("*.ftl")):
                bundle.add_resource(FluentResource(path.read_text(encoding="utf-8")))
            self.bundles[lang] = bundle
        # (language, key, *parameters) -> text, for keys in the catalogs and supported
        # languages only.
        self._texts: dict[Any, str] = {}

    def lang(self, code: str | None) -> str:
        """Pick a supported language for a client language code such as 'en-US'."""
        base = (code or "").split("-")[0].lower()
        return base if base in self.bundles else self.default

    def keys(self, lang: str) -> set[str]:
        return set(self.bundles[lang]._messages)

    def __call__(self, lang: str, key: str, **params: Any) -> str:
        # A text is formatted once per language and parameters (the catalogs never change):
        # the same prompts come back at every step.
        cache_key: Any = (lang, key, *[(k, type(v), v) for k, v in params.items()]) \
            if params else (lang, key)
        try:
            text = self._texts.get(cache_key)
        except TypeError:  # an unhashable parameter: formatted every time
            return self._format(lang, key, params)
        if text is None:
            text = self._format(lang, key, params)
            if lang in self.bundles and text is not key:  # keys in the catalogs only
                if len(self._texts) >= TEXT_CACHE_SIZE:
                    self._texts.clear()  # names and codes churn it; the rest come back
                self._texts[cache_key] = text
        return text

    def _format(self, lang: str, key: str, params: Mapping[str, Any]) -> str:
        for code in (lang, self.default):
            bundle = self.bundles.get(code)
            if bundle and bundle.has_message(key):
                message = bundle.get_message(key)
                if message.value is None:
                    break
                text, errors = bundle.format_pattern(message.value, _clean(params))
                if errors:
                    log.warning("translation %s/%s: %s", code, key, errors)
                return text
        log.error("missing translation key %s", key)
        return key

    def bind(self, lang: str) -> Tr:
        return Tr(self, lang)


class Tr:
    """A Translator bound to one language: `t("key", name=...)`."""

    def __init__(self, translator: Translator, lang: str) -> None:
        self.translator = translator
        self.lang = lang

    def __call__(self, key: str, **params: Any) -> str:
        return self.translator(self.lang, key, **params)


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    # Fluent accepts str/int/float/date; anything else is shown as text.
    return {
        k: v if isinstance(v, str | int | float) else ("" if v is None else str(v))
        for k, v in params.items()
    }
