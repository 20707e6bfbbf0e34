// The playground page: renders a room's chats from /api/<room>/state and sends what people do.
"use strict";
(function () {
  const C = JSON.parse(document.getElementById("config").textContent);
  const T = C.t;
  const ROOM = C.room;
  const CHATS = [
    { key: "citizen", title: T["pg-citizen"], sub: T["pg-citizen-sub"] },
    { key: "pic", title: T["pg-group"], sub: T["pg-group-sub"] },
    { key: "admin", title: T["pg-admin"], sub: T["pg-admin-sub"] },
    { key: "wa", title: T["pg-wa"], sub: T["pg-wa-sub"] },
  ];
  const panels = {};
  const replyTo = {};
  const toastSeen = {};
  let version = -1;
  let state = null;

  const $ = (sel, root) => (root || document).querySelector(sel);
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "html") node.innerHTML = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
    return node;
  }
  const api = (path) => `/api/${ROOM}/${path}?lang=${C.lang}`;

  function notice(text, error) {
    const box = $("#notice");
    box.textContent = text || "";
    box.hidden = !text;
    box.classList.toggle("error", !!error);
    if (text && error) setTimeout(() => { if (box.textContent === text) box.hidden = true; }, 6000);
  }

  async function post(path, body, isForm) {
    let res;
    try {
      res = await fetch(api(path), isForm ? { method: "POST", body } : {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
    } catch (e) { notice(T["pg-connection"], true); return null; }
    const data = await res.json().catch(() => ({}));
    if (res.status === 410) { closed(); return null; }
    if (!res.ok) { notice(data.error || res.statusText, true); return null; }
    notice("");
    return data;
  }

  function closed() {
    $("#closed-text").textContent = T["pg-room-closed"];
    $("#closed").hidden = false;
  }

  // ---- layout ---------------------------------------------------------------------------

  function setup() {
    document.title = T["pg-title"];
    $("#title").textContent = T["pg-title"];
    $("#tagline").textContent = T["pg-tagline"];
    $("#room-label").textContent = T["pg-room"];
    $("#room-code").textContent = ROOM;
    $("#clock-label").textContent = T["pg-clock"];
    $("#clock-button").textContent = T["pg-clock-button"];
    $("#clock-button").addEventListener("click", advanceClock);
    $("#channel-label").textContent = T["pg-channel"];
    for (const btn of document.querySelectorAll("#channel button")) {
      btn.addEventListener("click", () => setChannel(btn.dataset.channel));
    }
    const other = C.lang === "id" ? "en" : "id";
    $("#lang-link").textContent = T["pg-language"];
    $("#lang-link").href = `/r/${ROOM}?lang=${other}`;
    $("#new-room").textContent = T["pg-new-room"];
    $("#new-room").href = `/?lang=${C.lang}`;
    $("#closed-new").textContent = T["pg-new-room"];
    $("#closed-new").href = `/?lang=${C.lang}`;
    const tabs = $("#tabs");
    for (const chat of CHATS) {
      const tab = el("button", { type: "button", "data-tab": chat.key, onclick: () => show(chat.key) },
        chat.key === "citizen" ? T["pg-citizen"] : chat.title);
      if (chat.key !== "wa") tabs.append(tab);
      const msgs = el("div", { class: "msgs" });
      const bar = el("div", { class: "bar" });
      const panel = el("section", { class: "panel", "data-chat": chat.key },
        el("header", {}, el("b", {}, chat.title), el("span", { class: "muted" }, chat.sub)), msgs, bar);
      $("#panels").append(panel);
      panels[chat.key] = { panel, msgs, bar, tab: chat.key === "wa" ? panels.citizen.tab : tab,
        input: null, sig: "" };
      buildBar(chat.key);
    }
    show("citizen");
    let saved = "telegram";
    try { saved = localStorage.getItem("aduan-channel") || "telegram"; } catch (e) { /* none */ }
    setChannel(saved);
    if (!ROOM) { closed(); return; }
    if ("BroadcastChannel" in window) {
      const ch = new BroadcastChannel(`aduan-room-${ROOM}`);
      ch.onmessage = (ev) => {
        if (ev.data === "hello") ch.postMessage("here");
        notice(T["pg-second-tab"]);
      };
      ch.postMessage("hello");
    }
    poll();
  }

  function setChannel(channel) {
    document.body.classList.toggle("wa", channel === "wa");
    for (const btn of document.querySelectorAll("#channel button")) {
      btn.classList.toggle("active", btn.dataset.channel === channel);
    }
    try { localStorage.setItem("aduan-channel", channel); } catch (e) { /* private mode */ }
    const active = Object.keys(panels).find((k) => panels[k].panel.classList.contains("active"));
    if (active === "citizen" || active === "wa") show(channel === "wa" ? "wa" : "citizen");
  }

  function show(key) {
    if (key === "citizen" && document.body.classList.contains("wa")) key = "wa";
    for (const [k, p] of Object.entries(panels)) {
      p.panel.classList.toggle("active", k === key);
    }
    for (const [k, p] of Object.entries(panels)) {
      if (k !== "wa") p.tab.classList.toggle("active", k === key || (k === "citizen" && key === "wa"));
    }
    const p = panels[key];
    if (p.stick !== false) p.msgs.scrollTop = p.msgs.scrollHeight;  // a hidden panel could not scroll
  }

  function buildBar(key) {
    const p = panels[key];
    p.bar.innerHTML = "";
    p.replyBox = el("div", { class: "replying", hidden: true });
    p.keyboard = el("div", { class: "rkb", hidden: true });
    p.input = el("input", { type: "text", placeholder: T["pg-type"], "aria-label": T["pg-type"],
      onkeydown: (e) => { if (e.key === "Enter") sendText(key); } });
    const composer = el("div", { class: "composer" },
      el("button", { type: "button", title: T["pg-photo"], "aria-label": T["pg-photo"], class: "photo",
        onclick: () => photoDialog(key) }, "📎"),
      el("button", { type: "button", title: T["pg-location"], "aria-label": T["pg-location"],
        class: "location", onclick: () => locationDialog(key) }, "📍"),
      p.input,
      el("button", { type: "button", class: "send", title: T["pg-send"], "aria-label": T["pg-send"],
        onclick: () => sendText(key) }, "➤"));
    p.bar.append(p.replyBox, p.keyboard, composer);
  }

  function setReply(key, msg) {
    replyTo[key] = msg ? msg.id : null;
    const box = panels[key].replyBox;
    box.innerHTML = "";
    box.hidden = !msg;
    if (msg) {
      const snippet = (msg.textOnly || (msg.photo ? T["pg-photo-label"] : "")).slice(0, 60);
      box.append(el("span", {}, `${T["pg-reply-to"]}: ${snippet}`),
        el("button", { type: "button", title: T["pg-cancel"], onclick: () => setReply(key, null) }, "✕"));
      panels[key].input.focus();
    }
  }

  // ---- actions --------------------------------------------------------------------------

  async function sendText(key, text) {
    const p = panels[key];
    const value = text !== undefined ? text : p.input.value;
    if (!value.trim()) return;
    const body = { as: key, text: value };
    if (replyTo[key]) body.reply_to = replyTo[key];
    const ok = await post("send", body);
    if (ok) {
      if (text === undefined) p.input.value = "";
      setReply(key, null);
    }
  }

  async function press(key, msg, data) {
    await post("press", { as: key, message_id: msg.id, data });
  }

  async function advanceClock() {
    const btn = $("#clock-button");
    btn.disabled = true;
    const data = await post("clock", {});
    btn.disabled = false;
    if (data) {
      $("#clock").textContent = data.clock;
      notice(T["pg-clock-done"].replace("%clock%", data.clock));
    }
  }

  function dialog(...content) {
    const body = $("#dialog-body");
    body.innerHTML = "";
    body.append(...content);
    $("#dialog").hidden = false;
  }
  const closeDialog = () => { $("#dialog").hidden = true; };
  $("#dialog").addEventListener("click", (e) => { if (e.target.id === "dialog") closeDialog(); });

  function photoDialog(key) {
    const err = el("div", { class: "err" });
    const caption = el("input", { type: "text", placeholder: T["pg-caption"], class: "caption" });
    const file = el("input", { type: "file", accept: "image/*", multiple: true, class: "file" });
    async function upload(parts) {
      const form = new FormData();
      form.append("as", key);
      if (caption.value.trim()) form.append("caption", caption.value);
      if (replyTo[key]) form.append("reply_to", replyTo[key]);
      for (const [name, value] of parts) form.append(name, value);
      const ok = await post("photo", form, true);
      if (ok) { closeDialog(); setReply(key, null); }
      else err.textContent = $("#notice").textContent;
    }
    file.addEventListener("change", () => {
      const files = Array.from(file.files);
      if (!files.length) return;
      if (files.length > C.album) { err.textContent = T["pg-error-album"].replace("%limit%", C.album); return; }
      for (const f of files) {
        if (f.size > C.limit) {
          err.textContent = T["pg-error-too-big"].replace("%limit%", Math.round(C.limit / 1048576)); return;
        }
        if (f.type && !f.type.startsWith("image/")) { err.textContent = T["pg-error-not-image"]; return; }
      }
      upload(files.map((f) => ["file", f]));
    });
    const samples = el("div", { class: "samples" }, ...C.samples.map((name) =>
      el("button", { type: "button", "data-sample": name, title: name, onclick: () => upload([["sample", name]]) },
        el("img", { src: `/samples/${name}.jpg`, alt: name }))));
    dialog(el("h3", {}, T["pg-photo"]), el("div", { class: "muted" }, T["pg-samples"]), samples,
      caption, el("div", { class: "muted" }, T["pg-upload"]), file, err,
      el("div", { class: "row" }, el("button", { type: "button", class: "secondary", onclick: closeDialog },
        T["pg-cancel"])));
  }

  function listDialog(list) {
    dialog(el("h3", {}, list.button), el("div", { class: "list" }, ...list.rows.map((r) =>
      el("button", { type: "button", "data-row": r.id, onclick: async () => {
        if (await post("wa-choose", { as: "wa", kind: "row", id: r.id })) closeDialog();
      } }, el("div", {}, r.title), r.description ? el("div", { class: "muted" }, r.description) : null))),
    el("div", { class: "row" }, el("button", { type: "button", class: "secondary", onclick: closeDialog },
      T["pg-cancel"])));
  }

  function locationDialog(key) {
    const err = el("div", { class: "err" });
    const coords = el("input", { type: "text", placeholder: "0.4185, 101.8433", class: "coords" });
    async function share(lat, lon) {
      const ok = await post("location", { as: key, lat, lon });
      if (ok) closeDialog(); else err.textContent = $("#notice").textContent;
    }
    const list = el("div", { class: "list" }, ...C.places.map((p) =>
      el("button", { type: "button", "data-place": p.key, onclick: () => share(p.lat, p.lon) }, `📍 ${p.name}`)));
    dialog(el("h3", {}, T["pg-location"]), el("div", { class: "muted" }, T["pg-places"]), list,
      el("div", { class: "muted" }, T["pg-coordinates"]), coords, err,
      el("div", { class: "row" },
        el("button", { type: "button", class: "secondary", onclick: closeDialog }, T["pg-cancel"]),
        el("button", { type: "button", class: "share", onclick: () => {
          const parts = coords.value.split(/[,\s]+/).filter(Boolean);
          share(parts[0], parts[1]);
        } }, T["pg-share"])));
  }

  // ---- rendering ------------------------------------------------------------------------

  function time(ts) {
    const d = new Date(ts * 1000);
    return d.toLocaleTimeString(C.lang === "en" ? "en-GB" : "id-ID", { hour: "2-digit", minute: "2-digit" });
  }

  function bubble(key, group, mine) {
    const first = group[0];
    const node = el("div", { class: "msg" + (mine ? " me" : ""), "data-id": first.id });
    if (!mine && key === "pic") node.append(el("div", { class: "who" }, first.bot ? T["pg-bot-name"] : first.name));
    if (first.reply) {
      node.append(el("div", { class: "quote" }, first.reply.text || (first.reply.photo ? T["pg-photo-label"] : "…")));
    }
    if (first.wa_media) {
      node.append(el("div", { class: "photos one" }, el("img", {
        src: `/api/${ROOM}/wafile/${encodeURIComponent(first.wa_media)}`, alt: T["pg-photo-label"],
        onload: () => { const p = panels[key]; if (p.stick) p.msgs.scrollTop = p.msgs.scrollHeight; } })));
    }
    if (first.template) node.append(el("div", { class: "who" }, `${T["pg-wa-template"]}: ${first.template}`));
    const photos = group.filter((m) => m.photo);
    if (photos.length) {
      node.append(el("div", { class: "photos" + (photos.length === 1 ? " one" : "") }, ...photos.map((m) =>
        el("img", { src: `/api/${ROOM}/file/${encodeURIComponent(m.photo)}`, alt: T["pg-photo-label"],
          onload: () => { const p = panels[key]; if (p.stick) p.msgs.scrollTop = p.msgs.scrollHeight; } }))));
    }
    for (const m of group) {
      if (m.file) node.append(el("div", {}, `📄 ${T["pg-file-label"]} (${m.file})`));
      if (m.location) {
        const [lat, lon] = m.location;
        node.append(el("a", { class: "loc", target: "_blank", rel: "noopener noreferrer",
          href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}` },
        el("span", { class: "pin" }, "📍 "), m.place || T["pg-map"],
        el("div", { class: "muted" }, `${lat.toFixed(5)}, ${lon.toFixed(5)} · ${T["pg-open-map"]}`)));
      }
      if (m.contact) node.append(el("div", {}, `📞 ${m.contact}`));
    }
    const texted = group.find((m) => m.html);
    if (texted) node.append(el("div", { class: "text", html: texted.html }));
    const edited = group.some((m) => m.edited);
    node.append(el("div", { class: "meta" }, (edited ? T["pg-edited"] + " · " : "") + time(first.date)));
    if (first.wa_buttons) {
      node.append(el("div", { class: "wab" }, ...first.wa_buttons.map((b) => el("button", { type: "button",
        onclick: () => post("wa-choose", { as: "wa", kind: "button", id: b.id }) }, b.title))));
    }
    if (first.wa_list) {
      node.append(el("div", { class: "wab" }, el("button", { type: "button", class: "walist",
        onclick: () => listDialog(first.wa_list) }, `☰ ${first.wa_list.button}`)));
    }
    if (first.wa_location_request) {
      node.append(el("div", { class: "wab" }, el("button", { type: "button",
        onclick: () => locationDialog("wa") }, T["pg-wa-location"])));
    }
    const withButtons = group.find((m) => m.buttons);
    if (withButtons) {
      for (const row of withButtons.buttons) {
        node.append(el("div", { class: "ikb" }, ...row.map((b) => b.url
          ? el("a", { href: b.url, target: "_blank", rel: "noopener noreferrer" }, b.text)
          : el("button", { type: "button", onclick: () => press(key, withButtons, b.data) }, b.text))));
      }
    }
    const target = texted || first;
    const tmp = document.createElement("div");
    tmp.innerHTML = target.html || "";
    target.textOnly = tmp.textContent;
    node.append(el("button", { type: "button", class: "replybtn", title: T["pg-reply"], "aria-label": T["pg-reply"],
      onclick: () => setReply(key, target) }, "↩"));
    return node;
  }

  function renderChat(key, chat) {
    const p = panels[key];
    const sig = JSON.stringify(chat.messages) + JSON.stringify(chat.keyboard);
    if (sig !== p.sig) {
      p.sig = sig;
      const atBottom = p.msgs.scrollHeight - p.msgs.scrollTop - p.msgs.clientHeight < 80;
      p.msgs.innerHTML = "";
      const me = key === "wa" ? 0 : C.actors[key].user;
      const groups = [];
      for (const m of chat.messages) {
        const last = groups[groups.length - 1];
        if (last && m.album && last[0].album === m.album) last.push(m); else groups.push([m]);
      }
      if (key === "pic") p.msgs.append(el("div", { class: "hint" }, T["pg-hint-group"]));
      for (const g of groups) p.msgs.append(bubble(key, g, !g[0].bot && g[0].user === me));
      if (key === "citizen" && !chat.messages.length) {
        p.msgs.append(el("div", { class: "hint" }, T["pg-hint"]),
          el("button", { type: "button", class: "startbtn", onclick: () => sendText(key, "/start") }, T["pg-start"]));
      }
      if (key === "wa" && !chat.messages.length) {
        p.msgs.append(el("div", { class: "hint" }, T["pg-hint-wa"]),
          el("button", { type: "button", class: "startbtn", onclick: () => sendText(key, "halo") }, "halo"));
      }
      if (key === "admin" && !chat.messages.length) {
        p.msgs.append(el("div", { class: "hint" }, T["pg-hint-admin"]),
          ...["/opd", "/help"].map((cmd) => el("button", { type: "button", class: "startbtn",
            onclick: () => sendText(key, cmd) }, cmd)));
      }
      p.stick = atBottom || !p.seen;
      if (p.stick) p.msgs.scrollTop = p.msgs.scrollHeight;
      p.seen = true;
      renderKeyboard(key, chat.keyboard);
    }
    for (const toast of chat.toasts || []) {
      if (toastSeen[key] === undefined) continue;
      if (toast.n > toastSeen[key]) showToast(key, toast.text);
    }
    const toasts = chat.toasts || [];
    toastSeen[key] = toasts.length ? Math.max(...toasts.map((x) => x.n), toastSeen[key] || -1)
      : (toastSeen[key] === undefined ? -1 : toastSeen[key]);
  }

  function showToast(key, text) {
    const node = el("div", { class: "toast" }, text);
    panels[key].panel.append(node);
    setTimeout(() => node.remove(), 3500);
  }

  function renderKeyboard(key, keyboard) {
    const box = panels[key].keyboard;
    box.innerHTML = "";
    box.hidden = !keyboard;
    if (!keyboard) return;
    for (const row of keyboard) {
      box.append(el("div", { class: "row" }, ...row.map((b) => el("button", { type: "button",
        onclick: () => (b.location ? locationDialog(key) : b.contact ? post("contact", { as: key }) : sendText(key, b.text)),
      }, b.text))));
    }
  }

  function render(data) {
    state = data;
    $("#clock").textContent = data.clock;
    for (const chat of CHATS) renderChat(chat.key, data.chats[chat.key]);
  }

  async function poll() {
    for (;;) {
      let res;
      try {
        res = await fetch(`/api/${ROOM}/state?v=${version}&lang=${C.lang}`, { cache: "no-store" });
      } catch (e) {
        notice(T["pg-connection"], true);
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      if (res.status === 410) { closed(); return; }
      if (!res.ok) { await new Promise((r) => setTimeout(r, 2000)); continue; }
      const data = await res.json();
      if ($("#notice").textContent === T["pg-connection"]) notice("");
      version = data.version;
      render(data);
    }
  }

  window.aduanPlayground = { get state() { return state; } };
  setup();
})();
