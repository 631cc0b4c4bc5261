"""Read the technical facts of a source video with PyAV (no ffprobe needed).

Errors::

    MediaError                    any media problem (probe, encode, output checks), a RegattaError
    ├── NotMediaError             not an audio/video container at all
    │   └── RefusedFormatError    a format the pipeline does not decode (a playlist, a file
    │                             list, an image, ...): refused before it is demuxed
    ├── UnreadableMediaError      a container we recognise, but truncated or corrupt
    ├── NoVideoStreamError        readable, but nothing to encode
    ├── ZeroDurationError         readable, but no measurable duration
    ├── SourceLimitError          beyond a bound: picture size, duration, streams, read time
    ├── EncodeError               (encode.py) ffmpeg failed
    └── CheckFailedError          (checks.py) an output check failed

Untrusted input: libavformat would follow whatever a file names (an HLS playlist's or a concat
list's `file:///etc/passwd` or `http://169.254.169.254/...`). So only local files are read
(`protocol_whitelist=file`), only the container formats in `ACCEPTED_FORMATS` are demuxed
(`format_whitelist`, checked after format detection and before the demuxer reads a header;
encode.py forces the detected format on ffmpeg), text that names other files is refused
before anything opens it, and `SourceLimits` bounds what the probe and the encoder decode.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from av.stream import Disposition
from pydantic import BaseModel, ConfigDict

from shared.errors import RegattaError

Rotation = Literal[0, 90, 180, 270]
ScanType = Literal["progressive", "interlaced"]

# Demuxers (libavformat names) of the containers the upload allow-list's extensions name, plus
# raw H.264 / HEVC / MPEG video elementary streams: none of them opens another file or URL
# (mov's external data references stay off, libavformat's default). Anything else is refused:
# playlists and manifests (hls, dash), lists (concat), image sequences and still images
# (image2, *_pipe), session descriptions (sdp, rtsp), data/subfile/tee tricks, ...
ACCEPTED_FORMATS: tuple[str, ...] = (
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2",  # one demuxer: QuickTime / ISO BMFF
    "matroska", "webm", "avi", "asf", "flv", "mpeg", "mpegts", "mxf",
    "h264", "hevc", "mpegvideo",
)
# The libavformat options every open of an untrusted source carries.
SAFE_INPUT_OPTIONS: dict[str, str] = {
    "protocol_whitelist": "file",
    "format_whitelist": ",".join(ACCEPTED_FORMATS),
}
# Text formats that name other files or URLs, by how they start (lower case, after a BOM and
# blank space): named in the refusal, and refused before libavformat sees them.
_REFERENCING_TEXT: tuple[tuple[bytes, str], ...] = (
    (b"#extm3u", "an HLS/M3U playlist"),
    (b"ffconcat version", "an ffconcat list"),
    (b"<?xml", "an XML document (a DASH manifest, a SMIL playlist, ...)"),
    (b"<mpd", "a DASH manifest"),
    (b"<smil", "a SMIL playlist"),
    (b"<asx", "an ASX playlist"),
    (b"[playlist]", "a PLS playlist"),
    (b"v=0", "an SDP session description"),
)

# AVFieldOrder: 0 unknown, 1 progressive, 2..5 the interlaced field orders.
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
# A source whose last packets end this far before the reported duration is truncated.
_TAIL_TOLERANCE_S = 1.0


class MediaError(RegattaError):
    """Base class of every media-jobs media failure."""


class NotMediaError(MediaError):
    """The file is not an audio/video container."""


class UnreadableMediaError(MediaError):
    """The container is recognised but its data is truncated or corrupt."""


class NoVideoStreamError(MediaError):
    """The container has no video stream to encode."""


class ZeroDurationError(MediaError):
    """The container reports no measurable duration."""


class RefusedFormatError(NotMediaError):
    """A format the pipeline does not decode, refused before its demuxer reads anything."""


class SourceLimitError(MediaError):
    """The source is beyond a bound of `SourceLimits`."""


@dataclass(frozen=True)
class SourceLimits:
    """What a source may be (settings: ``MEDIA_SOURCE_MAX_*``, ``MEDIA_PROBE_MAX_SECONDS``)."""

    max_width: int = 4096
    max_height: int = 4096
    """Coded picture size (before rotation: a portrait phone video is checked as stored)."""
    max_duration: float = 4 * 3600.0
    max_streams: int = 32
    max_probe_seconds: float = 60.0
    """Wall time the probe may spend opening, demuxing and decoding the source."""


def accepted_format(name: str) -> bool:
    """Whether a demuxer name as libavformat reports it (``mov,mp4,m4a,3gp,3g2,mj2``) is one
    the pipeline decodes."""
    return any(alias in ACCEPTED_FORMATS for alias in name.split(","))


def forced_format(name: str) -> str:
    """The ``-f`` value that makes ffmpeg use the demuxer the probe found, without detecting
    the format again; ValueError for a format that is not accepted."""
    for alias in name.split(","):
        if alias in ACCEPTED_FORMATS:
            return alias
    raise ValueError(f"container format {name!r} is not accepted")


def referencing_text(head: bytes) -> str | None:
    """What a file starting with ``head`` is when it is a text format that names other files
    or URLs (a playlist, a list, a manifest); None otherwise."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    for start, what in _REFERENCING_TEXT:
        if text.startswith(start):
            return what
    return None


def limit_violations(limits: SourceLimits, *, width: int, height: int, duration: float,
                     streams: int) -> list[str]:
    """Why a source with these facts is beyond ``limits`` (nothing: it is within them)."""
    found = []
    if width > limits.max_width or height > limits.max_height:
        found.append(f"its picture is {width}x{height}, larger than "
                     f"{limits.max_width}x{limits.max_height}")
    if duration > limits.max_duration:
        found.append(f"it lasts {duration:g} s, longer than {limits.max_duration:g} s")
    if streams > limits.max_streams:
        found.append(f"it has {streams} streams, more than {limits.max_streams}")
    return found


class _Deadline:
    """The probe's time budget."""

    def __init__(self, seconds: float, name: str) -> None:
        self.seconds = seconds
        self.name = name
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise self.error()

    def error(self) -> SourceLimitError:
        return SourceLimitError(
            f"{self.name}: beyond the source limits: reading it took longer than "
            f"{self.seconds:g} s")


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


def probe(path: str | Path, limits: SourceLimits = SourceLimits()) -> MediaInfo:
    """Probe a local file; raise a `MediaError` subclass when it cannot be encoded."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(512)
    what = referencing_text(head)
    if what is not None:
        raise RefusedFormatError(f"{path.name}: {what}, not a video; files that name other "
                                 "files or URLs are refused")
    deadline = _Deadline(limits.max_probe_seconds, path.name)
    try:
        # A path without a scheme: the file protocol; the whitelists stop anything else.
        container = av.open(str(path.absolute()), options=SAFE_INPUT_OPTIONS,
                            metadata_errors="ignore", timeout=limits.max_probe_seconds)
    except av.error.ExitError as exc:
        raise deadline.error() from exc
    except av.error.ArgumentError as exc:
        # EINVAL: the detected format is not on the whitelist (its header was never read).
        raise RefusedFormatError(
            f"{path.name}: not a video container the pipeline accepts (accepted: "
            f"{', '.join(ACCEPTED_FORMATS)})") from exc
    except av.error.FFmpegError as exc:
        if _looks_like_container(head):
            raise UnreadableMediaError(f"{path.name}: container is truncated or corrupt") from exc
        raise NotMediaError(f"{path.name}: not an audio/video file") from exc
    with container:
        if not accepted_format(container.format.name):  # the whitelist already said no
            raise RefusedFormatError(
                f"{path.name}: container format {container.format.name} is not accepted")
        stream = _first_video_stream(container)
        if stream is None:
            raise NoVideoStreamError(f"{path.name}: no video stream")
        duration = _duration(container, stream)
        if duration is None or duration <= 0:
            raise ZeroDurationError(f"{path.name}: no measurable duration")
        beyond = limit_violations(
            limits, width=stream.codec_context.width, height=stream.codec_context.height,
            duration=duration, streams=len(container.streams))
        if beyond:
            raise SourceLimitError(f"{path.name}: beyond the source limits: {'; '.join(beyond)}")
        first_frame = _first_frame(container, stream, path.name, deadline)
        video = _video_info(stream, first_frame)
        audio = [_audio_info(s) for s in container.streams.audio]
        _check_tail(container, duration, path.name, deadline)
        bit_rate = container.bit_rate or round(size * 8 / duration)
        return MediaInfo(
            container=container.format.name,
            duration=round(duration, 6),
            bit_rate=bit_rate,
            size_bytes=size,
            video=video,
            audio=audio,
        )


def _looks_like_container(head: bytes) -> bool:
    # libavformat says "invalid data" both for a text file and for an mp4 cut before its moov:
    # the magic bytes tell the two apart.
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
    container: av.container.InputContainer, stream: av.VideoStream, name: str,
    deadline: _Deadline,
) -> av.VideoFrame:
    try:
        for packet in container.demux(stream):
            deadline.check()
            for frame in packet.decode():
                return frame
    except av.error.ExitError as exc:
        raise deadline.error() from exc
    except av.error.FFmpegError as exc:
        raise UnreadableMediaError(f"{name}: video cannot be decoded ({exc})") from exc
    raise UnreadableMediaError(f"{name}: video stream has no decodable frame")


def _check_tail(container: av.container.InputContainer, duration: float, name: str,
                deadline: _Deadline) -> None:
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
            deadline.check()
            if packet.pts is None or packet.time_base is None:
                untimed += packet.size
                continue
            packet_end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = packet_end if end is None else max(end, packet_end)
    except av.error.ExitError as exc:
        raise deadline.error() from exc
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
    return (0, 90, 180, 270)[quarter]
