"""An in-process cache of what rarely changes: active categories and OPDs.

Every intake step needs the category list or one category; reading them from the database
on each step is most of a turn's statements. Admin changes call `invalidate()`; another
process's changes show within `ttl` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import Category, Opd


class Catalog:
    """Categories (by id, and the active ones of active OPDs in menu order) and OPDs by id,
    cached."""

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._loaded_at: float | None = None
        self._categories: dict[int, Category] = {}
        self._active: list[Category] = []
        self._opds: dict[int, Opd] = {}
        self._generation = 0  # bumped by invalidate(): a load begun before it is not kept

    def invalidate(self) -> None:
        """Forget everything; the next read loads afresh (after an admin change)."""
        self._loaded_at = None
        self._generation += 1

    async def _ensure(self, session: AsyncSession) -> None:
        if self._loaded_at is not None and self.clock() - self._loaded_at < self.ttl:
            return
        generation = self._generation
        cats = (await session.exec(select(Category).order_by(col(Category.sort),
                                                             col(Category.id)))).all()
        opds = (await session.exec(select(Opd))).all()
        # Detached copies: shared by every session, never written through.
        opd_rows = {o.id: _detached(Opd, o) for o in opds if o.id is not None}
        categories = {c.id: _detached(Category, c) for c in cats if c.id is not None}
        for category in categories.values():
            # A deactivated OPD's categories are offered to no one (an old menu button
            # included); the copy says so, the table keeps the category's own flag.
            opd = opd_rows.get(category.opd_id)
            category.active = category.active and (opd is None or opd.active)
        # An admin change committed while this read was under way: serve it to this call
        # unless a newer read is in place, but do not keep it (the next call reads again).
        fresh = generation == self._generation
        if fresh or self._loaded_at is None:
            self._opds, self._categories = opd_rows, categories
            self._active = [categories[c.id] for c in cats
                            if c.id is not None and categories[c.id].active]
        if fresh:
            self._loaded_at = self.clock()

    async def active_categories(self, session: AsyncSession) -> Sequence[Category]:
        await self._ensure(session)
        return self._active

    async def category(self, session: AsyncSession, category_id: int) -> Category | None:
        await self._ensure(session)
        return self._categories.get(category_id)

    async def opd(self, session: AsyncSession, opd_id: int) -> Opd | None:
        await self._ensure(session)
        return self._opds.get(opd_id)


def _detached(cls: Any, row: Any) -> Any:
    """A plain copy of a table row, not attached to any session."""
    return cls.model_validate(row.model_dump())
