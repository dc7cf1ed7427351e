"""What a notebook shows: Markdown text, code, tables and saved figures, each rendered the same everywhere.

IPython asks an object for `_repr_markdown_` / `_repr_png_`; JupyterLab and nbconvert's HTML exporter render
both (code fences highlighted, pipe tables as tables), so every notebook and the HTML report look alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class Markdown(str):
    """Markdown text that a notebook renders (IPython calls `_repr_markdown_`)."""

    def _repr_markdown_(self) -> str:
        return str(self)


class Code(Markdown):
    """Markdown holding fenced code; rendered with syntax highlighting."""


class Table(list):
    """Table rows (dicts, for code) that a notebook renders as the Markdown table written beside them."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], markdown: str) -> None:
        super().__init__(rows)
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown


class SavedFigure(os.PathLike):
    """A figure written to disk; a notebook shows it inline from the saved PNG, so what you see is the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"SavedFigure({str(self.path)!r})"

    def _repr_png_(self) -> bytes:
        """IPython's hook: display the saved image."""
        return self.path.read_bytes()
