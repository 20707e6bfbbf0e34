"""Hundreds of citizens at once: a crowd filing together, re-delivered updates, Telegram's
429s and 5xx, the order of what a citizen reads, and texts longer than one message.

End to end through the real Dispatcher and Bot against FakeBotAPI. The tests look only at what
Telegram would see (the calls recorded by the fake Bot API) and at what the database holds, so
they hold however the bot is organised inside:

* a step counts as answered when the bot has shown something in that chat after it (a new
  message or an edit), never by counting messages;
* buttons are found by their label (from locales/id/aduan.ftl, or the seed's category name) in
  the newest message of the chat that shows them, never by the layout of callback data;
* an error notice (`error-generic`, `throttled`) where an answer was expected fails at once.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from models.tables import Citizen, Report, ReportEvent
from tests.conftest import ADMIN_ID, Harness, jpeg_bytes, new_user
from tests.fakebotapi import Call

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "locales" / "id" / "aduan.ftl"
SEED = ROOT / "deploy" / "seed.example.toml"

GROUP = -1001000000901  # the group bound to PUPR (roads) in these tests
PIC, PIC_NAME = 700901, "Andi"
SHOWN = frozenset({"sendMessage", "editMessageText"})
STEP_TIMEOUT = 30.0  # generous: a crowd shares one event loop with the bot and the fake
TEXT_LIMIT = 4096
CROWD = 100
DESCRIPTION = "Jalan berlubang besar di depan SD 003, sudah dua minggu."
CODE_RE = re.compile(r"\b[A-Z]{2,5}-[A-Z0-9]{4,8}\b")
WORD_RE = re.compile(r"w\d{5}x*")

Match = Callable[[str], object]
Marker = Callable[[int], Awaitable[None]]

_photo_numbers = itertools.count(1)


# ---- what the bot says: the Indonesian catalog and the seed -------------------------------


@functools.cache
def catalog() -> dict[str, str]:
    """Message id -> its Indonesian text; continuation lines joined with newlines."""
    out: dict[str, str] = {}
    key: str | None = None
    for line in CATALOG.read_text(encoding="utf-8").splitlines():
        head = re.match(r"^([a-z][\w-]*)\s*=\s?(.*)$", line)
        if head:
            key = head.group(1)
            out[key] = head.group(2).strip()
        elif key is not None and (line.startswith(" ") or not line.strip()):
            out[key] = f"{out[key]}\n{line.strip()}" if out[key] else line.strip()
        else:
            key = None
    return {k: v.strip() for k, v in out.items()}


def tr(key: str) -> str:
    """The Indonesian text of a catalog message, placeables left as written."""
    return catalog()[key]


@functools.cache
def pattern(key: str) -> re.Pattern[str]:
    """A regex finding the catalog message in a text; each placeable matches any text."""
    parts = re.split(r"\{\s*\$\w+\s*\}", tr(key))
    return re.compile("(.+?)".join(re.escape(p) for p in parts))


def any_of(*keys: str) -> Callable[[str], bool]:
    """True for a text containing any of the catalog messages (keys not in the catalog are
    ignored, so a message the bot may fold others into can be listed)."""
    found = [pattern(k) for k in keys if k in catalog()]
    assert found, keys
    return lambda text: any(p.search(text) for p in found)


# The ticket confirmation; when the OPD's group is known it may say where it went, too.
RECEIVED = ("report-received", "report-received-forwarded")
# Telling the citizen the report went to the OPD: a notice, or within the confirmation.
FORWARDED = ("notify-dispatched", "report-received-forwarded")


def is_error_notice(text: str | None) -> bool:
    """The generic error or the flood notice, also when cut down to a callback alert."""
    return bool(text) and any(tr(k)[:50] in str(text) for k in ("error-generic", "throttled"))


@functools.cache
def road_label() -> str:
    """The seed's road category (photo and location required), as its button shows it."""
    seed = tomllib.loads(SEED.read_text(encoding="utf-8"))
    road = next(c for c in seed["category"] if c["code"] == "jalan")
    assert road["requires_photo"] and road["requires_location"]
    return str(road["name_id"])


def ticket(text: str | None) -> str:
    found = CODE_RE.search(text or "")
    assert found, f"no ticket code in {text!r}"
    return found.group(0)


# ---- reading the fake's records -----------------------------------------------------------


def labels(markup: Any) -> list[tuple[str, str]]:
    """(text, callback data) of every inline button in a reply_markup."""
    if not isinstance(markup, dict):
        return []
    return [(str(b.get("text", "")), str(b.get("callback_data", "")))
            for row in markup.get("inline_keyboard") or [] for b in row if isinstance(b, dict)]


def shown(h: Harness, chat: int, since: int = 0) -> list[Call]:
    """Messages sent to or edited in `chat` since `since`, answered successfully, in order."""
    return [c for c in h.fake.calls[since:] if c.ok and c.method in SHOWN and c.chat_id == chat]


def texts(h: Harness, chat: int, since: int = 0) -> list[str]:
    return [c.text or "" for c in shown(h, chat, since)]


def recent(h: Harness, chat: int) -> list[str]:
    return [t[:90] for t in texts(h, chat)][-6:]


def find_button(h: Harness, chat: int, label: str) -> tuple[int, str]:
    """(message id, callback data) of the button `label` in the newest message of `chat`
    that shows it now (edits included)."""
    found = [(mid, data) for (cid, mid), msg in list(h.fake.messages.items()) if cid == chat
             for text, data in labels(msg.get("reply_markup")) if label in text and data]
    if not found:
        raise AssertionError(f"no button {label!r} in chat {chat}; last shown: "
                             f"{recent(h, chat)}")
    return max(found)


async def wait_shown(h: Harness, chat: int, since: int, what: str, *, label: str | None = None,
                     match: Match | None = None, within: float = STEP_TIMEOUT) -> Call:
    """The first message shown in `chat` after `since` with the button `label` and/or a text
    passing `match`; an error notice there instead fails at once."""

    def wanted(c: Call) -> bool:
        if c.method not in SHOWN or c.chat_id != chat:
            return False
        if is_error_notice(c.text):
            return True
        if label is not None and not any(label in t for t, _ in
                                         labels(c.params.get("reply_markup"))):
            return False
        return match is None or bool(match(c.text or ""))

    try:
        calls = await h.fake.wait_for(None, wanted, since=since, timeout=within)
    except AssertionError:
        raise AssertionError(f"{what}: nothing fitting was shown to {chat} within {within}s; "
                             f"last shown: {recent(h, chat)}") from None
    if is_error_notice(calls[0].text):
        raise AssertionError(f"{what}: {chat} was told {calls[0].text!r}")
    return calls[0]


async def answered(h: Harness, query_id: str, since: int, what: str,
                   within: float = STEP_TIMEOUT) -> Call:
    """The answerCallbackQuery of one button press; an error notice there fails at once."""
    try:
        calls = await h.fake.wait_for(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query_id,
            since=since, timeout=within)
    except AssertionError:
        raise AssertionError(f"{what}: the button press was never answered") from None
    alert = calls[0].params.get("text")
    if is_error_notice(alert):
        raise AssertionError(f"{what}: the press was answered with {alert!r}")
    return calls[0]


# ---- a citizen's steps, each waiting for the bot's answer ---------------------------------


async def say(h: Harness, user: int, text: str | None = None, *, what: str,
              label: str | None = None, match: Match | None = None, **kwargs: Any) -> Call:
    """A private message; waits for an answer (with the button `label` / passing `match`)."""
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(user, user, text, **kwargs))
    return await wait_shown(h, user, mark, what, label=label, match=match)


async def press(h: Harness, user: int, label: str, *, next_label: str | None = None,
                match: Match | None = None) -> Call:
    """Press `label` in the private chat; waits for the press's answer and the next prompt."""
    what = f"{user} pressing {label!r}"
    mid, data = find_button(h, user, label)
    mark = h.fake.mark()
    update = h.fake.make_callback(user, user, data, mid)
    h.fake.push_update(update)
    await answered(h, update["callback_query"]["id"], mark, what)
    return await wait_shown(h, user, mark, what, label=next_label, match=match)


async def to_summary(h: Harness, user: int) -> None:
    """The whole intake up to the summary: roads (photo required), a description, one photo
    (downloaded through getFile), a shared location, anonymous."""
    await say(h, user, "/start", what=f"{user} /start", label=tr("btn-new-report"))
    await press(h, user, tr("btn-new-report"), next_label=road_label())
    await press(h, user, road_label())
    await say(h, user, DESCRIPTION, what=f"{user} description", label=tr("btn-done"))
    n = next(_photo_numbers)
    size = (64 + n % 64, 48 + n // 64 % 64)  # every citizen's photo has bytes of its own
    photo = h.fake.add_file(jpeg_bytes(size=size), file_path=f"photos/load-{n}.jpg")
    await say(h, user, photo=photo, what=f"{user} photo", label=tr("btn-done"))
    await press(h, user, tr("btn-done"))
    await say(h, user, location=(0.40, 101.85), what=f"{user} location",
              label=tr("btn-anonymous"))
    await press(h, user, tr("btn-anonymous"), next_label=tr("btn-send"))


async def file_report(h: Harness, user: int) -> str:
    """A whole report, sent; returns the ticket code the citizen was told."""
    await to_summary(h, user)
    confirmation = await press(h, user, tr("btn-send"), match=any_of(*RECEIVED))
    return ticket(confirmation.text)


def distinct_citizens(n: int) -> list[int]:
    users: set[int] = set()
    while len(users) < n:
        users.add(new_user())
        users -= {PIC, ADMIN_ID}
    return sorted(users)


# ---- the OPD group ------------------------------------------------------------------------


def group_message(h: Harness, user: int, text: str | None = None, *,
                  first_name: str = PIC_NAME, **kwargs: Any) -> dict[str, Any]:
    """A message update in the PUPR group (not pushed yet)."""
    return h.fake.make_message(GROUP, user, text, chat_type="supergroup", title="Dinas PUPR",
                               first_name=first_name, **kwargs)


async def admin_in_group(h: Harness, text: str, answer_key: str) -> None:
    mark = h.fake.mark()
    h.fake.push_update(group_message(h, ADMIN_ID, text, first_name="Admin"))
    await wait_shown(h, GROUP, mark, text, match=pattern(answer_key).search)


async def bind_group(h: Harness) -> None:
    """GROUP becomes the seed's PUPR group, with PIC registered (as an admin does it)."""
    await admin_in_group(h, "/opd_bind PUPR", "admin-bind-ok")
    await admin_in_group(h, f"/pic_add PUPR {PIC}", "admin-pic-added")


def replies_to(call: Call, message_id: int) -> bool:
    reply = call.params.get("reply_parameters")
    if isinstance(reply, dict):
        return reply.get("message_id") == message_id
    return call.params.get("reply_to_message_id") == message_id


async def card_id(h: Harness, code: str) -> int:
    """Message id of the report's card in the group, once the card and its map pin (sent
    after it, as a reply to it) are out: from then on the bot knows the card."""
    calls = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == GROUP and code in (c.text or "")
        and bool(labels(c.params.get("reply_markup"))), timeout=STEP_TIMEOUT)
    card = int(calls[0].result["message_id"])
    await h.fake.wait_for(None, lambda c: c.method in ("sendLocation", "sendVenue")
                          and c.chat_id == GROUP and replies_to(c, card), timeout=STEP_TIMEOUT)
    return card


# ---- the database -------------------------------------------------------------------------


async def owners(h: Harness) -> dict[str, str]:
    """Ticket code -> the Telegram user id of the citizen who filed it, for every report."""
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Report.code, Citizen.external_id)
                             .join(Citizen, col(Citizen.id) == col(Report.citizen_id)))).all()
    return {code: external for code, external in rows}


async def event_notes(h: Harness, code: str, kind: str) -> list[str]:
    """Notes of the report's timeline events of one kind."""
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(ReportEvent.note)
                             .join(Report, col(Report.id) == col(ReportEvent.report_id))
                             .where(Report.code == code, ReportEvent.kind == kind))).all()
    return [note or "" for note in rows]


async def report_count(h: Harness) -> int:
    async with h.sessionmaker() as s:
        return int((await s.exec(select(func.count()).select_from(Report))).one())


# ---- 1. a crowd -----------------------------------------------------------------------------


async def test_hundred_citizens_file_at_once(harness: Harness) -> None:
    """100 citizens doing the whole intake at the same time, photo downloads slowed to 0.3 s
    each, all get through: 100 reports, 100 distinct tickets, each citizen told their own,
    and nobody sees the error or the flood notice."""
    h = harness
    users = distinct_citizens(CROWD)
    h.fake.hang_next("getFile", 0.3, times=CROWD)
    mark = h.fake.mark()
    results = await asyncio.gather(*(file_report(h, u) for u in users), return_exceptions=True)

    failed = [f"{u}: {r}" for u, r in zip(users, results, strict=True)
              if isinstance(r, BaseException)]
    notices = [f"{c.method} to {c.chat_id}: {c.text}" for c in h.fake.calls[mark:]
               if c.ok and is_error_notice(c.text)]
    assert not failed, (f"{len(failed)} of {CROWD} citizens got no ticket; first ones:\n"
                        + "\n".join(failed[:5]) + f"\nerror notices sent: {len(notices)}")
    assert not notices, f"{len(notices)} error notices, e.g. {notices[:3]}"
    told = {str(code): str(user) for user, code in zip(users, results, strict=True)}
    assert len(told) == CROWD, "two citizens were told the same ticket"
    assert await report_count(h) == CROWD
    assert await owners(h) == told, "a citizen was told a ticket that is not theirs"


# ---- 2. re-delivered updates have one effect ------------------------------------------------


async def redeliver(h: Harness, update: dict[str, Any], marker: Marker) -> None:
    """Deliver `update` three times under one update_id, as Telegram does when the offset was
    not confirmed: twice in one getUpdates batch, then once more after a stop and restart.
    After each delivery `marker(n)` sends a later update from the same chat and waits for its
    effect, so every copy before it has been handled."""
    update_id = h.fake.push_update(update)
    h.fake.push_update({**update, "update_id": update_id})
    await marker(1)
    await h.stop()
    h.fake.push_update({**update, "update_id": update_id})
    await h.start()
    await marker(2)


def citizen_marker(h: Harness, user: int) -> Marker:
    """/laporanku from the citizen, answered."""
    head, empty = pattern("my-reports-head"), pattern("my-reports-empty")

    async def marker(n: int) -> None:
        await say(h, user, "/laporanku", what=f"marker {n}",
                  match=lambda t: head.search(t) or empty.search(t))

    return marker


def pic_marker(h: Harness, citizen: int, card: int) -> Marker:
    """A PIC's reply to the card, relayed to the citizen."""

    async def marker(n: int) -> None:
        text = f"Penanda {n}: tim dijadwalkan ke lokasi."
        mark = h.fake.mark()
        h.fake.push_update(group_message(h, PIC, text, reply_to_message_id=card))
        await wait_shown(h, citizen, mark, f"marker {n}", match=lambda t: text in t)

    return marker


async def test_redelivered_send_button_files_one_report(harness: Harness) -> None:
    """The Send button's update delivered three times files one report, and the citizen is
    told once (no 'already sent' answer to a press they made once)."""
    h, user = harness, new_user()
    await to_summary(h, user)
    mid, data = find_button(h, user, tr("btn-send"))
    mark = h.fake.mark()
    await redeliver(h, h.fake.make_callback(user, user, data, mid), citizen_marker(h, user))

    mine = [code for code, owner in (await owners(h)).items() if owner == str(user)]
    assert len(mine) == 1, f"{len(mine)} reports filed from one press: {mine}"
    answers = texts(h, user, mark)
    confirmations = [t for t in answers if any_of(*RECEIVED)(t)]
    assert len(confirmations) == 1 and mine[0] in confirmations[0], confirmations
    again = [t for t in answers if pattern("already-sent").search(t)]
    assert not again, f"the re-delivered press was answered again: {again}"


async def test_redelivered_pic_reply_reaches_citizen_once(harness: Harness) -> None:
    """A PIC's reply to the card delivered three times reaches the citizen once and is one
    event in the timeline."""
    h, citizen = harness, new_user()
    await bind_group(h)
    code = await file_report(h, citizen)
    card = await card_id(h, code)
    reply = "Tim kami ke lokasi besok pagi."
    mark = h.fake.mark()
    await redeliver(h, group_message(h, PIC, reply, reply_to_message_id=card),
                    pic_marker(h, citizen, card))

    relayed = [t for t in texts(h, citizen, mark) if reply in t]
    assert len(relayed) == 1, f"relayed {len(relayed)} times: {relayed}"
    notes = [n for n in await event_notes(h, code, "pic_reply") if reply in n]
    assert len(notes) == 1, f"{len(notes)} pic_reply events for one reply"


async def test_redelivered_balas_reaches_group_once(harness: Harness) -> None:
    """A citizen's `/balas CODE text` delivered three times is posted in the OPD group once,
    logged once, and acknowledged once."""
    h, citizen = harness, new_user()
    await bind_group(h)
    code = await file_report(h, citizen)
    await card_id(h, code)
    answer = "Sebelah kiri, dekat tiang listrik."
    ack = pattern("answer-sent")

    async def marker(n: int) -> None:
        text = f"Penanda {n} dari pelapor."
        since = h.fake.mark()
        await say(h, citizen, f"/balas {code} {text}", what=f"marker {n}", match=ack.search)
        await wait_shown(h, GROUP, since, f"marker {n} in the group", match=lambda t: text in t)

    mark = h.fake.mark()
    await redeliver(h, h.fake.make_message(citizen, citizen, f"/balas {code} {answer}"), marker)

    posted = [t for t in texts(h, GROUP, mark) if answer in t]
    assert len(posted) == 1, f"posted {len(posted)} times in the group: {posted}"
    notes = [n for n in await event_notes(h, code, "citizen_reply") if answer in n]
    assert len(notes) == 1, f"{len(notes)} citizen_reply events for one answer"
    acks = [t for t in texts(h, citizen, mark) if ack.search(t)]
    assert len(acks) == 3, f"{len(acks)} acknowledgements for 3 distinct /balas (1 + 2 markers)"


async def test_redelivered_card_button_is_applied_once(harness: Harness) -> None:
    """The card's 'take' press delivered three times assigns the report once ('assigned'
    event) and tells the citizen once."""
    h, citizen = harness, new_user()
    await bind_group(h)
    code = await file_report(h, citizen)
    card = await card_id(h, code)
    mid, data = find_button(h, GROUP, tr("card-btn-take"))
    assert mid == card
    mark = h.fake.mark()
    update = h.fake.make_callback(GROUP, PIC, data, card, chat_type="supergroup",
                                  first_name=PIC_NAME)
    await redeliver(h, update, pic_marker(h, citizen, card))

    assigned = await event_notes(h, code, "assigned")
    assert len(assigned) == 1, f"{len(assigned)} 'assigned' events"
    notices = [t for t in texts(h, citizen, mark) if pattern("notify-in-progress").search(t)]
    assert len(notices) == 1, f"citizen told {len(notices)} times: {notices}"


# ---- 3. direct replies are never lost -------------------------------------------------------

RETRY_AFTER = 2  # seconds, as Telegram's 429 says
STORM = 3  # 429s in a row for one citizen
OUTAGE = 6  # 502s in a row for one citizen: more than any retry inside one handler


async def test_429_storm_delays_replies_but_loses_none(harness: Harness) -> None:
    """sendMessage to one citizen answered 429 (retry_after 2 s) three times in a row: their
    /status answer and /balas acknowledgement still arrive, with no error notice, and nothing
    is sent to that chat before retry_after has passed since a 429."""
    h, citizen = harness, new_user()
    code = await file_report(h, citizen)
    h.fake.fail_next("sendMessage", status=429, retry_after=RETRY_AFTER, times=STORM,
                     chat_id=citizen)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(citizen, citizen, f"/status {code}"))
    h.fake.push_update(h.fake.make_message(citizen, citizen, f"/balas {code} Di depan warung."))
    budget = RETRY_AFTER * STORM + 15.0
    head = pattern("status-head")
    await wait_shown(h, citizen, mark, "/status in a 429 storm", within=budget,
                     match=lambda t: code in t and head.search(t))
    await wait_shown(h, citizen, mark, "/balas in a 429 storm", within=budget,
                     match=pattern("answer-sent").search)

    to_chat = [c for c in h.fake.calls[mark:] if c.chat_id == citizen and not c.pending]
    limited = [c for c in to_chat if c.status == 429]
    assert len(limited) == STORM, [c.short() for c in to_chat]
    for c429 in limited:
        early = [c.short() for c in to_chat
                 if c429.at < c.at < c429.at + RETRY_AFTER - 0.05]
        assert not early, f"sent within {RETRY_AFTER}s of a 429: {early}"


@pytest.mark.settings(OUTBOX_MAX_ATTEMPTS=12)
async def test_replies_survive_a_5xx_outage(harness: Harness) -> None:
    """sendMessage to one citizen fails with 502 six times in a row (longer than any retry
    inside a handler): the /status answer is still delivered afterwards, and the citizen's
    next command is answered too."""
    h, citizen = harness, new_user()
    code = await file_report(h, citizen)
    h.fake.fail_next("sendMessage", status=502, times=OUTAGE, chat_id=citizen)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(citizen, citizen, f"/status {code}"))
    h.fake.push_update(h.fake.make_message(citizen, citizen, "/laporanku"))
    head = pattern("status-head")
    await wait_shown(h, citizen, mark, "/status in a 502 outage", within=20.0,
                     match=lambda t: code in t and head.search(t))
    await wait_shown(h, citizen, mark, "/laporanku after the outage", within=20.0,
                     match=pattern("my-reports-head").search)
    failed = [c for c in h.fake.calls[mark:] if c.chat_id == citizen and c.status == 502]
    assert len(failed) == OUTAGE  # the outage really happened


# ---- 4. what the citizen reads first --------------------------------------------------------


def first_index(calls: list[Call], keys: tuple[str, ...]) -> int:
    found = any_of(*keys)
    return next((i for i, c in enumerate(calls) if found(c.text or "")), -1)


async def assert_ticket_before_notice(h: Harness, user: int, case: str) -> None:
    """The citizen was told the report was forwarded, and no earlier than its ticket (the
    same message saying both is fine)."""
    await wait_shown(h, user, 0, f"{case}: forwarded notice", within=20.0,
                     match=any_of(*FORWARDED))
    calls = shown(h, user)
    received, forwarded = first_index(calls, RECEIVED), first_index(calls, FORWARDED)
    assert 0 <= received <= forwarded, (
        f"{case}: {user} read "
        f"{'the notice before the ticket' if received > forwarded else 'no ticket'}:"
        f" {[c.text[:60] for c in calls if c.text][-4:]}")


async def test_ticket_confirmation_comes_before_dispatch_notice(harness: Harness) -> None:
    """A citizen reads 'Laporan ADU-… diterima' no later than 'sudah diteruskan ke …' (one
    message may say both): when nothing goes wrong, and when the confirmation first meets a
    429 (retry after 1 s) while another citizen's message is handled meanwhile."""
    h = harness
    await bind_group(h)
    plain, late, bystander = distinct_citizens(3)
    await file_report(h, plain)
    await assert_ticket_before_notice(h, plain, "no fault")

    await to_summary(h, late)
    h.fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=late)
    mid, data = find_button(h, late, tr("btn-send"))
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(late, late, data, mid))
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == late and c.status == 429,
                          since=mark, include_failed=True, timeout=STEP_TIMEOUT)
    await say(h, bystander, "/laporanku", what="bystander",
              match=pattern("my-reports-empty").search)
    await wait_shown(h, late, mark, "ticket after a 429", within=20.0,
                     match=any_of(*RECEIVED))
    await assert_ticket_before_notice(h, late, "429 on the ticket")


# ---- 5. long texts --------------------------------------------------------------------------


def numbered_words(length: int) -> list[str]:
    """Distinct words (w00000 …) that joined by spaces make exactly `length` characters."""
    words = [f"w{i:05d}" for i in range((length + 1) // 7)]
    words[-1] += "x" * (length - len(" ".join(words)))
    return words


@pytest.mark.parametrize("length", [4096, 5000])
async def test_long_pic_reply_arrives_whole_in_parts(harness: Harness, length: int) -> None:
    """A PIC's reply of 4096 or 5000 characters reaches the citizen complete, every word in
    order, split (between words) into several messages of at most 4096 characters."""
    h, citizen = harness, new_user()
    await bind_group(h)
    code = await file_report(h, citizen)
    card = await card_id(h, code)
    words = numbered_words(length)
    text = " ".join(words)
    assert len(text) == length
    mark = h.fake.mark()
    h.fake.push_update(group_message(h, PIC, text, reply_to_message_id=card))
    await pic_marker(h, citizen, card)(1)  # relayed after every part of the long reply

    parts = [t for t in texts(h, citizen, mark) if WORD_RE.search(t)]
    got = [w for part in parts for w in WORD_RE.findall(part)]
    sizes = [len(p) for p in parts]
    assert got == words, (f"{len(got)} of {len(words)} words arrived, in {len(parts)} "
                          f"message(s) of {sizes} characters")
    assert len(parts) >= 2 and max(sizes) <= TEXT_LIMIT, sizes
