## Identity: phone numbers and the NIK

phone-invalid = Maaf, itu bukan nomor HP yang bisa kami hubungi. Ketik nomor HP Anda, misalnya 0812-3456-7890, atau tekan tombol di bawah, atau "Lewati".
# Shown in OPD groups and to operators instead of the number itself (UU PDP).
nik-format-verified = NIK terverifikasi format
