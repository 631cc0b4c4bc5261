"""The single-decode ffmpeg command line, checked without running it."""

from pathlib import Path

import pytest

from services.media_jobs.encode import build_command, content_type, jpeg_qscale
from services.media_jobs.ladder import choose_rungs

OUT = Path("/out")


def command(**overrides):
    kwargs = dict(has_audio=True, duration=60.0, frame_rate=29.97, frame_capture=True)
    return build_command(Path("/in/src.mov"), OUT, choose_rungs(1920, 1080), **(kwargs | overrides))


def value(cmd, option):
    return cmd[cmd.index(option) + 1]


def test_one_input_one_split_every_rung():
    """The source is opened once and its decoded picture split to every rung and thumbnails."""
    cmd = command()
    assert cmd.count("-i") == 1
    graph = value(cmd, "-filter_complex")
    assert graph.startswith("[0:v:0]split=7")
    for size in ("1920:1080", "1280:720", "960:540", "640:360", "480:270"):
        assert f"scale={size}" in graph
    assert graph.count("format=yuv420p") == 5


def test_closed_gop_with_an_idr_every_two_seconds():
    """Keyframes are forced every 2 s, GOP = 2 s of frames, no scene cuts, closed GOP."""
    cmd = command()
    assert value(cmd, "-g:v:0") == "60"
    assert value(cmd, "-keyint_min:v:4") == "60"
    assert value(cmd, "-sc_threshold:v:0") == "0"
    assert value(cmd, "-force_key_frames:v:0") == "expr:gte(t,n_forced*2)"
    assert value(cmd, "-flags:v:0") == "+cgop"
    assert value(cmd, "-profile:v:3") == "high"


def test_capped_vbr_per_rung():
    """Each rung gets its own average, peak and buffer."""
    cmd = command()
    assert (value(cmd, "-b:v:0"), value(cmd, "-maxrate:v:0"), value(cmd, "-bufsize:v:0")) == (
        "8500000",
        "9350000",
        "17000000",
    )
    assert value(cmd, "-b:v:4") == "400000"


def test_cmaf_for_hls_and_dash_in_six_second_segments():
    """One dash-muxer output writes 6 s fMP4 segments plus HLS playlists, audio in its own set."""
    cmd = command()
    assert cmd[cmd.index("dash") - 1] == "-f"
    assert value(cmd, "-seg_duration") == "6"
    assert value(cmd, "-hls_playlist") == "1"
    assert value(cmd, "-adaptation_sets") == "id=0,streams=v id=1,streams=a"
    assert (value(cmd, "-c:a"), value(cmd, "-b:a"), value(cmd, "-ac"), value(cmd, "-ar")) == (
        "aac",
        "128000",
        "2",
        "48000",
    )
    assert str(OUT / "cmaf" / "manifest.mpd") in cmd


def test_no_audio_source_maps_no_audio():
    """A silent source gets video-only renditions and a video-only adaptation set."""
    cmd = command(has_audio=False)
    assert "0:a:0" not in cmd and "-c:a" not in cmd
    assert value(cmd, "-adaptation_sets") == "id=0,streams=v"


def test_frame_capture_branches_and_off_switch():
    """Thumbnails every 5 s and a poster at 10% come from the same decode; off means none."""
    cmd = command()
    graph = value(cmd, "-filter_complex")
    assert "gte(t-prev_selected_t\\,5)" in graph
    assert "trim=start=6.000" in graph
    assert str(OUT / "thumbnails" / "thumb-%05d.jpg") in cmd
    assert value(cmd, "-q:v") == "7"
    off = command(frame_capture=False)
    assert "mjpeg" not in off
    assert value(off, "-filter_complex").startswith("[0:v:0]split=5")


def test_rotation_override_and_deinterlace():
    """A rotation override replaces the display matrix; interlaced sources are deinterlaced."""
    cmd = command(input_rotate=90, deinterlace=True)
    assert cmd.index("-display_rotation") < cmd.index("-i")
    assert value(cmd, "-display_rotation") == "270"  # ffmpeg's option is counter-clockwise
    assert value(cmd, "-filter_complex").startswith("[0:v:0]bwdif=mode=send_frame,split=")
    assert "-display_rotation" not in command()


def test_odd_aspect_rungs_carry_an_exact_pixel_aspect():
    """setsar keeps the exact ratio instead of ffmpeg's default approximation."""
    cmd = build_command(
        Path("/in/a.mp4"), OUT, choose_rungs(1918, 1080), has_audio=False, duration=1.0,
        frame_rate=25.0, frame_capture=False,
    )  # fmt: skip
    assert "setsar=r=1918/1917:max=1918" in value(cmd, "-filter_complex")


def test_empty_ladder_is_refused():
    """Encoding nothing is a programming error."""
    with pytest.raises(ValueError):
        build_command(Path("a"), OUT, [], has_audio=False, duration=1, frame_rate=1,
                      frame_capture=False)  # fmt: skip


@pytest.mark.parametrize(("quality", "qscale"), [(80, 7), (95, 2), (100, 2), (85, 5), (50, 16)])
def test_jpeg_quality_maps_to_mjpeg_qscale(quality, qscale):
    """The original's JPEG quality 80 maps to ffmpeg's -q:v 7 (measured ~IJG 79)."""
    assert jpeg_qscale(quality) == qscale


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("hls/master.m3u8", "application/vnd.apple.mpegurl"),
        ("dash/manifest.mpd", "application/dash+xml"),
        ("cmaf/chunk-stream0-00001.m4s", "video/iso.segment"),
        ("thumbnails/poster.JPG", "image/jpeg"),
        ("other.bin", "application/octet-stream"),
    ],
)
def test_content_types_for_upload(path, expected):
    """Each output is stored with the Content-Type players expect."""
    assert content_type(path) == expected
