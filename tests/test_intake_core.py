"""Layer 1: the transport-neutral intake driven with plain events on a real SQLite file."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import update
from sqlmodel import col, func, select

from handlers import intake as intake_module
from handlers.i18n import Tr, Translator
from handlers.intake import (
    Button,
    Command,
    Event,
    Intake,
    IntakeConfig,
    Location,
    Media,
    Step,
    Text,
    Turn,
    _media_kind,
)
from handlers.replies import Reply
from models import repo
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import utcnow
from models.media import GPS_IFD, MediaRejected, MediaStore
from models.seed import load_seed
from models.tables import Attachment, Category, Citizen, Draft, Report, ReportEvent
from tests.conftest import jpeg_bytes

SEED = Path(__file__).resolve().parent.parent / "deploy" / "seed.example.toml"
WIB = ZoneInfo("Asia/Jakarta")
ADDRESS = "Jalan Lintas Timur, Pangkalan Kerinci, Pelalawan"
PELALAWAN = (-0.95, 101.25, 0.55, 103.15)
DESCRIPTION = "Jalan berlubang besar di depan SD 003, sudah dua minggu."


def identity_prompt(t: Tr) -> str:
    """The identity question with every mode allowed (the default IDENTITY_MODES)."""
    return "\n".join([t("ask-identity-modes")] + [
        t(f"identity-explain-{m}") for m in ("named", "confidential", "anonymous")])


def joined(*texts: str) -> str:
    """One message per step: an acknowledgement folded in front of the message after it."""
    return "\n\n".join(texts)


class AddressGeocoder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    async def reverse(self, latitude: float, longitude: float) -> str | None:
        self.calls.append((latitude, longitude))
        return ADDRESS


class BrokenGeocoder:
    async def reverse(self, latitude: float, longitude: float) -> str | None:
        raise TimeoutError("geocoder did not answer")


@dataclass
class Env:
    """An Intake over a migrated, seeded SQLite file and one citizen; `say` runs one turn."""

    intake: Intake
    sessionmaker: Any
    citizen: Citizen
    media_root: Path
    t: Tr
    files: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, media: Media) -> bytes:
        self.fetched.append(media.ref)
        return self.files[media.ref]

    async def say(self, event: Event, intake: Intake | None = None) -> list[Reply]:
        async with self.sessionmaker() as session:
            replies = await (intake or self.intake).handle(
                session, Turn(self.citizen, profile_name="Budi Santoso"), event, self.fetch
            )
        return [r for r in replies if r.text]

    async def category_id(self, code: str) -> str:
        async with self.sessionmaker() as session:
            category = await repo.category_by_code(session, code)
            assert category is not None
            return str(category.id)

    async def draft(self) -> Draft | None:
        async with self.sessionmaker() as session:
            return await repo.load_draft(session, "telegram", self.citizen.external_id)

    async def reports(self) -> list[Report]:
        async with self.sessionmaker() as session:
            rows = await session.exec(select(Report).where(Report.citizen_id == self.citizen.id))
            return list(rows.all())

    def photo(self, ref: str, data: bytes | None = None, **kwargs: Any) -> Media:
        self.files[ref] = jpeg_bytes() if data is None else data
        return Media("photo", ref, len(self.files[ref]), "image/jpeg", **kwargs)

    def with_config(self, **config: Any) -> Intake:
        return Intake(self.intake.translator, self.intake.media, self.intake.geocoder,
                      IntakeConfig(tz=WIB, **config))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'aduan.db'}")
    await migrate(engine)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session:
        await load_seed(session, SEED)
        citizen, created = await repo.upsert_citizen(
            session, "telegram", "424242", language="id", display_name="Budi Santoso"
        )
        await session.commit()
    assert created
    translator = Translator()
    intake = Intake(translator, MediaStore(tmp_path / "media"), AddressGeocoder(),
                    IntakeConfig(tz=WIB))
    yield Env(intake, sessionmaker, citizen, tmp_path / "media", translator.bind("id"))
    await engine.dispose()


async def to_step(env: Env, code: str, step: Step) -> None:
    """Walk a new draft of category `code` to `step` by the shortest valid answers."""
    await env.say(Command("lapor"))
    if step is Step.CATEGORY:
        return
    await env.say(Button("cat", await env.category_id(code)))
    if step is Step.DESCRIPTION:
        return
    await env.say(Text(DESCRIPTION))
    if step is Step.MEDIA:
        return
    await env.say(env.photo("p-walk"))
    await env.say(Button("done"))
    if step is Step.LOCATION:
        return
    await env.say(Location(0.40, 101.85))
    if step is Step.IDENTITY:
        return
    await env.say(Button("anon"))
    assert step is Step.SUMMARY


async def assert_step(env: Env, step: Step) -> Draft:
    draft = await env.draft()
    assert draft is not None and draft.step == step.value
    return draft


# ---- the happy path -----------------------------------------------------------------------


async def test_happy_path_ends_in_one_report(env: Env) -> None:
    t = env.t
    replies = await env.say(Command("lapor"))
    assert replies[-1].text.startswith(t("ask-category-page", page=1, pages=2))
    buttons = [c.action for row in replies[-1].choices for c in row]
    assert "cat" in buttons and "cancel" in buttons

    replies = await env.say(Button("cat", await env.category_id("jalan")))
    assert [r.text for r in replies] == [joined(
        t("category-chosen", category="Jalan rusak / berlubang"),
        t("ask-description", min=10, max=2000),
    )]
    replies = await env.say(Text(DESCRIPTION))
    assert [r.text for r in replies] == [
        joined(t("description-saved"), t("ask-media-required", max=5))]
    assert "skip" not in [c.action for row in replies[-1].choices for c in row]

    replies = await env.say(env.photo("photo-1", jpeg_bytes("blue", gps=True)))
    assert [r.text for r in replies] == [t("media-saved", count=1, max=5)]
    assert env.fetched == ["photo-1"]

    replies = await env.say(Button("done"))
    assert [r.text for r in replies] == [t("ask-location-required")]
    assert replies[0].request == "location" and replies[0].skip_label is None

    replies = await env.say(Location(0.40, 101.85))
    # Not folded: the acknowledgement removes the location keyboard, which Telegram cannot do
    # in the message that carries the identity buttons.
    assert [r.text for r in replies] == [t("location-saved", place=ADDRESS), identity_prompt(t)]
    assert replies[0].remove_keyboard  # the location keyboard goes with the acknowledgement
    assert env.intake.geocoder.calls == [(0.40, 101.85)]  # type: ignore[attr-defined]

    replies = await env.say(Button("anon"))
    [summary] = replies
    assert summary.text.startswith(joined(t("identity-anonymous"), ""))
    assert "Jalan rusak / berlubang" in summary.text and DESCRIPTION in summary.text
    assert ADDRESS in summary.text and t("summary-anonymous") in summary.text
    send = summary.choices[0][0]
    assert send.action == "send" and send.arg == (await env.draft()).data["nonce"]  # type: ignore[union-attr]

    replies = await env.say(Button("send", send.arg))
    [report] = await env.reports()
    assert [r.text for r in replies] == [
        joined(t("report-received", code=report.code), t("menu-prompt"))]
    assert replies[0].choices[0][0].action == "new"  # no reply keyboard is up here
    assert report.code.startswith("ADU-") and report.status == "received"
    assert report.description == DESCRIPTION and report.anonymous
    assert report.reporter_name is None and report.reporter_phone is None
    assert (report.latitude, report.longitude, report.address) == (0.40, 101.85, ADDRESS)
    assert report.draft_nonce == send.arg and report.language == "id"
    assert report.followup_due_at is not None and report.followup_due_at > utcnow()
    assert report.followup_due_at.astimezone(WIB).time().isoformat() == "23:59:59"
    assert report.resolve_due_at is not None and report.resolve_due_at > report.followup_due_at
    assert report.light == "green" and report.red_at == report.followup_due_at
    assert await env.draft() is None

    async with env.sessionmaker() as session:
        events = list(await repo.events_of(session, report.id))
        [attachment] = list(await repo.attachments_of(session, report.id))
        category = await session.get(Category, report.category_id)
    assert [(e.kind, e.to_status, e.actor_kind) for e in events] == [
        ("created", "received", "citizen")]
    assert events[0].actor_name is None  # anonymous: no name in the timeline either
    assert category is not None and report.opd_id == category.opd_id
    assert attachment.kind == "photo" and attachment.source_ref == "photo-1"
    stored = env.media_root / attachment.path
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == attachment.sha256
    with Image.open(stored) as img:
        assert GPS_IFD not in img.getexif()


async def test_named_reporter_and_failing_geocoder_keeps_coordinates(env: Env) -> None:
    intake = env.with_config()
    intake.geocoder = BrokenGeocoder()
    await to_step(env, "air", Step.LOCATION)  # water: location required, photo optional
    replies = await env.say(Location(0.412361, 101.856789), intake)
    assert [r.text for r in replies] == [
        env.t("location-saved", place="0.41236, 101.85679"), identity_prompt(env.t)]
    draft = await assert_step(env, Step.IDENTITY)
    assert draft.data["address"] is None and draft.data["latitude"] == 0.412361

    replies = await env.say(Button("name"))
    assert [r.text for r in replies] == [
        joined(env.t("identity-name", name="Budi Santoso"), env.t("ask-phone"))]
    await assert_step(env, Step.PHONE)
    replies = await env.say(Text("Lewati"))
    ack, summary = replies  # the acknowledgement removes the contact keyboard on its own
    assert ack.text == env.t("phone-skipped") and ack.remove_keyboard
    assert summary.choices[0][0].action == "send"
    draft = await assert_step(env, Step.SUMMARY)
    await env.say(Button("send", draft.data["nonce"]))
    [report] = await env.reports()
    assert report.address is None and report.latitude == 0.412361
    assert report.reporter_name == "Budi Santoso" and not report.anonymous


# ---- description --------------------------------------------------------------------------


async def test_description_bounds(env: Env) -> None:
    t = env.t
    await to_step(env, "jalan", Step.DESCRIPTION)
    before = await env.draft()
    assert before is not None

    for text, key, params in (
        ("x" * 9, "description-too-short", {"min": 10}),
        ("   " + "x" * 9 + "   ", "description-too-short", {"min": 10}),  # spaces do not count
        ("x" * 2001, "description-too-long", {"max": 2000, "length": 2001}),
    ):
        replies = await env.say(Text(text))
        assert [r.text for r in replies] == [t(key, **params)]
        after = await assert_step(env, Step.DESCRIPTION)
        assert after.data == before.data

    replies = await env.say(Text("x" * 10))
    assert [r.text for r in replies] == [
        joined(t("description-saved"), t("ask-media-required", max=5))]
    draft = await assert_step(env, Step.MEDIA)
    assert draft.data["description"] == "x" * 10


async def test_longest_description_is_accepted(env: Env) -> None:
    await to_step(env, "jalan", Step.DESCRIPTION)
    await env.say(Text("y" * 2000))
    draft = await assert_step(env, Step.MEDIA)
    assert draft.data["description"] == "y" * 2000


# ---- photos -------------------------------------------------------------------------------


async def test_required_photo_cannot_be_skipped(env: Env) -> None:
    t = env.t
    await to_step(env, "jalan", Step.MEDIA)
    for event in (Button("done"), Button("skip")):
        replies = await env.say(event)
        assert replies[0].text == t("media-required")
        await assert_step(env, Step.MEDIA)
    replies = await env.say(Text("Lewati"))
    assert [r.text for r in replies] == [
        joined(t("expect-media"), t("ask-media-required", max=5))]
    draft = await assert_step(env, Step.MEDIA)
    assert not draft.data.get("media")

    await env.say(env.photo("p1"))
    await env.say(Button("done"))
    await assert_step(env, Step.LOCATION)


async def test_optional_category_skips_photo_and_location(env: Env) -> None:
    t = env.t
    await to_step(env, "kesehatan", Step.DESCRIPTION)
    replies = await env.say(Text("Antrean puskesmas sangat lama, dokter tidak ada."))
    assert [r.text for r in replies] == [joined(t("description-saved"), t("ask-media", max=5))]
    assert "skip" in [c.action for row in replies[-1].choices for c in row]

    replies = await env.say(Button("skip"))
    assert replies[-1].text == t("ask-location")
    assert replies[-1].skip_label == t("btn-skip")
    replies = await env.say(Text("Lewati"))
    assert [r.text for r in replies] == [t("location-skipped"), identity_prompt(t)]
    await assert_step(env, Step.IDENTITY)

    await env.say(Text("Siti Aminah"))
    await env.say(Text("Lewati"))
    draft = await assert_step(env, Step.SUMMARY)
    replies = await env.say(Button("send", draft.data["nonce"]))
    [report] = await env.reports()
    assert report.latitude is None and report.address is None
    assert report.reporter_name == "Siti Aminah"
    async with env.sessionmaker() as session:
        assert not list(await repo.attachments_of(session, report.id))


async def test_required_location_cannot_be_skipped(env: Env) -> None:
    await to_step(env, "jalan", Step.LOCATION)
    replies = await env.say(Text("Lewati"))
    assert [r.text for r in replies] == [
        joined(env.t("location-required"), env.t("ask-location-required"))]
    assert replies[0].request == "location"
    await assert_step(env, Step.LOCATION)


# ---- location -----------------------------------------------------------------------------


async def test_location_outside_service_area_is_refused(env: Env) -> None:
    intake = env.with_config(service_area=PELALAWAN)
    await to_step(env, "jalan", Step.LOCATION)
    replies = await env.say(Location(-6.2, 106.8), intake)  # Jakarta
    assert [r.text for r in replies] == [
        joined(env.t("location-outside"), env.t("ask-location-required"))]
    assert replies[0].request == "location"
    draft = await assert_step(env, Step.LOCATION)
    assert "latitude" not in draft.data
    assert env.intake.geocoder.calls == []  # type: ignore[attr-defined]

    replies = await env.say(Location(0.40, 101.85), intake)
    assert [r.text for r in replies] == [
        env.t("location-saved", place=ADDRESS), identity_prompt(env.t)]
    await assert_step(env, Step.IDENTITY)


async def test_impossible_coordinates_are_refused(env: Env) -> None:
    await to_step(env, "jalan", Step.LOCATION)
    replies = await env.say(Location(95.0, 200.0))
    assert [r.text for r in replies] == [
        joined(env.t("location-invalid"), env.t("ask-location-required"))]
    assert replies[0].request == "location"
    await assert_step(env, Step.LOCATION)


# ---- drafts -------------------------------------------------------------------------------


def hours_later(monkeypatch: pytest.MonkeyPatch, hours: int) -> None:
    """The intake's clock moved on: the draft it saved (and keeps in its cache) is older."""
    monkeypatch.setattr(intake_module, "utcnow", lambda: utcnow() + timedelta(hours=hours))


async def test_draft_expires_after_ttl(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    await to_step(env, "jalan", Step.DESCRIPTION)
    hours_later(monkeypatch, 25)
    replies = await env.say(Text(DESCRIPTION))
    # the text is not taken as a description
    assert [r.text for r in replies] == [joined(env.t("draft-expired"), env.t("idle-hint"))]
    assert await env.draft() is None


async def test_draft_aged_in_the_database_expires_for_a_fresh_intake(env: Env) -> None:
    await to_step(env, "jalan", Step.DESCRIPTION)
    async with env.sessionmaker() as session:
        await session.execute(update(Draft).values(updated_at=utcnow() - timedelta(hours=25)))
        await session.commit()
    replies = await env.say(Text(DESCRIPTION), env.with_config())  # e.g. after a restart
    assert [r.text for r in replies] == [joined(env.t("draft-expired"), env.t("idle-hint"))]
    assert await env.draft() is None


async def test_tiny_ttl_expires_at_once(env: Env) -> None:
    intake = env.with_config(draft_ttl=timedelta(microseconds=1))
    await env.say(Command("lapor"), intake)
    replies = await env.say(Button("cat", await env.category_id("jalan")), intake)
    assert [r.text for r in replies] == [joined(env.t("draft-expired"), env.t("button-stale"))]
    assert await env.draft() is None


async def test_draft_within_ttl_is_kept(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    await to_step(env, "jalan", Step.DESCRIPTION)
    hours_later(monkeypatch, 23)
    replies = await env.say(Text(DESCRIPTION))
    assert [r.text for r in replies] == [
        joined(env.t("description-saved"), env.t("ask-media-required", max=5))]
    await assert_step(env, Step.MEDIA)


async def test_draft_aged_within_ttl_in_the_database_is_kept(env: Env) -> None:
    await to_step(env, "jalan", Step.DESCRIPTION)
    async with env.sessionmaker() as session:
        await session.execute(update(Draft).values(updated_at=utcnow() - timedelta(hours=23)))
        await session.commit()
    replies = await env.say(Text(DESCRIPTION), env.with_config())  # e.g. after a restart
    assert replies[0].text.startswith(joined(env.t("description-saved"), ""))
    await assert_step(env, Step.MEDIA)


async def test_send_twice_makes_one_report(env: Env) -> None:
    await to_step(env, "jalan", Step.SUMMARY)
    nonce = (await assert_step(env, Step.SUMMARY)).data["nonce"]
    first = await env.say(Button("send", nonce))
    second = await env.say(Button("send", nonce))
    [report] = await env.reports()
    assert [r.text for r in first] == [
        joined(env.t("report-received", code=report.code), env.t("menu-prompt"))]
    assert second[0].text == env.t("already-sent", code=report.code)
    assert second[0].alert == env.t("already-sent-alert")
    async with env.sessionmaker() as session:
        total = (await session.exec(select(func.count()).select_from(Report))).one()
        created = (await session.exec(
            select(func.count()).select_from(ReportEvent).where(
                col(ReportEvent.kind) == "created"))).one()
    assert (total, created) == (1, 1)


async def test_send_with_an_old_nonce_changes_nothing(env: Env) -> None:
    await to_step(env, "jalan", Step.SUMMARY)
    before = await assert_step(env, Step.SUMMARY)
    replies = await env.say(Button("send", "0123456789abcdef"))
    [reply] = replies  # the notice, then the summary again with the current nonce
    assert reply.text.startswith(joined(env.t("button-stale"), ""))
    assert reply.choices[0][0].arg == before.data["nonce"]
    after = await assert_step(env, Step.SUMMARY)
    assert after.data == before.data and await env.reports() == []


@pytest.mark.parametrize(
    ("step", "button"),
    [
        (Step.DESCRIPTION, Button("done")),
        (Step.DESCRIPTION, Button("anon")),
        (Step.MEDIA, Button("cat", "1")),
        (Step.MEDIA, Button("send", "x")),
        (Step.LOCATION, Button("done")),
        (Step.IDENTITY, Button("skip")),
        (Step.SUMMARY, Button("cat", "1")),
    ],
)
async def test_stale_button_in_wrong_step_changes_nothing(
    env: Env, step: Step, button: Button
) -> None:
    await to_step(env, "jalan", step)
    before = await assert_step(env, step)
    replies = await env.say(button)
    after = await assert_step(env, step)
    assert after.data == before.data
    assert replies[0].alert == env.t("button-stale-alert")
    assert await env.reports() == []


async def test_stale_button_without_a_draft_shows_the_menu(env: Env) -> None:
    replies = await env.say(Button("done"))
    assert replies[0].text == env.t("button-stale")
    assert await env.draft() is None


async def test_cancel_drops_the_draft(env: Env) -> None:
    await to_step(env, "jalan", Step.MEDIA)
    replies = await env.say(Command("batal"))
    assert [r.text for r in replies] == [env.t("cancelled"), env.t("menu-prompt")]
    assert replies[0].remove_keyboard  # its own message: a reply keyboard may be up
    assert await env.draft() is None
    replies = await env.say(Command("batal"))
    assert [r.text for r in replies] == [env.t("nothing-to-cancel")]


# ---- media kinds and the media store ------------------------------------------------------


@pytest.mark.parametrize(
    ("media", "kind"),
    [
        (Media("photo", "r"), "photo"),
        (Media("document", "r", 10, "image/jpeg", "foto.jpg"), "photo"),
        (Media("document", "r", 10, "image/png", None), "photo"),
        (Media("document", "r", 10, None, "IMG_0001.JPG"), "photo"),
        (Media("document", "r", 10, "application/octet-stream", "jalan.jpeg"), "photo"),
        (Media("document", "r", 10, "video/mp4", "clip.mp4"), "video"),
        (Media("video", "r"), "video"),
        (Media("animation", "r"), "video"),
        (Media("document", "r", 10, "application/pdf", "surat.pdf"), None),
        (Media("document", "r", 10, None, "data.zip"), None),
        (Media("voice", "r"), None),
        (Media("audio", "r"), None),
    ],
)
def test_media_kind(media: Media, kind: str | None) -> None:
    assert _media_kind(media) == kind


async def test_image_document_is_kept_as_photo_and_pdf_is_refused(env: Env) -> None:
    await to_step(env, "jalan", Step.MEDIA)
    env.files["pdf"] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    replies = await env.say(Media("document", "pdf", 16, "application/pdf", "surat.pdf"))
    assert replies[0].text == env.t("media-unsupported-type")
    assert env.fetched == []  # refused before downloading
    draft = await assert_step(env, Step.MEDIA)
    assert not draft.data.get("media")

    env.files["doc"] = jpeg_bytes("green")
    replies = await env.say(Media("document", "doc", len(env.files["doc"]), "image/jpeg",
                                  "foto.jpg"))
    assert replies[0].text == env.t("media-saved", count=1, max=5)
    draft = await assert_step(env, Step.MEDIA)
    assert [m["kind"] for m in draft.data["media"]] == ["photo"]


async def test_fake_jpg_document_is_refused(env: Env) -> None:
    await to_step(env, "jalan", Step.MEDIA)
    env.files["fake"] = b"MZ\x90\x00 this is not a picture at all"
    replies = await env.say(Media("document", "fake", 32, None, "foto.jpg"))
    assert replies[0].text == env.t("media-not-image")
    draft = await assert_step(env, Step.MEDIA)
    assert not draft.data.get("media")
    assert not any(p.is_file() for p in env.media_root.rglob("*"))


async def test_empty_and_failed_downloads_are_refused(env: Env) -> None:
    await to_step(env, "jalan", Step.MEDIA)
    replies = await env.say(Media("photo", "zero", 0, "image/jpeg"))
    assert replies[0].text == env.t("media-empty")
    replies = await env.say(Media("photo", "missing", 100, "image/jpeg"))  # fetch raises
    assert replies[0].text == env.t("media-download-failed")
    replies = await env.say(Media("video", "huge", 21 * 1024 * 1024, "video/mp4"))
    assert replies[0].text == env.t("media-too-big", limit=20)
    assert "huge" not in env.fetched
    draft = await assert_step(env, Step.MEDIA)
    assert not draft.data.get("media")


async def test_media_limit(env: Env) -> None:
    intake = env.with_config(max_media=2)
    await to_step(env, "jalan", Step.MEDIA)
    for i in range(2):
        replies = await env.say(env.photo(f"p{i}", jpeg_bytes(size=(10 + i, 10))), intake)
        assert replies[0].text == env.t("media-saved", count=i + 1, max=2)
    replies = await env.say(env.photo("p3"), intake)
    assert replies[0].text == env.t("media-limit", max=2)
    draft = await assert_step(env, Step.MEDIA)
    assert len(draft.data["media"]) == 2


def test_store_rejects_empty_and_non_images(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(MediaRejected) as info:
        store.store(b"", "photo", "image/jpeg", "ref")
    assert info.value.key == "media-empty"
    for junk in (b"not an image", b"\xff\xd8\xff\xe0 truncated jpeg", jpeg_bytes()[:40]):
        with pytest.raises(MediaRejected) as info:
            store.store(junk, "photo", "image/jpeg", "x.jpg")
        assert info.value.key == "media-not-image"
    assert not any(tmp_path.rglob("*.jpg"))


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """A JPEG with extra APPn/COM segments right after its start marker."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


XMP = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
       b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
       b"xmlns:exif='http://ns.adobe.com/exif/1.0/' exif:GPSLatitude='0,25.0S' "
       b"exif:GPSLongitude='101,50.0E'/></rdf:RDF></x:xmpmeta>")
IPTC = (b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x11"
        b"\x1c\x02\x50\x00\x0cBudi Santoso\x00")


def test_store_strips_every_kind_of_photo_metadata(tmp_path: Path) -> None:
    """EXIF (GPS and camera), an XMP packet with a GPS position, IPTC and a comment: all gone
    from what is stored (and so from what the OPD group is sent); the picture stays."""
    store = MediaStore(tmp_path)
    original = _with_segments(jpeg_bytes("red", gps=True), _segment(0xE1, XMP),
                              _segment(0xED, IPTC), _segment(0xFE, b"shot by Budi 0812"))
    with Image.open(io.BytesIO(original)) as img:
        assert GPS_IFD in img.getexif()  # the fixture really carries a location
    for needle in (b"GPSLatitude", b"Budi Santoso", b"shot by Budi", b"TestCam"):
        assert needle in original
    stored = store.store(original, "photo", "image/jpeg", "tg-file-id")
    data = store.path(stored.path).read_bytes()
    for needle in (b"GPSLatitude", b"xap/1.0", b"Photoshop 3.0", b"Budi", b"TestCam", b"Exif"):
        assert needle not in data, needle
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == (64, 48) and not img.getexif()
        assert img.getpixel((10, 10))[0] > 200  # still red
    assert stored.mime == "image/jpeg" and stored.source_ref == "tg-file-id"


def test_store_strips_png_text_and_keeps_orientation(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    store = MediaStore(tmp_path)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Budi Santoso")
    info.add_text("GPS", "-0.4167, 101.8333")
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "blue").save(out, "PNG", pnginfo=info)
    data = store.path(store.store(out.getvalue(), "photo", "image/png").path).read_bytes()
    assert b"Budi" not in data and b"101.8333" not in data
    # A phone photo held sideways (EXIF orientation 6) is stored upright, with no EXIF.
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = io.BytesIO()
    Image.new("RGB", (40, 20), "green").save(sideways, "JPEG", exif=exif.tobytes())
    upright = store.path(store.store(sideways.getvalue(), "photo", "image/jpeg").path)
    with Image.open(upright) as img:
        assert img.size == (20, 40) and not img.getexif()


def test_store_refuses_decompression_bombs(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    out = io.BytesIO()
    Image.new("L", (10_000, 6_000)).save(out, "PNG")  # 60 MP of black: a small file
    assert len(out.getvalue()) < 1_000_000
    with pytest.raises(MediaRejected) as info:
        store.store(out.getvalue(), "photo", "image/png")
    assert info.value.key == "media-image-huge"
    assert not any(tmp_path.rglob("*.png"))


def test_store_is_content_addressed(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    plain = jpeg_bytes("blue")
    first = store.store(plain, "photo", "image/jpeg", "a")
    kept_plain = store.path(first.path).read_bytes()  # re-encoded, pixels only
    digest = hashlib.sha256(kept_plain).hexdigest()
    assert first.sha256 == digest and first.size == len(kept_plain)
    assert first.path == f"{digest[:2]}/{digest}.jpg"
    again = store.store(plain, "photo", "image/jpeg", "b")  # the same photo: the same file
    assert again.path == first.path
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    # A stripped photo is addressed by the bytes actually kept.
    gps = store.store(jpeg_bytes("blue", gps=True), "photo", "image/jpeg")
    kept = store.path(gps.path).read_bytes()
    assert gps.sha256 == hashlib.sha256(kept).hexdigest() and gps.path.endswith(".jpg")
    clip = tiny_video(tmp_path) if shutil.which("ffmpeg") else b"\x00\x00\x00\x18ftypmp42"
    video = store.store(clip, "video", "video/mp4")
    assert video.path.endswith(".mp4") and video.kind == "video"
    assert store.store(clip, "video", "video/mp4").path == video.path  # remuxed alike
    assert not list(tmp_path.rglob("*.tmp"))


def tiny_video(tmp_path: Path, suffix: str = ".mp4", **metadata: str) -> bytes:
    """A one-second MP4 (or, with ".mov", a QuickTime file as iPhones make) made by ffmpeg,
    with the given container metadata."""
    out = tmp_path / f"clip-{uuid.uuid4().hex}{suffix}"
    tags = [x for k, v in metadata.items() for x in ("-metadata", f"{k}={v}")]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "color=c=red:s=64x48:d=1:r=5", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-shortest", "-c:v", "mpeg4",
                    "-c:a", "aac", *tags, str(out)], check=True, capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed here")
def test_store_strips_video_metadata(tmp_path: Path) -> None:
    """A phone video's location (ISO 6709 in the container's udta), title and author are gone
    from the stored copy; the streams are kept (copied, not re-encoded). A file ffmpeg cannot
    read as a video is refused politely and nothing is stored."""
    store = MediaStore(tmp_path / "media")
    phone = {"location": "+00.4000+101.8500/", "title": "Rumah Budi Santoso",
             "artist": "Budi Santoso", "comment": "0812 3456 7890"}
    mov = tiny_video(tmp_path, ".mov", **phone)  # location as ISO 6709 text (©xyz)
    mp4 = tiny_video(tmp_path, **phone)  # location as a binary 3GPP 'loci' box
    assert b"+101.8500" in mov and b"loci" in mp4
    for clip in (mov, mp4):
        assert b"Budi Santoso" in clip and b"0812 3456" in clip
        stored = store.store(clip, "video", "video/quicktime")
        data = store.path(stored.path).read_bytes()
        for needle in (b"+101.8500", b"+00.4000", b"\xa9xyz", b"loci", b"Budi", b"0812",
                       b"Lavf"):
            assert needle not in data, needle
    assert stored.mime == "video/mp4" and stored.path.endswith(".mp4")
    probe = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(store.path(
        stored.path)), "-f", "null", "-"], capture_output=True)
    assert probe.returncode == 0  # still a playable video
    with pytest.raises(MediaRejected) as info:
        store.store(b"\x00\x00\x00\x18ftypmp42 not really a video", "video", "video/mp4")
    assert info.value.key == "media-not-video"
    # Same streams, nothing else: the .mov and the .mp4 became one and the same file.
    assert len([p for p in (tmp_path / "media").rglob("*") if p.is_file()]) == 1


async def test_stored_report_attachments_match_the_draft(env: Env) -> None:
    await to_step(env, "jalan", Step.SUMMARY)
    draft = await assert_step(env, Step.SUMMARY)
    await env.say(Button("send", draft.data["nonce"]))
    async with env.sessionmaker() as session:
        rows = list((await session.exec(select(Attachment))).all())
    assert [(a.kind, a.sha256) for a in rows] == [
        (m["kind"], m["sha256"]) for m in draft.data["media"]]


def test_store_keeps_an_upright_jpeg_losslessly(tmp_path: Path) -> None:
    """An upright JPEG (what Telegram sends) loses its metadata, comments and anything
    appended after its end, but not one pixel: no re-encoding; a progressive one too."""
    store = MediaStore(tmp_path)
    for progressive in (False, True):
        img = Image.new("RGB", (96, 64), "white")
        for x in range(0, 96, 8):
            img.putpixel((x, x % 64), (x * 2, 40, 200))
        out = io.BytesIO()
        exif = Image.Exif()
        exif[0x010F] = "TestCam"
        img.save(out, "JPEG", quality=85, progressive=progressive, exif=exif.tobytes())
        original = _with_segments(out.getvalue(), _segment(0xE1, XMP),
                                  _segment(0xFE, b"shot by Budi 0812")) + b"Budi appended"
        stored = store.store(original, "photo", "image/jpeg")
        data = store.path(stored.path).read_bytes()
        for needle in (b"TestCam", b"xap/1.0", b"Budi", b"Exif"):
            assert needle not in data, needle
        assert data.endswith(b"\xff\xd9")
        with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(data)) as after:
            assert after.format == "JPEG" and not after.getexif()
            assert before.tobytes() == after.tobytes()  # the very same decoded pixels
    # A JPEG whose coded data is cut short is refused, as before.
    with pytest.raises(MediaRejected) as info:
        store.store(original[: len(original) // 2], "photo", "image/jpeg")
    assert info.value.key == "media-not-image"
