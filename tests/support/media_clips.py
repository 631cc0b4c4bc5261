"""Generate small real test media with the wheel's ffmpeg (lavfi testsrc2 + sine).

Used by the media-jobs tests, the web end-to-end tests, the benchmark and the chaos run::

    clip = make_clip(LANDSCAPE, tmp_path)          # 640x360, 8 s, AAC audio
    bad = make_truncated(tmp_path)                  # an mp4 cut before its moov box
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.media_jobs.encode import ffmpeg_path


@dataclass(frozen=True)
class ClipSpec:
    """What to generate: a testsrc2 picture, optionally a sine tone, optionally rotated."""

    name: str
    width: int
    height: int
    seconds: float
    fps: int = 30
    audio: bool = True
    pix_fmt: str = "yuv420p"
    container: str = "mp4"
    rotation: int = 0
    """Clockwise display rotation written as a display matrix, like a phone's."""
    interlaced: bool = False
    preset: str = "ultrafast"
    crf: int = 23

    @property
    def filename(self) -> str:
        """File name of the generated clip."""
        return f"{self.name}.{self.container}"


# Eight seconds gives two 6 s segments, so segment-boundary checks have something to check.
LANDSCAPE = ClipSpec("landscape", 640, 360, 8.0)
PORTRAIT = ClipSpec("portrait", 360, 640, 4.0)
NO_AUDIO = ClipSpec("no-audio", 640, 360, 4.0, audio=False)
# 1918x1080's aspect at a third of the size, odd width; 4:4:4 because 4:2:0 needs even sizes.
ODD_SIZE = ClipSpec("odd-size", 639, 360, 3.0, pix_fmt="yuv444p", container="mkv")
TEN_BIT = ClipSpec("ten-bit", 640, 360, 3.0, pix_fmt="yuv420p10le", container="mkv")
ROTATED_PHONE = ClipSpec("rotated-phone", 640, 360, 3.0, rotation=90, container="mov")
INTERLACED = ClipSpec("interlaced", 640, 360, 2.0, audio=False, interlaced=True)
TINY = ClipSpec("tiny", 320, 240, 2.0)

STANDARD_CLIPS = (LANDSCAPE, PORTRAIT, NO_AUDIO, ODD_SIZE, TEN_BIT, ROTATED_PHONE, INTERLACED, TINY)


def make_clip(spec: ClipSpec, directory: str | Path) -> Path:
    """Write the clip `spec` describes into `directory` (reused if already there)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.filename
    if target.exists():
        return target
    encoded = directory / f".{spec.name}.encoding.{spec.container}"
    # testsrc2 rounds sizes to even: draw even, scale to the odd size asked for.
    even_w, even_h = spec.width + spec.width % 2, spec.height + spec.height % 2
    args = [
        "-f", "lavfi",
        "-i", f"testsrc2=size={even_w}x{even_h}:rate={spec.fps}:duration={spec.seconds}",
    ]  # fmt: skip
    odd = (even_w, even_h) != (spec.width, spec.height)
    filters = [f"scale={spec.width}:{spec.height},setsar=1"] if odd else []
    if spec.interlaced:
        filters.append("setfield=tff")
    if spec.audio:
        # 44.1 kHz mono on purpose: the encoder must resample to 48 kHz stereo.
        tone = f"sine=frequency=440:sample_rate=44100:duration={spec.seconds}"
        args += ["-f", "lavfi", "-i", tone]
    video = ["-c:v", "libx264", "-preset", spec.preset, "-crf", str(spec.crf),
             "-pix_fmt", spec.pix_fmt]  # fmt: skip
    if spec.pix_fmt.startswith("yuv420p10"):
        video += ["-profile:v", "high10"]
    if filters:
        video = ["-vf", ",".join(filters), *video]
    if spec.interlaced:
        video += ["-flags", "+ilme+ildct"]
    audio = ["-c:a", "aac", "-b:a", "96k"] if spec.audio else []
    _ffmpeg(*args, *video, *audio, "-t", str(spec.seconds), str(encoded))
    if spec.rotation:
        # A display matrix survives only a stream copy; the CLI option is counter-clockwise.
        rotated = directory / f".{spec.name}.rotated.{spec.container}"
        _ffmpeg("-display_rotation", str((-spec.rotation) % 360), "-i", str(encoded),
                "-c", "copy", str(rotated))  # fmt: skip
        encoded.unlink()
        encoded = rotated
    encoded.rename(target)
    return target


# One small sample per allow-listed container, with a codec pair typical of it.
CONTAINER_SAMPLES: dict[str, tuple[str, ...]] = {
    "mp4": ("-c:v", "libx264", "-c:a", "aac"),
    "m4v": ("-c:v", "libx264", "-c:a", "aac"),
    "mov": ("-c:v", "libx264", "-c:a", "aac"),
    "mkv": ("-c:v", "libx264", "-c:a", "aac"),
    "webm": ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"),
    "avi": ("-c:v", "mpeg4", "-c:a", "libmp3lame"),
    "wmv": ("-c:v", "wmv2", "-c:a", "wmav2"),
    "flv": ("-c:v", "libx264", "-c:a", "aac"),
    "mpg": ("-c:v", "mpeg2video", "-c:a", "mp2"),
    "mpeg": ("-c:v", "mpeg1video", "-c:a", "mp2"),
    "ts": ("-c:v", "libx264", "-c:a", "aac"),
    "m2ts": ("-c:v", "libx264", "-c:a", "aac", "-f", "mpegts", "-mpegts_m2ts_mode", "1"),
    "mts": ("-c:v", "libx264", "-c:a", "aac", "-f", "mpegts", "-mpegts_m2ts_mode", "1"),
    "3gp": ("-c:v", "libx264", "-c:a", "aac", "-ac", "1", "-ar", "8000"),
    "mxf": ("-c:v", "mpeg2video", "-c:a", "pcm_s16le"),
}


def make_container_sample(extension: str, directory: str | Path, seconds: float = 2.0) -> Path:
    """A small 320x180 25 fps clip with audio in the container `extension` names."""
    path = Path(directory) / f"sample-{extension}.{extension}"
    if not path.exists():
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            *CONTAINER_SAMPLES[extension], "-shortest", str(path),
        )  # fmt: skip
    return path


def make_not_video(directory: str | Path, name: str = "notes.mp4") -> Path:
    """A text file wearing a video extension."""
    path = Path(directory) / name
    path.write_text("These are meeting notes, not a video.\n" * 20)
    return path


def make_truncated(directory: str | Path, *, faststart: bool = False) -> Path:
    """The landscape clip cut in half: without its moov box, or (faststart) without media."""
    directory = Path(directory)
    source = make_clip(LANDSCAPE, directory)
    if faststart:
        moved = directory / "landscape-faststart.mp4"
        if not moved.exists():
            _ffmpeg("-i", str(source), "-c", "copy", "-movflags", "+faststart", str(moved))
        source = moved
    data = source.read_bytes()
    path = directory / ("truncated-faststart.mp4" if faststart else "truncated.mp4")
    path.write_bytes(data[: len(data) // 2])
    return path


def make_audio_only(directory: str | Path) -> Path:
    """An AAC-only m4a: a readable container with nothing to encode."""
    path = Path(directory) / "audio-only.m4a"
    if not path.exists():
        _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(path))
    return path


def make_zero_duration(directory: str | Path) -> Path:
    """A raw H.264 elementary stream of one frame: a video without any timing."""
    path = Path(directory) / "one-frame.h264"
    if not path.exists():
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1",
                "-c:v", "libx264", str(path))  # fmt: skip
    return path


def _ffmpeg(*args: str) -> None:
    cmd = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    completed = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({completed.returncode}): {completed.stderr[-2000:]}")
