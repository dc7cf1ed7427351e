#!/usr/bin/env bash
# The Dask scheduler for a multi-machine run_all.sh (on the head node): scripts/cluster_scheduler.sh [--port 8786]
# Extra arguments go to `dask scheduler`. Sets up .venv like run_all.sh.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
exec "$LAB_PY" -m distributed.cli.dask_scheduler --no-dashboard "$@"
