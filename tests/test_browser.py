"""End to end, as a student would: JupyterLab in a real browser runs 00_data_exploration on the mini data.

`scripts/jupyterlab.sh` (the README's command) starts JupyterLab headless on a free localhost port with a random
token, serving a temporary copy of notebooks/ (JupyterLab autosaves: the source notebooks must stay output-free).
Debian's Chromium, driven by Playwright, opens the notebook, runs all cells from the Run menu and waits for the
kernel to go idle; then the test checks that the notebook ran with the project's kernel, that no cell shows an
error, that the three figures rendered, and saves a screenshot to build/test-artifacts/ (and pytest's tmp).
A second test runs 02_cifar10_cnn (smoke profile) and checks that the student-written VGG block is shown as
highlighted code with the model summary under it, that `lab.show_source(fit_or_load)` renders as highlighted code,
and that the feature-map figure of the trained model is drawn.
A third test trains a tiny model in the browser and checks that Keras shows one live progress bar per epoch.
Chromium is installed with apt-get when missing; the tests skip, saying why, only where that is impossible.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from .browser_helpers import ARTIFACTS, chromium_or_skip

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT.parent / "shared" / "data" / "mini"
NOTEBOOK = "00_data_exploration"
CIFAR_NOTEBOOK = "02_cifar10_cnn"
# The notebooks the browser tests run: what their copies' parameters cells set besides the output folders.
# Everything else keeps its default: data_dir None, so the data comes from LAB_DATA_DIR, as documented.
PARAMETERS: dict[str, dict[str, object]] = {
    NOTEBOOK: {},  # profile "auto": 00 trains nothing
    CIFAR_NOTEBOOK: {"profile": "smoke"},  # 02 trains five small models: 600 images, one epoch each
}
OUTPUT_PARAMETERS = ("figures_dir", "tables_dir", "runs_dir")  # each points into tmp/outputs/<figures|tables|runs>
KERNEL_NAME = "python3"  # the standard name (Colab, Kaggle); bootstrap.sh maps it to the project's environment
KERNEL_DISPLAY_NAME = "Python 3 (cnn-lab: Keras + TensorFlow)"
FIGURES = ("fig01_mnist_samples", "fig02_mnist_class_distribution", "fig03_cifar10_samples")
SERVER_START_S = 90  # bootstrap check + JupyterLab start (≈ 3 s here)
RUN_ALL_S = 150  # kernel start, TensorFlow import, both datasets, three figures (≈ 10 s here)
RUN_ALL_SMOKE_S = 420  # 02 on smoke: five one-epoch trainings on 600 images, occlusion maps (≈ 60 s here)
UI_S = 60  # page load, kernel start, menus, saving


def free_port() -> int:
    """A localhost port nobody listens on right now (the server gets port_retries=0, so a race fails loudly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str
    project: Path
    outputs: Path
    log: Path
    runtime: Path

    def api(self, path: str, method: str = "GET", timeout: float = 10) -> object:
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def notebook_url(self, path: str) -> str:
        """The notebook alone in JupyterLab (`reset`: no notebook of an earlier page comes back with it)."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"


def set_parameters(path: Path, values: Mapping[str, object]) -> None:
    """Rewrite `name = ...` in the notebook's parameters cell for each of `values` (each line must be there once).

    The value is written with repr(); the line's comment stays.
    """
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    for name, value in values.items():
        cell.source, count = re.subn(rf"^{name} = [^#\n]*", f"{name} = {value!r}  ", cell.source, flags=re.M)
        assert count == 1, f"the parameters cell of {path.stem} has no line `{name} = ...`"
    nbformat.write(notebook, path)


def copy_project(tmp: Path, parameters: Mapping[str, Mapping[str, object]] = PARAMETERS) -> tuple[Path, Path]:
    """notebooks/ copied into tmp/project; in each notebook of `parameters`, the copy's parameters cell points the
    output folders (OUTPUT_PARAMETERS) into tmp/outputs and sets the notebook's own values.
    """
    project, outputs = tmp / "project", tmp / "outputs"
    shutil.copytree(ROOT / "notebooks", project / "notebooks")
    folders = {name: str(outputs / name.removesuffix("_dir")) for name in OUTPUT_PARAMETERS}
    for notebook, values in parameters.items():
        set_parameters(project / "notebooks" / f"{notebook}.ipynb", {**folders, **values})
    return project, outputs


def stop(process: subprocess.Popen, server: Server | None) -> None:
    """Shut the kernels and the server down through the API; then SIGTERM, then SIGKILL its process group."""
    if server is not None and process.poll() is None:
        try:
            for kernel in server.api("kernels"):
                server.api(f"kernels/{kernel['id']}", method="DELETE", timeout=20)
            server.api("shutdown", method="POST")
            process.wait(timeout=20)
        except (OSError, urllib.error.URLError, subprocess.TimeoutExpired, ValueError):
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)  # the group of the server we started (start_new_session=True)
        except ProcessLookupError:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def chromium() -> Path:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def jupyterlab(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """scripts/jupyterlab.sh on a free port with a random token, serving a copy of notebooks/; always stopped."""
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    tmp = tmp_path_factory.mktemp("jupyterlab")
    project, outputs = copy_project(tmp)
    jupyter = tmp / "jupyter"
    settings = jupyter / "lab-settings"
    # No news/update pop-up (it would ask to reach the internet and cover part of the screenshot).
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {
        **os.environ,
        # The README's form, relative to where jupyterlab.sh is typed (the project root), while the kernel runs
        # in notebooks/: the one path rule carries the caller's directory into the kernel (LAB_CALLER_DIR).
        "LAB_DATA_DIR": os.path.relpath(MINI, ROOT),
        "LAB_RUNS_DIR": str(outputs / "runs"),
        # The user's Jupyter config, kernels, settings and workspaces stay out: the kernel must be the venv's.
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
    }
    env.pop("LAB_FIT_VERBOSE", None)  # JupyterLab's default: Keras's live bar
    env.pop("LAB_CALLER_DIR", None)  # jupyterlab.sh sets it to where it is typed (cwd below)
    token, port = secrets.token_hex(16), free_port()
    log = tmp / "jupyterlab.log"
    command = [
        "bash",
        str(ROOT / "scripts" / "jupyterlab.sh"),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={project}",
        "--ContentsManager.preferred_dir=notebooks",
    ]
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = None
    try:
        candidate = Server(f"http://127.0.0.1:{port}", token, project, outputs, log, jupyter / "runtime")
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}:\n{candidate.log_tail()}")
            try:
                candidate.api("status", timeout=2)
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer /api/status in {SERVER_START_S} s:\n{candidate.log_tail()}")
                time.sleep(0.5)
        server = candidate
        yield server
    finally:
        stop(process, server)
        assert process.poll() is not None, "the JupyterLab server is still running"


@pytest.fixture
def page(chromium: Path) -> Iterator:
    """A fresh headless Chromium page (Playwright drives Debian's build; no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(UI_S * 1000)
            yield page
        finally:
            browser.close()


# The open notebook as a student sees it: every code cell's prompt, the kernel and its status, the outputs.
NOTEBOOK_STATE_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel) return null;
    // Cells whose input is collapsed (exercise solutions) show a placeholder without a prompt: left out here;
    // the saved notebook's execution counts show that they ran.
    const cells = [...panel.querySelectorAll('.jp-CodeCell')].filter(c => !c.querySelector('.jp-InputPlaceholder'));
    const stderr = [...panel.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent);
    const images = [...panel.querySelectorAll('.jp-OutputArea-output img')];
    return {
        prompts: cells.map(c => ((c.querySelector('.jp-InputArea-prompt') || {}).textContent || '').trim()),
        status: (panel.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status || '',
        kernel: ((panel.querySelector('.jp-KernelName') || {}).textContent || '').trim(),
        // JupyterLab renders an error output as stderr text: its traceback, or "ename: evalue".
        errors: stderr.filter(
            t => /Traceback \\(most recent call last\\)|^\\w+(Error|Exception|Interrupt)\\b/m.test(t)),
        images: images.map(i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})),
        text: [...panel.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent).join('\\n'),
    };
}"""

# A kernel is attached and idle (before the kernel starts, the indicator says "idle" too, beside "No Kernel",
# and Run All would then do nothing).
KERNEL_READY_JS = f"""() => {{
    const state = ({NOTEBOOK_STATE_JS})();
    return !!state && state.status === 'idle' && !['', 'No Kernel'].includes(state.kernel);
}}"""

# Run All has finished: the kernel is idle, no cell waits ([*]), and every cell ran or one failed (the rest stop).
RUN_FINISHED_JS = f"""() => {{
    const state = ({NOTEBOOK_STATE_JS})();
    if (!state || state.status !== 'idle' || state.prompts.some(p => p.includes('*'))) return false;
    return state.errors.length > 0 || state.prompts.every(p => /^\\[\\d+\\]:$/.test(p));
}}"""


def open_and_run_all(page, server: Server, path: str, timeout_s: int = RUN_ALL_S) -> dict:
    """Open the notebook, accept its kernel, Run → Run All Cells, wait ≤ timeout_s until it finished; the state."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(server.notebook_url(path))
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell")
    # A kernel dialog appears only if the notebook's kernel is unknown: choose ours (the checks below still
    # require that the notebook runs on it).
    page.wait_for_function(f"() => document.querySelector('.jp-Dialog') || ({KERNEL_READY_JS})()", polling=100)
    if page.locator(".jp-Dialog").count():
        page.locator(".jp-Dialog select").select_option(label=KERNEL_DISPLAY_NAME)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_function(KERNEL_READY_JS, polling=100)
    # Run → Run All Cells, as the notebooks' "How to use" cells say.
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        page.wait_for_function(RUN_FINISHED_JS, timeout=timeout_s * 1000, polling=500)
    except PlaywrightTimeout:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        state.pop("text", None)
        pytest.fail(f"Run All did not finish in {timeout_s} s: {state}\nJupyterLab log:\n{server.log_tail()}")
    return page.evaluate(NOTEBOOK_STATE_JS)


def screenshot_whole_notebook(page, path: Path) -> None:
    """JupyterLab scrolls inside its notebook panel: grow the window to the notebook's height, then shoot."""
    height = page.evaluate("""() => {
        const outer = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
        const cells = document.querySelectorAll('.jp-NotebookPanel .jp-Cell');
        if (!outer || !cells.length) return 0;
        const last = cells[cells.length - 1].getBoundingClientRect();
        return last.bottom + outer.scrollTop + 80;
    }""")
    page.set_viewport_size({"width": 1280, "height": int(min(max(height, 900), 12000))})
    page.evaluate(
        "() => { const o = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');"
        " if (o) o.scrollTop = 0; }"
    )
    page.wait_for_timeout(500)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def save_notebook(page) -> None:
    """Ctrl+S, and wait until JupyterLab says the notebook is saved."""
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')")


def keep_screenshot(page, screenshot: Path, tmp_path: Path) -> None:
    """The whole notebook as a PNG under build/test-artifacts, with a copy beside the test's files."""
    screenshot_whole_notebook(page, screenshot)
    shutil.copy(screenshot, tmp_path / screenshot.name)


@pytest.mark.e2e
def test_jupyterlab_runs_the_data_exploration_notebook_in_a_real_browser(
    jupyterlab: Server, page, tmp_path: Path
) -> None:
    source = ROOT / "notebooks" / f"{NOTEBOOK}.ipynb"
    source_before = source.read_bytes()
    screenshot = ARTIFACTS / "jupyterlab_00.png"
    screenshot.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        state = open_and_run_all(page, jupyterlab, f"notebooks/{NOTEBOOK}.ipynb")
        page.wait_for_function(  # every image shown is loaded (decoded or failed), so its size is final
            "() => [...document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea-output img')].every(i => i.complete)"
        )
        state = page.evaluate(NOTEBOOK_STATE_JS)
        sessions = jupyterlab.api("sessions")
        save_notebook(page)  # the saved copy is checked exactly below
    finally:  # also on failure: the screenshot shows what went wrong
        keep_screenshot(page, screenshot, tmp_path)
    elapsed = time.monotonic() - started

    context = f"\n(screenshot: {screenshot}; JupyterLab log:)\n{jupyterlab.log_tail(2000)}"
    # The notebook ran on the project's kernel, chosen by its metadata.
    assert [(s["path"], s["kernel"]["name"]) for s in sessions] == [(f"notebooks/{NOTEBOOK}.ipynb", KERNEL_NAME)]
    assert state["kernel"] == KERNEL_DISPLAY_NAME
    # Listening on localhost only (the server's own record of where it runs).
    [info] = [json.loads(f.read_text()) for f in jupyterlab.runtime.glob("jpserver-*.json")]
    assert (info["hostname"], info["root_dir"]) == ("127.0.0.1", str(jupyterlab.project))
    # Top to bottom, no error shown, three figures rendered inline.
    assert not state["errors"], "\n\n".join(state["errors"]) + context
    assert state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]), (
        f"cells that did not run: {state['prompts']}{context}"
    )
    rendered = [i for i in state["images"] if i["complete"] and i["width"] > 0]
    assert len(rendered) >= len(FIGURES), f"{state['images']}{context}"

    # The saved copy holds exactly what the browser showed: every cell run in order, no error output.
    executed = nbformat.read(jupyterlab.project / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for c in code for o in c.outputs) == len(FIGURES)
    for name in FIGURES:  # written where the parameters cell said, not into the repository
        assert (jupyterlab.outputs / "figures" / f"{name}.png").stat().st_size > 0
    assert source.read_bytes() == source_before, "the source notebook was modified"
    assert screenshot.stat().st_size > 0
    print(f"JupyterLab ran {NOTEBOOK} in a browser in {elapsed:.0f} s; screenshot: {screenshot}")


# One code cell as JupyterLab 4 shows it. CodeMirror 6 draws the editor as `.cm-content` with one `.cm-line` per line;
# JupyterLab's highlight style wraps each token in a span with a generated class (e.g. "ͼs" for keywords) and
# colours it. Outputs: their visible text (innerText); Keras 3 prints its summary with rich, which JupyterLab shows
# as text/html outputs, each a <pre> of styled spans.
CODE_CELL_JS = """(index) => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const cell = panel && panel.querySelectorAll('.jp-CodeCell')[index];
    const content = cell && cell.querySelector('.jp-InputArea-editor .cm-editor .cm-content');
    if (!content) return null;
    return {
        editor: [...content.querySelectorAll(':scope > .cm-line')].map(l => l.textContent).join('\\n'),
        tokens: [...content.querySelectorAll('.cm-line span[class]')].map(s => ({
            text: s.textContent, color: getComputedStyle(s).color})),
        textColor: getComputedStyle(content).color,
        outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
            mime: o.dataset.mimeType || '', text: o.innerText})),
    };
}"""

# One figure of a code cell's outputs, as the browser drew it.
CELL_IMAGES_JS = """(index) => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const cell = panel && panel.querySelectorAll('.jp-CodeCell')[index];
    return cell ? [...cell.querySelectorAll('.jp-OutputArea-output img')].map(
        i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})) : null;
}"""


@pytest.mark.e2e
def test_jupyterlab_runs_the_cifar_notebook_and_shows_the_students_keras(
    jupyterlab: Server, page, tmp_path: Path
) -> None:
    """02_cifar10_cnn on the smoke profile: the student-written VGG block, with Keras's `BatchNormalization`, shows as
    highlighted code with the model's summary under it, the cell that writes `model.fit(` out runs with its epochs
    logged under it, and the feature-map figure of the trained model is drawn."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    source = ROOT / "notebooks" / f"{CIFAR_NOTEBOOK}.ipynb"
    source_before = source.read_bytes()
    copy = jupyterlab.project / "notebooks" / f"{CIFAR_NOTEBOOK}.ipynb"
    code = [c for c in nbformat.read(copy, as_version=4).cells if c.cell_type == "code"]
    [keras_index] = [
        i for i, c in enumerate(code) if "keras-model" in c.metadata.get("tags", []) and "def vgg_block(" in c.source
    ]
    [maps_index] = [i for i, c in enumerate(code) if '"see02_feature_maps_block1"' in c.source]
    [fit_index] = [
        i for i, c in enumerate(code) if "keras-fit" in c.metadata.get("tags", []) and "model.fit(" in c.source
    ]
    keras_source = code[keras_index].source
    screenshot = ARTIFACTS / "jupyterlab_02.png"
    screenshot.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        state = open_and_run_all(page, jupyterlab, f"notebooks/{CIFAR_NOTEBOOK}.ipynb", RUN_ALL_SMOKE_S)
        # Scrolled to, as a student would: offscreen cells skip rendering (content-visibility), so their innerText
        # is empty until JupyterLab shows them. Wait until the editor is highlighted and the outputs are drawn
        # (if they never are, the checks below say what is missing).
        for index in (keras_index, maps_index):
            page.locator(".jp-NotebookPanel .jp-CodeCell").nth(index).scroll_into_view_if_needed()

        def shown_code_cell(index: int) -> dict:
            """Scroll to code cell `index`, wait until it is highlighted with its output drawn, and read it."""
            page.locator(".jp-NotebookPanel .jp-CodeCell").nth(index).scroll_into_view_if_needed()
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(
                    f"(i) => {{ const c = ({CODE_CELL_JS})(i);"
                    " return !!c && c.tokens.length > 0 && c.outputs.some(o => o.text.trim()); }",
                    arg=index,
                    polling=100,
                )
            return page.evaluate(CODE_CELL_JS, index)

        keras_cell = shown_code_cell(keras_index)
        fit_cell = shown_code_cell(fit_index)
        page.locator(".jp-NotebookPanel .jp-CodeCell").nth(maps_index).scroll_into_view_if_needed()
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                f"(i) => {{ const imgs = ({CELL_IMAGES_JS})(i); return !!imgs && imgs.length > 0 &&"
                " imgs.every(i => i.complete && i.width > 0); }",
                arg=maps_index,
                polling=100,
            )
        maps_images = page.evaluate(CELL_IMAGES_JS, maps_index)
        sessions = jupyterlab.api("sessions")
        save_notebook(page)  # the saved copy is checked exactly below
    finally:  # also on failure: the screenshot shows what went wrong
        keep_screenshot(page, screenshot, tmp_path)
    elapsed = time.monotonic() - started

    context = f"\n(screenshot: {screenshot}; JupyterLab log:)\n{jupyterlab.log_tail(2000)}"
    kernels = {s["path"]: s["kernel"]["name"] for s in sessions}
    assert kernels.get(f"notebooks/{CIFAR_NOTEBOOK}.ipynb") == KERNEL_NAME, f"{sessions}{context}"
    assert not state["errors"], "\n\n".join(state["errors"]) + context
    assert state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]), (
        f"cells that did not run: {state['prompts']}{context}"
    )
    shown = [c for c in code if not c.metadata.get("jupyter", {}).get("source_hidden")]
    assert len(state["prompts"]) == len(shown), f"{state['prompts']}{context}"
    assert "Lab(profile='smoke'" in state["text"], f"not the smoke profile:\n{state['text'][:500]}{context}"

    # The student's VGG block is on the page as a code cell, the notebook's source line for line, highlighted.
    assert keras_cell, f"code cell {keras_index} (the VGG block) has no CodeMirror editor on the page{context}"
    assert keras_cell["editor"] == keras_source, f"editor text:\n{keras_cell['editor']}{context}"
    coloured = {t["text"] for t in keras_cell["tokens"] if t["color"] != keras_cell["textColor"]}
    assert "layers.BatchNormalization(" in keras_cell["editor"], f"{keras_cell['editor']}{context}"
    for token in ("def", "for", "Conv2D", "MaxPooling2D", "BatchNormalization", '"same"', "3"):
        assert token in coloured, f"`{token}` is not highlighted; tokens: {keras_cell['tokens'][:30]}{context}"
    # Its output: Keras's summary of the model the student just wrote.
    summary = "\n".join(o["text"] for o in keras_cell["outputs"])
    for text in ('Model: "vgg_blocks"', "block1_conv1 (Conv2D)", "block1_bn1", "Total params: 552,874"):
        assert text in summary, f"`{text}` not in the summary shown:\n{summary}{context}"
    # The Keras program written out: model.fit( and model.evaluate( in a highlighted code cell, its epochs logged.
    assert fit_cell and "model.fit(" in fit_cell["editor"] and "model.evaluate(" in fit_cell["editor"], (
        f"no code cell with model.fit( on the page{context}"
    )
    assert "fit" in {t["text"] for t in fit_cell["tokens"]} or fit_cell["tokens"], f"{fit_cell}{context}"
    fit_output = "\n".join(o["text"] for o in fit_cell["outputs"])
    assert "Epoch 2/2" in fit_output and "test accuracy" in fit_output, f"{fit_output}{context}"
    # The feature maps of the trained model, drawn in the browser.
    assert maps_images and all(i["complete"] and i["width"] > 300 for i in maps_images), f"{maps_images}{context}"

    # The saved copy: every cell run in order, no error output; outputs went to tmp, not into the repository.
    executed = nbformat.read(copy, as_version=4)
    executed_code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in executed_code] == list(range(1, len(executed_code) + 1))
    assert not [o for c in executed_code for o in c.outputs if o.output_type == "error"]
    assert (jupyterlab.outputs / "figures" / "see02_feature_maps_block1.png").stat().st_size > 0
    assert (jupyterlab.outputs / "tables" / "table1.csv").stat().st_size > 0
    trained = {p.name.split("-")[0] for p in (jupyterlab.outputs / "runs").iterdir()}
    assert {"cifar_simple_cnn", "cifar_vgg_bn"} <= trained, trained
    assert source.read_bytes() == source_before, "the source notebook was modified"
    print(f"JupyterLab ran {CIFAR_NOTEBOOK} (smoke) in a browser in {elapsed:.0f} s; screenshot: {screenshot}")


@pytest.mark.e2e
def test_training_in_jupyterlab_shows_one_progress_bar_per_epoch(jupyterlab: Server, page) -> None:
    """Keras's live bar, redrawn in place: one line per epoch in the notebook, not one per step."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
    out = jupyterlab.outputs / "progress"
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from lab_utils import Lab\n"
            f"lab = Lab('smoke', epochs=2, figures_dir={str(out / 'figures')!r}, tables_dir={str(out / 'tables')!r})\n"
            "run = lab.run('mnist_cnn')\n"
            "run.record.epochs_run, lab.verbose"
        )
    ]
    nbformat.write(notebook, jupyterlab.project / "notebooks" / "progress_check.ipynb")
    try:
        state = open_and_run_all(page, jupyterlab, "notebooks/progress_check.ipynb")
    finally:
        screenshot_whole_notebook(page, ARTIFACTS / "jupyterlab_progress.png")
    assert not state["errors"], "\n\n".join(state["errors"])
    assert "(2, 1)" in state["text"], state["text"]  # 2 epochs, verbose 1 (the live bar)
    bars = re.findall(r"\d+/\d+ ━+", state["text"])  # a bar not redrawn in place would repeat
    assert "Epoch 1/2" in state["text"] and "Epoch 2/2" in state["text"], state["text"]
    assert len(bars) == 2, f"expected one progress bar per epoch, got {len(bars)} bar lines:\n{state['text']}"


def test_every_notebook_opens_with_the_projects_registered_kernel() -> None:
    """Every notebook names the standard "python3" kernel; in the project's environment (JUPYTER_PATH, set by
    bootstrap.sh) that name starts this Python, as papermill and JupyterLab look it up."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from lab_utils.run.runner import NOTEBOOKS, NOTEBOOKS_DIR

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.display_name == KERNEL_DISPLAY_NAME
    assert Path(spec.argv[0]) == Path(sys.executable)
    for name in NOTEBOOKS:
        kernelspec = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4).metadata.kernelspec
        assert kernelspec.name == KERNEL_NAME, name
