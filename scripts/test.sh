#!/usr/bin/env bash
# Set up (with dev tools) and run the whole test suite: lint, types, tests.
# Slow end-to-end tests run too; set CCTRACE_FAST=1 to skip them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
. .venv/bin/activate
echo "==> ruff"
ruff check src tests bench
echo "==> mypy"
mypy
echo "==> import layers (lint-imports, contracts in pyproject.toml)"
lint-imports
echo "==> pytest"
marker=()
[ "${CCTRACE_FAST:-0}" = "1" ] && marker=(-m "not slow")
set +e
python -m pytest "${marker[@]}" "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite here.
if [ "$rc" = 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
