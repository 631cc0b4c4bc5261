"""Manifest post-processing and parsing, on ffmpeg's own output texts (no ffmpeg run)."""

import m3u8
import pytest

from services.media_jobs.manifests import (
    Bitrates,
    VariantFacts,
    aac_codecs,
    avc_codecs,
    measure_bitrates,
    parse_media_playlist,
    parse_mpd,
    resolve_uri,
    rewrite_master_playlist,
    rewrite_media_playlist,
    rewrite_mpd,
)

# What ffmpeg 9's dash muxer writes with hls_playlist=1 (verbatim, dates included).
FFMPEG_MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_2",DEFAULT=YES,CHANNELS="2",URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1632872,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="group_A1"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=532872,RESOLUTION=480x270,CODECS="avc1.640015,mp4a.40.2",AUDIO="group_A1"
media_1.m3u8

"""
FFMPEG_MEDIA = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-stream0.m4s"
#EXTINF:6.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T06:03:57.000+0000
chunk-stream0-00001.m4s
#EXTINF:6.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T06:04:03.000+0000
chunk-stream0-00002.m4s
#EXTINF:2.400000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T06:04:09.000+0000
chunk-stream0-00003.m4s
#EXT-X-ENDLIST
"""
FFMPEG_MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
\txmlns="urn:mpeg:dash:schema:mpd:2011"
\txmlns:xlink="http://www.w3.org/1999/xlink"
\tprofiles="urn:mpeg:dash:profile:isoff-live:2011"
\ttype="static"
\tmediaPresentationDuration="PT14.4S"
\tmaxSegmentDuration="PT6.0S"
\tminBufferTime="PT12.0S">
\t<Period id="0" start="PT0.0S">
\t\t<AdaptationSet id="0" contentType="video" segmentAlignment="true" frameRate="30/1">
\t\t\t<Representation id="0" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="1500000" width="640" height="360" sar="1:1">
\t\t\t\t<SegmentTemplate timescale="15360" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="1">
\t\t\t\t\t<SegmentTimeline>
\t\t\t\t\t\t<S t="0" d="92160" r="1" />
\t\t\t\t\t\t<S d="36864" />
\t\t\t\t\t</SegmentTimeline>
\t\t\t\t</SegmentTemplate>
\t\t\t</Representation>
\t\t</AdaptationSet>
\t\t<AdaptationSet id="1" contentType="audio" segmentAlignment="true">
\t\t\t<Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
\t\t\t\t<SegmentTemplate timescale="48000" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Time$.m4s" startNumber="1">
\t\t\t\t\t<SegmentTimeline>
\t\t\t\t\t\t<S t="0" d="288000" r="1" />
\t\t\t\t\t\t<S d="115200" />
\t\t\t\t\t</SegmentTimeline>
\t\t\t\t</SegmentTemplate>
\t\t\t</Representation>
\t\t</AdaptationSet>
\t</Period>
</MPD>
"""  # noqa: E501


def facts(peak, average, width=640, height=360, codecs="avc1.64001e", fps=29.97):
    return VariantFacts(Bitrates(peak, average), codecs, width, height, fps)


def test_media_playlist_is_rewritten_for_vod():
    """The media playlist gains PLAYLIST-TYPE:VOD and independent segments, loses dates."""
    text = rewrite_media_playlist(FFMPEG_MEDIA, uri_prefix="../cmaf/")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    assert "PROGRAM-DATE-TIME" not in text
    assert '#EXT-X-MAP:URI="../cmaf/init-stream0.m4s"' in text
    parsed = m3u8.loads(text)
    assert [s.uri for s in parsed.segments] == [
        "../cmaf/chunk-stream0-00001.m4s",
        "../cmaf/chunk-stream0-00002.m4s",
        "../cmaf/chunk-stream0-00003.m4s",
    ]
    assert [s.duration for s in parsed.segments] == [6.0, 6.0, 2.4]
    assert parsed.target_duration == 6
    assert parsed.is_endlist


def test_target_duration_is_the_rounded_longest_segment():
    """EXT-X-TARGETDURATION is the longest EXTINF rounded to the nearest integer."""
    text = FFMPEG_MEDIA.replace("#EXTINF:2.400000", "#EXTINF:6.600000")
    assert "#EXT-X-TARGETDURATION:7" in rewrite_media_playlist(text)
    text = FFMPEG_MEDIA.replace("#EXTINF:2.400000", "#EXTINF:6.400000")
    assert "#EXT-X-TARGETDURATION:6" in rewrite_media_playlist(text)


def test_master_playlist_carries_every_apple_attribute():
    """BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE, AUDIO and independence."""
    text = rewrite_master_playlist(
        FFMPEG_MASTER,
        {
            "media_0.m3u8": facts(1_700_000, 1_480_000),
            "media_1.m3u8": facts(450_000, 400_000, 480, 270, "avc1.640015"),
        },
        audio=Bitrates(131_000, 129_000),
    )
    master = m3u8.loads(text)
    assert master.is_independent_segments
    (audio,) = master.media
    assert (audio.type, audio.group_id, audio.uri, audio.default, audio.autoselect) == (
        "AUDIO",
        "audio",
        "media_2.m3u8",
        "YES",
        "YES",
    )
    top, low = master.playlists
    assert top.uri == "media_0.m3u8"
    assert top.stream_info.bandwidth == 1_831_000
    assert top.stream_info.average_bandwidth == 1_609_000
    assert top.stream_info.codecs == "avc1.64001e,mp4a.40.2"
    assert top.stream_info.resolution == (640, 360)
    assert top.stream_info.frame_rate == 29.97
    assert top.stream_info.audio == "audio"
    assert low.stream_info.resolution == (480, 270)
    assert "FRAME-RATE=29.970" in text


def test_master_without_audio_has_no_audio_group():
    """A video-only source gives variants without AUDIO= and a video-only CODECS."""
    video_only = "\n".join(
        line.replace(',AUDIO="group_A1"', "").replace(",mp4a.40.2", "")
        for line in FFMPEG_MASTER.splitlines()
        if not line.startswith("#EXT-X-MEDIA")
    )
    text = rewrite_master_playlist(
        video_only, {"media_0.m3u8": facts(1, 1), "media_1.m3u8": facts(1, 1, 480, 270)}
    )
    master = m3u8.loads(text)
    assert not master.media
    assert master.playlists[0].stream_info.codecs == "avc1.64001e"
    assert master.playlists[0].stream_info.audio is None


def test_master_rewrite_refuses_unmeasured_variants():
    """Every variant must come with measured facts."""
    with pytest.raises(ValueError, match="media_1.m3u8"):
        rewrite_master_playlist(FFMPEG_MASTER, {"media_0.m3u8": facts(1, 1)}, audio=None)


def test_measure_bitrates():
    """Peak is the densest segment, average is total bits over total time."""
    bitrates = measure_bitrates([(6.0, 750_000), (6.0, 900_000), (2.0, 200_000)])
    assert bitrates.peak == 1_200_000
    assert bitrates.average == 1_057_143  # (1_850_000 * 8) / 14, rounded up


def test_measure_bitrates_needs_a_timed_segment():
    """Without a segment of positive duration there is nothing to measure."""
    with pytest.raises(ValueError):
        measure_bitrates([(0.0, 10)])


def test_mpd_template_and_timeline_are_expanded():
    """$RepresentationID$, $Number%05d$, $Time$ and S@r expand to the segment list."""
    duration, reps = parse_mpd(FFMPEG_MPD)
    assert duration == 14.4
    video, audio = reps
    assert (video.id, video.content_type, video.width, video.codecs) == (
        "0",
        "video",
        640,
        "avc1.64001e",
    )
    assert video.init_uri == "init-stream0.m4s"
    assert [s.uri for s in video.segments] == [
        "chunk-stream0-00001.m4s",
        "chunk-stream0-00002.m4s",
        "chunk-stream0-00003.m4s",
    ]
    assert video.duration == pytest.approx(14.4)
    assert [s.uri for s in audio.segments] == [
        "chunk-stream1-0.m4s",
        "chunk-stream1-288000.m4s",
        "chunk-stream1-576000.m4s",
    ]


def test_mpd_rewrite_prefixes_urls_and_sets_measured_bandwidth():
    """The MPD moves beside the segments' folder and advertises measured bandwidths."""
    text = rewrite_mpd(FFMPEG_MPD, uri_prefix="../cmaf/", bandwidths={"0": 1_612_345})
    _, (video, audio) = parse_mpd(text)
    assert video.init_uri == "../cmaf/init-stream0.m4s"
    assert video.segments[0].uri == "../cmaf/chunk-stream0-00001.m4s"
    assert video.bandwidth == 1_612_345
    assert audio.bandwidth == 128_000
    assert "ns0:" not in text


@pytest.mark.parametrize(
    ("base", "uri", "resolved"),
    [
        ("hls/master.m3u8", "media_0.m3u8", "hls/media_0.m3u8"),
        ("hls/media_0.m3u8", "../cmaf/chunk-1.m4s", "cmaf/chunk-1.m4s"),
        ("dash/manifest.mpd", "../cmaf/init.m4s", "cmaf/init.m4s"),
    ],
)
def test_resolve_relative_uris(base, uri, resolved):
    """Relative URLs resolve against the manifest's own folder."""
    assert resolve_uri(base, uri) == resolved


@pytest.mark.parametrize(
    "uri", ["https://cdn.example.com/a.m4s", "/abs/a.m4s", "../../outside.m4s"]
)
def test_absolute_or_escaping_uris_are_refused(uri):
    """Manifests must play from any base URL and stay inside the job's prefix."""
    with pytest.raises(ValueError):
        resolve_uri("hls/media_0.m3u8", uri)


def test_codec_strings():
    """RFC 6381 strings come from the real avcC and AudioSpecificConfig bytes."""
    assert avc_codecs(bytes.fromhex("0164001fffe1")) == "avc1.64001f"
    assert avc_codecs(bytes.fromhex("01640028ffe1")) == "avc1.640028"
    assert aac_codecs(bytes.fromhex("1190")) == "mp4a.40.2"
    assert aac_codecs(bytes.fromhex("2b92")) == "mp4a.40.5"
    with pytest.raises(ValueError):
        avc_codecs(b"\x00\x00")


def test_parse_media_playlist_rejects_a_master():
    """Giving a multivariant playlist where a media playlist is expected is an error."""
    with pytest.raises(ValueError):
        parse_media_playlist(FFMPEG_MASTER)
