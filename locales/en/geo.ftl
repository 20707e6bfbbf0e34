# Duplicates near the pin, followers and routing by area (handlers/intake.py, lifecycle.py).
card-supporters = 👥 { $count } citizens support this
summary-routed = 🏢 Goes to: { $opd }
nearby-head = 📍 Already reported? There are open reports like this near that location. Follow one and you will be told of its progress:
nearby-line = { $light } { $code } — { $status } — ± { $meters } m — 👥 { $supporters }
    { $description }
nearby-foot = If your problem is a different one, choose "Make a new report".
btn-follow = Follow { $code }
btn-new-anyway = Make a new report
expect-nearby = Choose a report to follow, or "Make a new report".
follow-done = 👥 You now follow report { $code }. We will tell you of every step. Thank you for your support!
follow-already = You already follow report { $code }. Nothing changed.
follow-own = { $code } is your own report; you are told of its progress already.
follow-closed = Report { $code } is no longer open, so it cannot be followed.
follow-update = 🔔 Report { $code } you follow: { $status } ({ $opd }).
follow-merged = 🔗 Report { $code } was merged into { $target }, which is about the same problem. You now follow { $target } and will be told of its progress.
followed-head = 👥 Reports you follow ({ $count }):
followed-mark = following
btn-unfollow = Unfollow { $code }
unfollow-usage = Type /berhenti_ikuti and the ticket code, for example: /berhenti_ikuti { $example }
unfollow-not-following = You are not following report { $code }.
unfollow-done = You no longer follow report { $code }. No further updates will be sent.
admin-cat-route-by-area = Routes by area (area=ya|tidak): { $answer }
