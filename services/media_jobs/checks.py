"""Validate an encoded output tree before anyone is told it is ready.

The original solution trusted "the encoder said COMPLETE". Here every manifest is parsed, every
referenced file must exist, and the media must meet the Apple HLS authoring bar: each rendition
lasts as long as the source (+-0.5 s), every video segment starts with an IDR frame, no segment
exceeds the target + 0.5 s, and measured bitrates sit within 10% of what the playlist claims.

Outputs are read through an `OutputStore` (paths relative to the job's output prefix), so the
same checks run on a local directory (`LocalOutputs`) or on S3 (the worker's adapter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import m3u8

from services.media_jobs.encode import DASH_MANIFEST, HLS_MASTER, POSTER, THUMBNAILS_DIR
from services.media_jobs.manifests import (
    Bitrates,
    MediaPlaylist,
    measure_bitrates,
    parse_media_playlist,
    parse_mpd,
    read_fragment,
    resolve_uri,
)
from services.media_jobs.probe import MediaError

T = TypeVar("T")

MANIFEST_PARSE = "manifest-parse"
RELATIVE_URLS = "relative-urls"
MISSING_FILE = "missing-file"
MASTER_ATTRIBUTES = "hls-master-attributes"
MEDIA_PLAYLIST = "hls-media-playlist"
AUDIO = "audio"
RENDITION_DURATION = "rendition-duration"
SEGMENT_DURATION = "segment-duration"
SEGMENT_IDR = "segment-idr"
RENDITION_FACTS = "rendition-facts"
AVERAGE_BITRATE = "average-bitrate"
PEAK_BITRATE = "peak-bitrate"
DASH_MATCHES_HLS = "dash-matches-hls"
THUMBNAILS = "thumbnails"

DURATION_TOLERANCE_S = 0.5
SEGMENT_OVERRUN_S = 0.5
BITRATE_TOLERANCE = 0.10


class CheckFailedError(MediaError):
    """An output check failed; `check` names it, `detail` says why."""

    def __init__(self, check: str, detail: str, path: str | None = None) -> None:
        self.check = check
        self.detail = detail
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(f"{check}: {detail}{where}")


class OutputStore(Protocol):
    """Read access to one job's outputs by relative path (a directory, an S3 prefix)."""

    async def size(self, path: str) -> int | None:
        """Size in bytes, None when the file does not exist."""
        ...

    async def read(self, path: str) -> bytes:
        """The whole file."""
        ...


class LocalOutputs:
    """An `OutputStore` over a local directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    async def size(self, path: str) -> int | None:
        """Size in bytes, None when the file does not exist."""
        target = self.root / path
        return target.stat().st_size if target.is_file() else None

    async def read(self, path: str) -> bytes:
        """The whole file."""
        return (self.root / path).read_bytes()


@dataclass
class ValidationReport:
    """What was checked and what failed."""

    checks: set[str] = field(default_factory=set)
    failures: list[CheckFailedError] = field(default_factory=list)
    renditions: int = 0
    segments_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def fail(self, check: str, detail: str, path: str | None = None) -> None:
        """Record a failure of `check`."""
        self.checks.add(check)
        self.failures.append(CheckFailedError(check, detail, path))

    def raise_for_failures(self) -> None:
        """Raise the first failure (its message counts the others)."""
        if self.failures:
            first = self.failures[0]
            if len(self.failures) > 1 and not getattr(first, "__notes__", None):
                others = sorted({f.check for f in self.failures[1:]})
                first.add_note(f"{len(self.failures) - 1} more failure(s): {', '.join(others)}")
            raise first


async def validate_outputs(
    store: OutputStore,
    *,
    source_duration: float,
    expect_audio: bool,
    expect_thumbnails: bool = False,
    expected_renditions: int | None = None,
    segment_target: float = 6.0,
    hls_master: str = HLS_MASTER,
    dash_manifest: str = DASH_MANIFEST,
    concurrency: int = 8,
) -> ValidationReport:
    """Run every output check; failures are collected in the report, not raised."""
    run = _Run(store, asyncio.Semaphore(concurrency), ValidationReport())
    hls_segments = await run.check_hls(
        hls_master,
        source_duration=source_duration,
        expect_audio=expect_audio,
        expected_renditions=expected_renditions,
        segment_target=segment_target,
    )
    await run.check_dash(dash_manifest, source_duration=source_duration, hls=hls_segments)
    if expect_thumbnails:
        await run.check_thumbnails()
    return run.report


def validate_local(root: str | Path, **kwargs: Any) -> ValidationReport:
    """`validate_outputs` over a local directory, for synchronous callers."""
    return asyncio.run(validate_outputs(LocalOutputs(root), **kwargs))


@dataclass
class _Run:
    store: OutputStore
    limit: asyncio.Semaphore
    report: ValidationReport
    sizes: dict[str, int | None] = field(default_factory=dict)

    async def check_hls(
        self,
        master_path: str,
        *,
        source_duration: float,
        expect_audio: bool,
        expected_renditions: int | None,
        segment_target: float,
    ) -> dict[str, list[str]]:
        """HLS checks; returns the resolved segment paths per playlist for the DASH comparison."""
        text = await self.read_text(master_path)
        if text is None:
            return {}
        try:
            master = m3u8.loads(text)
        except Exception as exc:  # m3u8 raises assorted errors on garbage
            self.report.fail(MANIFEST_PARSE, str(exc), master_path)
            return {}
        self.report.checks.add(MANIFEST_PARSE)
        if not master.is_variant:
            self.report.fail(MASTER_ATTRIBUTES, "not a multivariant playlist", master_path)
            return {}
        self.check_master(master, master_path, expect_audio, expected_renditions)
        self.report.renditions = len(master.playlists)

        audio_uri = next(
            (m.uri for m in master.media if (m.type or "").upper() == "AUDIO" and m.uri), None
        )
        playlists: dict[str, tuple[str, MediaPlaylist]] = {}
        for uri in [p.uri for p in master.playlists] + ([audio_uri] if audio_uri else []):
            path = self.resolve(master_path, uri)
            parsed = await self.media_playlist(path, source_duration, segment_target)
            if parsed is not None:
                playlists[uri] = (path, parsed)

        audio_bitrates = None
        if audio_uri in playlists:
            audio_bitrates = await self.measure(*playlists[audio_uri])
        for variant in master.playlists:
            if variant.uri not in playlists:
                continue
            path, playlist = playlists[variant.uri]
            bitrates = await self.measure(path, playlist)
            if bitrates is None:
                continue
            if audio_bitrates is not None and variant.stream_info.audio:
                bitrates = bitrates + audio_bitrates
            info = variant.stream_info
            self.compare(AVERAGE_BITRATE, bitrates.average, info.average_bandwidth, variant.uri)
            self.compare(PEAK_BITRATE, bitrates.peak, info.bandwidth, variant.uri)
            await self.check_video_segments(path, playlist, variant)
        return {
            uri: [self.resolve(path, s.uri) for s in playlist.segments]
            for uri, (path, playlist) in playlists.items()
        }

    def check_master(
        self,
        master: m3u8.M3U8,
        path: str,
        expect_audio: bool,
        expected_renditions: int | None,
    ) -> None:
        self.report.checks.update({MASTER_ATTRIBUTES, AUDIO})
        if not master.is_independent_segments:
            self.report.fail(MASTER_ATTRIBUTES, "EXT-X-INDEPENDENT-SEGMENTS missing", path)
        if not master.playlists:
            self.report.fail(MASTER_ATTRIBUTES, "no variants", path)
        if expected_renditions is not None and len(master.playlists) != expected_renditions:
            self.report.fail(
                MASTER_ATTRIBUTES,
                f"{len(master.playlists)} variants, expected {expected_renditions}",
                path,
            )
        audio_groups = {
            m.group_id for m in master.media if (m.type or "").upper() == "AUDIO" and m.uri
        }
        if expect_audio and not audio_groups:
            self.report.fail(AUDIO, "source has audio but no audio rendition exists", path)
        if not expect_audio and audio_groups:
            self.report.fail(AUDIO, "audio rendition for a source without audio", path)
        for variant in master.playlists:
            info = variant.stream_info
            missing = [
                name
                for name, value in (
                    ("BANDWIDTH", info.bandwidth),
                    ("AVERAGE-BANDWIDTH", info.average_bandwidth),
                    ("CODECS", info.codecs),
                    ("RESOLUTION", info.resolution),
                    ("FRAME-RATE", info.frame_rate),
                )
                if not value
            ]
            if missing:
                self.report.fail(
                    MASTER_ATTRIBUTES, f"{variant.uri} lacks {', '.join(missing)}", path
                )
            if expect_audio and audio_groups:
                if info.audio not in audio_groups:
                    self.report.fail(AUDIO, f"{variant.uri} does not reference the audio", path)
                elif "mp4a." not in (info.codecs or ""):
                    self.report.fail(AUDIO, f"{variant.uri} CODECS lacks the audio codec", path)

    async def media_playlist(
        self, path: str, source_duration: float, segment_target: float
    ) -> MediaPlaylist | None:
        text = await self.read_text(path)
        if text is None:
            return None
        try:
            playlist = parse_media_playlist(text)
        except Exception as exc:
            self.report.fail(MANIFEST_PARSE, str(exc), path)
            return None
        self.report.checks.update({MEDIA_PLAYLIST, SEGMENT_DURATION, RENDITION_DURATION})
        problems = []
        if playlist.playlist_type != "VOD":
            problems.append("EXT-X-PLAYLIST-TYPE:VOD missing")
        if not playlist.init_uri:
            problems.append("EXT-X-MAP missing")
        if not playlist.endlist:
            problems.append("EXT-X-ENDLIST missing")
        if not playlist.segments:
            problems.append("no segments")
        longest = max((s.duration for s in playlist.segments), default=0.0)
        if playlist.target_duration is None or round(longest) > playlist.target_duration:
            problems.append(f"TARGETDURATION {playlist.target_duration} < longest {longest:.3f}s")
        for problem in problems:
            self.report.fail(MEDIA_PLAYLIST, problem, path)
        if longest > segment_target + SEGMENT_OVERRUN_S:
            self.report.fail(
                SEGMENT_DURATION, f"{longest:.3f}s segment, target {segment_target:g}s", path
            )
        if abs(playlist.duration - source_duration) > DURATION_TOLERANCE_S:
            self.report.fail(
                RENDITION_DURATION,
                f"{playlist.duration:.3f}s, source {source_duration:.3f}s",
                path,
            )
        uris = ([playlist.init_uri] if playlist.init_uri else []) + [
            s.uri for s in playlist.segments
        ]
        await self.require([self.resolve(path, uri) for uri in uris])
        return playlist

    async def measure(self, path: str, playlist: MediaPlaylist) -> Bitrates | None:
        sizes = [self.sizes.get(self.resolve(path, s.uri)) for s in playlist.segments]
        if not playlist.segments or any(size is None for size in sizes):
            return None
        return measure_bitrates(
            [(s.duration, size or 0) for s, size in zip(playlist.segments, sizes, strict=True)]
        )

    def compare(self, check: str, measured: int, claimed: int | None, uri: str) -> None:
        self.report.checks.add(check)
        if not claimed:
            return  # reported by the attribute check
        if abs(measured - claimed) > BITRATE_TOLERANCE * claimed:
            self.report.fail(check, f"{uri}: measured {measured} b/s, playlist says {claimed}")

    async def check_video_segments(
        self, path: str, playlist: MediaPlaylist, variant: m3u8.Playlist
    ) -> None:
        self.report.checks.update({SEGMENT_IDR, RENDITION_FACTS})
        if not playlist.init_uri:
            return
        init_path = self.resolve(path, playlist.init_uri)
        if self.sizes.get(init_path) is None:
            return
        init = await self.guarded(self.store.read(init_path))
        info = variant.stream_info

        async def one(index: int, uri: str) -> None:
            segment_path = self.resolve(path, uri)
            if self.sizes.get(segment_path) is None:
                return
            async with self.limit:  # bounds the segments held in memory, not just the I/O
                data = await self.store.read(segment_path)
                try:
                    fragment = await asyncio.to_thread(read_fragment, init, data)
                except ValueError as exc:
                    self.report.fail(SEGMENT_IDR, str(exc), segment_path)
                    return
            self.report.segments_checked += 1
            if not (fragment.first_packet_keyframe and fragment.first_packet_idr
                    and fragment.first_frame_key):  # fmt: skip
                self.report.fail(SEGMENT_IDR, "does not start with an IDR frame", segment_path)
            if index == 0:
                codecs = (info.codecs or "").split(",")
                if fragment.codecs not in codecs:
                    self.report.fail(
                        RENDITION_FACTS, f"CODECS {info.codecs}, stream is {fragment.codecs}", path
                    )
                if info.resolution and tuple(info.resolution) != (fragment.width, fragment.height):
                    self.report.fail(
                        RENDITION_FACTS,
                        f"RESOLUTION {info.resolution}, stream is {fragment.width}x"
                        f"{fragment.height}",
                        path,
                    )

        await asyncio.gather(*(one(i, s.uri) for i, s in enumerate(playlist.segments)))

    async def check_dash(
        self, mpd_path: str, *, source_duration: float, hls: dict[str, list[str]]
    ) -> None:
        text = await self.read_text(mpd_path)
        if text is None:
            return
        try:
            duration, representations = parse_mpd(text)
        except Exception as exc:
            self.report.fail(MANIFEST_PARSE, f"MPD: {exc}", mpd_path)
            return
        self.report.checks.update({RENDITION_DURATION, DASH_MATCHES_HLS, SEGMENT_IDR})
        if abs(duration - source_duration) > DURATION_TOLERANCE_S:
            self.report.fail(
                RENDITION_DURATION,
                f"MPD duration {duration:.3f}s, source {source_duration:.3f}s",
                mpd_path,
            )
        if not representations:
            self.report.fail(MANIFEST_PARSE, "MPD has no representations", mpd_path)
        hls_lists = {tuple(paths) for paths in hls.values()}
        if hls and len(representations) != len(hls):
            self.report.fail(
                DASH_MATCHES_HLS,
                f"{len(representations)} representations for {len(hls)} HLS playlists",
                mpd_path,
            )
        for rep in representations:
            where = f"{mpd_path}#{rep.id}"
            if abs(rep.duration - source_duration) > DURATION_TOLERANCE_S:
                self.report.fail(
                    RENDITION_DURATION,
                    f"representation {rep.id} lasts {rep.duration:.3f}s, "
                    f"source {source_duration:.3f}s",
                    mpd_path,
                )
            paths = [self.resolve(mpd_path, s.uri) for s in rep.segments]
            init = [self.resolve(mpd_path, rep.init_uri)] if rep.init_uri else []
            await self.require(init + paths)
            if hls and tuple(paths) not in hls_lists:
                self.report.fail(
                    DASH_MATCHES_HLS, "segments differ from every HLS playlist's", where
                )
            if rep.content_type == "video" and not rep.init_uri:
                self.report.fail(SEGMENT_IDR, "no initialization segment", where)

    async def check_thumbnails(self) -> None:
        self.report.checks.add(THUMBNAILS)
        for path in (POSTER, f"{THUMBNAILS_DIR}/thumb-00001.jpg"):
            if await self.guarded(self.store.size(path)) is None:
                self.report.fail(THUMBNAILS, "missing", path)
            elif not (await self.guarded(self.store.read(path))).startswith(b"\xff\xd8"):
                self.report.fail(THUMBNAILS, "not a JPEG", path)

    async def require(self, paths: list[str]) -> None:
        """Record a failure for every path that does not exist; remember sizes."""
        self.report.checks.add(MISSING_FILE)
        todo = [p for p in dict.fromkeys(paths) if p and p not in self.sizes]
        found = await asyncio.gather(*(self.guarded(self.store.size(p)) for p in todo))
        self.sizes.update(zip(todo, found, strict=True))
        for path in dict.fromkeys(paths):
            if path and self.sizes.get(path) is None:
                self.report.fail(MISSING_FILE, "referenced but missing", path)

    def resolve(self, base: str, uri: str) -> str:
        self.report.checks.add(RELATIVE_URLS)
        try:
            return resolve_uri(base, uri)
        except ValueError as exc:
            self.report.fail(RELATIVE_URLS, str(exc), base)
            return ""

    async def read_text(self, path: str) -> str | None:
        self.report.checks.add(MISSING_FILE)
        if await self.guarded(self.store.size(path)) is None:
            self.report.fail(MISSING_FILE, "manifest missing", path)
            return None
        try:
            return (await self.guarded(self.store.read(path))).decode("utf-8")
        except UnicodeDecodeError as exc:
            self.report.fail(MANIFEST_PARSE, f"not UTF-8 text: {exc}", path)
            return None

    async def guarded(self, call: Awaitable[T]) -> T:
        async with self.limit:
            return await call
