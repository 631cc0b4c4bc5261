"""The single-decode filter graph's cascaded scaling and encoder threads (service settings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.media_jobs.encode import build_command, rung_graph
from services.media_jobs.ladder import choose_rungs
from services.media_jobs.settings import MediaJobsSettings

RUNGS = choose_rungs(1920, 1080)


def inputs_of(graph: list[str]) -> dict[str, str]:
    """For each rung output [vN]: the label its chain reads from."""
    found = {}
    for chain in graph:
        source = re.match(r"\[([^\]]+)\]", chain).group(1)
        for out in re.findall(r"\[(v\d+)\]", chain):
            found[out] = source
    return found


def test_cascade_scales_each_rung_from_the_next_larger_one():
    """The largest rung reads the source's split; every other the previous rung's picture."""
    graph = rung_graph(RUNGS, extra_branches=2, cascade=True)
    assert graph[0] == "[0:v:0]split=3[c0][s5][s6]"
    assert inputs_of(graph) == {"v0": "c0", "v1": "c1", "v2": "c2", "v3": "c3", "v4": "c4"}
    for step, rung in enumerate(RUNGS):
        assert graph[step + 1].startswith(f"[c{step}]scale={rung.width}:{rung.height}")
    assert graph[1].endswith(",split=2[v0][c1]") and graph[-1].endswith("[v4]")


def test_cascade_follows_size_not_list_order():
    """Rungs given smallest first still cascade from the largest; outputs keep their index."""
    graph = rung_graph(list(reversed(RUNGS)), cascade=True)
    assert graph[0] == "[0:v:0]split=1[c0]"
    assert graph[1].startswith("[c0]scale=1920:1080") and "[v4]" in graph[1]
    assert graph[-1].startswith("[c4]scale=480:270") and graph[-1].endswith("[v0]")


def test_direct_scaling_splits_the_source_to_every_rung():
    """The core's default: one split, each rung scaled from the full-size picture."""
    graph = rung_graph(RUNGS, extra_branches=2)
    assert graph[0].startswith("[0:v:0]split=7")
    assert set(inputs_of(graph).values()) == {f"s{i}" for i in range(5)}


@pytest.mark.parametrize("cascade", [True, False])
def test_deinterlacing_happens_once_before_any_scaling(cascade):
    """bwdif runs on the decoded source, ahead of the split."""
    graph = rung_graph(RUNGS, head="bwdif=mode=send_frame,", cascade=cascade)
    assert graph[0].startswith("[0:v:0]bwdif=mode=send_frame,split=")
    assert sum("bwdif" in chain for chain in graph) == 1


def test_the_service_encodes_with_cascade_and_planned_threads(monkeypatch):
    """MediaJobsSettings cascade by default and size the threads by the plan for the CPUs;
    MEDIA_ENCODER_THREADS=N forces x264's, 0 leaves every codec its default."""
    assert MediaJobsSettings().encode_settings.cascade_scaling is True
    assert MediaJobsSettings().encode_settings.encoder_threads is None
    monkeypatch.setenv("MEDIA_ENCODER_THREADS", "2")
    cmd = service_command()
    assert [cmd[cmd.index(f"-threads:v:{i}") + 1] for i in range(5)] == ["2"] * 5
    monkeypatch.setenv("MEDIA_ENCODER_THREADS", "0")
    assert not any(arg.startswith(("-threads", "-filter_complex_threads"))
                   for arg in service_command())


def test_concurrent_encodes_split_the_cpus(monkeypatch):
    """Two encodes per worker plan for half the CPUs each (never fewer than one)."""
    monkeypatch.setattr("services.media_jobs.settings.available_cpus", lambda: 8)
    assert MediaJobsSettings().encode_settings.cpus == 8
    monkeypatch.setenv("MEDIA_WORKER_CONCURRENCY", "2")
    assert MediaJobsSettings().encode_settings.cpus == 4
    monkeypatch.setenv("MEDIA_WORKER_CONCURRENCY", "10")
    assert MediaJobsSettings().encode_settings.cpus == 1


def service_command() -> list[str]:
    return build_command(Path("/in.mp4"), Path("/out"), RUNGS, has_audio=True, duration=10.0,
                         frame_rate=30.0, frame_capture=True,
                         settings=MediaJobsSettings().encode_settings)
