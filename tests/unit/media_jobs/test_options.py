"""Job options, metadata overrides and S3 key handling."""

import json

import pytest
from pydantic import ValidationError

from services.media_jobs.options import (
    ArchiveClass,
    InvalidMetadataError,
    JobOptions,
    KeyKind,
    classify_key,
    decode_key,
    parse_metadata,
    request_for_video,
)

DEFAULTS = JobOptions(frame_capture=False, archive_source=ArchiveClass.GLACIER, ladder="default")


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("uploads%2Fmy+holiday+video.mp4", "uploads/my holiday video.mp4"),
        ("a%2Bb.mov", "a+b.mov"),
        ("caf%C3%A9.MOV", "café.MOV"),
        ("plain.mp4", "plain.mp4"),
    ],
)
def test_decode_key(raw, decoded):
    """S3 notification keys are URL-encoded with '+' for spaces."""
    assert decode_key(raw) == decoded


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("in/clip.mp4", KeyKind.VIDEO),
        ("in/CLIP.MOV", KeyKind.VIDEO),
        ("in/clip.MxF", KeyKind.VIDEO),
        ("in/a.b.m2ts", KeyKind.VIDEO),
        ("in/clip.json", KeyKind.METADATA),
        ("in/CLIP.JSON", KeyKind.METADATA),
        ("in/clip.txt", KeyKind.IGNORED),
        ("in/mp4", KeyKind.IGNORED),
        ("in/folder/", KeyKind.IGNORED),
        ("", KeyKind.IGNORED),
    ],
)
def test_classify_key(key, kind):
    """Extensions decide the trigger, case-insensitively; folders and others are ignored."""
    assert classify_key(key) is kind


def test_video_upload_uses_the_defaults():
    """A plain upload runs with the service defaults."""
    request = request_for_video("in/clip.mp4", DEFAULTS)
    assert request.src_video == "in/clip.mp4"
    assert request.options == DEFAULTS


def test_metadata_overrides_in_the_originals_spelling():
    """`frameCapture`, `archiveSource`, `jobTemplate`, `inputRotate`, `outputPrefix` override."""
    document = {
        "srcVideo": "in/clip.mp4",
        "frameCapture": True,
        "archiveSource": "deep_archive",
        "jobTemplate": "hd",
        "inputRotate": "DEGREES_90",
        "outputPrefix": "/shows/ep1/",
        "title": "Episode 1",
    }
    request = parse_metadata(json.dumps(document), DEFAULTS)
    assert request.src_video == "in/clip.mp4"
    assert request.options == JobOptions(
        frame_capture=True,
        archive_source=ArchiveClass.DEEP_ARCHIVE,
        ladder="hd",
        input_rotate=90,
        output_prefix="shows/ep1",
    )
    assert request.custom == {"title": "Episode 1"}


def test_metadata_keys_may_start_upper_case():
    """The original lower-cased the first letter of each key, so `FrameCapture` works."""
    request = parse_metadata(
        b'{"SrcVideo": "clip.mkv", "FrameCapture": "true", "Ladder": "hd"}', DEFAULTS
    )
    assert request.options.frame_capture is True
    assert request.options.ladder == "hd"


def test_metadata_without_overrides_keeps_defaults():
    """Only `srcVideo` is required; everything else falls back to the settings."""
    request = parse_metadata({"srcVideo": "clip.webm"}, DEFAULTS)
    assert request.options == DEFAULTS


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), ("270", 270), ("AUTO", "auto"), ("DEGREE_0", 0), ("degrees_180", 180)],
)
def test_input_rotate_spellings(value, expected):
    """Rotation accepts degrees, numeric strings, 'auto' and MediaConvert's names."""
    request = parse_metadata({"srcVideo": "a.mp4", "inputRotate": value}, DEFAULTS)
    assert request.options.input_rotate == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({"frameCapture": True}, "srcVideo is required"),
        ({"srcVideo": "  "}, "srcVideo is required"),
        ({"srcVideo": "notes.txt"}, "video extension"),
        ({"srcVideo": "a.mp4", "archiveSource": "TAPE"}, "archiveSource"),
        ({"srcVideo": "a.mp4", "jobTemplate": "ultra"}, "unknown ladder"),
        ({"srcVideo": "a.mp4", "inputRotate": 45}, "inputRotate"),
        ({"srcVideo": "a.mp4", "outputPrefix": "a/../b"}, "outputPrefix"),
        ({"srcVideo": "a.mp4", "frameCapture": "maybe"}, "frameCapture"),
    ],
)
def test_invalid_metadata_is_refused_with_a_readable_message(document, message):
    """Bad metadata raises one error whose message names the offending key in its spelling."""
    with pytest.raises(InvalidMetadataError, match=message):
        parse_metadata(document, DEFAULTS)


@pytest.mark.parametrize("prefix", [
    "../x", "a/../b", "./a", "/abs", "a//b", "a/", "", "a\\b", "u-" + "0" * 32 + "/x",
    "U-" + "A" * 32, "/".join("p" * 9), "x" * 257,
], ids=["parent", "inner-parent", "dot", "absolute", "empty-part", "trailing", "empty",
        "backslash", "namespace", "namespace-upper", "too-deep", "too-long"])
def test_an_output_prefix_is_relative_canonical_and_inside_the_namespace(prefix):
    """A custom prefix is relative to the submitter's namespace: refused, not rewritten, when
    it climbs out, is absolute, has empty parts, or names a namespace itself."""
    with pytest.raises(ValidationError, match="output_prefix"):
        JobOptions(output_prefix=prefix)
    assert JobOptions(output_prefix="shows/Season 1").output_prefix == "shows/Season 1"


def test_outputs_prefix_defaults_to_the_guid():
    """Without an override, outputs live under the job's guid."""
    assert DEFAULTS.outputs_prefix("1234") == "1234"
    assert DEFAULTS.model_copy(update={"output_prefix": "x/y"}).outputs_prefix("1234") == "x/y"


def test_rotation_override_is_none_for_auto():
    """'auto' trusts the file's display matrix; a number forces a rotation, 0 included."""
    assert JobOptions().rotation_override is None
    assert JobOptions(input_rotate=0).rotation_override == 0
    assert JobOptions(input_rotate=270).rotation_override == 270
