"""The installed `hpray` command in a subprocess, with its own local Ray: outputs and resume."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.helpers.browser import open_page

pytestmark = pytest.mark.integration


def hpray(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hpray", path=str(Path(sys.executable).parent)) or "hpray"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as temp_dir:
        return subprocess.run(
            [exe, "tune", f"ray.temp_dir={temp_dir}", "ray.num_cpus=2", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


def test_tune_writes_the_outputs_and_a_finished_study_is_not_rerun(tmp_path: Path) -> None:
    args = ("study.num_samples=3", "study.epochs=2", "scheduler.grace_period=1")
    first = hpray(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    directory = tmp_path / "studies" / "digits_mlp"  # the default storage is relative to cwd
    names = {p.name for p in directory.iterdir()}
    assert {"config.yaml", "results.csv", "summary.json", "tuner.pkl"} <= names
    with (directory / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 3
    assert "trials: 3 total" in first.stdout and "best: trial" in first.stdout
    assert "[hpray]" in first.stderr and "done" in first.stderr

    again = hpray(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert "already complete" in again.stderr and "best: trial" in again.stdout
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["trials"]["total"] == 3

    # The best trial's whole config, then its final fit and its one look at the test split.
    best = yaml.safe_load((directory / "best.yaml").read_text())
    for path, value in summary["best"]["params"].items():
        node = best
        for part in path.split("."):
            node = node[part]
        assert node == value, path
    exe = shutil.which("hpray", path=str(Path(sys.executable).parent)) or "hpray"
    retrain = subprocess.run(
        [exe, "retrain", str(directory), "--seeds", "2", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    final = json.loads((directory / "final.json").read_text())
    assert [r["seed"] for r in final["seeds"]] == [0, 1] and final["epochs"] == 2
    accs = [r["test_acc"] for r in final["seeds"]]
    assert final["test_acc"]["mean"] == pytest.approx(sum(accs) / 2) and min(accs) > 0.5
    assert final["test_rows"] == 360 and final["train_rows"] == 1437  # train + validation
    for run in final["seeds"]:
        assert (directory / run["weights"]).stat().st_size > 0

    report = subprocess.run(
        [exe, "report", str(directory), "--text", "--top", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert report.stdout.startswith("study digits_mlp (")
    assert "complete, 3 of 3 trials started" in report.stdout
    assert f"best: trial {summary['best']['trial_id']}" in report.stdout
    assert "top 2:" in report.stdout

    # report.html, written when the study ended, as a person's browser shows it.
    page = directory / "report.html"
    shot = tmp_path / "report.png"
    dom, errors = open_page(page, shot)
    assert errors == [], errors
    assert dom.count('class="main-svg"') >= 5  # plotly drew the plots
    for heading in (
        "Optimisation history",
        "Learning curves",
        "parallel coordinates",
        "Parameter importance",
        "Trials",
        "Best config",
    ):
        assert heading in dom, heading
    assert summary["best"]["trial_id"] in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script src=" not in page.read_text()  # self-contained: nothing to fetch


def test_the_browser_check_sees_a_script_error(tmp_path: Path) -> None:
    """The report test's error check is not blind: a page that throws is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    _, errors = open_page(page, tmp_path / "broken.png", height=200)
    assert any("notDefinedAnywhere" in e for e in errors), errors
