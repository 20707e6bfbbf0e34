"""Personal data at rest: phone numbers and NIKs encrypted with Fernet keys, found by a keyed
hash; the start-up conversion of old plain-text phones; re-encryption after a key change.

Keys come from PII_KEYS (comma-separated Fernet keys: the first encrypts, every one decrypts,
which is how a key is rotated). Lookups use HMAC-SHA256 with PII_HASH_KEY, or, when that is
unset, a key derived from the first Fernet key with HKDF (then `aduan rotate-keys` recomputes
the hashes when the first key changes).

cryptography (~7 MB resident) is imported on the first encryption, decryption or derived hash:
a bot whose citizens stay anonymous never loads it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from models.identity import normalize_phone
from models.tables import Citizen, Draft, Report

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

log = logging.getLogger(__name__)

BATCH = 500  # rows per short transaction when converting or re-encrypting


class PiiKeyError(ValueError):
    """PII_KEYS (or the key file) does not hold usable Fernet keys."""


def parse_keys(text: str) -> list[bytes]:
    """Comma- or newline-separated Fernet keys; each checked."""
    keys = [k.strip().encode() for k in text.replace("\n", ",").split(",") if k.strip()]
    if not keys:
        raise PiiKeyError("no key given")
    for key in keys:
        try:
            _check_key(key)
        except (ValueError, TypeError) as exc:
            raise PiiKeyError("each key must be a Fernet key (32 url-safe base64 bytes, e.g. "
                              "from `python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())'`)") from exc
    return keys


def _check_key(key: bytes) -> None:
    """ValueError unless `key` is what `Fernet(key)` accepts: 32 bytes in url-safe base64."""
    if len(base64.urlsafe_b64decode(key)) != 32:
        raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")


class Vault:
    """Encrypts, decrypts and hashes personal values; one per process, injected."""

    def __init__(self, keys: list[bytes], hash_key: bytes | None = None) -> None:
        if not keys:
            raise PiiKeyError("no key given")
        for key in keys:
            _check_key(key)
        self._keys = list(keys)
        self._multi: MultiFernet | None = None
        self._hash_key = hash_key  # None: derived from the first key when first needed

    @property
    def _fernet(self) -> MultiFernet:
        if self._multi is None:
            from cryptography.fernet import Fernet, MultiFernet

            self._multi = MultiFernet([Fernet(k) for k in self._keys])
        return self._multi

    @property
    def _lookup_key(self) -> bytes:
        if self._hash_key is None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            self._hash_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                  info=b"aduan-pii-lookup-hash").derive(
                base64.urlsafe_b64decode(self._keys[0]))
        return self._hash_key

    def encrypt(self, value: str | None) -> str | None:
        """Ciphertext (a Fernet token, text) of `value`, or None for None/empty."""
        if not value:
            return None
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        """The value of a token written with any configured key; None if absent or unreadable
        (a key dropped too early: logged, never raised into a conversation)."""
        if not token:
            return None
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            log.error("a personal-data token cannot be decrypted with PII_KEYS (key dropped "
                      "before `aduan rotate-keys`?)")
            return None

    def rotate(self, token: str | None) -> str | None:
        """The token re-encrypted with the first key (unchanged if unreadable)."""
        if not token:
            return token
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            return token

    def hash(self, kind: str, value: str | None) -> str | None:
        """HMAC-SHA256 hex of a normalised value, per kind ('phone', 'nik'), for lookups."""
        if not value:
            return None
        return hmac.new(self._lookup_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def key_file_vault(path: Path, hash_key: bytes | None = None) -> Vault:
    """A vault from a key file, created (mode 0600) with a new key if missing; processes
    starting at once agree on one key: each writes a whole file aside and links it into place,
    which only the first can do, so nobody ever reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:  # what Fernet.generate_key() makes
            fh.write(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        try:
            os.link(tmp, path)  # atomic, and fails if another process linked first
        except FileExistsError:
            pass
        else:
            log.warning("PII_KEYS is not set: generated a personal-data key in %s (mode "
                        "0600); back it up with the database, or set PII_KEYS", path)
        finally:
            tmp.unlink()
    return Vault(parse_keys(path.read_text().strip()), hash_key)


# ---- data conversion ----------------------------------------------------------------------


async def convert_plaintext(sessionmaker: async_sessionmaker, vault: Vault,
                            region: str = "ID") -> int:
    """Old plain-text phones (`report.reporter_phone`, `citizen.phone`, as typed) become
    E.164, encrypted with a keyed hash, and the plain text is emptied. Idempotent: only rows
    still holding plain text are touched, in short batches. Returns the rows converted."""
    converted = 0
    for table, plain, enc, hashed in (
            (Report, Report.reporter_phone, Report.reporter_phone_enc,
             Report.reporter_phone_hash),
            (Citizen, Citizen.phone, Citizen.phone_enc, Citizen.phone_hash)):
        while True:
            async with sessionmaker() as session:
                rows = (await session.execute(
                    select(table.id, plain).where(plain.is_not(None)).limit(BATCH))).all()
                if not rows:
                    await session.commit()
                    break
                for row_id, text in rows:
                    phone = normalize_phone(text, region) or normalize_phone(
                        text, region, international=True)
                    # A number that is not a valid mobile one any more is still personal
                    # data: kept encrypted as typed, never again in plain text.
                    value = phone or (text or "").strip() or None
                    await session.execute(
                        update(table).where(table.id == row_id).values(
                            {plain: None, enc: vault.encrypt(value),
                             hashed: vault.hash("phone", value)}))
                await session.commit()
                converted += len(rows)
    if converted:
        log.info("converted %d plain-text phone numbers to encrypted E.164", converted)
    return converted


async def rotate_all(sessionmaker: async_sessionmaker, vault: Vault) -> int:
    """Every encrypted value re-encrypted with the first key and its hash recomputed, in
    batches by id (so a crash resumes where it stopped on the next run). Returns rows."""
    done = 0
    specs = (
        (Report, ((Report.reporter_phone_enc, Report.reporter_phone_hash, "phone"),
                  (Report.reporter_nik_enc, Report.reporter_nik_hash, "nik"))),
        (Citizen, ((Citizen.phone_enc, Citizen.phone_hash, "phone"),)),
    )
    for table, pairs in specs:
        last = 0
        while True:
            async with sessionmaker() as session:
                cols = [c for enc, hashed, _ in pairs for c in (enc, hashed)]
                rows = (await session.execute(
                    select(table.id, *cols).where(table.id > last).order_by(table.id)
                    .limit(BATCH))).all()
                if not rows:
                    await session.commit()
                    break
                for row in rows:
                    values = {}
                    for i, (enc, hashed, kind) in enumerate(pairs):
                        token = row[1 + 2 * i]
                        if token:
                            values[enc] = vault.rotate(token)
                            values[hashed] = vault.hash(kind, vault.decrypt(token))
                    if values:
                        await session.execute(update(table).where(table.id == row[0])
                                              .values(values))
                        done += 1
                last = rows[-1][0]
                await session.commit()
    return done + await _rotate_drafts(sessionmaker, vault)


async def _rotate_drafts(sessionmaker: async_sessionmaker, vault: Vault) -> int:
    """Half-written reports keep the phone and NIK encrypted too: re-encrypted likewise (a
    draft changed meanwhile is left for its next turn; its version guards the write)."""
    done, last = 0, 0
    while True:
        async with sessionmaker() as session:
            rows = (await session.execute(
                select(Draft.id, Draft.data, Draft.version).where(Draft.id > last)
                .order_by(Draft.id).limit(BATCH))).all()
            if not rows:
                await session.commit()
                return done
            for row_id, data, version in rows:
                keys = [k for k in ("phone_enc", "nik_enc") if (data or {}).get(k)]
                if not keys:
                    continue
                fresh = dict(data)
                for key in keys:
                    fresh[key] = vault.rotate(fresh[key])
                result = await session.execute(
                    update(Draft).where(Draft.id == row_id, Draft.version == version)
                    .values(data=fresh, version=version + 1))  # cached copies conflict
                done += result.rowcount or 0
            last = rows[-1][0]
            await session.commit()
