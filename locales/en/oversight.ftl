## Oversight: deadlines, lights, reminders, escalation, auto-close

card-deadline-followup = first follow-up by { $due }
card-deadline-resolve = resolution by { $due }
light-green = green
light-yellow = yellow
light-red = red
reminder-yellow = 🟡 { $count ->
    [one] 1 report is nearing its deadline
   *[other] { $count } reports are nearing their deadline
} — please follow up:
reminder-red = 🔴 { $count ->
    [one] 1 report is past its deadline
   *[other] { $count } reports are past their deadline
} — red until followed up:
escalation-red = ⚠️ Escalation: { $count ->
    [one] 1 report
   *[other] { $count } reports
} of { $opd } past the deadline without follow-up:
reminder-line = { $code } — { $category } (due { $due })
reminder-more = … and { $count } more.
notify-auto-closed = Report { $code } was closed automatically: no answer { $days } working days after it was marked resolved. If the problem comes back, please file a new report.
event-auto-closed = closed automatically
status-light = Light: { $light }
status-deadline-followup = Follow-up deadline: { $due }
status-deadline-resolve = Resolution deadline: { $due }
