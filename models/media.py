"""Stored attachments: validated, EXIF GPS stripped from photos, content-addressed in MEDIA_DIR."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API will not serve bigger files
GPS_IFD = 0x8825
EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "MPO": ".jpg"}


class MediaRejected(Exception):
    """A file we will not keep; `key` is the translation key of the user-facing reason."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class StoredMedia:
    kind: str
    path: str
    size: int
    sha256: str
    mime: str | None
    source_ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MediaStore:
    """Saves files under a root; the stored file, not the transport's file id, is the record."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def store(
        self, data: bytes, kind: str, mime: str | None, source_ref: str | None = None
    ) -> StoredMedia:
        """Bytes of a photo/video/voice/document -> StoredMedia, or MediaRejected."""
        if not data:
            raise MediaRejected("media-empty")
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise MediaRejected("media-too-big", limit=20)
        ext = ""
        if kind == "photo":
            data, mime, ext = _clean_image(data)
        elif kind == "video":
            ext = ".mp4" if mime in (None, "video/mp4") else ".video"
        elif kind == "voice":
            ext = ".ogg"
        digest = hashlib.sha256(data).hexdigest()
        rel = Path(digest[:2]) / f"{digest}{ext}"
        target = self.root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Unique per write: two citizens sending the same photo at once must not share it.
            tmp = target.with_suffix(target.suffix + f".{os.getpid()}.{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)  # atomic: a crash never leaves half a file under the name
        return StoredMedia(kind, str(rel), len(data), digest, mime, source_ref)

    def path(self, rel: str) -> Path:
        return self.root / rel


def _clean_image(data: bytes) -> tuple[bytes, str, str]:
    """Verify an image and drop its GPS metadata; returns (bytes, mime, extension)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected("media-not-image") from exc
    fmt = img.format or "JPEG"
    exif = img.getexif()
    had_gps = GPS_IFD in exif
    if not had_gps and fmt in ("JPEG", "PNG", "WEBP"):
        return data, Image.MIME.get(fmt, "image/jpeg"), EXT.get(fmt, ".jpg")
    exif.pop(GPS_IFD, None)
    out = io.BytesIO()
    save_fmt = "JPEG" if fmt in ("JPEG", "MPO") else fmt if fmt in ("PNG", "WEBP") else "PNG"
    if save_fmt == "JPEG":
        img = img.convert("RGB") if img.mode not in ("RGB", "L") else img
        img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    else:
        img.save(out, save_fmt, exif=exif.tobytes())
    return out.getvalue(), Image.MIME[save_fmt], EXT[save_fmt]
