"""Threads of the single-decode ffmpeg: the plan, the options it becomes, and x264 obeying them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.media_jobs.encode import (
    EncodeSettings,
    available_cpus,
    build_command,
    encode_sync,
    thread_args,
    thread_plan,
)
from services.media_jobs.ladder import choose_rungs
from tests.support.media_clips import ClipSpec, make_clip

HD = choose_rungs(1920, 1080)
UHD = choose_rungs(3840, 2160)


def value(cmd: list[str], option: str) -> str:
    return cmd[cmd.index(option) + 1]


def command(settings: EncodeSettings) -> list[str]:
    return build_command(Path("/in.mp4"), Path("/out"), HD, has_audio=True, duration=10.0,
                         frame_rate=30.0, frame_capture=True, settings=settings)


def test_two_cpus_give_the_1080p_rung_two_threads_and_every_other_stage_one():
    """The 1080p rung is ~45% of a 1080p ladder's work: one thread would hold back the rest."""
    plan = thread_plan(HD, cpus=2)
    assert (plan.decoder, plan.filters, plan.encoders) == (1, 1, (2, 1, 1, 1, 1))


def test_one_cpu_threads_nothing_inside_a_stage():
    """On one CPU no stage of a 1080p ladder needs more than its own thread."""
    plan = thread_plan(HD, cpus=1)
    assert (plan.decoder, plan.filters, plan.encoders) == (1, 1, (1, 1, 1, 1, 1))


def test_a_4k_rung_gets_threads_for_its_two_thirds_of_the_work():
    """2160p is most of a 4K ladder's work: a thread per half CPU of it, 3 on 2 CPUs."""
    assert thread_plan(UHD, cpus=2).encoders == (3, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("cpus", [4, 8, 16, 64])
def test_more_cpus_go_to_the_bigger_rungs(cpus):
    """Threads grow with the CPUs, never fewer for a bigger rung, never more than 2x the CPUs."""
    plan = thread_plan(HD, cpus=cpus)
    assert list(plan.encoders) == sorted(plan.encoders, reverse=True)
    assert plan.encoders[0] > thread_plan(HD, cpus=cpus // 2).encoders[0]
    assert all(1 <= n <= 2 * cpus for n in (plan.decoder, plan.filters, *plan.encoders))
    assert plan.decoder < plan.encoders[0]


def test_the_plan_becomes_input_filter_and_per_stream_options():
    """Decoder and filter-graph threads go before -i; each rung its own -threads:v:N."""
    cmd = command(EncodeSettings(cpus=2))
    assert cmd.index("-threads:v") < cmd.index("-i")
    assert cmd.index("-filter_complex_threads") < cmd.index("-i")
    assert (value(cmd, "-threads:v"), value(cmd, "-filter_complex_threads")) == ("1", "1")
    assert [value(cmd, f"-threads:v:{i}") for i in range(5)] == ["2", "1", "1", "1", "1"]


def test_fixed_encoder_threads_and_codec_defaults():
    """encoder_threads=N fixes x264's (the rest still planned); 0 sets no thread at all."""
    fixed = command(EncodeSettings(cpus=2, encoder_threads=3))
    assert [value(fixed, f"-threads:v:{i}") for i in range(5)] == ["3"] * 5
    assert value(fixed, "-threads:v") == "1"
    assert thread_args(HD, EncodeSettings(encoder_threads=0)) == ([], [])


def test_unset_cpus_means_the_cpus_this_process_may_use():
    """Without `cpus` the plan is for the affinity mask's CPUs."""
    assert available_cpus() >= 1
    planned = thread_args(HD, EncodeSettings())[1]
    assert planned == thread_args(HD, EncodeSettings(cpus=available_cpus()))[1]


def test_x264_runs_each_rung_with_its_planned_threads(tmp_path):
    """A real encode: each rendition's x264 SEI records the thread count planned for it."""
    clip = make_clip(ClipSpec("threads", 640, 360, 1.0), tmp_path / "clips")
    rungs = choose_rungs(640, 360)
    settings = EncodeSettings(cpus=2)
    expected = thread_plan(rungs, cpus=2).encoders
    assert len(set(expected)) > 1  # rungs with different counts, so a mix-up would show
    out = tmp_path / "out"
    encode_sync(clip, out, rungs, has_audio=True, duration=1.0, frame_capture=False,
                frame_rate=30.0, settings=settings)
    for index, threads in enumerate(expected):
        first = (out / "cmaf" / f"chunk-stream{index}-00001.m4s").read_bytes()
        found = re.search(rb" threads=(\d+) ", first)
        assert found is not None and int(found.group(1)) == threads
