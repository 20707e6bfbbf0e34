"""Layer 1: the Fluent catalogs are complete, match each other and the code, and all format."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluent.syntax import FluentParser
from fluent.syntax import ast as fl
from fluent.syntax.visitor import Visitor

from bot.app import COMMANDS
from handlers.i18n import LANGUAGES, Translator
from models.domain import Status

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
SOURCE_DIRS = ("bot", "handlers")
EDIT_PARTS = ("category", "description", "media", "location", "identity")
# Callables whose first argument is a message key, and those whose second one is (lang, key).
KEY_FIRST = {"t", "MediaRejected", "UsageError"}
KEY_SECOND = {"translator"}
# Variables that hold numbers in the code (counts, limits, pages); everything else is text.
NUMERIC = {"count", "min", "max", "length", "limit", "page", "pages", "days", "photos", "videos",
           "voices", "total", "hours", "n"}


# ---- the catalogs -------------------------------------------------------------------------


def parse(lang: str) -> fl.Resource:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((LOCALES / lang).glob("*.ftl")))
    return FluentParser().parse(text)


def messages(lang: str) -> dict[str, fl.Message]:
    return {e.id.name: e for e in parse(lang).body if isinstance(e, fl.Message)}


class _Vars(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.selectors: set[str] = set()

    def visit_VariableReference(self, node: fl.VariableReference) -> None:
        self.names.add(node.id.name)

    def visit_SelectExpression(self, node: fl.SelectExpression) -> None:
        if isinstance(node.selector, fl.VariableReference):
            self.selectors.add(node.selector.id.name)
        self.generic_visit(node)


def variables(message: fl.Message) -> _Vars:
    found = _Vars()
    found.visit(message)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_parses_cleanly(lang: str) -> None:
    junk = [e.content.strip().splitlines()[0] for e in parse(lang).body if isinstance(e, fl.Junk)]
    assert not junk, f"unparsable lines in locales/{lang}: {junk}"
    empty = [k for k, m in messages(lang).items() if m.value is None]
    assert not empty, f"messages without a value in locales/{lang}: {empty}"


def test_languages_have_the_same_keys() -> None:
    ids, ens = set(messages("id")), set(messages("en"))
    assert not ids - ens, f"missing in locales/en: {sorted(ids - ens)}"
    assert not ens - ids, f"missing in locales/id: {sorted(ens - ids)}"


def test_languages_use_the_same_variables() -> None:
    id_msgs, en_msgs = messages("id"), messages("en")
    differ = {
        key: (sorted(variables(m).names), sorted(variables(en_msgs[key]).names))
        for key, m in id_msgs.items()
        if key in en_msgs and variables(m).names != variables(en_msgs[key]).names
    }
    assert not differ, f"id vs en variables differ: {differ}"


def plausible(message: fl.Message) -> dict[str, str | int]:
    found = variables(message)
    return {name: 3 if name in NUMERIC or name in found.selectors else "Contoh"
            for name in found.names}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_formats(lang: str) -> None:
    translator = Translator()
    bundle = translator.bundles[lang]
    failures: dict[str, object] = {}
    for key, message in messages(lang).items():
        params = plausible(message)
        compiled = bundle.get_message(key)
        assert compiled.value is not None, key
        text, errors = bundle.format_pattern(compiled.value, params)
        if errors or not text.strip():
            failures[key] = errors or "empty"
        # And through the Translator the code uses, with numbers given as text too.
        assert translator(lang, key, **params) == text
        translator(lang, key, **{k: str(v) for k, v in params.items()})
    assert not failures, f"locales/{lang}: {failures}"


# ---- the keys the code uses ---------------------------------------------------------------


def sources() -> Iterator[Path]:
    for folder in SOURCE_DIRS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def key_argument(node: ast.Call) -> ast.expr | None:
    name = callee(node)
    if name in KEY_FIRST and node.args:
        return node.args[0]
    if name in KEY_SECOND and len(node.args) >= 2:
        return node.args[1]
    return None


def fstring_prefix(node: ast.JoinedStr) -> str:
    """The literal text before the first placeholder of f"status-{x}" -> 'status-'."""
    prefix = ""
    for part in node.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            prefix += part.value
        else:
            break
    return prefix


def scan() -> tuple[dict[str, set[str]], dict[str, set[str]], set[str]]:
    """(literal key -> where used, f-string prefix -> where used, ReportEvent kinds)."""
    literal: dict[str, set[str]] = {}
    families: dict[str, set[str]] = {}
    event_kinds: set[str] = set()
    for path in sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if callee(node) == "ReportEvent":
                for kw in node.keywords:
                    if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                        event_kinds.add(str(kw.value.value))
            arg = key_argument(node)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literal.setdefault(arg.value, set()).add(where)
            elif isinstance(arg, ast.JoinedStr):
                families.setdefault(fstring_prefix(arg), set()).add(where)
    models_tree = ast.parse((ROOT / "models" / "repo.py").read_text(encoding="utf-8"))
    for node in ast.walk(models_tree):
        if isinstance(node, ast.Call) and callee(node) == "ReportEvent":
            for kw in node.keywords:
                if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                    event_kinds.add(str(kw.value.value))
        elif isinstance(node, ast.Dict):  # an event row written by Core: kind and actor_kind
            fields = {k.value: v for k, v in zip(node.keys, node.values, strict=True)
                      if isinstance(k, ast.Constant)}
            kind = fields.get("kind")
            if "actor_kind" in fields and isinstance(kind, ast.Constant):
                event_kinds.add(str(kind.value))
    return literal, families, event_kinds


def test_scanner_finds_the_code_keys() -> None:
    literal, families, event_kinds = scan()
    # A scanner that silently finds nothing would make the next test pass vacuously.
    for key in ("welcome", "ask-description", "media-empty", "admin-opd-usage", "throttled",
                "btn-skip", "report-received"):
        assert key in literal, key
    assert {"status-", "btn-edit-", "cmd-"} <= set(families)
    assert "created" in event_kinds


def expand(prefix: str, event_kinds: set[str]) -> list[str] | None:
    """Every key an f-string family can produce, or None for a family this test does not know."""
    if prefix == "status-":
        return [f"status-{s.value}" for s in Status]
    if prefix == "btn-edit-":
        return [f"btn-edit-{p}" for p in EDIT_PARTS]
    if prefix == "cmd-":
        return [f"cmd-{c}" for c in COMMANDS]
    if prefix == "event-":
        return [f"event-{k}" for k in sorted(event_kinds)]
    return None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_the_code_uses_exists(lang: str) -> None:
    known = set(messages(lang))
    literal, families, event_kinds = scan()
    missing = {key: sorted(where) for key, where in literal.items() if key not in known}
    for prefix, where in families.items():
        keys = expand(prefix, event_kinds)
        if keys is None:
            # A family this test cannot enumerate: at least some keys must carry its prefix.
            if not prefix or not any(k.startswith(prefix) for k in known):
                missing[f"{prefix}{{...}}"] = sorted(where)
            continue
        for key in keys:
            if key not in known:
                missing[key] = sorted(where)
    assert not missing, f"keys used in the code but missing in locales/{lang}: {missing}"


def test_menu_commands_have_descriptions_within_telegram_limits() -> None:
    translator = Translator()
    for lang in LANGUAGES:
        for command in COMMANDS:
            text = translator(lang, f"cmd-{command}")
            assert 1 <= len(text) <= 256, (lang, command, text)


def test_formatted_texts_are_cached_by_language_key_and_parameters(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A text is formatted once per (language, key, parameters): the same text as an
    uncached format, other parameters or languages another text, and the cache bounded."""
    import handlers.i18n as i18n

    translator = Translator()
    formats: list[str] = []
    real = translator._format
    monkeypatch.setattr(translator, "_format",
                        lambda lang, key, params: formats.append(key) or real(lang, key, params))
    fresh = Translator()
    assert translator("id", "welcome", name="Ani") == fresh._format("id", "welcome",
                                                                    {"name": "Ani"})
    assert translator("id", "welcome", name="Ani") == fresh("id", "welcome", name="Ani")
    assert translator("id", "welcome", name="Budi") != translator("id", "welcome", name="Ani")
    assert translator("en", "welcome", name="Ani") != translator("id", "welcome", name="Ani")
    assert translator("id", "menu-prompt") == translator("id", "menu-prompt")
    assert formats == ["welcome", "welcome", "welcome", "menu-prompt"]
    # Equal values of other types are other parameters (1 == 1.0 == True).
    assert translator("id", "media-limit", max=1) == fresh("id", "media-limit", max=1)
    assert translator("id", "media-limit", max=1.5) == fresh("id", "media-limit", max=1.5)
    assert translator("id", "media-limit", max="x") == fresh("id", "media-limit", max="x")
    # Unknown keys and languages outside the catalogs are not kept.
    assert translator("id", "no-such-key") == "no-such-key"
    assert translator("xx", "menu-prompt") == translator("id", "menu-prompt")
    assert all(k[0] in LANGUAGES and k[1] != "no-such-key" for k in translator._texts)
    monkeypatch.setattr(i18n, "TEXT_CACHE_SIZE", 5)
    for n in range(20):
        assert translator("id", "welcome", name=f"n{n}").startswith("Halo n")
    assert len(translator._texts) <= 5
