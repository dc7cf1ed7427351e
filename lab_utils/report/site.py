"""The executed lab as a static site: every notebook as an HTML page, linked in order, and an index page.

`run_all.sh` writes it to build/<profile>/site/, the folder a teacher hands out. It opens from the file system
(file://) with no server: every link is relative, each page embeds its CSS and its figures (the executed notebook
already holds them as PNG data), and the index's figures are copied into site/figures/. No script or stylesheet
comes from the network except MathJax: without it (offline) a formula reads as its TeX source, e.g.
`$28 \\times 28$`, which is what the notebooks' Markdown says anyway.
"""

from __future__ import annotations

import copy
import html
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from lab_utils.atomic import atomic_dir
from lab_utils.paths import PROJECT_ROOT, display_text
from lab_utils.report.outputs import ALL_FIGURES, TABLES, Output

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

SOURCES_DIR = PROJECT_ROOT / "notebooks"  # titles of the notebooks that did not run come from their sources
CLAIMS = Output("claims", "What this run reproduces", "05_results")

# nbconvert's lab template with what needs the network taken out: require.js (only widgets and JavaScript outputs
# use it; the lab has neither), the widget manager, and mermaid (imported from a CDN). The navigation bar goes
# just inside <main>, at the top and at the bottom of the page.
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">{{ resources.site_css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.site_nav }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.site_nav }}{{ super() }}{%- endblock body_footer -%}
"""

NAV_CSS = """nav.site-nav { display: flex; justify-content: space-between; gap: 1em; margin: 1em 0; padding: .5em 1em;
  border: 1px solid #ccc; border-radius: 4px; background: #f7f7f7; font: 14px/1.4 system-ui, sans-serif; }
nav.site-nav a { text-decoration: none; } nav.site-nav .off { color: #999; }
table { width: 100%; max-width: 100%; table-layout: auto; }
th, td { overflow-wrap: anywhere; hyphens: auto; vertical-align: top; }"""
# Wide tables (the claims table has a dozen columns) wrap inside the page instead of scrolling sideways at
# 1,280 px: full width, cells may break long words, a smaller font; the same rules on the notebook pages.

INDEX_CSS = (
    NAV_CSS
    + """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1em 2em; color: #222; }
section.notebook { border-top: 1px solid #ddd; padding: .5em 0 1em; }
section.notebook h2 { margin-bottom: .2em; } .summary { font-style: italic; margin-top: 0; }
.status { color: #666; } .not-run h2 { color: #888; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; width: 260px; } .table { overflow-x: visible; }
figure img { display: block; max-width: 100%; max-height: 240px; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #444; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .2em .5em; } .missing { color: #a00; }"""
)

_QUIET_TEXT = "Alternative text is missing"  # nbconvert warns once per page: notebook figures carry no alt text


@dataclass(frozen=True)
class Entry:
    """One notebook of the site: its name, its title and summary (inline HTML), and whether it ran."""

    name: str
    title: str
    summary: str
    ran: bool
    info: str = ""  # profile and duration, from papermill's metadata

    @property
    def page(self) -> str:
        """The page's file name in the site (relative links only)."""
        return f"{self.name}.html"


def _inline(markdown: str) -> str:
    """One line of Markdown as inline HTML (titles and summaries may hold `code` or *emphasis*)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    text = markdown2html_mistune(markdown).strip()
    return text[3:-4] if text.startswith("<p>") and text.endswith("</p>") else text


def title_and_summary(notebook: nbformat.NotebookNode, name: str) -> tuple[str, str]:
    """The notebook's first H1 and the first `> ` line of its first Markdown cell: what the index shows of it."""
    markdown = [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    lines = [line for source in markdown for line in source.splitlines()]
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), name)
    first = markdown[0].splitlines() if markdown else []
    summary = next((line[2:].strip() for line in first if line.startswith("> ")), "")
    return _inline(title), _inline(summary) if summary else ""


def _run_info(notebook: nbformat.NotebookNode) -> str:
    """ "profile smoke · 41 s" from papermill's record of the run, when there is one."""
    record = notebook.metadata.get("papermill", {})
    parts = []
    if (profile := record.get("parameters", {}).get("profile")) is not None:
        parts.append(f"profile {html.escape(str(profile))}")
    if isinstance(record.get("duration"), (int, float)):
        parts.append(f"{record['duration']:.0f} s")
    return " · ".join(parts)


def read_entries(build_dir: Path, notebooks: Sequence[str]) -> tuple[list[Entry], dict[str, nbformat.NotebookNode]]:
    """Each notebook's entry, in order, and the executed notebooks that exist; a missing one is "not run"."""
    entries, executed = [], {}
    for name in notebooks:
        path, source = build_dir / f"{name}.ipynb", SOURCES_DIR / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4) if path.is_file() else None
        if notebook is not None:
            executed[name] = notebook
        described = notebook or (nbformat.read(source, as_version=4) if source.is_file() else None)
        title, summary = title_and_summary(described, name) if described else (html.escape(name), "")
        entries.append(Entry(name, title, summary, notebook is not None, _run_info(notebook) if notebook else ""))
    return entries, executed


def _plain(inline_html: str) -> str:
    """Inline HTML as plain text (for a page's <title> and a link's tooltip)."""
    return html.unescape(re.sub("<[^>]+>", "", inline_html))


def nav_html(previous: Entry | None, following: Entry | None) -> str:
    """ "← previous notebook | index | next notebook →" between the notebooks that ran (links must exist)."""

    def link(entry: Entry | None, text: str, rel: str) -> str:
        """A link to `entry`'s page, or the text greyed out at either end of the lab."""
        if entry is None:
            return f'<span class="off">{text}</span>'
        return f'<a href="{entry.page}" rel="{rel}" title="{html.escape(_plain(entry.title))}">{text}</a>'

    return (
        f'<nav class="site-nav">{link(previous, "← previous notebook", "prev")}'
        f'<a href="index.html" rel="index">index</a>{link(following, "next notebook →", "next")}</nav>'
    )


class _DropMissingAlt(logging.Filter):
    """Keep nbconvert's warnings except the one about alt text, which every figure of the lab would raise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _QUIET_TEXT not in record.getMessage()


def page_exporter() -> HTMLExporter:
    """nbconvert's HTMLExporter on the lab template, code shown, with PAGE_TEMPLATE's offline changes."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    log = logging.getLogger("lab_utils.report.site.nbconvert")
    if not any(isinstance(f, _DropMissingAlt) for f in log.filters):
        log.addFilter(_DropMissingAlt())
    return HTMLExporter(
        template_name="lab",
        template_file="lab_site.html.j2",
        log=log,
        extra_loaders=[DictLoader({"lab_site.html.j2": PAGE_TEMPLATE})],
    )


def without_absolute_paths(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy whose code, text outputs and error messages show paths relative to where the command ran
    (papermill's injected parameters and printed data folders would otherwise publish the author's layout)."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell.source = display_text(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = display_text(output.text)
            for kind in ("text/plain", "text/markdown", "text/html"):
                if kind in output.get("data", {}):
                    output.data[kind] = display_text(output.data[kind])
            if "traceback" in output:
                output.traceback = [display_text(line) for line in output.traceback]
    return notebook


def export_page(exporter: HTMLExporter, notebook: nbformat.NotebookNode, entry: Entry, nav: str) -> str:
    """One executed notebook as a page, titled as in the index, with the navigation bar at top and bottom."""
    resources = {"metadata": {"name": _plain(entry.title)}, "site_nav": nav, "site_css": NAV_CSS}
    body, _ = exporter.from_notebook_node(without_absolute_paths(notebook), resources=resources)
    return body


def figure_html(figure: Output, figures_dir: Path, site: Path) -> str:
    """A thumbnail linking to the full PNG, copied into site/figures/; a line saying so if the PNG is missing."""
    source = figures_dir / f"{figure.name}.png"
    caption = html.escape(figure.caption)
    if not source.is_file():
        return f'<p class="missing">missing: {figure.name}.png ({caption})</p>'
    shutil.copyfile(source, site / "figures" / source.name)
    href = f"figures/{source.name}"
    return f'<figure><a href="{href}"><img src="{href}" alt="{caption}"></a><figcaption>{caption}</figcaption></figure>'


def table_html(table: Output, tables_dir: Path) -> str:
    """The table's Markdown (tables/<name>.md: caption line, table, notes) as HTML under the table's caption."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    source = tables_dir / f"{table.name}.md"
    heading = f"<h3>{html.escape(table.caption)}</h3>"
    if not source.is_file():
        return f'{heading}<p class="missing">missing: {table.name}.md</p>'
    body = markdown2html_mistune(display_text(source.read_text(encoding="utf-8")))
    return f'<div class="table" id="table-{table.name}">{heading}{body}</div>'


def section_html(entry: Entry, figures_dir: Path, tables_dir: Path, site: Path) -> str:
    """The index's part for one notebook: title, summary, link, and the figures and tables it produced."""
    if not entry.ran:
        return (
            f'<section class="notebook not-run" id="nb-{entry.name}"><h2>{entry.title}</h2>'
            f'<p class="summary">{entry.summary}</p><p class="status">not run</p></section>'
        )
    figures = [figure_html(f, figures_dir, site) for f in ALL_FIGURES if f.notebook == entry.name]
    tables = [table_html(t, tables_dir) for t in TABLES if t.notebook == entry.name]
    if entry.name == CLAIMS.notebook and (tables_dir / f"{CLAIMS.name}.md").is_file():
        tables.append(table_html(CLAIMS, tables_dir))
    parts = [
        f'<section class="notebook" id="nb-{entry.name}">',
        f'<h2><a href="{entry.page}">{entry.title}</a></h2>',
        f'<p class="summary">{entry.summary}</p>',
    ]
    if entry.info:
        parts.append(f'<p class="status">{entry.info}</p>')
    if figures:
        parts.append(f'<div class="figures">{"".join(figures)}</div>')
    return "".join([*parts, *tables, "</section>"])


def index_html(sections: Sequence[str], count: int, ran: int) -> str:
    """The whole index page (self-contained: its CSS inline, no script)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">'
        f"<title>CNN lab: the executed notebooks</title><style>{INDEX_CSS}</style></head><body><main>"
        "<h1>CNN lab: the executed notebooks</h1>"
        f"<p>{ran} of {count} notebooks ran. Open one to read its code, its outputs and its figures; "
        "each page links to the previous and the next.</p>" + "\n".join(sections) + "</main></body></html>\n"
    )


def write_site(build_dir: Path, notebooks: Sequence[str], *, figures_dir: Path, tables_dir: Path) -> Path:
    """Write build_dir/site/ (the pages, index.html, figures/) atomically and return its path.

    It is built in a temporary folder beside it that replaces the old site only when complete, so a failure or
    a kill leaves the previous site (or none), never half of one.
    """
    build_dir, figures_dir, tables_dir = Path(build_dir), Path(figures_dir), Path(tables_dir)
    entries, executed = read_entries(build_dir, notebooks)
    pages = [entry for entry in entries if entry.ran]
    exporter = page_exporter() if pages else None  # nbconvert's templates load once for all pages
    target = build_dir / "site"
    with atomic_dir(target) as tmp:
        (tmp / "figures").mkdir()
        for i, entry in enumerate(pages):
            nav = nav_html(pages[i - 1] if i else None, pages[i + 1] if i + 1 < len(pages) else None)
            (tmp / entry.page).write_text(export_page(exporter, executed[entry.name], entry, nav), encoding="utf-8")
        sections = [section_html(entry, figures_dir, tables_dir, tmp) for entry in entries]
        (tmp / "index.html").write_text(index_html(sections, len(entries), len(pages)), encoding="utf-8")
    return target
