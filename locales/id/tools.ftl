## Tools: response templates, broadcasts, bans, PIC replies that cannot be forwarded

tools-admin-only = Maaf, perintah ini hanya untuk admin.

# Response templates (/templat)
tpl-usage =
    Templat jawaban per OPD, dipakai PIC di grup OPD-nya (admin menyebut kode OPD):
    /templat — daftar templat
    /templat tambah Judul | teks jawaban — simpan templat baru
    /templat hapus N — hapus templat nomor N
    Admin: /templat PUPR, /templat PUPR tambah Judul | teks
    Judul paling banyak 64 karakter, teks paling banyak 1000.
tpl-list = Templat jawaban { $opd }:
tpl-list-hint = Templat ditawarkan sebagai tombol saat bot meminta pertanyaan atau catatan penyelesaian; balas kartu dengan /templat untuk mengirim salah satunya ke pelapor.
tpl-none = { $opd } belum punya templat. Tambahkan dengan /templat tambah Judul | teks
tpl-added = Templat { $n } "{ $title }" disimpan untuk { $opd }.
tpl-deleted = Templat "{ $title }" dihapus dari { $opd }.
tpl-full = { $opd } sudah punya { $max } templat, batasnya. Hapus dulu yang tidak terpakai dengan /templat hapus N.
tpl-missing = { $opd } tidak punya templat nomor { $n }.
tpl-no-opd = Grup ini belum terhubung ke OPD mana pun. Sebutkan kode OPD-nya, mis. /templat PUPR
tpl-opd-unknown = OPD { $code } tidak ditemukan.
tpl-not-allowed = Hanya PIC { $opd } atau admin yang dapat memakai templat ini.
tpl-offer = Atau pilih jawaban tersimpan untuk { $code }:
tpl-offer-reply = Pilih jawaban tersimpan yang dikirim ke pelapor { $code }:
tpl-sent = ✅ { $name } memakai templat "{ $title }" untuk { $code }.
tpl-gone = Templat itu sudah tidak ada.

# Broadcast (/siaran)
bc-usage = Format: /siaran teks pengumuman (paling banyak 4000 karakter). Dikirim ke semua warga yang pernah menghubungi bot, kecuali yang diblokir atau memblokir bot. Batalkan dengan /siaran_batal.
bc-running = Siaran #{ $id } masih berjalan. Tunggu selesai atau batalkan dengan /siaran_batal.
bc-message =
    📣 Pengumuman
    
    { $text }
bc-progress = 📣 Siaran #{ $id }: { $done } dari { $total } warga diproses — terkirim { $delivered }, memblokir bot { $blocked }, gagal { $failed }.
bc-btn-cancel = ❌ Batalkan siaran
bc-done = ✅ Siaran #{ $id } selesai: terkirim { $delivered }, memblokir bot { $blocked }, gagal { $failed } (dari { $total } warga).
bc-cancelled = ⛔ Siaran #{ $id } dibatalkan: terkirim { $delivered }, memblokir bot { $blocked }, gagal { $failed }; { $withdrawn } pesan tidak jadi dikirim.
bc-none = Tidak ada siaran yang sedang berjalan.
bc-cancel-ok = Siaran dibatalkan.

# Bans (/blokir, /buka_blokir)
ban-usage = Format: /blokir KODE_TIKET (pelapornya), /blokir id_pengguna_Telegram, atau /blokir nomor_WhatsApp (mis. /blokir ADU-7K3Q, /blokir 123456789, /blokir +6281234567890; awali tg: atau wa: bila perlu). Membuka: /buka_blokir dengan cara yang sama.
ban-unknown = Warga { $who } tidak ditemukan.
ban-ambiguous = { $who } cocok dengan pengguna Telegram dan nomor WhatsApp. Tulis tg:{ $who } atau wa:{ $who }.
ban-done = 🚫 { $who } diblokir. Ia diberi tahu sekali dengan sopan, lalu pesannya diabaikan.
ban-already = { $who } sudah diblokir.
unban-done = ✅ Blokir { $who } dibuka. Ia diberi tahu bahwa layanan bisa dipakai lagi.
unban-not-banned = { $who } tidak sedang diblokir.
ban-notice = Mohon maaf, akses Anda ke layanan pengaduan ini dibatasi oleh admin, sehingga pesan Anda tidak dapat kami proses. Jika menurut Anda ini keliru, silakan hubungi kantor pemerintah daerah setempat.
unban-notice = Akses Anda ke layanan pengaduan ini sudah dibuka kembali. Ketik /start atau "menu" untuk memulai.

# A PIC's reply to a card that cannot be forwarded to the citizen
pic-reply-unforwardable = Pesan jenis ini (lokasi, kontak, stiker, polling, dadu, permainan, dan sejenisnya) tidak bisa diteruskan ke pelapor; tidak ada yang dikirim. Balas kartu dengan teks, foto, video, pesan suara, atau dokumen.
