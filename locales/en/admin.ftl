## Admin toolset: roles, OPDs, categories, deadlines, the admin menu and help

admin-super-only = This command is for super-admins (ADMIN_IDS) only.
admin-role-admin = admin
admin-role-operator = operator
admin-role-super-name = super-admin (ADMIN_IDS)
admin-role-granted = ✅ { $user } ({ $name }) is now { $role }.
admin-role-had = { $user } ({ $name }) is already { $role }; nothing changed.
admin-role-revoked = { $user } is no longer { $role }.
admin-role-missing = { $user } is not { $role }; nothing changed.
admin-role-super = { $user } is a super-admin from ADMIN_IDS; change the ADMIN_IDS setting to change their role.
admin-roles-head = Roles:
admin-roles-by = granted by { $user }
admin-roles-none = No admins or operators have been added yet.
admin-usage-admin_tambah = Usage: /admin_tambah user_id [name], or reply to the person's message with /admin_tambah.
    Example: /admin_tambah 123456789 Budi Santoso
admin-usage-admin_hapus = Usage: /admin_hapus user_id, or reply to the person's message with /admin_hapus.
    Example: /admin_hapus 123456789
admin-usage-operator_tambah = Usage: /operator_tambah user_id [name], or reply to the person's message with /operator_tambah.
    Example: /operator_tambah 123456789 Siti Aminah
admin-usage-operator_hapus = Usage: /operator_hapus user_id, or reply to the person's message with /operator_hapus.
    Example: /operator_hapus 123456789

admin-opd-edited = Agency { $code } renamed: { $name } | { $name_en }
admin-usage-opd_ubah = Usage: /opd_ubah CODE Indonesian name | English name
    Example: /opd_ubah PUPR Dinas Pekerjaan Umum dan Penataan Ruang | Public Works Office
admin-opd-disabled = Agency { $code } ({ $name }) deactivated: its categories are no longer offered to citizens and it is no longer a reassignment target. Its open reports stay there.
admin-opd-enabled = Agency { $code } ({ $name }) is active again.
admin-usage-opd_nonaktif = Usage: /opd_nonaktif CODE
    Example: /opd_nonaktif DISHUB
admin-usage-opd_aktif = Usage: /opd_aktif CODE
    Example: /opd_aktif DISHUB
admin-active = active
admin-inactive = INACTIVE
admin-group-bound-chat = group { $chat }
admin-group-bound-topic = group { $chat }, topic { $thread }

admin-cat-unknown = Category { $code } does not exist. See /kategori.
admin-cat-line = • { $code }: { $name } — follow-up { $days }, resolve { $resolve }, photo { $photo }, location { $location }
admin-inactive-mark = (inactive)
admin-hidden-mark = (hidden: agency inactive)
admin-cat-none = No categories yet.
admin-cat-list-head = Categories (deadlines: d = working days, h = hours):
admin-cat-edited = Category { $code } ({ $name }) → { $opd } saved: follow-up { $days }, resolve { $resolve }, photo { $photo }, location { $location }.
admin-usage-kategori_ubah = Usage: /kategori_ubah code field=value … — fields: name (Indonesian name | English name), opd, photo (yes/no), location (yes/no), followup, resolve (e.g. 5d or 48h; the follow-up may not be longer than the resolution).
    Example: /kategori_ubah road opd=PUPR photo=yes followup=3d name=Jalan rusak | Damaged road
admin-deadline-set = Deadlines of category { $code }: first follow-up { $days }, resolution { $resolve }.
admin-usage-tenggat = Usage: /tenggat code follow_up [resolution] — working days (5d) or hours (48h); the follow-up may not be longer than the resolution.
    Example: /tenggat road 5d 14d
admin-cat-disabled = Category { $code } ({ $name }) deactivated: no longer offered to citizens. Its reports stay.
admin-cat-enabled = Category { $code } ({ $name }) is active again.
admin-usage-kategori_nonaktif = Usage: /kategori_nonaktif code
    Example: /kategori_nonaktif road
admin-usage-kategori_aktif = Usage: /kategori_aktif code
    Example: /kategori_aktif road

help-admin-head = Admin commands (the English names in brackets work too):

## The admin command menu: a short description (at most 256 characters) and one example each

menu-admin_tambah = Add an admin (super-admins only)
menu-ex-admin_tambah = /admin_tambah 123456789 Budi Santoso
menu-admin_hapus = Remove an admin (super-admins only)
menu-ex-admin_hapus = /admin_hapus 123456789
menu-operator_tambah = Add an operator (super-admins only)
menu-ex-operator_tambah = /operator_tambah 123456789 Siti Aminah
menu-operator_hapus = Remove an operator (super-admins only)
menu-ex-operator_hapus = /operator_hapus 123456789
menu-peran = List super-admins, admins and operators
menu-ex-peran = /peran
menu-opd_tambah = Add an agency (OPD)
menu-ex-opd_tambah = /opd_tambah PUPR Dinas PUPR | Public Works Office
menu-opd_ubah = Rename an agency
menu-ex-opd_ubah = /opd_ubah PUPR Dinas Pekerjaan Umum | Public Works Office
menu-opd = List agencies: state, group and categories
menu-ex-opd = /opd
menu-opd_nonaktif = Deactivate an agency
menu-ex-opd_nonaktif = /opd_nonaktif DISHUB
menu-opd_aktif = Reactivate an agency
menu-ex-opd_aktif = /opd_aktif DISHUB
menu-opd_ikat = Bind this group/topic to an agency (send it in the agency's group)
menu-ex-opd_ikat = /opd_ikat PUPR
menu-kategori_tambah = Add a category
menu-ex-kategori_tambah = /kategori_tambah road PUPR 5 photo=yes location=yes Jalan rusak | Damaged road
menu-kategori_ubah = Edit a category (name, agency, photo, location, deadlines)
menu-ex-kategori_ubah = /kategori_ubah road opd=PUPR photo=no
menu-kategori = List categories (all, or one agency's)
menu-ex-kategori = /kategori PUPR
menu-tenggat = A category's follow-up and resolution deadlines
menu-ex-tenggat = /tenggat road 5d 14d
menu-kategori_nonaktif = Deactivate a category
menu-ex-kategori_nonaktif = /kategori_nonaktif road
menu-kategori_aktif = Reactivate a category
menu-ex-kategori_aktif = /kategori_aktif road
menu-pic_tambah = Add an agency PIC (or reply to the person's message)
menu-ex-pic_tambah = /pic_tambah PUPR 123456789
menu-pic_hapus = Remove an agency PIC
menu-ex-pic_hapus = /pic_hapus PUPR 123456789
menu-pic = List an agency's PICs
menu-ex-pic = /pic PUPR
menu-cari = Find a report: full timeline with photos
menu-ex-cari = /cari ADU-7K3Q
menu-alihkan = Reassign a report to another agency
menu-ex-alihkan = /alihkan ADU-7K3Q DLH
menu-terlambat = Red and yellow reports per agency
menu-ex-terlambat = /terlambat
menu-statistik = Report statistics
menu-ex-statistik = /statistik 30d
menu-rapor = Agency report card: 0–100 score, ranked
menu-ex-rapor = /rapor 7d
menu-ekspor = Export reports (CSV and XLSX)
menu-ex-ekspor = /ekspor 30d
menu-templat = PIC answer templates per agency
menu-ex-templat = /templat PUPR
menu-siaran = Broadcast to every citizen
menu-ex-siaran = /siaran Jalan Lintas Timur is closed on Saturday 08:00–12:00.
menu-siaran_batal = Cancel the running broadcast
menu-ex-siaran_batal = /siaran_batal
menu-blokir = Ban a citizen
menu-ex-blokir = /blokir 123456789
menu-buka_blokir = Unban a citizen
menu-ex-buka_blokir = /buka_blokir 123456789
