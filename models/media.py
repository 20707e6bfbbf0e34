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
    """Verify an image and keep its pixels only: without EXIF (GPS, camera, owner), XMP,
    IPTC, comments or text chunks, turned upright first so it still looks the same. An upright
    RGB or grey JPEG (what Telegram sends) keeps its coded pixels as they are (segments
    dropped, no re-encoding: ~10 ms of CPU less per photo); anything else is re-encoded.
    Images of more than MAX_PIXELS (decompression bombs) are refused. Returns (bytes, mime,
    extension)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.width * probe.height > MAX_PIXELS:
                    raise MediaRejected("media-image-huge", megapixels=MAX_PIXELS // 1_000_000)
                probe.verify()
            img = Image.open(io.BytesIO(data))
            fast = _strip_jpeg(data) if _upright_jpeg(img) else None
            if fast:
                # Decoding at 1/8 scale still reads every coded block (a broken file fails
                # here), at a fraction of the cost; the pixels are not needed.
                img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected("media-image-huge", megapixels=MAX_PIXELS // 1_000_000) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected("media-not-image") from exc
    fmt = img.format or "JPEG"
    if fast is not None:
        return fast, Image.MIME["JPEG"], EXT["JPEG"]
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


ORIENTATION = 0x0112
# APPn segments that carry how to decode the pixels, nothing about who or where: JFIF (without
# a thumbnail), the ICC colour profile (kept by the re-encoding path too), Adobe's transform.
_KEEP_APP = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}


def _upright_jpeg(img: Image.Image) -> bool:
    """A baseline or progressive RGB/grey JPEG that needs no turning (EXIF orientation 1)."""
    if img.format not in ("JPEG", "MPO") or img.mode not in ("RGB", "L"):
        return False
    try:
        return int(img.getexif().get(ORIENTATION, 1) or 1) == 1
    except Exception:  # noqa: BLE001 - unreadable EXIF: the re-encoding path decides
        return False


def _strip_jpeg(data: bytes) -> bytes | None:
    """The JPEG with every APPn segment but `_KEEP_APP`'s, every comment and everything after
    its end marker (an MPO's other pictures, appended data) dropped, the coded pixels byte for
    byte; None when the marker structure is not as expected."""
    n = len(data)
    if data[:2] != b"\xff\xd8":
        return None
    out = [data[:2]]
    i = 2
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker == 0xD9:  # end of image
            out.append(b"\xff\xd9")
            return b"".join(out)
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            if marker == 0xD8:
                return None
            out.append(bytes((0xFF, marker)))
            continue
        if i + 2 > n:
            return None
        end = i + int.from_bytes(data[i:i + 2], "big")
        if end <= i + 1 or end > n:
            return None
        payload = data[i + 2:end]
        keep = True
        if 0xE0 <= marker <= 0xEF:
            prefix = _KEEP_APP.get(marker)
            keep = prefix is not None and payload.startswith(prefix)
            if keep and marker == 0xE0 and payload[12:14] != b"\x00\x00":
                keep = False  # a JFIF thumbnail: pixels of its own
        elif marker == 0xFE:
            keep = False
        if keep:
            out.append(bytes((0xFF, marker)) + data[i:end])
        i = end
        if marker == 0xDA:  # start of scan: coded data up to the next real marker
            j = i
            while True:
                j = data.find(b"\xff", j)
                if j < 0 or j + 1 >= n:
                    return None
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    j += 2  # a stuffed 0xFF or a restart marker: still coded data
                    continue
                break
            out.append(data[i:j])
            i = j
    return None
