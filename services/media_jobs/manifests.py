"""Manifest post-processing and parsing: HLS (m3u8) and DASH (mpegdash), plus fMP4 facts.

ffmpeg's dash muxer with `hls_playlist=1` writes one set of CMAF segments for both HLS and
DASH, but its HLS playlists lack what the Apple HLS Authoring Specification asks for
(AVERAGE-BANDWIDTH, FRAME-RATE, EXT-X-PLAYLIST-TYPE:VOD, EXT-X-INDEPENDENT-SEGMENTS) and carry
nominal, not measured, bandwidths. The `rewrite_*` functions are pure: playlist text plus
measured facts in, playlist text out.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import av
import av.error
import m3u8
from av.audio.codeccontext import AudioCodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType, VideoFrame
from mpegdash.parser import MPEGDASHParser

AUDIO_GROUP_ID = "audio"
_PLAYLIST_VERSION = 6  # EXT-X-MAP without I-FRAMES-ONLY needs protocol version 6
_MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
_TEMPLATE_VAR = re.compile(r"\$(RepresentationID|Number|Time|Bandwidth)(%0(\d+)d)?\$")


@dataclass(frozen=True)
class Segment:
    """One media segment as a manifest references it."""

    uri: str
    duration: float


@dataclass(frozen=True)
class MediaPlaylist:
    """The facts of an HLS media playlist the checks need."""

    init_uri: str | None
    segments: list[Segment]
    target_duration: int | None
    playlist_type: str | None
    endlist: bool
    independent_segments: bool

    @property
    def duration(self) -> float:
        """Sum of the segment durations."""
        return sum(s.duration for s in self.segments)


@dataclass(frozen=True)
class Bitrates:
    """Measured bitrates of a rendition, bits/s."""

    peak: int
    """Highest segment bitrate (segment bytes * 8 / segment duration)."""
    average: int
    """All segment bytes * 8 / total duration (init segment excluded)."""

    def __add__(self, other: Bitrates) -> Bitrates:
        return Bitrates(peak=self.peak + other.peak, average=self.average + other.average)


@dataclass(frozen=True)
class VariantFacts:
    """What the multivariant playlist says about one video rendition."""

    bitrates: Bitrates
    codecs: str
    width: int
    height: int
    frame_rate: float


@dataclass(frozen=True)
class DashRepresentation:
    """A DASH representation with its segment list expanded from the template."""

    id: str
    content_type: str
    bandwidth: int | None
    width: int | None
    height: int | None
    codecs: str | None
    init_uri: str | None
    segments: list[Segment]

    @property
    def duration(self) -> float:
        """Sum of the segment durations."""
        return sum(s.duration for s in self.segments)


@dataclass(frozen=True)
class FragmentInfo:
    """What PyAV reads from an init segment followed by one media segment."""

    kind: str
    codecs: str
    width: int
    height: int
    frame_rate: float | None
    first_packet_keyframe: bool
    first_packet_idr: bool
    first_frame_key: bool


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse an HLS media playlist."""
    playlist = m3u8.loads(text)
    if playlist.is_variant:
        raise ValueError("expected a media playlist, got a multivariant playlist")
    init = playlist.segment_map[0].uri if playlist.segment_map else None
    return MediaPlaylist(
        init_uri=init,
        segments=[Segment(s.uri, float(s.duration)) for s in playlist.segments],
        target_duration=playlist.target_duration,
        playlist_type=(playlist.playlist_type or "").upper() or None,
        endlist=playlist.is_endlist,
        independent_segments=playlist.is_independent_segments,
    )


def measure_bitrates(segments: Sequence[tuple[float, int]]) -> Bitrates:
    """Peak and average bitrate from (duration seconds, size bytes) per segment."""
    timed = [(d, size) for d, size in segments if d > 0]
    if not timed:
        raise ValueError("no segment with a positive duration")
    total_time = sum(d for d, _ in timed)
    total_bits = sum(size for _, size in timed) * 8
    peak = max(size * 8 / d for d, size in timed)
    return Bitrates(peak=math.ceil(peak), average=math.ceil(total_bits / total_time))


def rewrite_media_playlist(text: str, *, uri_prefix: str = "") -> str:
    """An Apple-conformant VOD media playlist; `uri_prefix` is prepended to segment URIs."""
    playlist = parse_media_playlist(text)
    if not playlist.segments:
        raise ValueError("media playlist has no segments")
    target = max(1, max(round(s.duration) for s in playlist.segments))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{_PLAYLIST_VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if playlist.init_uri:
        lines.append(f'#EXT-X-MAP:URI="{uri_prefix}{playlist.init_uri}"')
    for segment in playlist.segments:
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        lines.append(f"{uri_prefix}{segment.uri}")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def rewrite_master_playlist(
    text: str,
    variants: Mapping[str, VariantFacts],
    *,
    audio: Bitrates | None = None,
    audio_codecs: str = "mp4a.40.2",
) -> str:
    """A multivariant playlist with measured BANDWIDTH/AVERAGE-BANDWIDTH and full attributes.

    `variants` maps each variant's URI to its facts. With `audio`, the playlist's audio
    rendition becomes the `audio` group, every variant references it and its bitrates count
    toward each variant's bandwidth (peak + peak, average + average).
    """
    master = m3u8.loads(text)
    if not master.is_variant:
        raise ValueError("expected a multivariant playlist")
    audio_media = [m for m in master.media if (m.type or "").upper() == "AUDIO"]
    if audio is not None and not audio_media:
        raise ValueError("audio bitrates given but the playlist has no audio rendition")
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{_PLAYLIST_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        media = audio_media[0]
        channels = f',CHANNELS="{media.channels}"' if media.channels else ""
        language = (
            f',LANGUAGE="{media.language}"' if media.language and media.language != "und" else ""
        )
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP_ID}",NAME="Audio"{language},'
            f'DEFAULT=YES,AUTOSELECT=YES{channels},URI="{media.uri}"'
        )
    for variant in master.playlists:
        try:
            facts = variants[variant.uri]
        except KeyError:
            raise ValueError(f"no measured facts for variant {variant.uri}") from None
        total = facts.bitrates + audio if audio is not None else facts.bitrates
        codecs = f"{facts.codecs},{audio_codecs}" if audio is not None else facts.codecs
        attributes = [
            f"BANDWIDTH={total.peak}",
            f"AVERAGE-BANDWIDTH={total.average}",
            f'CODECS="{codecs}"',
            f"RESOLUTION={facts.width}x{facts.height}",
            f"FRAME-RATE={facts.frame_rate:.3f}",
        ]
        if audio is not None:
            attributes.append(f'AUDIO="{AUDIO_GROUP_ID}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(variant.uri)
    return "\n".join(lines) + "\n"


def rewrite_mpd(text: str, *, uri_prefix: str = "", bandwidths: Mapping[str, int] = {}) -> str:
    """The MPD with `uri_prefix` before template URLs and measured `bandwidth` per id."""
    for prefix, uri in (
        ("", _MPD_NS),
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xlink", "http://www.w3.org/1999/xlink"),
    ):
        ET.register_namespace(prefix, uri)
    root = ET.fromstring(text)
    ns = {"mpd": _MPD_NS}
    for template in root.iterfind(".//mpd:SegmentTemplate", ns):
        for attr in ("initialization", "media"):
            if template.get(attr):
                template.set(attr, uri_prefix + template.get(attr, ""))
    for representation in root.iterfind(".//mpd:Representation", ns):
        rep_id = representation.get("id", "")
        if rep_id in bandwidths:
            representation.set("bandwidth", str(bandwidths[rep_id]))
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def parse_mpd(text: str) -> tuple[float, list[DashRepresentation]]:
    """The presentation duration and every representation with its expanded segment list."""
    mpd = MPEGDASHParser.parse(text)
    duration = _iso_duration(mpd.media_presentation_duration)
    representations: list[DashRepresentation] = []
    for period in mpd.periods or []:
        for adaptation in period.adaptation_sets or []:
            content_type = adaptation.content_type or (adaptation.mime_type or "").split("/")[0]
            for rep in adaptation.representations or []:
                templates = rep.segment_templates or adaptation.segment_templates or []
                if not templates:
                    raise ValueError(f"representation {rep.id} has no SegmentTemplate")
                init, segments = _expand_template(templates[0], rep.id, rep.bandwidth)
                representations.append(
                    DashRepresentation(
                        id=str(rep.id),
                        content_type=content_type or (rep.mime_type or "").split("/")[0],
                        bandwidth=rep.bandwidth,
                        width=rep.width,
                        height=rep.height,
                        codecs=rep.codecs or adaptation.codecs,
                        init_uri=init,
                        segments=segments,
                    )
                )
    return duration, representations


def resolve_uri(manifest_path: str, uri: str) -> str:
    """The store path of `uri` referenced from `manifest_path`; absolute URLs are refused."""
    if "://" in uri or uri.startswith("/"):
        raise ValueError(f"not a relative URL: {uri}")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(manifest_path), uri))
    if resolved.startswith("../") or resolved == "..":
        raise ValueError(f"URL escapes the output prefix: {uri}")
    return resolved


def avc_codecs(avcc: bytes) -> str:
    """RFC 6381 `avc1.PPCCLL` from an avcC record (profile, constraints, level)."""
    if len(avcc) < 4 or avcc[0] != 1:
        raise ValueError("not an avcC record")
    return f"avc1.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"


def aac_codecs(audio_specific_config: bytes) -> str:
    """RFC 6381 `mp4a.40.N` from an AAC AudioSpecificConfig."""
    if not audio_specific_config:
        return "mp4a.40.2"
    return f"mp4a.40.{audio_specific_config[0] >> 3}"


def read_fragment(init: bytes, segment: bytes) -> FragmentInfo:
    """Demux and decode the first packet of an fMP4 `segment` (with its `init`)."""
    try:
        with av.open(io.BytesIO(init + segment), mode="r", format="mp4") as container:
            stream = container.streams[0]
            ctx = stream.codec_context
            if not isinstance(ctx, VideoCodecContext | AudioCodecContext):
                raise ValueError(f"the segment holds a {stream.type} stream, not video or audio")
            extradata = bytes(ctx.extradata or b"")
            if isinstance(ctx, VideoCodecContext):
                codecs = avc_codecs(extradata) if ctx.name == "h264" else ctx.name
                rate = stream.average_rate or stream.guessed_rate
                frame_rate = float(rate) if rate else None
                width, height = ctx.width, ctx.height
            else:
                codecs = aac_codecs(extradata) if ctx.name == "aac" else ctx.name
                frame_rate, width, height = None, 0, 0
            packet = next((p for p in container.demux(stream) if p.size), None)
            if packet is None:
                raise ValueError("segment has no media packet")
            idr = stream.type == "video" and _has_idr(bytes(packet), extradata)
            frames = list(ctx.decode(packet)) + list(ctx.decode(None))
            first_key = bool(frames) and frames[0].key_frame
            if stream.type == "video" and frames and isinstance(frames[0], VideoFrame):
                first_key = first_key and frames[0].pict_type == PictureType.I
            return FragmentInfo(
                kind=stream.type,
                codecs=codecs,
                width=width,
                height=height,
                frame_rate=frame_rate,
                first_packet_keyframe=packet.is_keyframe,
                first_packet_idr=idr,
                first_frame_key=first_key,
            )
    except av.error.FFmpegError as exc:
        raise ValueError(f"unreadable fMP4 segment: {exc}") from exc


def _has_idr(sample: bytes, avcc: bytes) -> bool:
    """Whether an AVCC (length-prefixed) sample holds an IDR slice (NAL type 5)."""
    length_size = (avcc[4] & 0x03) + 1 if len(avcc) > 4 else 4
    pos = 0
    while pos + length_size < len(sample):
        size = int.from_bytes(sample[pos : pos + length_size], "big")
        pos += length_size
        if pos < len(sample) and sample[pos] & 0x1F == 5:
            return True
        pos += size
    return False


def _expand_template(
    template: Any, rep_id: str, bandwidth: int | None
) -> tuple[str | None, list[Segment]]:
    timescale = template.timescale or 1
    start_number = template.start_number if template.start_number is not None else 1

    def fill(pattern: str, number: int = 0, time: int = 0) -> str:
        values: dict[str, str | int] = {"RepresentationID": rep_id, "Number": number,
                                        "Time": time}
        values["Bandwidth"] = bandwidth or 0

        def sub(match: re.Match[str]) -> str:
            value = values[match.group(1)]
            width = match.group(3)
            return f"{int(value):0{width}d}" if width else str(value)

        return _TEMPLATE_VAR.sub(sub, pattern).replace("$$", "$")

    init = fill(template.initialization) if template.initialization else None
    segments: list[Segment] = []
    timelines = template.segment_timelines or []
    if not timelines:
        raise ValueError("only SegmentTemplate with SegmentTimeline is supported")
    number, time = start_number, 0
    for s in timelines[0].Ss or []:
        if s.t is not None:
            time = s.t
        for _ in range((s.r or 0) + 1):
            segments.append(Segment(fill(template.media, number, time), s.d / timescale))
            number += 1
            time += s.d
    return init, segments


def _iso_duration(value: str | None) -> float:
    """Seconds of an ISO 8601 duration such as PT1H2M3.5S."""
    match = re.fullmatch(
        r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
        value or "",
    )
    if not value or not match:
        raise ValueError(f"bad ISO 8601 duration: {value!r}")
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
