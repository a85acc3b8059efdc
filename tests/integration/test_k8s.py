"""The exact command the rendered Kubernetes manifests run, run here with the study on S3 (a
local S3 server): it completes, and after a hard kill (a lost pod or head) the same command
resumes the study from the bucket, as a Job's or a RayJob's retry would."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from hpray.store.location import StudyDir
from tests.helpers.drivers import Driver
from tests.helpers.s3 import BUCKET
from tests.helpers.studies import assert_trained_once

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def test_the_rendered_command_runs_and_a_retry_resumes(
    tmp_path: Path,
    s3: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray_dir = tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
    storage = f"s3://{BUCKET}/studies"
    out = tmp_path / "manifests"
    overrides = [
        f"study.storage={storage}",
        "study.num_samples=4",
        "study.epochs=4",
        "scheduler=fifo",
        "resources=cpu",
        "space.data.batch_size=32",
        "ray.num_cpus=2",
        f"ray.temp_dir={ray_dir}",
    ]
    rendered = subprocess.run(
        [str(BIN / "hpray"), "k8s", f"--out={out}", *overrides],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert not (out / "pvc.yaml").exists()  # the bucket is the shared storage
    job = yaml.safe_load((out / "job.yaml").read_text())
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    rayjob = yaml.safe_load((out / "rayjob.yaml").read_text())
    assert shlex.split(rayjob["spec"]["entrypoint"]) == command  # one command, two shapes
    assert command[:2] == ["hpray", "tune"] and f"study.storage={storage}" in command

    for key, value in s3.items():
        monkeypatch.setenv(key, value)
    directory = StudyDir.at(storage, "digits_mlp")
    # The image's `hpray`, and the bucket's credentials (a service account's, in a cluster).
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **s3}
    try:
        first = Driver(tmp_path, argv=command, env=env)
        first.wait_until(lambda: len(directory.glob("trial_*/checkpoint_*")) >= 3)
        first.kill_group()  # the pod's node is gone: no chance to save anything
        retry = Driver(tmp_path, argv=command, env=env)
        assert retry.finish() == 0, retry.stderr[-3000:]
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert "resuming the unfinished study" in retry.stderr

    summary = json.loads((directory / "summary.json").read_text())
    assert summary["complete"] is True and summary["trials"]["total"] == 4
    assert (directory / "results.csv").read_text().count("\n") == 5  # header + 4 trials
    assert (directory / "config.yaml").is_file()
    trials = directory.glob("trial_*")
    assert len(trials) == 4
    for trial in trials:
        lines = (trial / "result.json").read_text().splitlines()
        assert_trained_once([json.loads(line) for line in lines if line.strip()], 4)
    assert not (directory / ".hpray.driver.lock").exists()
