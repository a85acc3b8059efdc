"""A study stored behind an s3:// URI: a local S3 server (moto) on 127.0.0.1, Ray Tune writing
trials through it, a hard kill, and a resume that reads everything back from the bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from hpray.storage import StudyDir
from tests.integration.cluster import free_port
from tests.integration.conftest import assert_trained_once
from tests.integration.drivers import Driver

pytestmark = pytest.mark.integration

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "hpray-test",
    "AWS_SECRET_ACCESS_KEY": "hpray-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "hpray-studies"


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """The environment that points AWS clients (pyarrow's too) at a fresh local S3 server."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=BUCKET)
        yield env
    finally:
        server.stop()


def study_dir(env: dict[str, str], name: str, monkeypatch: pytest.MonkeyPatch) -> StudyDir:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return StudyDir.at(f"s3://{BUCKET}/studies", name)


def test_a_study_on_s3_survives_a_hard_kill(
    s3: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = study_dir(s3, "on_s3", monkeypatch)
    args = (
        "study.name=on_s3",
        "study.num_samples=4",
        "study.epochs=4",
        "scheduler=fifo",
        "resources=cpu",
        "space.data.batch_size=32",
    )
    first = Driver(f"s3://{BUCKET}/studies", *args, env=s3)
    first.wait_until(lambda: len(directory.glob("trial_*/checkpoint_*")) >= 3)
    first.kill_group()
    again = Driver(f"s3://{BUCKET}/studies", *args, env=s3)
    assert again.finish() == 0, again.stderr
    assert "resuming the unfinished study" in again.stderr

    summary: dict[str, Any] = json.loads((directory / "summary.json").read_text())
    assert summary["complete"] is True and summary["trials"]["total"] == 4
    assert (directory / "results.csv").read_text().count("\n") == 5  # header + 4 trials
    assert (directory / "config.yaml").is_file()
    for trial in directory.glob("trial_*"):
        lines = (trial / "result.json").read_text().splitlines()
        assert_trained_once([json.loads(line) for line in lines if line.strip()], 4)
    assert not (directory / ".hpray.lock").exists()


def test_storage_that_cannot_be_written_is_refused(s3: dict[str, str]) -> None:
    driver = Driver("s3://no-such-bucket/studies", "study.num_samples=1", env=s3)
    assert driver.finish() == 2, driver.stderr
    assert "study.storage: cannot write to s3://no-such-bucket/studies" in driver.stderr
