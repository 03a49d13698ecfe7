"""Headless Chromium for page tests: Debian's `chromium` and `chromium-driver` (the Makefile installs them),
driven by selenium, with the browser's console log kept."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this closed
# network refuses, and logs each failure.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required")


SCREEN = (1280, 800)  # the "first screen" the report's layout is judged on


@contextlib.contextmanager
def open_page(path: Path, size: tuple[int, int] = SCREEN) -> Iterator:
    """A selenium driver with `path` (a local HTML file) loaded in a window of `size` (width, height)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            raise RuntimeError(f"{binary} is missing: install Debian's chromium and chromium-driver "
                               "(`make test` does: apt-get install -y chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="ffbench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_script_timeout(60)
        # the viewport itself, not the window around it, is `size` (headless windows have no chrome, but
        # their window size is not guaranteed to be the page's)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
        driver.get(Path(path).resolve().as_uri())
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(path: Path, out: Path, size: tuple[int, int] = SCREEN) -> Path:
    """A PNG of the first screen of the page at `path` (what a reader sees before scrolling)."""
    with open_page(path, size) as driver:
        driver.save_screenshot(str(out))
    return out


if __name__ == "__main__":  # python tests/browser.py REPORT/index.html OUT.png
    import sys

    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
