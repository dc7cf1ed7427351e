#!/usr/bin/env bash
# Run the test suite in the project's environment (set up on first use). Extra arguments go to pytest.
# --fast: the inner loop, every test not marked e2e (no papermill, browser, second backend, run_all.sh): ≤ 5 min.
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
cd "$LAB_ROOT"
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then args+=(-m "not e2e"); else args+=("$arg"); fi
done
exec "$LAB_PY" -m pytest ${args[@]+"${args[@]}"}
