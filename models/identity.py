"""Citizens' identity numbers, checked and normalised: phone numbers and the NIK.

Pure functions, no database. Phone numbers are stored in E.164 (``+6281234567890``), parsed
with Google's libphonenumber port (``phonenumbers``). A NIK (*Nomor Induk Kependudukan*) is
16 digits: 1–6 the region (province, regency/city, district), 7–12 the birth date as DDMMYY
with 40 added to the day for women, 13–16 a serial. Only its format can be checked here;
whether it belongs to someone is Disdukcapil's business.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

PHONE_INPUT_MAX = 32  # longer than any number written with spaces and a country code
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
# What a citizen can be called back on. Some numbering plans (the US, for one) cannot tell
# mobile from fixed line; those count. Fixed lines, toll-free and premium numbers do not.
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize_phone(text: str | None, region: str = "ID", *,
                    international: bool = False) -> str | None:
    """The number in E.164 (``+6281234567890``), or None if it is not a valid mobile number.

    ``region`` is the country a number written without a country code belongs to ("0812…"
    and "812…" in Indonesia; "62812…" is understood too). ``international``: the text is
    known to carry its country code even without a "+" (a Telegram contact, a WhatsApp id),
    so "447911123456" is a British number rather than an Indonesian one.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > PHONE_INPUT_MAX or not _PHONE_CHARS.match(text):
        return None  # letters (vanity numbers), extensions, anything else is not a phone
    if international and not text.startswith(("+", "0")):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


# ---- NIK --------------------------------------------------------------------------------------


NIK_LENGTH = 16


class NikProblem(StrEnum):
    """Why a NIK is refused; the value names its message (``nik-invalid-<value>``)."""

    EMPTY = "empty"
    NOT_DIGITS = "not-digits"
    LENGTH = "length"
    REGION = "region"
    MONTH = "month"
    DAY = "day"
    DATE = "date"
    SERIAL = "serial"


def clean_nik(text: str) -> str:
    """The NIK as typed, without surrounding whitespace and the spaces, dots and dashes people
    group the digits with ("1471 0512 3456 0001")."""
    return re.sub(r"[\s.\-]", "", text or "")


def _birth_date(day: int, month: int, yy: int) -> date | None:
    """The birth date in either century, whichever exists (29 February 00: 2000, not 1900)."""
    for century in (2000, 1900):
        try:
            return date(century + yy, month, day)
        except ValueError:
            continue
    return None


def check_nik(text: str | None) -> NikProblem | None:
    """None if ``text`` is a well-formed NIK, else the first problem found.

    Checked: 16 digits; province, regency and district codes not 00; month 01–12; day 01–31
    for men or 41–71 for women (day + 40); a real calendar date in 19YY or 20YY (31 February
    never is); serial not 0000.
    """
    nik = clean_nik(text or "")
    if not nik:
        return NikProblem.EMPTY
    if not nik.isascii() or not nik.isdigit():
        return NikProblem.NOT_DIGITS
    if len(nik) != NIK_LENGTH:
        return NikProblem.LENGTH
    if "00" in (nik[0:2], nik[2:4], nik[4:6]):
        return NikProblem.REGION
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if not 1 <= month <= 12:
        return NikProblem.MONTH
    if day > 40:
        day -= 40
    if not 1 <= day <= 31:
        return NikProblem.DAY
    if _birth_date(day, month, yy) is None:
        return NikProblem.DATE
    if nik[12:16] == "0000":
        return NikProblem.SERIAL
    return None


def nik_is_female(nik: str) -> bool:
    """Whether a well-formed NIK's day carries the + 40 of a woman's."""
    return int(clean_nik(nik)[6:8]) > 40


def mask_nik(nik: str | None) -> str:
    """A NIK shown to its owner: all but the last four digits hidden ("••••••••••••0001").

    Never this, nor the number, in an OPD group: there only "NIK terverifikasi format"
    (the ``nik-format-verified`` message) is shown.
    """
    digits = clean_nik(nik or "")
    if len(digits) <= 4:
        return "•" * len(digits)
    return "•" * (len(digits) - 4) + digits[-4:]
