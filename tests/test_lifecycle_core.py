"""Lifecycle races and recoveries, on the core directly (plain objects, a real SQLite file)."""
from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.geocoding import NoGeocoder
from handlers import admin as admin_core
from handlers import intake as core
from handlers import lifecycle
from handlers.i18n import Translator
from models import repo
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import Status, utcnow
from models.media import MediaStore
from models.seed import load_seed
from models.tables import Category, Citizen, Outbox, Report

SEED = Path(__file__).resolve().parent.parent / "deploy" / "seed.example.toml"
GROUP_A, GROUP_B = -1001000000001, -1001000000009


@pytest.fixture
async def env(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path/'a.db'}")
    await migrate(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        await load_seed(s, SEED)
        opd = await repo.opd_by_code(s, "PUPR")
        opd.chat_id = GROUP_A
        s.add(opd)
        await s.commit()
    deps = lifecycle.Deps(translator=Translator(default="id"), tz=ZoneInfo("Asia/Jakarta"),
                          admin_ids=frozenset({1}))
    yield sm, deps
    await engine.dispose()


async def make_report(sm, deps, channel="telegram", ext="5551"):
    async with sm() as s:
        citizen, _ = await repo.upsert_citizen(s, channel, ext, language="id")
        await s.flush()
        opd = await repo.opd_by_code(s, "PUPR")
        cat = (await s.exec(select(Category).where(Category.opd_id == opd.id))).first()
        r = Report(code="", channel=channel, citizen_id=citizen.id, category_id=cat.id,
                   opd_id=opd.id, description="Jalan berlubang besar sekali",
                   latitude=0.4, longitude=101.85, anonymous=True)
        r = await repo.create_report(s, r, [], prefix="ADU", actor_id=ext, actor_name=None)
        await lifecycle.dispatch(s, deps, r)
        await s.commit()
        return r.id, citizen.id


async def test_citizen_answer_overwrites_concurrent_resolve(env):
    """A citizen's late answer never undoes a PIC's concurrent 'resolved'."""
    sm, deps = env
    rid, cid = await make_report(sm, deps)
    pic = lifecycle.Actor(1, "Admin")
    async with sm() as s:  # PIC asks for info
        r = await s.get(Report, rid)
        await lifecycle.ask_info(s, deps, pic, r, "Di RT berapa?")
    async with sm() as citizen_s, sm() as pic_s:
        # the citizen's answer has loaded the report (need_info) ...
        r_c = await citizen_s.get(Report, rid)
        citizen = await citizen_s.get(Citizen, cid)
        assert r_c.status == Status.NEED_INFO
        # SQLite runs one writer at a time (BEGIN IMMEDIATE): end the read so the PIC can
        # commit; the loaded report stays as it was read (stale), as with concurrent PG turns.
        await citizen_s.commit()
        # ... when a PIC resolves it and commits
        r_p = await pic_s.get(Report, rid)
        proof = {"path": "p.jpg", "size": 1, "sha256": "0" * 64}
        out = await lifecycle.resolve(pic_s, deps, pic, r_p, "Sudah ditambal", proof)
        assert out.ok
        assert r_c.status == Status.NEED_INFO  # the citizen's turn still sees its old read
        await lifecycle.relay_to_group(citizen_s, deps, citizen, r_c,
                                       {"type": "text", "text": "RT 03"})
    async with sm() as s:
        final = await s.get(Report, rid)
        assert final.status == Status.RESOLVED, f"resolved was overwritten: {final.status}"


async def test_rebind_after_unreachable_duplicates_card(env):
    """Re-binding after the bot was removed posts each waiting card once, not twice."""
    sm, deps = env
    rid, _ = await make_report(sm, deps)
    async with sm() as s:  # the worker found the bot removed from the group
        for row in (await s.exec(select(Outbox).where(Outbox.chat_id == str(GROUP_A)))).all():
            row.status = "undeliverable"
            s.add(row)
        await s.commit()
    async with sm() as s:
        await admin_core.bind_opd(s, deps, "PUPR", GROUP_B, None)
    async with sm() as s:
        cards = (await s.exec(select(Outbox).where(Outbox.report_id == rid,
                                                   Outbox.kind == "card",
                                                   Outbox.status == "pending"))).all()
        assert len(cards) == 1, f"{len(cards)} cards queued for the new group"


async def test_draft_conflict_retry_crashes(env, tmp_path, monkeypatch):
    """A draft conflict (another process) is retried cleanly, not turned into an error."""
    sm, deps = env
    intake = core.Intake(deps.translator, MediaStore(tmp_path / "m"), NoGeocoder(),
                         core.IntakeConfig(tz=deps.tz))
    real = repo.save_draft
    calls = {"n": 0}

    async def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise repo.DraftConflict
        return await real(*a, **kw)

    monkeypatch.setattr(repo, "save_draft", flaky)
    async with sm() as s:
        citizen, _ = await repo.upsert_citizen(s, "telegram", "777", language="id")
        await s.commit()
        replies = await intake.handle(s, core.Turn(citizen=citizen), core.Command("lapor"))
        assert replies


async def test_need_info_pauses_the_deadline(env):
    """Time spent waiting on the citizen is added back to the deadline when they answer."""
    from datetime import timedelta


    sm, deps = env
    rid, cid = await make_report(sm, deps)
    pic = lifecycle.Actor(1, "Admin")
    async with sm() as s:
        r = await s.get(Report, rid)
        await lifecycle.ask_info(s, deps, pic, r, "Di RT berapa?")
    async with sm() as s:  # the question was asked two days ago
        report = await s.get(Report, rid)
        assert report.paused_at is not None and report.red_at is None  # the clock stopped
        report.paused_at = report.paused_at - timedelta(days=2)
        report.resolve_due_at = before = utcnow() + timedelta(days=5)
        s.add(report)
        await s.commit()
    async with sm() as s:
        r = await s.get(Report, rid)
        citizen = await s.get(Citizen, cid)
        await lifecycle.relay_to_group(s, deps, citizen, r, {"type": "text", "text": "RT 03"})
    async with sm() as s:
        after = await s.get(Report, rid)
    assert after.status == Status.IN_PROGRESS
    assert timedelta(days=2) <= after.resolve_due_at - before < timedelta(days=2, minutes=1)
    assert after.paused_at is None and after.red_at == after.resolve_due_at


async def _cards(s, rid):
    """The report's card rows in the outbox."""
    return (await s.exec(select(Outbox).where(Outbox.report_id == rid,
                                              Outbox.kind == "card"))).all()


async def test_dispatch_reads_the_group_as_this_transaction_sees_it(env):
    """Dispatch reads the OPD's group with one Core statement, except where the session
    holds the OPD with a change not flushed yet: a group bound (or unbound) in this same
    transaction is where the card goes (or it waits), never the group stored before."""
    sm, deps = env
    rid, _ = await make_report(sm, deps)  # stored group: GROUP_A
    async with sm() as s:
        with s.no_autoflush:
            opd = await repo.opd_by_code(s, "PUPR")
            opd.chat_id = GROUP_B  # rebound here, not flushed
            s.add(opd)
            report = await s.get(Report, rid)
            assert await lifecycle.dispatch(s, deps, report)
        await s.commit()
        cards = await _cards(s, rid)
        assert [c.chat_id for c in cards if c.status == "pending"] == [str(GROUP_B)]
    async with sm() as s:  # not held by this session: read from the database
        report = await s.get(Report, rid)
        s.expunge_all()
        report = await s.get(Report, rid)
        opd = await repo.opd_by_code(s, "PUPR")
        s.expunge(opd)
        assert await lifecycle.dispatch(s, deps, report)
        await s.commit()
        cards = await _cards(s, rid)
        assert [c.chat_id for c in cards if c.status == "pending"] == [str(GROUP_B)]
        assert len(cards) == 3


async def test_dispatch_after_a_rollback_reads_the_group_again(env):
    """A session that held the OPD and rolled back (a lost race, a retry) holds it expired:
    dispatch reads its group afresh (the group rebound meanwhile), as `session.get` did,
    never an expired object's attribute (a lazy load outside SQLAlchemy's greenlet)."""
    sm, deps = env
    rid, _ = await make_report(sm, deps)  # stored group: GROUP_A
    async with sm() as s:
        opd = await repo.opd_by_code(s, "PUPR")
        assert opd.chat_id == GROUP_A
        await s.commit()  # (SQLite: one writer at a time)
        async with sm() as other:  # an admin rebinds the group meanwhile
            await admin_core.bind_opd(other, deps, "PUPR", GROUP_B, None)
        await s.get(Report, rid)
        await s.rollback()  # every object the session holds is expired
        report = await s.get(Report, rid)
        assert await lifecycle.dispatch(s, deps, report)
        await s.commit()
        cards = await _cards(s, rid)
        assert [c.chat_id for c in cards if c.status == "pending"] == [str(GROUP_B)]
