"""Areas (routing by area, the service area), duplicates near the pin, followers and merges.

The polygon logic on plain shapes; the rest on the core over real SQLite files and real
PostgreSQL databases (the `db_url` fixture), with many citizens at once where they write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, text
from sqlmodel import col, func, select

from bot.geocoding import NoGeocoder
from handlers import lifecycle
from handlers import whatsapp as wa
from handlers.i18n import Translator
from handlers.intake import Button, Command, Intake, IntakeConfig, Location, Step, Text, Turn
from handlers.replies import Reply
from handlers.telegram.cards import render as render_card
from models import followers, repo
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import Status, utcnow
from models.geo import (
    AreaIndex,
    GeoError,
    bounding_box,
    haversine_m,
    load_area_text,
    nearby_open_reports,
    parse_area,
)
from models.media import MediaStore
from models.seed import SeedError, load_seed
from models.tables import Area, Citizen, Follower, Opd, Outbox, Report

SEED = Path(__file__).resolve().parent.parent / "deploy" / "seed.example.toml"
WIB = ZoneInfo("Asia/Jakarta")
PIN = (0.40, 101.85)  # Pangkalan Kerinci: outside the example's Kecamatan Bunut
BUNUT = (0.15, 102.15)  # inside the example's Kecamatan Bunut
GROUP_PDAM, GROUP_BUNUT, GROUP_DLH = -1001000000101, -1001000000102, -1001000000103
M = 1 / 111_195  # about one metre of latitude, in degrees


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


HOLED = {"type": "Polygon", "coordinates": [square(0, 0, 10, 10), square(4, 4, 6, 6)]}


# ---- the polygon logic ---------------------------------------------------------------------


def test_polygon_with_a_hole_and_points_on_its_edges() -> None:
    """A point in the hole is outside; points on the outer edge and on the hole's edge count
    as inside (covers, not contains)."""
    from shapely.geometry import Point
    from shapely.prepared import prep

    area = prep(parse_area(HOLED))
    assert area.covers(Point(2, 2))  # inside the ring
    assert not area.covers(Point(5, 5))  # in the hole
    assert area.covers(Point(0, 5))  # on the outer edge
    assert area.covers(Point(10, 10))  # an outer corner
    assert area.covers(Point(4, 5))  # on the hole's edge
    assert area.covers(Point(6, 6))  # a corner of the hole
    assert not area.covers(Point(10.000001, 5))  # just outside


def test_geojson_forms_and_invalid_geometries() -> None:
    """FeatureCollection, Feature and bare geometry are read; a self-intersecting ring, a
    point, latitude-first coordinates and broken JSON are refused with the reason."""
    feature = {"type": "Feature", "properties": {}, "geometry": HOLED}
    two = {"type": "FeatureCollection", "features": [
        feature, {"type": "Feature", "geometry": {
            "type": "Polygon", "coordinates": [square(20, 20, 30, 30)]}}]}
    assert parse_area(feature).geom_type == "Polygon"
    assert parse_area(two).geom_type == "MultiPolygon"
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}
    with pytest.raises(GeoError, match="invalid .*Self-intersection"):
        parse_area(bowtie)
    with pytest.raises(GeoError, match="Point is not a Polygon"):
        parse_area({"type": "Point", "coordinates": [1, 2]})
    with pytest.raises(GeoError, match="not longitude, latitude"):
        parse_area({"type": "Polygon", "coordinates": [square(0, 100, 1, 101)]})
    with pytest.raises(GeoError, match="not JSON"):
        load_area_text("{not json")
    with pytest.raises(GeoError, match="without features"):
        parse_area({"type": "FeatureCollection", "features": []})


def test_distances_and_the_box() -> None:
    assert haversine_m(0, 0, 0.001, 0) == pytest.approx(111.2, abs=0.2)
    min_lat, max_lat, min_lon, max_lon = bounding_box(0.4, 101.85, 150)
    assert haversine_m(0.4, 101.85, max_lat, 101.85) == pytest.approx(150, abs=0.01)
    assert haversine_m(0.4, 101.85, 0.4, max_lon) == pytest.approx(150, abs=0.1)


# ---- the core on SQLite and PostgreSQL ------------------------------------------------------


@dataclass
class Geo:
    sm: Any
    intake: Intake
    deps: lifecycle.Deps
    tmp: Path

    async def citizen(self, ext: str, lang: str = "id", channel: str = "telegram") -> Citizen:
        async with self.sm() as s:
            citizen, _ = await repo.upsert_citizen(s, channel, ext, language=lang)
            await s.commit()
            return citizen

    async def say(self, citizen: Citizen, event: Any) -> list[Reply]:
        async with self.sm() as s:
            return await self.intake.handle(s, Turn(citizen), event)

    async def to_location(self, citizen: Citizen, code: str) -> None:
        """A new draft of category `code` (no photo needed) at its location step."""
        async with self.sm() as s:
            cid = (await repo.category_by_code(s, code)).id  # type: ignore[union-attr]
        await self.say(citizen, Command("lapor"))
        await self.say(citizen, Button("cat", str(cid)))
        await self.say(citizen, Text("Air PDAM mati sejak kemarin pagi di gang kami"))
        replies = await self.say(citizen, Button("skip"))
        assert replies[-1].request == "location", replies

    async def file(self, citizen: Citizen, code: str, at: tuple[float, float]) -> Report:
        """A whole report of category `code` at `at`, through the intake."""
        await self.to_location(citizen, code)
        replies = await self.say(citizen, Location(*at))
        if any(c.action == "new_anyway" for r in replies for row in r.choices for c in row):
            await self.say(citizen, Button("new_anyway"))
        await self.say(citizen, Button("anon"))
        replies = await self.say(citizen, Button("send"))
        assert "ADU-" in replies[0].text, replies
        async with self.sm() as s:
            return (await s.exec(select(Report).where(Report.citizen_id == citizen.id)
                                 .order_by(col(Report.id).desc()))).first()  # type: ignore

    async def report(self, rid: int) -> Report:
        async with self.sm() as s:
            report = await s.get(Report, rid)
            assert report is not None
            return report

    async def follower_ids(self, rid: int) -> list[int]:
        async with self.sm() as s:
            return sorted((await s.exec(select(Follower.citizen_id).where(
                Follower.report_id == rid))).all())

    async def outbox(self, **where: Any) -> list[Outbox]:
        async with self.sm() as s:
            query = select(Outbox).order_by(col(Outbox.id))
            for key, value in where.items():
                query = query.where(getattr(Outbox, key) == value)
            return list((await s.exec(query)).all())


@pytest.fixture
async def geo(db_url: str, tmp_path: Path) -> AsyncIterator[Geo]:
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        await load_seed(s, SEED)
        for code, chat in (("PDAM", GROUP_PDAM), ("KEC_BUNUT", GROUP_BUNUT), ("DLH", GROUP_DLH)):
            opd = await repo.opd_by_code(s, code)
            assert opd is not None
            opd.chat_id = chat
            s.add(opd)
        await s.commit()
    deps = lifecycle.Deps(translator=Translator(default="id"), tz=WIB, admin_ids=frozenset({1}))

    async def on_submitted(session: Any, report: Report) -> bool:
        return await lifecycle.dispatch(session, deps, report, notify=False)

    intake = Intake(deps.translator, MediaStore(tmp_path / "media"), NoGeocoder(),
                    IntakeConfig(tz=WIB, duplicate_radius_m=150), on_submitted=on_submitted,
                    catalog=deps.catalog, areas=AreaIndex())
    yield Geo(sm, intake, deps, tmp_path)
    await engine.dispose()


def buttons(replies: list[Reply]) -> list[tuple[str, str, str]]:
    return [(c.action, c.arg, c.label) for r in replies for row in r.choices for c in row]


async def test_seed_loads_geojson_areas_and_refuses_bad_files(geo: Geo) -> None:
    """The example seed gives Kecamatan Bunut's office its polygon; a seed naming a missing
    file, a self-intersecting polygon or a point is refused with one line naming the file."""
    async with geo.sm() as s:
        bunut = await repo.opd_by_code(s, "KEC_BUNUT")
        areas = (await s.exec(select(Area).where(Area.opd_id == bunut.id))).all()  # type: ignore
        assert [a.name for a in areas] == ["kec-bunut"]
        assert (await repo.category_by_code(s, "sampah")).route_by_area  # type: ignore

    folder = geo.tmp / "seed"
    (folder / "areas").mkdir(parents=True)
    (folder / "areas" / "holed.geojson").write_text(json.dumps(HOLED))
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    (folder / "areas" / "bowtie.geojson").write_text(json.dumps(bowtie))
    (folder / "areas" / "point.geojson").write_text(json.dumps(
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}))

    def seed(area: str, service: str | None = None) -> Path:
        path = folder / "seed.toml"
        head = f'service_area = "{service}"\n' if service else ""
        path.write_text(head + f'[[opd]]\ncode = "PKM"\nname_id = "Puskesmas"\narea = "{area}"\n')
        return path

    async with geo.sm() as s:
        assert await load_seed(s, seed("areas/holed.geojson", "areas/holed.geojson")) == (1, 0)
    async with geo.sm() as s:  # seeding again replaces the OPD's areas, never adds twice
        await load_seed(s, seed("areas/holed.geojson"))
        pkm = await repo.opd_by_code(s, "PKM")
        rows = (await s.exec(select(Area).where(Area.opd_id == pkm.id))).all()  # type: ignore
        assert len(rows) == 1
        assert parse_area(json.loads(rows[0].geojson)).equals(parse_area(HOLED))
        assert len((await s.exec(select(Area).where(col(Area.opd_id).is_(None)))).all()) == 1
    for area, reason in (("areas/missing.geojson", "area file areas/missing.geojson not found"),
                         ("areas/bowtie.geojson", "invalid (Self-intersection"),
                         ("areas/point.geojson", "Point is not a Polygon")):
        async with geo.sm() as s:
            with pytest.raises(SeedError, match=r"opd PKM: .*") as caught:
                await load_seed(s, seed(area))
            assert reason in str(caught.value) and "\n" not in str(caught.value)
    async with geo.sm() as s:  # nothing of the refused seeds was kept
        pkm = await repo.opd_by_code(s, "PKM")
        rows = (await s.exec(select(Area).where(Area.opd_id == pkm.id))).all()  # type: ignore
        assert len(rows) == 1 and parse_area(json.loads(rows[0].geojson)).equals(
            parse_area(HOLED))


async def test_area_index_smallest_area_wins_and_holes(geo: Geo) -> None:
    """Nested areas: the smallest covering one decides; a point in a hole falls to the
    bigger area; the service polygons refuse a point outside them."""
    async with geo.sm() as s:
        big = Opd(code="BIG", name_id="Kecamatan", name_en="District")
        small = Opd(code="SMALL", name_id="Puskesmas", name_en="Health centre")
        s.add_all([big, small])
        await s.flush()
        s.add(Area(opd_id=big.id, name="big", geojson=json.dumps(
            {"type": "Polygon", "coordinates": [square(50, -20, 70, 0)]})))
        s.add(Area(opd_id=small.id, name="small", geojson=json.dumps(
            {"type": "Polygon", "coordinates": [square(55, -15, 65, -5),
                                                square(59, -11, 61, -9)]})))
        s.add(Area(opd_id=None, name="service", geojson=json.dumps(
            {"type": "Polygon", "coordinates": [square(50, -20, 70, 0)]})))
        await s.commit()
        index = AreaIndex()
        assert await index.opd_at(s, -7, 57) == small.id  # (lat, lon)
        assert await index.opd_at(s, -10, 60) == big.id  # in the small one's hole
        assert await index.opd_at(s, -11, 60) == small.id  # on the hole's edge
        assert await index.opd_at(s, -5, 56) == small.id  # on the small one's outer edge
        assert await index.opd_at(s, -1, 51) == big.id
        assert await index.opd_at(s, 1, 51) is None
        assert await index.in_service_area(s, 0, 60) is True  # on the edge
        assert await index.in_service_area(s, 0.5, 60) is False
        small.active = False  # a deactivated OPD's area routes nothing
        s.add(small)
        await s.commit()
        index.invalidate()
        assert await index.opd_at(s, -7, 57) == big.id


async def test_report_goes_to_its_kecamatan_office_by_area(geo: Geo) -> None:
    """'sampah' routes by area: a pin in Kecamatan Bunut goes to its district office (the
    summary says so, the card is posted in its group); a pin elsewhere to DLH; a category
    that does not route by area ignores the areas."""
    async with geo.sm() as s:
        bunut = await repo.opd_by_code(s, "KEC_BUNUT")
        dlh = await repo.opd_by_code(s, "DLH")
        pdam = await repo.opd_by_code(s, "PDAM")
        sampah = await repo.category_by_code(s, "sampah")
        sampah.requires_photo = False  # type: ignore[union-attr]
        s.add(sampah)
        await s.commit()
    inside, outside, water = (await geo.citizen("71"), await geo.citizen("72"),
                              await geo.citizen("73"))
    await geo.to_location(inside, "sampah")
    await geo.say(inside, Location(*BUNUT))
    summary = await geo.say(inside, Button("anon"))
    assert "Diteruskan ke: Kantor Camat Bunut" in summary[-1].text
    await geo.say(inside, Button("send"))
    first = await geo.file(outside, "sampah", PIN)
    second = await geo.file(water, "air", BUNUT)
    async with geo.sm() as s:
        routed = (await s.exec(select(Report).where(Report.citizen_id == inside.id))).one()
    assert routed.opd_id == bunut.id and first.opd_id == dlh.id  # type: ignore[union-attr]
    assert second.opd_id == pdam.id  # type: ignore[union-attr]
    cards = await geo.outbox(kind="card")
    assert {(c.report_id, c.chat_id) for c in cards} >= {
        (routed.id, str(GROUP_BUNUT)), (first.id, str(GROUP_DLH))}


async def test_service_polygons_refuse_a_pin_outside_politely(geo: Geo) -> None:
    """With service polygons, a pin outside them is refused and the draft keeps waiting for a
    location; one inside (or on the edge) is taken. The box is not consulted then."""
    async with geo.sm() as s:
        s.add(Area(opd_id=None, name="regency", geojson=json.dumps(
            {"type": "Polygon", "coordinates": [square(101.0, 0.0, 102.0, 0.5)]})))
        await s.commit()
    geo.intake.config.service_area = (-90, -180, 90, 180)  # the box would let all in
    citizen = await geo.citizen("81")
    await geo.to_location(citizen, "air")
    refused = await geo.say(citizen, Location(0.6, 101.5))
    assert "di luar wilayah layanan" in refused[0].text
    async with geo.sm() as s:
        draft = await repo.load_draft(s, "telegram", "81")
        assert draft is not None and draft.step == "location" and "latitude" not in draft.data
    taken = await geo.say(citizen, Location(0.5, 101.5))  # on the edge
    assert "Lokasi dicatat" in taken[0].text


async def _seed_reports(geo: Geo) -> dict[str, int]:
    """Reports around PIN: open 'air' ones at 20, 60, 90 and 140 m, one at 400 m, a closed
    and a rejected one at 10 m, and an open 'listrik' one at 5 m."""
    owner = await geo.citizen("9000")
    async with geo.sm() as s:
        cats = {c: (await repo.category_by_code(s, c)) for c in ("air", "listrik")}
        pdam = await repo.opd_by_code(s, "PDAM")
        made: dict[str, int] = {}
        for name, cat, meters, status in (
                ("air20", "air", 20, Status.DISPATCHED), ("air60", "air", 60, Status.IN_PROGRESS),
                ("air90", "air", 90, Status.NEED_INFO), ("air140", "air", 140, Status.RECEIVED),
                ("air400", "air", 400, Status.DISPATCHED), ("closed", "air", 10, Status.CLOSED),
                ("rejected", "air", 10, Status.REJECTED),
                ("listrik", "listrik", 5, Status.DISPATCHED)):
            report = Report(code="", channel="telegram", citizen_id=owner.id or 0,
                            category_id=cats[cat].id, opd_id=pdam.id,  # type: ignore
                            description=f"Laporan {name} di dekat sini", status=status.value,
                            latitude=PIN[0] + meters * M, longitude=PIN[1])
            report = await repo.create_report(s, report, [], prefix="ADU", actor_id="9000",
                                              actor_name=None)
            made[name] = report.id or 0
        await s.commit()
    return made


async def test_duplicates_offered_within_the_radius_same_category_open_only(geo: Geo) -> None:
    """Sharing a pin offers the open reports of the same category within 150 m, nearest
    first, at most three, with buttons to follow each or to go on with a new report."""
    made = await _seed_reports(geo)
    citizen = await geo.citizen("91")
    await geo.to_location(citizen, "air")
    replies = await geo.say(citizen, Location(*PIN))
    offer = replies[-1]
    codes = {name: (await geo.report(rid)).code for name, rid in made.items()}
    shown = [name for name in codes if codes[name] in offer.text]
    assert shown == ["air20", "air60", "air90"], offer.text
    assert offer.text.index(codes["air20"]) < offer.text.index(codes["air60"]) < \
        offer.text.index(codes["air90"])
    assert "± 20 m" in offer.text and "🟢" in offer.text
    assert buttons([offer]) == [
        ("follow", str(made["air20"]), f"Ikuti {codes['air20']}"),
        ("follow", str(made["air60"]), f"Ikuti {codes['air60']}"),
        ("follow", str(made["air90"]), f"Ikuti {codes['air90']}"),
        ("new_anyway", "", "Tetap buat laporan baru")]
    # WhatsApp: four choices are a list (rows <= 24 characters), in both languages.
    payload = wa.render([offer], geo.deps.translator.bind("id"))[-1]
    assert payload["type"] == "list" and len(payload["rows"]) == 4
    # A button for a report not offered changes nothing.
    stale = await geo.say(citizen, Button("follow", str(made["air400"])))
    assert stale[0].alert and await geo.follower_ids(made["air400"]) == []
    # Another pin 260 m north: the 140 m and 400 m ones are near it now, the others not.
    further = await geo.say(citizen, Location(PIN[0] + 260 * M, PIN[1]))
    assert [n for n in codes if codes[n] in further[-1].text] == ["air140", "air400"]
    # Going on makes a new report as before.
    replies = await geo.say(citizen, Button("new_anyway"))
    async with geo.sm() as s:
        draft = await repo.load_draft(s, "telegram", "91")
        assert draft is not None and draft.step == Step.IDENTITY
    # With the radius off nothing is offered.
    geo.intake.config.duplicate_radius_m = 0
    other = await geo.citizen("92")
    await geo.to_location(other, "air")
    replies = await geo.say(other, Location(*PIN))
    assert not any(a == "follow" for a, _, _ in buttons(replies))


async def test_fifty_citizens_follow_one_report_at_once(geo: Geo) -> None:
    """50 citizens at the same pin all follow the same report concurrently: supporters is
    exactly 50, one follower row each, the card says so; pressing twice at once counts once."""
    reporter = await geo.citizen("100")
    original = await geo.file(reporter, "air", PIN)
    crowd = [await geo.citizen(str(200 + i), lang="en" if i % 2 else "id") for i in range(50)]
    await asyncio.gather(*(geo.to_location(c, "air") for c in crowd))
    offers = await asyncio.gather(*(geo.say(c, Location(PIN[0] + (i % 7) * M, PIN[1]))
                                    for i, c in enumerate(crowd)))
    assert all(("follow", str(original.id)) in [(a, b) for a, b, _ in buttons(o)]
               for o in offers)
    # Each presses "follow"; the first ten press it twice at the same moment.
    presses = [c for c in crowd] + crowd[:10]
    answers = await asyncio.gather(*(geo.say(c, Button("follow", str(original.id)))
                                     for c in presses))
    done = [a for a in answers if any("mengikuti laporan" in r.text or "now follow" in r.text
                                      for r in a)]
    assert len(done) == 50
    report = await geo.report(original.id or 0)
    assert report.supporters == 50
    assert await geo.follower_ids(original.id or 0) == sorted(c.id for c in crowd)  # type: ignore
    async with geo.sm() as s:
        assert (await s.exec(select(func.count()).select_from(Report))).one() == 1
        drafts = [await repo.load_draft(s, "telegram", c.external_id) for c in crowd]
        assert drafts == [None] * 50
        text, _ = await render_card(s, geo.deps, report)
    assert "👥 50 warga mendukung" in text
    assert len(await geo.outbox(kind="edit_card", report_id=original.id)) >= 1
    # Following again, or following one's own report, changes nothing and says so.
    again = crowd[0]
    await geo.to_location(again, "air")
    await geo.say(again, Location(*PIN))
    told = await geo.say(again, Button("follow", str(original.id)))
    assert "sudah mengikuti" in told[0].text
    await geo.to_location(reporter, "air")
    await geo.say(reporter, Location(*PIN))
    told = await geo.say(reporter, Button("follow", str(original.id)))
    assert "laporan Anda sendiri" in told[0].text
    assert (await geo.report(original.id or 0)).supporters == 50


async def test_followers_notified_of_each_status_change_once(geo: Geo) -> None:
    """A PIC's steps reach every follower once, in their channel and language; a question
    to the reporter does not; unfollowing stops it and /laporanku marks followed reports."""
    reporter = await geo.citizen("300")
    report = await geo.file(reporter, "air", PIN)
    fans = [await geo.citizen("301"), await geo.citizen("302", lang="en"),
            await geo.citizen("62811", channel="whatsapp")]
    async with geo.sm() as s:
        for fan in fans:
            assert await followers.follow(s, report.id or 0, fan.id or 0) == "followed"
        await s.commit()
    pic = lifecycle.Actor(1, "Admin")
    mark = len(await geo.outbox())
    async with geo.sm() as s:
        assert (await lifecycle.take(s, geo.deps, pic, await s.get(Report, report.id))).ok
    async with geo.sm() as s:
        assert (await lifecycle.ask_info(s, geo.deps, pic, await s.get(Report, report.id),
                                         "Nomor rumahnya berapa?")).ok
    async with geo.sm() as s:
        assert (await lifecycle.resolve(s, geo.deps, pic, await s.get(Report, report.id),
                                        "Pipa sudah diganti", None)).ok
    rows = (await geo.outbox())[mark:]
    to_fans = [r for r in rows if r.chat_id in {f.external_id for f in fans}]
    by_chat = {f.external_id: [r.payload["text"] for r in to_fans if r.chat_id == f.external_id]
               for f in fans}
    assert by_chat["301"] == [f"🔔 Laporan {report.code} yang Anda ikuti: Sedang ditangani "
                              f"(PDAM Tirta Kampar (mitra)).",
                              f"🔔 Laporan {report.code} yang Anda ikuti: Selesai ditangani "
                              f"(PDAM Tirta Kampar (mitra)).\nPipa sudah diganti"], by_chat
    assert [t.split(":")[0] for t in by_chat["302"]] == [f"🔔 Report {report.code} you follow"] * 2
    assert len(by_chat["62811"]) == 2
    assert {r.channel for r in to_fans if r.chat_id == "62811"} == {"whatsapp"}
    assert not any("Nomor rumahnya" in t for texts in by_chat.values() for t in texts)
    # /laporanku marks followed reports; /berhenti_ikuti stops the updates.
    mine = await geo.say(fans[0], Command("laporanku"))
    assert report.code in mine[-1].text and "(diikuti)" in mine[-1].text
    assert ("unfollow", str(report.id)) in [(a, b) for a, b, _ in buttons(mine)]
    done = await geo.say(fans[0], Command("berhenti_ikuti", report.code.lower()))
    assert "berhenti mengikuti" in done[0].text
    again = await geo.say(fans[0], Button("unfollow", str(report.id)))
    assert "tidak sedang mengikuti" in again[0].text
    assert (await geo.report(report.id or 0)).supporters == 2
    usage = await geo.say(fans[0], Command("berhenti_ikuti"))
    assert "/berhenti_ikuti ADU-7K3Q" in usage[0].text


async def test_reject_duplicate_moves_followers_and_reporter(geo: Geo) -> None:
    """A PIC marks B a duplicate of A: B's reporter and followers follow A (no one twice, not
    A's own reporter), each told once; counts recounted; 20 citizens following A at the
    same moment are all counted."""
    ra, rb = await geo.citizen("400"), await geo.citizen("401")
    a = await geo.file(ra, "air", PIN)
    b = await geo.file(rb, "air", (PIN[0] + 0.01, PIN[1]))  # 1 km away: not offered
    both, only_a, only_b = (await geo.citizen("402"), await geo.citizen("403"),
                            await geo.citizen("404"))
    async with geo.sm() as s:
        for citizen, report in ((both, a), (both, b), (only_a, a), (only_b, b), (ra, b)):
            await followers.follow(s, report.id or 0, citizen.id or 0)
        await s.commit()
    assert (await geo.report(b.id or 0)).supporters == 3
    late = [await geo.citizen(str(500 + i)) for i in range(20)]
    mark = len(await geo.outbox())

    async def follow(citizen: Citizen) -> None:
        async with geo.sm() as s:
            await followers.follow(s, a.id or 0, citizen.id or 0)
            await s.commit()

    async def merge() -> lifecycle.Outcome:
        async with geo.sm() as s:
            report = await s.get(Report, b.id)
            return await lifecycle.reject_duplicate(s, geo.deps, lifecycle.Actor(1, "Admin"),
                                                    report, a.code, "ADU")

    results = await asyncio.gather(merge(), *(follow(c) for c in late))
    assert results[0].ok
    expected = sorted([both.id, only_a.id, only_b.id, rb.id] + [c.id for c in late])
    assert await geo.follower_ids(a.id or 0) == expected
    assert await geo.follower_ids(b.id or 0) == []
    assert (await geo.report(a.id or 0)).supporters == len(expected) == 24
    merged_b = await geo.report(b.id or 0)
    assert merged_b.supporters == 0 and merged_b.status == Status.REJECTED
    told = [r for r in (await geo.outbox())[mark:] if "digabung" in r.payload.get("text", "")]
    assert sorted(r.chat_id for r in told) == sorted(
        [rb.external_id, both.external_id, only_b.external_id])
    # Moving again (already moved) adds no one.
    async with geo.sm() as s:
        assert await followers.move_followers(s, await s.get(Report, b.id),  # type: ignore
                                              await s.get(Report, a.id)) == 0  # type: ignore
        await s.commit()
    assert (await geo.report(a.id or 0)).supporters == 24


async def test_nearby_query_reads_the_category_latitude_index(geo: Geo, db_url: str) -> None:
    """The query behind the offer reads (category_id, latitude), not the whole table: the
    plan names the index, and 20 000 reports around the pin answer in well under a second."""
    async with geo.sm() as s:
        cats = [c.id for c in await repo.active_categories(s)]
        pdam = await repo.opd_by_code(s, "PDAM")
        citizen, _ = await repo.upsert_citizen(s, "telegram", "600", language="id")
        await s.flush()
        now = utcnow()
        rows = [{"code": f"B-{i}", "channel": "telegram", "citizen_id": citizen.id,
                 "category_id": cats[i % len(cats)], "opd_id": pdam.id,  # type: ignore
                 "description": "x", "latitude": -1 + (i % 2000) * 0.001,
                 "longitude": 101 + (i // 2000) * 0.1, "status": "dispatched",
                 "anonymous": False, "language": "id", "version": 1, "reopen_count": 0,
                 "created_at": now, "updated_at": now, "light": "green", "supporters": 0}
                for i in range(20_000)]
        await s.execute(insert(Report.__table__), rows)  # type: ignore[attr-defined]
        await s.commit()
    async with geo.sm() as s:
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            await s.execute(text("ANALYZE report"))
            plan = (await s.execute(text(
                "EXPLAIN SELECT * FROM report WHERE category_id = :c AND latitude BETWEEN "
                ":a AND :b AND longitude BETWEEN :d AND :e AND status IN ('dispatched')"),
                {"c": cats[0], "a": 0.399, "b": 0.401, "d": 101.8, "e": 101.9})).all()
        else:
            plan = (await s.execute(text(
                "EXPLAIN QUERY PLAN SELECT * FROM report WHERE category_id = :c AND latitude "
                "BETWEEN :a AND :b AND longitude BETWEEN :d AND :e AND status IN "
                "('dispatched')"),
                {"c": cats[0], "a": 0.399, "b": 0.401, "d": 101.8, "e": 101.9})).all()
        assert "ix_report_category_lat" in " ".join(str(row) for row in plan), plan
        loop = asyncio.get_running_loop()
        started = loop.time()
        found = await nearby_open_reports(s, cats[0], 0.4, 101.8, 150)
        assert loop.time() - started < 1.0
        assert found and all(d <= 150 for _, d in found)


# ---- end to end on Telegram -----------------------------------------------------------------


@pytest.mark.settings(DUPLICATE_RADIUS_M=150)
async def test_telegram_second_citizen_follows_instead_of_filing(harness: Any) -> None:
    """Through the real bot: a citizen files a road report; a second one at the same pin is
    offered it, follows it, and the card in the OPD group shows 👥 1; the PIC's step reaches
    the follower."""
    from tests.conftest import new_user
    from tests.test_intake_telegram import to_location

    h = harness
    group = -1001000000777
    async with h.sessionmaker() as s:
        pupr = await repo.opd_by_code(s, "PUPR")
        pupr.chat_id = group  # type: ignore[union-attr]
        s.add(pupr)
        await s.commit()
    first, second = new_user(), new_user()
    await to_location(h, first)
    texts = await h.say(first, location=PIN, replies=2)
    assert "Langkah 5/5" in texts[1]  # nothing near yet: straight on
    await h.press(first, "anon")
    await h.press(first, "send")
    async with h.sessionmaker() as s:
        report = (await s.exec(select(Report))).one()
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == group
                          and report.code in (c.text or ""), timeout=10)

    await to_location(h, second)
    texts = await h.say(second, location=(PIN[0] + 30 * M, PIN[1]), replies=2)
    assert "Sudah dilaporkan?" in texts[1] and report.code in texts[1] and "± 30 m" in texts[1]
    assert f"in:follow:{report.id}" in h.buttons(second)
    assert "in:new_anyway:" in h.buttons(second)
    mark = h.fake.mark()
    texts = await h.press(second, "follow", str(report.id))
    assert any(f"Anda kini mengikuti laporan {report.code}" in t for t in texts), texts
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == group
                          and "👥 1 warga mendukung" in (c.text or ""), since=mark, timeout=10)
    async with h.sessionmaker() as s:
        assert (await s.exec(select(func.count()).select_from(Report))).one() == 1
        assert await repo.load_draft(s, "telegram", str(second)) is None
        stored = await s.get(Report, report.id)
        mark = h.fake.mark()
        assert (await lifecycle.take(s, h.app.deps, lifecycle.Actor(1, "Admin"), stored)).ok
    h.app.worker.wake()
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == second
                          and f"Laporan {report.code} yang Anda ikuti" in (c.text or ""),
                          since=mark, timeout=10)


async def test_admin_turns_routing_by_area_on_and_off(geo: Geo) -> None:
    """`/kategori_ubah CODE area=ya` makes a category route by area; a bad flag changes
    nothing."""
    from handlers import admin as admin_core

    async with geo.sm() as s:
        category = await admin_core.edit_category(
            s, admin_core.parse_category_edit("air area=ya"))
        assert category.route_by_area
        with pytest.raises(admin_core.UsageError):
            admin_core.parse_category_edit("air area=mungkin")
        category = await admin_core.edit_category(
            s, admin_core.parse_category_edit("air wilayah=tidak"))
        assert not category.route_by_area


async def test_following_the_duplicate_while_it_is_merged_leaves_no_one_behind(geo: Geo) -> None:
    """Citizens following B at the moment a PIC merges B into A end up following A (or were
    told B is closed): none is left on the rejected B, and both counts match the rows."""
    ra, rb = await geo.citizen("700"), await geo.citizen("701")
    a = await geo.file(ra, "air", PIN)
    b = await geo.file(rb, "air", (PIN[0] + 0.01, PIN[1]))
    crowd = [await geo.citizen(str(710 + i)) for i in range(20)]

    async def follow(citizen: Citizen) -> str:
        async with geo.sm() as s:
            outcome = await followers.follow(s, b.id or 0, citizen.id or 0)
            await s.commit()
            return outcome

    async def merge() -> lifecycle.Outcome:
        async with geo.sm() as s:
            report = await s.get(Report, b.id)
            return await lifecycle.reject_duplicate(s, geo.deps, lifecycle.Actor(1, "Admin"),
                                                    report, a.code, "ADU")

    results = await asyncio.gather(*(follow(c) for c in crowd[:10]), merge(),
                                   *(follow(c) for c in crowd[10:]))
    assert results[10].ok
    outcomes = [r for r in results if isinstance(r, str)]
    assert set(outcomes) <= {"followed", "closed"}
    assert await geo.follower_ids(b.id or 0) == []
    assert (await geo.report(b.id or 0)).supporters == 0
    on_a = await geo.follower_ids(a.id or 0)
    assert (await geo.report(a.id or 0)).supporters == len(on_a)
    followed = sorted(c.id for c, o in zip(crowd, outcomes, strict=True) if o == "followed")
    assert on_a == sorted([rb.id, *followed])  # type: ignore[type-var]


async def test_follow_redone_when_another_process_changed_the_draft(geo: Geo) -> None:
    """The address of the shared pin arrives (through another process) between the offer and
    the press: the follow is counted once and the citizen told so, not 'already following'."""
    reporter, fan = await geo.citizen("800"), await geo.citizen("801")
    report = await geo.file(reporter, "air", PIN)
    await geo.to_location(fan, "air")
    await geo.say(fan, Location(*PIN))
    other = Intake(geo.intake.translator, geo.intake.media, NoGeocoder(), geo.intake.config,
                   catalog=geo.deps.catalog, areas=AreaIndex())
    async with geo.sm() as s:
        draft = await repo.load_draft(s, "telegram", "801")
        assert draft is not None and draft.step == Step.NEARBY
        await other.apply_address(s, "telegram", "801", draft.data["nonce"], *PIN,
                                  "Jalan Lintas Timur")
    told = await geo.say(fan, Button("follow", str(report.id)))
    assert f"Anda kini mengikuti laporan {report.code}" in told[0].text, told
    assert (await geo.report(report.id or 0)).supporters == 1
    assert await geo.follower_ids(report.id or 0) == [fan.id]


# ---- end to end on WhatsApp -----------------------------------------------------------------


@pytest.fixture
async def wa_geo(db_url: str, fake_tg: Any, geocoder: Any, tmp_path: Path
                 ) -> AsyncIterator[tuple[Any, Any]]:
    from bot.playground import graphapi as fg
    from tests.conftest import make_settings, start_seeded

    graph = fg.FakeGraphAPI()
    await graph.start()
    settings = make_settings(
        db_url, fake_tg, tmp_path / "media", geocoder.port,
        WHATSAPP_TOKEN=fg.TOKEN, WHATSAPP_PHONE_NUMBER_ID=fg.PHONE_ID,
        WHATSAPP_APP_SECRET=fg.APP_SECRET, WHATSAPP_VERIFY_TOKEN=fg.VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.api_base("v22.0"), DUPLICATE_RADIUS_M=150)
    h = await start_seeded(fake_tg, settings)
    yield h, graph
    await h.stop()
    await graph.stop()


async def test_whatsapp_citizen_offered_reply_buttons_and_follows(wa_geo: Any) -> None:
    """On WhatsApp the offer is reply buttons (≤ 3, titles ≤ 20); following answers in the
    citizen's chat and counts the support."""
    from bot.playground import graphapi as fg
    from tests.conftest import jpeg_bytes
    from tests.test_whatsapp import WA, ids, send_report, titles, to_summary

    h, graph = wa_geo
    first = WA(h, graph, "6281100000001")
    code = await send_report(first, await to_summary(first, anonymous=True))
    async with h.sessionmaker() as s:
        report = await repo.report_by_code(s, code)
        assert report is not None
    second = WA(h, graph, "6281100000002", name="Rina")
    await second.text("halo", "Halo Rina")
    async with h.sessionmaker() as s:
        jalan = (await repo.category_by_code(s, "jalan")).id  # type: ignore[union-attr]
    await second.row("new:", "Langkah 1/5")
    await second.row(f"cat:{jalan}", "Langkah 2/5")
    await second.text("Lubang besar di jalan depan pasar, sudah lama.", "Langkah 3/5")
    media_id = graph.add_media(jpeg_bytes("green"), "image/jpeg")
    await second.send(fg.image_message(second.wa_id, media_id), "(1/5)")
    await second.button("done:", "Langkah 4/5")
    calls = await second.send(fg.location_message(second.wa_id, 0.40, 101.85),
                              "Sudah dilaporkan?")
    offer = calls[-1]
    assert code in offer.text
    assert ids(offer) == [f"follow:{report.id}", "new_anyway:"]
    assert all(len(t) <= 20 for t in titles(offer)) and titles(offer)[0] == f"Ikuti {code}"
    await second.button(f"follow:{report.id}", f"Anda kini mengikuti laporan {code}")
    async with h.sessionmaker() as s:
        assert (await s.get(Report, report.id)).supporters == 1  # type: ignore[union-attr]
        assert (await s.exec(select(func.count()).select_from(Report))).one() == 1
