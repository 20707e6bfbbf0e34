## Identity: phone numbers and the NIK

phone-invalid = Sorry, that is not a mobile number we can reach. Type your mobile number, for example 0812-3456-7890, or press the button below, or "Skip".
# Shown in OPD groups and to operators instead of the number itself (UU PDP).
nik-format-verified = NIK format verified
