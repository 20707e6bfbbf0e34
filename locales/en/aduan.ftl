## Aduan — English

welcome = Hello { $name }! 👋 This is the public complaint service. Tell us about a problem — damaged roads, rubbish, water, electricity, public services — and we pass it to the agency in charge.
menu-prompt = What would you like to do?
idle-hint = To file a new report, press "New report" or type /lapor. To check a report, send its ticket code (e.g. ADU-7K3Q).
nothing-to-cancel = There is no report in progress.
cancelled = Report cancelled. Nothing was sent.
draft-expired = Your earlier draft report expired and was deleted. Please start again.
draft-still-open = Your report in progress is still open. Carry on below, or type /batal.
button-stale = That button is no longer valid.
button-stale-alert = This button is no longer valid.
already-sent = This report was already sent with ticket { $code }. It was not sent twice.
already-sent-alert = Already sent.
throttled = Please slow down 🙏 You sent too many messages in a short time. Wait a few seconds and send again.
error-generic = Sorry, something went wrong while handling your message. Please try again shortly.
unknown-command = Unknown command. Type /help to see the available commands.
choose-language = Pilih bahasa / Choose language:
language-set = Language set to English.

btn-new-report = 📝 New report
btn-check-status = 🔎 Check status
btn-my-reports = 📋 My reports
btn-help = ❓ Help
btn-cancel = ✖️ Cancel
btn-done = ✅ Done
btn-skip = Skip
btn-send = 📨 Send report
btn-edit = ✏️ Edit
btn-back = ↩️ Back
btn-prev = ◀️ Previous
btn-next = Next ▶️
btn-send-location = 📍 Send my location
btn-share-phone = 📱 Share my phone number
btn-use-name = 👤 Use name: { $name }
btn-anonymous = 🕶️ Anonymous (identity hidden from the agency)
btn-edit-category = Category
btn-edit-description = Description
btn-edit-media = Photos/videos
btn-edit-location = Location
btn-edit-identity = Identity

ask-category = Step 1/5 — Choose the kind of problem:
ask-category-page = Step 1/5 — Choose the kind of problem (page { $page }/{ $pages }):
no-categories = Sorry, no report categories have been set up yet. Please contact the admin.
category-unknown = That category is not available. Please choose from the list.
category-chosen = Category: { $category }
expect-category = Please choose a category by pressing one of the buttons.

ask-description = Step 2/5 — Describe the problem: what happened, since when, where exactly. Write { $min }–{ $max } characters.
description-too-short = The description is too short. Please write at least { $min } characters so the staff understand the problem.
description-too-long = The description is too long ({ $length } characters). Please shorten it to at most { $max } characters.
description-saved = Description saved.
voice-kept = Voice note kept and attached. Please also type a short summary (at least { $min } characters).
expect-description = Please type the description as text.

ask-media = Step 3/5 — Send photos or videos of the problem (up to { $max }), several at once if you like. Press "Done" when finished, or "Skip".
ask-media-required = Step 3/5 — Send photos or videos of the problem (required, up to { $max }). Press "Done" when finished.
media-saved = Received ({ $count }/{ $max }). Send more, or press "Done".
media-album-saved = Album received. Send more (up to { $max }), or press "Done".
media-limit = The limit of { $max } photos/videos is reached. Anything beyond it was not kept. Press "Done" to continue.
media-required = This category needs at least one photo or video.
expect-media = Please send a photo or video (not a sticker or another file), then press "Done".
expect-media-not-voice = Voice notes cannot be used in this step. Please send a photo or video.
media-unsupported-type = This file is not a photo or video. Please send a photo (JPG/PNG) or a video.
media-empty = That file is empty (0 bytes). Please send the photo or video again.
media-too-big = The file is too big (over { $limit } MB). Please send a shorter video or a photo.
media-not-image = That file is not a valid image. Please send a real photo (JPG/PNG).
media-not-video = That file is not a video we can open. Please send the video again from your phone's camera.
media-image-huge = That image is too large (more than { $megapixels } megapixels). Please send an ordinary photo from your phone's camera.
media-download-failed = The file could not be downloaded. Please send it again.
media-not-kept = One of the files you sent was not kept. { $reason }
media-still-receiving = Your photos are still being received. Please press "Send report" again in a moment.

ask-location = Step 4/5 — Share the location of the problem with the "Send my location" button below (or attach a location from the 📎 menu). Press "Skip" if there is none.
ask-location-required = Step 4/5 — Share the location of the problem with the "Send my location" button below (or attach a location from the 📎 menu). A location is required for this category.
location-saved = Location saved: { $place }
location-skipped = Location skipped.
location-required = A location is required for this category. Please share it.
location-outside = That location is outside our service area. Please share a location inside this regency/city.
location-invalid = That location is not valid. Please share it again.
expect-location = Please share the location with the "Send my location" button (rather than typing an address).

ask-identity = Step 5/5 — Reporter identity. Use your name, type another name, or choose Anonymous (your name and number are not shown to the agency).
identity-name = Reporter name: { $name }
identity-anonymous = The report will be sent anonymously.
name-invalid = A name must be 2–{ $max } characters.
expect-identity = Please choose one of the buttons or type your name.
ask-phone = Share your phone number so the staff can contact you (optional). Press the button below, or "Skip".
phone-saved = Phone number saved.
phone-skipped = No phone number.
phone-not-own = Please share your own number with the button below.
expect-phone = Please press "Share my phone number" or "Skip".

summary =
    Check your report:
    Category: { $category }
    Description: { $description }
    Attachments: { $photos } photo(s), { $videos } video(s), { $voices } voice note(s)
    Location: { $place }
    Reporter: { $who }

    Send it now?
summary-no-location = (no location)
summary-anonymous = Anonymous
summary-incomplete = The report is not complete yet. Please fill in this part first.
expect-summary = Please press "Send report", "Edit" or "Cancel".
ask-edit = Which part would you like to change?
expect-edit = Please choose the part to change.
report-received = ✅ Report { $code } received. Keep this code to check its status: /status { $code }
report-received-forwarded = ✅ Report { $code } received and forwarded to { $opd }. Keep this code to check its status: /status { $code }

help =
    How to use this service:
    /lapor — file a new report
    /status CODE — check a report's status (e.g. /status ADU-7K3Q)
    /laporanku — list your reports
    /balas CODE message — answer the agency about your report
    /batal — cancel the report in progress
    /bahasa — change language (Indonesia/English)
    /dataku — the personal data we hold about you; /hapus_dataku — erase it
help-admin =
    Admin commands:
    /opd_add CODE Indonesian name | English name — add an agency (OPD)
    /opd_bind CODE — (in the OPD's group) bind this group/topic to the OPD
    /cat_add code OPD days photo=yes location=yes Indonesian name | English name — add a category
    /opds — list agencies and categories
    /pic_add OPD_CODE — (reply to the person's message in the group) register a PIC; or /pic_add OPD_CODE id|@username
    /pic_list OPD_CODE — list PICs
    /pic_del OPD_CODE id|@username — remove a PIC

status-ask = Send your ticket code, for example { $example }.
status-bad-code = That ticket code is not recognised. A valid example: { $example }
status-not-found = Report { $code } was not found among your reports.
status-head =
    Report { $code }
    Status: { $status }
    Category: { $category }
    Handled by: { $opd }
    Filed: { $created }
    History:
status-received = Received
status-verified = Verified
status-dispatched = Forwarded to the agency
status-in_progress = In progress
status-need_info = Waiting for information from you
status-resolved = Resolved
status-closed = Closed
status-rejected = Rejected
event-created = Report filed
event-note = Note
my-reports-empty = You have not filed any report yet.
my-reports-head = Your reports ({ $count }):
my-reports-foot = Type /status CODE to see the full history.

cmd-start = Start / main menu
cmd-lapor = File a new report
cmd-status = Check a report's status
cmd-laporanku = My reports
cmd-batal = Cancel the report in progress
cmd-bahasa = Change language
cmd-help = Help

myid = Your user id: { $user }
    This chat's id: { $chat }
myid-topic = Your user id: { $user }
    This chat's id: { $chat } (topic { $thread })
admin-only = This command is for admins only.
admin-opd-usage = Usage: /opd_tambah CODE Indonesian name | English name
    Example: /opd_tambah PUPR Dinas PUPR | Public Works Office
admin-opd-added = Agency { $code } saved: { $name }
admin-opd-unknown = Agency { $code } does not exist. See /opd.
admin-bind-usage = Usage: /opd_ikat CODE — run it inside that agency's group (or topic). Example: /opd_ikat PUPR
admin-bind-private = Run /opd_bind inside the agency's group, not in a private chat.
admin-bind-ok = This group is now bound to agency { $code } ({ $name }).
admin-bind-ok-topic = This topic is now bound to agency { $code } ({ $name }).
admin-cat-usage = Usage: /kategori_tambah code OPD days [photo=yes|no] [location=yes|no] Indonesian name | English name
    Example: /kategori_tambah road PUPR 5 photo=yes location=yes Jalan rusak | Damaged road
admin-cat-added = Category { $code } → { $opd } saved (follow-up within { $days }, photo: { $photo }, location: { $location }).
admin-list-empty = No agencies yet. Add one with /opd_tambah.
admin-list-category = • { $code }: { $name } — follow-up within { $days }, photo { $photo }, location { $location }
admin-yes = yes
admin-no = no
admin-group-bound = group bound
admin-group-unbound = NO group yet

## Agency groups: the card, PIC actions, relays, notifications

card-anonymous = Anonymous
card-map = map
card-no-location = (no location)
card-category = Category
card-opd = Agency
card-description = Description
card-location = Location
card-reporter = Reporter
card-deadline = Deadline
card-media = Photos/videos
card-voice = Voice notes
card-assignee = Handled by
card-resolution = Resolution note
card-rejected = Rejected
card-rating = Citizen rating
card-btn-take = 🙋 I'll take it
card-btn-progress = 🔧 In progress
card-btn-info = ❓ Ask for info
card-btn-resolve = ✅ Resolved
card-btn-reject = ⛔ Reject
card-btn-reassign = ↪️ Reassign
card-btn-back = ↩️ Back
reject-hoax = Hoax / invalid
reject-authority = Not our authority
reject-duplicate = Duplicate of another report
reject-other = Other reason

pic-invalid-button = This button is not valid.
pic-not-allowed = Only PICs registered for this agency, or admins, can act on reports.
pic-stale = This card has changed. It was refreshed; please try again.
pic-wrong-state = Not possible while the status is { $status }.
pic-race-lost = Another PIC got there first ({ $name }). Nothing was changed.
pic-already-taken = This report is already handled by { $name }.
pic-taken = You are handling this report. The reporter was told.
pic-done = Status updated. The reporter was told.
pic-question-sent = Question sent to the reporter.
pic-resolved = Marked as resolved. The reporter was asked to confirm.
pic-rejected = Report rejected. The reporter was told.
pic-reassigned = Report reassigned to { $opd }.
pic-proof-required = This category needs a proof photo. Reply with a photo and the note.
pic-duplicate-unknown = That ticket code was not found. Reply with the original report's code (e.g. ADU-7K3Q).
pic-reply-not-allowed = Only registered PICs can reply to the reporter.
pic-reply-unlinked = This reply was not passed on to the reporter: the bot message you replied to is not linked to a report. Reply to the report's card, or press its button again.
pic-text-needed = Please reply with text.
prompt-info = { $code }: reply to this message with your question for the reporter.
prompt-resolve = { $code }: reply to this message with the resolution note (attach a proof photo if you have one).
prompt-reject_other = { $code }: reply to this message with the reason for rejecting.
prompt-duplicate = { $code }: reply to this message with the ticket code of the original report.

group-reassigned-away = { $code } was reassigned to { $opd } by { $name }.
group-reassigned-here = Report { $code } was reassigned here from { $opd }.
group-reopened = ⚠️ The reporter says { $code } is NOT fixed yet. The report was re-opened.
relay-from-citizen = 💬 Reporter ({ $code }):
relay-from-opd = 💬 Reply from { $opd } about report { $code }:

notify-dispatched = 📨 Report { $code } was forwarded to { $opd }.
notify-in-progress = 🔧 Report { $code } is being handled by { $opd }.
notify-need-info = ❓ { $opd } needs more information about report { $code }:
    { $question }

    Reply to this message with your answer, or type /balas { $code } your answer.
notify-resolved = ✅ { $opd } says report { $code } is resolved.
    Note: { $note }

    Is it fixed?
notify-proof = Proof of the fix for { $code }
notify-rejected = ⛔ Report { $code } was rejected by { $opd }. Reason: { $reason }
notify-reassigned = ↪️ Report { $code } was reassigned to { $opd }.
btn-feedback-yes = 👍 Yes, it is
btn-feedback-no = 👎 Not yet
feedback-rate = Thank you! Please rate how this report was handled (1 = poor, 5 = excellent):
feedback-thanks = Thank you for your rating. The report is closed.
feedback-reopened = Sorry it is not fixed yet. The report was re-opened and the agency was told.
answer-sent = Your answer was passed to { $opd }.
answer-usage = Usage: /balas CODE your message. Example: /balas ADU-7K3Q The pothole is in front of the shop.
answer-closed = Report { $code } is closed; the message was not passed on. File a new report if needed.
answer-unsupported = Only text, photos, videos or voice notes can be passed on.

alert-opd-no-group = ⚠️ Report { $code } for agency { $opd } is waiting: the agency has no group. Run /opd_bind { $opd } in its group.
alert-parked = ⚠️ A message to chat { $chat } (report { $code }) failed repeatedly and was parked: { $error }
alert-group-unreachable = ⚠️ The bot cannot post to the group of agency { $opd } ({ $error }). Reports are waiting; add the bot again and run /opd_bind.
alert-citizen-blocked = ⚠️ The reporter of { $code } blocked the bot; notifications are not delivered.

event-status = Status change
event-assigned = Taken by a PIC
event-reassigned = Reassigned
event-reopened = Re-opened by the reporter
event-pic_reply = Reply from the agency
event-citizen_reply = Reply from the reporter
event-info-given = The reporter gave information

admin-pic-usage = Usage: /pic_tambah OPD_CODE (as a reply to the person's message), or /pic_tambah OPD_CODE user_id|@username. Also /pic OPD_CODE and /pic_hapus OPD_CODE user_id|@username.
    Example: /pic_tambah PUPR 123456789
admin-pic-added = PIC { $who } added to { $opd }.
admin-pic-removed = PIC { $who } removed from { $opd }.
admin-pic-missing = { $who } is not a PIC of { $opd }.
admin-pic-list = PICs of { $opd }:
admin-pic-none = { $opd } has no PICs yet.

group-help =
    How this group works:
    • Every citizen report for this agency appears as a card with buttons: take it, in progress, ask for info, resolved, reject, reassign.
    • Reply to the card or to the bot's messages about a report to message the reporter; their answers appear here as replies to the card.
    • Only registered PICs (/pic_add by an admin) and admins can act.
    • Lights: 🟢 time left, 🟡 deadline near, 🔴 overdue.

## WhatsApp

wa-or = Or:
wa-use-this-number = Use this WA number
wa-choose = Choose
pic-wa-text-photo-only = The reporter uses WhatsApp: only text and photos can be passed on.
# The approved WhatsApp template for notifications sent more than 24 hours after the citizen's
# last message (see the Indonesian catalogue for how it is configured).
wa-template-update = Update on report {"{{"}1{"}}"}: {"{{"}2{"}}"} Reply to this message to continue.
