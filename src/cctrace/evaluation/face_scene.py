"""A clip made from real face photos: head-and-shoulders crops of real people
pasted onto a real (pedestrian-free) PETS2009 background, moved and scaled over time,
every frame JPEG-compressed and the whole encoded as H.264.

Only the footage is synthetic in layout; every face pixel comes from a real photo, so
search-in-video is exercised with real faces under resizing and two lossy codecs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av
import cv2
import numpy as np

from cctrace.vision import build_face_detector

FRAME_W, FRAME_H = 768, 576


@dataclass(frozen=True)
class Cutout:
    """A head-and-shoulders crop of a photo and where its face sits in the crop."""

    image: np.ndarray
    """BGR crop."""
    face_cx: float
    face_cy: float
    face_w: float


@dataclass(frozen=True)
class Appearance:
    """One person on screen from ``t0`` to ``t1`` seconds, moving and scaling linearly."""

    cutout: Cutout
    t0: float
    t1: float
    start_xy: tuple[float, float]
    """Face centre at ``t0``, frame pixels."""
    end_xy: tuple[float, float]
    start_face_w: float
    """Face width at ``t0``, pixels."""
    end_face_w: float

    def visible(self, t: float) -> bool:
        return self.t0 <= t <= self.t1

    def state(self, t: float) -> tuple[float, float, float]:
        """(face centre x, y, face width) at time ``t``."""
        a = (t - self.t0) / (self.t1 - self.t0)
        x = self.start_xy[0] + a * (self.end_xy[0] - self.start_xy[0])
        y = self.start_xy[1] + a * (self.end_xy[1] - self.start_xy[1])
        w = self.start_face_w + a * (self.end_face_w - self.start_face_w)
        return x, y, w


def cutout_from_photo(photo: Path) -> Cutout:
    """The largest face of ``photo`` with shoulders around it (YuNet finds the face)."""
    raw = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if raw is None:
        raise ValueError(f"{photo}: not readable")
    image = np.asarray(raw, np.uint8)
    faces = build_face_detector(max_side=1024).detect(image)
    if not faces:
        raise ValueError(f"{photo}: no face")
    face = max(faces, key=lambda f: f.width * f.score)
    x1, y1, x2, y2 = face.xyxy
    w, h = x2 - x1, y2 - y1
    ih, iw = image.shape[:2]
    cx0 = int(max(0, x1 - 1.0 * w))
    cx1 = int(min(iw, x2 + 1.0 * w))
    cy0 = int(max(0, y1 - 0.5 * h))
    cy1 = int(min(ih, y2 + 1.6 * h))
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    return Cutout(crop, (x1 + x2) / 2 - cx0, (y1 + y2) / 2 - cy0, w)


def pets_background(video: Path, samples: int = 31) -> np.ndarray:
    """The per-pixel median of frames spread over the clip: the scene without people."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        total = stream.frames or 795
        step = max(1, total // samples)
        frames: list[np.ndarray] = [
            np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
            for i, frame in enumerate(container.decode(stream))
            if i % step == 0
        ]
    background = np.median(np.stack(frames), axis=0).astype(np.uint8)
    return np.ascontiguousarray(cv2.resize(background, (FRAME_W, FRAME_H)))


def textured_background(seed: int = 0) -> np.ndarray:
    """A plain textured wall-and-floor background (when PETS is absent)."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(0, 1, FRAME_H)[:, None, None]
    base = (90 + 80 * ys) * np.ones((FRAME_H, FRAME_W, 3))
    coarse = rng.normal(0, 12, (FRAME_H // 8, FRAME_W // 8, 3))
    noise = cv2.resize(coarse, (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, cutout: Cutout, cx: float, cy: float, face_w: float) -> None:
    """Paste ``cutout`` scaled to ``face_w`` with its face centre at (cx, cy), feathered."""
    scale = face_w / cutout.face_w
    ch, cw = cutout.image.shape[:2]
    nw, nh = max(2, round(cw * scale)), max(2, round(ch * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    img = cv2.resize(cutout.image, (nw, nh), interpolation=interp).astype(np.float32)
    # A soft elliptical matte: the shoulders and head blend into the background.
    matte = np.zeros((nh, nw), np.float32)
    cv2.ellipse(matte, (nw // 2, nh // 2), (nw // 2 - 1, nh // 2 - 1), 0, 0, 360, 1.0, -1)
    k = max(3, (min(nw, nh) // 12) | 1)
    matte = cv2.GaussianBlur(matte, (k, k), 0)[..., None]
    x0 = round(cx - cutout.face_cx * scale)
    y0 = round(cy - cutout.face_cy * scale)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + nw), min(frame.shape[0], y0 + nh)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sub = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    a = matte[sub]
    frame[fy0:fy1, fx0:fx1] = np.clip(a * img[sub] + (1 - a) * region, 0, 255).astype(np.uint8)


def render(background: np.ndarray, people: Sequence[Appearance], t: float) -> np.ndarray:
    """One frame at ``t`` seconds."""
    frame = background.copy()
    for person in people:
        if person.visible(t):
            _paste(frame, person.cutout, *person.state(t))
    return frame


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` after a JPEG round trip at ``quality``."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)


def write_face_video(
    path: Path,
    background: np.ndarray,
    people: Sequence[Appearance],
    duration_s: float,
    fps: int = 10,
    jpeg_quality: int = 60,
    crf: int = 28,
) -> Path:
    """Render, JPEG-compress and H.264-encode the clip; return ``path``."""
    from cctrace.footage.writer import write_video, x264_options

    frames = (
        jpeg(render(background, people, i / fps), jpeg_quality)
        for i in range(round(duration_s * fps))
    )
    return write_video(path, frames, fps, options=x264_options(crf=crf, gop=2 * fps))


def write_clip_site(
    workdir: Path,
    name: str,
    camera_id: str,
    video: Path,
    start: datetime,
    camera_name: str | None = None,
    models_yaml: str = "",
) -> Path:
    """A one-camera, uncalibrated site over ``video`` analysed at 5 fps; returns its YAML.

    ``models_yaml`` is a top-level ``models:`` section ("" keeps the default models)."""
    site_path = workdir / "site.yaml"
    site_path.write_text(
        f"name: {name}\n"
        "cameras:\n"
        f"  - id: {camera_id}\n"
        + (f"    name: {camera_name}\n" if camera_name else "")
        + "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{video}]\n"
        f"    start_time: {start.isoformat().replace('+00:00', 'Z')}\n"
        "ingest:\n"
        "  analysis_fps: 5\n"
        "storage:\n"
        "  data_dir: data\n" + models_yaml
    )
    return site_path
