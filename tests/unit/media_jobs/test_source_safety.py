"""What an untrusted source may be: the container allow-list, the refusal of text that names
other files or URLs, the source bounds and the encode's time limit (pure logic, no files)."""

from pathlib import Path

import av
import pytest

from services.media_jobs.encode import EncodeSettings, build_command
from services.media_jobs.ladder import choose_rungs
from services.media_jobs.probe import (
    ACCEPTED_FORMATS,
    SAFE_INPUT_OPTIONS,
    SourceLimits,
    accepted_format,
    forced_format,
    limit_violations,
    referencing_text,
)
from services.media_jobs.settings import MediaJobsSettings

# What libavformat reports for the containers of the upload allow-list (see the container
# samples of the pipeline tests), and for raw video elementary streams.
REPORTED = ["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "asf", "flv", "mpeg", "mpegts",
            "mxf", "h264", "hevc", "mpegvideo"]
# Demuxers that open other files or URLs, read images, or are not media containers.
REFUSED = ["hls", "dash", "concat", "image2", "png_pipe", "jpeg_pipe", "sdp", "rtsp", "rtp",
           "imf", "webm_dash_manifest", "mpegtsraw", "ffmetadata", "lavfi", "tty", "srt",
           "data", "tee", "subfile", "", "mov_dref", "hls,applehttp"]


@pytest.mark.parametrize("name", REPORTED)
def test_the_pipeline_s_containers_are_accepted_and_forced_as_themselves(name):
    """Each accepted format forces a demuxer that libavformat resolves to that very format."""
    assert accepted_format(name)
    forced = forced_format(name)
    assert forced in name.split(",")
    assert av.ContainerFormat(forced).input is not None
    assert av.ContainerFormat(forced).input.name == name


@pytest.mark.parametrize("name", REFUSED)
def test_playlists_lists_images_and_the_rest_are_refused(name):
    assert not accepted_format(name)
    with pytest.raises(ValueError, match="not accepted"):
        forced_format(name)


def test_the_allow_list_accepts_exactly_the_pipeline_s_demuxers():
    """Of every demuxer this libavformat has, the allow-list lets through only those named:
    none that reads a playlist, a list, an image sequence or a URL slips in by an alias."""
    demuxers = {av.ContainerFormat(name).input.name for name in av.formats_available
                if av.ContainerFormat(name).input is not None}
    assert {name for name in demuxers if accepted_format(name)} == set(REPORTED)
    assert {"hls", "concat", "image2", "sdp"} <= demuxers


def test_every_open_is_local_and_allow_listed():
    """The options of every untrusted open: the file protocol only, the allow-list only."""
    assert set(SAFE_INPUT_OPTIONS) == {"protocol_whitelist", "format_whitelist"}
    assert SAFE_INPUT_OPTIONS["protocol_whitelist"] == "file"
    assert SAFE_INPUT_OPTIONS["format_whitelist"].split(",") == list(ACCEPTED_FORMATS)


@pytest.mark.parametrize(("head", "what"), [
    (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n", "HLS/M3U playlist"),
    (b"\xef\xbb\xbf  \r\n#extm3u\nhttp://169.254.169.254/latest/meta-data/\n", "HLS/M3U playlist"),
    (b"ffconcat version 1.0\nfile /etc/passwd\n", "ffconcat list"),
    (b"<?xml version='1.0'?><MPD>", "XML document"),
    (b"<MPD xmlns='urn:mpeg:dash:schema:mpd:2011'>", "DASH manifest"),
    (b"<smil><body>", "SMIL playlist"),
    (b"<ASX version='3.0'>", "ASX playlist"),
    (b"[playlist]\nFile1=http://example.com/a.mp4\n", "PLS playlist"),
    (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n", "SDP session description"),
])
def test_text_that_names_other_files_is_recognised(head, what):
    found = referencing_text(head)
    assert found is not None and what in found


@pytest.mark.parametrize("head", [
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",  # mp4
    b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",  # matroska
    b"\x47\x40\x11\x10\x00\x42\xf0\x25",  # mpeg-ts
    b"These are meeting notes, not a video.\n",
    b"",
    b"#EXTINF without the header\n",
])
def test_media_and_other_text_are_not_taken_for_playlists(head):
    assert referencing_text(head) is None


LIMITS = SourceLimits(max_width=1920, max_height=1080, max_duration=600, max_streams=4)


def facts(**overrides):
    return {"width": 1920, "height": 1080, "duration": 600.0, "streams": 4} | overrides


def test_a_source_at_every_bound_is_within_them():
    assert limit_violations(LIMITS, **facts()) == []


@pytest.mark.parametrize(("overrides", "words"), [
    ({"width": 1921}, "its picture is 1921x1080, larger than 1920x1080"),
    ({"height": 1081}, "its picture is 1920x1081, larger than 1920x1080"),
    ({"duration": 600.4}, "it lasts 600.4 s, longer than 600 s"),
    ({"streams": 5}, "it has 5 streams, more than 4"),
])
def test_each_bound_says_what_is_beyond_it(overrides, words):
    assert limit_violations(LIMITS, **facts(**overrides)) == [words]


def test_every_violation_is_named():
    found = limit_violations(LIMITS, **facts(width=8000, height=8000, duration=1e6,
                                             streams=100))
    assert len(found) == 3


def test_the_settings_bound_the_source(monkeypatch):
    """MEDIA_SOURCE_MAX_* and MEDIA_PROBE_MAX_SECONDS make the probe's limits; the defaults
    take a DCI 4K picture and a portrait 2160x3840 one, not 8K."""
    defaults = MediaJobsSettings().source_limits
    assert limit_violations(defaults, **facts(width=4096, height=2160, duration=3600.0)) == []
    assert limit_violations(defaults, **facts(width=2160, height=3840, duration=3600.0)) == []
    assert limit_violations(defaults, **facts(width=7680, height=4320)) != []
    monkeypatch.setenv("MEDIA_SOURCE_MAX_WIDTH", "1280")
    monkeypatch.setenv("MEDIA_SOURCE_MAX_HEIGHT", "720")
    monkeypatch.setenv("MEDIA_SOURCE_MAX_DURATION_SECONDS", "30")
    monkeypatch.setenv("MEDIA_SOURCE_MAX_STREAMS", "3")
    monkeypatch.setenv("MEDIA_PROBE_MAX_SECONDS", "5")
    assert MediaJobsSettings().source_limits == SourceLimits(
        max_width=1280, max_height=720, max_duration=30, max_streams=3, max_probe_seconds=5)


def test_the_encode_time_limit_grows_with_the_source():
    assert EncodeSettings().time_limit(60.0) is None
    settings = EncodeSettings(time_limit_factor=20, time_limit_base=300)
    assert settings.time_limit(0.0) == 300
    assert settings.time_limit(60.0) == 300 + 20 * 60
    assert MediaJobsSettings().encode_settings.time_limit(10.0) == 300 + 20 * 10


def command(**overrides):
    kwargs = dict(has_audio=True, duration=60.0, frame_rate=30.0, frame_capture=False)
    return build_command(Path("/in/src.mov"), Path("/out"), choose_rungs(1280, 720),
                         **(kwargs | overrides))


def test_ffmpeg_reads_the_local_file_in_the_probed_format_only():
    """Before `-i`: the file protocol, the allow-list, and the probe's format forced."""
    cmd = command(input_format="mov,mp4,m4a,3gp,3g2,mj2")
    before_input = cmd[:cmd.index("-i")]
    assert before_input[before_input.index("-protocol_whitelist") + 1] == "file"
    assert before_input[before_input.index("-format_whitelist") + 1] == ",".join(
        ACCEPTED_FORMATS)
    assert before_input[before_input.index("-f") + 1] == "mov"
    assert cmd[cmd.index("-i") + 1] == "/in/src.mov"


def test_without_a_probed_format_ffmpeg_still_detects_within_the_allow_list():
    cmd = command()
    before_input = cmd[:cmd.index("-i")]
    assert "-f" not in before_input and "-format_whitelist" in before_input


def test_ffmpeg_is_never_told_to_read_a_refused_format():
    with pytest.raises(ValueError, match="not accepted"):
        command(input_format="hls")
