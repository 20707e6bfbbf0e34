"""The playground: rooms kept apart, bad uploads refused, the whole loop in headless Chromium."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.playground.rooms import CITIZEN, PIC, RoomError, check_image, safe_html
from bot.playground.server import Playground
from bot.settings import Settings
from tests.conftest import jpeg_bytes

CHROMIUM = "/usr/bin/chromium"
BROWSER_PATH = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
ROOT = Path(__file__).resolve().parent.parent


def playground_settings(tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {"PLAYGROUND_DIR": str(tmp_path / "rooms"),
                              "PLAYGROUND_BROWSER": False, "LOG_LEVEL": "WARNING"}
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def playground(tmp_path: Path) -> AsyncIterator[Playground]:
    pg = Playground(playground_settings(tmp_path), tmp_path / "rooms")
    pg.base_url = await pg.start("127.0.0.1", 0)  # type: ignore[attr-defined]
    yield pg
    await pg.stop()


async def new_room(session: aiohttp.ClientSession, pg: Playground) -> str:
    async with session.post(f"{pg.base_url}api/rooms") as res:  # type: ignore[attr-defined]
        assert res.status == 200, await res.text()
        return str((await res.json())["room"])


async def state(session: aiohttp.ClientSession, pg: Playground, room: str) -> Any:
    async with session.get(f"{pg.base_url}api/{room}/state") as res:  # type: ignore[attr-defined]
        return res.status, await res.json()


async def wait_state(session: aiohttp.ClientSession, pg: Playground, room: str, chat: str,
                     needle: str, timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    """Poll the room until a message in `chat` contains `needle`; the state."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _, data = await state(session, pg, room)
        if any(needle in m["html"] for m in data["chats"][chat]["messages"]):
            return data
        assert asyncio.get_running_loop().time() < deadline, data["chats"][chat]
        await asyncio.sleep(0.2)


# ---- pieces -------------------------------------------------------------------------------


def test_check_image_and_safe_html() -> None:
    assert check_image(jpeg_bytes()) == "jpeg"
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    assert check_image(png.getvalue()) == "png"
    for bad, key in ((b"", "pg-error-empty"), (b"%PDF-1.4 not an image", "pg-error-not-image")):
        with pytest.raises(RoomError) as info:
            check_image(bad)
        assert info.value.key == key
    assert safe_html("<b>ADU</b> <script>x</script>", "HTML") == "<b>ADU</b> x"
    assert safe_html("<b>raw</b>", None) == "&lt;b&gt;raw&lt;/b&gt;"
    assert safe_html('<a href="javascript:alert(1)">x</a>', "HTML") == "<a>x</a>"


# ---- the server, without a browser --------------------------------------------------------


async def test_rooms_stay_apart_and_refuse_bad_uploads(playground: Playground) -> None:
    pg = playground
    async with aiohttp.ClientSession() as session:
        one, two = await asyncio.gather(new_room(session, pg), new_room(session, pg))
        assert one != two
        # each room has its bound PUPR group, its own database and media folder
        for room in (one, two):
            data = await wait_state(session, pg, room, "pic", "PIC Andi")
            assert not data["chats"]["citizen"]["messages"]
            assert (pg.rooms.root / room / "aduan.db").exists()

        async def send(room: str, path: str, **body: Any) -> Any:
            async with session.post(f"{pg.base_url}api/{room}/{path}", json=body) as res:
                return res.status, await res.json()

        assert (await send(one, "send", **{"as": "citizen", "text": "/start"}))[0] == 200
        await wait_state(session, pg, one, "citizen", "Halo Budi")
        _, other = await state(session, pg, two)
        assert not other["chats"]["citizen"]["messages"]  # room two saw nothing

        # a button press goes through; an old or foreign one is refused politely
        room_one = pg.rooms.get(one)
        menu = next(m for m in room_one.state()["chats"]["citizen"]["messages"] if m["bot"])
        status, body = await send(two, "press", **{"as": "citizen", "message_id": menu["id"],
                                                   "data": menu["buttons"][0][0]["data"]})
        assert status == 400 and "tidak ada lagi" in body["error"]
        status, body = await send(one, "press", **{"as": "citizen", "message_id": menu["id"],
                                                   "data": "in:bogus:1"})
        assert status == 400 and body["key"] == "pg-error-old-button"

        async def upload(room: str, name: str, data: bytes, lang: str = "id") -> Any:
            form = aiohttp.FormData()
            form.add_field("as", "citizen")
            form.add_field("file", data, filename=name, content_type="application/octet-stream")
            url = f"{pg.base_url}api/{room}/photo?lang={lang}"
            async with session.post(url, data=form) as res:
                return res.status, await res.json()

        status, body = await upload(one, "cv.pdf", b"%PDF-1.4 hello")
        assert status == 415 and "bukan gambar" in body["error"]
        status, body = await upload(one, "cv.pdf", b"%PDF-1.4 hello", lang="en")
        assert status == 415 and "not an image" in body["error"]
        status, body = await upload(one, "big.jpg", jpeg_bytes() + b"\0" * (21 * 1024 * 1024))
        assert status == 413 and "20 MB" in body["error"]
        status, body = await upload(one, "ok.jpg", jpeg_bytes("green"))
        assert status == 200 and len(body["ids"]) == 1
        # several photos at once are an album (one media_group_id), a bundled sample too
        form = aiohttp.FormData()
        form.add_field("as", "citizen")
        form.add_field("caption", "Dua foto")
        form.add_field("file", jpeg_bytes("blue"), filename="a.jpg")
        form.add_field("sample", "sampah")
        async with session.post(f"{pg.base_url}api/{one}/photo", data=form) as res:
            assert res.status == 200
            ids = (await res.json())["ids"]
        shown = {m["id"]: m for m in pg.rooms.get(one).state()["chats"]["citizen"]["messages"]}
        first, second = shown[ids[0]], shown[ids[1]]
        assert first["album"] and first["album"] == second["album"]
        assert first["html"] == "Dua foto" and first["photo"] and second["photo"]
        # coordinates that are not coordinates
        status, body = await send(one, "location", **{"as": "citizen", "lat": "abc", "lon": 1})
        assert status == 400 and body["key"] == "pg-error-coordinates"
        # nothing of room one's uploads is reachable from room two
        photo = next(m for m in pg.rooms.get(one).state()["chats"]["citizen"]["messages"]
                     if m.get("photo"))
        url = f"{pg.base_url}api/{two}/file/{photo['photo']}"
        async with session.get(url) as res:
            assert res.status == 404
        async with session.get(f"{pg.base_url}api/{one}/file/{photo['photo']}") as res:
            assert res.status == 200 and res.content_type == "image/jpeg"


async def test_idle_rooms_expire_and_say_so(tmp_path: Path) -> None:
    settings = playground_settings(tmp_path, PLAYGROUND_ROOM_TTL_MINUTES=0.001)
    pg = Playground(settings, tmp_path / "rooms")
    pg.base_url = await pg.start("127.0.0.1", 0)  # type: ignore[attr-defined]
    try:
        async with aiohttp.ClientSession() as session:
            room = await new_room(session, pg)
            folder = pg.rooms.root / room
            assert folder.exists()
            await asyncio.sleep(0.2)
            await pg.rooms.expire()  # or the playground's own reaper did already
            assert room in pg.rooms.closed and room not in pg.rooms.open
            for _ in range(50):
                if not folder.exists():
                    break
                await asyncio.sleep(0.1)
            assert not folder.exists()
            status, body = await state(session, pg, room)
            assert status == 410 and "ditutup" in body["error"]
            async with session.get(f"{pg.base_url}r/{room}") as res:
                assert res.status == 200  # the page loads and shows the closed notice itself
            status, body = await state(session, pg, "zzzzzzzz")
            assert status == 410
    finally:
        await pg.stop()


async def test_playground_is_full(tmp_path: Path) -> None:
    pg = Playground(playground_settings(tmp_path, PLAYGROUND_MAX_ROOMS=1), tmp_path / "rooms")
    pg.base_url = await pg.start("127.0.0.1", 0)  # type: ignore[attr-defined]
    try:
        async with aiohttp.ClientSession() as session:
            await new_room(session, pg)
            async with session.post(f"{pg.base_url}api/rooms?lang=en") as res:
                assert res.status == 503 and "full" in (await res.json())["error"]
    finally:
        await pg.stop()


def test_run_without_token_starts_the_playground(tmp_path: Path) -> None:
    """`aduan run` with no BOT_TOKEN says so in one line and serves the playground."""
    from tests.test_settings_cli import cli_env

    env = cli_env(PLAYGROUND_PORT="0", PLAYGROUND_BROWSER="false", LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        import urllib.request

        with urllib.request.urlopen(url.group(0) + "healthz", timeout=10) as res:
            assert res.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    first = err.strip().splitlines()[0]
    assert "BOT_TOKEN" in first and "playground" in first
    assert not list(tmp_path.iterdir())  # rooms live in a temporary folder, removed on exit


# ---- in a real browser --------------------------------------------------------------------


def _browser_missing() -> str | None:
    if not BROWSER_PATH:
        return f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed (pip install -e '.[test]')"
    return None


browser_needed = pytest.mark.skipif(_browser_missing() is not None,
                                    reason=_browser_missing() or "")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=BROWSER_PATH,
            args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield chromium
        await chromium.close()


class Chat:
    """One panel of the page: its bubbles, buttons and composer."""

    def __init__(self, page: Any, key: str) -> None:
        self.page = page
        self.panel = page.locator(f'[data-chat="{key}"]')

    def bubble(self, text: str) -> Any:
        return self.panel.locator(".msg", has_text=text).last

    async def see(self, text: str, timeout: float = 15_000) -> Any:  # noqa: ASYNC109
        from playwright.async_api import expect

        bubble = self.bubble(text)
        await expect(bubble).to_be_visible(timeout=timeout)
        return bubble

    def card(self, code: str) -> Any:
        """The report card: the first bubble with the ticket code (photos and pin follow it)."""
        return self.panel.locator(".msg", has_text=code).first

    async def press(self, label: str, within: str | None = None) -> None:
        scope = self.card(within) if within else self.panel
        await scope.locator(".ikb button", has_text=label).last.click()

    async def key(self, label: str) -> None:
        await self.panel.locator(".rkb button", has_text=label).first.click()

    async def say(self, text: str) -> None:
        box = self.panel.locator(".composer input")
        await box.fill(text)
        await box.press("Enter")

    async def reply(self, to: Any, text: str) -> None:
        target = self.bubble(to) if isinstance(to, str) else to
        await target.locator(".replybtn").click()
        await self.say(text)

    async def photo(self, sample: str, caption: str = "", reply_to: str | None = None) -> None:
        if reply_to:
            await self.bubble(reply_to).locator(".replybtn").click()
        await self.panel.locator(".composer button.photo").click()
        if caption:
            await self.page.locator("#dialog .caption").fill(caption)
        await self.page.locator(f'#dialog [data-sample="{sample}"]').click()
        await self.page.locator("#dialog").wait_for(state="hidden")


@browser_needed
async def test_the_whole_loop_in_a_browser(playground: Playground, browser: Any,
                                           tmp_path: Path) -> None:
    pg = playground
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(pg.base_url + "?lang=id")  # type: ignore[attr-defined]
    await page.wait_for_url(re.compile(r"/r/[a-z0-9]{8}"))
    citizen, group, admin = Chat(page, "citizen"), Chat(page, "pic"), Chat(page, "admin")
    await group.see("PIC Andi ditambahkan")
    await page.screenshot(path=str(shots / "01-new-room.png"))

    # the citizen files a report with a sample photo and a preset place
    await citizen.panel.locator(".startbtn").click()
    await citizen.see("Halo Budi")
    await citizen.press("Buat laporan")
    await citizen.see("Langkah 1/5")
    await citizen.press("Jalan rusak")
    await citizen.see("Langkah 2/5")
    await citizen.say("Jalan berlubang besar di depan SD 003, sudah dua minggu.")
    await citizen.see("Langkah 3/5")
    await citizen.photo("jalan_berlubang")
    await citizen.see("(1/5)")
    await citizen.press("Selesai")
    await citizen.see("Langkah 4/5")
    await citizen.key("Kirim lokasi")
    await page.locator('#dialog [data-place="lintas_timur"]').click()
    await citizen.see("Langkah 5/5")
    await citizen.press("Pakai nama")
    await citizen.key("Bagikan nomor")
    await citizen.see("Kirim laporan")
    await page.screenshot(path=str(shots / "02-summary.png"))
    await citizen.press("Kirim laporan")
    ticket = await citizen.see("ADU-")
    code = re.search(r"ADU-[A-Z0-9]{4}", await ticket.inner_text()).group(0)  # type: ignore[union-attr]

    # the card reaches the PUPR group with its photo and pin; the PIC takes it
    card = group.card(code)
    await expect_visible(card.locator(".ikb button", has_text="Saya tangani"))
    await expect_visible(group.panel.locator(".msg img").first)
    await expect_visible(group.panel.locator(".msg .loc").first)
    await group.press("Saya tangani", within=code)
    await citizen.see("ditangani")
    await group.reply(card, "Tim kami ke lokasi besok pagi.")
    await citizen.see("Tim kami ke lokasi besok pagi.")
    await page.screenshot(path=str(shots / "03-taken-and-replied.png"))

    # one working day later, then resolved with a proof photo as a reply to the prompt
    await page.locator("#clock-button").click()
    await expect_visible(page.locator("#notice", has_text=re.compile("dimajukan")))
    await group.press("Selesai", within=code)
    await group.see("catatan penyelesaian")
    await group.photo("jalan_berlubang", caption="Lubang sudah ditambal hari ini.",
                      reply_to="catatan penyelesaian")
    await citizen.see("Sudah selesai")
    await citizen.press("Ya, sudah")
    await citizen.see("penilaian")
    await citizen.press("5")
    await citizen.see("Laporan ditutup")
    await expect_visible(card.locator(".meta", has_text="diubah"))
    await page.screenshot(path=str(shots / "04-resolved-and-rated.png"))

    # the admin reads the OPD report card (/rapor where it exists, else the OPD list)
    await admin.say("/rapor")
    await expect_visible(admin.panel.locator(".msg").nth(1))  # the bot's answer
    if await admin.panel.locator(".msg", has_text="PUPR").count() == 0:
        await admin.say("/opd")  # no /rapor in this tree: the OPD list
    answer = await admin.see("PUPR", timeout=15_000)
    await page.screenshot(path=str(shots / "05-admin.png"))
    assert await answer.is_visible()

    # a reload mid-conversation shows the same history
    await page.reload()
    await citizen.see("Laporan ditutup")
    await group.see(code)
    assert not errors, errors

    # a phone-sized screen: one chat at a time, tabs to switch
    phone = await browser.new_page(viewport={"width": 390, "height": 800})
    await phone.goto(page.url)
    await expect_visible(Chat(phone, "citizen").bubble("Laporan ditutup"))
    await phone.screenshot(path=str(shots / "06-phone-citizen.png"))
    await phone.locator('[data-tab="pic"]').click()
    await expect_visible(Chat(phone, "pic").bubble(code))
    await phone.screenshot(path=str(shots / "07-phone-group.png"))
    print(f"screenshots in {shots}")


async def expect_visible(locator: Any) -> None:
    from playwright.async_api import expect

    await expect(locator).to_be_visible(timeout=15_000)


@browser_needed
async def test_two_rooms_in_two_browsers_stay_apart(playground: Playground, browser: Any,
                                                    tmp_path: Path) -> None:
    pg = playground
    first = await (await browser.new_context()).new_page()
    second = await (await browser.new_context()).new_page()
    url = pg.base_url + "?lang=id"  # type: ignore[attr-defined]
    await asyncio.gather(first.goto(url), second.goto(url))
    assert first.url != second.url
    one, two = Chat(first, "citizen"), Chat(second, "citizen")
    await one.panel.locator(".startbtn").click()
    await one.see("Halo Budi")
    await one.say("Pesan rahasia ruang satu")
    await one.see("Pesan rahasia ruang satu")
    await two.panel.locator(".startbtn").click()
    await two.see("Halo Budi")
    assert await second.locator(".msg", has_text="ruang satu").count() == 0
    # a second tab on the first room shows its conversation and notes the other tab
    again = await first.context.new_page()
    await again.goto(first.url)
    await Chat(again, "citizen").see("Pesan rahasia ruang satu")
    await expect_visible(first.locator("#notice"))
    # a closed room says so
    code = first.url.split("/r/")[1].split("?")[0]
    await pg.rooms.close_room(code)
    await expect_visible(first.locator("#closed"))
    await first.screenshot(path=str(tmp_path / "closed-room.png"))
    assert CITIZEN.chat_id != PIC.chat_id


# ---- the clock, without a browser ---------------------------------------------------------


async def _act(room: Any, chat: Any, action: Any, *, count: int = 1) -> None:
    """Run `action` and wait until the bot has sent or edited `count` messages in `chat`."""
    mark = room.api.mark()
    action()
    await room.api.wait_for(None, lambda c: c.method in ("sendMessage", "editMessageText",
                                                         "sendPhoto")
                            and str(c.chat_id) == str(chat.chat_id), since=mark, count=count,
                            timeout=15)


def _press(room: Any, actor: Any, label: str) -> None:
    """Press the newest inline button whose text contains `label` in the actor's chat."""
    for message in reversed(room.state()["chats"][actor.key]["messages"]):
        for row in message.get("buttons") or []:
            for button in row:
                if label in button["text"]:
                    room.press(actor, message["id"], button["data"])
                    return
    raise AssertionError(f"no button {label!r}")


async def test_clock_turns_the_light_and_escalates(playground: Playground) -> None:
    """Moving the room's clock working day by day: reminders in the group, the card's light
    turns red, and the overdue report is escalated to the admin."""
    room = await playground.rooms.create()
    await file_quickly(room)
    for _ in range(7):
        await room.next_working_day()
    await room.api.wait_for("sendMessage", lambda call: call.chat_id == PIC.chat_id
                            and "melewati batas waktu" in (call.text or ""), timeout=15)
    await room.api.wait_for("sendMessage", lambda call: call.chat_id == 5003
                            and "Eskalasi" in (call.text or ""), timeout=15)
    card = next(m for m in room.state()["chats"]["pic"]["messages"] if "ADU-" in m["html"])
    assert "🔴" in card["html"] and card["edited"]
    assert room.state()["days"] >= 7


async def file_quickly(room: Any) -> None:
    """A citizen's road report with a photo and a place, filed through the room's API."""
    c, cit = CITIZEN, CITIZEN
    await _act(room, c, lambda: room.send_text(cit, "/start"))
    await _act(room, c, lambda: _press(room, cit, "Buat laporan"))
    await _act(room, c, lambda: _press(room, cit, "Jalan rusak"))
    await _act(room, c, lambda: room.send_text(cit, "Jalan berlubang besar di depan pasar."))
    await _act(room, c, lambda: room.send_photos(cit, [("a.jpg", jpeg_bytes())]))
    await _act(room, c, lambda: _press(room, cit, "Selesai"))
    await _act(room, c, lambda: room.send_location(cit, 0.4037, 101.8558), count=2)
    await _act(room, c, lambda: _press(room, cit, "Anonim"))
    await _act(room, c, lambda: _press(room, cit, "Kirim laporan"))
    await room.api.wait_for("sendMessage", lambda call: call.chat_id == PIC.chat_id
                            and "ADU-" in (call.text or ""), timeout=15)


@browser_needed
async def test_clock_button_in_the_browser(playground: Playground, browser: Any,
                                           tmp_path: Path) -> None:
    """The page's clock button: day by day the card turns yellow then red, the group gets
    reminders and the admin the escalation."""
    room = await playground.rooms.create()
    await file_quickly(room)
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(f"{playground.base_url}r/{room.code}?lang=id")  # type: ignore[attr-defined]
    group, admin = Chat(page, "pic"), Chat(page, "admin")
    card = group.card("ADU-")
    await expect_visible(card.locator(".text", has_text="🟢"))
    for _ in range(7):
        before = await page.locator("#clock").inner_text()
        await page.locator("#clock-button").click()
        await expect_visible(page.locator("#clock").filter(
            has_not_text=re.compile("^" + re.escape(before) + "$")))
    await expect_visible(card.locator(".text", has_text="🔴"))
    await group.see("melewati batas waktu")
    await admin.see("Eskalasi")
    await page.screenshot(path=str(tmp_path / "clock-red.png"))


@browser_needed
async def test_whatsapp_citizen_in_the_browser(playground: Playground, browser: Any,
                                               tmp_path: Path) -> None:
    """The switch shows the citizen on WhatsApp: lists, reply buttons and the location
    request, through the real WhatsApp adapter; the report reaches the PUPR group."""
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(playground.base_url + "?lang=id")  # type: ignore[attr-defined]
    await page.wait_for_url(re.compile(r"/r/[a-z0-9]{8}"))
    await page.locator('#channel [data-channel="wa"]').click()
    siti, group = Chat(page, "wa"), Chat(page, "pic")
    await expect_visible(siti.panel)
    await siti.say("halo")
    await siti.see("Halo Siti")

    async def pick(prefix: str, needle: str) -> None:
        await siti.panel.locator(".wab button.walist").last.click()
        await page.locator(f'#dialog [data-row^="{prefix}"]').first.click()
        await siti.see(needle)

    async def button(label: str, needle: str) -> None:
        await siti.panel.locator(".wab button", has_text=label).last.click()
        await siti.see(needle)

    await pick("new:", "Langkah 1/5")
    await siti.panel.locator(".wab button.walist").last.click()
    await page.locator("#dialog [data-row]", has_text="Jalan rusak").first.click()
    await siti.see("Langkah 2/5")
    await siti.say("Jalan berlubang besar di depan pasar, bahaya untuk motor.")
    await siti.see("Langkah 3/5")
    await siti.photo("jalan_berlubang")
    await siti.see("(1/5)")
    await button("Selesai", "Langkah 4/5")
    await siti.panel.locator(".wab button", has_text="Kirim lokasi").last.click()
    await page.locator('#dialog [data-place="pasar_kerinci"]').click()
    await siti.see("Langkah 5/5")
    # Named, confidential, anonymous and cancel: more than WhatsApp's three buttons, a list.
    await pick("anon:", "Periksa laporan")
    await page.screenshot(path=str(tmp_path / "whatsapp-summary.png"))
    await siti.panel.locator(".wab button", has_text="Kirim").last.click()
    ticket = siti.panel.locator(".msg", has_text=re.compile(r"ADU-[A-Z0-9]{4}")).last
    await expect_visible(ticket)
    code = re.search(r"ADU-[A-Z0-9]{4}", await ticket.inner_text()).group(0)  # type: ignore[union-attr]
    await group.see(code)
    await group.press("Saya tangani", within=code)
    await siti.see("sedang ditangani")
    await page.screenshot(path=str(tmp_path / "whatsapp-taken.png"))
    # the Telegram citizen's chat is still there behind the switch
    await page.locator('#channel [data-channel="telegram"]').click()
    await expect_visible(Chat(page, "citizen").panel)
