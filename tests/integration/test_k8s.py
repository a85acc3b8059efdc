"""The exact command the rendered Kubernetes manifests run, run here: it completes, and after a
hard kill (a lost pod) the same command resumes the study, as a Job's or RayJob's retry would."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import assert_trained_once, history, results, summary
from tests.integration.drivers import Driver, checkpoints

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def test_the_rendered_command_runs_and_a_retry_resumes(tmp_path: Path) -> None:
    ray_dir = tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
    claim = tmp_path / "claim"  # what the pods mount the PersistentVolumeClaim at
    out = tmp_path / "manifests"
    overrides = [
        f"k8s.mount={claim}",
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
    job = yaml.safe_load((out / "job.yaml").read_text())
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    rayjob = yaml.safe_load((out / "rayjob.yaml").read_text())
    assert shlex.split(rayjob["spec"]["entrypoint"]) == command  # one command, two shapes
    assert command[:2] == ["hpray", "tune"] and f"study.storage={claim}/studies" in command

    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the image's `hpray`
    directory = claim / "studies" / "digits_mlp"
    try:
        first = Driver(tmp_path, argv=command, env=env)
        first.wait_until(lambda: checkpoints(directory) >= 3)
        first.kill_group()  # the pod's node is gone: no chance to save anything
        retry = Driver(tmp_path, argv=command, env=env)
        assert retry.finish() == 0, retry.stderr[-3000:]
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert "resuming the unfinished study" in retry.stderr
    assert summary(directory)["complete"] is True
    rows = results(directory)
    assert len(rows) == 4
    for row in rows:
        assert_trained_once(history(directory, row["trial_id"]), 4)
