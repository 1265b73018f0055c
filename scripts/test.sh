#!/usr/bin/env bash
# Set up (with dev tools) and run the test suite: lint, types, tests.
# The default run skips the slow end-to-end tests (real footage, browsers, clusters:
# about 15 minutes more); CCTRACE_SLOW=1 runs them too, and CI (.ci/run) sets it.
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
marker=(-m "not slow")
[ "${CCTRACE_SLOW:-0}" = "1" ] && marker=()
set +e
python -m pytest "${marker[@]}" "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite here.
if [ "$rc" = 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
