"""The fake WhatsApp Cloud API, driven by the real ``pywa_async.WhatsApp`` client, and the
webhook builders checked against pywa's own webhook parser and a signature-checking receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

pywa_async = pytest.importorskip("pywa_async")
httpx = pytest.importorskip("httpx")

from pywa_async import WhatsApp, errors, types  # noqa: E402
from pywa_async.types.templates import BodyText, TemplateLanguage  # noqa: E402

from tests.fakegraph import (  # noqa: E402
    APP_SECRET,
    DISPLAY_NUMBER,
    PHONE_ID,
    TOKEN,
    VERIFY_TOKEN,
    WABA_ID,
    FakeGraphAPI,
    GraphCall,
    audio_message,
    bsuid,
    button_reply,
    contacts_message,
    document_message,
    image_message,
    list_reply,
    location_message,
    post_webhook,
    reaction_message,
    serialize,
    sign,
    status_update,
    sticker_message,
    text_message,
    unsupported_message,
    verify_webhook,
    video_message,
)

USER = "6281234567890"
OTHER = "6289876543210"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI() as server:
        yield server


@pytest.fixture
async def wa(graph: FakeGraphAPI) -> AsyncIterator[WhatsApp]:
    session = graph.httpx_client()
    client = WhatsApp(
        phone_id=PHONE_ID,
        token=TOKEN,
        session=session,
        api_version="23.0",
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
    )
    try:
        yield client
    finally:
        await session.aclose()


# ---- sending ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_send_text(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    sent = await wa.send_message(USER, "Laporan Anda sudah kami terima.")

    (call,) = graph.sent(USER)
    assert call.path == f"/v23.0/{PHONE_ID}/messages"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "text",
        "to": USER,
        "text": {"body": "Laporan Anda sudah kami terima.", "preview_url": False},
    }
    assert sent.id == call.wamid and sent.id.startswith("wamid.HBgL")
    assert sent.chat.id == USER
    assert call.response["contacts"] == [{"input": USER, "wa_id": USER}]
    assert graph.sent_messages(to=USER) == [call.json]
    assert graph.sent_messages(to=OTHER) == []
    assert graph.texts(USER) == ["Laporan Anda sudah kami terima."]


@pytest.mark.asyncio
async def test_send_interactive_list(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    await wa.send_message(
        USER,
        "Pilih kategori laporan:",
        header="Kategori",
        footer="Aduan",
        buttons=types.SectionList(
            button_title="Lihat kategori",
            sections=[
                types.Section(
                    title="Infrastruktur",
                    rows=[
                        types.SectionRow("Jalan rusak", "cat:road", "Lubang, retak"),
                        types.SectionRow("Lampu jalan", "cat:light"),
                    ],
                ),
                types.Section(title="Lainnya", rows=[types.SectionRow("Sampah", "cat:trash")]),
            ],
        ),
    )

    (body,) = await graph.wait_sent(USER)
    interactive = body["interactive"]
    assert body["type"] == "interactive" and interactive["type"] == "list"
    assert interactive["header"] == {"type": "text", "text": "Kategori"}
    assert interactive["body"] == {"text": "Pilih kategori laporan:"}
    assert interactive["footer"] == {"text": "Aduan"}
    assert interactive["action"]["button"] == "Lihat kategori"
    sections = interactive["action"]["sections"]
    assert [s["title"] for s in sections] == ["Infrastruktur", "Lainnya"]
    assert sections[0]["rows"][0] == {
        "id": "cat:road",
        "title": "Jalan rusak",
        "description": "Lubang, retak",
    }
    assert [r["id"] for s in sections for r in s["rows"]] == ["cat:road", "cat:light", "cat:trash"]


@pytest.mark.asyncio
async def test_send_reply_buttons(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    await wa.send_message(
        USER,
        "Kirim laporan ini?",
        buttons=[types.Button("Kirim", "confirm:yes"), types.Button("Batal", "confirm:no")],
    )

    (call,) = graph.sent(USER)
    assert call.interactive_type == "button"
    assert call.text == "Kirim laporan ini?"
    assert call.json["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "confirm:yes", "title": "Kirim"}},
        {"type": "reply", "reply": {"id": "confirm:no", "title": "Batal"}},
    ]


@pytest.mark.asyncio
async def test_send_location_request(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    await wa.request_location(USER, "Bagikan lokasi kejadian.")

    (body,) = graph.sent_messages(USER)
    assert body["type"] == "interactive"
    assert body["interactive"] == {
        "type": "location_request_message",
        "body": {"text": "Bagikan lokasi kejadian."},
        "action": {"name": "send_location"},
    }


@pytest.mark.asyncio
async def test_send_template(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    sent = await wa.send_template(
        USER,
        name="status_laporan",
        language=TemplateLanguage.INDONESIAN,
        params=[BodyText.params("ADU-0042", "selesai")],
    )

    (call,) = graph.sent(USER)
    assert call.type == "template"
    template = call.json["template"]
    assert template["name"] == "status_laporan"
    assert template["language"] == {"code": "id"}
    (component,) = template["components"]
    assert component["type"].lower() == "body"  # pywa sends "BODY"; Graph takes either
    assert component["parameters"] == [
        {"type": "text", "text": "ADU-0042"},
        {"type": "text", "text": "selesai"},
    ]
    assert call.response["messages"][0]["message_status"] == "accepted"
    assert sent.id == call.wamid


@pytest.mark.asyncio
async def test_send_to_bsuid(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    """pywa puts a BSUID in "recipient" (not "to"); Graph answers with an empty wa_id."""
    user_id = bsuid(USER)
    sent = await wa.send_message(user_id, "halo")

    (call,) = graph.sent(user_id)
    assert "to" not in call.json and call.json["recipient"] == user_id
    assert call.response["contacts"] == [{"input": user_id, "wa_id": "", "user_id": user_id}]
    assert sent.chat.id == user_id


@pytest.mark.asyncio
async def test_mark_read_and_typing_are_not_sent_messages(
    graph: FakeGraphAPI, wa: WhatsApp
) -> None:
    incoming = "wamid.HBgLincoming"
    await wa.mark_message_as_read(incoming)
    await wa.indicate_typing(incoming)

    assert graph.sent_messages() == []
    assert graph.marked_read() == [incoming, incoming]
    assert [c.kind for c in graph.calls] == ["read", "read"]
    assert graph.calls[1].json["typing_indicator"] == {"type": "text"}


# ---- media -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upload_media_and_send_image_by_id(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    jpeg = b"\xff\xd8\xff\xe0 fake jpeg bytes"
    media = await wa.upload_media(jpeg, mime_type="image/jpeg", filename="bukti.jpg")

    (upload,) = await graph.wait_for(lambda c: c.kind == "upload")
    assert upload.path == f"/v23.0/{PHONE_ID}/media"
    assert upload.form == {"messaging_product": "whatsapp", "type": "image/jpeg"}
    assert upload.files["file"].filename == "bukti.jpg"
    assert upload.files["file"].content == jpeg
    assert media.id == upload.response["id"] and media.id.isdigit()
    (stored,) = graph.uploads()
    assert stored.content == jpeg and stored.mime_type == "image/jpeg"

    await wa.send_image(USER, media.id, caption="Bukti foto")
    (body,) = graph.sent_messages(USER)
    assert body["type"] == "image"
    assert body["image"] == {"id": media.id, "caption": "Bukti foto"}

    # uploaded media can be fetched back like any other media
    url = await wa.get_media_url(media.id)
    assert await wa.get_media_bytes(url.url) == jpeg


@pytest.mark.asyncio
async def test_get_media_url_and_download(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    content = b"\x89PNG photo from a citizen"
    media_id = graph.add_media(content, "image/png")

    info = await wa.get_media_url(media_id)
    assert info.id == media_id
    assert info.url == graph.media_url(media_id) == f"{graph.url}/dl/{media_id}"
    assert info.mime_type == "image/png"
    assert info.file_size == len(content)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    url_call = graph.calls[-1]
    assert (url_call.method, url_call.path, url_call.kind) == ("GET", f"/v23.0/{media_id}",
                                                               "media_url")
    assert url_call.response["messaging_product"] == "whatsapp"

    assert await wa.get_media_bytes(info.url) == content
    download = graph.calls[-1]
    assert download.kind == "download" and download.ok
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"

    # without (or with a wrong) bearer token the download is refused
    async with aiohttp.ClientSession() as http:
        async with http.get(info.url) as resp:
            assert resp.status == 401
        async with http.get(info.url, headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
        async with http.get(info.url, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/png"
            assert await resp.read() == content
    assert [c.status for c in graph.calls[-3:]] == [401, 401, 200]


@pytest.mark.asyncio
async def test_unknown_media_id_is_a_graph_error(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    with pytest.raises(errors.WhatsAppError) as exc_info:
        await wa.get_media_url("999")
    assert exc_info.value.code == 100
    assert exc_info.value.subcode == 33
    assert "Object with ID '999' does not exist" in exc_info.value.message
    assert graph.calls[-1].failed and graph.calls[-1].kind == "media_url"


# ---- faults ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reengagement_fault_raises_pywa_exception(
    graph: FakeGraphAPI, wa: WhatsApp
) -> None:
    graph.fail_next("messages", code=131047)

    with pytest.raises(errors.ReEngagementMessage) as exc_info:
        await wa.send_message(USER, "Halo lagi")
    err = exc_info.value
    assert isinstance(err, errors.SendMessageError)
    assert err.code == 131047
    assert err.status_code == 400
    assert err.type == "OAuthException"
    assert err.message == "(#131047) Re-engagement message"
    assert "24 hours" in (err.details or "")
    assert err.fbtrace_id

    def failed_send(c: GraphCall) -> bool:
        return c.is_send and c.failed

    (failed,) = await graph.wait_for(failed_send)
    assert failed.injected and failed.status == 400 and failed.error_code == 131047
    assert graph.sent_messages(USER) == []

    # the fault was consumed: the next send goes through
    await wa.send_message(USER, "Halo lagi")
    assert len(graph.sent_messages(USER)) == 1


@pytest.mark.asyncio
async def test_faults_filtered_by_recipient_and_counted(
    graph: FakeGraphAPI, wa: WhatsApp
) -> None:
    graph.fail_next("messages", code=130429, times=2, to=f"+{OTHER[:2]} {OTHER[2:]}")
    graph.fail_next("messages", code=131026, to=USER)

    await wa.send_message("6281111111111", "tidak terpengaruh")
    with pytest.raises(errors.RateLimitHit) as rate:
        await wa.send_message(OTHER, "a")
    assert rate.value.status_code == 429 and rate.value.code == 130429
    with pytest.raises(errors.RateLimitHit):
        await wa.send_message(OTHER, "b")
    await wa.send_message(OTHER, "c")
    with pytest.raises(errors.MessageUndeliverable):
        await wa.send_message(USER, "d")

    assert graph.texts(OTHER) == ["c"]
    assert graph.texts("6281111111111") == ["tidak terpengaruh"]
    assert [c.error_code for c in graph.calls if c.failed] == [130429, 130429, 131026]


@pytest.mark.asyncio
async def test_media_faults(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    media_id = graph.add_media(b"abc", "image/jpeg")

    graph.fail_next("upload", code=131053)
    with pytest.raises(errors.MediaUploadError):
        await wa.upload_media(b"xyz", mime_type="image/jpeg", filename="x.jpg")

    graph.fail_next("media_url", status=500)
    with pytest.raises(errors.WhatsAppError) as exc_info:
        await wa.get_media_url(media_id)
    assert exc_info.value.status_code == 500 and exc_info.value.code == 131000

    info = await wa.get_media_url(media_id)
    graph.fail_next("download", status=404)
    with pytest.raises(httpx.HTTPStatusError):
        await wa.get_media_bytes(info.url)
    assert await wa.get_media_bytes(info.url) == b"abc"

    with pytest.raises(ValueError, match="unknown fault kind"):
        graph.fail_next("nope")


@pytest.mark.asyncio
async def test_graph_validation_and_auth_errors(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    with pytest.raises(errors.InvalidParameter) as exc_info:
        await wa.send_message(
            USER, "x", buttons=[types.Button("Judul tombol yang terlalu panjang", "b")]
        )
    assert "Max length: 20" in (exc_info.value.details or "")

    bad = WhatsApp(phone_id=PHONE_ID, token="wrong", session=graph.httpx_client())
    try:
        with pytest.raises(errors.ExpiredAccessToken) as auth:
            await bad.send_message(USER, "x")
        assert auth.value.code == 190 and auth.value.status_code == 401
    finally:
        await bad.api._session.aclose()

    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{graph.url}/v23.0/{PHONE_ID}/whatsapp_business_profile",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
    assert error["code"] == 100 and error["type"] == "GraphMethodException"
    assert graph.calls[-1].kind == "unknown" and graph.calls[-1].failed


@pytest.mark.asyncio
async def test_wait_for_timeout_lists_calls(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    mark = graph.mark()
    await wa.send_message(USER, "satu")
    with pytest.raises(AssertionError) as exc_info:
        await graph.wait_for(lambda c: c.to == OTHER, timeout=0.2, since=mark)
    text = str(exc_info.value)
    assert "timed out after 0.2s" in text
    assert "POST /v23.0/" in text and "satu" in text


@pytest.mark.asyncio
async def test_base_url_can_be_reset_on_the_session_instead(graph: FakeGraphAPI) -> None:
    async with httpx.AsyncClient() as session:
        client = WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=session, api_version="22.0")
        assert str(session.base_url) == "https://graph.facebook.com/v22.0/"
        session.base_url = graph.api_base("v22.0")
        await client.send_message(USER, "via base_url")
    (call,) = graph.sent(USER)
    assert call.path == f"/v22.0/{PHONE_ID}/messages" and call.version == "v22.0"


# ---- webhooks --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sign_verifies_with_compare_digest() -> None:
    payload = text_message(USER, "Jalan berlubang di depan pasar / dekat masjid \N{AUTOMOBILE}")
    body = serialize(payload)
    signature = sign(body, APP_SECRET)

    expected = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature.startswith("sha256=")
    assert hmac.compare_digest(signature, "sha256=" + expected)
    assert not hmac.compare_digest(signature, sign(body, "other-secret"))
    # Meta-style serialisation: compact, ASCII only, "/" escaped; the raw bytes are what count
    assert b"pasar \\/ dekat" in body and b"\\ud83d\\ude97" in body
    assert b'": ' not in body and b'", "' not in body
    assert json.loads(body) == payload
    reserialized = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert not hmac.compare_digest(signature, sign(reserialized, APP_SECRET))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.asyncio
async def test_post_webhook_and_verify_against_a_receiver() -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get("X-Hub-Signature-256", "")
        if not given:
            return web.Response(status=401, text="missing signature")
        if not hmac.compare_digest(given, sign(raw, APP_SECRET)):
            return web.Response(status=403, text="bad signature")
        received.append(json.loads(raw))
        return web.Response(text="ok")

    async def challenge(request: web.Request) -> web.Response:
        if request.query.get("hub.verify_token") != VERIFY_TOKEN:
            return web.Response(status=403)
        return web.Response(text=request.query["hub.challenge"])

    app = web.Application()
    app.router.add_post("/wa/webhook", hook)
    app.router.add_get("/wa/webhook", challenge)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        payload = text_message(USER, "halo")
        assert await post_webhook(base, "/wa/webhook", payload) == (200, "ok")
        assert received == [payload]
        assert (await post_webhook(base, "/wa/webhook", payload, signature="sha256=00"))[0] == 403
        assert (await post_webhook(base, "wa/webhook", payload, signature=""))[0] == 401
        assert (await post_webhook(base, "/wa/webhook", payload, app_secret="x"))[0] == 403
        async with aiohttp.ClientSession(base_url=base) as http:
            status, _ = await post_webhook(http, "/wa/webhook", serialize(payload))
            assert status == 200
            assert await verify_webhook(http, "/wa/webhook", challenge="42") == (200, "42")
        assert (await verify_webhook(base, "/wa/webhook", verify_token="x"))[0] == 403
        assert len(received) == 2
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_builder_shapes() -> None:
    payload = text_message(USER, "halo", msg_id="wamid.X", timestamp=1700000000,
                           context_id="wamid.OURS")
    (entry,) = payload["entry"]
    assert payload["object"] == "whatsapp_business_account" and entry["id"] == WABA_ID
    (change,) = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["metadata"] == {"display_phone_number": DISPLAY_NUMBER,
                                 "phone_number_id": PHONE_ID}
    assert value["contacts"] == [
        {"profile": {"name": "Siti"}, "wa_id": USER, "user_id": bsuid(USER)}
    ]
    assert value["messages"] == [
        {
            "context": {"from": DISPLAY_NUMBER, "id": "wamid.OURS"},
            "from": USER,
            "from_user_id": bsuid(USER),
            "id": "wamid.X",
            "timestamp": "1700000000",
            "type": "text",
            "text": {"body": "halo"},
        }
    ]
    assert bsuid(USER).startswith("ID.") and bsuid(USER) == bsuid(USER) != bsuid(OTHER)

    failed = status_update("wamid.Y", "failed", USER, errors=[131047])["entry"][0]
    fvalue = failed["changes"][0]["value"]
    assert "contacts" not in fvalue
    (st,) = fvalue["statuses"]
    assert st["status"] == "failed" and st["recipient_id"] == USER
    assert st["errors"][0]["code"] == 131047
    assert st["errors"][0]["title"] == "Re-engagement message"
    assert set(st["errors"][0]) == {"code", "title", "message", "error_data", "href"}
    delivered = status_update("wamid.Y", "delivered", USER)["entry"][0]["changes"][0]["value"]
    assert delivered["contacts"][0]["user_id"] == bsuid(USER)
    assert delivered["statuses"][0]["pricing"]["category"] == "service"

    image = image_message(USER, "123", caption="lubang")["entry"][0]["changes"][0]["value"]
    assert image["messages"][0]["image"]["id"] == "123"
    assert "url" not in image["messages"][0]["image"]
    removed = reaction_message(USER, "wamid.Z", None)["entry"][0]["changes"][0]["value"]
    assert removed["messages"][0]["reaction"] == {"message_id": "wamid.Z"}
    unsupported = unsupported_message(USER)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert unsupported["errors"][0]["code"] == 131051


@pytest.mark.asyncio
async def test_builders_parse_with_pywa(graph: FakeGraphAPI, wa: WhatsApp) -> None:
    """pywa's own webhook parser accepts every builder's payload (fed as raw bytes)."""
    got: list[Any] = []
    wa.add_handlers(
        pywa_async.handlers.MessageHandler(lambda _, u: got.append(u)),
        pywa_async.handlers.CallbackButtonHandler(lambda _, u: got.append(u)),
        pywa_async.handlers.CallbackSelectionHandler(lambda _, u: got.append(u)),
        pywa_async.handlers.MessageStatusHandler(lambda _, u: got.append(u)),
    )
    photo = graph.add_media(b"foto jalan", "image/jpeg")
    ours = (await wa.send_message(USER, "Pilih")).id

    payloads = [
        text_message(USER, "halo", context_id=ours, name="Budi"),
        list_reply(USER, "cat:road", "Jalan rusak", context_id=ours),
        button_reply(USER, "confirm:yes", "Kirim", context_id=ours),
        image_message(USER, photo, caption="lubang"),
        location_message(USER, -6.1754, 106.8272, name="Monas", address="Jakarta Pusat"),
        video_message(USER, photo),
        document_message(USER, photo, "laporan.pdf"),
        audio_message(USER, photo),
        sticker_message(USER, photo),
        reaction_message(USER, ours),
        contacts_message(USER),
        unsupported_message(USER),
        status_update(ours, "delivered", USER),
    ]
    for payload in payloads:
        body = serialize(payload)
        assert await wa.webhook_update_validator(body, sign(body, APP_SECRET)) is None
        assert await wa.webhook_update_handler(body) == ("ok", 200)
    assert await wa.webhook_update_validator(body, "sha256=bad") == ("Forbidden", 403)

    assert len(got) == len(payloads)
    text, selection, button, image, location = got[:5]
    assert (text.text, text.from_user.wa_id, text.from_user.name) == ("halo", USER, "Budi")
    assert text.from_user.bsuid == bsuid(USER)
    assert text.reply_to_message.id == ours
    assert text.reply_to_message.from_user_id == DISPLAY_NUMBER
    assert isinstance(selection, types.CallbackSelection) and selection.data == "cat:road"
    assert isinstance(button, types.CallbackButton) and button.data == "confirm:yes"
    assert image.caption == "lubang" and await image.image.get_bytes() == b"foto jalan"
    assert (location.location.latitude, location.location.name) == (-6.1754, "Monas")
    assert [u.type for u in got[5:12]] == [
        "video", "document", "audio", "sticker", "reaction", "contacts", "unsupported"
    ]
    assert got[7].audio.voice is True
    assert got[9].reaction.message_id == ours
    assert isinstance(got[12], types.MessageStatus) and got[12].status == "delivered"
