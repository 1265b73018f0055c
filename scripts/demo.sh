#!/usr/bin/env bash
# One command: set everything up and run the main job end to end on real footage.
# Creates .venv, installs cctrace and its models, fetches PETS2009 footage from
# Debian's opencv-doc package (no root needed), builds a two-camera demo site,
# ingests it and traces a sample case; prints the report's path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec cctrace demo --workdir "${CCTRACE_DEMO_DIR:-demo}" "$@"
