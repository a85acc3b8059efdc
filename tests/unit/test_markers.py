"""Every integration test is marked: `pytest -m integration` (and `-m "not integration"`)
selects exactly what the folders hold (tests/integration, and the storage fault tests of
tests/faults, which run real studies too)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collected(*args: str) -> set[str]:
    # -n 0: collected here, without the workers the suite runs on
    command = ["pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", *args]
    done = subprocess.run(
        [sys.executable, "-m", *command], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]  # 5: none
    return {line for line in done.stdout.splitlines() if "::" in line}


def test_every_integration_test_is_marked_and_no_unit_test_is() -> None:
    folder = collected("tests/integration", "tests/faults")
    assert len(folder) > 30  # the folder's tests were collected at all
    marked = collected("tests", "-m", "integration")
    assert folder - marked == set(), "integration tests without pytestmark"
    assert marked - folder == set(), "tests marked integration outside tests/integration"
