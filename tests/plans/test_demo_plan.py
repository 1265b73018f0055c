"""The demo's plan: a frame warped onto the ground plane lands where the calibration says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ruamel.yaml import YAML

from cctrace.footage.demo import DEMO_GROUND_POINTS
from cctrace.footage.writer import write_video, x264_options
from cctrace.geometry import GroundCalibration
from cctrace.plans.demo_plan import EXTENT_M, PX_PER_M, plaza_plan, write_demo_plan
from cctrace.plans.model import SitePlanConfig


def test_a_ground_spot_in_the_frame_is_at_its_metres_on_the_plan() -> None:
    calib = GroundCalibration.fit(
        [r[:2] for r in DEMO_GROUND_POINTS], [r[2:] for r in DEMO_GROUND_POINTS]
    )
    ground = np.array([[-5.0, 0.0]])
    image_h = np.linalg.inv(np.asarray(calib.matrix)) @ np.array([-5.0, 0.0, 1.0])
    u, v = image_h[:2] / image_h[2]
    assert np.allclose(calib.to_ground([(u, v)]), ground, atol=1e-6)
    frame = np.full((576, 768, 3), 128, np.uint8)
    frame[int(v) - 6 : int(v) + 7, int(u) - 6 : int(u) + 7] = (0, 0, 255)  # red (BGR)
    plan = plaza_plan(frame, DEMO_GROUND_POINTS)
    x0, _, _, y1 = EXTENT_M
    pu, pv = round((-5.0 - x0) * PX_PER_M), round((y1 - 0.0) * PX_PER_M)
    assert tuple(plan[pv, pu]) == (0, 0, 255)
    assert tuple(plan[0, 0]) == (255, 255, 255)  # beyond the camera's view


def test_write_demo_plan_makes_a_plan_the_site_file_accepts(tmp_path: Path) -> None:
    frames = [np.full((576, 768, 3), 90 + 10 * i, np.uint8) for i in range(3)]
    video = tmp_path / "clip.mp4"
    write_video(video, frames, 10, options=x264_options(lossless=True))
    text = write_demo_plan(tmp_path, video, DEMO_GROUND_POINTS)
    declared = YAML(typ="safe").load(text)["site_plan"]
    cfg = SitePlanConfig.model_validate(declared)
    picture = Image.open(tmp_path / cfg.image)
    x0, y0, x1, y1 = EXTENT_M
    assert picture.size == (round((x1 - x0) * PX_PER_M), round((y1 - y0) * PX_PER_M))
    placement = cfg.placement()
    assert placement.apply(*picture.size) == pytest.approx((x1, y0))  # north up, to scale
    assert placement.metres_per_pixel == pytest.approx(1 / PX_PER_M)
    assert placement.check_max_m < 1e-9
