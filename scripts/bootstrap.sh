#!/usr/bin/env bash
# Sourced by run_all.sh and run_tests.sh: makes sure .venv exists and matches pyproject.toml (or, with
# LAB_PYTHON=/path/to/python, that an environment you manage can run the project), and that the system tools the
# project calls are present. Idempotent and quiet when nothing needs doing.
set -euo pipefail
LAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_VENV="$LAB_ROOT/.venv"
LAB_PY="$LAB_VENV/bin/python"
_stamp="$LAB_VENV/.lab_utils-installed"

# CPU or GPU build of the backends: LAB_DEVICE=cpu|gpu decides; else an NVIDIA driver that lists a GPU
# (`nvidia-smi -L`) means gpu. The plain tensorflow and jax wheels cannot use a GPU without the CUDA libraries
# that their `and-cuda` / `cuda12` extras bring, which a driver install does not have.
LAB_DEVICE="${LAB_DEVICE:-}"
if [ -z "$LAB_DEVICE" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    LAB_DEVICE=gpu
  else
    LAB_DEVICE=cpu
  fi
fi
case "$LAB_DEVICE" in
  cpu) _extras="test" ;;  # test brings notebooks (papermill, nbconvert, JupyterLab) and cluster
  gpu) _extras="test,gpu" ;;
  *) echo "bootstrap: LAB_DEVICE=$LAB_DEVICE is not a device: use LAB_DEVICE=cpu or LAB_DEVICE=gpu" >&2; exit 2 ;;
esac
export LAB_DEVICE
_install=("$LAB_PY" -m pip install -q -e "$LAB_ROOT[$_extras]")
if [ -n "${LAB_BOOTSTRAP_DRY_RUN:-}" ]; then  # for tests: say what would be installed, install nothing
  echo "bootstrap: LAB_DEVICE=$LAB_DEVICE → ${_install[*]}"
  exit 0
fi
_want="$( (cat "$LAB_ROOT/pyproject.toml" "$LAB_ROOT/scripts/bootstrap.sh"; echo "$LAB_DEVICE") | sha256sum | cut -d' ' -f1)"

_prefix="$LAB_VENV"  # where the Jupyter kernel is registered
if [ -n "${LAB_PYTHON:-}" ]; then
  # An environment someone else manages (conda, a cluster's module, a GPU machine without internet): used as it
  # is, nothing installed; the project comes from this checkout.
  LAB_PY="$LAB_PYTHON"
  export PYTHONPATH="$LAB_ROOT${PYTHONPATH:+:$PYTHONPATH}"
  if ! _missing="$("$LAB_PY" -c 'import keras, papermill, lab_utils' 2>&1)"; then
    echo "bootstrap: LAB_PYTHON=$LAB_PYTHON cannot run the project (${_missing##*$'\n'}). Install its dependencies" \
         "into that environment (pip install -e '$LAB_ROOT[test]', or conda env create -f environment.yml), or" \
         "unset LAB_PYTHON to let this script set up $LAB_VENV." >&2
    exit 2
  fi
  _prefix="$("$LAB_PY" -c 'import sys; print(sys.prefix)')"
elif [ ! -x "$LAB_PY" ] || [ "$(cat "$_stamp" 2>/dev/null || true)" != "$_want" ]; then
  echo "bootstrap: installing the project for $LAB_DEVICE into $LAB_VENV (first run, or pyproject.toml changed)..." >&2
  python3 -m venv "$LAB_VENV"
  "$LAB_PY" -m pip install -q --upgrade pip
  "${_install[@]}"
  # One line: which device each backend sees, so a GPU machine that ended up on the CPU shows at once.
  "$LAB_PY" -m lab_utils.run.devices >&2 || true
  echo "$_want" > "$_stamp"
fi

# Graphviz's `dot` draws the architecture figures (keras.utils.plot_model).
if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing graphviz (apt-get)..." >&2
    (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
      || echo "bootstrap: could not install graphviz; architecture figures will fail" >&2
  else
    echo "bootstrap: graphviz missing; install it (apt-get install graphviz / conda install graphviz)" >&2
  fi
fi
# The Jupyter kernel the notebooks name in their metadata (papermill and JupyterLab both look it up), installed
# inside the environment. Checked with grep, so it costs nothing once registered with this Python.
export LAB_KERNEL="cnn-lab"  # exported: lab_utils.run.runner passes it to papermill
LAB_KERNEL_DISPLAY="Python 3 (cnn-lab: Keras + TensorFlow)"
_kernel_json="$_prefix/share/jupyter/kernels/$LAB_KERNEL/kernel.json"
# Its env keeps TensorFlow's C++ INFO and WARNING lines out of JupyterLab, however JupyterLab was started.
if ! grep -qF "\"$LAB_PY\"" "$_kernel_json" 2>/dev/null || ! grep -qF "\"$LAB_KERNEL_DISPLAY\"" "$_kernel_json" \
   || ! grep -qF '"TF_CPP_MIN_LOG_LEVEL": "2"' "$_kernel_json"; then
  echo "bootstrap: registering the Jupyter kernel '$LAB_KERNEL' in $_prefix..." >&2
  "$LAB_PY" -m ipykernel install --sys-prefix --name "$LAB_KERNEL" --display-name "$LAB_KERNEL_DISPLAY" \
    --env TF_CPP_MIN_LOG_LEVEL 2 >/dev/null
fi
# The notebooks name the standard "python3" kernel (the only one Colab and Kaggle know). Here that name must start
# the project's environment too, whatever a user's own Jupyter set-up says: a copy of the kernel above under the
# name python3, in a folder that JUPYTER_PATH puts first (papermill in run_all.sh and JupyterLab both read it).
_alias_dir="$_prefix/share/cnn-lab-jupyter"
if ! cmp -s "$_kernel_json" "$_alias_dir/kernels/python3/kernel.json"; then
  mkdir -p "$_alias_dir/kernels/python3" && cp "$_kernel_json" "$_alias_dir/kernels/python3/kernel.json"
fi
export JUPYTER_PATH="$_alias_dir${JUPYTER_PATH:+:$JUPYTER_PATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"  # hide TensorFlow's CUDA-probe noise on CPU machines
