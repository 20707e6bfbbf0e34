## Admin reports: /rapor, /statistik, /terlambat, /cari, /alihkan, /ekspor, the Monday digest

dur-m = { $m }m
dur-h = { $h }j
dur-hm = { $h }j { $m }m
dur-d = { $d }h
dur-dh = { $d }h { $h }j
rapor-title = 📊 Rapor OPD { $period }
rapor-empty = Belum ada laporan pada periode ini.
rapor-col-opd = OPD
rapor-col-score = Skor
rapor-col-in = Masuk
rapor-col-ontime = Tepat
rapor-col-red = Merah
rapor-table-detail = TL { $followup } · Sls { $resolve } · ↺{ $reopen } · ★{ $rating }
rapor-formula = Skor 0–100 = (40×T + 20×B + 20×U + 20×P) ÷ bobot yang ada. T = tindak lanjut tepat waktu; B = 1 − merah terbuka ÷ laporan masuk (min. 0); U = 1 − laporan dibuka ulang ÷ yang diselesaikan; P = (rata-rata rating − 1) ÷ 4. Bagian tanpa data tidak dihitung. Tepat = tindak lanjut tepat waktu, TL = median waktu tindak lanjut pertama, Sls = median waktu penyelesaian, ↺ = dibuka ulang, Merah = laporan merah yang masih terbuka sekarang.
rapor-more = … dan { $count } OPD lainnya (lihat /rapor).
rapor-usage = Pemakaian: /rapor [periode]
    Periode: kosong (7 hari terakhir), minggu, minggu-lalu, bulan, bulan-lalu, 30d, 2026-11, atau 2026-11-01..2026-11-23.
stats-usage = Pemakaian: /statistik [periode]
    Periode: kosong (7 hari terakhir), minggu, minggu-lalu, bulan, bulan-lalu, 30d, 2026-11, atau 2026-11-01..2026-11-23.
stats-title = 📈 Statistik laporan { $period }
stats-summary = Masuk: { $total } · terbuka: { $open } · selesai: { $resolved } · ditutup: { $closed } · ditolak: { $rejected }
stats-by-status = Menurut status:
stats-by-light = Menurut lampu:
stats-by-category = Menurut kategori:
stats-light-red = merah
stats-light-yellow = kuning
stats-light-green = hijau
stats-light-done = tuntas
overdue-none = ✅ Tidak ada laporan merah atau kuning saat ini.
overdue-title = ⏰ Laporan terlambat: 🔴 { $red } merah, 🟡 { $yellow } kuning
overdue-opd = { $opd } ({ $code }): 🔴 { $red } · 🟡 { $yellow }
overdue-due = batas { $due }
overdue-more = … dan { $count } lainnya.
search-usage = Pemakaian: /cari KODE, misalnya /cari ADU-7K3Q
search-not-found = Laporan { $code } tidak ditemukan.
search-anonymous = Anonim
search-head = { $light } { $code } — { $status }
    Kategori: { $category }
    OPD: { $opd }
    Masuk: { $created }
    Pelapor: { $reporter }
search-deadlines = Batas tindak lanjut: { $followup } · batas penyelesaian: { $resolve }
search-description = Uraian: { $text }
search-address = Alamat: { $address }
search-rating = Penilaian: { $stars }
search-events = Riwayat:
search-media = Lampiran: { $count } berkas.
reassign-usage = Pemakaian: /alihkan KODE OPD, misalnya /alihkan ADU-7K3Q DLH
reassign-unknown-report = Laporan { $code } tidak ditemukan.
reassign-unknown-opd = OPD { $code } tidak dikenal. Lihat daftar dengan /opds.
reassign-same-opd = Laporan { $code } sudah berada di { $opd }.
reassign-done = Laporan { $code } dialihkan ke { $opd }.
reassign-failed = Laporan { $code } tidak dapat dialihkan: { $reason }
export-usage = Pemakaian: /ekspor [periode] [pribadi]
    Periode: kosong (7 hari terakhir), minggu, minggu-lalu, bulan, bulan-lalu, 30d, 2026-11, atau 2026-11-01..2026-11-23. Tambahkan "pribadi" untuk menyertakan data pribadi pelapor (nama, telepon, ID akun); laporan anonim tetap tanpa identitas.
export-caption = { $count } laporan { $period }
export-personal = ⚠️ Berisi data pribadi (UU PDP): simpan dengan aman, jangan diteruskan.
export-cut = Hanya { $count } dari { $total } laporan pertama yang diekspor; pilih periode yang lebih pendek.
export-empty = Tidak ada laporan pada periode { $period }.
chart-title = Rapor OPD
chart-on-time = Tindak lanjut tepat waktu (%)
chart-backlog = Laporan merah terbuka
chart-this-week = Minggu ini
chart-last-week = Minggu lalu
chart-this-period = Periode ini
chart-last-period = Periode sebelumnya
chart-no-data = Belum ada laporan
