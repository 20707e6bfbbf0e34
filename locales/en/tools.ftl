## Tools: response templates, broadcasts, bans, PIC replies that cannot be forwarded

tools-admin-only = Sorry, this command is for admins only.

# Response templates (/templat)
tpl-usage =
    Saved answers per OPD, used by PICs in their OPD's group (admins name the OPD code):
    /templates — list the templates
    /templates add Title | answer text — save a new template
    /templates del N — delete template number N
    Admins: /templates PUPR, /templates PUPR add Title | text
    Titles up to 64 characters, texts up to 1000.
tpl-list = Saved answers of { $opd }:
tpl-list-hint = Templates are offered as buttons when the bot asks for a question or a resolution note; reply to a card with /templates to send one to the reporter.
tpl-none = { $opd } has no templates yet. Add one with /templates add Title | text
tpl-added = Template { $n } "{ $title }" saved for { $opd }.
tpl-deleted = Template "{ $title }" deleted from { $opd }.
tpl-full = { $opd } already has { $max } templates, the limit. Delete one first with /templates del N.
tpl-missing = { $opd } has no template number { $n }.
tpl-no-opd = This group is not bound to any OPD. Name the OPD code, e.g. /templates PUPR
tpl-opd-unknown = OPD { $code } not found.
tpl-not-allowed = Only PICs of { $opd } or admins may use these templates.
tpl-offer = Or pick a saved answer for { $code }:
tpl-offer-reply = Pick a saved answer to send to the reporter of { $code }:
tpl-sent = ✅ { $name } used the template "{ $title }" for { $code }.
tpl-gone = That template no longer exists.

# Broadcast (/siaran)
bc-usage = Usage: /broadcast announcement text (up to 4000 characters). Sent to every citizen who has talked to the bot, except banned ones and those who blocked the bot. Cancel with /broadcast_cancel.
bc-running = Broadcast #{ $id } is still running. Wait for it to finish or cancel it with /broadcast_cancel.
bc-message =
    📣 Announcement
    
    { $text }
bc-progress = 📣 Broadcast #{ $id }: { $done } of { $total } citizens processed — delivered { $delivered }, blocked the bot { $blocked }, failed { $failed }.
bc-btn-cancel = ❌ Cancel broadcast
bc-done = ✅ Broadcast #{ $id } finished: delivered { $delivered }, blocked the bot { $blocked }, failed { $failed } (of { $total } citizens).
bc-cancelled = ⛔ Broadcast #{ $id } cancelled: delivered { $delivered }, blocked the bot { $blocked }, failed { $failed }; { $withdrawn } messages withdrawn.
bc-none = No broadcast is running.
bc-cancel-ok = Broadcast cancelled.

# Bans (/blokir, /buka_blokir)
ban-usage = Usage: /ban TICKET_CODE (its reporter), /ban Telegram_user_id, or /ban WhatsApp_number (e.g. /ban ADU-7K3Q, /ban 123456789, /ban +6281234567890; prefix tg: or wa: if needed). Lift it with /unban the same way.
ban-unknown = Citizen { $who } not found.
ban-ambiguous = { $who } matches both a Telegram user and a WhatsApp number. Write tg:{ $who } or wa:{ $who }.
ban-done = 🚫 { $who } is banned. They are told once, politely, then their messages are ignored.
ban-already = { $who } is already banned.
unban-done = ✅ { $who } is no longer banned. They were told they can use the service again.
unban-not-banned = { $who } is not banned.
ban-notice = We are sorry: an administrator has restricted your access to this complaint service, so your messages cannot be processed. If you think this is a mistake, please contact your local government office.
unban-notice = Your access to this complaint service has been restored. Send /start or "menu" to begin.

# A PIC's reply to a card that cannot be forwarded to the citizen
pic-reply-unforwardable = This kind of message (location, contact, sticker, poll, dice, game and the like) cannot be forwarded to the reporter; nothing was sent. Reply to the card with text, a photo, a video, a voice note or a document.
