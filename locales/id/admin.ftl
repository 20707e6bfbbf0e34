## Admin toolset: roles, OPDs, categories, deadlines, the admin menu and help

admin-super-only = Perintah ini hanya untuk super-admin (ADMIN_IDS).
admin-role-admin = admin
admin-role-operator = operator
admin-role-super-name = super-admin (ADMIN_IDS)
admin-role-granted = ✅ { $user } ({ $name }) sekarang { $role }.
admin-role-had = { $user } ({ $name }) sudah menjadi { $role }; tidak ada yang diubah.
admin-role-revoked = { $user } bukan { $role } lagi.
admin-role-missing = { $user } bukan { $role }; tidak ada yang diubah.
admin-role-super = { $user } adalah super-admin dari ADMIN_IDS; ubah pengaturan ADMIN_IDS untuk mengubah perannya.
admin-roles-head = Peran:
admin-roles-by = diberikan oleh { $user }
admin-roles-none = Belum ada admin atau operator yang ditambahkan.
admin-usage-admin_tambah = Format: /admin_tambah id_pengguna [nama], atau balas pesan orangnya dengan /admin_tambah.
    Contoh: /admin_tambah 123456789 Budi Santoso
admin-usage-admin_hapus = Format: /admin_hapus id_pengguna, atau balas pesan orangnya dengan /admin_hapus.
    Contoh: /admin_hapus 123456789
admin-usage-operator_tambah = Format: /operator_tambah id_pengguna [nama], atau balas pesan orangnya dengan /operator_tambah.
    Contoh: /operator_tambah 123456789 Siti Aminah
admin-usage-operator_hapus = Format: /operator_hapus id_pengguna, atau balas pesan orangnya dengan /operator_hapus.
    Contoh: /operator_hapus 123456789

admin-opd-edited = OPD { $code } diubah: { $name } | { $name_en }
admin-usage-opd_ubah = Format: /opd_ubah KODE Nama Indonesia | English name
    Contoh: /opd_ubah PUPR Dinas Pekerjaan Umum dan Penataan Ruang | Public Works Office
admin-opd-disabled = OPD { $code } ({ $name }) dinonaktifkan: kategorinya tidak ditawarkan lagi kepada warga dan OPD ini bukan lagi tujuan pengalihan. Laporan yang masih terbuka tetap di sana.
admin-opd-enabled = OPD { $code } ({ $name }) aktif kembali.
admin-usage-opd_nonaktif = Format: /opd_nonaktif KODE
    Contoh: /opd_nonaktif DISHUB
admin-usage-opd_aktif = Format: /opd_aktif KODE
    Contoh: /opd_aktif DISHUB
admin-active = aktif
admin-inactive = NONAKTIF
admin-group-bound-chat = grup { $chat }
admin-group-bound-topic = grup { $chat }, topik { $thread }

admin-cat-unknown = Kategori { $code } tidak ada. Lihat /kategori.
admin-cat-line = • { $code }: { $name } — tindak lanjut { $days }, selesai { $resolve }, foto { $photo }, lokasi { $location }
admin-inactive-mark = (nonaktif)
admin-hidden-mark = (tersembunyi: OPD nonaktif)
admin-cat-none = Belum ada kategori.
admin-cat-list-head = Kategori (tenggat: d = hari kerja, h = jam):
admin-cat-edited = Kategori { $code } ({ $name }) → { $opd } disimpan: tindak lanjut { $days }, selesai { $resolve }, foto { $photo }, lokasi { $location }.
admin-usage-kategori_ubah = Format: /kategori_ubah kode bidang=nilai … — bidang: nama (Nama Indonesia | English name), opd, foto (ya/tidak), lokasi (ya/tidak), followup, resolve (mis. 5d atau 48j; tindak lanjut tidak boleh lebih lama dari penyelesaian).
    Contoh: /kategori_ubah jalan opd=PUPR foto=ya followup=3d nama=Jalan rusak | Damaged road
admin-deadline-set = Tenggat kategori { $code }: tindak lanjut pertama { $days }, penyelesaian { $resolve }.
admin-usage-tenggat = Format: /tenggat kode tindak_lanjut [penyelesaian] — hari kerja (5d) atau jam (48j); tindak lanjut tidak boleh lebih lama dari penyelesaian.
    Contoh: /tenggat jalan 5d 14d
admin-cat-disabled = Kategori { $code } ({ $name }) dinonaktifkan: tidak ditawarkan lagi kepada warga. Laporannya tetap.
admin-cat-enabled = Kategori { $code } ({ $name }) aktif kembali.
admin-usage-kategori_nonaktif = Format: /kategori_nonaktif kode
    Contoh: /kategori_nonaktif jalan
admin-usage-kategori_aktif = Format: /kategori_aktif kode
    Contoh: /kategori_aktif jalan

help-admin-head = Perintah admin (nama Inggris dalam kurung juga bisa dipakai):

## The admin command menu: a short description (at most 256 characters) and one example each

menu-admin_tambah = Tambah admin (khusus super-admin)
menu-ex-admin_tambah = /admin_tambah 123456789 Budi Santoso
menu-admin_hapus = Hapus admin (khusus super-admin)
menu-ex-admin_hapus = /admin_hapus 123456789
menu-operator_tambah = Tambah operator (khusus super-admin)
menu-ex-operator_tambah = /operator_tambah 123456789 Siti Aminah
menu-operator_hapus = Hapus operator (khusus super-admin)
menu-ex-operator_hapus = /operator_hapus 123456789
menu-peran = Daftar super-admin, admin dan operator
menu-ex-peran = /peran
menu-opd_tambah = Tambah OPD
menu-ex-opd_tambah = /opd_tambah PUPR Dinas PUPR | Public Works Office
menu-opd_ubah = Ubah nama OPD
menu-ex-opd_ubah = /opd_ubah PUPR Dinas Pekerjaan Umum | Public Works Office
menu-opd = Daftar OPD: status, grup dan kategorinya
menu-ex-opd = /opd
menu-opd_nonaktif = Nonaktifkan OPD
menu-ex-opd_nonaktif = /opd_nonaktif DISHUB
menu-opd_aktif = Aktifkan kembali OPD
menu-ex-opd_aktif = /opd_aktif DISHUB
menu-opd_ikat = Hubungkan grup/topik ini ke OPD (kirim di grup OPD)
menu-ex-opd_ikat = /opd_ikat PUPR
menu-kategori_tambah = Tambah kategori
menu-ex-kategori_tambah = /kategori_tambah jalan PUPR 5 foto=ya lokasi=ya Jalan rusak | Damaged road
menu-kategori_ubah = Ubah kategori (nama, OPD, foto, lokasi, tenggat)
menu-ex-kategori_ubah = /kategori_ubah jalan opd=PUPR foto=tidak
menu-kategori = Daftar kategori (semua, atau satu OPD)
menu-ex-kategori = /kategori PUPR
menu-tenggat = Tenggat tindak lanjut dan penyelesaian kategori
menu-ex-tenggat = /tenggat jalan 5d 14d
menu-kategori_nonaktif = Nonaktifkan kategori
menu-ex-kategori_nonaktif = /kategori_nonaktif jalan
menu-kategori_aktif = Aktifkan kembali kategori
menu-ex-kategori_aktif = /kategori_aktif jalan
menu-pic_tambah = Tambah PIC OPD (atau balas pesan orangnya)
menu-ex-pic_tambah = /pic_tambah PUPR 123456789
menu-pic_hapus = Hapus PIC OPD
menu-ex-pic_hapus = /pic_hapus PUPR 123456789
menu-pic = Daftar PIC sebuah OPD
menu-ex-pic = /pic PUPR
menu-cari = Cari laporan: riwayat lengkap dengan foto
menu-ex-cari = /cari ADU-7K3Q
menu-alihkan = Alihkan laporan ke OPD lain
menu-ex-alihkan = /alihkan ADU-7K3Q DLH
menu-terlambat = Laporan merah dan kuning per OPD
menu-ex-terlambat = /terlambat
menu-statistik = Statistik laporan
menu-ex-statistik = /statistik 30d
menu-rapor = Rapor OPD: skor 0–100, berperingkat
menu-ex-rapor = /rapor 7d
menu-ekspor = Ekspor laporan (CSV dan XLSX)
menu-ex-ekspor = /ekspor 30d
menu-templat = Templat jawaban PIC per OPD
menu-ex-templat = /templat PUPR
menu-siaran = Kirim siaran ke semua warga
menu-ex-siaran = /siaran Jalan Lintas Timur ditutup Sabtu pukul 08.00–12.00.
menu-siaran_batal = Batalkan siaran yang sedang berjalan
menu-ex-siaran_batal = /siaran_batal
menu-blokir = Blokir warga
menu-ex-blokir = /blokir 123456789
menu-buka_blokir = Buka blokir warga
menu-ex-buka_blokir = /buka_blokir 123456789
