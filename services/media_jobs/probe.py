"""Read the technical facts of a source video with PyAV (no ffprobe needed).

Errors::

    MediaError                    any media problem (probe, encode, output checks)
    ├── NotMediaError             not an audio/video container at all
    ├── UnreadableMediaError      a container we recognise, but truncated or corrupt
    ├── NoVideoStreamError        readable, but nothing to encode
    ├── ZeroDurationError         readable, but no measurable duration
    ├── EncodeError               (encode.py) ffmpeg failed
    └── CheckFailed               (checks.py) an output check failed
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from av.stream import Disposition
from pydantic import BaseModel, ConfigDict

Rotation = Literal[0, 90, 180, 270]
ScanType = Literal["progressive", "interlaced"]

# AVFieldOrder: 0 unknown, 1 progressive, 2..5 the interlaced field orders.
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
# A source whose last packets end this far before the reported duration is truncated.
_TAIL_TOLERANCE_S = 1.0


class MediaError(Exception):
    """Base class of every media-jobs media failure."""


class NotMediaError(MediaError):
    """The file is not an audio/video container."""


class UnreadableMediaError(MediaError):
    """The container is recognised but its data is truncated or corrupt."""


class NoVideoStreamError(MediaError):
    """The container has no video stream to encode."""


class ZeroDurationError(MediaError):
    """The container reports no measurable duration."""


# Facts a file may lack default to None: stored job records drop None values.
class VideoInfo(BaseModel):
    """The first real video stream (cover art is not video)."""

    model_config = ConfigDict(frozen=True)

    index: int
    codec: str
    profile: str | None = None
    width: int
    height: int
    display_width: int
    """Width after applying the sample aspect ratio, before rotation."""
    display_height: int
    sample_aspect_ratio: str
    frame_rate: float
    pix_fmt: str
    bit_depth: int
    rotation: Rotation
    """Clockwise degrees a player turns the picture to show it upright."""
    scan_type: ScanType
    field_order: str | None = None
    bit_rate: int | None = None

    @property
    def upright_size(self) -> tuple[int, int]:
        """Display size once rotation is applied (what a viewer sees)."""
        if self.rotation in (90, 270):
            return self.display_height, self.display_width
        return self.display_width, self.display_height


class AudioInfo(BaseModel):
    """One audio stream."""

    model_config = ConfigDict(frozen=True)

    index: int
    codec: str
    channels: int
    sample_rate: int
    bit_rate: int | None = None
    language: str | None = None


class MediaInfo(BaseModel):
    """What the profiler and encoder need to know about a source file."""

    model_config = ConfigDict(frozen=True)

    container: str
    duration: float
    bit_rate: int | None = None
    size_bytes: int
    video: VideoInfo
    audio: list[AudioInfo]

    @property
    def has_audio(self) -> bool:
        """Whether the source has at least one audio stream."""
        return bool(self.audio)


def probe(path: str | Path) -> MediaInfo:
    """Probe a local file; raise a `MediaError` subclass when it cannot be encoded."""
    path = Path(path)
    size = path.stat().st_size
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if _looks_like_container(path):
            raise UnreadableMediaError(f"{path.name}: container is truncated or corrupt") from exc
        raise NotMediaError(f"{path.name}: not an audio/video file") from exc
    with container:
        if container.format.name.endswith("_pipe") or container.format.name == "image2":
            raise NotMediaError(f"{path.name}: a still image, not a video")
        stream = _first_video_stream(container)
        if stream is None:
            raise NoVideoStreamError(f"{path.name}: no video stream")
        duration = _duration(container, stream)
        if duration is None or duration <= 0:
            raise ZeroDurationError(f"{path.name}: no measurable duration")
        first_frame = _first_frame(container, stream, path.name)
        video = _video_info(stream, first_frame)
        audio = [_audio_info(s) for s in container.streams.audio]
        _check_tail(container, duration, path.name)
        bit_rate = container.bit_rate or round(size * 8 / duration)
        return MediaInfo(
            container=container.format.name,
            duration=round(duration, 6),
            bit_rate=bit_rate,
            size_bytes=size,
            video=video,
            audio=audio,
        )


def _looks_like_container(path: Path) -> bool:
    # libavformat says "invalid data" both for a text file and for an mp4 cut before its moov:
    # the magic bytes tell the two apart.
    with path.open("rb") as fh:
        head = fh.read(200)
    if len(head) < 8:
        return False
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: mkv, webm
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF: wmv
        or head.startswith(b"FLV")
        or head.startswith(b"\x00\x00\x01\xba")  # MPEG program stream
        or head.startswith(b"\x06\x0e\x2b\x34")  # MXF
        or (head[0] == 0x47 and len(head) > 188 and head[188] == 0x47)  # MPEG-TS
        or (len(head) > 192 and head[4] == 0x47 and head[192] == 0x47)  # M2TS
    )


def _first_video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _first_frame(
    container: av.container.InputContainer, stream: av.VideoStream, name: str
) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise UnreadableMediaError(f"{name}: video cannot be decoded ({exc})") from exc
    raise UnreadableMediaError(f"{name}: video stream has no decodable frame")


def _check_tail(container: av.container.InputContainer, duration: float, name: str) -> None:
    """Demux the last seconds: a file cut short still reports its full duration in headers."""
    start = (container.start_time or 0) / av.time_base
    try:
        container.seek(int((start + max(0.0, duration - 3.0)) * av.time_base))
    except av.error.FFmpegError:
        return  # not seekable: nothing cheap to learn, the encoder will tell
    end: float | None = None
    untimed = 0
    try:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                untimed += packet.size
                continue
            packet_end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = packet_end if end is None else max(end, packet_end)
    except av.error.FFmpegError as exc:
        raise UnreadableMediaError(f"{name}: media data is corrupt ({exc})") from exc
    if end is None and untimed:
        return  # packets without timestamps: the tail cannot be dated, only the encoder can tell
    found = 0.0 if end is None else end - start
    if found < duration - _TAIL_TOLERANCE_S:
        raise UnreadableMediaError(
            f"{name}: truncated, media data ends at {found:.1f}s of {duration:.1f}s"
        )


def _video_info(stream: av.VideoStream, frame: av.VideoFrame) -> VideoInfo:
    ctx = stream.codec_context
    sar = Fraction(stream.sample_aspect_ratio or ctx.sample_aspect_ratio or 1)
    if sar <= 0:
        sar = Fraction(1)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    pix_fmt = ctx.pix_fmt or frame.format.name
    field_order = _FIELD_ORDERS.get(int(ctx.field_order or 0))
    interlaced = frame.interlaced_frame or field_order not in (None, "progressive")
    scan: ScanType = "interlaced" if interlaced else "progressive"
    return VideoInfo(
        index=stream.index,
        codec=ctx.name,
        profile=stream.profile,
        width=ctx.width,
        height=ctx.height,
        display_width=round(ctx.width * sar),
        display_height=ctx.height,
        sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}",
        frame_rate=round(float(rate), 3) if rate else 0.0,
        pix_fmt=pix_fmt,
        bit_depth=_bit_depth(pix_fmt),
        rotation=_clockwise(frame.rotation),
        scan_type=scan,
        field_order=field_order,
        bit_rate=ctx.bit_rate or None,
    )


def _audio_info(stream: av.AudioStream) -> AudioInfo:
    ctx = stream.codec_context
    return AudioInfo(
        index=stream.index,
        codec=ctx.name,
        channels=ctx.channels,
        sample_rate=ctx.sample_rate,
        bit_rate=ctx.bit_rate or None,
        language=stream.language,
    )


def _bit_depth(pix_fmt: str) -> int:
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.error.FFmpegError):
        return 8


def _clockwise(counter_clockwise: float) -> Rotation:
    """FFmpeg's display matrix angle is counter-clockwise; phones think clockwise."""
    quarter = math.floor(((-counter_clockwise) % 360 + 45) / 90) % 4
    return (0, 90, 180, 270)[quarter]  # type: ignore[return-value]
