"""The profiler: pick the renditions a source deserves, never upscaling it.

Rules (each a decision, the first three fixing issues users raised against the original):

* A rung is a landscape bounding box (1920x1080 for 1080p). The rendition is the source's
  upright picture fitted inside that box with its aspect ratio kept, so a 1918x1080 source
  gives 1918x1080 and 1278x720, a 4:3 source 1440x1080, a 2.39:1 source 1920x804; nothing is
  forced to 16:9 and nothing is letterboxed.
* A rung is used only when fitting needs no upscaling (scale factor <= 1). For 16:9 and
  narrower sources that is exactly "rung short side <= source short side".
* Orientation follows the upright picture (display rotation 90/270 applied first): portrait
  sources fit portrait boxes (1080x1920). A square source counts as landscape, its renditions
  are square (1080x1080, 720x720, ...) at the rung's bitrate.
* A source smaller than the lowest rung gets one rendition at its own size (rounded down to
  even), with the lowest rung's bitrate scaled by pixel count (floored at Apple's lowest tier).
* Dimensions are even (4:2:0 chroma), rounded to nearest; a source's own size rounds down.
  Even rounding makes 1278x720 a hair off 1918x1080's aspect, and ffmpeg's dash muxer (like
  DASH players switching inside one adaptation set) wants one display aspect per set: such a
  rendition carries a near-square sample aspect ratio (here 959:958) that restores the exact
  source aspect. 16:9 sources keep 1:1.

Bitrates are the AWS reference ladder plus a 4K rung at 15 Mbps, the bitrate of the original's
own 2160p MediaConvert template (Apple's H.264 2160p guidance is 11.6-16.8 Mbps-class).
Capped VBR: the peak is 1.1x the average and the VBV buffer 2x the average, well inside Apple's
"peak no more than 200% of average" for VOD.
"""

from __future__ import annotations

from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from shared.errors import InvalidInputError

MAXRATE_FACTOR = 1.1
BUFSIZE_FACTOR = 2.0
_MIN_OWN_SIZE_BITRATE = 145_000


class LadderRung(BaseModel):
    """One rendition of the adaptive bitrate ladder."""

    model_config = ConfigDict(frozen=True)

    name: str
    width: int
    height: int
    video_bitrate: int
    """Average video bitrate, bits/s."""
    max_bitrate: int
    """Capped-VBR peak, bits/s."""
    sample_aspect_ratio: str = "1:1"
    """Pixel aspect that makes every rendition's display aspect equal the source's exactly."""

    @property
    def buffer_size(self) -> int:
        """VBV buffer size in bits."""
        return round(self.video_bitrate * BUFSIZE_FACTOR)


def rung(name: str, width: int, height: int, video_bitrate: int) -> LadderRung:
    """A rung with the standard capped-VBR peak."""
    return LadderRung(
        name=name,
        width=width,
        height=height,
        video_bitrate=video_bitrate,
        max_bitrate=round(video_bitrate * MAXRATE_FACTOR),
    )


DEFAULT_LADDER: tuple[LadderRung, ...] = (
    rung("2160p", 3840, 2160, 15_000_000),
    rung("1080p", 1920, 1080, 8_500_000),
    rung("720p", 1280, 720, 6_000_000),
    rung("540p", 960, 540, 3_500_000),
    rung("360p", 640, 360, 1_500_000),
    rung("270p", 480, 270, 400_000),
)

LADDERS: dict[str, tuple[LadderRung, ...]] = {
    "default": DEFAULT_LADDER,
    # The AWS reference solution's ladder, capped at 1080p.
    "hd": DEFAULT_LADDER[1:],
}


class UnknownLadderError(InvalidInputError):
    """No ladder has this name."""


def get_ladder(name: str) -> tuple[LadderRung, ...]:
    """The ladder called `name`."""
    try:
        return LADDERS[name]
    except KeyError:
        raise UnknownLadderError(f"unknown ladder {name!r}; known: {sorted(LADDERS)}") from None


def choose_rungs(
    width: int,
    height: int,
    *,
    rotation: int = 0,
    ladder: tuple[LadderRung, ...] = DEFAULT_LADDER,
) -> list[LadderRung]:
    """Renditions (highest first) for a `width`x`height` source shown rotated by `rotation`."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid source size {width}x{height}")
    if rotation % 180 == 90:
        width, height = height, width
    portrait = height > width
    aspect = Fraction(width, height)
    chosen: list[LadderRung] = []
    for box in sorted(ladder, key=lambda r: r.width * r.height, reverse=True):
        box_w, box_h = (box.height, box.width) if portrait else (box.width, box.height)
        scale = min(box_w / width, box_h / height)
        if scale > 1:
            continue
        out_w = min(_round_even(width * scale), _floor_even(width))
        out_h = min(_round_even(height * scale), _floor_even(height))
        chosen.append(box.model_copy(update=_size(out_w, out_h, aspect)))
    if chosen:
        return chosen
    own = _own_size_rung(width, height, ladder)
    return [own.model_copy(update=_size(own.width, own.height, aspect))]


def _size(width: int, height: int, aspect: Fraction) -> dict[str, object]:
    sar = aspect / Fraction(width, height)
    return {
        "width": width,
        "height": height,
        "sample_aspect_ratio": f"{sar.numerator}:{sar.denominator}",
    }


def _own_size_rung(width: int, height: int, ladder: tuple[LadderRung, ...]) -> LadderRung:
    lowest = min(ladder, key=lambda r: r.width * r.height)
    out_w, out_h = _floor_even(width), _floor_even(height)
    scaled = lowest.video_bitrate * (out_w * out_h) / (lowest.width * lowest.height)
    bitrate = max(_MIN_OWN_SIZE_BITRATE, round(scaled, -4))
    return rung(f"{min(out_w, out_h)}p", out_w, out_h, int(bitrate))


def _round_even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _floor_even(value: float) -> int:
    return max(2, int(value) // 2 * 2)
