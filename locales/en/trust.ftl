## Operator verification, per-citizen limits and the spam score (handlers/verification.py)

reject-notpublic = Not a public-service matter
reject-incomplete = Incomplete
card-deadline-verify = operator verification by { $due }
card-spam = Spam score
card-spam-none = 0
card-verified-by = Verified by
spam-repeat = same text as an earlier report
spam-nomedia = no photo/video
spam-new = new account (< 24 h)
spam-hoax = { $count } earlier reports rejected as hoax
limit-reached = Sorry, you have already sent { $max } reports today (the daily limit). You can report again from { $when }. The reports you sent are still being handled.
verify-btn-ok = ✅ Verify
verify-btn-reject = ❌ Reject
verify-btn-category = 🔁 Change category
verify-btn-merge = 🔗 Merge duplicate
verify-not-allowed = Only operators and admins can verify reports.
verify-already = This report was already handled by { $name }. Nothing was changed.
verify-done = { $code } verified and forwarded.
verify-rejected = Report rejected; the reporter has been told.
verify-recategorised = Category changed to { $category }. The report still awaits verification.
verify-merged = { $code } merged into { $target }.
verify-merge-bad-target = That report cannot be the target (the same one, closed, rejected or merged already). Send another ticket code.
verify-merge-unknown = Unknown ticket code. Reply with the target report's code, e.g. ADU-7K3Q.
merge-usage = Usage: /gabung ADU-XXXX ADU-YYYY — the first report is merged into the second as a duplicate.
verify-card-verified = ✅ { $code } verified by { $name } and forwarded to { $opd }.
verify-card-rejected = ❌ { $code } rejected by { $name }: { $reason }.
verify-card-merged = 🔗 { $code } merged into { $target } by { $name }.
notify-verified = ✅ Report { $code } has been verified and forwarded to { $opd }.
notify-verify-rejected = ⛔ We cannot forward report { $code }. { $reason }
verify-why-hoax = After checking, this report was found to be untrue or could not be confirmed.
verify-why-notpublic = This report is not a matter for the local government's public services, so we cannot forward it to an agency.
verify-why-incomplete = The report does not have enough information to act on. Please file a new report with more details, a photo and the location.
notify-merged = 🔗 Report { $code } is the same as report { $target }, which we already received, so they were merged. You will be told how report { $target } progresses.
prompt-merge = Reply to this message with the target report's ticket code: { $code } will be merged into it as a duplicate.
reminder-verify-yellow = 🟡 { $count ->
    [one] 1 report
   *[other] { $count } reports
} not verified yet and close to the deadline:
reminder-verify-red = 🔴 { $count ->
    [one] 1 report
   *[other] { $count } reports
} past the verification deadline:
escalation-verify-red = ⚠️ Escalation: { $count ->
    [one] 1 report
   *[other] { $count } reports
} not verified by an operator by the deadline:
stats-verification = Verification: { $verified } verified, median { $median }, { $ontime } on time
event-merged = Merged into another report
event-merged_in = Another report merged into this one
event-recategorised = Category changed by an operator
search-verify = Verification: due { $due }, verified { $verified } by { $name }
