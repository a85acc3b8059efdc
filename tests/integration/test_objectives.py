"""A study of two metrics on a real local Ray: Optuna's multi-objective TPE proposes, ASHA
ranks by the metric it is told, the Pareto front is marked, and a picked trial becomes best."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpray.results.report import main as report
from tests.helpers.studies import results, run_study, summary, told_trials

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]


def test_two_metrics_give_a_pareto_front_and_a_picked_trial_becomes_the_best(
    tmp_path: Path,
) -> None:
    code, directory = run_study(
        tmp_path,
        "searcher=bayes",
        "searcher.sampler.n_startup_trials=3",
        "study.metric=[val_acc,params]",
        "study.mode=[max,min]",
        "scheduler.metric=val_acc",
        "scheduler.grace_period=1",
        "study.num_samples=6",
        "study.epochs=3",
    )
    assert code == 0
    rows = {r["trial_id"]: r for r in results(directory)}
    point = {t: (float(r["final_val_acc"]), float(r["final_params"])) for t, r in rows.items()}
    front = {t for t, r in rows.items() if r["pareto"] == "true"}
    assert front
    for t in front:  # no trial is as good in both and better in one
        acc, size = point[t]
        assert not any(
            a >= acc and p <= size and (a, p) != (acc, size) for a, p in point.values()
        ), t
    for t in set(rows) - front:  # and every other trial is beaten by one
        acc, size = point[t]
        assert any(a >= acc and p <= size and (a, p) != (acc, size) for a, p in point.values())
    done = summary(directory)
    assert {p["trial_id"] for p in done["pareto"]} == front
    assert done["best"]["trial_id"] == max(front, key=lambda t: point[t][0])
    # Both values reached the sampler, early-stopped trials' too.
    told = [t for t in told_trials(directory) if t.values is not None]
    assert len(told) == 6 and all(len(t.values) == 2 for t in told)
    assert "Pareto front" in (directory / "report.html").read_text()

    other = next(t for t in rows if t != done["best"]["trial_id"])
    best_yaml = directory / "best.yaml"
    written = best_yaml.stat().st_mtime_ns
    assert report([str(directory), "--pick", "no_such_trial"]) == 2
    assert best_yaml.stat().st_mtime_ns == written  # refused: nothing written
    assert report([str(directory), "--pick", other, "--text"]) == 0
    assert summary(directory)["best"]["trial_id"] == other and summary(directory)["pick"] == other
    assert f"study {directory.name}: {other}," in best_yaml.read_text().splitlines()[0]
