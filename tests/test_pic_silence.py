"""The PIC side never goes silent: a reply to a card that cannot be forwarded to the citizen
(location, venue, contact, sticker, poll, dice, game…) is answered in the group, and nothing
is relayed."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, delete, select

from models.tables import MessageLink
from tests.conftest import Harness, new_user
from tests.test_agency_groups import PIC_A, PUPR_GROUP, card_of, file_report, setup_groups

POLL = {"id": "p1", "question": "Kapan?", "options": [
    {"text": "Besok", "voter_count": 0, "persistent_id": "a"},
    {"text": "Lusa", "voter_count": 0, "persistent_id": "b"}],
    "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
    "allows_multiple_answers": False, "allows_revoting": False, "members_only": False}
EXTRA: dict[str, dict[str, Any]] = {
    "dice": {"dice": {"emoji": "🎲", "value": 4}},
    "poll": {"poll": POLL},
    "game": {"game": {"title": "Tetris", "description": "x",
                      "photo": [{"file_id": "g", "file_unique_id": "g", "width": 1,
                                 "height": 1}]}},
}


async def test_unforwardable_replies_are_answered_in_the_group(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card_id = (await card_of(h, PUPR_GROUP, code)).result["message_id"]
    before = len(h.fake.texts(citizen))
    kinds: dict[str, dict[str, Any]] = {
        "location": {"location": (0.41, 101.86)},
        "venue": {"venue": {"location": {"latitude": 0.4, "longitude": 101.8},
                            "title": "Kantor", "address": "Jl. Lintas"}},
        "contact": {"contact": {"phone_number": "+62811111", "first_name": "Ani"}},
        "sticker": {"sticker": {"file_id": "st1", "file_unique_id": "st1", "type": "regular",
                                "width": 512, "height": 512, "is_animated": False,
                                "is_video": False}},
        "dice": {}, "poll": {}, "game": {},
    }
    for kind, kwargs in kinds.items():
        mark = h.fake.mark()
        update = h.fake.make_message(PUPR_GROUP, PIC_A, None, chat_type="supergroup",
                                     title="OPD", first_name="Andi",
                                     reply_to_message_id=card_id, **kwargs)
        update["message"].update(EXTRA.get(kind, {}))
        h.fake.push_update(update)
        [told] = await h.fake.wait_for(
            "sendMessage", lambda c: c.chat_id == PUPR_GROUP
            and "tidak bisa diteruskan" in (c.text or ""), since=mark,
            timeout=20)  # a shared 2-core machine under a full suite answers slowly
        assert told.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    # Nothing reached the citizen, and a text reply still does.
    assert len(h.fake.texts(citizen)) == before
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(PUPR_GROUP, PIC_A, "Baik, kami cek.",
                                           chat_type="supergroup", title="OPD",
                                           reply_to_message_id=card_id))
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == citizen
                          and "Baik, kami cek." in (c.text or ""), since=mark, timeout=20)


async def test_a_reply_to_a_card_not_linked_yet_reaches_the_citizen(harness: Harness) -> None:
    """The outbox links a card to its report just after sending it, so a quick PIC can reply
    before that link is committed (or the process died in between): the reply still reaches
    the citizen, by the card's own buttons, in the report's own group."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card_id = (await card_of(h, PUPR_GROUP, code)).result["message_id"]

    async def card_links() -> list[MessageLink]:
        async with h.sessionmaker() as s:
            return list((await s.exec(select(MessageLink).where(
                MessageLink.chat_id == PUPR_GROUP, MessageLink.message_id == card_id))).all())

    async with asyncio.timeout(20):  # the outbox's commit after the send
        while not await card_links():
            await h.fake.wait_changed(h.fake.version, 0.05)
    async with h.sessionmaker() as s:  # back to the moment before that commit
        await s.exec(delete(MessageLink).where(  # type: ignore[call-overload]
            col(MessageLink.chat_id) == PUPR_GROUP, col(MessageLink.message_id) == card_id))
        await s.commit()
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(PUPR_GROUP, PIC_A, "Segera kami tinjau.",
                                           chat_type="supergroup", title="OPD",
                                           reply_to_message_id=card_id))
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == citizen
                          and "Segera kami tinjau." in (c.text or ""), since=mark, timeout=20)
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    assert not [c for c in h.fake.calls[mark:] if c.chat_id == PUPR_GROUP
                and c.method == "sendMessage"]  # no "this leads to no report"
