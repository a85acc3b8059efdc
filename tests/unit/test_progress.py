"""The progress callback: a few lines however many trials end, and the peak of running trials."""

from ray.tune.experiment import Trial

from hpray.driver.progress import Progress


def trial(status: str) -> Trial:
    made = Trial("fn", stub=True)  # a trial as Ray Tune's controller holds it, not started
    made.status = status
    return made


def test_the_peak_counts_the_trials_running_together(capsys) -> None:
    progress = Progress("val_acc", "max", total=6, budget=1, every_s=3600, gap_s=3600)
    trials = [trial(Trial.PENDING) for _ in range(6)]
    for started in trials[:3]:
        progress.on_trial_start(0, trials, started)  # as Ray Tune calls it: still PENDING
        started.status = Trial.RUNNING
    for ended in trials[:3]:
        progress.on_trial_result(0, trials, ended, {"val_acc": 0.5, "epoch": 1})
        ended.status = Trial.TERMINATED
        progress.on_trial_complete(0, trials, ended)
    for started in trials[3:]:  # one at a time from here
        progress.on_trial_start(0, trials, started)
        started.status = Trial.RUNNING
        progress.on_trial_result(0, trials, started, {"val_acc": 0.9, "epoch": 1})
        started.status = Trial.TERMINATED
    assert progress.peak == 3
    assert progress.best == (0.9, trials[3].trial_id)
    progress.on_experiment_end(trials)
    err = capsys.readouterr().err
    assert "6/6 done" in err and "ran up to 3 trials at a time" in err
    assert err.count("\n") == 2  # with hour-long gaps: the last line and the peak, no more


def test_a_trial_ended_before_it_reported_is_not_counted_as_stopped_early(capsys) -> None:
    progress = Progress("val_acc", "max", total=3, budget=4, every_s=3600, gap_s=3600)
    trials = [trial(Trial.TERMINATED) for _ in range(3)]
    trials[0].update_last_result({"val_acc": 0.9, "epoch": 4})  # its budget: completed
    trials[1].update_last_result({"val_acc": 0.5, "epoch": 2})  # stopped early
    # trials[2]: no result (study.stop_at ended it before it ran)
    progress.on_experiment_end(trials)
    assert "3/3 done (1 stopped early, 0 errored)" in capsys.readouterr().err
