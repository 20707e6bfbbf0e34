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
media-download-failed = The file could not be downloaded. Please send it again.

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

help =
    How to use this service:
    /lapor — file a new report
    /status CODE — check a report's status (e.g. /status ADU-7K3Q)
    /laporanku — list your reports
    /batal — cancel the report in progress
    /bahasa — change language (Indonesia/English)
help-admin =
    Admin commands:
    /opd_add CODE Indonesian name | English name — add an agency (OPD)
    /opd_bind CODE — (in the OPD's group) bind this group/topic to the OPD
    /cat_add code OPD days photo=yes location=yes Indonesian name | English name — add a category
    /opds — list agencies and categories

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

admin-only = This command is for admins only.
admin-opd-usage = Usage: /opd_add CODE Indonesian name | English name
admin-opd-added = Agency { $code } saved: { $name }
admin-opd-unknown = Agency { $code } does not exist. See /opds.
admin-bind-usage = Usage: /opd_bind CODE — run it inside that agency's group (or topic).
admin-bind-private = Run /opd_bind inside the agency's group, not in a private chat.
admin-bind-ok = This group is now bound to agency { $code } ({ $name }).
admin-bind-ok-topic = This topic is now bound to agency { $code } ({ $name }).
admin-cat-usage = Usage: /cat_add code OPD days [photo=yes|no] [location=yes|no] Indonesian name | English name. Example: /cat_add road PUPR 5 photo=yes location=yes Jalan rusak | Damaged road
admin-cat-added = Category { $code } → { $opd } saved ({ $days } working days, photo: { $photo }, location: { $location }).
admin-list-empty = No agencies yet. Add one with /opd_add.
admin-yes = yes
admin-no = no
admin-group-bound = group bound
admin-group-unbound = NO group yet
