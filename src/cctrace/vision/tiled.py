"""Tiles plus a whole-frame pass for person detectors, and how their boxes are merged.

Small, far people need more pixels than a whole frame squeezed into one network input
gives them, so a frame is cut into overlapping tiles (``tiles=(2, 1)``: two side by side).
A near-camera person taller or wider than a tile is then seen only in halves, each
weak or missed. The whole frame is therefore also run, at its own (smaller) input size
``full_frame_size``: a big person is easy to see even at 256-320 px. Only its boxes at
least ``full_frame_min_height`` (a fraction of the frame height) tall are kept: the
tiles see smaller people better.

Merging (:func:`suppress_parts`), for each whole-frame box and the tile boxes inside
it (``CONTAIN_FRACTION`` of their area): tile boxes that are *whole* (not cut by a tile
edge and at least ``PART_HEIGHT`` of the big box's height) are people the tiles saw at a
finer scale. Two or more whole boxes side by side (``SIDE_BY_SIDE_OVERLAP``) are people
that the coarse pass merged: the big box is dropped and they stay. A big box thinner than
a person (``STACKED_ASPECT``) holding two or more uncut tile boxes is people one behind
the other: it goes too. Otherwise, for a big box under half the frame height
(``TILE_PREFERRED_BELOW``) the whole tile boxes stay and the big box goes; for a taller
one the more confident of it and the best whole tile box stays and the other parts go.
No whole box: the tile boxes are halves or partial views of a big person (cut by the
seam, or short) and are dropped, the big box stays. Plain NMS then runs over what is left.

Two people one behind the other (the nearer hiding part of the farther) are one box to
the coarse pass, and their two boxes overlap too much for the side-by-side rule. When the
tiles saw both whole and surely (each scored at least ``BEHIND_SCORE``, the two boxes
overlapping by less than ``BEHIND_MAX_IOU``, the farther one's feet higher up), both
stay and the big box goes.

With ``full_frame_fuse_size`` the whole frame is run at a second input size too, and the
two passes' boxes are fused (:func:`fuse_passes`: per person, the score-weighted mean of
each pass's best box), which places big boxes better than either pass alone. Zoomed
PETS clips (people 150-500 px; ``bench/person_detector.py --bands``): recall of people
>= 150 px 0.847 -> 0.868 with both changes, precision 0.90-0.91 -> 0.93; PETS S2L1 and
S3-MF1 unchanged (the whole-frame pass runs only where someone is tall).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from cctrace.types import Detections, Image
from cctrace.vision.checks import check_image

logger = logging.getLogger(__name__)

SEAM_MARGIN_PX = 3.0
"""A box within this distance of a tile's inner edge was cut by the tile."""
CONTAIN_FRACTION = 0.7
"""A tile box with this fraction of its area inside a whole-frame box lies inside it."""
PART_HEIGHT = 0.6
"""A contained tile box at least this fraction of the big box's height may be a person."""
TILE_PREFERRED_BELOW = 0.5
"""A person shorter than this fraction of the frame, seen whole by a tile, keeps the tile's
box (finer scale) over the whole-frame pass's; taller, the more confident box stays."""
SIDE_BY_SIDE_OVERLAP = 0.5
"""Two whole tile boxes inside one whole-frame box whose horizontal overlap is less than
this fraction of the narrower one are two people side by side (the coarse pass merged
them)."""

BEHIND_SCORE = 0.5
"""Two whole tile boxes inside one whole-frame box, each scored at least this..."""
BEHIND_MAX_IOU = 0.5
"""...and overlapping each other by less than this IoU, with feet at least
``BEHIND_FOOT_GAP`` apart, are two people one behind the other that the coarse pass
merged: both stay, the big box goes."""
BEHIND_FOOT_GAP = 0.1
"""The farther of two people stands higher up in the image: their boxes' bottoms differ by
at least this fraction of the taller box. Two views of one person near the tile seam
(the arm in one, the legs in the other) end at the same feet and stay one person."""
FUSE_IOU = 0.55
"""Boxes of the whole-frame passes overlapping the best remaining box by at least this IoU
are the same person to :func:`fuse_passes`."""

STACKED_ASPECT = 4.5
"""A whole-frame box taller than this many times its width, holding two or more uncut tile
boxes, is people one behind the other that the coarse pass merged (a person is 2-4x)."""

UNIFORM_STD = 2.0
"""A box whose pixels vary less than this (standard deviation, 0-255 grey levels) covers a
flat region (a blank wall, a lens cap, an upscaled 2x2 clip): no person can be seen there,
whatever the network says, so it is dropped."""
UNIFORM_SAMPLES = 32
"""Pixels sampled per side of a box for :func:`uniform_boxes` (it stays cheap for big ones)."""

BoxesScores = tuple[np.ndarray, np.ndarray]


def uniform_boxes(image: Image, xyxy: np.ndarray, max_std: float = UNIFORM_STD) -> np.ndarray:
    """Boolean mask of the boxes (xyxy, pixels, clipped to the image) whose region is
    flat: every channel's standard deviation over a grid of samples below ``max_std``."""
    out = np.zeros(len(xyxy), bool)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(xyxy, np.float64).reshape(-1, 4)):
        c0, r0 = int(x1), int(y1)
        c1, r1 = max(c0 + 1, int(np.ceil(x2))), max(r0 + 1, int(np.ceil(y2)))
        region = image[r0:r1, c0:c1]
        if region.size == 0:
            out[i] = True
            continue
        step_r = max(1, region.shape[0] // UNIFORM_SAMPLES)
        step_c = max(1, region.shape[1] // UNIFORM_SAMPLES)
        sample = region[::step_r, ::step_c].reshape(-1, region.shape[2] if region.ndim == 3 else 1)
        out[i] = bool(np.all(sample.astype(np.float32).std(axis=0) < max_std))
    return out


def tile_origins(length: int, tile: int, count: int) -> list[int]:
    """Start offsets of ``count`` tiles of side ``tile`` spread evenly over ``length``."""
    if count <= 1 or tile >= length:
        return [0]
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def tile_windows(
    h: int, w: int, tiles: tuple[int, int], overlap: float
) -> list[tuple[int, int, int, int]]:
    """Tile windows (x0, y0, x1, y1) covering a ``w`` x ``h`` frame."""
    cols, rows = tiles
    tw = min(w, round(w / (cols - (cols - 1) * overlap)))
    th = min(h, round(h / (rows - (rows - 1) * overlap)))
    return [
        (x0, y0, x0 + tw, y0 + th)
        for y0 in tile_origins(h, th, rows)
        for x0 in tile_origins(w, tw, cols)
    ]


def cut_by_tile_edge(
    xyxy: np.ndarray, window: tuple[int, int, int, int], width: int, height: int
) -> np.ndarray:
    """True for boxes that touch an edge of the tile that is not an edge of the image."""
    x0, y0, x1, y1 = window
    m = SEAM_MARGIN_PX
    left = (x0 > 0) & (xyxy[:, 0] <= x0 + m)
    right = (x1 < width) & (xyxy[:, 2] >= x1 - m)
    top = (y0 > 0) & (xyxy[:, 1] <= y0 + m)
    bottom = (y1 < height) & (xyxy[:, 3] >= y1 - m)
    return np.asarray(left | right | top | bottom)


def _intersections(box: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    return ix * iy, iy


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)


def mend_tile_seams(
    xyxy: np.ndarray, conf: np.ndarray, cut: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fix people split by a tile seam; returns boxes, scores and their ``cut`` flags.

    A box cut by a tile edge is dropped when another box already covers most of
    it (the neighbouring tile saw the whole person); otherwise it is merged with
    an overlapping box that spans the same height (the two halves of one person).
    A merged box is no longer marked cut.
    """
    boxes = xyxy.copy()
    conf = conf.copy()
    cut = cut.copy()
    alive = np.ones(len(boxes), bool)
    area = _areas(boxes)
    for i in np.nonzero(cut)[0]:
        if not alive[i]:
            continue
        inter, iy = _intersections(boxes[i], boxes)
        inter[i] = 0
        inter[~alive] = 0
        covered = inter / area[i]
        if covered.max() >= 0.5 and not cut[int(covered.argmax())]:
            alive[i] = False
            continue
        union_h = np.maximum(boxes[i, 3], boxes[:, 3]) - np.minimum(boxes[i, 1], boxes[:, 1])
        same_height = (iy / np.maximum(union_h, 1e-6)) >= 0.6
        partner = np.nonzero((inter > 0) & same_height & cut & alive)[0]
        partner = partner[partner != i]
        if len(partner):
            j = int(partner[np.argmax(inter[partner])])
            boxes[j] = [
                min(boxes[i, 0], boxes[j, 0]),
                min(boxes[i, 1], boxes[j, 1]),
                max(boxes[i, 2], boxes[j, 2]),
                max(boxes[i, 3], boxes[j, 3]),
            ]
            conf[j] = max(conf[i], conf[j])
            cut[j] = False
            alive[i] = False
    return boxes[alive], conf[alive], cut[alive]


def fuse_passes(passes: list[BoxesScores], iou: float = FUSE_IOU) -> BoxesScores:
    """One box per person from several passes over the same image (boxes before NMS).

    Greedily by score: the best remaining box and every remaining box overlapping it by
    ``iou`` or more form a group; the group's box is the score-weighted mean of each
    pass's best box in it, its score the best score. A single pass comes back as plain
    NMS at ``iou``.
    """
    boxes = [np.asarray(b, np.float32).reshape(-1, 4) for b, _ in passes]
    scores = [np.asarray(c, np.float32).reshape(-1) for _, c in passes]
    xyxy = np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32)
    conf = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    source = np.concatenate(
        [np.zeros(0, np.int64), *(np.full(len(b), k, np.int64) for k, b in enumerate(boxes))]
    )
    used = np.zeros(len(xyxy), bool)
    out_boxes: list[np.ndarray] = []
    out_scores: list[float] = []
    area = _areas(xyxy) if len(xyxy) else np.zeros(0)
    for i in np.argsort(-conf, kind="stable"):
        if used[i]:
            continue
        inter, _ = _intersections(xyxy[i], xyxy)
        overlap = inter / np.maximum(area[i] + area - inter, 1e-6)
        group = np.nonzero((overlap >= iou) & ~used)[0]
        used[group] = True
        best = [
            g[np.argmax(conf[g])]
            for k in np.unique(source[group])
            for g in [group[source[group] == k]]
        ]
        weights = conf[best]
        out_boxes.append(
            (xyxy[best] * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-6)
        )
        out_scores.append(float(conf[i]))
    return (
        np.asarray(out_boxes, np.float32).reshape(-1, 4),
        np.asarray(out_scores, np.float32),
    )


def suppress_parts(
    tile_xyxy: np.ndarray,
    tile_conf: np.ndarray,
    tile_cut: np.ndarray,
    full_xyxy: np.ndarray,
    full_conf: np.ndarray,
    frame_height: float = float("inf"),
) -> BoxesScores:
    """Containment-aware merge of tile boxes with whole-frame boxes (module docstring).

    Returns the surviving boxes of both passes, tile boxes first; plain NMS still
    has to run over them for duplicates of the same person.
    """
    keep_tile = np.ones(len(tile_xyxy), bool)
    keep_full = np.ones(len(full_xyxy), bool)
    if len(tile_xyxy) and len(full_xyxy):
        tile_area = _areas(tile_xyxy)
        tile_h = tile_xyxy[:, 3] - tile_xyxy[:, 1]
        left = np.maximum(tile_xyxy[:, None, 0], tile_xyxy[None, :, 0])
        right = np.minimum(tile_xyxy[:, None, 2], tile_xyxy[None, :, 2])
        width = tile_xyxy[:, 2] - tile_xyxy[:, 0]
        narrower = np.maximum(np.minimum(width[:, None], width[None, :]), 1e-6)
        apart = np.clip(right - left, 0, None) / narrower < SIDE_BY_SIDE_OVERLAP
        for j in np.argsort(-full_conf, kind="stable"):
            big = full_xyxy[j]
            inter, _ = _intersections(big, tile_xyxy)
            inside = (inter / tile_area >= CONTAIN_FRACTION) & keep_tile
            if not inside.any():
                continue
            tall = inside & ~tile_cut & (tile_h >= PART_HEIGHT * (big[3] - big[1]))
            idx = np.nonzero(tall)[0]
            if len(idx) >= 2 and apart[np.ix_(idx, idx)].any():
                keep_full[j] = False  # the coarse pass merged people standing side by side
                continue
            uncut = inside & ~tile_cut
            if uncut.sum() >= 2 and (big[3] - big[1]) > STACKED_ASPECT * (big[2] - big[0]):
                keep_full[j] = False  # people one behind the other, merged into a thin box
                continue
            if len(idx):
                # One person seen whole by both passes: the more confident box stays,
                # with the other parts inside the big box.
                best = idx[np.argmax(tile_conf[idx])]
                small = big[3] - big[1] < TILE_PREFERRED_BELOW * frame_height
                if small:
                    # The tiles see people this size well: their whole boxes all stay (one
                    # person behind another too; NMS removes duplicates), the big box goes.
                    keep_full[j] = False
                    inside[idx] = False
                else:
                    behind = _people_behind(tile_xyxy, tile_conf, idx, best)
                    if len(behind):
                        # Two people one behind the other, each seen whole and surely by
                        # the tiles: both stay, the merged big box goes.
                        keep_full[j] = False
                        inside[best] = False
                        inside[behind] = False
                    elif tile_conf[best] >= full_conf[j]:
                        keep_full[j] = False
                        inside[best] = False
            keep_tile &= ~inside
    return (
        np.concatenate([tile_xyxy[keep_tile], full_xyxy[keep_full]]).astype(np.float32),
        np.concatenate([tile_conf[keep_tile], full_conf[keep_full]]).astype(np.float32),
    )


def _people_behind(xyxy: np.ndarray, conf: np.ndarray, whole: np.ndarray, best: int) -> np.ndarray:
    """Of the ``whole`` tile boxes (indices), those that are surely another person than
    ``best``: both scored at least ``BEHIND_SCORE``, overlapping by less than
    ``BEHIND_MAX_IOU``, feet ``BEHIND_FOOT_GAP`` apart. Empty when ``best`` is not sure."""
    if conf[best] < BEHIND_SCORE:
        return np.zeros(0, np.int64)
    others = whole[(whole != best) & (conf[whole] >= BEHIND_SCORE)]
    if not len(others):
        return others
    inter, _ = _intersections(xyxy[best], xyxy[others])
    union = _areas(xyxy[best][None])[0] + _areas(xyxy[others]) - inter
    heights = np.maximum(xyxy[others, 3] - xyxy[others, 1], xyxy[best, 3] - xyxy[best, 1])
    feet_apart = np.abs(xyxy[others, 3] - xyxy[best, 3]) >= BEHIND_FOOT_GAP * heights
    return others[(inter / np.maximum(union, 1e-6) < BEHIND_MAX_IOU) & feet_apart]


class TiledPersonDetector:
    """Tiles, a whole-frame pass, seam mending, containment-aware merging and NMS.

    A subclass implements :meth:`_infer`: person boxes (xyxy, pixels of each crop) and
    scores for a list of crops, each resized to ``size`` (width, height) by the subclass.

    Args:
        input_size: network input side for the tiles (or the whole frame when
            ``tiles`` is (1, 1)), a multiple of 32.
        conf_threshold: minimum person score.
        nms_threshold: IoU above which overlapping boxes are suppressed.
        tiles: (columns, rows) of overlapping tiles; (1, 1) runs the whole frame only.
        tile_overlap: fraction by which neighbouring tiles overlap.
        tile_full_frame: with tiles, also run the whole frame (near, large people).
        full_frame_size: input side of that whole-frame pass (multiple of 32); None:
            ``input_size``. Where the backend allows (``keep_full_frame_aspect``) it is
            the long side and the short side keeps the frame's aspect (768x576 at 320:
            320x256 input, a fifth cheaper than 320x320).
        full_frame_min_height: keep whole-frame boxes at least this fraction of the
            frame height tall (smaller people come from the tiles); 0 keeps all.
        full_frame_fuse_size: also run the whole frame at this input size (multiple of
            32, long side as ``full_frame_size``) and fuse the two passes' boxes
            (:func:`fuse_passes`); None: one whole-frame pass.
        full_frame_trigger: run the whole-frame pass only when a tile box is at least
            this fraction of the frame height tall, or the tiles found nobody; 0 runs it
            on every frame (see :meth:`_needs_full_pass`).
        min_box_height: drop boxes shorter than this many pixels.
        threads: inference threads (backend-specific); None leaves the default.
    """

    def __init__(
        self,
        input_size: int = 416,
        conf_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        tiles: tuple[int, int] = (1, 1),
        tile_overlap: float = 0.2,
        tile_full_frame: bool = True,
        full_frame_size: int | None = None,
        full_frame_min_height: float = 0.0,
        min_box_height: float = 0.0,
        threads: int | None = None,
        full_frame_trigger: float = 0.0,
        full_frame_fuse_size: int | None = None,
    ) -> None:
        if not 0.0 <= full_frame_trigger < 1.0:
            raise ValueError(f"full_frame_trigger must be in [0, 1), got {full_frame_trigger}")
        self.full_frame_trigger = full_frame_trigger
        for name, size in (
            ("input_size", input_size),
            ("full_frame_size", full_frame_size),
            ("full_frame_fuse_size", full_frame_fuse_size),
        ):
            if size is not None and (size <= 0 or size % 32):
                raise ValueError(f"{name} must be a positive multiple of 32, got {size}")
        if not 0.0 <= conf_threshold <= 1.0 or not 0.0 <= nms_threshold <= 1.0:
            raise ValueError("conf_threshold and nms_threshold must be within [0, 1]")
        if not (
            isinstance(tiles, list | tuple)
            and len(tiles) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in tiles)
        ):
            raise ValueError(f"tiles must be two whole numbers [columns, rows], got {tiles!r}")
        cols, rows = tiles
        if cols < 1 or rows < 1:
            raise ValueError(f"tiles must be >= (1, 1), got {tiles}")
        if not 0.0 <= tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {tile_overlap}")
        if not 0.0 <= full_frame_min_height < 1.0:
            raise ValueError(
                f"full_frame_min_height must be in [0, 1), got {full_frame_min_height}"
            )
        self.input_size = input_size
        self.conf_threshold = conf_threshold
        self.nms_threshold = nms_threshold
        self.tiles = (int(cols), int(rows))
        self.tile_overlap = tile_overlap
        self.tile_full_frame = tile_full_frame
        self.full_frame_size = full_frame_size or input_size
        self.full_frame_min_height = full_frame_min_height
        self.full_frame_fuse_size = full_frame_fuse_size
        self.min_box_height = min_box_height
        self.threads = threads
        self._lock = threading.Lock()

    keep_full_frame_aspect = False
    """True where the network takes any multiple of 32 for width and height."""

    def _infer(self, crops: list[np.ndarray], size: tuple[int, int]) -> list[BoxesScores]:
        """Person boxes (xyxy in crop pixels) and scores for each crop at input ``size``
        (width, height)."""
        raise NotImplementedError

    def full_frame_input(self, h: int, w: int, side: int | None = None) -> tuple[int, int]:
        """(width, height) of the whole-frame pass's input for an ``h`` x ``w`` frame
        (long side ``side``, default ``full_frame_size``)."""
        side = side or self.full_frame_size
        if not self.keep_full_frame_aspect:
            return side, side
        short = max(32, round(side * min(h, w) / max(h, w) / 32) * 32)
        return (side, short) if w >= h else (short, side)

    def _first_inputs(self, image: Image) -> list[np.ndarray]:
        """The crops of ``image`` that the first inference call runs at ``input_size``:
        the whole frame (no tiles), else the tiles (and the whole frame when its pass
        has the tiles' input size)."""
        if self.tiles == (1, 1):
            return [image]
        h, w = image.shape[:2]
        windows = tile_windows(h, w, self.tiles, self.tile_overlap)
        crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
        full_in_batch = self.tile_full_frame and self.full_frame_input(h, w) == (
            self.input_size,
            self.input_size,
        )
        return [*crops, image] if full_in_batch else crops

    def _passes(
        self, image: Image, first: list[BoxesScores] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, BoxesScores | None]:
        """Tile boxes, scores and cut flags after seam mending; whole-frame boxes.
        ``first``: the results of :meth:`_first_inputs` when already inferred (batch)."""
        h, w = image.shape[:2]
        tile_size = (self.input_size, self.input_size)
        if first is None:
            first = self._infer(self._first_inputs(image), tile_size)
        if self.tiles == (1, 1):
            xyxy, conf = first[0]
            return xyxy, conf, np.zeros(len(xyxy), bool), None
        windows = tile_windows(h, w, self.tiles, self.tile_overlap)
        full_size = self.full_frame_input(h, w)
        full_in_batch = self.tile_full_frame and full_size == tile_size
        results = list(first)
        full: BoxesScores | None = None
        if full_in_batch:
            full = results.pop()
        boxes, scores, cut = [], [], []
        for (x0, y0, x1, y1), (xyxy, conf) in zip(windows, results, strict=True):
            xyxy = xyxy + np.array([x0, y0, x0, y0], np.float32)
            boxes.append(xyxy)
            scores.append(conf)
            cut.append(cut_by_tile_edge(xyxy, (x0, y0, x1, y1), w, h))
        xyxy, conf, flags = mend_tile_seams(
            np.concatenate(boxes), np.concatenate(scores), np.concatenate(cut)
        )
        if self.tile_full_frame and not full_in_batch and self._needs_full_pass(xyxy, h):
            full = self._infer([image], full_size)[0]
        if full is not None and self.full_frame_fuse_size:
            second = self._infer([image], self.full_frame_input(h, w, self.full_frame_fuse_size))
            full = fuse_passes([full, second[0]])
        if full is not None and self.full_frame_min_height > 0:
            tall = full[0][:, 3] - full[0][:, 1] >= self.full_frame_min_height * h
            full = (full[0][tall], full[1][tall])
        return xyxy, conf, flags, full

    def _needs_full_pass(self, tile_boxes: np.ndarray, frame_height: int) -> bool:
        """Whether the whole-frame pass can find anything the tiles did not: only when a
        tile box is tall (a near-camera person, seen whole or in part, is at least
        ``full_frame_trigger`` of the frame height in some tile) or the tiles found nobody
        (someone so close that no tile recognises them). Small far people alone, the usual
        CCTV case, skip it (``full_frame_trigger`` 0: always run it)."""
        if self.full_frame_trigger <= 0 or len(tile_boxes) == 0:
            return True
        heights = tile_boxes[:, 3] - tile_boxes[:, 1]
        return bool(np.any(heights >= self.full_frame_trigger * frame_height))

    def detect(self, image: Image) -> Detections:
        """Person boxes (class_id 0) with confidences, in image pixels, best first."""
        check_image(image)
        return self._finish(image, *self._passes(image))

    def detect_batch(self, images: list[Image]) -> list[Detections]:
        """:meth:`detect` for several frames (e.g. one per camera), the first inference
        (tiles, or whole frames) of all of them in one batch: what a GPU needs to be
        busy. The same boxes as :meth:`detect` frame by frame (up to the backend's
        batch-size arithmetic); the conditional whole-frame passes still run per frame."""
        for image in images:
            check_image(image)
        inputs = [self._first_inputs(image) for image in images]
        flat = [crop for crops in inputs for crop in crops]
        results = self._infer(flat, (self.input_size, self.input_size)) if flat else []
        out: list[Detections] = []
        start = 0
        for image, crops in zip(images, inputs, strict=True):
            first = results[start : start + len(crops)]
            start += len(crops)
            out.append(self._finish(image, *self._passes(image, first)))
        return out

    def _finish(
        self,
        image: Image,
        xyxy: np.ndarray,
        conf: np.ndarray,
        cut: np.ndarray,
        full: BoxesScores | None,
    ) -> Detections:
        """Merge the passes of one frame: parts, clipping, flat regions, NMS."""
        import cv2

        h, w = image.shape[:2]
        if full is not None:
            xyxy, conf = suppress_parts(xyxy, conf, cut, *full, frame_height=h)
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4).copy()
        conf = np.asarray(conf, np.float32).reshape(-1)
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        valid = (xyxy[:, 3] - xyxy[:, 1] > max(self.min_box_height, 1.0)) & (
            xyxy[:, 2] - xyxy[:, 0] > 1.0
        )
        xyxy, conf = xyxy[valid], conf[valid]
        if len(xyxy):
            flat = uniform_boxes(image, xyxy)
            if flat.any():
                logger.debug("dropped %d person box(es) over a flat region", int(flat.sum()))
                xyxy, conf = xyxy[~flat], conf[~flat]
        if len(xyxy) == 0:
            return Detections.empty()
        xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
        keep = cv2.dnn.NMSBoxes(
            xywh.tolist(), conf.tolist(), self.conf_threshold, self.nms_threshold
        )
        idx = np.asarray(keep, dtype=np.int64).reshape(-1)
        idx = idx[np.argsort(-conf[idx], kind="stable")]
        return Detections.create(xyxy[idx], conf[idx])
