## Admin reports: /rapor, /statistik, /terlambat, /cari, /alihkan, /ekspor, the Monday digest

dur-m = { $m }m
dur-h = { $h }h
dur-hm = { $h }h { $m }m
dur-d = { $d }d
dur-dh = { $d }d { $h }h
rapor-title = 📊 OPD report card { $period }
rapor-empty = No reports in this period.
rapor-col-opd = OPD
rapor-col-score = Score
rapor-col-in = In
rapor-col-ontime = OnTm
rapor-col-red = Red
rapor-table-detail = FU { $followup } · Res { $resolve } · ↺{ $reopen } · ★{ $rating }
rapor-formula = Score 0–100 = (40×T + 20×B + 20×U + 20×P) ÷ the weights present. T = follow-ups on time; B = 1 − open reds ÷ reports received (at least 0); U = 1 − reports re-opened ÷ resolved; P = (average rating − 1) ÷ 4. Parts without data are left out. OnTm = followed up on time, FU = median time to first follow-up, Res = median time to resolve, ↺ = re-opened, Red = red reports open now.
rapor-more = … and { $count } more OPDs (see /report_card).
rapor-usage = Usage: /report_card [period]
    Period: empty (last 7 days), week, last-week, month, last-month, 30d, 2026-11, or 2026-11-01..2026-11-23.
stats-usage = Usage: /stats [period]
    Period: empty (last 7 days), week, last-week, month, last-month, 30d, 2026-11, or 2026-11-01..2026-11-23.
stats-title = 📈 Report statistics { $period }
stats-summary = Received: { $total } · open: { $open } · resolved: { $resolved } · closed: { $closed } · rejected: { $rejected }
stats-by-status = By status:
stats-by-light = By light:
stats-by-category = By category:
stats-light-red = red
stats-light-yellow = yellow
stats-light-green = green
stats-light-done = done
overdue-none = ✅ No red or yellow reports right now.
overdue-title = ⏰ Overdue reports: 🔴 { $red } red, 🟡 { $yellow } yellow
overdue-opd = { $opd } ({ $code }): 🔴 { $red } · 🟡 { $yellow }
overdue-due = due { $due }
overdue-more = … and { $count } more.
search-usage = Usage: /search CODE, e.g. /search ADU-7K3Q
search-not-found = Report { $code } not found.
search-anonymous = Anonymous
search-head = { $light } { $code } — { $status }
    Category: { $category }
    OPD: { $opd }
    Received: { $created }
    Reporter: { $reporter }
search-deadlines = Follow-up due: { $followup } · resolution due: { $resolve }
search-description = Description: { $text }
search-address = Address: { $address }
search-rating = Rating: { $stars }
search-events = Timeline:
search-media = Attachments: { $count } files.
reassign-usage = Usage: /reassign CODE OPD, e.g. /reassign ADU-7K3Q DLH
reassign-unknown-report = Report { $code } not found.
reassign-unknown-opd = Unknown OPD { $code }. See the list with /opds.
reassign-same-opd = Report { $code } is already with { $opd }.
reassign-done = Report { $code } reassigned to { $opd }.
reassign-failed = Report { $code } cannot be reassigned: { $reason }
export-usage = Usage: /export [period] [personal]
    Period: empty (last 7 days), week, last-week, month, last-month, 30d, 2026-11, or 2026-11-01..2026-11-23. Add "personal" to include reporters' personal data (name, phone, account id); anonymous reports stay without identity.
export-caption = { $count } reports { $period }
export-personal = ⚠️ Contains personal data (UU PDP): keep it safe, do not forward it.
export-cut = Only the first { $count } of { $total } reports were exported; choose a shorter period.
export-empty = No reports in the period { $period }.
chart-title = OPD report card
chart-on-time = Followed up on time (%)
chart-backlog = Open red reports
chart-this-week = This week
chart-last-week = Last week
chart-this-period = This period
chart-last-period = Period before
chart-no-data = No reports yet
