"""Files a citizen's turn accepted by id, downloaded and checked after the turn's answer.

A photo step used to download the file (getFile, the download, the image check) before its
transaction, so the citizen waited for all of it: with a crowd, the photo was the slowest step
by far. Now the turn keeps the file's id in the draft (so a crash loses nothing) and answers at
once; the download runs here, a bounded number at a time. A stored file is kept in memory by
id: the next turn of that draft writes it in place of the id. Send waits for a download under
way, or downloads the file itself, at once (after a restart, on another worker, or while the
background download still queues behind others). A file that cannot be kept is taken out of
the draft of every citizen who sent it (`on_failed`: the citizen is told in the same
transaction), or by Send, which says so in its answer: whoever takes it out tells. Refusals
are not remembered: a file sent again is downloaded again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from models.media import MediaRejected

log = logging.getLogger(__name__)

# A stored file (StoredMedia.to_dict()) or why it was refused.
Outcome = dict[str, Any] | MediaRejected


@dataclass
class _Job:
    """One background download and the citizens (channel, user) whose drafts hold it."""

    owners: set[tuple[str, str]]
    started: bool = False  # holds a slot (not queued behind other downloads)
    task: asyncio.Task[Outcome] | None = field(default=None, repr=False)


class Downloads:
    """Background downloads keyed by the transport's file id (`media.ref`)."""

    def __init__(self, store: Callable[[Any, Any], Awaitable[Outcome]], limit: int = 64,
                 keep: int = 4096) -> None:
        self._store = store  # (Media, Fetch | None) -> Outcome; never raises for a bad file
        self._slots = asyncio.Semaphore(limit)
        self._keep = keep
        self._done: OrderedDict[str, dict[str, Any]] = OrderedDict()  # stored files only
        self._jobs: dict[str, _Job] = {}
        self._now: dict[str, asyncio.Task[Outcome]] = {}  # Send's own downloads, shared
        self._closed = False
        # (channel, user, ref, rejected): take the file out of the draft and tell the citizen.
        self.on_failed: Callable[[str, str, str, MediaRejected], Awaitable[Any]] | None = None

    def stored(self, ref: str) -> dict[str, Any] | None:
        """The stored file of a finished download, or None."""
        return self._done.get(ref)

    @property
    def running(self) -> int:
        return len(self._jobs) + len(self._now)

    def start(self, channel: str, user: str, media: Any, fetch: Any) -> None:
        """Download `media` in the background for this citizen's draft (once per file id)."""
        if self._closed or media.ref in self._done:
            return  # closed: the draft keeps the id, Send fetches it
        job = self._jobs.get(media.ref)
        if job is not None:
            job.owners.add((channel, user))
            return
        job = self._jobs[media.ref] = _Job({(channel, user)})
        job.task = asyncio.create_task(self._background(job, media, fetch),
                                       name=f"download:{media.ref[:16]}")

    async def wait(self, media: Any, fetch: Any) -> Outcome:
        """For Send: the file stored, awaited while it downloads here, or downloaded now,
        without queueing behind other citizens' downloads (one download per file id)."""
        done = self._done.get(media.ref)
        if done is not None:
            return done
        job = self._jobs.get(media.ref)
        if job is not None and job.started and job.task is not None:
            return await asyncio.shield(job.task)
        task = self._now.get(media.ref)
        if task is None:
            task = self._now[media.ref] = asyncio.create_task(self._download_now(media, fetch))
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Stop the downloads under way and start no more (the drafts keep the ids: Send
        fetches them)."""
        self._closed = True
        tasks = [j.task for j in self._jobs.values() if j.task is not None]
        tasks += self._now.values()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _keep_stored(self, ref: str, stored: dict[str, Any]) -> None:
        self._done[ref] = stored
        self._done.move_to_end(ref)
        while len(self._done) > self._keep:
            self._done.popitem(last=False)

    async def _download_now(self, media: Any, fetch: Any) -> Outcome:
        try:
            outcome = await self._store(media, fetch)
            if isinstance(outcome, dict):
                self._keep_stored(media.ref, outcome)
            return outcome
        finally:
            self._now.pop(media.ref, None)

    async def _background(self, job: _Job, media: Any, fetch: Any) -> Outcome:
        try:
            async with self._slots:
                job.started = True
                done = self._done.get(media.ref)  # Send may have fetched it meanwhile
                now = self._now.get(media.ref)  # or be fetching it
                if done is not None:
                    outcome: Outcome = done
                elif now is not None:
                    outcome = await asyncio.shield(now)
                else:
                    outcome = await self._store(media, fetch)
        finally:
            # A file sent again from here on is downloaded again.
            if self._jobs.get(media.ref) is job:
                del self._jobs[media.ref]
        if isinstance(outcome, dict):
            self._keep_stored(media.ref, outcome)
            return outcome
        if self.on_failed is not None:
            for channel, user in sorted(job.owners):
                try:
                    await self.on_failed(channel, user, media.ref, outcome)
                except Exception:  # the draft keeps the id: Send tries again and tells
                    log.exception("could not report the failed download of %s", media.ref)
        return outcome
