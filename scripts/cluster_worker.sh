#!/usr/bin/env bash
# This machine's Dask workers for `run_all.sh --scheduler ADDRESS` (one per GPU, or the CPU cores split):
#   scripts/cluster_worker.sh tcp://head-node:8786 [--workers N]
# Sets up .venv like run_all.sh; the run cache and data must be on a folder every machine sees at the same path.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
exec "$LAB_PY" -m lab_utils.run worker "$@"
