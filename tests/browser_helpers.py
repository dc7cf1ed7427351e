"""Debian's Chromium driven by Playwright, for the tests that look at the lab in a real browser.

The same settings as tests/test_browser.py (Debian's build at /usr/bin/chromium, installed with apt-get when
missing, launched headless by Playwright with no browser download of its own), kept here so that other test files
share them without importing a test module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts"  # screenshots a person looks at after the run


def chromium_or_skip() -> Path:
    """Debian's Chromium, installed with apt-get when missing; skip only where it cannot be installed."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            f"no browser: {CHROMIUM} is missing and installing it needs root and apt-get "
            "(run `apt-get install chromium` as root)"
        )
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=120", "-qq"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in ([*apt, "update"], [*apt, "install", "-y", "chromium"]):
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=900, env=env, stdin=subprocess.DEVNULL
            )
            if result.returncode != 0:
                pytest.skip(f"no browser: `{' '.join(command)}` failed: {(result.stderr or result.stdout)[-500:]}")
    except subprocess.TimeoutExpired:
        pytest.skip("no browser: installing chromium with apt-get took more than 15 minutes")
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: apt-get installed chromium but {CHROMIUM} is not there")
    return CHROMIUM


@contextlib.contextmanager
def chromium_page(chromium: Path, *, width: int = 1280, height: int = 1600, timeout_s: float = 60) -> Iterator:
    """A fresh headless Chromium page (Playwright drives Debian's build); the browser is always closed."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_s * 1000)
            yield page
        finally:
            browser.close()
