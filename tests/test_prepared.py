"""Statements compiled once and run as the driver's SQL (models/prepared.py) write exactly
what SQLAlchemy's own path writes, on SQLite and PostgreSQL, and the draft's compare-and-set
through them still lets one of many concurrent writers win."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from models import repo
from models.domain import utcnow
from models.inbox import _FLIP
from models.prepared import Prepared
from models.repo import _SAVE_DRAFT


async def _raw(sm: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows as the database holds them (no ORM types on the way back)."""
    async with sm() as s:
        return [tuple(row) for row in (await s.execute(text(sql), params)).all()]


async def _both_ways(sm: Any, prepared: Prepared, params: list[dict[str, Any]]) -> None:
    """The first params through the prepared path, the second through Connection.execute."""
    async with sm() as s:
        conn = await s.connection()
        fast = await conn.run_sync(lambda c: prepared.run(c, params[0]).rowcount)
        slow = await conn.run_sync(lambda c: c.execute(prepared.statement, params[1]).rowcount)
        await s.commit()
    assert fast == slow == 1


async def test_the_same_rows_as_sqlalchemy_writes(migrated: Any) -> None:
    sm = migrated
    versions = {}
    async with sm() as s:
        for user in ("a", "b"):
            versions[user] = await repo.save_draft(s, "telegram", user, "category", {}, None)
        await s.commit()
    when = datetime(2026, 11, 24, 13, 5, 7, 123456, tzinfo=UTC)
    data = {"description": "Jalan berlubang", "media": [{"kind": "photo"}], "n": 3}
    await _both_ways(sm, _SAVE_DRAFT, [
        {"c": "telegram", "u": user, "v": versions[user], "step": "media", "data": data,
         "version": versions[user] + 1, "updated_at": when} for user in ("a", "b")])
    rows = await _raw(sm, "SELECT external_id, step, CAST(data AS TEXT), "
                          "CAST(updated_at AS TEXT) FROM draft ORDER BY external_id")
    assert rows[0][1:] == rows[1][1:] and rows[0][1] == "media", rows

    async with sm() as s:
        await s.execute(text(
            "INSERT INTO inbox (channel, update_key, chat_key, payload, status, attempts, "
            "received_at) VALUES ('telegram', '1', 'c', '{}', 'new', 0, :at), "
            "('telegram', '2', 'c', '{}', 'new', 0, :at), "
            "('telegram', '3', 'c', '{}', 'new', 0, :at), "
            "('telegram', '4', 'c', '{}', 'new', 0, :at)"), {"at": utcnow()})
        await s.commit()
    ids = [r[0] for r in await _raw(sm, "SELECT id FROM inbox ORDER BY update_key")]
    answer = [{"chat_id": "c", "payload": {"text": "Langkah 3/5"}, "report_id": None}]
    for pair, value in (((ids[0], ids[1]), answer), ((ids[2], ids[3]), None)):
        await _both_ways(sm, _FLIP, [{"rid": rid, "at": when, "answer": value}
                                     for rid in pair])
    rows = await _raw(sm, "SELECT status, CAST(processed_at AS TEXT), CAST(answer AS TEXT) "
                          "FROM inbox ORDER BY update_key")
    assert rows[0] == rows[1] and rows[2] == rows[3], rows
    assert rows[0][0] == "done" and "Langkah 3/5" in rows[0][2]
    # A second flip of a done row matches nothing: the exactly-once check still holds.
    async with sm() as s:
        conn = await s.connection()
        again = await conn.run_sync(lambda c: _FLIP.run(
            c, {"rid": ids[0], "at": when, "answer": None}).rowcount)
        await s.commit()
    assert again == 0


async def test_one_of_many_concurrent_compare_and_sets_wins(migrated: Any) -> None:
    sm = migrated
    async with sm() as s:
        version = await repo.save_draft(s, "telegram", "u", "category", {}, None)
        await s.commit()

    async def write(n: int) -> bool:
        async with sm() as s:
            try:
                await repo.save_draft(s, "telegram", "u", "description", {"n": n}, version)
            except repo.DraftConflict:
                await s.rollback()
                return False
            await s.commit()
            return True

    won = await asyncio.gather(*(write(n) for n in range(30)))
    assert sum(won) == 1
    rows = await _raw(sm, "SELECT version, step FROM draft")
    assert rows == [(version + 1, "description")]


async def test_one_of_many_concurrent_new_drafts_wins(migrated: Any) -> None:
    """The first step of one person delivered to many handlers at once (re-deliveries, two
    workers): one draft, the rest told of the conflict."""
    sm = migrated
    async def start(n: int) -> int | None:
        async with sm() as s:
            try:
                version = await repo.save_draft(s, "telegram", "new", "category",
                                                {"n": n}, None)
            except repo.DraftConflict:
                await s.rollback()
                return None
            await s.commit()
            return version

    versions = [v for v in await asyncio.gather(*(start(n) for n in range(30))) if v]
    assert len(versions) == 1
    rows = await _raw(sm, "SELECT version, step FROM draft")
    assert rows == [(versions[0], "category")]


async def test_first_contact_of_many_at_once_makes_one_citizen(migrated: Any) -> None:
    """The same person's first messages handled at once (two workers, a re-delivery): one
    citizen row, one `created`; every caller gets that row, attached to its session."""
    from models.tables import Citizen

    sm = migrated
    async def contact(n: int) -> tuple[int, bool]:
        async with sm() as s:
            citizen, created = await repo.upsert_citizen(
                s, "telegram", "77", language="id", display_name=f"Budi {n}",
                username="budi")
            citizen.last_inbound_at = utcnow()  # tracked: written at the commit
            s.add(citizen)
            await s.commit()
            return int(citizen.id or 0), created

    results = await asyncio.gather(*(contact(n) for n in range(30)))
    assert len({cid for cid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with sm() as s:
        rows = (await s.exec(select(Citizen))).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.channel, row.external_id, row.language, row.username) == (
        "telegram", "77", "id", "budi")
    assert row.display_name and row.display_name.startswith("Budi ")
    assert row.created_at is not None and row.last_seen_at is not None
    assert row.last_inbound_at is not None and row.ban_notified is False


async def _report_parents(sm: Any) -> tuple[int, int, int]:
    """An OPD, a category of it and a citizen: (citizen, category, opd) ids."""
    from models.tables import Category, Opd

    async with sm() as s:
        opd = Opd(code="PUPR", name_id="Dinas PUPR", name_en="Public Works")
        s.add(opd)
        await s.flush()
        cat = Category(code="jalan", opd_id=opd.id, name_id="Jalan", name_en="Road")
        s.add(cat)
        citizen, _ = await repo.upsert_citizen(s, "telegram", "77", language="id")
        await s.flush()
        ids = (citizen.id, cat.id, opd.id)
        await s.commit()
    return ids  # type: ignore[return-value]


def _report(parents: tuple[int, int, int], nonce: str | None = None) -> Any:
    from models.tables import Report

    citizen, category, opd = parents
    return Report(code="", channel="telegram", citizen_id=citizen, category_id=category,
                  opd_id=opd, description="Jalan berlubang di depan SD", draft_nonce=nonce)


async def test_reports_filed_at_once_with_colliding_codes_all_get_their_own(
        migrated: Any, monkeypatch: Any) -> None:
    """30 reports filed at once while the code generator keeps returning codes already
    taken (each filing's first two tries collide): every report is written once, under a
    code of its own, with its attachment and `created` event; the same draft filed twice
    is refused."""
    from sqlalchemy.exc import IntegrityError

    from models.tables import Attachment, Report, ReportEvent

    sm = migrated
    parents = await _report_parents(sm)
    async with sm() as s:
        await repo.create_report(s, _report(parents), [], prefix="ADU", actor_id="77",
                                 actor_name=None)
        await s.commit()
        taken = (await s.exec(select(Report.code))).one()
    tries: dict[int, int] = {}
    counter = iter(range(1, 10_000))

    def codes(prefix: str, length: int = 4) -> str:
        task = id(asyncio.current_task())
        tries[task] = tries.get(task, 0) + 1
        return taken if tries[task] <= 2 else f"{prefix}-{next(counter):0{length}d}"

    monkeypatch.setattr(repo, "new_ticket_code", codes)
    photo = {"kind": "photo", "path": "ab/cd.jpg", "size": 10, "sha256": "00" * 32,
             "mime": "image/jpeg", "source_ref": "f"}

    async def one(i: int) -> str:
        async with sm() as s:
            report = await repo.create_report(s, _report(parents, f"n{i}"), [photo],
                                              prefix="ADU", actor_id="77", actor_name=None)
            report.status = "dispatched"  # changed after the insert: flushed as an UPDATE
            await s.commit()
            return report.code

    filed = await asyncio.gather(*(one(i) for i in range(30)))
    assert len(set(filed)) == 30 and taken not in filed
    async with sm() as s:
        rows = (await s.exec(select(Report.code, Report.status, Report.draft_nonce))).all()
        assert sorted(r[0] for r in rows if r[2]) == sorted(filed)
        assert {r[1] for r in rows if r[2]} == {"dispatched"}
        assert len((await s.exec(select(Attachment.id))).all()) == 30
        assert len((await s.exec(select(ReportEvent.id))).all()) == 31
    async with sm() as s:  # the same draft again: refused, nothing written
        try:
            await repo.create_report(s, _report(parents, "n0"), [], prefix="ADU",
                                     actor_id="77", actor_name=None)
        except IntegrityError:
            await s.rollback()
        else:
            raise AssertionError("a draft was filed twice")
    async with sm() as s:
        assert len((await s.exec(select(Report.id))).all()) == 31


async def test_a_rolled_back_filing_leaves_the_report_new(migrated: Any) -> None:
    """A filing whose transaction rolls back leaves its report object new again (no id), so
    a retry in the same session writes it afresh."""
    from models.tables import Report

    sm = migrated
    parents = await _report_parents(sm)
    async with sm() as s:
        report = await repo.create_report(s, _report(parents, "r1"), [], prefix="ADU",
                                          actor_id="77", actor_name=None)
        assert report.id is not None
        await s.rollback()
        assert report.id is None and report not in s
        again = await repo.create_report(s, report, [], prefix="ADU", actor_id="77",
                                         actor_name=None)
        await s.commit()
        assert again.id is not None
    async with sm() as s:
        assert [r.draft_nonce for r in (await s.exec(select(Report))).all()] == ["r1"]
