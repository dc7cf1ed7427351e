"""Make every notebook open on Colab and Kaggle, and keep the README's "Open in Colab" links in step.

    python scripts/notebook_header.py            # notebooks/*.ipynb and README.md, in place
    python scripts/notebook_header.py --check    # exit 1 if anything would change (for CI)

Idempotent. In each notebook it (a) sets the kernelspec to the standard `python3` (the only name Colab and Kaggle
know; here bootstrap.sh maps python3 to the project's environment), (b) inserts, or updates, a first code cell
tagged `lab-setup` that installs the project when `import lab_utils` fails and, on Colab only and when asked
(USE_GOOGLE_DRIVE = True), keeps runs, figures and tables on Google Drive. The repository's address comes from one
place: pyproject.toml's [project.urls] Repository. In README.md it rewrites the block between the two `colab-links`
markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import tomllib

from lab_utils.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TAG = "lab-setup"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
BRANCH = "main"
LINKS_START, LINKS_END = "<!-- colab-links: made by scripts/notebook_header.py -->", "<!-- /colab-links -->"

SETUP = """# Set-up for Colab, Kaggle or any Python without this project: installs it when lab_utils is missing
# (nothing happens in the project's own environment). Runs, figures and tables stay on this machine; on Colab,
# USE_GOOGLE_DRIVE = True keeps them on your Google Drive instead (Colab then asks you to sign in).
# LAB_RUNS_ARCHIVE: a teacher's run cache (class-runs.zip) to skip training.
import importlib.util, os
if importlib.util.find_spec("lab_utils") is None:
    %pip install -q "{distribution} @ git+{repository}"
    importlib.invalidate_caches()
USE_GOOGLE_DRIVE = False
if USE_GOOGLE_DRIVE and importlib.util.find_spec("google.colab") is not None:
    from google.colab import drive
    drive.mount("/content/drive")
    os.environ["LAB_HOME"] = "/content/drive/MyDrive/cnn-lab"
    os.makedirs(os.environ["LAB_HOME"], exist_ok=True)
LAB_RUNS_ARCHIVE = ""
if LAB_RUNS_ARCHIVE:
    os.environ["LAB_RUNS_ARCHIVE"] = LAB_RUNS_ARCHIVE"""


def repository(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The repository's address: pyproject.toml [project.urls] Repository, the one place it is written."""
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("urls", {})
    if not str(urls.get("Repository", "")).startswith("https://"):
        sys.exit(f'{pyproject}: set [project.urls] Repository = "https://…" (the repository\'s address)')
    return urls["Repository"].rstrip("/")


def distribution(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The name pip installs the project under (pyproject.toml [project] name; the import name is lab_utils)."""
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]


def setup_cell_source(repo: str, dist: str | None = None) -> str:
    """The first code cell's source for this repository."""
    return SETUP.format(repository=repo, distribution=dist or distribution())


def with_header(notebook: nbformat.NotebookNode, repo: str) -> nbformat.NotebookNode:
    """The notebook with the python3 kernelspec and the set-up cell first among code cells (updated in place)."""
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    source = setup_cell_source(repo)
    cells = notebook.cells
    existing = [c for c in cells if c.cell_type == "code" and TAG in c.get("metadata", {}).get("tags", [])]
    if existing:
        existing[0].source = source
        return notebook
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [TAG]})
    if notebook.nbformat_minor >= 5:
        cell["id"] = TAG  # stable, so a second run changes nothing
    else:
        cell.pop("id", None)  # cell ids exist from nbformat 4.5 on
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, cell)
    return notebook


def colab_links(repo: str, notebooks: list[Path]) -> str:
    """The README's table: one Colab and one Kaggle link per notebook, to its student version (solutions folded:
    Colab ignores JupyterLab's collapsed cells, so the source notebooks would show every answer)."""
    path = repo.removeprefix("https://github.com/")
    rows = ["| notebook | Colab | Kaggle |", "|---|---|---|"]
    for nb in notebooks:
        rel = f"notebooks/student/{nb.name}"
        colab = f"https://colab.research.google.com/github/{path}/blob/{BRANCH}/{rel}"
        kaggle = f"https://kaggle.com/kernels/welcome?src={repo}/blob/{BRANCH}/{rel}"
        rows.append(f"| `{nb.stem}` | [Open in Colab]({colab}) | [Open in Kaggle]({kaggle}) |")
    return "\n".join([LINKS_START, *rows, LINKS_END])


def with_links(readme: str, table: str) -> str:
    """README text with the block between the markers replaced (the markers must be there once)."""
    start, end = readme.find(LINKS_START), readme.find(LINKS_END)
    if start < 0 or end < start:
        sys.exit(f"README: add the two lines {LINKS_START!r} and {LINKS_END!r} where the links go")
    return readme[:start] + table + readme[end + len(LINKS_END) :]


def main(argv: list[str] | None = None) -> int:
    """Update (or with --check, only compare) the notebooks and the README; return 1 if --check found changes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of .ipynb files")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if something is out of date")
    args = parser.parse_args(argv)
    repo = repository(args.pyproject)
    notebooks = sorted(args.notebooks.glob("*.ipynb"))
    stale = []
    for path in notebooks:
        old = path.read_text(encoding="utf-8")
        new = nbformat.writes(with_header(nbformat.reads(old, as_version=4), repo)) + "\n"
        if new != old:
            stale.append(path)
            if not args.check:
                atomic_write_text(path, new)
    if args.readme.is_file():
        old = args.readme.read_text(encoding="utf-8")
        new = with_links(old, colab_links(repo, notebooks))
        if new != old:
            stale.append(args.readme)
            if not args.check:
                atomic_write_text(args.readme, new)
    for path in stale:
        print(f"{'out of date' if args.check else 'updated'}: {path.name}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
