"""The demo site's plan: a PETS2009 frame seen from above.

The empty plaza (the median of frames across the clip, so walkers vanish) is warped
through its ground calibration onto the ground plane (:data:`PX_PER_M` pixels a metre,
north up): a bird's-eye picture of the plaza, a site plan drawn from the footage
itself. Ground beyond the camera's view, or too far away to be sharp, stays white.
Three corners of the picture, with their ground metres, are its reference points.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

PX_PER_M = 20.0
EXTENT_M = (-24.0, -19.0, 10.0, 14.0)
"""``(x_min, y_min, x_max, y_max)`` of the plaza the plan shows, metres."""
HORIZON_V = 110.0
"""Image rows above this (far away, a few pixels a metre) are left out of the plan."""


SAMPLE_EVERY = 40
"""Every this many frames is one sample of the median background."""


def empty_scene(video: Path) -> np.ndarray:
    """The per-pixel median of every :data:`SAMPLE_EVERY`-th frame (BGR): the scene
    without the people walking through it."""
    import av

    samples: list[np.ndarray] = []
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % SAMPLE_EVERY == 0:
                samples.append(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
    if not samples:
        raise ValueError(f"{video}: no frame")
    stack = np.stack(samples).astype(np.float32)
    return np.asarray(np.median(stack, axis=0), dtype=np.uint8)


def plaza_plan(frame: np.ndarray, ground_points: Sequence[Sequence[float]]) -> np.ndarray:
    """``frame`` (BGR) warped onto the ground plane: a BGR picture, x east, y north."""
    import cv2

    from cctrace.geometry import GroundCalibration

    rows = [tuple(float(v) for v in r) for r in ground_points]
    calib = GroundCalibration.fit([r[:2] for r in rows], [r[2:] for r in rows])
    x0, y0, x1, y1 = EXTENT_M
    width, height = round((x1 - x0) * PX_PER_M), round((y1 - y0) * PX_PER_M)
    # plan pixel -> ground metres -> image pixel
    plan_to_ground = np.array([[1 / PX_PER_M, 0.0, x0], [0.0, -1 / PX_PER_M, y1], [0.0, 0.0, 1.0]])
    ground_to_image = np.linalg.inv(np.asarray(calib.matrix, dtype=np.float64))
    plan_to_image = ground_to_image @ plan_to_ground
    masked = frame.copy()
    masked[: int(HORIZON_V)] = 255
    return cv2.warpPerspective(
        masked,
        plan_to_image,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )


def write_demo_plan(workdir: Path, video: Path, ground_points: Sequence[Sequence[float]]) -> str:
    """Write ``plans/plaza.png`` under ``workdir``; return the ``site_plan`` YAML."""
    import cv2

    target = workdir / "plans" / "plaza.png"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), plaza_plan(empty_scene(video), ground_points))
    x0, y0, x1, y1 = EXTENT_M
    w, h = (x1 - x0) * PX_PER_M, (y1 - y0) * PX_PER_M
    corners = [((0.0, 0.0), (x0, y1)), ((w, 0.0), (x1, y1)), ((0.0, h), (x0, y0))]
    points = "\n".join(
        f"    - {{pixel: [{u:g}, {v:g}], x_m: {x:g}, y_m: {y:g}}}" for (u, v), (x, y) in corners
    )
    return (
        "site_plan:   # the plaza from above: a frame warped onto the ground plane\n"
        "  image: plans/plaza.png\n"
        "  points:\n" + points + "\n"
    )
