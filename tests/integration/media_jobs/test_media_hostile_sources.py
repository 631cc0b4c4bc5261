"""Hostile sources: uploads that name other files or URLs (the classic ffmpeg SSRF/LFI through
an HLS playlist or an ffconcat list), formats outside the allow-list and sources beyond the
bounds end as failed jobs with a clear reason, and nothing they name is ever read.

What they name is trapped: a FIFO (opening it for reading, as libavformat would to read a
segment, wakes a writer that records the open: unlike a file's atime, this cannot be missed)
and an HTTP server on 127.0.0.1 that records every request. Control tests show that the
same files, opened without the service's protections, do spring the trap.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error
import httpx
import pytest
import pytest_asyncio
from media_http import upload, wait_for_job

from services.media_jobs.encode import EncodeError, EncodeSettings, encode, ffmpeg_path, input_args
from services.media_jobs.ladder import choose_rungs
from services.media_jobs.probe import (
    RefusedFormatError,
    SourceLimitError,
    SourceLimits,
    probe,
)
from tests.support.media_clips import ClipSpec, make_clip

LINK_LOCAL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
REFUSED = "files that name other files or URLs are refused"


@dataclass
class Trap:
    """A FIFO and a local HTTP server that record whoever opens or requests them."""

    directory: Path
    fifo: Path = field(init=False)
    opened: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.fifo = self.directory / "sentinel.ts"
        os.mkfifo(self.fifo)
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                trap.requests.append(f"{self.command} {self.path}")
                self.send_response(404)
                self.end_headers()

            do_HEAD = do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                         threading.Thread(target=self._watch_fifo, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _watch_fifo(self) -> None:
        while not self._stop.is_set():
            fd = os.open(self.fifo, os.O_WRONLY)  # blocks until someone opens it to read
            if not self._stop.is_set():
                self.opened.append("opened")
            os.close(fd)  # the reader sees end of file: nobody hangs

    @property
    def sprung(self) -> list[str]:
        return self.opened + self.requests

    def wait_opened(self, timeout: float = 5.0) -> bool:
        """Whether the FIFO is opened within ``timeout`` (its watcher thread records it a
        moment after the reader's open)."""
        deadline = time.monotonic() + timeout
        while not self.opened and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(self.opened)

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(OSError):  # wake the FIFO watcher so it sees the stop
            os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
        for thread in self._threads:
            thread.join(5)


@pytest.fixture(scope="module")
def trap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trap]:
    found = Trap(tmp_path_factory.mktemp("trap"))
    yield found
    found.close()


@pytest.fixture
def local_trap(tmp_path: Path) -> Iterator[Trap]:
    found = Trap(tmp_path)
    yield found
    found.close()


def hls_playlist(*uris: str) -> str:
    segments = "".join(f"#EXTINF:10.0,\n{uri}\n" for uri in uris)
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n{segments}#EXT-X-ENDLIST\n"


def ffconcat_list(*uris: str) -> str:
    return "ffconcat version 1.0\n" + "".join(f"file '{uri}'\n" for uri in uris)


def still_image(directory: Path) -> Path:
    path = directory / "poster.png"
    subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=64x64", "-frames:v", "1", "-c:v", "png", str(path)],
                   check=True, capture_output=True)
    return path


# name: (uploaded as, how the reason starts); every one fails at probe
CASES: dict[str, tuple[str, str]] = {
    "hls-local": ("holiday.mp4", f"holiday.mp4: an HLS/M3U playlist, not a video; {REFUSED}"),
    "hls-link-local": ("metadata.ts", f"metadata.ts: an HLS/M3U playlist, not a video; {REFUSED}"),
    "ffconcat-local": ("reel.mkv", f"reel.mkv: an ffconcat list, not a video; {REFUSED}"),
    "ffconcat-link-local": ("reel.mov", f"reel.mov: an ffconcat list, not a video; {REFUSED}"),
    "still-image": ("poster.mp4", "poster.mp4: not a video container the pipeline accepts"),
    "too-wide": ("e2e-too-wide.mp4", "e2e-too-wide.mp4: beyond the source limits: its picture "
                 "is 1344x64, larger than 1280x1280"),
}


@pytest_asyncio.fixture(scope="module")
async def refused(client: httpx.AsyncClient, headers: dict[str, dict[str, str]], trap: Trap,
                  clip_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                  ) -> dict[str, dict[str, Any]]:
    """Every hostile source uploaded through the API at once and waited for, by case."""
    work = tmp_path_factory.mktemp("hostile")
    local = (f"file://{trap.fifo}", str(trap.fifo), f"{trap.url}/segment-1.ts")
    texts = {
        "hls-local": hls_playlist(*local),
        "hls-link-local": hls_playlist(f"{LINK_LOCAL}segment-1.ts"),
        "ffconcat-local": ffconcat_list(f"file:{trap.fifo}", str(trap.fifo),
                                        f"{trap.url}/part-1.mp4"),
        "ffconcat-link-local": ffconcat_list(LINK_LOCAL),
    }
    files = {}
    for name, text in texts.items():
        files[name] = work / CASES[name][0]
        files[name].write_text(text)
    files["still-image"] = still_image(work).rename(work / CASES["still-image"][0])
    files["too-wide"] = await asyncio.to_thread(
        make_clip, ClipSpec("e2e-too-wide", 1344, 64, 1.0), clip_dir)
    tickets = {name: await upload(client, headers["alice"], path)
               for name, path in files.items()}
    jobs = await asyncio.gather(*(wait_for_job(client, t["guid"]) for t in tickets.values()))
    return dict(zip(tickets, jobs, strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_source_fails_at_probe_with_its_reason(refused: dict[str, dict[str, Any]],
                                                          case: str) -> None:
    """The job ends in error at probe, once, saying why; nothing was encoded."""
    job = refused[case]
    assert job["status"] == "error"
    assert job["error"]["stage"] == "probe"
    assert job["error"]["message"].startswith(CASES[case][1]), job["error"]["message"]
    assert job["stages"]["probe"]["runs"] == 1
    assert job["mediainfo"] is None and job["outputs"] is None and job["renditions"] == []


def test_nothing_a_hostile_source_names_is_read(refused: dict[str, dict[str, Any]],
                                                trap: Trap) -> None:
    """After every job ended: the FIFO was never opened, the local server never asked. The
    link-local URL's playlist and list were refused the same way, by their first bytes and
    before libavformat saw them, so no connection to it was attempted either."""
    assert all(job["status"] == "error" for job in refused.values())
    assert trap.sprung == []
    for case in ("hls-link-local", "ffconcat-link-local"):
        assert REFUSED in refused[case]["error"]["message"]


# --- the same dangers, opened in this process: with and without the protections -------------


def test_an_unprotected_open_follows_a_playlist_the_probe_refuses(local_trap: Trap) -> None:
    """Control: PyAV without the service's options reads the FIFO an HLS playlist names (so
    the trap works); the probe refuses the playlist and the FIFO stays unopened."""
    playlist = local_trap.directory / "list.m3u8"
    playlist.write_text(hls_playlist(f"file://{local_trap.fifo}"))
    with pytest.raises(RefusedFormatError, match="HLS/M3U playlist"):
        probe(playlist)
    assert not local_trap.wait_opened(timeout=1.0)
    with contextlib.suppress(av.error.FFmpegError), av.open(str(playlist), timeout=10):
        pass
    assert local_trap.wait_opened(), "the control did not spring the trap"


def dash_manifest(base_url: str, init: str) -> str:
    """A DASH manifest that does not start like one (an XML comment first): no first-bytes
    check names it; ffmpeg detects it anywhere in its first 2 KiB."""
    return (
        "<!-- holiday clip -->\n"
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" minBufferTime="PT2S"'
        ' profiles="urn:mpeg:dash:profile:isoff-live:2011" mediaPresentationDuration="PT10S">'
        f"<BaseURL>{base_url}</BaseURL><Period><AdaptationSet mimeType=\"video/mp4\">"
        '<Representation id="0" bandwidth="100000" codecs="avc1.64001f" width="320"'
        ' height="180">'
        f'<SegmentTemplate initialization="{init}" media="seg-$Number$.m4s" startNumber="1"'
        ' duration="2" timescale="1"/></Representation></AdaptationSet></Period></MPD>\n'
    )


def run_ffmpeg(*args: str) -> int:
    done = subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", *args, "-t", "1",
                           "-f", "null", "-"], capture_output=True, timeout=60, check=False)
    return done.returncode


def test_ffmpeg_is_held_to_the_allow_list_and_the_probed_format(local_trap: Trap) -> None:
    """ffmpeg's own detection takes the manifest for DASH and reads the FIFO it names
    (control). With the encoder's input options it reads nothing: refused by the format
    allow-list, and, with the probed format forced, not taken for DASH at all."""
    source = local_trap.directory / "clip.mp4"
    source.write_text(dash_manifest(f"file://{local_trap.directory}/", local_trap.fifo.name))
    assert run_ffmpeg(*input_args(source, input_rotate=None)) != 0
    assert run_ffmpeg(*input_args(source, input_rotate=None,
                                  input_format="mov,mp4,m4a,3gp,3g2,mj2")) != 0
    assert not local_trap.wait_opened(timeout=1.0)
    run_ffmpeg("-i", str(source))
    assert local_trap.wait_opened(), "the control did not spring the trap"


# --- bounds on real files ---------------------------------------------------------------------


def test_the_probe_bounds_streams_duration_size_and_time(clip_dir: Path) -> None:
    clip = make_clip(ClipSpec("bounds", 320, 180, 2.0), clip_dir)
    assert probe(clip, SourceLimits(max_width=320, max_height=180, max_duration=2.0,
                                    max_streams=2)).duration == pytest.approx(2.0, abs=0.05)
    with pytest.raises(SourceLimitError, match="it has 2 streams, more than 1"):
        probe(clip, SourceLimits(max_streams=1))
    with pytest.raises(SourceLimitError, match="longer than 1.5 s"):
        probe(clip, SourceLimits(max_duration=1.5))
    with pytest.raises(SourceLimitError, match="its picture is 320x180, larger than 4096x179"):
        probe(clip, SourceLimits(max_height=179))
    with pytest.raises(SourceLimitError, match="reading it took longer than 0 s"):
        probe(clip, SourceLimits(max_probe_seconds=0))


async def test_an_encode_past_its_time_limit_is_stopped(clip_dir: Path, tmp_path: Path) -> None:
    """ffmpeg is killed at the limit and the encode fails with the reason."""
    clip = make_clip(ClipSpec("time-limit", 640, 360, 10.0), clip_dir)
    settings = EncodeSettings(preset="ultrafast", time_limit_factor=0.0, time_limit_base=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(EncodeError, match="ran longer than the limit of 0.3 s"):
        await encode(clip, tmp_path, choose_rungs(640, 360), has_audio=True, duration=10.0,
                     frame_capture=True, frame_rate=30.0, settings=settings)
    assert asyncio.get_running_loop().time() - started < 5
    assert not list((tmp_path / "hls").glob("*.m3u8"))
