"""Admin reports: report card numbers against a hand-computed fixture of 30 reports, statistics,
overdue, timeline, export, the chart and the weekly digest; every command through the real
Dispatcher and Bot against the fake Bot API. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlmodel import select

from handlers import lifecycle, reports
from handlers.charts import ChartLabels, report_card_chart, wrap_name
from handlers.i18n import Translator
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import TICKET_ALPHABET, ManualClock
from models.media import MediaStore
from models.tables import Attachment, Category, Citizen, Opd, Report, ReportEvent
from tests.conftest import ADMIN_ID, Harness, jpeg_bytes, new_user

TZ = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 12:00 WIB
H = 3600
DAY = 86400
PERSONAL = ("Budi Warga", "+6281234567890", "555001", "budiwarga")


def code(prefix: str, i: int) -> str:
    return f"ADU-{prefix}{TICKET_ALPHABET[i // 29]}{TICKET_ALPHABET[i % 29]}2"


async def seed_fixture(session: Any, now: datetime) -> dict[str, int]:
    """Three OPDs, 30 reports in the last 7 days and one old red (see the expected numbers in
    test_report_card_numbers). Returns OPD code -> id."""
    ids: dict[str, int] = {}
    cats: dict[str, int] = {}
    for c, name in (("AAA", "Dinas Pekerjaan Umum dan Penataan Ruang Kabupaten Contoh"),
                    ("BBB", "Dinas Lingkungan Hidup"), ("CCC", "Satpol PP")):
        opd = Opd(code=c, name_id=name, name_en=name + " (en)")
        session.add(opd)
        await session.flush()
        cat = Category(code=f"k{c.lower()}", opd_id=opd.id, name_id=f"Kategori {c}",
                       name_en=f"Category {c}")
        session.add(cat)
        await session.flush()
        ids[c], cats[c] = opd.id, cat.id
    citizen = Citizen(channel="telegram", external_id="555001", username="budiwarga",
                      display_name="Budi Warga", phone="+6281234567890")
    session.add(citizen)
    await session.flush()

    def add(opd: str, i: int, age: float, status: str, light: str, *, fu: int | None = None,
            on_time: bool | None = None, due_in: float | None = None, res: int | None = None,
            reopen: int = 0, rating: int | None = None, anonymous: bool = False) -> Report:
        created = now - timedelta(seconds=age)
        r = Report(code=code(opd[0], i), channel="telegram", citizen_id=citizen.id,
                   category_id=cats[opd], opd_id=ids[opd],
                   description=f"Laporan nomor {i} untuk {opd}", address="Jalan Contoh 1",
                   reporter_name=None if anonymous else "Budi Warga",
                   reporter_phone=None if anonymous else "+6281234567890",
                   anonymous=anonymous, status=status, light=light, created_at=created,
                   updated_at=created, reopen_count=reopen, rating=rating)
        if fu is not None:
            r.first_action_at = created + timedelta(seconds=fu)
            r.followup_secs, r.followup_on_time = fu, on_time
            r.followup_due_at = created + timedelta(seconds=fu + (H if on_time else -H))
        else:
            r.followup_due_at = now + timedelta(seconds=due_in or 0)
        if res is not None:
            r.resolve_secs, r.resolved_at = res, created + timedelta(seconds=res)
        session.add(r)
        return r

    # AAA: 12 in the period. Follow-ups (10): 8 on time, 2 late; 2 without: one past due (red),
    # one not yet due (green). Resolved 6 (4 closed rated 5,4,4,3; 2 resolved, one re-opened
    # before). Plus one old red, 20 days ago.
    fus = [H, 2 * H, 3 * H, 4 * H, 5 * H, 6 * H, 7 * H, 8 * H, 100000, 200000]
    ress = [DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY]
    ratings = [5, 4, 4, 3]
    for i in range(10):
        if i < 4:
            status, light = "closed", "done"
        elif i < 6:
            status, light = "resolved", "done"
        else:
            status, light = "in_progress", "green"
        first = add("AAA", i, (i + 1) * 10 * H, status, light, fu=fus[i], on_time=i < 8,
                    res=ress[i] if i < 6 else None, reopen=1 if i == 5 else 0,
                    rating=ratings[i] if i < 4 else None, anonymous=i == 9)
        if i == 0:
            a0 = first
    add("AAA", 10, 130 * H, "dispatched", "red", due_in=-H)
    add("AAA", 11, 2 * H, "dispatched", "green", due_in=DAY)
    add("AAA", 12, 20 * DAY, "dispatched", "red", due_in=-15 * DAY)
    # BBB: 10, all followed up on time (10..60 min); 5 resolved: 3 closed without rating, one
    # resolved again after a re-open, one re-opened and in progress; one rejected.
    for i in range(10):
        if i < 3:
            status, light = "closed", "done"
        elif i == 3:
            status, light = "resolved", "done"
        elif i == 9:
            status, light = "rejected", "done"
        else:
            status, light = "in_progress", "green"
        add("BBB", i, (i + 1) * 12 * H, status, light, fu=(i + 1) * 600, on_time=True,
            res=(i + 1) * H if i < 5 else None, reopen=1 if i in (3, 4) else 0)
    # CCC: 8 never followed up: 5 past due (red), 1 yellow, 2 green.
    for i in range(8):
        light = "red" if i < 5 else ("yellow" if i == 5 else "green")
        add("CCC", i, (i + 1) * 15 * H, "dispatched", light, due_in=-H if i < 5 else DAY)
    await session.flush()
    session.add(ReportEvent(report_id=a0.id, at=a0.created_at, kind="created",
                            actor_kind="citizen", actor_id="555001", actor_name="Budi Warga",
                            to_status="received"))
    session.add(ReportEvent(report_id=a0.id, at=a0.first_action_at, kind="assigned",
                            actor_kind="pic", actor_id="700001", actor_name="Andi PIC",
                            from_status="dispatched", to_status="in_progress"))
    session.add(ReportEvent(report_id=a0.id, at=a0.resolved_at, kind="status", actor_kind="pic",
                            actor_id="700001", actor_name="Andi PIC", from_status="in_progress",
                            to_status="resolved", note="Sudah ditambal"))
    await session.commit()
    return ids


def make_deps(now: datetime) -> lifecycle.Deps:
    return lifecycle.Deps(translator=Translator(default="id"), tz=TZ, admin_ids=frozenset({1}),
                          clock=ManualClock(now))


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[tuple[Any, lifecycle.Deps, dict[str, int]]]:
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        ids = await seed_fixture(s, NOW)
    yield sm, make_deps(NOW), ids
    await engine.dispose()


def period(deps: lifecycle.Deps, text: str = "") -> reports.Period:
    return reports.parse_period(text, deps.tz, deps.now())


# ---- the core ---------------------------------------------------------------------------------


async def test_report_card_numbers(env: Any) -> None:
    sm, deps, ids = env
    p = period(deps)
    async with sm() as s:
        rows = await reports.report_card(s, deps, p.start, p.end)
    assert [r.code for r in rows] == ["BBB", "AAA", "CCC"]
    b, a, c = rows
    assert [r.rank for r in rows] == [1, 2, 3]
    # AAA: 12 received; decided 10 + 1 past due -> 8/11 on time.
    assert (a.received, a.decided, a.on_time) == (12, 11, 8)
    assert a.followup_median == (5 * H + 6 * H) / 2  # 10 values: 5th and 6th
    assert a.resolve_median == (3 * DAY + 4 * DAY) / 2
    assert (a.resolved, a.reopened, a.ratings, a.rating_avg) == (6, 1, 4, 4.0)
    assert a.open_reds == 2  # the old one counts: reds are the backlog now
    # 40*8/11 + 20*(1 - 2/12) + 20*(1 - 1/6) + 20*(4-1)/4
    assert a.score == pytest.approx(40 * 8 / 11 + 20 * 10 / 12 + 20 * 5 / 6 + 15)
    assert round(a.score, 2) == 77.42
    # BBB: all on time, 3300 s median (6 values... 10 values 3000 and 3600), no ratings.
    assert (b.received, b.decided, b.on_time) == (10, 10, 10)
    assert b.followup_median == 3300
    assert b.resolve_median == 3 * H
    assert (b.resolved, b.reopened, b.ratings, b.rating_avg, b.open_reds) == (5, 2, 0, None, 0)
    assert b.score == pytest.approx(100 * (40 + 20 + 20 * 0.6) / 80)  # rating left out: 90
    # CCC: nothing followed up, 5 past due and red.
    assert (c.received, c.decided, c.on_time, c.open_reds) == (8, 5, 0, 5)
    assert c.followup_median is None and c.resolve_median is None
    assert c.on_time_pct == 0 and c.reopen_pct is None
    assert c.score == pytest.approx(100 * (20 * (1 - 5 / 8)) / 60)  # 12.5

    t = deps.translator.bind("id")
    pages = reports.report_card_pages(rows, t, p)
    assert len(pages) == 1 and "<pre>" in pages[0] and "Skor 0–100" in pages[0]
    table = pages[0].split("<pre>")[1].split("</pre>")[0]
    assert " 1 BBB            90    10  100%     0" in table
    assert " 2 AAA            77    12   73%     2" in table
    assert "TL 5j 30m · Sls 3h 12j · ↺17% · ★4.0" in table
    assert max(len(line) for line in table.splitlines()) <= 41  # a phone's width


async def test_report_card_other_periods(env: Any) -> None:
    sm, deps, _ = env
    async with sm() as s:
        # Only the old report's day: AAA with 1 received (red, due passed) and its reds.
        p = reports.parse_period("2026-11-03", deps.tz, deps.now())
        [a, c] = await reports.report_card(s, deps, p.start, p.end)
        assert (a.code, a.received, a.decided, a.on_time, a.open_reds) == ("AAA", 1, 1, 0, 2)
        assert c.code == "CCC" and c.received == 0 and c.open_reds == 5
        assert c.score == 0.0
        # A period with nothing at all, and no reds anywhere would give no rows; reds stay.
        p = reports.parse_period("2025-01", deps.tz, deps.now())
        rows = await reports.report_card(s, deps, p.start, p.end)
        assert {r.code: r.received for r in rows} == {"AAA": 0, "CCC": 0}


def test_score_without_data() -> None:
    row = reports.CardRow(1, "X", "X", "X")
    assert reports.score_of(row) is None
    row.received = 4
    assert reports.score_of(row) == 100.0  # only the backlog known, and it is empty


def test_parse_period() -> None:
    now = NOW  # Monday 23 Nov 2026, 12:00 WIB
    p = reports.parse_period("", TZ, now)
    assert (p.start, p.end) == (now - timedelta(days=7), now)
    p = reports.parse_period("minggu", TZ, now)
    assert p.start == datetime(2026, 11, 22, 17, tzinfo=UTC) and p.end == now  # Monday 00:00
    assert reports.parse_period("week", TZ, now) == p
    p = reports.parse_period("bulan", TZ, now)
    assert p.start == datetime(2026, 10, 31, 17, tzinfo=UTC) and p.end == now
    p = reports.parse_period("minggu-lalu", TZ, now)
    assert (p.first.isoformat(), p.last.isoformat()) == ("2026-11-16", "2026-11-22")
    assert p.end == datetime(2026, 11, 22, 17, tzinfo=UTC)
    assert reports.parse_period("last week", TZ, now) == p
    p = reports.parse_period("bulan-lalu", TZ, now)
    assert (p.first.isoformat(), p.last.isoformat()) == ("2026-10-01", "2026-10-31")
    p = reports.parse_period("30d", TZ, now)
    assert p.start == now - timedelta(days=30)
    p = reports.parse_period("2026-10", TZ, now)
    assert (p.start, p.end) == (datetime(2026, 9, 30, 17, tzinfo=UTC),
                                datetime(2026, 10, 31, 17, tzinfo=UTC))
    assert p.label() == "01-10-2026 – 31-10-2026"
    p = reports.parse_period("2026-11-01..2026-11-23", TZ, now)
    assert (p.start, p.end) == (datetime(2026, 10, 31, 17, tzinfo=UTC),
                                datetime(2026, 11, 23, 17, tzinfo=UTC))
    for bad in ("kemarin", "2026-13", "2026-02-30", "0d", "999d", "2026-11-23..2026-11-01",
                "7x"):
        with pytest.raises(reports.PeriodError):
            reports.parse_period(bad, TZ, now)


async def test_statistics(env: Any) -> None:
    sm, deps, ids = env
    p = period(deps)
    async with sm() as s:
        st = await reports.statistics(s, deps, p.start, p.end)
    assert st.received == 30 and st.open == 19
    assert st.by_status == {"closed": 7, "resolved": 3, "in_progress": 9, "dispatched": 10,
                            "rejected": 1}
    assert st.by_light == {"done": 11, "green": 12, "red": 6, "yellow": 1}
    assert [(name, n) for _, name, _, n in st.by_category] == [
        ("Kategori AAA", 12), ("Kategori BBB", 10), ("Kategori CCC", 8)]
    text = reports.statistics_text(st, deps.translator.bind("en"), p)
    assert "Received: 30 · open: 19 · resolved: 3 · closed: 7 · rejected: 1" in text
    assert "Category BBB: 10" in text and "🔴 red: 6" in text


async def test_overdue(env: Any) -> None:
    sm, deps, _ = env
    async with sm() as s:
        groups = await reports.overdue(s, deps)
        assert [(g.code, g.red, g.yellow) for g in groups] == [("CCC", 5, 1), ("AAA", 2, 0)]
        c, a = groups
        assert [i.light for i in c.items] == ["red"] * 5 + ["yellow"]
        assert [i.code for i in c.items[:5]] == [code("C", i) for i in (4, 3, 2, 1, 0)]
        assert [i.code for i in a.items] == [code("A", 12), code("A", 10)]  # oldest first
        assert a.items[0].due == NOW - timedelta(days=15)
        limited = await reports.overdue(s, deps, per_opd=2)
    assert len(limited[0].items) == 2
    text = reports.overdue_text(limited, deps.translator.bind("id"), TZ)
    assert "🔴 5 merah, 🟡 1 kuning" not in text  # totals over every OPD:
    assert "🔴 7 merah, 🟡 1 kuning" in text
    assert "… dan 4 lainnya." in text


async def test_timeline(env: Any) -> None:
    sm, deps, _ = env
    async with sm() as s:
        assert await reports.timeline(s, "ADU-ZZZZ") is None
        view = await reports.timeline(s, code("A", 0))
    assert view is not None and len(view.events) == 3
    text = reports.timeline_text(view, deps.translator.bind("id"), TZ)
    assert "Pelapor: Budi Warga" in text and "(Andi PIC)" in text
    assert "Sudah ditambal" in text and "555001" not in text


async def test_export_personal_data_only_when_asked(env: Any) -> None:
    sm, deps, _ = env
    p = period(deps)
    async with sm() as s:
        plain = await reports.export_rows(s, deps, p.start, p.end)
        personal = await reports.export_rows(s, deps, p.start, p.end, personal=True)
        cut = await reports.export_rows(s, deps, p.start, p.end, limit=5)
    assert len(plain.rows) == 30 and plain.total == 30 and len(cut.rows) == 5 and cut.total == 30
    assert len(plain.events) == 3
    csv_plain = reports.to_csv(plain).decode("utf-8-sig")
    for secret in PERSONAL:
        assert secret not in csv_plain
    parsed = list(csv.DictReader(io.StringIO(csv_plain)))
    first = next(r for r in parsed if r["code"] == code("A", 0))
    assert first["status"] == "closed" and first["rating"] == "5" and first["opd"] == "AAA"
    assert "Sudah ditambal" in first["timeline"] and "Andi PIC" in first["timeline"]
    assert "reporter_name" not in parsed[0]
    xlsx_plain = load_workbook(io.BytesIO(reports.to_xlsx(plain)))
    cells = [str(c) for ws in xlsx_plain.worksheets for row in ws.iter_rows(values_only=True)
             for c in row]
    assert not any(secret in c for secret in PERSONAL for c in cells)
    assert xlsx_plain.sheetnames == ["reports", "timeline"]
    assert xlsx_plain["reports"].max_row == 31 and xlsx_plain["timeline"].max_row == 4

    csv_personal = reports.to_csv(personal).decode("utf-8-sig")
    for secret in PERSONAL:
        assert secret in csv_personal
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(csv_personal))}
    assert rows[code("A", 1)]["reporter_phone"] == "+6281234567890"
    assert rows[code("A", 1)]["citizen_id"] == "555001"
    assert rows[code("A", 9)]["reporter_name"] == "" == rows[code("A", 9)]["citizen_id"]
    book = load_workbook(io.BytesIO(reports.to_xlsx(personal)))
    cells = [str(c) for row in book["reports"].iter_rows(values_only=True) for c in row]
    assert "Budi Warga" in cells and "budiwarga" in cells


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        return img.size


async def test_chart_and_weekly_digest(env: Any) -> None:
    sm, deps, _ = env
    async with sm() as s:
        text, png = await reports.weekly_digest(s, deps, NOW)
    # Monday: the week Monday 16 to Sunday 22 November, local time.
    assert "Rapor OPD 16-11-2026 – 22-11-2026" in text and "<pre>" in text
    assert "BBB" in text and "Skor 0–100" in text and len(text) <= 4096
    width, height = _png_size(png)
    assert 700 <= width <= 1400 and 300 <= height <= 1200, (width, height)
    empty = report_card_chart([], [], ChartLabels.of(deps.translator.bind("id")))
    assert _png_size(empty)[0] > 300
    assert wrap_name("Dinas Pekerjaan Umum dan Penataan Ruang Kabupaten Contoh") == \
        "Dinas Pekerjaan Umum\ndan Penataan Ruang…"


def test_digest_text_fits_one_message() -> None:
    rows = [reports.CardRow(i, f"OPD{i:03d}", "x", "x", received=3, decided=3, on_time=2,
                            score=50.0, rank=i) for i in range(1, 80)]
    t = Translator().bind("id")
    p = reports.parse_period("", TZ, NOW)
    pages = reports.report_card_pages(rows, t, p)
    assert len(pages) > 1 and all(len(x) <= 4096 for x in pages)
    assert all(x.count("<pre>") == 1 == x.count("</pre>") for x in pages)
    text = reports.digest_text(rows, t, p)
    assert len(text) <= 4096 and "OPD lainnya" in text


# ---- through the bot --------------------------------------------------------------------------


async def admin_says(h: Harness, text: str, *, user: int = ADMIN_ID, count: int = 1,
                     method: str | None = "sendMessage", chat: int | None = None,
                     **kwargs: Any) -> list[Any]:
    mark = h.fake.mark()
    chat = chat or user
    if chat != user:
        kwargs.update(chat_type="supergroup", title="Admin")
    h.fake.push_update(h.fake.make_message(chat, user, text, first_name="Admin", **kwargs))
    return await h.fake.wait_for(method, lambda c: c.chat_id == chat, count=count, since=mark)


async def seeded(h: Harness) -> dict[str, int]:
    async with h.sessionmaker() as s:
        return await seed_fixture(s, datetime.now(UTC))


async def test_rapor_and_statistik_commands(harness: Harness) -> None:
    h = harness
    await seeded(h)
    [table, photo] = await admin_says(h, "/rapor", count=2, method=None)
    assert table.method == "sendMessage" and table.params["parse_mode"] == "HTML"
    assert "<pre>" in table.text and " 1 BBB            90" in table.text
    assert "Skor 0–100" in table.text
    assert photo.method == "sendPhoto"
    _png_size(photo.upload("photo")[1])
    [old, _] = await admin_says(h, "/report_card 2020-01", count=2, method=None)
    # Nothing received then; the reds open now still rank (Indonesian: the admin's language).
    assert "Rapor OPD 01-01-2020 – 31-01-2020" in old.text
    assert " 2 CCC             0     0     -     5" in old.text
    [usage] = await admin_says(h, "/rapor kemarin")
    assert usage.text.startswith("Pemakaian: /rapor")
    [stats] = await admin_says(h, "/statistik")
    assert "Masuk: 30 · terbuka: 19" in stats.text
    [stats] = await admin_says(h, "/stats 30d")
    assert "Masuk: 31 · terbuka: 20" in stats.text  # with the old red of 20 days ago
    [usage] = await admin_says(h, "/statistik 2026-13")
    assert usage.text.startswith("Pemakaian: /statistik")


async def test_english_admin_in_a_group(harness: Harness) -> None:
    h = harness
    await seeded(h)
    group = -1001000000777
    [usage] = await admin_says(h, "/stats nonsense", chat=group, language_code="en")
    assert usage.text.startswith("Usage: /stats")
    [usage] = await admin_says(h, "/reassign ADU-2222", chat=group, language_code="en")
    assert usage.text.startswith("Usage: /reassign")
    [table, photo] = await admin_says(h, "/report_card week", chat=group, language_code="en",
                                      count=2, method=None)
    assert "OPD report card" in table.text and "Score" in table.text
    assert "Score 0–100 = (40×T" in table.text and photo.method == "sendPhoto"


async def test_terlambat_cari_alihkan(harness: Harness) -> None:
    h = harness
    await seeded(h)
    store = MediaStore(h.settings.media_dir)
    async with h.sessionmaker() as s:
        report = (await s.exec(select(Report).where(Report.code == code("A", 0)))).one()
        for color in ("red", "blue"):
            m = store.store(jpeg_bytes(color), "photo", "image/jpeg")
            s.add(Attachment(report_id=report.id, kind="photo", path=m.path, size=m.size,
                             sha256=m.sha256, mime=m.mime))
        await s.commit()
    [late] = await admin_says(h, "/terlambat")
    assert "🔴 7 merah, 🟡 1 kuning" in late.text and code("C", 0) in late.text
    [text, album] = await admin_says(h, f"/cari {code('A', 0).lower()}", count=2, method=None)
    assert "Budi Warga" in text.text and "Sudah ditambal" in text.text
    assert album.method == "sendMediaGroup" and len(album.params["media"]) == 2
    [missing] = await admin_says(h, "/search ADU-ZZZZ")
    assert "tidak ditemukan" in missing.text
    [usage] = await admin_says(h, "/cari")
    assert usage.text.startswith("Pemakaian: /cari")
    # Reassign: unknown OPD, unknown report, usage, then done.
    [bad] = await admin_says(h, f"/alihkan {code('C', 0)} NOPE")
    assert "OPD NOPE tidak dikenal" in bad.text
    [bad] = await admin_says(h, "/alihkan ADU-ZZZZ AAA")
    assert "Laporan ADU-ZZZZ tidak ditemukan" in bad.text
    [bad] = await admin_says(h, "/alihkan ADU-ZZZZ")
    assert bad.text.startswith("Pemakaian: /alihkan")
    [same] = await admin_says(h, f"/reassign {code('C', 0)} ccc")
    assert "sudah berada" in same.text
    [done] = await admin_says(h, f"/alihkan {code('C', 0)} AAA")
    assert f"Laporan {code('C', 0)} dialihkan ke" in done.text
    async with h.sessionmaker() as s:
        moved = (await s.exec(select(Report).where(Report.code == code("C", 0)))).one()
        event = (await s.exec(select(ReportEvent).where(
            ReportEvent.report_id == moved.id, ReportEvent.kind == "reassigned"))).one()
        aaa = (await s.exec(select(Opd).where(Opd.code == "AAA"))).one()
    assert moved.opd_id == aaa.id and event.actor_id == str(ADMIN_ID)


async def test_ekspor_command(harness: Harness) -> None:
    h = harness
    await seeded(h)
    csv_call, xlsx_call = await admin_says(h, "/ekspor", count=2, method="sendDocument")
    name, data = csv_call.upload("document")
    assert name.endswith(".csv") and "30 laporan" in csv_call.text
    text = data.decode("utf-8-sig")
    assert code("A", 0) in text and not any(secret in text for secret in PERSONAL)
    name, data = xlsx_call.upload("document")
    assert name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(data))
    assert book["reports"].max_row == 31
    csv_call, _ = await admin_says(h, "/export 30d personal", count=2, method="sendDocument")
    assert "data pribadi" in csv_call.text and "-pribadi.csv" in csv_call.upload("document")[0]
    assert all(secret in csv_call.upload("document")[1].decode("utf-8-sig")
               for secret in PERSONAL)
    [empty] = await admin_says(h, "/ekspor 2020-01")
    assert "Tidak ada laporan" in empty.text
    [usage] = await admin_says(h, "/ekspor besok pribadi")
    assert usage.text.startswith("Pemakaian: /ekspor")


async def test_refused_for_non_admins(harness: Harness) -> None:
    h = harness
    await seeded(h)
    stranger = new_user()
    for command in ("/cari ADU-AAA2", "/alihkan ADU-AAA2 BBB", "/terlambat", "/statistik",
                    "/rapor", "/ekspor pribadi", "/search x", "/export", "/report_card",
                    "/overdue", "/stats", "/reassign a b"):
        [answer] = await admin_says(h, command, user=stranger)
        assert "admin" in answer.text.lower(), (command, answer.text)
    assert not h.fake.sent("sendDocument") and not h.fake.sent("sendPhoto")
    async with h.sessionmaker() as s:
        events = (await s.exec(select(ReportEvent).where(
            ReportEvent.kind == "reassigned"))).all()
    assert events == []
