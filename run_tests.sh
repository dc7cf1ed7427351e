#!/usr/bin/env bash
# Run the test suite in the project's environment (set up on first use). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
cd "$LAB_ROOT"
exec "$LAB_PY" -m pytest "$@"
