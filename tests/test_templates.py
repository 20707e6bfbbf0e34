"""Response templates: managed with /templat in the OPD's group, offered on the card's prompts
and on a reply to the card; one tap answers the citizen through the same use case."""

from __future__ import annotations

from typing import Any

from handlers.templates import parse
from tests.conftest import ADMIN_ID, Harness, new_user
from tests.test_agency_groups import (
    OUTSIDER,
    PIC_A,
    PUPR_GROUP,
    buttons_of,
    card_of,
    current_buttons,
    file_report,
    group_say,
    report_by,
    setup_groups,
    wait_citizen,
)

ASK = "Mohon kirim foto dari jarak dekat dan patokan terdekat."
THANKS = "Terima kasih, tim kami akan memeriksa lokasi dalam 2 hari kerja."


async def group_cmd(h: Harness, user: int, text: str, **kwargs: Any) -> str:
    """A command in the PUPR group; returns the bot's answer there."""
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, user, text, **kwargs)
    [call] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP,
                                   since=mark)
    return call.text or ""


async def tap(h: Harness, user: int, data: str, message_id: int) -> Any:
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(PUPR_GROUP, user, data, message_id,
                                            chat_type="supergroup", first_name="Andi"))
    [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
    return answer


def template_buttons(call: Any) -> list[str]:
    return [b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"]
            for b in row]


def test_parse() -> None:
    assert parse("").action == "list"
    assert parse("PUPR").opd_code == "PUPR"
    cmd = parse("tambah Foto | Mohon kirim foto")
    assert (cmd.action, cmd.title, cmd.text, cmd.opd_code) == ("add", "Foto", "Mohon kirim foto",
                                                               None)
    assert parse("PUPR del 2").number == 2 and parse("PUPR del 2").opd_code == "PUPR"
    for bad in ("tambah tanpa garis", "tambah | teks", "hapus x", "hapus 0", "PUPR buang 1",
                "add " + "x" * 65 + " | teks"):
        try:
            parse(bad)
        except Exception as exc:  # noqa: BLE001
            assert str(exc) == "tpl-usage"
        else:
            raise AssertionError(bad)


async def test_templates_managed_offered_and_one_tap_answers(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)

    # Managed in the group by its PICs; malformed -> usage; an outsider is refused.
    assert "Templat jawaban" in await group_cmd(h, PIC_A, "/templat tambah")
    assert "disimpan" in await group_cmd(h, PIC_A, f"/templat tambah Minta foto | {ASK}")
    assert "Templat 2" in await group_cmd(h, PIC_A, f"/templates add Terima kasih | {THANKS}")
    assert "Hapus" not in await group_cmd(h, PIC_A, "/templat tambah Sementara | dihapus nanti")
    listed = await group_cmd(h, PIC_A, "/templat")
    assert "1. Minta foto" in listed and "3. Sementara" in listed
    assert "dihapus" in await group_cmd(h, PIC_A, "/templat hapus 3")
    assert "tidak punya templat nomor 9" in await group_cmd(h, PIC_A, "/templat hapus 9")
    assert "Hanya PIC PUPR" in await group_cmd(h, OUTSIDER, "/templat tambah X | yy")
    # An admin names the OPD from a private chat; a citizen there is refused.
    answer = await h.say(ADMIN_ID, "/templat PUPR")
    assert "2. Terima kasih" in answer[0] and "3." not in answer[0]
    assert "hanya untuk admin" in (await h.say(citizen, "/templat"))[0]
    assert "tidak ditemukan" in (await h.say(ADMIN_ID, "/templat NOPE"))[0]

    # The ask-info prompt comes with the templates as buttons; one tap asks the citizen.
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    card_id = card.result["message_id"]
    mark = h.fake.mark()
    await tap(h, PIC_A, buttons_of(card.params["reply_markup"])["info"], card_id)
    [offer] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                    and "jawaban tersimpan" in (c.text or ""), since=mark)
    assert offer.params["reply_parameters"]["message_id"] == card_id
    first, second = template_buttons(offer)
    # Someone who is not a PIC cannot use them.
    refused = await tap(h, OUTSIDER, first, offer.result["message_id"])
    assert refused.params.get("show_alert")
    mark = h.fake.mark()
    answer = await tap(h, PIC_A, first, offer.result["message_id"])
    assert not answer.params.get("show_alert")
    asked = await wait_citizen(h, citizen, ASK, mark)
    assert code in asked.text
    assert (await report_by(h, code)).status == "need_info"
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == PUPR_GROUP
                          and "Minta foto" in (c.text or ""), since=mark)
    # A second tap on the same offer: the report moved on, nothing is sent again.
    mark = h.fake.mark()
    again = await tap(h, PIC_A, second, offer.result["message_id"])
    assert again.params.get("show_alert")
    assert not [c for c in h.fake.calls[mark:] if c.chat_id == citizen]

    # A reply to the card with /templat offers them for a plain answer to the citizen.
    await h.say(citizen, f"/balas {code} Ini patokannya: depan masjid.")
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, PIC_A, "/templat", reply_to_message_id=card_id)
    [offer] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                    and "dikirim ke pelapor" in (c.text or ""), since=mark)
    mark = h.fake.mark()
    await tap(h, PIC_A, template_buttons(offer)[1], offer.result["message_id"])
    relayed = await wait_citizen(h, citizen, THANKS, mark)
    assert "Dinas Pekerjaan Umum" in relayed.text

    # The resolve prompt offers them too (a proof photo is required here: the tap is told).
    buttons = current_buttons(h, PUPR_GROUP, card_id)
    mark = h.fake.mark()
    await tap(h, PIC_A, buttons["resolve"], card_id)
    [offer] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                    and "jawaban tersimpan" in (c.text or ""), since=mark)
    answer = await tap(h, PIC_A, template_buttons(offer)[1], offer.result["message_id"])
    assert "foto bukti" in answer.params["text"]
    assert (await report_by(h, code)).status == "in_progress"
