"""Files a citizen's turn accepted by id, downloaded and checked after the turn's answer.

A photo step used to download the file (getFile, the download, the image check) before its
transaction, so the citizen waited for all of it: with a crowd, the photo was the slowest step
by far. Now the turn keeps the file's id in the draft (so a crash loses nothing) and answers at
once; the download runs here, a bounded number at a time. Its outcome is kept in memory: the
next turn of that draft writes a stored file in place of the id, Send waits for a download
still under way or does it again (after a restart, or on another worker), and a file that
cannot be kept is taken out of the draft by whoever finds it first, with a word to the
citizen in the same transaction (`on_failed`, or Send's answer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from models.media import MediaRejected

log = logging.getLogger(__name__)

# A stored file (StoredMedia.to_dict()) or why it was refused.
Outcome = dict[str, Any] | MediaRejected


class Downloads:
    """Background downloads keyed by the transport's file id (`media.ref`)."""

    def __init__(self, store: Callable[[Any, Any], Awaitable[Outcome]], limit: int = 16,
                 keep: int = 4096) -> None:
        self._store = store  # (Media, Fetch | None) -> Outcome; never raises for a bad file
        self._slots = asyncio.Semaphore(limit)
        self._keep = keep
        self._done: OrderedDict[str, Outcome] = OrderedDict()
        self._running: dict[str, asyncio.Task[Outcome]] = {}
        self._closed = False
        # (channel, user, ref, rejected): take the file out of the draft and tell the citizen.
        self.on_failed: Callable[[str, str, str, MediaRejected], Awaitable[Any]] | None = None

    def outcome(self, ref: str) -> Outcome | None:
        """The finished download's outcome, or None while it runs or was never asked for."""
        return self._done.get(ref)

    def start(self, channel: str, user: str, media: Any, fetch: Any) -> None:
        """Download `media` in the background (once per file id; a refused one again: the
        citizen sent it again, perhaps after a failed download)."""
        if self._closed or media.ref in self._running or \
                isinstance(self._done.get(media.ref), dict):
            return  # closed: the draft keeps the id, Send fetches it
        self._done.pop(media.ref, None)
        self._running[media.ref] = asyncio.create_task(
            self._background(channel, user, media, fetch), name=f"download:{media.ref[:16]}")

    async def wait(self, media: Any, fetch: Any) -> Outcome:
        """The outcome of `media`: finished, awaited while it runs here, or downloaded now
        (a draft from before a restart, or from another worker)."""
        done = self._done.get(media.ref)
        if done is not None:
            return done
        task = self._running.get(media.ref)
        if task is not None:
            return await asyncio.shield(task)
        return await self._fetch(media, fetch)

    async def close(self) -> None:
        """Stop the downloads under way (their drafts keep the ids: Send fetches them)."""
        self._closed = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def running(self) -> int:
        return len(self._running)

    async def _fetch(self, media: Any, fetch: Any) -> Outcome:
        async with self._slots:
            outcome = await self._store(media, fetch)
        self._done[media.ref] = outcome
        self._done.move_to_end(media.ref)
        while len(self._done) > self._keep:
            self._done.popitem(last=False)
        return outcome

    async def _background(self, channel: str, user: str, media: Any, fetch: Any) -> Outcome:
        try:
            outcome = await self._fetch(media, fetch)
            if isinstance(outcome, MediaRejected) and self.on_failed is not None:
                try:
                    await self.on_failed(channel, user, media.ref, outcome)
                except Exception:  # the draft keeps the id: Send tries again and tells
                    log.exception("could not report the failed download of %s", media.ref)
            return outcome
        finally:
            self._running.pop(media.ref, None)
