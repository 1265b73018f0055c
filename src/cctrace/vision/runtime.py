"""Where the models run: the compute device and the one onnxruntime session factory.

Every ONNX model of an ingest (person detector, mask classifier, re-ID body embedder,
``onnx-yolo`` detectors) gets its session from :func:`create_session`, which asks for
onnxruntime's ``CUDAExecutionProvider`` when the device is ``cuda`` (or ``auto`` and
CUDA is present) and the CPU provider otherwise, and logs the provider each model got.

The device is a process-wide choice, because models load lazily in the worker that
uses them: :func:`use_device` sets it (the ingest workers call it with the site's
``runtime.device``), ``$CCTRACE_DEVICE`` overrides the site file, and the default is
``auto``. ``cuda`` on a machine without CUDA is a :class:`DeviceError` naming what is
missing (:func:`check_device`, called by ``cctrace validate`` and ``cctrace ingest``),
never a traceback from deep inside a model load.

YuNet and SFace (faces) run in OpenCV's DNN module, which has its own CUDA backend
only when OpenCV itself is built with CUDA (the PyPI wheels are not):
:func:`opencv_dnn_target` picks it when it can and says so otherwise.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Literal, cast, get_args

from cctrace.errors import ModelError

logger = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
"""A requested device: ``auto`` (CUDA when onnxruntime offers it, else CPU), ``cpu``, ``cuda``."""

DEVICES: tuple[str, ...] = get_args(Device)
ENV_VAR = "CCTRACE_DEVICE"
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

_lock = threading.Lock()
_device: Device | None = None
_device_id = 0
_seen: set[tuple[str, str]] = set()
"""(model label, provider) pairs already logged at INFO (later loads log at DEBUG)."""


class DeviceError(ModelError):
    """The requested device cannot be used here (e.g. ``cuda`` without CUDA)."""


def parse_device(value: str, where: str = "device") -> Device:
    """``value`` as a :data:`Device`; ``DeviceError`` naming the allowed values otherwise."""
    cleaned = value.strip().lower()
    if cleaned not in DEVICES:
        raise DeviceError(
            f"{where}: {value!r} is not a device; expected one of: {', '.join(DEVICES)}"
        )
    return cast(Device, cleaned)


def env_device() -> Device | None:
    """The device named by ``$CCTRACE_DEVICE``, or None when it is unset or empty."""
    raw = os.environ.get(ENV_VAR, "")
    return parse_device(raw, f"${ENV_VAR}") if raw.strip() else None


def effective_device(configured: Device = "auto") -> Device:
    """``$CCTRACE_DEVICE`` when set, else ``configured`` (the site's ``runtime.device``)."""
    return env_device() or configured


def use_device(device: Device, device_id: int = 0) -> None:
    """Make ``device`` (GPU number ``device_id``) the process's device for sessions created
    from now on; ``$CCTRACE_DEVICE`` still wins. Checked at once (:func:`check_device`)."""
    global _device, _device_id
    chosen = effective_device(device)
    check_device(chosen)
    if device_id < 0:
        raise DeviceError(f"device_id must be >= 0, got {device_id}")
    with _lock:
        _device, _device_id = chosen, device_id


def current_device() -> Device:
    """The device set by :func:`use_device`, else ``$CCTRACE_DEVICE``, else ``auto``."""
    with _lock:
        chosen = _device
    return chosen or effective_device("auto")


def available_providers() -> list[str]:
    """onnxruntime's execution providers on this machine (imports onnxruntime)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def cuda_available() -> bool:
    """True when onnxruntime offers the CUDA provider (an ``onnxruntime-gpu`` install)."""
    return CUDA_PROVIDER in available_providers()


def check_device(device: Device) -> None:
    """``DeviceError`` when ``device`` is ``cuda`` and onnxruntime has no CUDA provider."""
    if device == "cuda" and not cuda_available():
        found = ", ".join(available_providers()) or "none"
        raise DeviceError(
            f"device cuda was asked for (runtime.device or ${ENV_VAR}) but onnxruntime has no "
            f"{CUDA_PROVIDER} here (providers: {found}). Install onnxruntime-gpu in place of "
            "onnxruntime on a machine with an NVIDIA driver and CUDA/cuDNN, or set the device "
            "to auto or cpu"
        )


def describe_device(configured: Device = "auto") -> str:
    """One line saying which device and onnxruntime provider the models will get, e.g.
    ``auto -> CPUExecutionProvider (no CUDAExecutionProvider here)``; ``DeviceError`` for
    ``cuda`` without CUDA. ``$CCTRACE_DEVICE`` overrides ``configured``."""
    chosen = effective_device(configured)
    check_device(chosen)
    available = available_providers()
    first = providers_for(chosen, available)[0]
    provider = first if isinstance(first, str) else first[0]
    source = f" (from ${ENV_VAR})" if env_device() else ""
    note = "" if CUDA_PROVIDER in available else f" (no {CUDA_PROVIDER} here)"
    return f"{chosen}{source} -> {provider}{note}"


def providers_for(device: Device, available: list[str], device_id: int = 0) -> list[Any]:
    """The provider list for an onnxruntime session: CUDA first (then CPU for the nodes
    CUDA lacks) for ``cuda``, or ``auto`` when ``available`` holds CUDA; CPU otherwise.
    ``DeviceError`` for ``cuda`` when CUDA is not in ``available``."""
    wants_cuda = device == "cuda" or (device == "auto" and CUDA_PROVIDER in available)
    if not wants_cuda:
        return [CPU_PROVIDER]
    if CUDA_PROVIDER not in available:
        raise DeviceError(
            f"device cuda: onnxruntime has no {CUDA_PROVIDER} (providers: {', '.join(available)})"
        )
    return [(CUDA_PROVIDER, {"device_id": device_id}), CPU_PROVIDER]


def create_session(
    model: str | bytes, options: Any, label: str, device: Device | None = None
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model`` (a path or serialised bytes) on
    ``device`` (default: :func:`current_device`), logging the provider ``label`` got.

    ``ModelError`` when onnxruntime cannot load the model; ``DeviceError`` for ``cuda``
    without CUDA. When CUDA was asked for but the session fell back to the CPU (a CUDA
    library missing at run time: onnxruntime only warns), ``cuda`` raises and ``auto``
    logs a warning.
    """
    import onnxruntime as ort

    chosen = device or current_device()
    with _lock:
        device_id = _device_id
    providers = providers_for(chosen, list(ort.get_available_providers()), device_id)
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {label}: {exc}") from exc
    got = session.get_providers()[0] if session.get_providers() else "none"
    asked = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if asked == CUDA_PROVIDER and got != CUDA_PROVIDER:
        message = f"{label}: asked for {CUDA_PROVIDER}, onnxruntime gave {got}"
        if chosen == "cuda":
            raise DeviceError(message + " (check the CUDA and cuDNN libraries)")
        logger.warning(message)
    _log_provider(label, got)
    return session


def session_provider(session: Any) -> str:
    """The first (preferred) provider of an onnxruntime session."""
    providers = session.get_providers()
    return str(providers[0]) if providers else "none"


def opencv_dnn_target(label: str) -> tuple[int, int]:
    """(backend, target) for OpenCV DNN models (YuNet, SFace): CUDA when the device allows
    it and OpenCV was built with CUDA and sees a GPU, else OpenCV's default CPU pair."""
    import cv2

    chosen = current_device()
    gpus = 0
    if chosen != "cpu":
        try:
            gpus = int(cv2.cuda.getCudaEnabledDeviceCount())
        except (cv2.error, AttributeError):
            gpus = 0
    if gpus > 0:
        _log_provider(label, "opencv-cuda")
        return int(cv2.dnn.DNN_BACKEND_CUDA), int(cv2.dnn.DNN_TARGET_CUDA)
    if chosen == "cuda":
        logger.warning("%s runs on the CPU: this OpenCV build has no CUDA", label)
    _log_provider(label, "opencv-cpu")
    return int(cv2.dnn.DNN_BACKEND_DEFAULT), int(cv2.dnn.DNN_TARGET_CPU)


def _log_provider(label: str, provider: str) -> None:
    key = (label, provider)
    with _lock:
        first = key not in _seen
        _seen.add(key)
    logger.log(logging.INFO if first else logging.DEBUG, "%s runs on %s", label, provider)


__all__ = [
    "CPU_PROVIDER",
    "CUDA_PROVIDER",
    "DEVICES",
    "ENV_VAR",
    "Device",
    "DeviceError",
    "available_providers",
    "check_device",
    "create_session",
    "cuda_available",
    "current_device",
    "describe_device",
    "effective_device",
    "env_device",
    "opencv_dnn_target",
    "parse_device",
    "providers_for",
    "session_provider",
    "use_device",
]
