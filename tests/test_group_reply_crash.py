"""A PIC's answer to a prompt survives a crash while its proof photo downloads: the update is
not marked done before its effect commits, so the next start processes it again (seen in the
multi-worker kill test: a worker killed during the download left the reply done and the
report unresolved, the PIC's resolution lost)."""

from __future__ import annotations

from sqlmodel import select

from models.db import make_engine, make_sessionmaker
from models.tables import Attachment, Inbox
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_agency_groups import (
    PIC_A,
    PUPR_GROUP,
    buttons_of,
    card_of,
    file_report,
    group_press,
    group_say,
    report_by,
    setup_groups,
    wait_citizen,
)
from tests.test_durable_answers import crash, until


async def test_proof_photo_reply_survives_a_crash_during_its_download(
        harness: Harness) -> None:
    """Resolve pressed, the prompt answered with a proof photo whose download hangs; the
    process dies then. After the restart the reply is processed again: the report is
    resolved once, with its note and one proof photo, and the citizen is asked once."""
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    card_id = card.result["message_id"]
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["take"],
                      card_id)
    await h.fake.wait_for("editMessageText", lambda c: c.params.get("message_id") == card_id
                          and "Sedang ditangani" in (c.text or ""), since=mark)
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(
        h.fake.message(PUPR_GROUP, card_id)["reply_markup"])["resolve"], card_id)
    [prompt] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                     and "catatan penyelesaian" in (c.text or ""), since=mark)
    proof = h.fake.add_file(jpeg_bytes("gray"), file_path="photos/proof.jpg")
    h.fake.hang_next("getFile", 120)
    mark = h.fake.mark()
    reply = await group_say(h, PUPR_GROUP, PIC_A, photo=proof, caption="Sudah ditambal.",
                            reply_to_message_id=prompt.result["message_id"])
    await until(h, lambda: any(c.pending and c.method == "getFile"
                               for c in h.fake.calls[mark:]))
    await crash(h)  # the process dies while the proof photo downloads
    h.fake.clear_faults()
    engine = make_engine(h.settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            waiting = (await s.exec(select(Inbox).where(Inbox.status != "done"))).all()
    finally:
        await engine.dispose()
    # The reply is still to do (it was marked done before its effect, and lost, before).
    assert [(r.chat_key, r.payload["message"]["message_id"]) for r in waiting] == \
        [(str(PUPR_GROUP), reply["message_id"])]

    await h.start()
    done = await wait_citizen(h, citizen, "Sudah selesai?", mark)
    assert "Sudah ditambal." in done.text
    report = await report_by(h, code)
    assert report.status == "resolved" and report.resolution_note == "Sudah ditambal."
    async with h.sessionmaker() as s:
        proofs = (await s.exec(select(Attachment).where(
            Attachment.report_id == report.id, Attachment.kind == "proof"))).all()
    assert len(proofs) == 1
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    asked = [c for c in h.fake.calls[mark:] if c.ok and c.chat_id == citizen
             and "Sudah selesai?" in (c.text or "")]
    assert len(asked) == 1
