## Operator verification, per-citizen limits and the spam score (handlers/verification.py)

reject-notpublic = Bukan urusan layanan publik
reject-incomplete = Tidak lengkap
card-deadline-verify = verifikasi operator s.d. { $due }
card-spam = Skor spam
card-spam-none = 0
card-verified-by = Diverifikasi oleh
spam-repeat = teks sama dengan laporan sebelumnya
spam-nomedia = tanpa foto/video
spam-new = akun baru (< 24 jam)
spam-hoax = { $count } laporan sebelumnya ditolak sebagai hoaks
limit-reached = Mohon maaf, Anda sudah mengirim { $max } laporan hari ini (batas per hari). Anda dapat melapor lagi mulai { $when }. Laporan yang sudah dikirim tetap kami proses.
verify-btn-ok = ✅ Verifikasi
verify-btn-reject = ❌ Tolak
verify-btn-category = 🔁 Ubah kategori
verify-btn-merge = 🔗 Gabung duplikat
verify-not-allowed = Hanya operator dan admin yang dapat memverifikasi laporan.
verify-already = Laporan ini sudah ditangani oleh { $name }. Tidak ada yang diubah.
verify-done = { $code } diverifikasi dan diteruskan.
verify-rejected = Laporan ditolak; pelapor sudah diberi tahu.
verify-recategorised = Kategori diubah ke { $category }. Laporan masih menunggu verifikasi.
verify-merged = { $code } digabung ke { $target }.
verify-merge-bad-target = Laporan tujuan tidak dapat dipakai (sama, sudah ditutup, ditolak, atau sudah digabung). Kirim kode tiket lain.
verify-merge-unknown = Kode tiket tidak dikenali. Balas dengan kode laporan tujuan, misalnya ADU-7K3Q.
merge-usage = Cara pakai: /gabung ADU-XXXX ADU-YYYY — laporan pertama digabung ke laporan kedua sebagai duplikat.
verify-card-verified = ✅ { $code } diverifikasi oleh { $name } dan diteruskan ke { $opd }.
verify-card-rejected = ❌ { $code } ditolak oleh { $name }: { $reason }.
verify-card-merged = 🔗 { $code } digabung ke { $target } oleh { $name }.
notify-verified = ✅ Laporan { $code } sudah diverifikasi dan diteruskan ke { $opd }.
notify-verify-rejected = ⛔ Laporan { $code } tidak dapat kami teruskan. { $reason }
verify-why-hoax = Setelah diperiksa, laporan ini dinilai tidak benar atau tidak dapat dipastikan kebenarannya.
verify-why-notpublic = Laporan ini bukan urusan layanan publik pemerintah daerah, sehingga tidak dapat kami teruskan ke dinas.
verify-why-incomplete = Informasi laporan belum cukup untuk ditindaklanjuti. Silakan buat laporan baru dengan keterangan, foto, dan lokasi yang lebih lengkap.
notify-merged = 🔗 Laporan { $code } sama dengan laporan { $target } yang sudah kami terima, jadi keduanya digabung. Anda akan mendapat kabar perkembangan laporan { $target }.
prompt-merge = Balas pesan ini dengan kode tiket laporan tujuan: { $code } akan digabung ke laporan itu sebagai duplikat.
reminder-verify-yellow = 🟡 { $count ->
    [one] 1 laporan
   *[other] { $count } laporan
} belum diverifikasi dan mendekati batas waktu:
reminder-verify-red = 🔴 { $count ->
    [one] 1 laporan
   *[other] { $count } laporan
} melewati batas waktu verifikasi:
escalation-verify-red = ⚠️ Eskalasi: { $count ->
    [one] 1 laporan
   *[other] { $count } laporan
} belum diverifikasi operator hingga batas waktu:
stats-verification = Verifikasi: { $verified } diverifikasi, median { $median }, { $ontime } tepat waktu
event-merged = Digabung ke laporan lain
event-merged_in = Laporan lain digabung ke sini
event-recategorised = Kategori diubah operator
search-verify = Verifikasi: batas { $due }, diverifikasi { $verified } oleh { $name }
