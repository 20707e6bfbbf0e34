## Aduan — Bahasa Indonesia (default language)

welcome = Halo { $name }! 👋 Ini layanan pengaduan masyarakat. Sampaikan keluhan Anda — jalan rusak, sampah, air, listrik, pelayanan publik — dan kami teruskan ke dinas yang berwenang.
menu-prompt = Apa yang ingin Anda lakukan?
idle-hint = Untuk membuat laporan baru, tekan "Buat laporan" atau ketik /lapor. Untuk cek laporan, kirim kode tiket (mis. ADU-7K3Q).
nothing-to-cancel = Tidak ada laporan yang sedang dibuat.
cancelled = Laporan dibatalkan. Tidak ada yang dikirim.
draft-expired = Draf laporan Anda sebelumnya sudah kedaluwarsa dan dihapus. Silakan mulai lagi.
draft-still-open = Laporan Anda yang sedang dibuat masih terbuka. Lanjutkan di bawah ini, atau ketik /batal.
button-stale = Tombol itu sudah tidak berlaku.
button-stale-alert = Tombol ini sudah tidak berlaku.
already-sent = Laporan ini sudah terkirim dengan nomor tiket { $code }. Tidak dikirim dua kali.
already-sent-alert = Sudah terkirim.
throttled = Mohon pelan-pelan 🙏 Pesan Anda terlalu banyak dalam waktu singkat. Tunggu beberapa detik lalu kirim lagi.
error-generic = Maaf, terjadi gangguan saat memproses pesan Anda. Silakan coba lagi sebentar lagi.
unknown-command = Perintah itu tidak dikenal. Ketik /help untuk melihat perintah yang tersedia.
choose-language = Pilih bahasa / Choose language:
language-set = Bahasa diatur ke Bahasa Indonesia.

btn-new-report = 📝 Buat laporan
btn-check-status = 🔎 Cek status
btn-my-reports = 📋 Laporanku
btn-help = ❓ Bantuan
btn-cancel = ✖️ Batal
btn-done = ✅ Selesai
btn-skip = Lewati
btn-send = 📨 Kirim laporan
btn-edit = ✏️ Ubah
btn-back = ↩️ Kembali
btn-prev = ◀️ Sebelumnya
btn-next = Berikutnya ▶️
btn-send-location = 📍 Kirim lokasi saya
btn-share-phone = 📱 Bagikan nomor HP saya
btn-use-name = 👤 Pakai nama: { $name }
btn-anonymous = 🕶️ Anonim (identitas disembunyikan dari dinas)
btn-edit-category = Kategori
btn-edit-description = Uraian
btn-edit-media = Foto/video
btn-edit-location = Lokasi
btn-edit-identity = Identitas

ask-category = Langkah 1/5 — Pilih kategori masalah:
ask-category-page = Langkah 1/5 — Pilih kategori masalah (halaman { $page }/{ $pages }):
no-categories = Maaf, belum ada kategori laporan yang disiapkan. Silakan hubungi admin.
category-unknown = Kategori itu tidak tersedia. Silakan pilih dari daftar.
category-chosen = Kategori: { $category }
expect-category = Silakan pilih kategori dengan menekan salah satu tombol.

ask-description = Langkah 2/5 — Ceritakan masalahnya: apa yang terjadi, sejak kapan, di mana tepatnya. Tulis { $min }–{ $max } karakter.
description-too-short = Uraiannya terlalu singkat. Mohon tulis minimal { $min } karakter agar petugas paham masalahnya.
description-too-long = Uraiannya terlalu panjang ({ $length } karakter). Mohon ringkas menjadi paling banyak { $max } karakter.
description-saved = Uraian dicatat.
voice-kept = Pesan suara disimpan dan ikut dilampirkan. Mohon tulis juga ringkasan singkat (minimal { $min } karakter).
expect-description = Mohon ketik uraian masalah sebagai teks.

ask-media = Langkah 3/5 — Kirim foto atau video masalahnya (maks. { $max }). Bisa sekaligus beberapa. Tekan "Selesai" jika sudah, atau "Lewati".
ask-media-required = Langkah 3/5 — Kirim foto atau video masalahnya (wajib, maks. { $max }). Tekan "Selesai" jika sudah.
media-saved = Diterima ({ $count }/{ $max }). Kirim lagi, atau tekan "Selesai".
media-album-saved = Album diterima. Kirim lagi (maks. { $max }), atau tekan "Selesai".
media-limit = Sudah mencapai batas { $max } foto/video. Yang lebih dari itu tidak disimpan. Tekan "Selesai" untuk lanjut.
media-required = Kategori ini wajib melampirkan minimal satu foto atau video.
expect-media = Mohon kirim foto atau video (bukan stiker atau berkas lain), lalu tekan "Selesai".
expect-media-not-voice = Pesan suara tidak bisa dipakai di langkah ini. Mohon kirim foto atau video.
media-unsupported-type = Berkas ini bukan foto atau video. Mohon kirim foto (JPG/PNG) atau video.
media-empty = Berkas itu kosong (0 byte). Mohon kirim ulang foto atau videonya.
media-too-big = Berkas terlalu besar (lebih dari { $limit } MB). Mohon kirim video yang lebih pendek atau foto.
media-not-image = Berkas itu bukan gambar yang valid. Mohon kirim foto asli (JPG/PNG).
media-not-video = Berkas itu bukan video yang bisa dibuka. Mohon kirim ulang videonya dari kamera ponsel.
media-image-huge = Gambar itu terlalu besar (lebih dari { $megapixels } megapiksel). Mohon kirim foto biasa dari kamera ponsel.
media-download-failed = Berkas gagal diunduh. Mohon kirim ulang.
media-not-kept = Salah satu berkas yang Anda kirim tidak tersimpan. { $reason }
media-still-receiving = Foto Anda masih kami terima. Mohon tekan "Kirim laporan" lagi sebentar lagi.

ask-location = Langkah 4/5 — Bagikan lokasi masalahnya dengan tombol "Kirim lokasi saya" di bawah (atau lampirkan lokasi dari menu 📎). Tekan "Lewati" jika tidak ada.
ask-location-required = Langkah 4/5 — Bagikan lokasi masalahnya dengan tombol "Kirim lokasi saya" di bawah (atau lampirkan lokasi dari menu 📎). Lokasi wajib untuk kategori ini.
location-saved = Lokasi dicatat: { $place }
location-skipped = Lokasi dilewati.
location-required = Lokasi wajib untuk kategori ini. Mohon bagikan lokasi.
location-outside = Lokasi itu berada di luar wilayah layanan kami. Mohon bagikan lokasi di dalam wilayah kabupaten/kota ini.
location-invalid = Lokasi itu tidak valid. Mohon bagikan ulang.
expect-location = Mohon bagikan lokasi dengan tombol "Kirim lokasi saya" (bukan mengetik alamat).

ask-identity = Langkah 5/5 — Identitas pelapor. Pakai nama Anda, ketik nama lain, atau pilih Anonim (nama dan nomor Anda tidak ditampilkan ke dinas).
identity-name = Nama pelapor: { $name }
identity-anonymous = Laporan akan dikirim sebagai Anonim.
name-invalid = Nama harus 2–{ $max } karakter.
expect-identity = Mohon pilih salah satu tombol atau ketik nama Anda.
ask-phone = Bagikan nomor HP agar petugas bisa menghubungi Anda (opsional). Tekan tombol di bawah, atau "Lewati".
phone-saved = Nomor HP dicatat.
phone-skipped = Tanpa nomor HP.
phone-not-own = Mohon bagikan nomor Anda sendiri dengan tombol di bawah.
expect-phone = Mohon tekan "Bagikan nomor HP saya" atau "Lewati".

summary =
    Periksa laporan Anda:
    Kategori: { $category }
    Uraian: { $description }
    Lampiran: { $photos } foto, { $videos } video, { $voices } pesan suara
    Lokasi: { $place }
    Pelapor: { $who }

    Kirim sekarang?
summary-no-location = (tanpa lokasi)
summary-anonymous = Anonim
summary-incomplete = Laporan belum lengkap. Mohon lengkapi bagian ini dulu.
expect-summary = Mohon tekan "Kirim laporan", "Ubah" atau "Batal".
ask-edit = Bagian mana yang ingin diubah?
expect-edit = Mohon pilih bagian yang ingin diubah.
report-received = ✅ Laporan { $code } diterima. Simpan kode ini untuk mengecek status: /status { $code }
report-received-forwarded = ✅ Laporan { $code } diterima dan sudah diteruskan ke { $opd }. Simpan kode ini untuk mengecek status: /status { $code }

help =
    Cara memakai layanan ini:
    /lapor — buat laporan baru
    /status KODE — cek status laporan (mis. /status ADU-7K3Q)
    /laporanku — daftar laporan Anda
    /balas KODE pesan — jawab pertanyaan dinas tentang laporan Anda
    /batal — batalkan laporan yang sedang dibuat
    /bahasa — ganti bahasa (Indonesia/English)
    /dataku — data pribadi Anda yang kami simpan; /hapus_dataku — hapus data itu
help-admin =
    Perintah admin:
    /opd_add KODE Nama Indonesia | English name — tambah OPD
    /opd_bind KODE — (di grup OPD) hubungkan grup/topik ini ke OPD
    /cat_add kode OPD hari foto=ya lokasi=ya Nama Indonesia | English name — tambah kategori
    /opds — daftar OPD dan kategori
    /pic_add KODE_OPD — (balas pesan orangnya di grup) daftarkan PIC; atau /pic_add KODE_OPD id|@username
    /pic_list KODE_OPD — daftar PIC
    /pic_del KODE_OPD id|@username — hapus PIC

status-ask = Kirim kode tiket Anda, misalnya { $example }.
status-bad-code = Kode tiket tidak dikenali. Contoh yang benar: { $example }
status-not-found = Laporan { $code } tidak ditemukan di antara laporan Anda.
status-head =
    Laporan { $code }
    Status: { $status }
    Kategori: { $category }
    Ditangani: { $opd }
    Dibuat: { $created }
    Riwayat:
status-received = Diterima
status-verified = Diverifikasi
status-dispatched = Diteruskan ke dinas
status-in_progress = Sedang ditangani
status-need_info = Menunggu informasi dari Anda
status-resolved = Selesai ditangani
status-closed = Ditutup
status-rejected = Ditolak
event-created = Laporan dibuat
event-note = Catatan
my-reports-empty = Anda belum pernah membuat laporan.
my-reports-head = Laporan Anda ({ $count }):
my-reports-foot = Ketik /status KODE untuk melihat riwayat lengkap.

cmd-start = Mulai / menu utama
cmd-lapor = Buat laporan baru
cmd-status = Cek status laporan
cmd-laporanku = Daftar laporan saya
cmd-batal = Batalkan laporan yang sedang dibuat
cmd-bahasa = Ganti bahasa
cmd-help = Bantuan

myid = ID pengguna Anda: { $user }
    ID chat ini: { $chat }
myid-topic = ID pengguna Anda: { $user }
    ID chat ini: { $chat } (topik { $thread })
admin-only = Perintah ini hanya untuk admin.
admin-opd-usage = Format: /opd_tambah KODE Nama Indonesia | English name
    Contoh: /opd_tambah PUPR Dinas PUPR | Public Works Office
admin-opd-added = OPD { $code } disimpan: { $name }
admin-opd-unknown = OPD { $code } tidak ada. Lihat /opd.
admin-bind-usage = Format: /opd_ikat KODE — jalankan di dalam grup (atau topik) OPD tersebut. Contoh: /opd_ikat PUPR
admin-bind-private = Jalankan /opd_bind di dalam grup OPD, bukan di chat pribadi.
admin-bind-ok = Grup ini sekarang terhubung ke OPD { $code } ({ $name }).
admin-bind-ok-topic = Topik ini sekarang terhubung ke OPD { $code } ({ $name }).
admin-cat-usage = Format: /kategori_tambah kode OPD hari [foto=ya|tidak] [lokasi=ya|tidak] Nama Indonesia | English name
    Contoh: /kategori_tambah jalan PUPR 5 foto=ya lokasi=ya Jalan rusak | Damaged road
admin-cat-added = Kategori { $code } → { $opd } disimpan (tindak lanjut dalam { $days }, foto: { $photo }, lokasi: { $location }).
admin-list-empty = Belum ada OPD. Tambahkan dengan /opd_tambah.
admin-list-category = • { $code }: { $name } — tindak lanjut dalam { $days }, foto { $photo }, lokasi { $location }
admin-yes = ya
admin-no = tidak
admin-group-bound = grup terhubung
admin-group-unbound = BELUM ada grup

## Agency groups: the card, PIC actions, relays, notifications

card-anonymous = Anonim
card-map = peta
card-no-location = (tanpa lokasi)
card-category = Kategori
card-opd = OPD
card-description = Uraian
card-location = Lokasi
card-reporter = Pelapor
card-deadline = Batas waktu
card-media = Foto/video
card-voice = Pesan suara
card-assignee = Ditangani oleh
card-resolution = Catatan penyelesaian
card-rejected = Ditolak
card-rating = Penilaian warga
card-btn-take = 🙋 Saya tangani
card-btn-progress = 🔧 Proses
card-btn-info = ❓ Minta info
card-btn-resolve = ✅ Selesai
card-btn-reject = ⛔ Tolak
card-btn-reassign = ↪️ Alihkan
card-btn-back = ↩️ Kembali
reject-hoax = Hoaks / tidak valid
reject-authority = Bukan kewenangan kami
reject-duplicate = Duplikat laporan lain
reject-other = Alasan lain

pic-invalid-button = Tombol ini tidak valid.
pic-not-allowed = Hanya PIC terdaftar untuk OPD ini atau admin yang dapat menindaklanjuti laporan.
pic-stale = Kartu ini sudah berubah. Tampilan diperbarui, silakan ulangi.
pic-wrong-state = Tidak bisa dilakukan saat status { $status }.
pic-race-lost = Sudah didahului oleh PIC lain ({ $name }). Tidak ada yang diubah.
pic-already-taken = Laporan ini sudah ditangani oleh { $name }.
pic-taken = Laporan Anda tangani. Pelapor sudah diberi tahu.
pic-done = Status diperbarui. Pelapor sudah diberi tahu.
pic-question-sent = Pertanyaan dikirim ke pelapor.
pic-resolved = Laporan ditandai selesai. Pelapor diminta konfirmasi.
pic-rejected = Laporan ditolak. Pelapor sudah diberi tahu.
pic-reassigned = Laporan dialihkan ke { $opd }.
pic-proof-required = Kategori ini wajib foto bukti penyelesaian. Balas dengan foto beserta catatannya.
pic-duplicate-unknown = Kode tiket itu tidak ditemukan. Balas dengan kode laporan aslinya (mis. ADU-7K3Q).
pic-reply-not-allowed = Hanya PIC terdaftar yang dapat membalas pelapor.
pic-reply-unlinked = Balasan ini tidak diteruskan ke pelapor: pesan bot yang Anda balas tidak terhubung ke laporan. Balas kartu laporannya, atau tekan lagi tombol di kartu.
pic-text-needed = Mohon balas dengan teks.
prompt-info = { $code }: balas pesan ini dengan pertanyaan untuk pelapor.
prompt-resolve = { $code }: balas pesan ini dengan catatan penyelesaian (lampirkan foto bukti jika ada).
prompt-reject_other = { $code }: balas pesan ini dengan alasan penolakan.
prompt-duplicate = { $code }: balas pesan ini dengan kode tiket laporan aslinya.

group-reassigned-away = { $code } dialihkan ke { $opd } oleh { $name }.
group-reassigned-here = Laporan { $code } dialihkan ke sini dari { $opd }.
group-reopened = ⚠️ Pelapor menyatakan { $code } BELUM selesai. Laporan dibuka kembali.
relay-from-citizen = 💬 Pelapor ({ $code }):
relay-from-opd = 💬 Balasan { $opd } untuk laporan { $code }:

notify-dispatched = 📨 Laporan { $code } sudah diteruskan ke { $opd }.
notify-in-progress = 🔧 Laporan { $code } sedang ditangani oleh { $opd }.
notify-need-info = ❓ { $opd } membutuhkan informasi tambahan untuk laporan { $code }:
    { $question }

    Balas pesan ini dengan jawaban Anda, atau ketik /balas { $code } jawaban Anda.
notify-resolved = ✅ { $opd } menyatakan laporan { $code } selesai ditangani.
    Catatan: { $note }

    Sudah selesai?
notify-proof = Foto bukti penyelesaian { $code }
notify-rejected = ⛔ Laporan { $code } ditolak oleh { $opd }. Alasan: { $reason }
notify-reassigned = ↪️ Laporan { $code } dialihkan ke { $opd }.
btn-feedback-yes = 👍 Ya, sudah
btn-feedback-no = 👎 Belum
feedback-rate = Terima kasih! Beri penilaian untuk penanganan laporan ini (1 = buruk, 5 = sangat baik):
feedback-thanks = Terima kasih atas penilaian Anda. Laporan ditutup.
feedback-reopened = Maaf belum tuntas. Laporan dibuka kembali dan dinas sudah diberi tahu.
answer-sent = Jawaban Anda sudah diteruskan ke { $opd }.
answer-usage = Format: /balas KODE pesan Anda. Contoh: /balas ADU-7K3Q Lubangnya di depan warung.
answer-closed = Laporan { $code } sudah ditutup, pesan tidak diteruskan. Buat laporan baru bila perlu.
answer-unsupported = Hanya teks, foto, video, atau pesan suara yang bisa diteruskan.

alert-opd-no-group = ⚠️ Laporan { $code } untuk OPD { $opd } menunggu: OPD ini belum punya grup. Jalankan /opd_bind { $opd } di grupnya.
alert-parked = ⚠️ Pesan untuk chat { $chat } (laporan { $code }) gagal terkirim berulang kali dan ditahan: { $error }
alert-group-unreachable = ⚠️ Bot tidak bisa mengirim ke grup OPD { $opd } ({ $error }). Laporan menunggu; tambahkan bot lagi lalu jalankan /opd_bind.
alert-citizen-blocked = ⚠️ Pelapor laporan { $code } memblokir bot; pemberitahuan tidak terkirim.

event-status = Perubahan status
event-assigned = Diambil PIC
event-reassigned = Dialihkan
event-reopened = Dibuka kembali oleh pelapor
event-pic_reply = Balasan dinas
event-citizen_reply = Balasan pelapor
event-info-given = Pelapor memberi informasi

admin-pic-usage = Format: /pic_tambah KODE_OPD (sebagai balasan ke pesan orangnya), atau /pic_tambah KODE_OPD id_pengguna|@username. Juga /pic KODE_OPD dan /pic_hapus KODE_OPD id_pengguna|@username.
    Contoh: /pic_tambah PUPR 123456789
admin-pic-added = PIC { $who } ditambahkan ke { $opd }.
admin-pic-removed = PIC { $who } dihapus dari { $opd }.
admin-pic-missing = { $who } bukan PIC { $opd }.
admin-pic-list = PIC { $opd }:
admin-pic-none = { $opd } belum punya PIC.

group-help =
    Cara kerja di grup ini:
    • Setiap laporan warga untuk OPD ini muncul sebagai kartu dengan tombol: Saya tangani, Proses, Minta info, Selesai, Tolak, Alihkan.
    • Balas (reply) kartu atau pesan bot tentang laporan untuk mengirim pesan ke pelapor; jawabannya muncul di sini sebagai balasan kartu.
    • Hanya PIC terdaftar (/pic_add oleh admin) dan admin yang dapat bertindak.
    • Lampu: 🟢 masih ada waktu, 🟡 mendekati batas waktu, 🔴 lewat batas waktu.

## WhatsApp

wa-or = Atau:
wa-use-this-number = Pakai nomor WA ini
wa-choose = Pilih
pic-wa-text-photo-only = Pelapor memakai WhatsApp: hanya teks dan foto yang bisa diteruskan.
# The approved WhatsApp template for notifications sent more than 24 hours after the citizen's
# last message. Submit this wording to Meta as WHATSAPP_TEMPLATE_NAME (default aduan_update)
# in WHATSAPP_TEMPLATE_LANGUAGE; its placeholders are filled from WHATSAPP_TEMPLATE_PARAMS
# (default: code, message).
wa-template-update = Kabar laporan {"{{"}1{"}}"}: {"{{"}2{"}}"} Balas pesan ini untuk melanjutkan.
