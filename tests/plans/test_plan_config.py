"""``site_plan`` in the site file: validated like every other key, errors at their line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cctrace.config import load_site
from cctrace.errors import ConfigError
from cctrace.plans.storage import active_plan

HEAD = """\
cameras:
  - id: cam1
    location: {x_m: 0, y_m: 0}
    footage: [cam1.mp4]
storage:
  data_dir: data
"""


def _site(tmp_path: Path, plan: str) -> Path:
    Image.new("RGB", (400, 300), (200, 200, 200)).save(tmp_path / "plan.png")
    (tmp_path / "site.yaml").write_text(HEAD + plan)
    return tmp_path / "site.yaml"


GOOD = """\
site_plan:
  image: plan.png
  points:
    - {pixel: [50, 250], x_m: 0, y_m: 0}
    - {pixel: [350, 250], x_m: 30, y_m: 0}
"""


def test_a_declared_plan_is_loaded_and_in_force(tmp_path: Path) -> None:
    site = load_site(_site(tmp_path, GOOD), check_files=False)
    assert site.site_plan is not None
    assert site.site_plan.image == tmp_path / "plan.png"
    active = active_plan(site)
    assert active is not None and active.source == "site file"
    assert (active.width, active.height) == (400, 300)
    assert active.config.placement().apply(200, 150) == pytest.approx((15.0, 10.0))


@pytest.mark.parametrize(
    ("plan", "line", "words"),
    [
        (GOOD.replace("plan.png", "missing.png"), 8, "file not found"),
        (GOOD.replace("[350, 250]", "[950, 250]"), 11, "outside the image"),
        (GOOD.replace("x_m: 30, y_m: 0", "lat: 37.5, lon: 126.9"), 7, "every one in lat/lon"),
        (GOOD.replace("[350, 250], x_m: 30", "[52, 250], x_m: 30"), 7, "same place in the image"),
        (GOOD.replace("x_m: 30, y_m: 0", "x_m: 30"), 11, "give x_m and y_m"),
        (GOOD + "  colour: red\n", 12, "colour"),
        (GOOD.replace("    - {pixel: [350, 250], x_m: 30, y_m: 0}\n", ""), 9, "at least 2"),
    ],
)
def test_bad_declarations_name_the_line(tmp_path: Path, plan: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError, match=rf"site\.yaml:{line}: .*{words}"):
        load_site(_site(tmp_path, plan), check_files=False)


def test_a_declared_file_that_is_not_a_picture_is_refused(tmp_path: Path) -> None:
    path = _site(tmp_path, GOOD)
    (tmp_path / "plan.png").write_bytes(b"<html>not a plan</html>")
    with pytest.raises(ConfigError, match=r"site\.yaml:8: site_plan\.image: .*PNG, JPEG or SVG"):
        load_site(path, check_files=False)


def test_a_plan_file_gone_since_loading_falls_back_to_the_grid(tmp_path: Path) -> None:
    from cctrace.plans.storage import map_background

    site = load_site(_site(tmp_path, GOOD), check_files=False)
    (tmp_path / "plan.png").unlink()
    assert map_background(site) is None  # logged; pages and reports draw the grid
