"""aiogram's Telegram types, validated by schemas built on first use instead of at import.

`aiogram.types` ends its import by calling `model_rebuild()` on every one of its ~900 types,
which builds every pydantic schema at once, each with the schemas of the types it contains
inlined: about 95 MB resident and 1.8 s of CPU at start-up, for the few types a bot ever
receives or sends. The types are declared `defer_build=True`; they are only rebuilt eagerly
to resolve their forward references against that module's namespace. `defer()` imports
aiogram.types with that rebuild deferred and the namespace put where pydantic looks when it
builds a type on its first use (each aiogram module's globals, never overriding a name), so
each schema is built the first time it is needed, the same schema as before.
"""

from __future__ import annotations

import sys
from typing import Any

_PREFIX = "aiogram."


def defer() -> bool:
    """Import aiogram.types with its schemas built lazily; False (nothing done) when it was
    imported already."""
    if "aiogram.types" in sys.modules:
        return False
    from pydantic import BaseModel

    original = BaseModel.__dict__["model_rebuild"]
    namespace: dict[str, Any] = {}

    def model_rebuild(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                      _parent_namespace_depth: int = 2,
                      _types_namespace: Any = None) -> bool | None:
        if _types_namespace is not None and not force and cls.__module__.startswith(_PREFIX):
            namespace.update(_types_namespace)  # built on first use, against this namespace
            return None
        return original.__func__(cls, force=force, raise_errors=raise_errors,
                                 _parent_namespace_depth=_parent_namespace_depth + 1,
                                 _types_namespace=_types_namespace)

    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[assignment,method-assign]
    try:
        import aiogram.types  # noqa: F401
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    for name, module in list(sys.modules.items()):
        if module is not None and name.startswith(_PREFIX):
            for key, value in namespace.items():
                module.__dict__.setdefault(key, value)
    return True


def build_all() -> list[str]:
    """Build every aiogram type's schema now (what the eager import did); the names of those
    that could not be built (a test asserts there are none)."""
    import aiogram.types as types

    failed = []
    for name in types.__all__:
        entity = getattr(types, name)
        if hasattr(entity, "model_rebuild"):
            try:
                # No namespace from this frame: only what the first use would see.
                entity.model_rebuild(raise_errors=True, _parent_namespace_depth=0)
            except Exception:  # noqa: BLE001 - reported to the caller
                failed.append(name)
    return failed
