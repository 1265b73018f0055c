"""A user-supplied YOLO person detector in ONNX (``type: onnx-yolo``), sha256-pinned.

Site file::

    models:
      person_detector:
        type: onnx-yolo
        params:
          path: /opt/models/yolov8n.onnx          # absolute, or relative to the cwd
          sha256: ec454cf7...                     # 64 hex digits, checked at load
          input_size: 384                         # the model's input side (square)
          person_class: 0                         # COCO person

Accepted output layouts (the first output of the graph, ``B`` = batch):

=====================  =================  ============================================
``layout``             shape              rows
=====================  =================  ============================================
``yolov8`` (v8-v11)    [B, 4+nc, N]       cx, cy, w, h, nc class scores (no objectness)
``yolov8-transposed``  [B, N, 4+nc]       the same, one row per candidate
``yolov5``             [B, N, 5+nc]       cx, cy, w, h, objectness, nc class probs;
                                          score = objectness x class probability
``auto`` (default)     either             [B, C, N] with C < N is ``yolov8``; rows of
                                          4+nc / 5+nc columns by ``num_classes``
                                          (default 80: 84 -> ``yolov8-transposed``,
                                          85 -> ``yolov5``)
=====================  =================  ============================================

Boxes are in pixels of the network input (Ultralytics' exports), or fractions of it with
``normalised_boxes: true``. Exports with NMS built in (``nms=True``, [B, 300, 6]) are not
accepted. Input: one float32 NCHW RGB image in [0, 1], letterboxed to ``input_size`` with
grey (114) padding like Ultralytics (``letterbox: false`` stretches instead).
Tiles and a whole-frame pass work as for YOLOv3-tiny
(:class:`~cctrace.vision.tiled.TiledPersonDetector`); a model with a fixed input size runs
every pass at that size.

Parameters are validated strictly (:class:`OnnxYoloParams`): an unknown key, a missing
file or a malformed hash is a :class:`~cctrace.errors.ConfigError` at construction, a
file whose sha256 differs a :class:`~cctrace.errors.ModelError` at load naming the file,
the expected and the found hash.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cctrace.errors import ConfigError, ModelError
from cctrace.vision.registry import sha256_file
from cctrace.vision.runtime import create_session
from cctrace.vision.tiled import BoxesScores, TiledPersonDetector

logger = logging.getLogger(__name__)

Layout = Literal["auto", "yolov8", "yolov8-transposed", "yolov5"]
LETTERBOX_FILL = 114


class OnnxYoloParams(BaseModel):
    """Parameters of ``onnx-yolo`` (and of the plugins built on it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(..., description="The .onnx file")
    sha256: str = Field(..., description="Its sha256, 64 lowercase hex digits")
    input_size: int = Field(..., gt=0, multiple_of=32, description="Square input side, px")
    person_class: int = Field(0, ge=0, description="Class index of 'person' (COCO: 0)")
    num_classes: int | None = Field(None, ge=1, description="Classes the model outputs")
    layout: Layout = Field("auto", description="Output layout (see the module docs)")
    normalised_boxes: bool = Field(False, description="Boxes as fractions of the input")
    letterbox: bool = Field(True, description="Keep aspect with grey padding (Ultralytics)")
    conf_threshold: float = Field(0.25, ge=0, le=1)
    nms_threshold: float = Field(0.6, ge=0, le=1)
    tiles: tuple[int, int] = Field((1, 1), description="(columns, rows) of tiles")
    tile_overlap: float = Field(0.2, ge=0, lt=1)
    tile_full_frame: bool = True
    full_frame_size: int | None = Field(None, gt=0, multiple_of=32)
    full_frame_min_height: float = Field(0.0, ge=0, lt=1)
    min_box_height: float = Field(0.0, ge=0)
    threads: int | None = Field(None, ge=1)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.strip().lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
        return value

    @field_validator("path")
    @classmethod
    def _exists(cls, value: Path) -> Path:
        path = value.expanduser()
        if not path.is_file():
            raise ValueError(f"model file not found: {path}")
        return path.resolve()


def parse_params(kind: str, params: dict[str, Any]) -> OnnxYoloParams:
    """Validated parameters, or a :class:`ConfigError` listing every problem."""
    try:
        return OnnxYoloParams(**params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"person_detector {kind!r} params: {problems}") from exc


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """``image`` scaled to fit ``size`` x ``size`` and padded grey: (out, scale, dx, dy)."""
    import cv2

    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    dx, dy = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), LETTERBOX_FILL, np.uint8)
    out[dy : dy + nh, dx : dx + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, scale, float(dx), float(dy)


def decode_output(
    out: np.ndarray, layout: Layout, num_classes: int | None, person_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """A YOLO output [B, ...] -> (cx, cy, w, h rows (B, N, 4), person scores (B, N))."""
    out = np.asarray(out, np.float32)
    if out.ndim != 3:
        raise ModelError(
            f"YOLO output must have 3 dimensions [B, C, N] or [B, N, C]; got {out.shape}"
        )
    if layout == "auto":
        if out.shape[1] < out.shape[2]:
            layout = "yolov8"
        else:
            nc = num_classes or 80
            cols = out.shape[2]
            if cols == 4 + nc:
                layout = "yolov8-transposed"
            elif cols == 5 + nc:
                layout = "yolov5"
            else:
                raise ModelError(
                    f"cannot tell the YOLO output layout of shape {out.shape} for {nc} "
                    "classes: set params.num_classes or params.layout"
                )
    rows = np.transpose(out, (0, 2, 1)) if layout == "yolov8" else out
    cols = rows.shape[2]
    objectness = layout == "yolov5"
    first = 5 if objectness else 4
    if num_classes is not None and cols != first + num_classes:
        raise ModelError(
            f"YOLO output {out.shape} as {layout} has {cols - first} classes, "
            f"params.num_classes says {num_classes}"
        )
    if person_class >= cols - first:
        raise ModelError(
            f"person_class {person_class} out of range: the model has {cols - first} classes"
        )
    scores = rows[:, :, first + person_class]
    if objectness:
        scores = scores * rows[:, :, 4]
    return rows[:, :, :4], scores


class OnnxYoloPersonDetector(TiledPersonDetector):
    """A YOLOv5/v8-style ONNX detector given by the site (see the module docstring).

    Keyword arguments are :class:`OnnxYoloParams`. The model loads, and its sha256 is
    checked, on the first :meth:`detect`.
    """

    kind = "onnx-yolo"

    def __init__(self, **params: Any) -> None:
        p = parse_params(self.kind, params)
        super().__init__(
            input_size=p.input_size,
            conf_threshold=p.conf_threshold,
            nms_threshold=p.nms_threshold,
            tiles=p.tiles,
            tile_overlap=p.tile_overlap,
            tile_full_frame=p.tile_full_frame,
            full_frame_size=p.full_frame_size,
            full_frame_min_height=p.full_frame_min_height,
            min_box_height=p.min_box_height,
            threads=p.threads,
        )
        self.params = p
        self._session: Any = None
        self._input_name = ""
        self._batched = False

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                from cctrace.vision.person import _available_cores

                path, expected = self.params.path, self.params.sha256
                found = sha256_file(path)
                if found != expected:
                    raise ModelError(
                        f"{self.kind} model {path} has sha256 {found}, expected {expected} "
                        "(params.sha256): the file changed or is not the one configured"
                    )
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads or _available_cores()
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = create_session(str(path), options, f"{self.kind} model {path}")
                self._check_input(session, path)
                self._session = session
                logger.info("loaded %s model %s at %d px", self.kind, path.name, self.input_size)
            return self._session

    def _check_input(self, session: Any, path: Path) -> None:
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"{self.kind} model {path}: input must be [B, 3, H, W], got {shape}")
        sizes = {self.input_size, self.full_frame_size}
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        if fixed and any(set(fixed) != {s} for s in sizes):
            raise ModelError(
                f"{self.kind} model {path} takes {shape[2]}x{shape[3]} input; "
                f"params ask for {sorted(sizes)} (set input_size to match, and "
                "full_frame_size only for models with a dynamic input size)"
            )
        self._input_name = inp.name
        self._batched = not isinstance(shape[0], int)

    def _blob(self, crop: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float, float]:
        import cv2

        h, w = crop.shape[:2]
        if self.params.letterbox:
            image, scale, dx, dy = letterbox(crop, size)
            sx = sy = scale
        else:
            image = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
            sx, sy, dx, dy = size / w, size / h, 0.0, 0.0
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        blob = rgb.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return blob, sx, sy, dx, dy

    def _infer(self, crops: list[np.ndarray], input_wh: tuple[int, int]) -> list[BoxesScores]:
        session = self._load()
        size = input_wh[0]  # square inputs only (keep_full_frame_aspect is False)
        prepared = [self._blob(c, size) for c in crops]
        blobs = [p[0] for p in prepared]
        if self._batched:
            outputs = [np.asarray(session.run(None, {self._input_name: np.concatenate(blobs)})[0])]
        else:
            outputs = [np.asarray(session.run(None, {self._input_name: b})[0]) for b in blobs]
        cxcywh, scores = (
            np.concatenate(parts)
            for parts in zip(
                *(
                    decode_output(
                        o, self.params.layout, self.params.num_classes, self.params.person_class
                    )
                    for o in outputs
                ),
                strict=True,
            )
        )
        if self.params.normalised_boxes:
            cxcywh = cxcywh * size
        results = []
        for k, (_, sx, sy, dx, dy) in enumerate(prepared):
            keep = scores[k] >= self.conf_threshold
            cx, cy, bw, bh = cxcywh[k][keep].T
            xyxy = np.stack(
                [
                    (cx - bw / 2 - dx) / sx,
                    (cy - bh / 2 - dy) / sy,
                    (cx + bw / 2 - dx) / sx,
                    (cy + bh / 2 - dy) / sy,
                ],
                axis=1,
            )
            results.append((xyxy.astype(np.float32), scores[k][keep].astype(np.float32)))
        return results
