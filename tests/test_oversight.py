"""Oversight over time, with the clock injected (no sleeping): lights on the card turning
yellow then red, reminders and escalation exactly once (also across a restart and with two
schedulers), need_info pausing the clock, holidays skipped, auto-close."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.scheduler import Job, Scheduler, last_weekly, week_key
from models.domain import (
    Deadline,
    ManualClock,
    Status,
    WorkCalendar,
    plan_light,
    utcnow,
)
from models.tables import JobLease, Outbox, Report
from tests import test_load as load
from tests.conftest import ADMIN_ID, Harness, new_user
from tests.test_agency_groups import (
    PIC_A,
    PUPR_GROUP,
    buttons_of,
    card_of,
    card_showing,
    file_report,
    group_press,
    report_by,
    setup_groups,
    wait_citizen,
)

WIB = ZoneInfo("Asia/Jakarta")


# ---- the rules, with plain objects ----------------------------------------------------------


def test_deadline_specs() -> None:
    assert Deadline.parse("5") == Deadline(5, "d") == Deadline.parse("5 hari")
    assert Deadline.parse("48h") == Deadline(48, "h") == Deadline.parse("48 jam")
    assert str(Deadline.parse(" 3D ")) == "3d"
    for bad in ("", "0", "-1", "5x", "lima", "400d"):
        with pytest.raises(ValueError):
            Deadline.parse(bad)


def test_working_days_skip_weekends_public_and_local_holidays() -> None:
    cal = WorkCalendar(WIB)
    # Wednesday 18 March 2026 + 3 working days: Thursday 19 is Nyepi (Day of Silence), 21-22
    # Idul Fitri fall on the weekend; so Friday 20, Monday 23, Tuesday 24.
    start = datetime(2026, 3, 18, 10, 0, tzinfo=WIB)
    assert cal.holiday_name(date(2026, 3, 19))
    due = cal.due(start, "3d").astimezone(WIB)
    assert (due.date(), due.time()) == (date(2026, 3, 24), time(23, 59, 59))
    # A local holiday (HOLIDAYS) moves it one more day; hours ignore the calendar.
    local = WorkCalendar(WIB, [date(2026, 3, 23)])
    assert local.due(start, "3d").astimezone(WIB).date() == date(2026, 3, 25)
    assert cal.due(start, "48h") == start + timedelta(hours=48)
    # Without public holidays only weekends count.
    bare = WorkCalendar(WIB, (), None)
    assert bare.due(start, "3d").astimezone(WIB).date() == date(2026, 3, 23)


def test_light_plan() -> None:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    due = start + timedelta(days=4)
    at = start + timedelta(days=1)
    assert plan_light("dispatched", start, due, at, 0.75) == (
        plan_light("dispatched", start, due, at, 0.75))
    green = plan_light("dispatched", start, due, at, 0.75)
    assert (green.light, green.yellow_at, green.red_at) == ("green", start + timedelta(days=3),
                                                            due)
    yellow = plan_light("dispatched", start, due, start + timedelta(days=3, hours=1), 0.75)
    assert (yellow.light, yellow.yellow_at, yellow.red_at) == ("yellow", None, due)
    red = plan_light("dispatched", start, due, due + timedelta(seconds=1), 0.75)
    assert (red.light, red.yellow_at, red.red_at) == ("red", None, None)
    paused = plan_light("need_info", start, due, due + timedelta(days=9), 0.75, paused=True,
                        current="yellow")
    assert (paused.light, paused.yellow_at, paused.red_at) == ("yellow", None, None)
    assert plan_light("resolved", start, due, at, 0.75).light == "done"


def test_weekly_moment() -> None:
    at = time(7, 0)
    monday_7 = datetime(2026, 11, 23, 7, 0, tzinfo=WIB)
    assert last_weekly(monday_7, WIB, 1, at) == monday_7
    assert last_weekly(monday_7 - timedelta(minutes=1), WIB, 1, at) == monday_7 - timedelta(
        days=7)
    assert last_weekly(monday_7 + timedelta(days=3), WIB, 1, at) == monday_7
    assert week_key(monday_7) == "2026-W48"


async def test_leases_run_a_job_once_across_schedulers(db_url: str) -> None:
    """Two processes' schedulers at the same moment: the job runs once; an interval job runs
    again only after its interval; a period job once per period."""
    from models.db import make_engine, make_sessionmaker, migrate

    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    runs: list[str] = []
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(now: datetime) -> None:
        runs.append("tick")
        started.set()
        await release.wait()

    async def weekly(session: object, now: datetime, key: str) -> None:
        runs.append(key)

    def period(now: datetime) -> str:
        return week_key(last_weekly(now, WIB, 1, time(7, 0)))

    def jobs() -> list[Job]:
        return [Job("tick", every=timedelta(minutes=1), run=slow),
                Job("digest", period=period, run_in=weekly)]

    a, b = Scheduler(sm, clock, jobs(), holder="a"), Scheduler(sm, clock, jobs(), holder="b")
    try:
        first = asyncio.create_task(a.run_due())
        await started.wait()
        assert await b.run_due() == []  # a holds the tick's lease; the digest is not due yet
        release.set()
        assert await first == ["tick"]
        assert await b.run_due() == []  # the interval has not passed
        clock.advance(timedelta(minutes=1))
        ran = await asyncio.gather(a.run_due(), b.run_due())
        assert sorted(ran, key=len) == [[], ["tick"]]
        # Monday 07:00 WIB is 00:00 UTC: the week's digest, once, whoever gets there first.
        clock.set(datetime(2026, 11, 30, 0, 0, tzinfo=UTC))
        ran = await asyncio.gather(a.run_due(), b.run_due())
        assert sorted(name for names in ran for name in names) == ["digest", "tick"]
        assert runs.count("2026-W49") == 1
        # A restarted process (a new scheduler) does not repeat the week.
        c = Scheduler(sm, clock, jobs(), holder="c")
        clock.advance(timedelta(hours=2))
        assert await c.run_due() == ["tick"]
        assert runs.count("2026-W49") == 1
        async with sm() as s:
            lease = await s.get(JobLease, "digest")
            assert lease is not None and lease.last_key == "2026-W49"
    finally:
        await engine.dispose()


# ---- end to end, through the real bot --------------------------------------------------------


async def _advance_to(h: Harness, moment: datetime) -> None:
    h.clock.advance(moment - h.clock.now() + timedelta(seconds=1))


async def _reminders(h: Harness, chat: int, key_text: str, since: int = 0) -> list[str]:
    return [c.text or "" for c in h.fake.calls[since:] if c.ok and c.chat_id == chat
            and c.method == "sendMessage" and key_text in (c.text or "")]


async def _queued_reminders(h: Harness, key: str) -> list[Outbox]:
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "reminder"))).all()
    return [r for r in rows if r.payload.get("key") == key]


async def test_light_turns_yellow_then_red_reminded_and_escalated_once(harness: Harness
                                                                       ) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card_id = (await card_of(h, PUPR_GROUP, code)).result["message_id"]
    report = await report_by(h, code)
    assert report.light == "green" and report.yellow_at and report.red_at
    assert report.red_at == report.followup_due_at

    # Past three quarters of the follow-up time: yellow on the card, the group reminded.
    await _advance_to(h, report.yellow_at)
    mark = h.fake.mark()
    assert "oversight" in await h.tick()
    await card_showing(h, PUPR_GROUP, card_id, "🟡")
    [yellow] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == PUPR_GROUP and "mendekati batas" in (c.text or ""),
        since=mark)
    assert code in yellow.text and f"/{card_id}" in yellow.text  # the ticket links its card
    assert (await report_by(h, code)).light == "yellow"

    # Ticks that find nothing new send nothing new.
    h.clock.advance(timedelta(minutes=5))
    await h.tick()
    assert len(await _queued_reminders(h, "reminder-yellow")) == 1

    # Past the deadline: red, the group reminded, the admins told (no admin group: privately).
    await _advance_to(h, report.red_at)
    mark = h.fake.mark()
    await h.tick()
    await card_showing(h, PUPR_GROUP, card_id, "🔴")
    [red] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == PUPR_GROUP and "melewati batas" in (c.text or ""),
        since=mark)
    assert code in red.text
    [escalation] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == ADMIN_ID and "Eskalasi" in (c.text or ""),
        since=mark)
    assert code in escalation.text and "Pekerjaan Umum" in escalation.text

    # A restart and more ticks: nothing is sent twice. Still red days later.
    await h.restart()
    for _ in range(3):
        h.clock.advance(timedelta(days=1))
        await h.tick()
    assert len(await _queued_reminders(h, "reminder-red")) == 1
    assert len(await _queued_reminders(h, "escalation-red")) == 1
    assert (await report_by(h, code)).light == "red"

    # The OPD acts: green again on the card; the resolution deadline runs now.
    card_msg = h.fake.message(PUPR_GROUP, card_id)
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card_msg["reply_markup"])["take"],
                      card_id)
    await card_showing(h, PUPR_GROUP, card_id, "🟢")
    after = await report_by(h, code)
    assert after.light == "green" and after.followup_on_time is False
    assert after.red_at == after.resolve_due_at


async def test_status_shows_light_and_deadline(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    await _advance_to(h, report.red_at)
    await h.tick()
    [answer] = await h.say(citizen, f"/status {code}")
    assert "🔴" in answer
    due = report.followup_due_at.astimezone(WIB).strftime("%d-%m-%Y")
    assert due in answer
    [mine] = await h.say(citizen, "/laporanku")
    assert "🔴" in mine and code in mine


async def test_need_info_pauses_the_clock(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card_id = (await card_of(h, PUPR_GROUP, code)).result["message_id"]
    card_msg = h.fake.message(PUPR_GROUP, card_id)
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card_msg["reply_markup"])["take"],
                      card_id)
    taken = await report_by(h, code)
    assert taken.red_at == taken.resolve_due_at
    # The PIC asks a question (through the lifecycle use case) and waits 30 days.
    from handlers import lifecycle

    app = h.app
    assert app is not None and app.deps is not None
    async with h.sessionmaker() as s:
        r = await s.get(Report, taken.id)
        out = await lifecycle.ask_info(s, app.deps, lifecycle.Actor(PIC_A, "Andi"), r,
                                       "Di RT berapa?")
        assert out.ok
    paused = await report_by(h, code)
    assert paused.status == Status.NEED_INFO and paused.red_at is None
    h.clock.advance(timedelta(days=30))
    await h.tick()
    assert (await report_by(h, code)).light == "green"  # nothing turned while it waited
    # The citizen answers: the deadline moved by the 30 days; the light runs again.
    mark = h.fake.mark()
    await h.say(citizen, f"/balas {code} RT 03", replies=1)
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                          and "RT 03" in (c.text or ""), since=mark)
    resumed = await report_by(h, code)
    moved = resumed.resolve_due_at - taken.resolve_due_at
    assert timedelta(days=30) <= moved < timedelta(days=30, minutes=5)
    assert resumed.red_at == resumed.resolve_due_at and resumed.light == "green"


async def resolve_without_proof(h: Harness, report_id: int) -> None:
    """The report resolved by PIC Andi, its category first told to need no proof photo (the
    seed's road category needs one)."""
    from handlers import lifecycle

    app = h.app
    assert app is not None and app.deps is not None
    async with h.sessionmaker() as s:
        r = await s.get(Report, report_id)
        cat = await s.get(lifecycle.Category, r.category_id)
        cat.requires_photo = False
        s.add(cat)
        await s.commit()
    async with h.sessionmaker() as s:
        r = await s.get(Report, report_id)
        out = await lifecycle.resolve(s, app.deps, lifecycle.Actor(PIC_A, "Andi"), r,
                                      "Sudah ditambal", None)
        assert out.ok, out.alert


async def test_auto_close_after_resolution(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    report = await report_by(h, code)
    await resolve_without_proof(h, report.id or 0)
    resolved = await report_by(h, code)
    assert resolved.close_due_at is not None
    h.clock.advance(resolved.close_due_at - h.clock.now() - timedelta(hours=1))
    await h.tick()
    assert (await report_by(h, code)).status == Status.RESOLVED  # not yet
    mark = h.fake.mark()
    h.clock.advance(timedelta(hours=2))
    await h.tick()
    closed = await report_by(h, code)
    assert closed.status == Status.CLOSED and closed.light == "done"
    await wait_citizen(h, citizen, "ditutup otomatis", mark)
    await h.tick()  # and once only
    async with h.sessionmaker() as s:
        notes = (await s.exec(select(Outbox).where(Outbox.report_id == report.id))).all()
    assert sum("ditutup otomatis" in (n.payload.get("text") or "") for n in notes) == 1


@pytest.mark.settings(OUTBOX_GROUP_PER_MINUTE=100000)  # 120 cards, albums and pins in one group
async def test_many_reports_turn_at_once_one_reminder_per_group(harness: Harness) -> None:
    """40 citizens file at once; a day past the deadline, one tick turns them all red while
    more citizens are filing: one grouped reminder in the group, one escalation, 40 cards."""
    h = harness
    await setup_groups(h)
    citizens = load.distinct_citizens(50)
    citizens, late = citizens[:40], citizens[40:]
    codes = await asyncio.gather(*(load.file_report(h, c) for c in citizens))
    assert len(set(codes)) == 40
    latest = max([(await report_by(h, c)).red_at for c in codes])
    await _advance_to(h, latest)
    results = await asyncio.gather(h.tick(), *(load.file_report(h, c) for c in late))
    assert "oversight" in results[0]
    reds = [r for r in await _queued_reminders(h, "reminder-red")]
    assert len(reds) == 1 and reds[0].payload["count"] == 40
    assert len(await _queued_reminders(h, "escalation-red")) == 1
    async with h.sessionmaker() as s:
        lights = (await s.exec(select(Report.code, Report.light))).all()
    assert {code: light for code, light in lights if code in codes} == dict.fromkeys(codes,
                                                                                   "red")
    [text] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == PUPR_GROUP and "40 laporan melewati" in (
            c.text or ""), timeout=30)  # behind the 10 late reports' cards, albums and pins
    assert "dan 10 lainnya" in text.text  # 30 listed, the rest counted


def test_now_is_injected() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2026 and utcnow() != clock.now()


@pytest.mark.settings(OUTBOX_GROUP_PER_MINUTE=100000)
async def test_relit_cards_wait_behind_a_pics_messages(harness: Harness) -> None:
    """After a mass turn to red, a citizen's answer for the group goes out before the
    scheduler's card edits queued earlier: light edits never hold up the conversation."""
    h = harness
    await setup_groups(h)
    citizens = load.distinct_citizens(12)
    codes = await asyncio.gather(*(load.file_report(h, c) for c in citizens))
    latest = max([(await report_by(h, c)).red_at for c in codes])
    await h.fake.wait_for("sendLocation", lambda c: c.chat_id == PUPR_GROUP, count=12)
    await h.restart(worker=False)  # nothing is delivered until the worker starts below
    await _advance_to(h, latest)
    await h.tick()
    mark = h.fake.mark()
    await h.say(citizens[0], f"/balas {codes[0]} Lubangnya makin besar", replies=1)
    app = h.app
    assert app is not None
    app.tasks.append(asyncio.create_task(app.worker.run(), name="outbox"))
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == PUPR_GROUP, count=12,
                          since=mark)
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                          and "makin besar" in (c.text or ""), since=mark)
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.chat_id == str(PUPR_GROUP)))).all()
    relit = [r for r in rows if r.kind == "relight_card"]
    [relay] = [r for r in rows if "makin besar" in (r.payload.get("text") or "")]
    assert len(relit) == 12 and relay.id > max(r.id for r in relit)  # queued after them
    sent = [r.sent_at for r in relit if r.status == "sent"]
    assert sent and relay.sent_at is not None and relay.sent_at < min(sent)  # sent before


async def test_housekeeping_purges_old_inbox_and_outbox_rows(harness: Harness) -> None:
    """Processed updates and delivered messages past their retention go; parked messages,
    recent rows and unprocessed updates stay."""
    from models.tables import Inbox

    h = harness
    citizen = new_user()
    await h.say(citizen, "/start")
    old = utcnow() - timedelta(days=40)
    async with h.sessionmaker() as s:
        s.add(JobLease(name="chat:telegram:42", last_run_at=old))  # an idle chat's lease
        s.add(JobLease(name="chat:telegram:43", holder="w", lease_until=utcnow()))  # held
        for status in ("sent", "superseded", "parked", "undeliverable", "pending"):
            s.add(Outbox(chat_id="1", kind="text", payload={"text": status}, status=status,
                         created_at=old))
        for i, status in enumerate(("done", "failed", "new")):
            s.add(Inbox(channel="telegram", update_key=f"old-{i}", chat_key="1", payload={},
                        status=status, received_at=old))
        await s.commit()
    app = h.app
    assert app is not None and app.scheduler is not None
    assert "housekeeping" in await app.scheduler.run_due()
    async with h.sessionmaker() as s:
        kept = {r.payload.get("text") for r in (await s.exec(select(Outbox))).all()}
        inbox = {r.update_key: r.status for r in (await s.exec(select(Inbox))).all()}
    assert {"parked", "undeliverable", "pending"} <= kept
    assert not {"sent", "superseded"} & kept
    assert "old-2" in inbox and "old-0" not in inbox and "old-1" not in inbox
    async with h.sessionmaker() as s:
        assert await s.get(JobLease, "chat:telegram:42") is None
        assert await s.get(JobLease, "chat:telegram:43") is not None
    assert any(k.isdigit() or not k.startswith("old") for k in inbox)  # today's /start stays


ADMIN_GROUP = -1009999000001


@pytest.mark.settings(ADMIN_CHAT_ID=ADMIN_GROUP)
async def test_done_when_a_week_goes_by(harness: Harness) -> None:
    """The issue's "done when", as a new user would try it with the clock moved forward: a
    report turns yellow then red on its card, the group is reminded once, the admin group gets
    the escalation, Monday's digest arrives with its chart, and /rapor ranks the OPDs."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card_id = (await card_of(h, PUPR_GROUP, code)).result["message_id"]
    report = await report_by(h, code)

    await _advance_to(h, report.yellow_at)
    await h.tick()
    await card_showing(h, PUPR_GROUP, card_id, "🟡")
    await _advance_to(h, report.red_at)
    mark = h.fake.mark()
    await h.tick()
    await card_showing(h, PUPR_GROUP, card_id, "🔴")
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_GROUP
                          and "Eskalasi" in (c.text or "") and code in (c.text or ""),
                          since=mark)
    for _ in range(2):
        h.clock.advance(timedelta(hours=6))
        await h.tick()
    group = [c.text or "" for c in h.fake.calls if c.chat_id == PUPR_GROUP
             and c.method == "sendMessage"]
    assert sum("mendekati batas" in t for t in group) == 1
    assert sum("melewati batas" in t for t in group) == 1

    # The next Monday, 07:00 in Jakarta: the week's report card and its chart, once.
    now = h.clock.now().astimezone(WIB)
    monday = (now + timedelta(days=7 - now.weekday())).replace(hour=7, minute=0, second=30)
    h.clock.advance(monday - h.clock.now())
    mark = h.fake.mark()
    assert "weekly_digest" in await h.tick()
    [digest] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_GROUP
                                     and "Rapor OPD" in (c.text or ""), since=mark, timeout=30)
    assert digest.params.get("parse_mode") == "HTML" and "PUPR" in digest.text
    [chart] = await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == ADMIN_GROUP,
                                    since=mark, timeout=30)
    await h.restart()
    h.clock.advance(timedelta(hours=1))
    assert "weekly_digest" not in await h.tick()

    # /rapor ranks the OPDs by the documented score.
    mark = h.fake.mark()
    await h.say(ADMIN_ID, "/rapor bulan", replies=1)
    [table] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID
                                    and "Rapor OPD" in (c.text or ""), since=mark, timeout=30)
    assert "PUPR" in table.text and "40×T" in table.text
