"""The media pipeline on real generated clips, local files only: probe -> profile -> encode ->
validate, plus independent re-checks of the outputs with m3u8, mpegdash and PyAV."""

from __future__ import annotations

import asyncio
import io
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import m3u8
import pytest
from av.video.frame import PictureType
from mpegdash.parser import MPEGDASHParser

from services.media_jobs import checks
from services.media_jobs.checks import LocalOutputs, validate_local, validate_outputs
from services.media_jobs.encode import EncodeError, EncodeResult, encode, encode_sync, ffmpeg_path
from services.media_jobs.ladder import LadderRung, choose_rungs
from services.media_jobs.options import VIDEO_EXTENSIONS
from services.media_jobs.probe import (
    MediaError,
    MediaInfo,
    NotMediaError,
    NoVideoStreamError,
    UnreadableMediaError,
    ZeroDurationError,
    probe,
)
from tests.support.media_clips import (
    CONTAINER_SAMPLES,
    INTERLACED,
    LANDSCAPE,
    NO_AUDIO,
    ODD_SIZE,
    PORTRAIT,
    ROTATED_PHONE,
    STANDARD_CLIPS,
    TEN_BIT,
    TINY,
    ClipSpec,
    make_audio_only,
    make_clip,
    make_container_sample,
    make_not_video,
    make_truncated,
    make_zero_duration,
)

LANDSCAPE_RUNGS = [(640, 360), (480, 270)]
PORTRAIT_RUNGS = [(360, 640), (270, 480)]
EXPECTED_RUNGS = {
    LANDSCAPE.name: LANDSCAPE_RUNGS,
    PORTRAIT.name: PORTRAIT_RUNGS,
    NO_AUDIO.name: LANDSCAPE_RUNGS,
    ODD_SIZE.name: [(638, 360), (480, 270)],
    TEN_BIT.name: LANDSCAPE_RUNGS,
    ROTATED_PHONE.name: PORTRAIT_RUNGS,
    INTERLACED.name: LANDSCAPE_RUNGS,
    TINY.name: [(320, 240)],
}
CLIP_IDS = [spec.name for spec in STANDARD_CLIPS]


@dataclass
class Encoded:
    """A clip run through probe, profile and encode."""

    spec: ClipSpec
    info: MediaInfo
    rungs: list[LadderRung]
    result: EncodeResult
    out: Path


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def encoded(clip_dir, tmp_path_factory):
    """Encode each clip once per module, on first use."""
    cache: dict[str, Encoded] = {}

    def get(spec: ClipSpec) -> Encoded:
        if spec.name not in cache:
            source = make_clip(spec, clip_dir)
            info = probe(source)
            video = info.video
            rungs = choose_rungs(video.display_width, video.display_height, rotation=video.rotation)
            out = tmp_path_factory.mktemp(f"out-{spec.name}") / "job"
            result = encode_sync(
                source, out, rungs, has_audio=info.has_audio, duration=info.duration,
                frame_capture=True, frame_rate=video.frame_rate,
                deinterlace=video.scan_type == "interlaced",
            )  # fmt: skip
            cache[spec.name] = Encoded(spec, info, rungs, result, out)
        return cache[spec.name]

    return get


@pytest.fixture(params=STANDARD_CLIPS, ids=CLIP_IDS)
def job(request, encoded) -> Encoded:
    return encoded(request.param)


# --- probe ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "size", "rotation", "upright", "bit_depth", "scan", "audio"),
    [
        (LANDSCAPE, (640, 360), 0, (640, 360), 8, "progressive", True),
        (PORTRAIT, (360, 640), 0, (360, 640), 8, "progressive", True),
        (NO_AUDIO, (640, 360), 0, (640, 360), 8, "progressive", False),
        (ODD_SIZE, (639, 360), 0, (639, 360), 8, "progressive", True),
        (TEN_BIT, (640, 360), 0, (640, 360), 10, "progressive", True),
        (ROTATED_PHONE, (640, 360), 90, (360, 640), 8, "progressive", True),
        (INTERLACED, (640, 360), 0, (640, 360), 8, "interlaced", False),
        (TINY, (320, 240), 0, (320, 240), 8, "progressive", True),
    ],
    ids=CLIP_IDS,
)
def test_probe_reads_each_clip(clip_dir, spec, size, rotation, upright, bit_depth, scan, audio):
    """PyAV probing reports size, rotation, bit depth, scan type, audio and duration."""
    info = probe(make_clip(spec, clip_dir))
    video = info.video
    assert (video.width, video.height) == size
    assert video.rotation == rotation
    assert video.upright_size == upright
    assert video.bit_depth == bit_depth
    assert video.scan_type == scan
    assert video.codec == "h264"
    assert video.frame_rate == 30.0
    assert info.has_audio is audio
    assert info.duration == pytest.approx(spec.seconds, abs=0.05)
    assert info.bit_rate and info.bit_rate > 0
    if audio:
        assert (info.audio[0].codec, info.audio[0].channels, info.audio[0].sample_rate) == (
            "aac",
            1,
            44100,
        )


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (make_not_video, NotMediaError),
        (make_truncated, UnreadableMediaError),
        (lambda d: make_truncated(d, faststart=True), UnreadableMediaError),
        (make_audio_only, NoVideoStreamError),
        (make_zero_duration, ZeroDurationError),
    ],
    ids=["not-video", "truncated-no-moov", "truncated-faststart", "audio-only", "zero-duration"],
)
def test_probe_errors_are_typed(clip_dir, make, error):
    """Each unusable input raises its own MediaError subclass, never a crash."""
    with pytest.raises(error) as raised:
        probe(make(clip_dir))
    assert isinstance(raised.value, MediaError)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("extension", sorted(CONTAINER_SAMPLES))
def test_every_allow_listed_container_probes_encodes_and_validates(clip_dir, tmp_path, extension):
    """Each container of the upload allow-list (with a typical codec pair) goes end to end,
    with ffmpeg held to the format the probe found, as the worker runs it."""
    assert extension in VIDEO_EXTENSIONS
    info = probe(make_container_sample(extension, clip_dir))
    assert (info.video.width, info.video.height, info.has_audio) == (320, 180, True)
    assert info.duration == pytest.approx(2.0, abs=0.15)
    rungs = choose_rungs(info.video.display_width, info.video.display_height)
    encode_sync(
        make_container_sample(extension, clip_dir), tmp_path, rungs, has_audio=True,
        duration=info.duration, frame_capture=False, frame_rate=info.video.frame_rate,
        input_format=info.container,
    )  # fmt: skip
    report = validate_local(tmp_path, source_duration=info.duration, expect_audio=True)
    assert report.ok, [str(f) for f in report.failures]


def test_container_samples_cover_the_allow_list():
    """No allow-listed extension goes untested."""
    assert set(CONTAINER_SAMPLES) == VIDEO_EXTENSIONS


# --- encode + output checks ----------------------------------------------------------------


def test_ladder_matches_the_clip(job):
    """Each clip gets the rungs its size and orientation deserve."""
    assert [(r.width, r.height) for r in job.rungs] == EXPECTED_RUNGS[job.spec.name]
    assert [(r.width, r.height) for r in job.result.renditions] == EXPECTED_RUNGS[job.spec.name]


def test_pipeline_output_passes_every_check(job):
    """The encoded tree passes every output check, and every check actually ran."""
    report = validate_local(
        job.out,
        source_duration=job.info.duration,
        expect_audio=job.info.has_audio,
        expect_thumbnails=True,
        expected_renditions=len(job.rungs),
    )
    assert report.ok, [str(f) for f in report.failures]
    assert report.checks >= {
        checks.MANIFEST_PARSE, checks.MISSING_FILE, checks.MASTER_ATTRIBUTES,
        checks.MEDIA_PLAYLIST, checks.RENDITION_DURATION, checks.SEGMENT_DURATION,
        checks.SEGMENT_IDR, checks.AVERAGE_BITRATE, checks.PEAK_BITRATE,
        checks.DASH_MATCHES_HLS, checks.RELATIVE_URLS, checks.THUMBNAILS, checks.AUDIO,
    }  # fmt: skip
    segments_per_rendition = math.ceil(job.info.duration / 6 - 0.01)
    assert report.segments_checked == segments_per_rendition * len(job.rungs)


def test_layout_is_the_s3_layout(job):
    """Segments once in cmaf/, manifests in hls/ and dash/, images in thumbnails/."""
    files = job.result.files
    assert {f.split("/")[0] for f in files} == {"cmaf", "hls", "dash", "thumbnails"}
    assert "hls/master.m3u8" in files and "dash/manifest.mpd" in files
    assert all(f.endswith(".m4s") for f in files if f.startswith("cmaf/"))
    assert sorted(p.relative_to(job.out).as_posix() for p in job.out.rglob("*.*")) == files


def test_master_playlist_independently(job):
    """Re-parsed with m3u8: every Apple attribute is there and describes the real renditions."""
    master = m3u8.load(str(job.out / "hls" / "master.m3u8"))
    assert master.is_independent_segments
    audio_groups = [m for m in master.media if m.type == "AUDIO"]
    assert len(audio_groups) == (1 if job.info.has_audio else 0)
    for variant, rung in zip(master.playlists, job.rungs, strict=True):
        info = variant.stream_info
        assert info.bandwidth >= info.average_bandwidth > 0
        assert info.resolution == (rung.width, rung.height)
        assert info.frame_rate == 30.0
        assert info.codecs.startswith("avc1.6400")
        assert ("mp4a.40.2" in info.codecs) is job.info.has_audio
        assert (info.audio == "audio") is job.info.has_audio
        media = m3u8.load(str(job.out / "hls" / variant.uri))
        assert media.playlist_type == "vod"
        assert media.segment_map[0].uri.startswith("../cmaf/")
        assert max(s.duration for s in media.segments) <= 6.5
        assert sum(s.duration for s in media.segments) == pytest.approx(job.info.duration, abs=0.5)


def test_every_video_segment_decodes_from_an_idr(job):
    """Decoded with PyAV: each segment opens on an I key frame; all frames are 8-bit High."""
    master = m3u8.load(str(job.out / "hls" / "master.m3u8"))
    for variant in master.playlists:
        media = m3u8.load(str(job.out / "hls" / variant.uri))
        init = (job.out / "hls" / media.segment_map[0].uri).read_bytes()
        frames = 0
        for segment in media.segments:
            data = init + (job.out / "hls" / segment.uri).read_bytes()
            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.video[0]
                assert stream.profile == "High"
                decoded = list(container.decode(stream))
            assert decoded[0].key_frame and decoded[0].pict_type == PictureType.I
            assert decoded[0].format.name == "yuv420p"
            assert decoded[0].rotation == 0  # rotation is baked in, not signalled
            frames += len(decoded)
        assert frames == pytest.approx(job.info.duration * 30, abs=2)


def test_audio_is_aac_stereo_48k(job):
    """Sources with audio get AAC-LC stereo 48 kHz; silent sources get no audio track."""
    audio_inits = [p for p in (job.out / "cmaf").glob("init-*.m4s") if _stream_type(p) == "audio"]
    if not job.info.has_audio:
        assert audio_inits == []
        return
    (init,) = audio_inits
    with av.open(str(init)) as container:
        ctx = container.streams.audio[0].codec_context
        assert (ctx.name, ctx.channels, ctx.sample_rate) == ("aac", 2, 48000)


def test_dash_manifest_independently(job):
    """Re-parsed with mpegdash: one video set with every rung, relative shared segments."""
    mpd = MPEGDASHParser.parse(str(job.out / "dash" / "manifest.mpd"))
    sets = mpd.periods[0].adaptation_sets
    assert [s.content_type for s in sets] == ["video", "audio"][: 1 + job.info.has_audio]
    video = sets[0].representations
    assert [(r.width, r.height) for r in video] == EXPECTED_RUNGS[job.spec.name]
    for rep in video:
        template = rep.segment_templates[0]
        assert template.media.startswith("../cmaf/")
        assert template.initialization.startswith("../cmaf/")


def test_thumbnails_every_five_seconds_and_a_poster(job):
    """One JPEG per started 5 s at the upright source size, plus the poster."""
    assert len(job.result.thumbnails) == math.ceil(job.info.duration / 5)
    assert job.result.poster == "thumbnails/poster.jpg"
    for name in [*job.result.thumbnails, job.result.poster]:
        with av.open(str(job.out / name)) as container:
            frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == job.info.video.upright_size


# --- encode behaviour ----------------------------------------------------------------------


async def test_progress_is_reported_up_to_100(clip_dir, tmp_path):
    """An async progress callback sees non-decreasing percentages ending at 100."""
    source = make_clip(LANDSCAPE, clip_dir)
    seen: list[float] = []

    async def on_progress(percent: float) -> None:
        seen.append(percent)

    result = await encode(
        source, tmp_path / "out", choose_rungs(640, 360)[1:], has_audio=True, duration=8.0,
        frame_capture=False, on_progress=on_progress, frame_rate=30.0,
    )  # fmt: skip
    assert seen == sorted(seen)
    assert seen[-1] == 100.0
    assert all(0 <= p <= 100 for p in seen)
    assert result.thumbnails == [] and result.poster is None
    assert result.peak_rss_bytes is None or result.peak_rss_bytes > 1_000_000


async def test_cancelling_the_encode_kills_ffmpeg(clip_dir, tmp_path):
    """Cancelling the task (worker shutdown) leaves no ffmpeg process behind."""
    source = make_clip(LANDSCAPE, clip_dir)
    task: asyncio.Task[EncodeResult] | None = None

    def cancel_on_first_report(percent: float) -> None:
        assert task is not None
        task.cancel()

    task = asyncio.create_task(
        encode(
            source, tmp_path / "out", choose_rungs(640, 360), has_audio=True, duration=8.0,
            frame_capture=True, on_progress=cancel_on_first_report, frame_rate=30.0,
        )
    )  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _ffmpeg_children() == []


def test_encode_failure_is_an_encode_error(clip_dir, tmp_path):
    """ffmpeg failing (here: not a video) raises EncodeError with ffmpeg's own words."""
    with pytest.raises(EncodeError, match="ffmpeg exited with code"):
        encode_sync(
            make_not_video(clip_dir), tmp_path / "out", choose_rungs(640, 360), has_audio=False,
            duration=1.0, frame_capture=False,
        )  # fmt: skip


def test_output_directory_must_be_empty(clip_dir, tmp_path):
    """Encoding over old outputs could mix stale segments in, so it is refused."""
    (tmp_path / "stale.txt").write_text("old")
    with pytest.raises(ValueError, match="not empty"):
        encode_sync(
            make_clip(TINY, clip_dir), tmp_path, choose_rungs(320, 240), has_audio=True,
            duration=2.0, frame_capture=False,
        )  # fmt: skip


def test_input_rotation_override_wins_over_the_file(clip_dir, tmp_path):
    """inputRotate=0 ignores the phone's display matrix: outputs stay landscape."""
    source = make_clip(ROTATED_PHONE, clip_dir)
    rungs = choose_rungs(640, 360, rotation=0)
    result = encode_sync(
        source, tmp_path / "out", rungs, has_audio=True, duration=3.0, frame_capture=True,
        frame_rate=30.0, input_rotate=0,
    )  # fmt: skip
    assert [(r.width, r.height) for r in result.renditions] == LANDSCAPE_RUNGS
    with av.open(str(tmp_path / "out" / "thumbnails" / "poster.jpg")) as container:
        assert next(container.decode(video=0)).width == 640


# --- the checks catch broken outputs -------------------------------------------------------


def _drop_segment(out: Path, source: Path) -> None:
    (out / "cmaf" / "chunk-stream1-00002.m4s").unlink()


def _inflate_average_bandwidth(out: Path, source: Path) -> None:
    master = out / "hls" / "master.m3u8"
    text = master.read_text()
    start = text.index("AVERAGE-BANDWIDTH=") + len("AVERAGE-BANDWIDTH=")
    end = text.index(",", start)
    master.write_text(text[:start] + str(int(text[start:end]) * 3 // 2) + text[end:])


def _drop_playlist_type(out: Path, source: Path) -> None:
    playlist = out / "hls" / "media_0.m3u8"
    playlist.write_text(playlist.read_text().replace("#EXT-X-PLAYLIST-TYPE:VOD\n", ""))


def _absolute_url(out: Path, source: Path) -> None:
    playlist = out / "hls" / "media_1.m3u8"
    playlist.write_text(playlist.read_text().replace("../cmaf/", "https://cdn.example/cmaf/"))


def _drop_dash_representation(out: Path, source: Path) -> None:
    mpd = out / "dash" / "manifest.mpd"
    text = mpd.read_text()
    start = text.index('<Representation id="1"')
    end = text.index("</Representation>", start) + len("</Representation>")
    mpd.write_text(text[:start] + text[end:])


def _open_gop_rendition(out: Path, source: Path) -> None:
    """Replace rendition 0 by an open-GOP encode: its 2nd segment opens on a non-IDR I frame."""
    work = out.parent / "open-gop"
    work.mkdir()
    subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-i", str(source), "-map", "0:v",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1500k", "-g", "60",
         "-keyint_min", "60", "-sc_threshold", "0", "-x264-params", "open-gop=1",
         "-f", "dash", "-seg_duration", "6", str(work / "manifest.mpd")],
        check=True,
    )  # fmt: skip
    for name in ("init-stream0.m4s", "chunk-stream0-00001.m4s", "chunk-stream0-00002.m4s"):
        shutil.copy(work / name, out / "cmaf" / name)


@pytest.mark.parametrize(
    ("breakage", "overrides", "failed_check"),
    [
        (_drop_segment, {}, checks.MISSING_FILE),
        (_inflate_average_bandwidth, {}, checks.AVERAGE_BITRATE),
        (_drop_playlist_type, {}, checks.MEDIA_PLAYLIST),
        (_absolute_url, {}, checks.RELATIVE_URLS),
        (_open_gop_rendition, {}, checks.SEGMENT_IDR),
        (_drop_dash_representation, {}, checks.DASH_MATCHES_HLS),
        (None, {"source_duration": 12.0}, checks.RENDITION_DURATION),
        (None, {"expect_audio": False}, checks.AUDIO),
        (None, {"segment_target": 4.0}, checks.SEGMENT_DURATION),
        (None, {"expected_renditions": 3}, checks.MASTER_ATTRIBUTES),
    ],
    ids=[
        "missing-segment", "average-bandwidth-lie", "no-playlist-type", "absolute-url",
        "open-gop", "dash-rung-missing", "wrong-duration", "unexpected-audio", "long-segments",
        "missing-rung",
    ],
)  # fmt: skip
def test_checks_name_what_is_broken(encoded, clip_dir, tmp_path, breakage, overrides, failed_check):
    """Each kind of broken output fails the check named after it, with a readable message."""
    good = encoded(LANDSCAPE)
    out = tmp_path / "job"
    shutil.copytree(good.out, out)
    if breakage is not None:
        breakage(out, make_clip(LANDSCAPE, clip_dir))
    kwargs = dict(source_duration=good.info.duration, expect_audio=True) | overrides
    report = validate_local(out, **kwargs)
    assert not report.ok
    assert failed_check in {f.check for f in report.failures}
    with pytest.raises(checks.CheckFailedError) as raised:
        report.raise_for_failures()
    assert raised.value.check == report.failures[0].check


class MemoryOutputs:
    """An S3-like store: a dict of key -> bytes under a prefix, with no filesystem."""

    def __init__(self, objects: dict[str, bytes], prefix: str) -> None:
        self.objects = objects
        self.prefix = prefix
        self.reads: list[str] = []

    async def size(self, path: str) -> int | None:
        data = self.objects.get(f"{self.prefix}/{path}")
        return None if data is None else len(data)

    async def read(self, path: str) -> bytes:
        self.reads.append(path)
        return self.objects[f"{self.prefix}/{path}"]


async def test_checks_run_through_an_injected_store(encoded):
    """The checks only use the store interface, so the worker can back them with S3."""
    good = encoded(NO_AUDIO)
    objects = {
        f"guid-1/{p.relative_to(good.out).as_posix()}": p.read_bytes()
        for p in good.out.rglob("*")
        if p.is_file()
    }
    store = MemoryOutputs(objects, "guid-1")
    report = await validate_outputs(store, source_duration=good.info.duration, expect_audio=False)
    assert report.ok, [str(f) for f in report.failures]
    assert "hls/master.m3u8" in store.reads
    local = await validate_outputs(
        LocalOutputs(good.out), source_duration=good.info.duration, expect_audio=False
    )
    assert local.checks == report.checks


def _stream_type(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.streams[0].type


def _ffmpeg_children() -> list[int]:
    """Live or zombie ffmpeg processes whose parent is this test process (Linux)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            ppid = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and "ffmpeg" in name:
            children.append(int(stat.parent.name))
    return children
