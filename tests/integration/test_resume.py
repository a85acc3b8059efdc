"""Interrupted studies resume: real drivers killed with SIGKILL and SIGTERM, then rerun."""

from __future__ import annotations

import pickle
import signal
import time
from pathlib import Path

import pytest

from hpray.driver.lock import LOCK_FILE
from hpray.results.report import html_report, text_report
from tests.helpers.drivers import Driver, checkpoints, finished_trials
from tests.helpers.studies import assert_trained_once, history, results, summary

pytestmark = pytest.mark.integration


def assert_whole(directory: Path, trials: int, epochs: int) -> list[dict[str, str]]:
    """Exactly `trials` trials, distinct configurations, each with every epoch 1..N.

    A resumed trial reports its finished epochs again, flagged ``replayed``; it never trains an
    epoch twice, so it never starts over.
    """
    rows = results(directory)
    assert len(rows) == trials and all(r["status"] == "completed" for r in rows)
    params = [tuple(v for k, v in r.items() if "." in k) for r in rows]
    assert len(set(params)) == trials, "a configuration ran twice"
    for row in rows:
        assert_trained_once(history(directory, row["trial_id"]), epochs)
        assert row["epochs"] == str(epochs)
    assert summary(directory)["complete"]
    return rows


def test_sigkill_then_the_same_command_resumes(tmp_path: Path) -> None:
    """Killed once some trials finished; the grid runs each combination once all the same. A
    kill at the first checkpoints is in test_k8s and test_storage (the same command after a
    lost pod, and a study on S3)."""
    directory = tmp_path / "digits_mlp"
    grid = (
        "searcher=grid",
        "space=grid",
        "space.optim.lr.values=[0.003,0.01]",
        "study.epochs=6",
        "scheduler=fifo",
        "data.batch_size=2",  # slow epochs: the kill lands with trials still to run
    )
    first = Driver(tmp_path, *grid)
    # Checkpoints are stored as trials write them; result files with the next snapshot (2 s).
    first.wait_until(
        lambda: (
            finished_trials(directory, 6) >= 2
            and any('"epoch": 6' in f.read_text() for f in directory.glob("trial_*/result.json"))
        )
    )
    time.sleep(0.5)
    first.kill_group()
    # Ray uploads result files in the background: a kill mid-copy can cut one short while the
    # snapshot counts its trial finished. Cut a finished trial's file in its last line.
    files = directory.glob("trial_*/result.json")
    finished = next(f for f in files if '"epoch": 6' in f.read_text())
    finished.write_text(finished.read_text().rstrip("\n").rsplit("\n", 1)[0] + '\n{"val_a')
    # What a person on a remote shell sees of the interrupted study, from its directory alone.
    report = text_report(directory)  # as far as Ray's last snapshot knew
    assert report.startswith("study digits_mlp (") and "unfinished" in report, report
    assert "of 8 trials started" in report
    assert "best: trial" in report
    page = Path(html_report(directory).path).read_text()  # the page too, mid-study
    assert "Learning curves" in page and "hpray study digits_mlp" in page

    again = Driver(tmp_path, *grid)
    assert again.finish() == 0, again.stderr[-3000:]
    assert "resuming the unfinished study" in again.stderr
    rows = assert_whole(directory, trials=8, epochs=6)
    assert {(r["optim.lr"], r["model.layers"], r["model.activation"]) for r in rows} == {
        (lr, layers, act)
        for lr in ("0.003", "0.01")
        for layers in ("1", "2")
        for act in ("relu", "tanh")
    }
    assert "<b>complete</b>" in (directory / "report.html").read_text()  # redrawn on resume


def test_sigterm_saves_and_exits_75_then_resumes(tmp_path: Path) -> None:
    """SIGTERM (Kubernetes, schedulers); SIGINT is what `ray job stop` sends (test_cluster).
    Before it, a second driver on the same study is refused and leaves the first alone."""
    directory = tmp_path / "digits_mlp"
    study = ("study.num_samples=2", "study.epochs=60", "scheduler=fifo", "data.batch_size=16")
    first = Driver(tmp_path, *study)
    try:
        # The lock is taken once Ray is up: the second driver is refused while trials start.
        first.wait_until(lambda: (directory / LOCK_FILE).exists())
        second = Driver(tmp_path, *study)
        assert second.finish(timeout=120) == 75, second.stderr
        assert f"being run by pid {first.proc.pid}" in second.stderr
        assert "Ray" not in second.stderr  # refused before starting Ray
        assert first.proc.poll() is None, first.stderr[-3000:]  # the first driver is untouched
        first.wait_until(lambda: checkpoints(directory) >= 2)
    finally:
        first.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert first.finish(timeout=60) == 75
    assert time.monotonic() - started < 30
    assert "run the same command again" in first.stderr
    assert not summary(directory)["complete"]

    again = Driver(tmp_path, *study)
    assert again.finish() == 0, again.stderr[-3000:]
    assert_whole(directory, trials=2, epochs=60)


def test_a_resumed_trial_repeats_the_uninterrupted_curve(tmp_path: Path) -> None:
    # Same seed, CPU: the trial's seed, weights, optimizer and RNG states all come back.
    study = (
        "study.num_samples=2",
        "study.epochs=8",
        "scheduler=fifo",
        "data=synthetic",
        "data.source.n_samples=4000",
    )
    # Side by side: the two studies share nothing, and CPU training does not depend on timing.
    plain = Driver(tmp_path / "plain", *study)
    killed_dir = tmp_path / "killed" / "digits_mlp"
    killed = Driver(tmp_path / "killed", *study)
    # Mid-trial: past its third checkpoint, before its last (only the newest two are kept).
    killed.wait_until(
        lambda: any(2 <= int(c.name[-6:]) < 6 for c in killed_dir.glob("trial_*/checkpoint_*"))
    )
    killed.kill_group()
    assert not (killed_dir / "summary.json").exists()  # really interrupted mid-study
    assert plain.finish() == 0
    assert Driver(tmp_path / "killed", *study).finish() == 0

    def curves(directory: Path) -> list[dict[int, float]]:
        # By epoch, as results.csv reads them: a resumed trial may report an epoch twice.
        return [
            {r["epoch"]: r["val_loss"] for r in history(directory, row["trial_id"])}
            for row in results(directory)
        ]

    assert curves(killed_dir) == curves(tmp_path / "plain" / "digits_mlp")


def test_asha_rungs_survive_a_resume(tmp_path: Path) -> None:
    directory = tmp_path / "digits_mlp"
    asha = (
        "study.num_samples=8",
        "study.epochs=4",
        "scheduler.grace_period=1",
        "scheduler.reduction_factor=2",
    )
    first = Driver(tmp_path, *asha)
    # Early, so that trials are still pending: they are recorded only after the resume.
    first.wait_until(lambda: checkpoints(directory) >= 3)
    first.proc.terminate()
    assert first.finish(timeout=60) == 75

    def recorded() -> set[tuple[int, str]]:
        """(rung milestone, trial) pairs the stored ASHA state holds."""
        [state] = sorted(directory.glob("callback-states-*.pkl"))[-1:]
        scheduler = pickle.loads(pickle.loads(state.read_bytes())[0]["scheduler"])  # callback 0
        return {
            (milestone, trial)
            for bracket in scheduler["_brackets"]
            for milestone, rung in bracket._rungs
            for trial in rung
        }

    before = recorded()
    assert before, "the interrupted study recorded no ASHA rung"
    again = Driver(tmp_path, *asha)
    assert again.finish() == 0, again.stderr[-3000:]
    # Strictly more: the restored rungs live in the scheduler Tune uses, which kept recording.
    assert before < recorded()
    assert len(results(directory)) == 8
