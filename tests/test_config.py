"""Site configuration: strict validation with file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctrace.config import load_site
from cctrace.errors import ConfigError

GOOD = """\
name: plaza
cameras:
  - id: cam1
    name: Plaza north
    location: {x_m: 0, y_m: 0}
    footage: [clip.mp4]
    start_time: 2026-03-15T08:00:00+09:00
    source_fps: 7
    calibration:
      points:
        - [0, 0, 0, 0]
        - [100, 0, 2, 0]
        - [100, 100, 2, 2]
        - [0, 100, 0, 2]
      placement: {x_m: 10, y_m: 5, rotation_deg: 90}
ingest:
  analysis_fps: 5
trace:
  distance_m: 1.5
"""


def _write(tmp_path: Path, text: str, clip: bool = True) -> Path:
    if clip:
        (tmp_path / "clip.mp4").write_bytes(b"\0")
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_good_site_resolves_paths_and_utc(tmp_path: Path) -> None:
    site = load_site(_write(tmp_path, GOOD))
    cam = site.camera("cam1")
    assert cam.footage == [tmp_path / "clip.mp4"]
    assert cam.start_time is not None and cam.start_time.utcoffset().total_seconds() == 0
    assert cam.start_time.hour == 23
    assert site.storage.data_dir == tmp_path / "cctrace-data"
    assert site.ingest.analysis_fps == 5
    assert site.trace.distance_m == 1.5
    assert cam.calibration is not None
    assert cam.calibration.homography().median_error_m < 1e-6


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("    source_fps: 7\n", "    source_fps: 7\n    colour: red\n", 9, "Extra inputs"),
        ("        - [0, 100, 0, 2]\n", "", 10, "at least 4"),
        ("        - [0, 100, 0, 2]\n", "        - [200, 0, 4, 0]\n", 10, "degenerate"),
        ("        - [0, 100, 0, 2]\n", "        - [0, 100, 0]\n", 14, "at least 4 items"),
        ("  analysis_fps: 5\n", "  analysis_fps: -1\n", 17, "greater than 0"),
        ("    location: {x_m: 0, y_m: 0}\n", "    location: {x_m: 0}\n", 5, "x_m and y_m"),
        ("2026-03-15T08:00:00+09:00", "2026-03-15T08:00:00", 7, "time zone"),
        ("  - id: cam1\n", "  - id: 'cam 1'\n", 3, "pattern"),
        ("    source_fps: 7\n", "    source_fps: 7\n    timezone: Mars/Base\n", 9, "time zone"),
        ("  distance_m: 1.5\n", "  distance_m: far\n", 19, "valid number"),
        ("      placement:", "      principal_point_px: [320]\n      placement:", 15, "at least 2"),
        ("      placement:", "      principal_point_px: [.nan, 2]\n      placement:", 15, "finite"),
        ("  analysis_fps: 5\n", "  analysis_fps: 5\n  tracker: ocsort\n", 18, "tracker: bytetrack"),
        ("  analysis_fps: 5\n", "  analysis_fps: 5\n  tracker: sort\n", 18, "removed with the"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_site(path)
    text = str(info.value)
    assert f"{path}:{line}:" in text
    assert message in text


def test_missing_footage_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, clip=False)
    with pytest.raises(ConfigError, match=r"site.yaml:6: footage not found"):
        load_site(path)


@pytest.mark.parametrize("text", ["- just\n- a list\n", "cameras: [\n", ""])
def test_malformed_yaml(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_site(_write(tmp_path, text))


def test_duplicate_camera_ids(tmp_path: Path) -> None:
    cams = GOOD.split("cameras:\n")[1].split("ingest:")[0]
    text = GOOD.replace("ingest:", cams + "ingest:", 1)
    with pytest.raises(ConfigError, match="more than once"):
        load_site(_write(tmp_path, text))


def test_unknown_camera(tmp_path: Path) -> None:
    site = load_site(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"unknown camera 'nope'.*cam1"):
        site.camera("nope")


def test_example_site_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "site.yaml"
    site = load_site(example, check_files=False)
    assert [c.id for c in site.cameras] == ["exit-2", "kiosk"]
    assert site.cameras[1].calibration is None
