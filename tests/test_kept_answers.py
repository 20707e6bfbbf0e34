"""Handlers that change state keep their answer in the same commit as the change and the
update's flip (handlers/telegram/render.py `keep`); `inbox.save_late` is only the fallback of
a handler that committed first. Many people at once, on SQLite and PostgreSQL, with the crash
of tests/test_durable_answers.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from handlers import lifecycle
from handlers.telegram.callbacks import FeedbackCb
from handlers.telegram.render import keep
from models import inbox, repo
from models.domain import Status
from models.tables import Category, Inbox, Report, ReportEvent
from tests.conftest import Harness, new_user
from tests.test_agency_groups import PIC_A, PUPR_GROUP, admin_in_group, buttons_of, setup_groups
from tests.test_durable_answers import crash, kept_answers, until

CROWD = 20


@pytest.fixture
def late_saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every `inbox.save_late` call (the real one runs), by inbox id."""
    calls: list[int] = []
    real = inbox.save_late

    async def counted(session: Any, claim: inbox.Claim, items: list[dict[str, Any]]) -> None:
        calls.append(claim.inbox_id)
        await real(session, claim, items)

    monkeypatch.setattr(inbox, "save_late", counted)
    return calls


async def make_reports(h: Harness, citizens: list[int], status: Status | None = None
                       ) -> list[tuple[int, str]]:
    """A report of each citizen's, dispatched to PUPR (its card queued); with `status`, put
    there directly instead (nothing queued). (report id, code) each."""
    assert h.app is not None and h.app.deps is not None
    out = []
    async with h.sessionmaker() as s:
        opd = await repo.opd_by_code(s, "PUPR")
        assert opd is not None
        cat = (await s.exec(select(Category).where(Category.opd_id == opd.id))).first()
        assert cat is not None
        for user in citizens:
            citizen, _ = await repo.upsert_citizen(s, "telegram", str(user), language="id")
            await s.flush()
            report = Report(code="", channel="telegram", citizen_id=citizen.id or 0,
                            category_id=cat.id or 0, opd_id=opd.id or 0,
                            description="Jalan berlubang besar sekali", latitude=0.4,
                            longitude=101.85)
            report = await repo.create_report(s, report, [], prefix="ADU", actor_id=str(user),
                                              actor_name=None)
            if status is None:
                await lifecycle.dispatch(s, h.app.deps, report)
            else:
                report.status = status.value
                s.add(report)
            out.append((report.id or 0, report.code))
        await s.commit()
    h.app.worker.wake()
    return out


async def test_save_late_keeps_answers_of_many_updates_committed_first(harness: Harness
                                                                         ) -> None:
    """The fallback: twenty updates whose flip committed without their answer, handled at
    once; each answer is then written to its own row, and the restart's sweep finds each
    once. Before the flip, the same call writes the answer with it (no statement of its
    own)."""
    h = harness
    chats = [str(new_user()) for _ in range(CROWD)]
    async with h.sessionmaker() as s:
        ids = await inbox.record(s, "telegram", [(f"late-{c}", c, {}) for c in chats])
        await s.commit()

    async def late(chat: str) -> None:
        async with h.sessionmaker() as s:
            claim = inbox.Claim(ids[f"late-{chat}"])
            inbox.attach(s, claim)
            await s.commit()  # the handler's commit: the update is done, nothing kept
            assert claim.done and not claim.answer_saved
            assert await keep(s, [{"chat": chat, "payload": {"text": f"to {chat}"}}])
            await s.commit()
            assert claim.answer_saved

    await asyncio.gather(*(late(c) for c in chats))
    assert await kept_answers(h) == CROWD

    async with h.sessionmaker() as s:  # the stash path: one commit, the flip carries it
        ids.update(await inbox.record(s, "telegram", [("early", "-1001", {})]))
        await s.commit()
        claim = inbox.Claim(ids["early"])
        inbox.attach(s, claim)
        assert await keep(s, [{"chat": "-1001", "payload": {"text": "early"}}], whole=True)
        assert not await keep(s, [{"chat": "-1001", "payload": {"text": "more"}}])  # whole
        await s.commit()
        assert claim.done and claim.answer_saved
        row = await s.get(Inbox, ids["early"])
        assert row is not None and row.status == "done"
        assert row.answer == [{"chat": "-1001", "payload": {"text": "early"}}]

    async with h.sessionmaker() as s:
        taken = await inbox.take_unsent(s, "telegram", None)
        await s.commit()
    assert sorted(items[0]["payload"]["text"] for _, items in taken) == sorted(
        [f"to {c}" for c in chats] + ["early"])
    assert await kept_answers(h) == 0


@pytest.mark.settings(OUTBOX_GROUP_PER_MINUTE=100000)  # 20 cards, prompts, answers
async def test_twenty_pics_at_once_answers_kept_with_their_commit(harness: Harness,
                                                                  late_saves: list[int]
                                                                  ) -> None:
    """Twenty PICs registered by an admin, then each presses 'ask for info' on a card and
    answers the prompt, all at once: every prompt and every answer is written with the
    commit that decides it (no late save), each arrives once, and none stays kept."""
    h = harness
    await setup_groups(h)
    pics = [new_user() for _ in range(CROWD)]
    for pic in pics:
        assert "ditambahkan" in await admin_in_group(h, PUPR_GROUP, f"/pic_add PUPR {pic}")
    citizens = [new_user() for _ in range(CROWD)]
    reports = await make_reports(h, citizens)
    cards: dict[str, Any] = {}

    def sent_cards() -> dict[str, Any]:
        for c in h.fake.calls:
            if c.ok and c.method == "sendMessage" and c.chat_id == PUPR_GROUP \
                    and c.params.get("reply_markup"):
                for _, code in reports:
                    if code in (c.text or "") and "info" in buttons_of(c.params["reply_markup"]):
                        cards.setdefault(code, c)
        return cards

    await until(h, lambda: len(sent_cards()) == CROWD, timeout=60)

    mark = h.fake.mark()
    for pic, (_, code) in zip(pics, reports, strict=True):
        card = cards[code]
        h.fake.push_update(h.fake.make_callback(
            PUPR_GROUP, pic, buttons_of(card.params["reply_markup"])["info"],
            card.result["message_id"], chat_type="supergroup", first_name="Pic"))

    def prompts() -> dict[str, Any]:
        return {code: c for c in h.fake.calls[mark:]
                if c.ok and c.method == "sendMessage" and c.chat_id == PUPR_GROUP
                and "pertanyaan untuk pelapor" in (c.text or "")
                for _, code in reports if code in (c.text or "")}

    await until(h, lambda: len(prompts()) == CROWD, timeout=60)
    asked = prompts()
    mark = h.fake.mark()
    for pic, citizen, (_, code) in zip(pics, citizens, reports, strict=True):
        h.fake.push_update(h.fake.make_message(
            PUPR_GROUP, pic, f"Di mana persisnya, {citizen}?", chat_type="supergroup",
            title="OPD", reply_to_message_id=asked[code].result["message_id"]))

    def done() -> tuple[int, set[int]]:
        told = [c for c in h.fake.calls[mark:] if c.ok and c.method == "sendMessage"
                and c.chat_id == PUPR_GROUP and c.text == "Pertanyaan dikirim ke pelapor."]
        heard = {int(c.chat_id) for c in h.fake.calls[mark:] if c.ok
                 and c.method == "sendMessage" and int(c.chat_id) in citizens
                 and f"Di mana persisnya, {c.chat_id}?" in (c.text or "")}
        return len(told), heard

    await until(h, lambda: done() == (CROWD, set(citizens)), timeout=60)
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    assert done() == (CROWD, set(citizens))  # each once
    assert late_saves == []
    assert await kept_answers(h) == 0
    async with h.sessionmaker() as s:
        statuses = (await s.exec(select(Report.status).where(
            col(Report.id).in_([rid for rid, _ in reports])))).all()
    assert statuses == [Status.NEED_INFO.value] * CROWD


async def test_feedback_answers_survive_a_crash(harness: Harness, late_saves: list[int]
                                                ) -> None:
    """Twenty citizens rate their resolved reports at once; each rating commits with its
    answer, and the process dies with every answer still on its way. After the restart each
    citizen gets the answer once, and no report was closed twice."""
    h = harness
    citizens = [new_user() for _ in range(CROWD)]
    reports = await make_reports(h, citizens, Status.RESOLVED)
    assert h.app is not None
    asked = {}
    for citizen in citizens:  # the message carrying the buttons, as the outbox sends it
        asked[citizen] = (await h.app.bot.send_message(citizen, "Sudah selesai?")).message_id
    mark = h.fake.mark()
    h.fake.hang_next("sendMessage", 120, times=CROWD)
    for citizen, (rid, _) in zip(citizens, reports, strict=True):
        h.fake.push_update(h.fake.make_callback(citizen, citizen,
                                                FeedbackCb(r=rid, a="5").pack(),
                                                asked[citizen]))

    def held() -> list[Any]:
        return [c for c in h.fake.calls[mark:] if c.pending and c.method == "sendMessage"]

    await until(h, lambda: len(held()) == CROWD)
    expected = {int(c.chat_id): c.text for c in held()}
    assert set(expected) == set(citizens)
    assert set(expected.values()) == {"Terima kasih atas penilaian Anda. Laporan ditutup."}
    await crash(h)
    h.fake.clear_faults()
    restart = h.fake.mark()
    await h.start()

    def delivered() -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for c in h.fake.calls[restart:]:
            if c.ok and c.method == "sendMessage" and int(c.chat_id) in expected:
                out.setdefault(int(c.chat_id), []).append(c.text or "")
        return out

    await until(h, lambda: len(delivered()) == CROWD)
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    await h.app.worker.step()  # type: ignore[union-attr]
    assert delivered() == {u: [expected[u]] for u in citizens}
    assert late_saves == []
    async with h.sessionmaker() as s:
        closed = (await s.exec(select(ReportEvent.report_id, func.count()).where(
            col(ReportEvent.report_id).in_([rid for rid, _ in reports]),
            ReportEvent.to_status == Status.CLOSED.value).group_by(
            col(ReportEvent.report_id)))).all()
        ratings = (await s.exec(select(Report.rating).where(
            col(Report.id).in_([rid for rid, _ in reports])))).all()
    assert sorted(n for _, n in closed) == [1] * CROWD
    assert ratings == [5] * CROWD


@pytest.mark.settings(OUTBOX_GROUP_PER_MINUTE=100000)
async def test_a_pic_answer_survives_a_crash(harness: Harness, late_saves: list[int]) -> None:
    """A PIC answers the 'ask for info' prompt; the question commits with its answer to the
    PIC, and the process dies with that answer on its way. After the restart the PIC gets it
    once, and the citizen was asked once."""
    h = harness
    await setup_groups(h)
    citizen = new_user()
    [(rid, code)] = await make_reports(h, [citizen])
    [card] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == PUPR_GROUP and code in (c.text or "")
        and "info" in buttons_of(c.params.get("reply_markup") or {}), timeout=20)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(
        PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["info"],
        card.result["message_id"], chat_type="supergroup", first_name="Andi"))
    [prompt] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == PUPR_GROUP
        and "pertanyaan untuk pelapor" in (c.text or ""), since=mark, timeout=20)
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    mark = h.fake.mark()
    h.fake.hang_next("sendMessage", 120, chat_id=PUPR_GROUP)  # not the citizen's notice
    h.fake.push_update(h.fake.make_message(
        PUPR_GROUP, PIC_A, "Di sebelah mana?", chat_type="supergroup", title="OPD",
        reply_to_message_id=prompt.result["message_id"]))

    def held() -> list[Any]:
        return [c for c in h.fake.calls[mark:] if c.pending and c.method == "sendMessage"]

    await until(h, lambda: len(held()) == 1)
    assert held()[0].chat_id == PUPR_GROUP and held()[0].text == "Pertanyaan dikirim ke pelapor."
    await crash(h)
    h.fake.clear_faults()
    restart = h.fake.mark()
    await h.start()

    def told() -> list[Any]:
        return [c for c in h.fake.calls[restart:] if c.ok and c.method == "sendMessage"
                and c.text == "Pertanyaan dikirim ke pelapor."]

    await until(h, lambda: len(told()) == 1)
    await until(h, lambda: any(c.ok and c.chat_id == citizen and "Di sebelah mana?" in
                               (c.text or "") for c in h.fake.calls[mark:]))
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    await h.app.worker.step()  # type: ignore[union-attr]
    assert len(told()) == 1
    assert len([c for c in h.fake.calls[mark:] if c.ok and c.chat_id == citizen
                and "Di sebelah mana?" in (c.text or "")]) == 1
    assert late_saves == []
    async with h.sessionmaker() as s:
        asked = (await s.exec(select(func.count()).select_from(ReportEvent).where(
            ReportEvent.report_id == rid,
            ReportEvent.to_status == Status.NEED_INFO.value))).one()
    assert asked == 1
