#!/usr/bin/env bash
# Start JupyterLab on the project, in its environment (set up on first use, with the "cnn-lab" kernel that every
# notebook names), listening on localhost only, with notebooks/ as the start folder. Extra arguments go to
# JupyterLab and win over these defaults, e.g. `scripts/jupyterlab.sh --port 8899 --no-browser`.
set -euo pipefail
# Relative folders (options, LAB_DATA_DIR, notebook parameters) are taken from here, also inside the kernels.
export LAB_CALLER_DIR="${LAB_CALLER_DIR:-$PWD}"
source "$(dirname "$0")/bootstrap.sh"
cd "$LAB_ROOT"

# Traitlets refuses a setting given twice on the command line, so add each default only when not given.
defaults=()
case " $* " in *" --ip"*|*" --ServerApp.ip"*) ;; *) defaults+=(--ServerApp.ip=127.0.0.1) ;; esac
case " $* " in
  *" --notebook-dir"*|*" --ServerApp.root_dir"*|*" --ServerApp.notebook_dir"*|*"preferred_dir"*) ;;
  *) defaults+=(--ServerApp.root_dir="$LAB_ROOT" --ContentsManager.preferred_dir=notebooks) ;;
esac
# New notebooks (the Launcher's default) get the project's kernel too.
case " $* " in *"default_kernel_name"*) ;; *) defaults+=(--MappingKernelManager.default_kernel_name="$LAB_KERNEL") ;; esac
# Jupyter refuses to run as root unless told; our CI and lab machines are root, and it listens on localhost only.
if [ "$(id -u)" = 0 ]; then case " $* " in *"allow-root"*) ;; *) defaults+=(--allow-root) ;; esac; fi

exec "$LAB_PY" -m jupyterlab "${defaults[@]}" "$@"
