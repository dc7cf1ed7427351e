"""The static site of the executed lab (lab_utils.report.site), on a small fake build folder made here.

Three executed notebooks (00, 01, 05) with a title, a one-line summary and a PNG output; 02–04 did not run. The
unit tests check the files and links; the browser test opens the index from the file system in Chromium with the
network cut off, follows links, checks that every image loads, and saves a screenshot to build/test-artifacts/.
"""

from __future__ import annotations

import base64
import re
import struct
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from lab_utils.report import site
from lab_utils.report.outputs import ALL_FIGURES
from lab_utils.run.runner import NOTEBOOKS

from .browser_helpers import ARTIFACTS, chromium_or_skip, chromium_page

RAN = ("00_data_exploration", "01_mnist_cnn", "05_results")
MATHJAX = re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/")  # the one reference to the network


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid one-colour PNG, made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def executed_notebook(number: str, title: str) -> nbformat.NotebookNode:
    """A small executed notebook: a title, a summary, some math, and a code cell whose output is a PNG."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.papermill = {"parameters": {"profile": "smoke"}, "duration": 3.2}
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            f"# {number} · {title}\n> Summary of notebook {number}, with `code`.\n\nImages are $28 \\times 28$ pixels."
        ),
        nbformat.v4.new_code_cell(
            f"marker_{number} = 1",
            execution_count=1,
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={"image/png": base64.b64encode(png(40, 30, (200, 60, 60))).decode(), "text/plain": "<Figure>"},
                )
            ],
        ),
    ]
    return notebook


def make_build(tmp: Path) -> tuple[Path, Path, Path]:
    """build/ with notebooks 00, 01, 05 executed; figures/ without fig03; tables/ with mnist.md and claims.md."""
    build, figures, tables, sources = tmp / "build", tmp / "figures", tmp / "tables", tmp / "sources"
    for folder in (build, figures, tables, sources):
        folder.mkdir()
    for name in RAN:
        nbformat.write(executed_notebook(name[:2], f"Fake {name[3:]}"), build / f"{name}.ipynb")
    nbformat.write(executed_notebook("02", "From the source"), sources / "02_cifar10_cnn.ipynb")
    for i, name in enumerate(("fig01_mnist_samples", "fig02_mnist_class_distribution", "fig04_mnist_cnn_architecture")):
        (figures / f"{name}.png").write_bytes(png(120 + 10 * i, 80, (40, 90 + 50 * i, 160)))
    (tables / "mnist.md").write_text("MNIST test accuracy\n\n| network | accuracy |\n|---|---:|\n| CNN | 99.1 |\n")
    (tables / "claims.md").write_text("Claims\n\n| claim | verdict |\n|---|---|\n| CNN beats MLP | reproduced |\n")
    return build, figures, tables


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of the fake build (sources of the notebooks that did not run: only 02's)."""
    tmp = tmp_path_factory.mktemp("site")
    build, figures, tables = make_build(tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(site, "SOURCES_DIR", tmp / "sources")
        return site.write_site(build, NOTEBOOKS, figures_dir=figures, tables_dir=tables)


class Refs(HTMLParser):
    """Every href/src of a page, and the text of each <nav>'s links by rel."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []  # (tag, url)
        self.navs: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "nav" and "site-nav" in (values.get("class") or ""):
            self.navs.append({})
        for name in ("href", "src"):
            if values.get(name) is not None:
                self.refs.append((tag, values[name]))
        if tag == "a" and values.get("rel") and self.navs and values.get("href"):
            self.navs[-1][values["rel"]] = values["href"]


def parse(path: Path) -> Refs:
    """The page's references, parsed."""
    refs = Refs()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


def test_every_page_links_to_files_that_exist_and_loads_nothing_from_the_network(built: Path) -> None:
    pages = sorted(p.name for p in built.glob("*.html"))
    assert pages == sorted(["index.html", *(f"{name}.html" for name in RAN)])
    for page in built.glob("*.html"):
        for tag, url in parse(page).refs:
            if url.startswith(("data:", "#")) or (tag == "a" and re.match(r"^(https?|mailto):", url)):
                continue  # embedded, in-page, or a link a reader may follow (not needed to render the page)
            if tag == "script" and MATHJAX.match(url):
                continue  # offline the formulas read as TeX (checked in the browser test)
            assert not re.match(r"^[a-z][a-z0-9+.-]*:|^/", url), f"{page.name}: {tag} {url} is not relative"
            assert (built / url.split("#")[0]).is_file(), f"{page.name}: {tag} {url} does not exist"


def test_each_page_shows_the_code_and_its_figure_between_two_navigation_bars(built: Path) -> None:
    expected = {
        "00_data_exploration": (None, "01_mnist_cnn.html"),
        "01_mnist_cnn": ("00_data_exploration.html", "05_results.html"),
        "05_results": ("01_mnist_cnn.html", None),
    }  # 02–04 did not run: skipped
    for name, (previous, following) in expected.items():
        text = (built / f"{name}.html").read_text(encoding="utf-8")
        navs = parse(built / f"{name}.html").navs
        assert len(navs) == 2 and navs[0] == navs[1], navs  # at the top and at the bottom
        assert (navs[0].get("prev"), navs[0]["index"], navs[0].get("next")) == (previous, "index.html", following)
        assert f"marker_{name[:2]}" in text and "jp-InputArea" in text  # code shown
        assert 'src="data:image/png;base64,' in text  # the figure inline, as in the notebook
        assert f"<title>{name[:2]} · Fake {name[3:]}</title>" in text
        assert "require.js" not in text and "mermaid.esm" not in text


def test_the_index_lists_every_notebook_in_order_with_its_summary_figures_and_tables(built: Path) -> None:
    index = (built / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<section class="notebook[^"]*" id="nb-([^"]+)"', index) == list(NOTEBOOKS)
    sections = dict(re.findall(r'id="nb-([^"]+)">(.*?)</section>', index, flags=re.S))
    for name in RAN:
        assert f'<a href="{name}.html">{name[:2]} · Fake {name[3:]}</a>' in sections[name]
        assert f"Summary of notebook {name[:2]}, with <code>code</code>." in sections[name]
        assert "profile smoke · 3 s" in sections[name]
    for name in ("02_cifar10_cnn", "03_transfer_learning", "04_data_augmentation"):
        assert "not run" in sections[name] and "<a " not in sections[name]
    assert "02 · From the source" in sections["02_cifar10_cnn"]  # its title from the source notebook
    assert "<h2>03_transfer_learning</h2>" in sections["03_transfer_learning"]  # no source: its name
    for name in ("fig01_mnist_samples", "fig02_mnist_class_distribution"):
        assert f'<a href="figures/{name}.png"><img src="figures/{name}.png"' in sections["00_data_exploration"]
    assert "missing: fig03_cifar10_samples.png" in sections["00_data_exploration"]
    assert "fig04_mnist_cnn_architecture.png" in sections["01_mnist_cnn"]
    assert "<td>CNN</td>" in sections["01_mnist_cnn"] and "<table>" in sections["01_mnist_cnn"]
    assert "What this run reproduces" in sections["05_results"] and "<td>reproduced</td>" in sections["05_results"]
    copied = sorted(p.name for p in (built / "figures").iterdir())
    assert copied == [
        "fig01_mnist_samples.png",
        "fig02_mnist_class_distribution.png",
        "fig04_mnist_cnn_architecture.png",
    ]
    source = built.parent.parent / "figures" / "fig01_mnist_samples.png"
    assert (built / "figures" / "fig01_mnist_samples.png").read_bytes() == source.read_bytes()


def test_a_failed_write_keeps_the_previous_site_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build, figures, tables = make_build(tmp_path)
    before = site.write_site(build, NOTEBOOKS, figures_dir=figures, tables_dir=tables)
    index = (before / "index.html").read_bytes()
    (build / "01_mnist_cnn.ipynb").unlink()

    def fail(*args: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(site, "index_html", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        site.write_site(build, NOTEBOOKS, figures_dir=figures, tables_dir=tables)
    assert (before / "index.html").read_bytes() == index and (before / "01_mnist_cnn.html").is_file()
    assert sorted(p.name for p in build.iterdir() if p.name.startswith(".")) == []  # no temporary folder left


def test_a_build_where_nothing_ran_gives_an_index_of_notebooks_not_run(tmp_path: Path) -> None:
    written = site.write_site(tmp_path, ["00_data_exploration"], figures_dir=tmp_path, tables_dir=tmp_path)
    assert sorted(p.name for p in written.iterdir()) == ["figures", "index.html"]
    index = (written / "index.html").read_text(encoding="utf-8")
    assert "0 of 1 notebooks ran" in index and "not run" in index


# Every image on the page has finished loading (decoded or failed), so naturalWidth is final.
IMAGES_DONE_JS = "() => [...document.images].every(i => i.complete)"
IMAGES_JS = "() => [...document.images].map(i => ({src: i.getAttribute('src').slice(0, 40), width: i.naturalWidth}))"


def loaded_images(page) -> list[dict]:
    """The page's images once they have all loaded; fails the test if one did not decode."""
    page.wait_for_function(IMAGES_DONE_JS)
    images = page.evaluate(IMAGES_JS)
    assert images and all(i["width"] > 0 for i in images), images
    return images


@pytest.mark.e2e
def test_the_site_opens_from_the_file_system_in_chromium_without_network(built: Path) -> None:
    chromium = chromium_or_skip()
    screenshot = ARTIFACTS / "site_index.png"
    screenshot.unlink(missing_ok=True)
    started, requested = time.monotonic(), []
    with chromium_page(chromium, height=1000, timeout_s=20) as page:
        page.route(
            re.compile(r"^(https?|wss?)://"), lambda route: (requested.append(route.request.url), route.abort())
        )  # offline
        page.goto((built / "index.html").as_uri())
        assert len(loaded_images(page)) == 3  # Figs. 1, 2 and 4 (Fig. 3 is missing)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)

        page.click('a[href="00_data_exploration.html"]')
        page.wait_for_load_state()
        assert page.url.endswith("/site/00_data_exploration.html")
        assert len(loaded_images(page)) == 1  # the notebook's own figure, inline
        assert "28 \\times 28" in page.inner_text("main")  # no MathJax offline: the formula reads as TeX
        following = page.locator('nav.site-nav a[rel="next"]')
        assert following.count() == 2 and following.first.get_attribute("href") == "01_mnist_cnn.html"
        following.first.click()
        page.wait_for_load_state()
        assert page.url.endswith("/site/01_mnist_cnn.html") and len(loaded_images(page)) == 1
    assert all(MATHJAX.match(url) for url in requested), requested
    assert screenshot.stat().st_size > 0
    print(f"site browser test in {time.monotonic() - started:.1f} s; screenshot: {screenshot}")


def test_run_all_writes_the_site_of_every_notebook(smoke: Path) -> None:
    """The smoke run of the whole suite: one page per notebook, the index, and the figures beside them."""
    site = smoke / "build" / "site"
    assert (site / "index.html").is_file()
    assert all((site / f"{name}.html").is_file() for name in NOTEBOOKS)
    assert len(list((site / "figures").glob("*.png"))) == len(ALL_FIGURES)


def test_no_page_of_the_site_scrolls_sideways_at_1280_px(smoke: Path) -> None:
    """The widest tables (the claims, Table III) wrap inside a 1,280-pixel window instead of scrolling."""
    chromium = chromium_or_skip()
    with chromium_page(chromium, height=900, timeout_s=20) as page:
        page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())  # offline, as a student opens it
        for html in sorted((smoke / "build" / "site").glob("*.html")):
            page.goto(html.as_uri())
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1280, f"{html.name} is {width} px wide in a 1,280 px window"


def test_pages_and_tables_show_paths_relative_to_where_the_command_ran(tmp_path: Path, monkeypatch) -> None:
    """papermill's injected parameters and a table footer naming the data folder carry absolute paths; the
    published site must not (a teacher would share their home folder's layout)."""
    build, figures, tables = make_build(tmp_path)
    caller = tmp_path / "work"
    caller.mkdir()
    monkeypatch.setenv("LAB_CALLER_DIR", str(caller))
    monkeypatch.setattr(site, "SOURCES_DIR", tmp_path / "sources")
    notebook = nbformat.read(build / "00_data_exploration.ipynb", as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            f'figures_dir = "{caller}/figs"',
            execution_count=2,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text=f"read {tmp_path}/data/mnist\n")],
        )
    )
    nbformat.write(notebook, build / "00_data_exploration.ipynb")
    (tables / "mnist.md").write_text(f"MNIST\n\n| a |\n|---|\n| 1 |\n\ndata: mnist from {tmp_path}/data/mnist\n")
    out = site.write_site(build, NOTEBOOKS, figures_dir=figures, tables_dir=tables)
    page, index = (out / "00_data_exploration.html").read_text(), (out / "index.html").read_text()
    assert str(tmp_path) not in page and str(tmp_path) not in index
    assert "figs" in page and "../data/mnist" in page and "../data/mnist" in index
