"""A background loop that sleeps until woken or until its next piece of work is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

IDLE_POLL = 5.0  # work written by another process is picked up within this many seconds


class WakeableLoop:
    """Subclasses implement `step()`: seconds until the next work is due, 0 for 'again at
    once', or None for 'nothing known'. `wake()` cuts any wait short."""

    name = "loop"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def step(self) -> float | None:
        raise NotImplementedError

    async def run(self) -> None:
        while not self._stopped:
            # Cleared before the step: a wake-up that arrives during it is not lost.
            self._wake.clear()
            try:
                delay = await self.step()
            except Exception:  # the loop must outlive any single failure
                log.exception("%s step failed", self.name)
                delay = IDLE_POLL
            if delay is not None and delay <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(delay or IDLE_POLL, IDLE_POLL))
