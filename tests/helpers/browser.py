"""Debian's headless Chromium, to look at a page the way a person's browser would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    """The browser's path. CI installs it (.ci/run) and must never skip; elsewhere, say so."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        raise AssertionError("chromium is missing; .ci/run installs it with apt-get")
    pytest.skip("Debian's chromium is not installed here (apt-get install chromium)")


def script_errors(log: str) -> list[str]:
    """The page's uncaught errors and console errors, from Chromium's log."""
    return [
        line
        for line in log.splitlines()
        if ":CONSOLE" in line and re.search(r"Uncaught|Error|error", line)
    ]


def open_page(page: Path, screenshot: Path, height: int = 5200) -> tuple[str, list[str]]:
    """Load ``page`` (scripts run), save a screenshot; returns its DOM and any script errors."""
    exe, url = chromium(), page.resolve().as_uri()
    dom = subprocess.run(
        [exe, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    shot = subprocess.run(
        [exe, *FLAGS, f"--window-size=1280,{height}", f"--screenshot={screenshot}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.returncode == 0 and screenshot.stat().st_size > 0, shot.stderr[-2000:]
    return dom.stdout, script_errors(dom.stderr + shot.stderr)
