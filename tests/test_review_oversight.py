"""Review of the oversight features under concurrency and restarts: a PIC's action and the
scheduler's tick on the same report at the same moment, stale snapshots written back over the
tick's Core UPDATE, and the light of a report followed up by a question."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from handlers import lifecycle
from models.domain import Status, plan_light
from models.tables import Category, Outbox, Report
from tests.conftest import Harness, new_user
from tests.test_agency_groups import PIC_A, PIC_B, file_report, report_by, setup_groups

ANDI = lifecycle.Actor(PIC_A, "Andi")
BUDI = lifecycle.Actor(PIC_B, "Budi")


async def _advance_to(h: Harness, moment: object) -> None:
    h.clock.advance(moment - h.clock.now() + timedelta(seconds=1))  # type: ignore[operator]


def _deps(h: Harness) -> lifecycle.Deps:
    assert h.app is not None and h.app.deps is not None
    return h.app.deps


def _expected_light(h: Harness, r: Report) -> str:
    """The light the report's own clocks give now (what relight would store)."""
    if r.first_action_at is None:
        start, due = r.created_at, r.followup_due_at
    else:
        start, due = r.first_action_at, r.resolve_due_at
    return plan_light(r.status, start, due, h.clock.now(), _deps(h).yellow_share,
                      paused=r.status == Status.NEED_INFO, current=r.light).light


async def _no_proof_needed(h: Harness, report_id: int) -> None:
    async with h.sessionmaker() as s:
        r = await s.get(Report, report_id)
        cat = await s.get(Category, r.category_id)
        cat.requires_photo = False
        s.add(cat)
        await s.commit()


async def test_pic_reply_after_a_tick_keeps_the_light_consistent(harness: Harness) -> None:
    """A PIC's reply (handlers/telegram/staff.py `on_group_reply`: the report is read, the
    transaction committed, the photo downloaded, then `relay_to_citizen`) while the tick turns
    the report yellow: the reply is the follow-up, so the light must be the one its clocks
    give (green, the resolution deadline far away) - not the tick's yellow left behind by the
    ORM writing only the columns that differ from its stale snapshot."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    assert report.light == "green" and report.yellow_at is not None
    async with h.sessionmaker() as s:
        stale = await s.get(Report, report.id)
        await s.commit()  # what on_group_reply does before the downloads
        await _advance_to(h, report.yellow_at)
        assert "oversight" in await h.tick()
        assert (await report_by(h, code)).light == "yellow"
        await lifecycle.relay_to_citizen(s, _deps(h), ANDI, stale,
                                         {"type": "text", "text": "Besok kami cek"})
    after = await report_by(h, code)
    assert after.first_action_at is not None
    assert after.light == _expected_light(h, after) == "green", (after.light, after.yellow_at)


async def test_pic_reply_racing_a_resolve_leaves_the_report_done(harness: Harness) -> None:
    """PIC A's reply read the report before PIC B resolved it: the reply must not give the
    resolved report new light moments (the tick would later turn a resolved report red and
    escalate it) nor overwrite the follow-up time the resolve recorded."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    await _no_proof_needed(h, report.id)
    async with h.sessionmaker() as s:
        stale = await s.get(Report, report.id)
        await s.commit()
        async with h.sessionmaker() as other:
            r = await other.get(Report, report.id)
            assert (await lifecycle.resolve(other, _deps(h), BUDI, r, "Sudah ditambal",
                                            None)).ok
        resolved = await report_by(h, code)
        h.clock.advance(timedelta(minutes=5))
        await lifecycle.relay_to_citizen(s, _deps(h), ANDI, stale,
                                         {"type": "text", "text": "Tim kami meluncur"})
    after = await report_by(h, code)
    assert after.status == Status.RESOLVED
    assert after.first_action_at == resolved.first_action_at
    assert (after.light, after.yellow_at, after.red_at) == ("done", None, None)
    # And the tick never touches a finished report, whatever its moments say.
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        r.red_at = h.clock.now() - timedelta(hours=1)  # as a stale writer could leave it
        s.add(r)
        await s.commit()
    await h.tick()
    assert (await report_by(h, code)).light == "done"
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "reminder"))).all()
    assert not [o for o in rows if report.id in (o.payload.get("ids") or [])]


async def test_take_racing_a_tick_keeps_the_light_consistent(harness: Harness,
                                                             db_url: str) -> None:
    """`press` reads the report and `take` claims it by version in one transaction; on
    PostgreSQL (read committed) the tick can turn the light in between, and the tick does not
    bump the version, so the claim wins on a stale snapshot and the ORM leaves the tick's
    yellow on a report just taken in time."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite: BEGIN IMMEDIATE serializes the press and the tick")
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    async with h.sessionmaker() as s:
        current = await s.get(Report, report.id)  # press's read, transaction open
        await _advance_to(h, report.yellow_at)
        assert "oversight" in await h.tick()
        assert (await report_by(h, code)).light == "yellow"
        assert (await lifecycle.take(s, _deps(h), ANDI, current)).ok
    after = await report_by(h, code)
    assert after.light == _expected_light(h, after) == "green", (after.light, after.yellow_at)


async def test_question_on_a_red_report_is_a_follow_up(harness: Harness) -> None:
    """Red means "past the deadline without follow-up; it stays red until an OPD acts", and a
    question is a follow-up (issue 8). Taking a red report turns it green; asking the citizen
    a question leaves it red for as long as the citizen takes to answer."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    await _advance_to(h, report.red_at)
    await h.tick()
    assert (await report_by(h, code)).light == "red"
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert (await lifecycle.take(s, _deps(h), ANDI, r)).ok
    assert (await report_by(h, code)).light == "green"  # the control: taking it

    code2 = await file_report(h, new_user())
    report2 = await report_by(h, code2)
    await _advance_to(h, report2.red_at)
    await h.tick()
    async with h.sessionmaker() as s:
        r = await s.get(Report, report2.id)
        assert r.light == "red" and r.first_action_at is None
        assert (await lifecycle.ask_info(s, _deps(h), ANDI, r, "Di RT berapa?")).ok
    asked = await report_by(h, code2)
    assert asked.status == Status.NEED_INFO and asked.first_action_at is not None
    assert asked.light != "red", "followed up by a question, still red while paused"


async def test_reassign_while_waiting_on_the_citizen_keeps_the_paused_time(harness: Harness
                                                                           ) -> None:
    """need_info stops the clock; a report moved to another OPD while it waits must not have
    the waiting time counted against the resolution deadline (leaving need_info by any other
    way - the citizen's answer, a PIC's take or resolve - moves the deadlines)."""
    from models.tables import Opd

    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert (await lifecycle.take(s, _deps(h), ANDI, r)).ok
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert (await lifecycle.ask_info(s, _deps(h), ANDI, r, "Di RT berapa?")).ok
    asked = await report_by(h, code)
    h.clock.advance(timedelta(days=20))
    async with h.sessionmaker() as s:
        dlh = (await s.exec(select(Opd).where(Opd.code == "DLH"))).one()
        r = await s.get(Report, report.id)
        assert (await lifecycle.reassign(s, _deps(h), ANDI, r, dlh.id)).ok
    moved = await report_by(h, code)
    assert moved.paused_at is None and moved.status == Status.DISPATCHED
    assert moved.resolve_due_at - asked.resolve_due_at >= timedelta(days=20), (
        asked.resolve_due_at, moved.resolve_due_at)


async def test_inbox_worker_that_lost_its_chat_lease_stops_draining(db_url: str) -> None:
    """Shared inbox: worker A stalls on a chat's first update past its lease (a heartbeat that
    could not renew, a long pause); worker B takes the chat over, as designed. When A wakes
    it must not go on with the chat's next updates while B holds it: that runs one chat's
    updates concurrently and out of order (A finishing update 3 while B is still in 2)."""
    import asyncio

    from sqlalchemy import update

    from bot.inbox import SharedInboxProcessor
    from models import inbox
    from models.db import make_engine, make_sessionmaker, migrate
    from models.domain import utcnow
    from models.tables import JobLease

    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    items = [(str(n), "42", {"update_id": n, "message": {
        "message_id": n, "date": 0, "chat": {"id": 42, "type": "private"}, "text": f"m{n}"}})
        for n in (1, 2, 3)]
    async with sm() as s:
        await inbox.record(s, "telegram", items)
        await s.commit()
    seen: list[tuple[str, int, str]] = []
    a_stalls, b_stalls = asyncio.Event(), asyncio.Event()
    a_in, b_in = asyncio.Event(), asyncio.Event()

    def worker(name: str, stall: asyncio.Event, inside: asyncio.Event,
               stall_on: int) -> SharedInboxProcessor:
        proc = SharedInboxProcessor(None, None, sm, holder=name)  # type: ignore[arg-type]

        async def process(inbox_id: int, upd: object) -> None:
            uid = upd.update_id  # type: ignore[attr-defined]
            seen.append((name, uid, "start"))
            if uid == stall_on:
                inside.set()
                await stall.wait()
            seen.append((name, uid, "end"))
            async with sm() as s:
                await inbox.finish(s, inbox_id, "done")
                await s.commit()

        proc.process = process  # type: ignore[method-assign]
        return proc

    a = worker("A", a_stalls, a_in, 1)
    b = worker("B", b_stalls, b_in, 2)
    try:
        a.kick("42")
        await a_in.wait()  # A is inside update 1
        async with sm() as s:  # ... for longer than its lease
            await s.execute(update(JobLease).where(JobLease.name == "chat:telegram:42")
                            .values(lease_until=utcnow() - timedelta(seconds=1)))
            await s.commit()
        b.kick("42")  # B's sweeper finds the chat waiting and takes it over
        await b_in.wait()  # B: update 1 again (A seemed dead), now inside update 2
        a_stalls.set()  # A wakes up
        await a.drain()
        assert ("A", 2, "start") not in seen and ("A", 3, "start") not in seen, seen
        b_stalls.set()
        await b.drain()
        assert [u for w, u, e in seen if w == "B" and e == "end"] == [1, 2, 3]
    finally:
        a_stalls.set()
        b_stalls.set()
        await a.drain()
        await b.drain()
        await engine.dispose()


async def test_citizen_answer_downloaded_while_the_pic_asks_resumes_the_clock(
        harness: Harness) -> None:
    """A WhatsApp citizen's photo for a report (handlers/whatsapp.py `_answer`: the report is
    read, the transaction ended, the photo downloaded, then `answer_opd`) while the PIC asks a
    question: the answer reaches the group after the question, so it must resume the clock
    like any answer does - not leave the report waiting on the citizen, its clock stopped and
    its light frozen, because the copy read before the download still said in progress."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert (await lifecycle.take(s, _deps(h), ANDI, r)).ok
    async with h.sessionmaker() as s:
        stale = await s.get(Report, report.id)
        person = await s.get(lifecycle.Citizen, stale.citizen_id)
        await s.commit()  # the read ends before the download
        async with h.sessionmaker() as other:
            r = await other.get(Report, report.id)
            assert (await lifecycle.ask_info(other, _deps(h), ANDI, r, "Foto lagi?")).ok
        h.clock.advance(timedelta(hours=2))
        await lifecycle.answer_opd(s, _deps(h), person, stale,
                                   {"type": "text", "text": "Ini fotonya"})
        await s.commit()
    after = await report_by(h, code)
    assert after.status == Status.IN_PROGRESS and after.paused_at is None, (
        after.status, after.paused_at)
    assert after.red_at is not None  # the light runs again


async def test_report_turned_red_by_a_reopen_is_reminded_and_escalated(harness: Harness
                                                                       ) -> None:
    """Reminders and escalation go out "when reports turn yellow and red". A report resolved
    late in its time and re-opened by the citizen after its resolution deadline turns red at
    once (the action relights it): no moment is left for the tick to find, so the group is
    never reminded and the admins never told, however long it stays red."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    await _no_proof_needed(h, report.id)
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert (await lifecycle.take(s, _deps(h), ANDI, r)).ok
    taken = await report_by(h, code)
    await _advance_to(h, taken.yellow_at)
    await h.tick()  # yellow: the group reminded of it, as it should be
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert (await lifecycle.resolve(s, _deps(h), ANDI, r, "Sudah", None)).ok
    await _advance_to(h, taken.resolve_due_at)
    async with h.sessionmaker() as s:
        r = await s.get(Report, report.id)
        assert r.status == Status.RESOLVED and r.close_due_at > h.clock.now()
        person = await s.get(lifecycle.Citizen, r.citizen_id)
        assert await lifecycle.feedback(s, _deps(h), person, report.id, "no") == \
            "feedback-reopened"
    assert (await report_by(h, code)).light == "red"
    for _ in range(3):
        await h.tick()
        h.clock.advance(timedelta(hours=6))
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "reminder"))).all()
    about = [o.payload["key"] for o in rows if report.id in (o.payload.get("ids") or [])]
    assert about.count("reminder-red") == 1 and about.count("escalation-red") == 1, about


async def test_two_ticks_and_a_rating_at_once_act_once(harness: Harness) -> None:
    """Two processes' ticks at the same moment (a lease taken over from a stalled holder) and
    a citizen rating a report the tick is closing: each report turns red once (one reminder,
    one escalation), and a resolved report is closed once - by the citizen or by the system,
    never both."""
    import asyncio

    from handlers import oversight

    h = harness
    await setup_groups(h)
    red = await report_by(h, await file_report(h, new_user()))
    done_code = await file_report(h, new_user())
    done = await report_by(h, done_code)
    await _no_proof_needed(h, done.id)
    async with h.sessionmaker() as s:
        r = await s.get(Report, done.id)
        assert (await lifecycle.resolve(s, _deps(h), ANDI, r, "Sudah", None)).ok
    resolved = await report_by(h, done_code)
    await _advance_to(h, max(red.red_at, resolved.close_due_at))
    now, deps = h.clock.now(), _deps(h)

    async def rate() -> str:
        async with h.sessionmaker() as s:
            person = await s.get(lifecycle.Citizen, resolved.citizen_id)
            key = await lifecycle.feedback(s, deps, person, done.id, "5")
            await s.commit()
            return key

    first, second, rated = await asyncio.gather(
        oversight.tick(h.sessionmaker, deps, now), oversight.tick(h.sessionmaker, deps, now),
        rate())
    assert first.red + second.red == 1
    closed = await report_by(h, done_code)
    assert closed.status == Status.CLOSED
    by_system = first.closed + second.closed
    assert by_system + (rated == "feedback-thanks") == 1, (by_system, rated)
    assert (closed.rating == 5) == (rated == "feedback-thanks")
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox))).all()
    keys = [o.payload.get("key") for o in rows if o.kind == "reminder"
            and red.id in (o.payload.get("ids") or [])]
    assert sorted(keys) == ["escalation-red", "reminder-red"], keys
    told = [o for o in rows if o.report_id == done.id
            and "ditutup otomatis" in (o.payload.get("text") or "")]
    assert len(told) == by_system


@pytest.mark.settings(ADMIN_CHAT_ID=-1009999000001)
async def test_weekly_digest_once_per_week_across_restarts_and_a_two_week_jump(
        harness: Harness) -> None:
    """The digest's week is recorded with its messages: a restart never repeats it, and a
    process down for two weeks sends the latest week once (not a backlog)."""
    from zoneinfo import ZoneInfo

    h = harness
    wib = ZoneInfo("Asia/Jakarta")
    await h.tick()
    now = h.clock.now().astimezone(wib)
    monday = (now + timedelta(days=7 - now.weekday())).replace(hour=7, minute=0, second=30)
    h.clock.advance(monday - h.clock.now())
    assert "weekly_digest" in await h.tick()
    await h.restart()
    assert "weekly_digest" not in await h.tick()
    await h.stop()
    h.clock.advance(timedelta(days=14, hours=3))
    await h.start()
    ran = [await h.tick(), await h.tick()]
    assert ["weekly_digest" in r for r in ran] == [True, False]
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "digest"))).all()
    weeks = sorted(o.payload["week"] for o in rows)
    assert len(weeks) == 4 and len(set(weeks)) == 2, weeks
