"""Encode a source into the whole ladder with ONE ffmpeg process that decodes it once.

The filter graph splits the decoded picture into one scaled branch per rung (plus thumbnail and
poster branches); every rung is encoded by libx264 (High profile, 8-bit 4:2:0, closed GOP, an IDR
every 2 s, capped VBR) and muxed by ffmpeg's dash muxer into 6 s CMAF (fMP4) segments that
serve both HLS and DASH.

Output layout (local directory == the S3 layout under `{guid}/`)::

    cmaf/         init-streamN.m4s, chunk-streamN-00001.m4s ...  (the only media bytes)
    hls/          master.m3u8, media_N.m3u8  -> segments as ../cmaf/...
    dash/         manifest.mpd               -> segments as ../cmaf/...
    thumbnails/   thumb-00001.jpg (t=0 s), thumb-00002.jpg (t=5 s) ..., poster.jpg

Segments live once, in `cmaf/`, because HLS and DASH share them; both manifests use relative
URLs so the tree plays from any base URL (CloudFront, S3 website, a local file server).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import m3u8
from pydantic import BaseModel, ConfigDict

from services.media_jobs.ladder import LadderRung
from services.media_jobs.manifests import (
    Bitrates,
    VariantFacts,
    measure_bitrates,
    parse_media_playlist,
    parse_mpd,
    read_fragment,
    rewrite_master_playlist,
    rewrite_media_playlist,
    rewrite_mpd,
)
from services.media_jobs.probe import SAFE_INPUT_OPTIONS, MediaError, forced_format

CMAF_DIR = "cmaf"
HLS_DIR = "hls"
DASH_DIR = "dash"
THUMBNAILS_DIR = "thumbnails"
HLS_MASTER = f"{HLS_DIR}/master.m3u8"
DASH_MANIFEST = f"{DASH_DIR}/manifest.mpd"
POSTER = f"{THUMBNAILS_DIR}/poster.jpg"
# veryfast: a full 1080p ladder (HLS + DASH + thumbnails) runs at 1.1-1.25x real time on a
# 2-vCPU box, 0.6-0.7x when other work shares it (bench/bench_media.py); slower presets trade
# much more CPU for bitrate efficiency.
DEFAULT_PRESET = "veryfast"
# A stopped encode (cancelled: drain, lease lost) gets this long to exit on SIGTERM.
STOP_GRACE_SECONDS = 3.0

ProgressCallback = Callable[[float], Awaitable[None] | None]

_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}

# CPU per pixel of decoding the source and of the cascaded scaling (per pixel of the largest
# rung), relative to encoding a pixel with x264 veryfast; measured on the benchmark's 60 s
# 1080p30 source: decoding 7.6-8.0 CPU s single-threaded, scaling to the five rungs about 6,
# the 1080p rung's x264 about 45. Slower presets only make the encoders' share bigger.
_DECODE_COST = 0.2
_SCALE_COST = 0.15

# ffmpeg 9's mjpeg `-q:v` against libjpeg (IJG) quality, measured by fitting the DQT tables
# it writes to IJG's scaled tables: 2->94 3->91 4->88 5->85 6->82 7->79 8->75.
_QSCALE_TO_IJG_QUALITY = {2: 94, 3: 91, 4: 88, 5: 85, 6: 82, 7: 79, 8: 75}


class EncodeError(MediaError):
    """ffmpeg failed to encode the source."""


@dataclass(frozen=True)
class EncodeSettings:
    """Encoder knobs that are settings, not per-job options."""

    preset: str = DEFAULT_PRESET
    segment_seconds: int = 6
    idr_seconds: int = 2
    thumbnail_seconds: int = 5
    thumbnail_quality: int = 80
    poster_position: float = 0.1
    """Poster frame position as a fraction of the duration (skips black lead-ins)."""
    audio_bitrate: int = 128_000
    audio_sample_rate: int = 48_000
    cascade_scaling: bool = False
    """Scale each rung from the next larger rung's picture instead of the full-size source:
    about half the scaling work. The pictures differ from direct scaling by under 0.2% SSIM
    (PSNR > 50 dB on the benchmark's source), far below what the encoder itself takes away."""
    encoder_threads: int | None = None
    """libx264 threads per rung. None: sized by `thread_plan` (decoder and filter graph too);
    0: every codec's own default, nothing set (x264: 1.5x the CPUs per rung); N: N per rung."""
    cpus: int | None = None
    """CPUs the encode may use; None: all this process may run on."""
    time_limit_factor: float | None = None
    """ffmpeg is stopped (and the encode fails) after ``time_limit_base`` seconds plus this
    many times the source's duration; None: no limit."""
    time_limit_base: float = 300.0

    def time_limit(self, duration: float) -> float | None:
        """Seconds an encode of a ``duration`` seconds source may take (None: unbounded)."""
        if self.time_limit_factor is None:
            return None
        return self.time_limit_base + self.time_limit_factor * max(0.0, duration)


@dataclass(frozen=True)
class ThreadPlan:
    """Threads for each CPU-heavy stage of the single-decode ffmpeg."""

    decoder: int
    filters: int
    encoders: tuple[int, ...]
    """One per rung, in the rungs' order."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers' cpusets narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_plan(rungs: Sequence[LadderRung], cpus: int) -> ThreadPlan:
    """One thread per half CPU of each stage's estimated share of the work, at least one.

    ffmpeg already runs the decoder, the filter graph and every encoder in a thread of its own,
    so five or six encoders keep a small machine's CPUs busy without threading inside them.
    The codecs' defaults add it anyway (x264: 1.5x the CPUs each, 15 frame threads plus
    lookaheads for five rungs on 2 CPUs; the h264 decoder: frame threads): more frames in
    flight (a fifth of the peak memory: 530 against 650 MiB for the benchmark's 1080p ladder)
    and a little more CPU for hand-offs (2% more instructions counted under valgrind; in CPU
    seconds the difference is within the noise of a shared machine), for no gain while every
    CPU is busy anyway. One thread is too few for a stage that needs most of a CPU, though:
    the scheduler shares a CPU evenly between runnable threads, so that stage waits its turn
    and the rest of the pipeline waits for it (measured: the 1080p rung, ~45% of the work, with
    one thread kept 2 CPUs ~1.8 busy, with two ~1.95). Hence a thread per half CPU of work:
    on 2 CPUs the 1080p rung of a 1080p ladder gets 2, a 2160p rung of a 4K ladder 3, every
    other stage 1; on 8 CPUs the 1080p rung gets 8, 720p 4, 540p 2.

    The decoder's work is taken at the largest rung's size: the source is at least that big,
    and decoding is a small share either way.
    """
    pixels = [rung.width * rung.height for rung in rungs]
    largest = max(pixels, default=0)
    decode, scale = largest * _DECODE_COST, largest * _SCALE_COST
    total = sum(pixels) + decode + scale

    def threads(work: float) -> int:
        # The epsilon keeps an exact fit (a quarter of 2 CPUs) from rounding up on float noise.
        return max(1, math.ceil(2 * cpus * work / total - 1e-9)) if total else 1

    return ThreadPlan(
        decoder=threads(decode),
        filters=threads(scale),
        encoders=tuple(threads(p) for p in pixels),
    )


def thread_args(
    rungs: Sequence[LadderRung], settings: EncodeSettings
) -> tuple[list[str], list[str]]:
    """(options before `-i`, options for the encoders) setting the threads `settings` ask for.

    The first list holds the decoder's and the filter graph's threads, the second each rung's
    `-threads:v:N`. `encoder_threads=0` sets nothing: ffmpeg's and the codecs' defaults.
    """
    if settings.encoder_threads == 0:
        return [], []
    plan = thread_plan(rungs, settings.cpus or available_cpus())
    encoders = ([settings.encoder_threads] * len(rungs) if settings.encoder_threads
                else list(plan.encoders))
    before_input = ["-filter_complex_threads", str(plan.filters), "-threads:v", str(plan.decoder)]
    per_rung = [arg for i, n in enumerate(encoders) for arg in (f"-threads:v:{i}", str(n))]
    return before_input, per_rung


class Rendition(BaseModel):
    """One encoded video rendition as the manifests advertise it."""

    model_config = ConfigDict(frozen=True)

    name: str
    width: int
    height: int
    bandwidth: int
    """Measured peak bits/s including audio, as in the HLS BANDWIDTH attribute."""
    average_bandwidth: int
    codecs: str
    frame_rate: float
    playlist: str
    representation_id: str


class EncodeResult(BaseModel):
    """Everything written to `out_dir`, relative to it."""

    hls_master: str = HLS_MASTER
    dash_manifest: str = DASH_MANIFEST
    renditions: list[Rendition]
    audio_bandwidth: int | None
    thumbnails: list[str]
    poster: str | None
    files: list[str]
    elapsed_seconds: float
    speed: float
    """Seconds of media encoded per second of wall time."""
    peak_rss_bytes: int | None
    """Peak resident memory of the ffmpeg process (Linux), None when unknown."""


@functools.cache
def ffmpeg_path() -> str:
    """The static ffmpeg binary shipped in the imageio-ffmpeg wheel."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def jpeg_qscale(quality: int) -> int:
    """The ffmpeg mjpeg `-q:v` closest to a libjpeg-style quality (0-100)."""
    if quality <= min(_QSCALE_TO_IJG_QUALITY.values()):
        # Beyond the measured range each qscale step costs about 3.2 quality points.
        return min(31, 8 + round((75 - quality) / 3.2))
    return min(_QSCALE_TO_IJG_QUALITY, key=lambda q: abs(_QSCALE_TO_IJG_QUALITY[q] - quality))


def x264_rung_args(
    rung: LadderRung, index: int, *, frame_rate: float, idr_seconds: int
) -> list[str]:
    """libx264 options for output video stream `index` encoding `rung`."""
    keyint = max(1, round(frame_rate * idr_seconds)) if frame_rate > 0 else 250
    return [
        f"-c:v:{index}", "libx264",
        f"-profile:v:{index}", "high",
        f"-b:v:{index}", str(rung.video_bitrate),
        f"-maxrate:v:{index}", str(rung.max_bitrate),
        f"-bufsize:v:{index}", str(rung.buffer_size),
        f"-g:v:{index}", str(keyint),
        f"-keyint_min:v:{index}", str(keyint),
        f"-sc_threshold:v:{index}", "0",
        f"-force_key_frames:v:{index}", f"expr:gte(t,n_forced*{idr_seconds})",
        f"-flags:v:{index}", "+cgop",
        f"-x264-params:v:{index}", "open-gop=0",
    ]  # fmt: skip


def scale_filter(rung: LadderRung) -> str:
    """Scale to the rung with its pixel aspect, as 8-bit 4:2:0 (10-bit, 4:4:4 sources too)."""
    num, den = (int(x) for x in rung.sample_aspect_ratio.split(":"))
    # setsar approximates with terms <= max (default 100): keep the ratio exact.
    sar = f"setsar=r={num}/{den}:max={max(num, den, 1)}"
    return f"scale={rung.width}:{rung.height}:flags=bicubic,{sar},format=yuv420p"


def rung_graph(
    rungs: Sequence[LadderRung], *, head: str = "", extra_branches: int = 0,
    cascade: bool = False,
) -> list[str]:
    """Filter chains from the decoded source `[0:v:0]` (through `head`) to one `[v{i}]` per
    rung, plus `[s{n}]`... full-size branches for the thumbnails and poster.

    Direct: every rung scaled from the source. Cascade: the largest rung from the source, each
    smaller one from the next larger rung's scaled picture.
    """
    n = len(rungs)
    extras = "".join(f"[s{n + k}]" for k in range(extra_branches))
    if not cascade:
        graph = [f"[0:v:0]{head}split={n + extra_branches}"
                 + "".join(f"[s{i}]" for i in range(n)) + extras]
        return graph + [f"[s{i}]{scale_filter(r)}[v{i}]" for i, r in enumerate(rungs)]
    order = sorted(range(n), key=lambda i: rungs[i].width * rungs[i].height, reverse=True)
    graph = [f"[0:v:0]{head}split={1 + extra_branches}[c0]{extras}"]
    for step, i in enumerate(order):
        last = step == n - 1
        tail = f"[v{i}]" if last else f",split=2[v{i}][c{step + 1}]"
        graph.append(f"[c{step}]{scale_filter(rungs[i])}{tail}")
    return graph


def input_args(source: Path, *, input_rotate: int | None,
               input_format: str | None = None) -> list[str]:
    """Input options: local files only, an accepted container format only (``input_format``,
    the format the probe found, is forced so ffmpeg cannot detect another); a rotation
    override replaces the file's display matrix."""
    args = [arg for name, value in SAFE_INPUT_OPTIONS.items() for arg in (f"-{name}", value)]
    if input_format is not None:
        args += ["-f", forced_format(input_format)]
    if input_rotate is not None:
        # -display_rotation is counter-clockwise; ours is clockwise like the phones' tag.
        args += ["-display_rotation", str((-input_rotate) % 360)]
    return [*args, "-i", str(source.absolute())]


def build_command(
    source: Path,
    out_dir: Path,
    rungs: Sequence[LadderRung],
    *,
    has_audio: bool,
    duration: float,
    frame_rate: float,
    frame_capture: bool,
    input_rotate: int | None = None,
    input_format: str | None = None,
    deinterlace: bool = False,
    settings: EncodeSettings = EncodeSettings(),
) -> list[str]:
    """The single-decode ffmpeg command line writing CMAF + HLS + DASH (+ thumbnails)."""
    if not rungs:
        raise ValueError("no rungs to encode")
    head = "bwdif=mode=send_frame," if deinterlace else ""
    graph = rung_graph(rungs, head=head, extra_branches=2 if frame_capture else 0,
                       cascade=settings.cascade_scaling)
    if frame_capture:
        poster_at = max(0.0, duration * settings.poster_position)
        # select, not fps=1/N: fps emits nothing for clips shorter than N/2 seconds.
        every = settings.thumbnail_seconds
        graph.append(
            f"[s{len(rungs)}]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{every})',"
            "scale=out_range=full[thumbs]"
        )
        graph.append(
            f"[s{len(rungs) + 1}]trim=start={poster_at:.3f},setpts=PTS-STARTPTS,"
            "trim=end_frame=1,scale=out_range=full[poster]"
        )
    before_input, encoder_threads = thread_args(rungs, settings)
    cmd = [
        ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "warning",
        "-nostats", "-progress", "pipe:1", *before_input,
        *input_args(source, input_rotate=input_rotate, input_format=input_format),
        "-filter_complex", ";".join(graph),
        "-map_metadata", "-1", "-map_chapters", "-1",
    ]  # fmt: skip
    cmd += [arg for i in range(len(rungs)) for arg in ("-map", f"[v{i}]")]
    if has_audio:
        cmd += ["-map", "0:a:0"]
    cmd += ["-preset:v", settings.preset]
    for i, rung in enumerate(rungs):
        cmd += x264_rung_args(rung, i, frame_rate=frame_rate, idr_seconds=settings.idr_seconds)
    cmd += encoder_threads
    if has_audio:
        cmd += [
            "-c:a", "aac", "-b:a", str(settings.audio_bitrate),
            "-ac", "2", "-ar", str(settings.audio_sample_rate),
        ]  # fmt: skip
    sets = "id=0,streams=v id=1,streams=a" if has_audio else "id=0,streams=v"
    cmd += [
        "-f", "dash", "-seg_duration", str(settings.segment_seconds),
        "-use_template", "1", "-use_timeline", "1", "-hls_playlist", "1",
        "-adaptation_sets", sets,
        "-init_seg_name", "init-stream$RepresentationID$.$ext$",
        "-media_seg_name", "chunk-stream$RepresentationID$-$Number%05d$.$ext$",
        str(out_dir / CMAF_DIR / "manifest.mpd"),
    ]  # fmt: skip
    if frame_capture:
        qscale = str(jpeg_qscale(settings.thumbnail_quality))
        cmd += [
            "-map", "[thumbs]", "-c:v", "mjpeg", "-q:v", qscale, "-fps_mode", "passthrough",
            "-f", "image2",
            str(out_dir / THUMBNAILS_DIR / "thumb-%05d.jpg"),
            "-map", "[poster]", "-c:v", "mjpeg", "-q:v", qscale, "-frames:v", "1",
            "-update", "1", str(out_dir / POSTER),
        ]  # fmt: skip
    return cmd


async def encode(
    source_path: str | Path,
    out_dir: str | Path,
    rungs: Sequence[LadderRung],
    *,
    has_audio: bool,
    duration: float,
    frame_capture: bool,
    on_progress: ProgressCallback | None = None,
    frame_rate: float = 0.0,
    input_rotate: int | None = None,
    input_format: str | None = None,
    deinterlace: bool = False,
    settings: EncodeSettings = EncodeSettings(),
) -> EncodeResult:
    """Encode `source_path` into `out_dir` (empty or missing) and post-process the manifests.

    `on_progress` receives a percentage (0-100, non-decreasing; sync or async callable).
    `input_rotate` (clockwise degrees) overrides the file's display rotation; `input_format`
    (the probe's `MediaInfo.container`) is forced on ffmpeg. Cancelling the task stops ffmpeg
    (SIGTERM, then SIGKILL after `STOP_GRACE_SECONDS`) before it returns; running past
    `settings.time_limit` stops it too, and fails the encode.
    """
    out = Path(out_dir)
    _prepare_out_dir(out, frame_capture=frame_capture)
    cmd = build_command(
        Path(source_path), out, rungs, has_audio=has_audio, duration=duration,
        frame_rate=frame_rate, frame_capture=frame_capture, input_rotate=input_rotate,
        input_format=input_format, deinterlace=deinterlace, settings=settings,
    )  # fmt: skip
    limit = settings.time_limit(duration)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_tail: deque[str] = deque(maxlen=30)
    drain = asyncio.create_task(_collect_lines(proc.stderr, stderr_tail))
    peak_rss: int | None = None
    reported = 0.0
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            async for out_time in _progress_reports(proc.stdout):
                peak_rss = _max(peak_rss, _peak_rss(proc.pid))
                percent = min(99.0, 100.0 * out_time / duration) if duration > 0 else 0.0
                if on_progress is not None and percent >= reported:
                    reported = percent
                    await _call(on_progress, round(percent, 1))
            returncode = await proc.wait()
            await drain
    except BaseException as exc:
        await _stop(proc)
        drain.cancel()
        if isinstance(exc, TimeoutError) and deadline.expired():
            raise EncodeError(f"ffmpeg ran longer than the limit of {limit:g} s for a "
                              f"{duration:.1f} s source and was stopped") from exc
        raise
    if returncode != 0:
        detail = " | ".join(line for line in stderr_tail if line.strip()) or "no output"
        raise EncodeError(f"ffmpeg exited with code {returncode}: {detail}")
    renditions, audio_bandwidth = await asyncio.to_thread(
        finalize_outputs, out, rungs, has_audio=has_audio, frame_rate=frame_rate
    )
    elapsed = time.monotonic() - started
    if on_progress is not None:
        await _call(on_progress, 100.0)
    files = await asyncio.to_thread(_list_files, out)
    return EncodeResult(
        renditions=renditions,
        audio_bandwidth=audio_bandwidth,
        thumbnails=[f for f in files if f.startswith(f"{THUMBNAILS_DIR}/thumb-")],
        poster=POSTER if POSTER in files else None,
        files=files,
        elapsed_seconds=round(elapsed, 3),
        speed=round(duration / elapsed, 3) if elapsed > 0 else 0.0,
        peak_rss_bytes=peak_rss,
    )


async def _stop(proc: asyncio.subprocess.Process, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop ffmpeg: SIGTERM (it closes its files), then SIGKILL if it is still there after
    ``grace`` seconds; returns once it has exited."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def encode_sync(*args: Any, **kwargs: Any) -> EncodeResult:
    """`encode` for synchronous callers (scripts, tests, the benchmark); same arguments."""
    return asyncio.run(encode(*args, **kwargs))


def content_type(path: str) -> str:
    """The Content-Type to store an output file with (S3 serves it back as such)."""
    return _CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def finalize_outputs(
    out_dir: Path, rungs: Sequence[LadderRung], *, has_audio: bool, frame_rate: float = 0.0
) -> tuple[list[Rendition], int | None]:
    """Rewrite ffmpeg's manifests from `cmaf/` into `hls/` and `dash/` with measured values."""
    cmaf = out_dir / CMAF_DIR
    master = m3u8.loads((cmaf / "master.m3u8").read_text())
    variant_uris = [p.uri for p in master.playlists]
    audio_uris = [m.uri for m in master.media if (m.type or "").upper() == "AUDIO" and m.uri]
    if len(variant_uris) != len(rungs):
        raise EncodeError(f"ffmpeg wrote {len(variant_uris)} variants for {len(rungs)} rungs")
    if has_audio != bool(audio_uris):
        raise EncodeError("audio rendition missing" if has_audio else "unexpected audio")

    bitrates: dict[str, Bitrates] = {}
    inits: dict[str, str] = {}
    for uri in variant_uris + audio_uris:
        text = (cmaf / uri).read_text()
        playlist = parse_media_playlist(text)
        sizes = [(s.duration, (cmaf / s.uri).stat().st_size) for s in playlist.segments]
        bitrates[uri] = measure_bitrates(sizes)
        inits[uri] = playlist.init_uri or ""
        rewritten = rewrite_media_playlist(text, uri_prefix=f"../{CMAF_DIR}/")
        (out_dir / HLS_DIR / uri).write_text(rewritten)

    audio = bitrates[audio_uris[0]] if audio_uris else None
    facts: dict[str, VariantFacts] = {}
    renditions: list[Rendition] = []
    mpd_text = (cmaf / "manifest.mpd").read_text()
    _, representations = parse_mpd(mpd_text)
    rep_by_init = {r.init_uri: r.id for r in representations}
    for uri, rung in zip(variant_uris, rungs, strict=True):
        first = parse_media_playlist((cmaf / uri).read_text()).segments[0].uri
        info = read_fragment((cmaf / inits[uri]).read_bytes(), (cmaf / first).read_bytes())
        if (info.width, info.height) != (rung.width, rung.height):
            raise EncodeError(f"{uri} is {info.width}x{info.height}, expected {rung.name}")
        facts[uri] = VariantFacts(
            bitrates=bitrates[uri],
            codecs=info.codecs,
            width=info.width,
            height=info.height,
            frame_rate=info.frame_rate or frame_rate,
        )
        total = bitrates[uri] + audio if audio else bitrates[uri]
        renditions.append(
            Rendition(
                name=rung.name,
                width=info.width,
                height=info.height,
                bandwidth=total.peak,
                average_bandwidth=total.average,
                codecs=info.codecs,
                frame_rate=round(facts[uri].frame_rate, 3),
                playlist=f"{HLS_DIR}/{uri}",
                representation_id=rep_by_init.get(inits[uri], ""),
            )
        )
    (out_dir / HLS_MASTER).write_text(
        rewrite_master_playlist((cmaf / "master.m3u8").read_text(), facts, audio=audio)
    )
    bandwidths = {
        rep_by_init[inits[uri]]: bitrates[uri].peak for uri in bitrates if inits[uri] in rep_by_init
    }
    (out_dir / DASH_MANIFEST).write_text(
        rewrite_mpd(mpd_text, uri_prefix=f"../{CMAF_DIR}/", bandwidths=bandwidths)
    )
    for leftover in [*cmaf.glob("*.m3u8"), cmaf / "manifest.mpd"]:
        leftover.unlink(missing_ok=True)
    return renditions, (audio.peak if audio else None)


def _list_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def _prepare_out_dir(out: Path, *, frame_capture: bool) -> None:
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"output directory {out} is not empty")
    dirs = [CMAF_DIR, HLS_DIR, DASH_DIR] + ([THUMBNAILS_DIR] if frame_capture else [])
    for name in dirs:
        (out / name).mkdir(parents=True, exist_ok=True)


async def _progress_reports(stream: asyncio.StreamReader) -> AsyncIterator[float]:
    """Seconds of output written, once per `-progress` block."""
    out_time = 0.0
    while line := await stream.readline():
        key, _, value = line.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            out_time = max(out_time, int(value) / 1_000_000)
        elif key == "progress":
            yield out_time


async def _collect_lines(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    while line := await stream.readline():
        tail.append(line.decode(errors="replace").rstrip())


async def _call(callback: ProgressCallback, percent: float) -> None:
    result = callback(percent)
    if inspect.isawaitable(result):
        await result


def _peak_rss(pid: int) -> int | None:
    """VmHWM (peak RSS) of a live process from /proc; None off Linux or once it exited."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
