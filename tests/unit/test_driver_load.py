"""The cuts to Ray Tune's per-result driver work, against Ray's own classes (no Ray started)."""

import subprocess
import sys
import textwrap

from ray.tune.execution.experiment_state import _ExperimentCheckpointManager

from hpray.driver.lighter import Throttled, lighter_driver


def forced_after_checkpoints(count: int) -> bool:
    """Whether Ray would force a snapshot after ``count`` checkpoints of one trial."""
    manager = _ExperimentCheckpointManager(
        storage=None, checkpoint_period=2, sync_every_n_trial_checkpoints=2
    )
    for _ in range(count):
        manager.on_trial_checkpoint("trial")
    return bool(manager._should_force_sync_up)


def test_checkpoints_force_no_snapshot_while_the_study_runs() -> None:
    # Ray's own behaviour, which the cut relies on: num_to_keep (2) checkpoints force one.
    assert forced_after_checkpoints(2)
    with lighter_driver():
        assert not forced_after_checkpoints(5)
    assert forced_after_checkpoints(2)  # Ray as it was once the study is done


def test_callbacks_are_not_tagged_so_the_trackers_are_not_imported() -> None:
    # A fresh interpreter: this one may have imported mlflow for another test.
    script = textwrap.dedent(
        """
        import sys
        from ray.air._internal import usage
        from ray.tune import Callback
        from hpray.driver.lighter import lighter_driver

        with lighter_driver():
            usage.tag_callbacks([Callback()])
        print("inside:", "mlflow" in sys.modules)
        usage.tag_callbacks([Callback()])  # Ray's own, restored
        print("after:", "mlflow" in sys.modules)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["inside:", "False", "after:", "True"]


def test_a_throttled_flush_waits_out_its_period() -> None:
    calls: list[str] = []
    flush = Throttled(lambda: calls.append("throttled"), every_s=3600)
    for _ in range(5):
        flush()
    assert calls == []  # within the period: left to the writer's close at the trial's end
    flush.last -= 3600
    flush()
    flush()
    assert calls == ["throttled"]
    unthrottled = Throttled(lambda: calls.append("every call"), every_s=0)
    for _ in range(3):
        unthrottled()
    assert calls == ["throttled"] + ["every call"] * 3
