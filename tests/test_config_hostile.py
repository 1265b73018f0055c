"""Site files a careless operator or an attacker might write: each is a clear error with
file and line at validate time, never a hang or a traceback at ingest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cctrace.config import load_site
from cctrace.errors import ConfigError

CAMERA = """\
cameras:
  - id: cam1
    location: {{x_m: {x}, y_m: 0}}
    footage: [clip.mp4]
    start_time: {start}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "x", "start", "message"),
    [
        ("ingest:\n  distance_bands_m: [-1, 2, 3]\n", "0", "2026-03-15T08:00:00Z", "band"),
        ("ingest:\n  distance_bands_m: [.nan, 2, 3]\n", "0", "2026-03-15T08:00:00Z", "band"),
        ("ingest:\n  distance_bands_m: [3, 2, 1]\n", "0", "2026-03-15T08:00:00Z", "band"),
        ("", ".inf", "2026-03-15T08:00:00Z", "finite"),
        ("", ".nan", "2026-03-15T08:00:00Z", "finite"),
        ("", "0", "9999-01-01T00:00:00Z", "start_time"),
        (
            "models:\n  face_detector: {type: retina-9000}\n",
            "0",
            "2026-03-15T08:00:00Z",
            "retina-9000",
        ),
        (
            "models:\n  mask_classifier: {type: mobilenetv2-head, params: {bogus: 1}}\n",
            "0",
            "2026-03-15T08:00:00Z",
            "bogus",
        ),
        (
            "models:\n  person_detector: {type: yolov3-tiny-int8, params: {tiles: lots}}\n",
            "0",
            "2026-03-15T08:00:00Z",
            "tiles must be two whole numbers",
        ),
    ],
)
def test_bad_values_fail_validation_with_a_line(
    tmp_path: Path, extra: str, x: str, start: str, message: str
) -> None:
    path = _write(tmp_path, CAMERA.format(x=x, start=start) + extra)
    with pytest.raises(ConfigError, match=message) as caught:
        load_site(path)
    assert f"{path}:" in str(caught.value)


def test_an_empty_footage_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    text = CAMERA.format(x="0", start="2026-03-15T08:00:00Z").replace("clip.mp4", "empty")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match="no video files"):
        load_site(path)


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    path = _write(tmp_path, bomb + CAMERA.format(x="0", start="2026-03-15T08:00:00Z"))
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias"):
        load_site(path)
    assert time.monotonic() - started < 5
