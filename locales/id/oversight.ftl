## Oversight: deadlines, lights, reminders, escalation, auto-close

card-deadline-followup = tindak lanjut pertama s.d. { $due }
card-deadline-resolve = penyelesaian s.d. { $due }
light-green = hijau
light-yellow = kuning
light-red = merah
reminder-yellow = 🟡 { $count ->
    [one] 1 laporan mendekati batas waktu
   *[other] { $count } laporan mendekati batas waktu
} — mohon ditindaklanjuti:
reminder-red = 🔴 { $count ->
    [one] 1 laporan melewati batas waktu
   *[other] { $count } laporan melewati batas waktu
} — tetap merah sampai ditindaklanjuti:
escalation-red = ⚠️ Eskalasi: { $count ->
    [one] 1 laporan
   *[other] { $count } laporan
} { $opd } lewat batas waktu tanpa tindak lanjut:
reminder-line = { $code } — { $category } (batas { $due })
reminder-more = … dan { $count } lainnya.
notify-auto-closed = Laporan { $code } ditutup otomatis karena tidak ada tanggapan { $days } hari kerja setelah dinyatakan selesai. Jika masalah muncul lagi, silakan buat laporan baru.
event-auto-closed = ditutup otomatis
status-light = Lampu: { $light }
status-deadline-followup = Batas tindak lanjut: { $due }
status-deadline-resolve = Batas penyelesaian: { $due }
