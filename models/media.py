"""Stored attachments: validated, photos stripped of all metadata, content-addressed in
MEDIA_DIR."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API will not serve bigger files
GPS_IFD = 0x8825
MAX_PIXELS = 50_000_000  # a photo from any phone is smaller; a decompression bomb is not
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
            cleaned = _clean_video(data)
            if cleaned is None:  # no ffmpeg here: kept as received (logged once)
                ext = ".mp4" if mime in (None, "video/mp4") else ".video"
            else:
                data, mime, ext = cleaned, "video/mp4", ".mp4"
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
    """Verify an image and keep its pixels only: re-encoded without EXIF (GPS, camera,
    owner), XMP, IPTC, comments or text chunks, turned upright first so it still looks the
    same. Images of more than MAX_PIXELS (decompression bombs) are refused. Returns (bytes,
    mime, extension)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.width * probe.height > MAX_PIXELS:
                    raise MediaRejected("media-image-huge", megapixels=MAX_PIXELS // 1_000_000)
                probe.verify()
            img = Image.open(io.BytesIO(data))
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected("media-image-huge", megapixels=MAX_PIXELS // 1_000_000) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected("media-not-image") from exc
    fmt = img.format or "JPEG"
    icc = img.info.get("icc_profile")  # colours, not identity: kept
    upright = ImageOps.exif_transpose(img)
    img = upright if upright is not None else img
    img.info = {}  # Pillow would carry comments, XMP and EXIF over from here
    save_fmt = "JPEG" if fmt in ("JPEG", "MPO") else fmt if fmt in ("PNG", "WEBP") else "PNG"
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if save_fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=90, optimize=True, **extra)
    elif save_fmt == "WEBP":
        img.save(out, "WEBP", quality=90, **extra)
    else:
        img.save(out, "PNG", optimize=False, **extra)
    return out.getvalue(), Image.MIME[save_fmt], EXT[save_fmt]


@functools.cache
def _ffmpeg() -> str | None:
    """ffmpeg's path, or None (then videos keep their metadata; said once in the log)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        log.warning("ffmpeg is not installed: videos are stored with their metadata "
                    "(location, device); install ffmpeg to strip it")
    return exe


VIDEO_TIMEOUT = 60.0  # seconds for one 20 MB remux; it copies streams, it does not re-encode


def _clean_video(data: bytes) -> bytes | None:
    """A video -> the same streams (first video, any audio) in a new MP4 with no metadata:
    no location, device, title, chapters or data tracks (which may carry GPS). None without
    ffmpeg; MediaRejected when ffmpeg cannot read it as a video."""
    exe = _ffmpeg()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="aduan-video-") as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out.mp4"
        src.write_bytes(data)
        command = [exe, "-nostdin", "-v", "error", "-i", str(src), "-map", "0:v:0",
                   "-map", "0:a?", "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1",
                   "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
                   "-movflags", "+faststart", "-f", "mp4", str(dst)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=VIDEO_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise MediaRejected("media-not-video") from None
        if done.returncode != 0 or not dst.exists() or dst.stat().st_size == 0:
            raise MediaRejected("media-not-video")
        return dst.read_bytes()
