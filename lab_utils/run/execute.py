"""Execute one notebook with papermill into the build folder, and export the results notebook as an HTML page."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from lab_utils import settings
from lab_utils.atomic import atomic_path
from lab_utils.paths import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def execute(notebook: str, build_dir: Path, parameters: dict, *, log_output: bool) -> Path:
    """Run one notebook with papermill into build_dir; the executed copy appears only if it succeeded."""
    import papermill

    settings.export_default("LAB_FIT_VERBOSE", "2")  # the kernel inherits it: one log line per epoch, no bar
    target = build_dir / f"{notebook}.ipynb"
    failed = build_dir / f"{notebook}.failed.ipynb"
    failed.unlink(missing_ok=True)
    with atomic_path(target) as tmp, tempfile.TemporaryDirectory(prefix="lab-kernel-") as sockets:
        try:
            papermill.execute_notebook(
                str(NOTEBOOKS_DIR / f"{notebook}.ipynb"),
                str(tmp),
                parameters=parameters,
                # No cell bar: the runner prints one line per notebook and per training run instead.
                cwd=str(NOTEBOOKS_DIR),
                progress_bar=False,
                log_output=log_output,
                config=_ipc_kernel(Path(sockets)),
            )
        except BaseException:
            if tmp.exists():
                os.replace(tmp, failed)  # keep the partial run for debugging under a name that says so
            raise
    return target


def _ipc_kernel(folder: Path) -> Any:
    """Kernel manager settings: talk to the kernel over Unix sockets in a private folder, not TCP.

    Over TCP without CurveZMQ keys ipykernel warns "Kernel is running over TCP without encryption" on every
    start (kernelapp.py, init_sockets). The absolute socket path matters: papermill changes into notebooks/,
    where a relative one would land, shared by two concurrent runs.
    """
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc", "ip": str(folder / "kernel")}})


def export_html(executed: Path, report: Path) -> Path:
    """The executed results notebook as a standalone HTML page (code hidden, figures embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    with atomic_path(report) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return report


def describe_failure(notebook: str, exc: BaseException, build_dir: Path) -> str:
    """One message naming the notebook, the failing cell and the error."""
    from papermill.exceptions import PapermillExecutionError

    where = f"notebook {notebook}"
    if isinstance(exc, PapermillExecutionError):
        where += f", cell {exc.exec_count} (code cell #{exc.cell_index})"
        detail = f"{exc.ename}: {exc.evalue}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return (
        f"run_all: FAILED in {where}\n  {detail}\n"
        f"  the partial run is in {build_dir / (notebook + '.failed.ipynb')}; fix it and re-run — finished "
        "runs are loaded from the run cache"
    )
