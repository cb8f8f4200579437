"""A real headless browser for the page's test: Debian's Chromium and chromedriver, driven by
Selenium. A test skips when one is missing, except in CI (.ci/run installs them)."""

from __future__ import annotations

import os
import shutil

import pytest


def _require(what: str, install: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; .ci/run installs it ({install})")
    pytest.skip(f"{what} is not installed ({install})")


def chromium():
    """A headless Chromium session (the caller quits it), its console log kept for the test."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require("selenium", "pip install selenium")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        _require("chromium or chromedriver", "apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    # Root in a container: no sandbox; /dev/shm may be small.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))
