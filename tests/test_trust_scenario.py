"""Issue 11's "done when", tried as a new deployment would, through the real bot on SQLite and
PostgreSQL: with operator verification and NIK required, a citizen files a confidential report
with a geotagged photo; an operator verifies it; the OPD sees no identity and no location
metadata; a second citizen at the same pin follows it instead of filing again; a report in
Kecamatan Bunut goes to its district office."""

from __future__ import annotations

import re

import pytest
from sqlmodel import func, select

from models import repo
from models.domain import Status
from models.tables import Citizen, Follower, Report
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_agency_groups import PUPR_GROUP, admin_in_group, card_of, setup_groups
from tests.test_intake_core import IPTC, XMP, _segment, _with_segments
from tests.test_intake_telegram import category_id
from tests.test_privacy import NAME, NIK, group_traffic, leaks, press, say, tr
from tests.test_verification import OPERATOR, OPS, grant_operator, op_card, op_press, vbuttons

BUNUT_GROUP = -1001000000090
PIN = (0.40, 101.85)  # Pangkalan Kerinci: outside Kecamatan Bunut
BUNUT = (0.15, 102.15)  # inside the example seed's Kecamatan Bunut
SETTINGS = {"VERIFY_REPORTS": True, "OPERATOR_CHAT_ID": OPS, "MAX_REPORTS_PER_DAY": 0,
            "REQUIRE_NIK": True, "DUPLICATE_RADIUS_M": 150}
METADATA = (b"GPSLatitude", b"xap/1.0", b"Photoshop 3.0", b"Budi Santoso", b"TestCam", b"Exif")


def geotagged_photo() -> bytes:
    """A JPEG carrying a position in EXIF GPS and in an XMP packet, and a name in IPTC."""
    return _with_segments(jpeg_bytes("red", gps=True), _segment(0xE1, XMP),
                          _segment(0xED, IPTC))


async def to_location(h: Harness, user: int, category: str) -> None:
    await say(h, user, "/start")
    await press(h, user, "new")
    await press(h, user, "cat", str(await category_id(h, category)))
    await say(h, user, "Jalan berlubang besar di depan SD 003, sudah dua minggu.")
    fid = h.fake.add_file(geotagged_photo(), file_path=f"photos/g{user}.jpg")
    await say(h, user, photo=fid)
    await press(h, user, "done")


async def confidential_with_nik(h: Harness, user: int) -> str:
    """From the identity question to the ticket: confidential, no phone, the NIK typed."""
    actions = [b.split(":")[1] for b in h.buttons(user)]
    assert "anon" not in actions and "conf" in actions  # NIK required: no anonymous
    await press(h, user, "conf")
    texts = await say(h, user, "lewati", replies=2)
    assert tr("ask-nik") in texts[-1]
    texts = await say(h, user, NIK)
    assert NIK not in texts[0] and "0001" in texts[0]
    nonce = h.buttons(user)[0].split(":", 2)[2]
    texts = await press(h, user, "send", nonce)
    match = re.search(r"(ADU-[A-Z0-9]{4,})", texts[0])
    assert match, texts
    return match.group(1)


async def verify(h: Harness, code: str) -> None:
    card = await op_card(h, code)
    assert "Skor spam" in card.text
    answer = await op_press(h, OPERATOR, vbuttons(card.params["reply_markup"])["ok"],
                            card.result["message_id"])
    assert f"{code} diverifikasi" in answer


async def report_by(h: Harness, code: str) -> Report:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Report).where(Report.code == code))).one()


@pytest.mark.settings(**SETTINGS)
async def test_confidential_verified_followed_and_routed_by_area(harness: Harness) -> None:
    h = harness
    await setup_groups(h)
    assert "terhubung" in await admin_in_group(h, BUNUT_GROUP, "/opd_bind KEC_BUNUT")
    await grant_operator(h)

    # 1. A confidential report with NIK and a geotagged photo: held for the operators.
    first = new_user()
    await to_location(h, first, "jalan")
    texts = await say(h, first, location=PIN, replies=2)
    assert "Sudah dilaporkan?" not in texts[-1]  # nothing near yet
    code = await confidential_with_nik(h, first)
    report = await report_by(h, code)
    assert report.status == Status.RECEIVED and report.identity_mode == "confidential"
    assert not [c for c in h.fake.calls if c.chat_id == PUPR_GROUP and code in (c.text or "")]
    # The operators may know who reported (masked NIK); the photo they get is clean too.
    ops_card = await op_card(h, code)
    assert NAME in ops_card.text and NIK not in ops_card.text
    [ops_photo] = await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == OPS)
    _, data = ops_photo.upload("photo")  # type: ignore[misc]
    assert not [m for m in METADATA if m in data]

    # 2. Verified: dispatched to Dinas PUPR, where nothing identifies the reporter.
    await verify(h, code)
    opd_card = await card_of(h, PUPR_GROUP, code)
    assert tr("reporter-confidential") in opd_card.text
    [photo] = await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == PUPR_GROUP)
    _, data = photo.upload("photo")  # type: ignore[misc]
    assert data[:2] == b"\xff\xd8" and not [m for m in METADATA if m in data]
    assert leaks(group_traffic(h), first) == []
    assert (await report_by(h, code)).status == Status.DISPATCHED

    # 3. A second citizen 30 m away is offered the report and follows it: no second report.
    second = new_user()
    await to_location(h, second, "jalan")
    texts = await say(h, second, location=(PIN[0] + 0.00027, PIN[1]), replies=2)
    assert "Sudah dilaporkan?" in texts[-1] and code in texts[-1]
    mark = h.fake.mark()
    texts = await press(h, second, "follow", str(report.id))
    assert any(code in t for t in texts)
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == PUPR_GROUP
                          and "👥 1 warga mendukung" in (c.text or ""), since=mark)
    async with h.sessionmaker() as s:
        assert (await s.exec(select(func.count()).select_from(Report))).one() == 1
        follower = (await s.exec(select(Citizen).join(
            Follower, Follower.citizen_id == Citizen.id))).one()  # type: ignore[arg-type]
        assert follower.external_id == str(second)

    # 4. Rubbish in Kecamatan Bunut: verified, then to the district office, not to DLH.
    third = new_user()
    await to_location(h, third, "sampah")
    await say(h, third, location=BUNUT, replies=2)
    bunut_code = await confidential_with_nik(h, third)
    async with h.sessionmaker() as s:
        bunut = await repo.opd_by_code(s, "KEC_BUNUT")
    assert (await report_by(h, bunut_code)).opd_id == bunut.id  # type: ignore[union-attr]
    await verify(h, bunut_code)
    bunut_card = await card_of(h, BUNUT_GROUP, bunut_code)
    assert tr("reporter-confidential") in bunut_card.text
