#!/usr/bin/env bash
# Regenerate every figure and table of the report: runs notebooks/ in order with papermill (see --help).
set -euo pipefail
# Relative folders (options, LAB_DATA_DIR, notebook parameters) are taken from here, also inside the kernels.
export LAB_CALLER_DIR="${LAB_CALLER_DIR:-$PWD}"
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "$LAB_PY" -m lab_utils.run "$@"
