"""Who may administer: the super-admins of ADMIN_IDS, and the admins and operators they
granted (table `staff_role`), cached in process like the catalogue."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import StaffRole

ADMIN, OPERATOR = "admin", "operator"


class Roles:
    """Role lookups by Telegram user id. Grants and revocations call `invalidate()`;
    another process's changes show within `ttl` seconds."""

    def __init__(self, super_admins: frozenset[int], ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.super_admins = super_admins
        self.ttl = ttl
        self.clock = clock
        self._loaded_at: float | None = None
        self._roles: dict[int, frozenset[str]] = {}
        self._generation = 0  # bumped by invalidate(): a load begun before it is not kept

    def invalidate(self) -> None:
        self._loaded_at = None
        self._generation += 1

    async def _ensure(self, session: AsyncSession) -> None:
        if self._loaded_at is not None and self.clock() - self._loaded_at < self.ttl:
            return
        generation = self._generation
        roles: dict[int, set[str]] = {}
        for row in (await session.exec(select(StaffRole))).all():
            roles.setdefault(row.user_id, set()).add(row.role)
        # A grant or revocation committed while this read was under way: serve it to this call
        # unless a newer read is in place, but do not keep it (else a revoked admin could
        # linger for `ttl`); the next call reads again.
        fresh = generation == self._generation
        if fresh or self._loaded_at is None:
            self._roles = {user: frozenset(r) for user, r in roles.items()}
        if fresh:
            self._loaded_at = self.clock()

    def is_super(self, user_id: int) -> bool:
        return user_id in self.super_admins

    async def of(self, session: AsyncSession, user_id: int) -> frozenset[str]:
        """The roles of a user: {'super', 'admin', 'operator'} as granted."""
        await self._ensure(session)
        granted = self._roles.get(user_id, frozenset())
        return granted | {"super", ADMIN} if self.is_super(user_id) else granted

    async def is_admin(self, session: AsyncSession, user_id: int) -> bool:
        return ADMIN in await self.of(session, user_id)

    async def is_operator(self, session: AsyncSession, user_id: int) -> bool:
        """Operators verify reports; admins may do whatever operators may."""
        return bool({ADMIN, OPERATOR} & await self.of(session, user_id))

    async def admins(self, session: AsyncSession) -> frozenset[int]:
        """Every admin: super-admins and granted admins (for the admin command menu)."""
        await self._ensure(session)
        granted = {user for user, roles in self._roles.items() if ADMIN in roles}
        return frozenset(granted) | self.super_admins
