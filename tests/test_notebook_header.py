"""scripts/notebook_header.py on copies of the notebooks: the python3 kernelspec, a first cell that installs the
package only where it is missing, README links from the one repository address, and a second run that changes
nothing."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from .helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import notebook_header as header

REPO = "https://github.com/someone/elsewhere"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """notebooks/ copied, a README with the link markers, a pyproject naming another repository."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (tmp_path / "README.md").write_text(f"# Lab\n\n{header.LINKS_START}\nold\n{header.LINKS_END}\n\nMore.\n")
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n[project.urls]\nRepository = "{REPO}/"\n')
    return tmp_path


def run(project: Path, *extra: str) -> int:
    return header.main(
        [
            "--notebooks",
            str(project / "notebooks"),
            "--readme",
            str(project / "README.md"),
            "--pyproject",
            str(project / "pyproject.toml"),
            *extra,
        ]
    )


def test_every_notebook_gets_python3_and_one_setup_cell_and_a_second_run_changes_nothing(project: Path) -> None:
    assert run(project, "--check") == 1  # out of date before
    assert run(project) == 0
    before = {p.name: p.read_bytes() for p in (project / "notebooks").glob("*.ipynb")}
    assert len(before) >= 6
    for path in (project / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert header.TAG in code[0].metadata.tags and f'git+{REPO}"' in code[0].source
        assert sum(header.TAG in c.metadata.get("tags", []) for c in code) == 1
        original = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        assert [c.source for c in code[1:]] == [
            c.source for c in original.cells if c.cell_type == "code" and header.TAG not in c.metadata.get("tags", [])
        ]
    assert run(project) == 0 and run(project, "--check") == 0
    assert before == {p.name: p.read_bytes() for p in (project / "notebooks").glob("*.ipynb")}


def test_readme_links_are_made_from_the_one_address(project: Path) -> None:
    run(project)
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Lab\n") and readme.endswith("\n\nMore.\n") and "old" not in readme
    for path in (project / "notebooks").glob("*.ipynb"):
        assert (
            f"https://colab.research.google.com/github/someone/elsewhere/blob/main/notebooks/student/{path.name}"
            in readme
        )
    assert "cnn-lab/cnn-keras-lab" not in readme


class FakeIPython:
    """Records the magics the set-up cell asks for instead of running pip."""

    def __init__(self) -> None:
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str) -> None:
        self.magics.append((name, line))


@pytest.mark.parametrize("installed", [True, False])
def test_the_setup_cell_installs_only_where_lab_utils_is_missing(monkeypatch, installed: bool) -> None:
    real = importlib.util.find_spec
    missing = {"google.colab"} | (set() if installed else {"lab_utils"})
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a))
    monkeypatch.delenv("LAB_RUNS_ARCHIVE", raising=False)
    ipython = FakeIPython()
    code = TransformerManager().transform_cell(header.setup_cell_source(REPO))
    exec(compile(code, "setup-cell", "exec"), {"get_ipython": lambda: ipython})
    expected = [] if installed else [("pip", f'install -q "cnn-keras-lab @ git+{REPO}"')]
    assert ipython.magics == expected


def test_an_address_that_is_not_https_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(SystemExit, match="Repository"):
        header.repository(tmp_path / "pyproject.toml")
