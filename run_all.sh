#!/usr/bin/env bash
# Regenerate every figure and table of the report: runs notebooks/ in order with papermill (see --help).
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "$LAB_PY" -m lab_utils.runner "$@"
