"""A study whose experiment snapshot is torn (a crash mid-copy, a full disk, a half-finished
copy): real drivers, SIGKILLed, the snapshot cut to half its size, then the same command."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpray.store.layout import RESULTS_FILE, SNAPSHOTS_DIR
from tests.faults.drills import assert_nothing_lost, paced_grid
from tests.helpers.drivers import Driver, checkpoints

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EPOCHS = 12
LRS = ("0.25", "0.5", "1.0", "2.0")
PACED = paced_grid(LRS, EPOCHS, 0.3)


def tear(directory: Path) -> Path:
    """Cut the newest experiment state (a resumed study writes one of its own) to half."""
    state = max(directory.glob("experiment_state-*.json"))
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    return state


def test_a_torn_snapshot_is_replaced_by_the_last_whole_copy_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "digits_mlp"
    first = Driver(tmp_path, *PACED)
    try:
        first.wait_until(
            lambda: checkpoints(directory) >= 6 and any((directory / SNAPSHOTS_DIR).glob("0*"))
        )
    finally:
        first.kill_group()
    torn = tear(directory)
    torn_bytes = torn.read_bytes()

    again = Driver(tmp_path, *PACED)
    assert again.finish() == 0, again.stderr[-3000:]
    assert f"the experiment snapshot was unreadable ({torn.name}: JSONDecodeError" in again.stderr
    assert "Traceback" not in again.stderr
    assert_nothing_lost(directory, LRS, EPOCHS)
    (aside,) = (directory / SNAPSHOTS_DIR).glob("damaged-*")
    assert (aside / torn.name).read_bytes() == torn_bytes  # set aside, not deleted

    # The finished study torn again: the same command says it is complete, with no traceback.
    before = (directory / RESULTS_FILE).read_text()
    tear(directory)
    done = Driver(tmp_path, *PACED)
    assert done.finish() == 0, done.stderr[-3000:]
    assert "the experiment snapshot was unreadable" in done.stderr
    assert "is already complete; nothing to run" in done.stderr
    assert "Traceback" not in done.stderr
    assert (directory / RESULTS_FILE).read_text() == before
