"""Project set-up stays consistent: conda and pip list the same dependencies, README and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pip_requirements_from_pyproject(*, gpu: bool) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [
        req
        for name, group in project.get("optional-dependencies", {}).items()
        if gpu or name != "gpu"
        for req in group
        if not req.startswith(f"{project['name']}[")
    ]
    return {req.replace(" ", "") for req in [*project["dependencies"], *extras]}


@pytest.mark.parametrize("file, gpu", [("environment.yml", False), ("environment-gpu.yml", True)])
def test_environment_yml_lists_the_same_dependencies_as_pyproject(file: str, gpu: bool) -> None:
    env = yaml.safe_load((ROOT / file).read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    conda_pip = {req.replace(" ", "") for req in pip_section if not req.startswith("-e")}
    assert conda_pip == _pip_requirements_from_pyproject(gpu=gpu)


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    commands = [
        line.split(" #")[0].strip() for line in blocks[0].splitlines() if line.strip() and not line.startswith("#")
    ]
    assert commands[:2] == ["./run_all.sh", "./run_tests.sh"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./run_tests.sh" in ci


def test_readme_fits_one_screen() -> None:
    """≤ 8 KB for a newcomer (its links and examples: tests/test_docs_examples.py)."""
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024


def test_readme_colab_links_are_made_from_the_one_repository_address() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import notebook_header

    table = notebook_header.colab_links(notebook_header.repository(), sorted((ROOT / "notebooks").glob("*.ipynb")))
    assert table in (ROOT / "README.md").read_text()
