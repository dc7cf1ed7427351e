"""Every example in README.md, docs/*.md and benchmarks/README.md runs as written (issue 23).

Commands are taken from the documents themselves: every line of a ```bash block, and every inline code span that
starts like a command (`./run_all.sh ...`, `python -m ...`, `scripts/...`). Each is checked without running it:
the project's own modules and scripts are executed up to their argparse call, which parses the example's
arguments and is then stopped; `./run_all.sh --only` names must be notebooks; JupyterLab, Dask's scheduler and
ipykernel options are checked against those tools' own parsers; pip extras against pyproject.toml. Relative links
must point at an existing file and heading, and backticked project paths at existing files. One real example runs:
the teacher's pack / load round trip on a small run cache.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib

from .helpers import ROOT

if str(ROOT) not in sys.path:  # benchmarks/ and scripts/ are folders of the repository, not of the package
    sys.path.insert(0, str(ROOT))

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
SHELL_BLOCKS = {"bash", "sh", "shell", "console"}
# External tools whose commands the documents only quote (installing system packages, a GPU probe).
EXTERNAL = {"apt-get", "brew", "conda", "nvidia-smi", "sbatch"}
# An inline code span is a command when it starts like one, after optional VAR=value assignments.
COMMAND_START = re.compile(
    r"(\./run_all\.sh|\./run_tests\.sh|scripts/\S+|(\.venv/bin/)?python3? -m |"
    r"(\.venv/bin/)?python3? scripts/|\.venv/bin/pip |pip install |bash scripts/)"
)
ASSIGNMENTS = re.compile(r"^(\s*[A-Z_][A-Z0-9_]*=(\$\([^)]*\)|\"[^\"]*\"|'[^']*'|\S*)\s+)*")
# Words that stand for the reader's own: "--slurm 8 --runs-dir /shared/runs ..." (the rest as before), "--workers N".
PLACEHOLDERS = {"...": None, "N": "2"}


@dataclass(frozen=True)
class Example:
    """One command as a document gives it."""

    document: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}: {self.text}"


def _fenced_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(language, line number of the first line, lines) of every fenced code block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^\s*```(\w*)", lines[i])
        if fence:
            start, i = i + 1, i + 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                i += 1
            yield fence.group(1), start + 1, lines[start:i]
        i += 1


def _without_fences(text: str) -> str:
    """The document with every fenced block blanked (line numbers kept): headings and spans outside code only."""
    lines = text.splitlines()
    for _, first, block in _fenced_blocks(text):
        for k in range(len(block) + 2):
            if 0 <= first - 2 + k < len(lines):
                lines[first - 2 + k] = ""
    return "\n".join(lines)


def extract_examples(document: Path) -> list[Example]:
    """Every command a reader is told to type: shell-block lines and command-like inline code spans."""
    text = document.read_text()
    examples = []
    for language, first, block in _fenced_blocks(text):
        if language in SHELL_BLOCKS:
            examples += [
                Example(document, first + k, line.strip())
                for k, line in enumerate(block)
                if line.strip() and not line.lstrip().startswith("#")
            ]
    prose = _without_fences(text)
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose):
        command = " ".join(span.group(1).split())  # a span may wrap over two lines
        if COMMAND_START.match(ASSIGNMENTS.sub("", command)):
            examples.append(Example(document, prose.count("\n", 0, span.start()) + 1, command))
    return examples


EXAMPLES = [example for document in DOCUMENTS for example in extract_examples(document)]


def words(example: Example) -> list[str]:
    """The command's words, without leading VAR=value assignments or a trailing comment, placeholders filled."""
    command = ASSIGNMENTS.sub("", example.text)
    return [PLACEHOLDERS.get(w, w) for w in shlex.split(command, comments=True) if PLACEHOLDERS.get(w, w)]


class _Parsed(Exception):
    """Raised by the patched argparse once a parser accepted the example's arguments."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace


@contextlib.contextmanager
def _stop_after_parsing(argv0: str, args: list[str]) -> Iterator[io.StringIO]:
    """argparse parses for real, then stops the program; sys.argv is the example's while inside."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    saved_argv, stderr = sys.argv, io.StringIO()
    argparse.ArgumentParser.parse_args = parse_then_stop
    sys.argv = [argv0, *args]
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: "found in sys.modules" for imported modules
            yield stderr
    finally:
        argparse.ArgumentParser.parse_args = original
        sys.argv = saved_argv


def parse_with_program(
    run: Callable[[], object], argv0: str, args: list[str], example: Example
) -> argparse.Namespace | None:
    """Run a project program until its argparse accepted `args`; fail with argparse's message if it refuses."""
    refusal = f"{argv0} finished without parsing a command line: the test cannot check it"
    with _stop_after_parsing(argv0, args) as stderr:
        try:
            run()
        except _Parsed as parsed:
            return parsed.namespace
        except SystemExit as exit_:
            if exit_.code == 0 and {"-h", "--help"} & set(args):
                return None  # --help printed the usage: nothing more to check
            refusal = f"refused by {argv0}: {(stderr.getvalue().strip().splitlines() or [exit_])[-1]}"
    pytest.fail(f"{example}\n  {refusal}", pytrace=False)


def check_runner(args: list[str], example: Example) -> None:
    """run_all.sh's command line (lab_utils.run.runner) and what it checks first: notebook names, counts."""
    from lab_utils.errors import LabError
    from lab_utils.run import runner

    namespace = parse_with_program(lambda: runner.main(), "run_all.sh", args, example)
    if namespace is None:
        return
    try:
        runner.select_notebooks(namespace.only)
    except LabError as exc:
        pytest.fail(f"{example}\n  {exc}", pytrace=False)
    for option in ("epochs", "seeds", "workers", "slurm"):
        value = getattr(namespace, option)
        assert value is None or value >= 1, f"{example}\n  --{option} {value} must be at least 1"


def check_module(module: str, args: list[str], example: Example) -> None:
    """`python -m MODULE ARGS`: the project's modules parse ARGS; external tools are checked with their parsers."""
    if module == "lab_utils.run" and args[:1] not in (["worker"], ["train-one"]):
        return check_runner(args, example)
    if module.split(".")[0] in ("lab_utils", "benchmarks"):
        assert importlib.util.find_spec(module), f"{example}\n  no module {module}"
        parse_with_program(
            lambda: runpy.run_module(module, run_name="__main__", alter_sys=True), f"python -m {module}", args, example
        )
    elif module == "ipykernel" and args[:1] == ["install"]:
        from ipykernel.kernelspec import InstallIPythonKernelSpecApp

        app = InstallIPythonKernelSpecApp()
        app.initialize(args[1:])
        parse_with_program(app.start, "ipykernel install", args[1:], example)
    elif module == "distributed.cli.dask_scheduler":
        import click
        from distributed.cli.dask_scheduler import main

        try:
            main.make_context("dask scheduler", list(args))
        except click.ClickException as exc:
            pytest.fail(f"{example}\n  dask scheduler refuses it: {exc.format_message()}", pytrace=False)
    elif module == "jupyterlab":
        from jupyterlab.labapp import LabApp

        known = set(LabApp.aliases) | set(LabApp.flags)
        for word in args:
            name = word.lstrip("-").split("=")[0]
            if word.startswith("-") and "." not in name:  # --Class.trait=value is always accepted
                assert name in known, f"{example}\n  JupyterLab has no option --{name}"
    else:
        pytest.fail(f"{example}\n  no check for module {module}: teach tests/test_docs_examples.py", pytrace=False)


def check_script(script: str, args: list[str], example: Example) -> None:
    """A script of the repository: it exists; a .py script parses ARGS; a .sh script's `exec ... -m MODULE` does."""
    path = ROOT / script
    assert path.is_file(), f"{example}\n  {script} does not exist"
    if example.text == script:  # named in prose ("written by `scripts/notebook_header.py`"), not a command
        return
    if path.suffix == ".py":
        parse_with_program(lambda: runpy.run_path(str(path), run_name="__main__"), script, args, example)
        return
    exec_line = re.search(r'^exec "\$LAB_PY" -m (\S+)(.*?)"\$@"', path.read_text(), re.M)
    if exec_line is None:
        assert not args, f"{example}\n  {script} takes no arguments"
        return
    fixed = [w for w in shlex.split(exec_line.group(2)) if not w.startswith("$")]
    check_module(exec_line.group(1), [*fixed, *args], example)


def check_pip(args: list[str], example: Example) -> None:
    """`pip install ".[extras]"` names extras that pyproject.toml defines."""
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for word in args:
        if match := re.fullmatch(r"\.\[([\w,]+)\]", word):
            missing = set(match.group(1).split(",")) - extras
            assert not missing, f"{example}\n  pyproject.toml has no extra {sorted(missing)}"


def check_pytest(args: list[str], example: Example) -> None:
    """run_tests.sh takes --fast and gives every other argument to pytest: pytest's own parser must accept them."""
    from _pytest.config import UsageError, get_config  # pytest's parser, with its built-in plugins' options

    try:
        get_config()._parser.parse(args)
    except UsageError as exc:
        pytest.fail(f"{example}\n  pytest refuses it: {str(exc).splitlines()[-1]}", pytrace=False)


def check_example(example: Example) -> None:
    """Dispatch one command to the check of its program."""
    program, *args = words(example)
    if program in ("./run_all.sh", "run_all.sh"):
        check_runner(args, example)
    elif program == "./run_tests.sh":
        check_pytest([a for a in args if a != "--fast"], example)
    elif program == "bash" or program.startswith("scripts/"):
        script, *args = args if program == "bash" else [program, *args]
        check_script(script, args, example)
    elif re.fullmatch(r"(\.venv/bin/)?python3?", program):
        if args[0] == "-m":
            check_module(args[1], args[2:], example)
        else:
            check_script(args[0], args[1:], example)
    elif re.fullmatch(r"(\.venv/bin/)?pip3?", program):
        check_pip(args, example)
    else:
        assert program in EXTERNAL, f"{example}\n  unknown program {program}: teach tests/test_docs_examples.py"


def test_the_documents_have_examples() -> None:
    """The extraction finds the commands it is meant to check (a changed layout must not leave it checking none)."""
    texts = {e.text for e in EXAMPLES}
    assert len(EXAMPLES) >= 30
    assert any(t.startswith("./run_all.sh --profile smoke --data-dir ../shared/data/mini") for t in texts)
    assert any("-m lab_utils.run.pack --load" in t for t in texts)
    assert any(t.startswith("KERAS_BACKEND=jax python -m lab_utils.run --profile full") for t in texts)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.document.relative_to(ROOT)}:{e.line}")
def test_example_parses(example: Example) -> None:
    check_example(example)


@pytest.mark.parametrize(
    "text",
    [
        "./run_all.sh --profile smoke --bogus-flag",
        "./run_all.sh --only 07",
        ".venv/bin/python -m lab_utils.run.pack runs/ --output-dir x",
        ".venv/bin/python -m benchmarks.bench_training --only no_such_case",
        "scripts/cluster_scheduler.sh --prot 8786",
        "scripts/cluster_worker.sh --workers 2",  # the scheduler's address is required
        "scripts/jupyterlab.sh --prot 8899",
        "pip install '.[notebook]'",
        "./run_tests.sh --fast --durashuns=25",
        ".venv/bin/python -m lab_utils.run.no_such_module",
        "./run_all.sh --workers 0",
        ".venv/bin/python scripts/notebook_header.py --chek",
        "python -m ipykernel install --sys-prefx",
    ],
)
def test_a_wrong_example_is_caught(text: str) -> None:
    """The checks refuse what a stale document would say (else the examples above prove nothing)."""
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        check_example(Example(ROOT / "README.md", 1, text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower()).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    """Every heading's anchor (repeated headings get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", _without_fences(document.read_text()), re.M):
        base = slug(heading)
        seen[base] = seen.get(base, -1) + 1
    return {f"{base}-{n}" if n else base for base, count in seen.items() for n in range(count + 1)}


LINKS = [
    (document, target)
    for document in DOCUMENTS
    for target in re.findall(r"\]\(([^)\s]+)\)", _without_fences(document.read_text()))
    if not re.match(r"[a-z]+:", target)
]


@pytest.mark.parametrize("document, target", LINKS, ids=[f"{d.relative_to(ROOT)}->{t}" for d, t in LINKS])
def test_relative_link_points_at_a_file_and_heading(document: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (document.parent / path).resolve() if path else document
    assert file.exists(), f"{document.relative_to(ROOT)}: link to {target}: {path} does not exist"
    if anchor:
        assert anchor in anchors(file), (
            f"{document.relative_to(ROOT)}: link to {target}: no such heading in "
            f"{file.relative_to(ROOT)} (anchors: {sorted(anchors(file))})"
        )


def test_anchors_are_github_slugs() -> None:
    assert (
        slug("Installed without a checkout (pip, Colab, Kaggle, a laptop)")
        == "installed-without-a-checkout-pip-colab-kaggle-a-laptop"
    )
    assert slug("A teacher's run cache for a class") == "a-teachers-run-cache-for-a-class"
    assert slug("An AVX2 CPU on an AVX-512 machine: `--isa avx2`") == "an-avx2-cpu-on-an-avx-512-machine---isa-avx2"


PROJECT_PATH = re.compile(
    r"`((?:lab_utils|tests|scripts|benchmarks|notebooks|docs)/[\w/.\-]+\.(?:py|sh|md|ipynb)|"
    r"[\w\-]+\.(?:sh|yml|toml))`"
)


def test_every_project_file_the_documents_name_exists() -> None:
    """`lab_utils/training/cpu.py`, `tests/test_install.py`, `environment-gpu.yml`, ... in prose."""
    missing = [
        f"{d.relative_to(ROOT)}: {name}"
        for d in DOCUMENTS
        for name in PROJECT_PATH.findall(d.read_text())
        if not (ROOT / name).exists()
    ]
    assert not missing, "documents name files that do not exist:\n" + "\n".join(missing)


def test_the_teachers_pack_and_load_example_round_trips(tmp_path: Path) -> None:
    """docs/usage.md's two pack commands, run as written (from a folder holding runs/), on a small run cache."""
    from .test_pack import make_runs

    make_runs(tmp_path / "runs")
    commands = [e for e in EXAMPLES if e.document.name == "usage.md" and "-m lab_utils.run.pack" in e.text]
    assert len(commands) == 2, commands
    # LAB_CALLER_DIR: relative paths are taken from it, as run_all.sh sets it (see the report on pack's CLI).
    env = {**os.environ, "LAB_CALLER_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    student = tmp_path / "student-runs"  # in place of the example's /tmp/student-runs, which other runs share
    outputs = []
    for example in commands:
        argv = [w.replace("/tmp/student-runs", str(student)) for w in words(example)[1:]]
        result = subprocess.run(
            [sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{example}\n{result.stderr}"
        outputs.append(result.stdout.strip())
    assert outputs == ["2 runs packed into class-runs.zip", "2 runs added to student-runs"]
    for run in ("mnist_cnn-ab12", "mnist_mlp-cd34"):
        for name in ("record.json", "model.weights.h5"):
            assert (student / run / name).read_bytes() == (tmp_path / "runs" / run / name).read_bytes()


def test_the_layout_in_usage_names_existing_files() -> None:
    """docs/usage.md's "Where everything is" tree: every file it lists is in the folder it is listed under."""
    block = next(
        lines
        for language, _, lines in _fenced_blocks((ROOT / "docs" / "usage.md").read_text())
        if not language and lines and lines[0].startswith("lab_utils/")
    )
    top, folder, missing, named = "", "", [], 0
    for line in block:
        if match := re.match(r"(\S+)/\s", line):  # a top-level folder: lab_utils/, notebooks/, tests/
            top = folder = match.group(1)
        elif match := re.match(r"  (\w+)/\s", line):  # a sub-folder of the last one: data/, models/, ...
            folder = f"{top}/{match.group(1)}"
        elif not line.startswith(" "):  # the line of files at the root
            folder = ""
        pattern = r"[\w*\-]+\.py\b" if folder else r"[\w/\-]+\.(?:sh|yml|toml)\b"
        for name in re.findall(pattern, line):
            named += 1
            if not list(ROOT.glob(f"{folder}/{name}" if folder else name)):
                missing.append(f"{folder}/{name}" if folder else name)
    assert named >= 40 and not missing, f"docs/usage.md lists files that do not exist: {missing} ({named} named)"
