"""The profiler: which renditions a source gets."""

from fractions import Fraction

import pytest

from services.media_jobs.ladder import (
    DEFAULT_LADDER,
    LADDERS,
    UnknownLadderError,
    choose_rungs,
    get_ladder,
)


def sizes(rungs):
    return [(r.name, r.width, r.height) for r in rungs]


@pytest.mark.parametrize(
    ("source", "rotation", "expected"),
    [
        pytest.param(
            (1920, 1080), 0,
            [("1080p", 1920, 1080), ("720p", 1280, 720), ("540p", 960, 540),
             ("360p", 640, 360), ("270p", 480, 270)],
            id="landscape-1080p",
        ),
        pytest.param(
            (3840, 2160), 0,
            [("2160p", 3840, 2160), ("1080p", 1920, 1080), ("720p", 1280, 720),
             ("540p", 960, 540), ("360p", 640, 360), ("270p", 480, 270)],
            id="4k",
        ),
        pytest.param(
            (1080, 1920), 0,
            [("1080p", 1080, 1920), ("720p", 720, 1280), ("540p", 540, 960),
             ("360p", 360, 640), ("270p", 270, 480)],
            id="portrait-1080x1920",
        ),
        pytest.param(
            (1080, 1080), 0,
            [("1080p", 1080, 1080), ("720p", 720, 720), ("540p", 540, 540),
             ("360p", 360, 360), ("270p", 270, 270)],
            id="square",
        ),
        pytest.param(
            (1918, 1080), 0,
            [("1080p", 1918, 1080), ("720p", 1278, 720), ("540p", 960, 540),
             ("360p", 640, 360), ("270p", 480, 270)],
            id="odd-1918x1080",
        ),
        pytest.param((320, 240), 0, [("240p", 320, 240)], id="tiny-320x240"),
        pytest.param(
            (1920, 1080), 90,
            [("1080p", 1080, 1920), ("720p", 720, 1280), ("540p", 540, 960),
             ("360p", 360, 640), ("270p", 270, 480)],
            id="phone-1920x1080-rotated-90",
        ),
        pytest.param(
            (1280, 720), 0,
            [("720p", 1280, 720), ("540p", 960, 540), ("360p", 640, 360), ("270p", 480, 270)],
            id="720p",
        ),
        pytest.param(
            (1920, 804), 0,
            [("1080p", 1920, 804), ("720p", 1280, 536), ("540p", 960, 402),
             ("360p", 640, 268), ("270p", 480, 200)],
            id="scope-2.39",
        ),
    ],
)  # fmt: skip
def test_ladder_table(source, rotation, expected):
    """Each kind of source gets exactly the renditions the profiler's rules promise."""
    assert sizes(choose_rungs(*source, rotation=rotation)) == expected


@pytest.mark.parametrize(
    "source",
    [(1920, 1080), (1918, 1080), (1080, 1920), (1440, 1080), (639, 360), (1000, 999), (77, 51)],
)
def test_never_upscales_and_keeps_even_sizes(source):
    """No rendition is larger than the source in either dimension, and every size is even."""
    for rung in choose_rungs(*source):
        assert rung.width <= source[0] and rung.height <= source[1]
        assert rung.width % 2 == 0 and rung.height % 2 == 0


@pytest.mark.parametrize("source", [(1918, 1080), (639, 360), (1920, 804), (1440, 1080)])
def test_display_aspect_is_identical_across_renditions(source):
    """Pixel aspect makes every rendition show the source's exact aspect (one DASH set)."""
    for rung in choose_rungs(*source):
        num, den = (int(x) for x in rung.sample_aspect_ratio.split(":"))
        assert Fraction(rung.width * num, rung.height * den) == Fraction(*source)


def test_16_by_9_renditions_have_square_pixels():
    """Standard sources are not touched by the aspect correction."""
    assert {r.sample_aspect_ratio for r in choose_rungs(1920, 1080)} == {"1:1"}


def test_1080_source_between_rungs_is_not_upscaled_to_the_next_rung():
    """A 1900x1070 source stops at 720p: 1080p would upscale it."""
    assert choose_rungs(1900, 1070)[0].name == "720p"


def test_rotation_180_keeps_orientation():
    """Upside-down video stays landscape."""
    assert choose_rungs(1280, 720, rotation=180)[0].width == 1280


def test_tiny_source_bitrate_scales_with_pixels_but_has_a_floor():
    """A sub-270p source gets a bitrate proportional to its pixels, not below 145 kb/s."""
    (small,) = choose_rungs(320, 240)
    assert small.video_bitrate == 240_000
    (smaller,) = choose_rungs(96, 54)
    assert smaller.video_bitrate == 145_000


def test_rungs_carry_capped_vbr_parameters():
    """Peak is 1.1x and the buffer 2x the average bitrate."""
    top = choose_rungs(1920, 1080)[0]
    assert (top.video_bitrate, top.max_bitrate, top.buffer_size) == (
        8_500_000,
        9_350_000,
        17_000_000,
    )


def test_reference_ladder_bitrates():
    """The default ladder is the AWS reference ladder plus 4K at 15 Mb/s."""
    assert [(r.name, r.video_bitrate) for r in DEFAULT_LADDER] == [
        ("2160p", 15_000_000),
        ("1080p", 8_500_000),
        ("720p", 6_000_000),
        ("540p", 3_500_000),
        ("360p", 1_500_000),
        ("270p", 400_000),
    ]


def test_hd_ladder_caps_at_1080p():
    """The `hd` ladder never produces 4K, even from a 4K source."""
    assert choose_rungs(3840, 2160, ladder=get_ladder("hd"))[0].name == "1080p"
    assert set(LADDERS) == {"default", "hd"}


def test_unknown_ladder_is_refused():
    """Asking for a ladder that does not exist is an error naming the known ones."""
    with pytest.raises(UnknownLadderError, match="default"):
        get_ladder("ultra")


def test_invalid_size_is_refused():
    """A zero-sized source is a programming error, not a one-rung ladder."""
    with pytest.raises(ValueError):
        choose_rungs(0, 1080)
