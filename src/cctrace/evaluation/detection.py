"""Person detection accuracy by box size, and zoomed clips made from real frames.

Recall and precision are counted per band of person box height (pixels): greedy one-to-one
matching at IoU 0.5 over all boxes of a frame, then a ground-truth box counts for the
band of its own height (recall) and a predicted box for the band of its own height
(precision). Ground-truth boxes marked *ignore* (people cut by a zoom crop) are neither
missed when undetected nor make a detection that overlaps them a false positive.

PETS S2L1 people are 40-170 px tall. :func:`make_zoom_clip` crops and enlarges real
frames so that people are 200-400 px tall or more (a near camera), transforming the
ground truth by the same crop and scale, and writes the clip with
:func:`cctrace.footage.writer.write_video` (so it goes through a real encode).
Tests and ``bench/person_detector.py`` share it; clips are made when needed, never
committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cctrace.boxes import iou_matrix

logger = logging.getLogger(__name__)

SIZE_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 80.0),
    (80.0, 150.0),
    (150.0, 300.0),
    (300.0, float("inf")),
)
"""Person box height bands in pixels: <80, 80-150, 150-300, >=300."""

VISIBLE_FRACTION = 0.6
"""A ground-truth box with less of its area inside a zoom crop is marked ignore."""


def band_label(band: tuple[float, float]) -> str:
    """``"<80"``, ``"80-150"``, ``">=300"``."""
    lo, hi = band
    if lo <= 0:
        return f"<{hi:g}"
    if hi == float("inf"):
        return f">={lo:g}"
    return f"{lo:g}-{hi:g}"


@dataclass
class BandCounts:
    """Matches per size band: ground truth found / total, detections right / total."""

    bands: tuple[tuple[float, float], ...] = SIZE_BANDS
    gt_hit: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_BANDS), int))
    gt_all: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_BANDS), int))
    pred_hit: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_BANDS), int))
    pred_all: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_BANDS), int))

    def _band(self, heights: np.ndarray) -> np.ndarray:
        lows = np.array([lo for lo, _ in self.bands])
        return np.clip(np.searchsorted(lows, heights, side="right") - 1, 0, len(self.bands) - 1)

    def add(
        self,
        pred: np.ndarray,
        gt: np.ndarray,
        ignore: np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> None:
        """Count one frame: ``pred`` and ``gt`` (N, 4) xyxy, ``ignore`` flags per gt box."""
        pred = np.asarray(pred, np.float64).reshape(-1, 4)
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        ignore = np.zeros(len(gt), bool) if ignore is None else np.asarray(ignore, bool)
        iou = iou_matrix(pred, gt)
        pred_matched = np.full(len(pred), -1)
        gt_matched = np.zeros(len(gt), bool)
        work = iou.copy()
        while work.size and work.max() >= threshold:
            pi, gj = np.unravel_index(int(np.argmax(work)), work.shape)
            pred_matched[pi] = gj
            gt_matched[gj] = True
            work[pi, :] = -1
            work[:, gj] = -1
        # Detections of ignored people (matched, or overlapping them) are not counted.
        counted = np.ones(len(pred), bool)
        for i in range(len(pred)):
            j = int(pred_matched[i])
            if j >= 0:
                counted[i] = not ignore[j]
            elif ignore.any() and iou[i, ignore].max() >= 0.3:
                counted[i] = False
        pred_band = self._band(pred[:, 3] - pred[:, 1])
        gt_band = self._band(gt[:, 3] - gt[:, 1])
        np.add.at(self.pred_all, pred_band[counted], 1)
        np.add.at(self.pred_hit, pred_band[counted & (pred_matched >= 0)], 1)
        np.add.at(self.gt_all, gt_band[~ignore], 1)
        np.add.at(self.gt_hit, gt_band[~ignore & gt_matched], 1)

    def recall(self) -> list[float | None]:
        """Recall per band (None where the band has no ground truth)."""
        return [h / a if a else None for h, a in zip(self.gt_hit, self.gt_all, strict=True)]

    def precision(self) -> list[float | None]:
        """Precision per band (None where nothing was detected in the band)."""
        return [h / a if a else None for h, a in zip(self.pred_hit, self.pred_all, strict=True)]

    def total(self) -> tuple[float, float]:
        """(recall, precision) over all bands."""
        return (
            float(self.gt_hit.sum()) / max(int(self.gt_all.sum()), 1),
            float(self.pred_hit.sum()) / max(int(self.pred_all.sum()), 1),
        )

    def recall_above(self, height: float) -> float | None:
        """Recall over the bands starting at or above ``height`` pixels."""
        sel = np.array([lo >= height for lo, _ in self.bands])
        total = int(self.gt_all[sel].sum())
        return float(self.gt_hit[sel].sum()) / total if total else None

    def rows(self) -> list[dict[str, object]]:
        """One dict per band: label, gt count, recall, detection count, precision."""
        return [
            {
                "band": band_label(band),
                "gt": int(self.gt_all[k]),
                "recall": self.recall()[k],
                "detections": int(self.pred_all[k]),
                "precision": self.precision()[k],
            }
            for k, band in enumerate(self.bands)
        ]


def evaluate_bands(
    detect: Callable[[np.ndarray], np.ndarray],
    frames: Mapping[int, np.ndarray],
    gt: Mapping[int, np.ndarray],
    ignore: Mapping[int, np.ndarray] | None = None,
) -> BandCounts:
    """Run ``detect`` (image -> (N, 4) xyxy) on every frame and count by size band."""
    counts = BandCounts()
    for index, frame in frames.items():
        truth = gt.get(index, np.zeros((0, 4), np.float32))
        flags = None if ignore is None else ignore.get(index)
        counts.add(detect(frame), truth, flags)
    return counts


def load_mot_boxes(path: Path) -> dict[int, np.ndarray]:
    """MOT ``frame,id,x,y,w,h,...`` boxes by 0-based frame index, (N, 4) xyxy."""
    boxes: dict[int, list[list[float]]] = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        f, _, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes.setdefault(int(f) - 1, []).append([x, y, x + w, y + h])
    return {k: np.asarray(v, np.float32) for k, v in boxes.items()}


def read_frames(video: Path, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """The wanted 0-based frames of a video (BGR), decoded with PyAV."""
    import av

    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    if not wanted:
        return frames
    last = max(wanted)
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= last:
                break
    return frames


@dataclass(frozen=True)
class ZoomCrop:
    """A crop (x0, y0, x1, y1) of one source frame enlarged to ``out_size`` (w, h)."""

    frame: int
    crop: tuple[int, int, int, int]
    out_size: tuple[int, int]

    @property
    def scale(self) -> float:
        """Output pixels per source pixel."""
        return self.out_size[0] / (self.crop[2] - self.crop[0])

    def transform(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source xyxy boxes -> (clipped output boxes, ignore flags), boxes entirely
        outside the crop removed (ignore: less than ``VISIBLE_FRACTION`` visible)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        x0, y0, x1, y1 = self.crop
        clipped = boxes.copy()
        clipped[:, [0, 2]] = np.clip(boxes[:, [0, 2]], x0, x1)
        clipped[:, [1, 3]] = np.clip(boxes[:, [1, 3]], y0, y1)
        area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1e-6, None), axis=1)
        visible = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), axis=1) / area
        keep = visible > 0
        out = (clipped[keep] - [x0, y0, x0, y0]) * self.scale
        return out.astype(np.float32), visible[keep] < VISIBLE_FRACTION


def plan_zoom_crops(
    gt: Mapping[int, np.ndarray],
    frame_size: tuple[int, int],
    frame_indices: Sequence[int],
    target_height: float,
    out_size: tuple[int, int] = (768, 576),
    min_height: float = 60.0,
) -> list[ZoomCrop]:
    """One crop per frame, centred on a person (taken in turn), enlarged so that this
    person is about ``target_height`` pixels tall in an ``out_size`` frame.

    People shorter than ``min_height`` in the source are not chosen (too blurred once
    enlarged). Frames with no such person are skipped.
    """
    width, height = frame_size
    aspect = out_size[0] / out_size[1]
    crops = []
    for n, index in enumerate(frame_indices):
        boxes = gt.get(index)
        if boxes is None:
            continue
        heights = boxes[:, 3] - boxes[:, 1]
        candidates = np.nonzero(heights >= min_height)[0]
        if len(candidates) == 0:
            continue
        person = boxes[candidates[n % len(candidates)]]
        scale = target_height / float(person[3] - person[1])
        ch = min(float(height), out_size[1] / scale)
        cw = min(float(width), ch * aspect)
        ch = cw / aspect
        cx, cy = (person[0] + person[2]) / 2, (person[1] + person[3]) / 2
        x0 = round(float(np.clip(cx - cw / 2, 0, width - cw)))
        y0 = round(float(np.clip(cy - ch / 2, 0, height - ch)))
        crops.append(ZoomCrop(index, (x0, y0, x0 + round(cw), y0 + round(ch)), out_size))
    return crops


@dataclass(frozen=True)
class ZoomClip:
    """A written clip and its ground truth, by 0-based frame of the clip."""

    path: Path
    gt: dict[int, np.ndarray]
    ignore: dict[int, np.ndarray]
    crops: tuple[ZoomCrop, ...]


def make_zoom_clip(
    frames: Mapping[int, np.ndarray],
    gt: Mapping[int, np.ndarray],
    crops: Sequence[ZoomCrop],
    out: Path,
    fps: float = 7.0,
) -> ZoomClip:
    """Crop and enlarge the frames, write them as a video and transform the ground truth.

    ``frames`` holds the source frames named by the crops (0-based index -> BGR). The clip's
    frame ``k`` is ``crops[k]``; boxes are cut to the crop and scaled (people less than
    60 % inside are marked ignore).
    """
    import cv2

    from cctrace.footage.writer import write_video

    images = []
    clip_gt: dict[int, np.ndarray] = {}
    clip_ignore: dict[int, np.ndarray] = {}
    for k, crop in enumerate(crops):
        x0, y0, x1, y1 = crop.crop
        images.append(
            cv2.resize(
                frames[crop.frame][y0:y1, x0:x1], crop.out_size, interpolation=cv2.INTER_CUBIC
            )
        )
        boxes, ignore = crop.transform(gt.get(crop.frame, np.zeros((0, 4), np.float32)))
        clip_gt[k], clip_ignore[k] = boxes, ignore
    write_video(out, images, fps)
    logger.info("wrote zoom clip %s (%d frames)", out, len(images))
    return ZoomClip(Path(out), clip_gt, clip_ignore, tuple(crops))


def read_clip(path: Path) -> dict[int, np.ndarray]:
    """Every frame of a clip (0-based index -> BGR)."""
    import av

    with av.open(str(path)) as container:
        return {i: f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0))}
