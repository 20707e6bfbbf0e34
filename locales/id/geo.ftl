# Duplicates near the pin, followers and routing by area (handlers/intake.py, lifecycle.py).
card-supporters = 👥 { $count } warga mendukung
summary-routed = 🏢 Diteruskan ke: { $opd }
nearby-head = 📍 Sudah dilaporkan? Ada laporan serupa yang masih terbuka di dekat lokasi ini. Ikuti saja, dan Anda akan dikabari setiap perkembangannya:
nearby-line = { $light } { $code } — { $status } — ± { $meters } m — 👥 { $supporters }
    { $description }
nearby-foot = Jika masalahnya berbeda, pilih "Tetap buat laporan baru".
btn-follow = Ikuti { $code }
btn-new-anyway = Tetap buat laporan baru
expect-nearby = Pilih laporan yang ingin Anda ikuti, atau "Tetap buat laporan baru".
follow-done = 👥 Anda kini mengikuti laporan { $code }. Kami akan mengabari Anda setiap ada perkembangan. Terima kasih atas dukungannya!
follow-already = Anda sudah mengikuti laporan { $code }. Tidak ada yang berubah.
follow-own = { $code } adalah laporan Anda sendiri; kabarnya sudah dikirim kepada Anda.
follow-closed = Laporan { $code } sudah tidak terbuka lagi, jadi tidak dapat diikuti.
follow-update = 🔔 Laporan { $code } yang Anda ikuti: { $status } ({ $opd }).
follow-merged = 🔗 Laporan { $code } digabung ke { $target } karena membahas masalah yang sama. Anda kini mengikuti { $target } dan akan dikabari perkembangannya.
followed-head = 👥 Laporan yang Anda ikuti ({ $count }):
followed-mark = diikuti
btn-unfollow = Berhenti ikuti { $code }
unfollow-usage = Ketik /berhenti_ikuti dan kode tiketnya, misalnya: /berhenti_ikuti { $example }
unfollow-not-following = Anda tidak sedang mengikuti laporan { $code }.
unfollow-done = Anda berhenti mengikuti laporan { $code }. Kabar berikutnya tidak akan dikirim lagi.
admin-cat-route-by-area = Rute menurut wilayah (area=ya|tidak): { $answer }
