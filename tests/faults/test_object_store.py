"""A study on S3 (the local server of tests.helpers.s3) whose object store goes away mid-study:
for less than study.storage_retry, the study rides it out; for longer, it pauses (exit 75) and
the same command resumes it once the store is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from tests.faults.drills import assert_nothing_lost, paced_grid
from tests.helpers.drivers import Driver
from tests.helpers.s3 import BUCKET, LocalS3, local_s3

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EPOCHS = 12
LRS = ("0.25", "0.5", "1.0", "2.0")
PACED = paced_grid(LRS, EPOCHS, 0.5)
STORAGE = f"s3://{BUCKET}/studies"


@pytest.fixture(scope="module")
def store() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


def bucket(store: LocalS3) -> pafs.S3FileSystem:
    """The test's own view of the bucket (not the study's retrying one)."""
    env = store.env
    return pafs.S3FileSystem(
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env["AWS_DEFAULT_REGION"],
        endpoint_override=env["AWS_ENDPOINT_URL"],
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )


def stored_checkpoints(store: LocalS3, name: str) -> int:
    selector = pafs.FileSelector(f"{BUCKET}/studies/{name}", recursive=True, allow_not_found=True)
    infos = bucket(store).get_file_info(selector)
    return sum(1 for i in infos if i.type == pafs.FileType.Directory and "/checkpoint_" in i.path)


def downloaded(store: LocalS3, name: str, to: Path) -> Path:
    pafs.copy_files(
        f"{BUCKET}/studies/{name}",
        str(to / name),
        source_filesystem=bucket(store),
        destination_filesystem=pafs.LocalFileSystem(),
    )
    return to / name


def test_an_outage_shorter_than_storage_retry_is_ridden_out(store: LocalS3, tmp_path: Path) -> None:
    study = (*PACED, "study.name=outage", "study.storage_retry=2m")
    driver = Driver(STORAGE, *study, env=store.env)
    driver.wait_until(lambda: stored_checkpoints(store, "outage") >= 3)
    store.stop()
    time.sleep(30)
    store.start()
    assert driver.finish() == 0, driver.stderr[-3000:]
    assert "the storage does not answer" in driver.stderr
    assert "the storage answers again" in driver.stderr
    assert "Traceback" not in driver.stderr
    assert_nothing_lost(downloaded(store, "outage", tmp_path), LRS, EPOCHS)


def test_an_outage_longer_than_storage_retry_pauses_and_the_same_command_resumes(
    store: LocalS3, tmp_path: Path
) -> None:
    study = (*PACED, "study.name=gone", "study.storage_retry=10s")
    driver = Driver(STORAGE, *study, env=store.env)
    driver.wait_until(lambda: stored_checkpoints(store, "gone") >= 3)
    store.stop()
    try:
        assert driver.finish(timeout=180) == 75, driver.stderr[-3000:]
    finally:
        store.start()
    assert "hpray: paused: the study's storage did not answer: " in driver.stderr
    assert "run the same command to resume the study" in driver.stderr
    assert "Traceback" not in driver.stderr

    again = Driver(STORAGE, *study, env=store.env)
    assert again.finish() == 0, again.stderr[-3000:]
    assert "resuming the unfinished study" in again.stderr
    assert "Traceback" not in again.stderr
    assert_nothing_lost(downloaded(store, "gone", tmp_path), LRS, EPOCHS)
