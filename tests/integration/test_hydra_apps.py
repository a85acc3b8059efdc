"""Existing Hydra apps tuned by hpray's sweeper, on a real local Ray: the examples' apps run as
their users run them (``python app.py -m hparams_search=...``), unchanged."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hpray.results.report import main as report
from hpray.results.retrain import main as retrain
from tests.helpers.drivers import Driver
from tests.helpers.studies import (
    assert_trained_once,
    history,
    results,
    stored_state,
    summary,
    told_trials,
)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"
PLAIN = EXAMPLES / "hydra_plain" / "train.py"
LIGHTNING = EXAMPLES / "hydra_lightning" / "src" / "train.py"
WRITES_HERE = Path(__file__).parents[1] / "apps" / "writes_here"


def sweep(tmp_path: Path, app: Path, *overrides: str) -> tuple[int, str]:
    driver = Driver(tmp_path / "studies", *overrides, f"hydra.sweep.dir={tmp_path}/sweep", app=app)
    code = driver.finish(timeout=420)
    return code, driver.stderr


@pytest.mark.parametrize("chdir", [False, True])
def test_an_app_writes_where_a_hydra_multirun_of_it_would(tmp_path: Path, chdir: bool) -> None:
    """A relative path: the launch directory with hydra.job.chdir=false, each trial's output
    directory with true; hydra.runtime.cwd is the launch directory either way, and nothing lands
    under Ray's directory. What the app prints goes to each trial's console.log. Run outside
    the repository, with hpray as the suite installed it."""
    launch = tmp_path / "project"
    shutil.copytree(WRITES_HERE, launch)
    driver = Driver(
        tmp_path / "studies",
        "hydra/sweeper=hpray",
        "x=interval(-1.0,1.0)",
        "hydra.sweeper.study.num_samples=2",
        f"hydra.job.chdir={str(chdir).lower()}",
        app=launch / "app.py",
        cwd=launch,
    )
    try:
        code = driver.proc.wait(timeout=300)
        under_ray = list(Path(driver.ray_dir).rglob("ran.txt"))  # before it is cleaned up
        out = driver.proc.stdout.read() if driver.proc.stdout else ""
    finally:
        driver.reap()
    assert code == 0, f"exit {code}\n{out[-3000:]}\n{driver.stderr[-3000:]}"
    # The app's output is in each trial's console.log; the terminal has hpray's lines.
    consoles = sorted(launch.glob("multirun/*/*/*/console.log"))
    assert len(consoles) == 2
    assert all("the app's own line, x=" in c.read_text() for c in consoles)
    assert "the app's own line" not in out + driver.stderr
    written = sorted(launch.rglob("ran.txt"))
    runs = [json.loads(line) for path in written for line in path.read_text().splitlines()]
    assert len(runs) == 2 and all(r["runtime_cwd"] == str(launch) for r in runs)
    # hydra.job.num numbers the trials from 0 as a multirun numbers its jobs; job.id is the
    # trial's id, as results.csv names it.
    assert sorted(r["num"] for r in runs) == [0, 1]
    assert {r["id"] for r in runs} == {r["trial_id"] for r in results(tmp_path / "studies" / "app")}
    if chdir:  # multirun/<day>/<time>/<hydra.job.num>/ran.txt, a run each
        assert [p.parent.name for p in written] == ["0", "1"] and all(
            p.parent.parent.parent.parent.name == "multirun" for p in written
        )
        assert {r["cwd"] for r in runs} == {str(p.parent) for p in written}
    else:
        assert written == [launch / "ran.txt"] and {r["cwd"] for r in runs} == {str(launch)}
    assert under_ray == []


def test_the_best_trial_of_a_seeded_app_reruns_to_the_very_same_weights(tmp_path: Path) -> None:
    """best_overrides.txt reruns the app as its trial ran, its thread count included (Ray gives
    a trial of one CPU one thread; a plain run takes every core): a seeded app trains to the
    same weights, bit for bit."""
    args = ("hparams_search=diabetes", "hydra.sweeper.scheduler=fifo", "epochs=3")
    code, err = sweep(tmp_path, PLAIN, *args, "hydra.sweeper.study.num_samples=2")
    assert code == 0, err[-3000:]
    study = tmp_path / "studies" / "diabetes_plain"
    line = (study / "best_overrides.txt").read_text().strip()
    assert line.startswith(f"OMP_NUM_THREADS=1 python {PLAIN} epochs=3 ")
    assert (
        f"# Run it: OMP_NUM_THREADS=1 python {PLAIN} --config-path"
        in (study / "best.yaml").read_text()
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    rerun = subprocess.run(
        f"{line} hydra.run.dir={tmp_path}/rerun",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    best = summary(study)["best"]["trial_id"]
    trained = torch.load(output_dirs(tmp_path / "sweep")[best] / "model.pt")
    again = torch.load(tmp_path / "rerun" / "model.pt")
    assert trained.keys() == again.keys()
    assert all(torch.equal(trained[k], again[k]) for k in trained)


def test_a_plain_app_reporting_each_epoch_is_tuned_with_asha(tmp_path: Path) -> None:
    args = ("hparams_search=diabetes", "hydra.sweeper.study.num_samples=4")
    code, err = sweep(tmp_path, PLAIN, *args, "epochs=6")
    assert code == 0, err[-3000:]
    study = tmp_path / "studies" / "diabetes_plain"
    rows = results(study)
    assert {"optimizer.lr", "model.hidden", "data.batch_size", "best_val_rmse"} <= set(rows[0])
    assert len(rows) == 4 and summary(study)["complete"]
    assert "early_stopped" in {r["status"] for r in rows}  # ASHA read the app's reports
    for row in rows:
        assert_trained_once(history(study, row["trial_id"]), int(row["epochs"]))
    # Each trial ran in its own Hydra output directory (hydra.job.chdir), with the app's config
    # composed from its overrides; the completed ones got to the code after training.
    sweep_dir = tmp_path / "sweep"
    outputs = output_dirs(sweep_dir)
    for row in rows:
        trial_dir = outputs[row["trial_id"]]
        overrides = yaml.safe_load((trial_dir / ".hydra" / "overrides.yaml").read_text())
        assert f"model.hidden={row['model.hidden']}" in overrides
        assert (trial_dir / "model.pt").is_file() == (row["status"] == "completed")
    for name in ("results.csv", "summary.json", "report.html", "best.yaml", "best_overrides.txt"):
        assert (study / name).is_file() and (sweep_dir / name).is_file(), name
    # best.yaml is the app's own config with the best values, run by the app as it is.
    best = summary(study)["best"]
    ran = subprocess.run(
        [
            sys.executable,
            str(PLAIN),
            "--config-path",
            str(study),
            "--config-name",
            "best",
            f"hydra.run.dir={tmp_path}/best_run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    config = yaml.safe_load((tmp_path / "best_run" / ".hydra" / "config.yaml").read_text())
    assert config["optimizer"]["lr"] == pytest.approx(best["params"]["optimizer.lr"])
    line = (study / "best_overrides.txt").read_text()
    assert f"model.hidden={best['params']['model.hidden']}" in line and str(PLAIN) in line
    assert retrain([str(study)]) == 2  # the app runs its best itself: said, not attempted
    # The same command again: complete, nothing rerun. Other app overrides: refused, untouched.
    code, err = sweep(tmp_path, PLAIN, *args, "epochs=6")
    assert code == 0 and "already complete; nothing to run" in err, err[-2000:]
    written = (study / "best.yaml").stat().st_mtime_ns
    code, err = sweep(tmp_path, PLAIN, *args, "epochs=7")
    assert code == 2 and "app.overrides" in err, err[-2000:]
    assert len(results(study)) == 4 and (study / "best.yaml").stat().st_mtime_ns == written


def test_a_lightning_sweep_killed_with_sigkill_resumes_every_trial_where_it_was(
    tmp_path: Path,
) -> None:
    """The template's app layout, its Optuna sweeper file with one line changed, and ASHA."""
    overrides = (
        "hparams_search=digits_optuna",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=40",  # its epochs take ~0.05 s: the kill must land mid-trial
        "test=false",
    )
    study = tmp_path / "studies" / "digits_lightning"
    _, err = killed_then_resumed(tmp_path, study, overrides)
    rows = results(study)
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"completed", "early_stopped"}
    resumed = 0
    for row in rows:
        raw = history(study, row["trial_id"])
        assert_trained_once(raw, int(row["epochs"]))
        resumed += any(r.get("replayed") for r in raw)
        assert {"val/acc", "val/loss", "val/acc_best"} <= set(raw[-1])  # Lightning's logged
    assert resumed >= 1  # a trial went on from its checkpoint, not from its first epoch
    # The template's hydra.sweep.subdir, ${hydra.job.num}: a directory per trial, numbered as
    # the trials were made, each trial in the same one before and after the kill.
    outputs = {
        p.name: yaml.safe_load((p / ".hydra" / "hydra.yaml").read_text())
        for p in (tmp_path / "sweep").iterdir()
        if p.is_dir()  # beside the sweep's copied outputs (results.csv, best.yaml, ...)
    }
    assert sorted(outputs) == ["0", "1"]
    assert {o["hydra"]["job"]["id"] for o in outputs.values()} == {r["trial_id"] for r in rows}
    assert all(int(name) == o["hydra"]["job"]["num"] for name, o in outputs.items())
    # digits_optuna.yaml was written for Hydra's Optuna sweeper: its keys kept their meaning.
    stored = yaml.safe_load((study / "config.yaml").read_text())
    assert (stored["study"]["mode"], stored["study"]["metric"]) == ("max", "val/acc_best")
    assert stored["study"]["max_concurrent"] == 2 and stored["study"]["num_samples"] == 2
    assert stored["searcher"]["sampler"]["seed"] == 1234  # its TPE sampler, as written
    lr = stored["space"]["model"]["optimizer"]["lr"]
    assert lr == {"type": "uniform", "low": 0.0001, "high": 0.1}  # interval(0.0001, 0.1)
    assert "TPESampler, 2 trials, 2 at a time" in err


def test_an_apps_sweep_of_two_metrics_then_one_warm_started_from_it(tmp_path: Path) -> None:
    """The plain app reports val_rmse and its size: a sweep of both marks the Pareto front, and
    a second sweep's sampler starts from the first one's trials."""
    two = (
        "hparams_search=diabetes",
        "epochs=3",
        "hydra.sweeper.study.num_samples=3",
        "hydra.sweeper.study.metric=[val_rmse,params]",
        "hydra.sweeper.study.mode=[min,min]",
        "hydra.sweeper.scheduler=fifo",
    )
    code, err = sweep(tmp_path, PLAIN, *two)
    assert code == 0, err[-3000:]
    first = tmp_path / "studies" / "diabetes_plain"
    rows = results(first)
    assert all(float(r["final_params"]) > 0 for r in rows)
    assert "true" in {r["pareto"] for r in rows}
    assert summary(first)["best"]["values"].keys() == {"val_rmse", "params"}
    # Another trial picked: the app's best.yaml and command line become that trial's.
    other = next(r for r in rows if r["trial_id"] != summary(first)["best"]["trial_id"])
    assert report([str(first), "--pick", other["trial_id"]]) == 0
    best = yaml.safe_load((first / "best.yaml").read_text())
    assert best["optimizer"]["lr"] == float(other["optimizer.lr"])
    assert best["model"]["hidden"] == int(other["model.hidden"]) and best["epochs"] == 3
    line = (first / "best_overrides.txt").read_text()
    assert f"optimizer.lr={other['optimizer.lr']}" in line and line.startswith(
        "OMP_NUM_THREADS=1 python "
    )
    assert f": {other['trial_id']}, val_rmse=" in (first / "best.yaml").read_text()

    code, err = sweep(
        tmp_path,
        PLAIN,
        *two,
        "hydra.sweeper.study.name=diabetes_warm",
        "hydra.sweeper.study.num_samples=2",
        f"hydra.sweeper.study.warm_start={first}",
    )
    assert code == 0, err[-3000:]
    assert f"warm start: 3 finished trials of {first}" in err
    told = told_trials(tmp_path / "studies" / "diabetes_warm")
    assert len(told) == 5 and [t.values for t in told[:3]] == [
        [float(r["final_val_rmse"]), float(r["final_params"])] for r in rows
    ]


def test_a_lightning_sweep_paused_by_its_time_budget_continues_where_each_trial_paused(
    tmp_path: Path,
) -> None:
    """The budget's pause stores the trainer's checkpoint at that epoch, though
    ``study.checkpoint_every`` would store none there: the trials go on from it."""
    overrides = (
        "hparams_search=digits_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.scheduler=fifo",
        "hydra.sweeper.study.checkpoint_every=1000",
        "trainer.max_epochs=200",  # ~0.05 s an epoch: the budget ends mid-trial
        "test=false",
    )
    study = tmp_path / "studies" / "digits_lightning"
    code, err = sweep(tmp_path, LIGHTNING, *overrides, "hydra.sweeper.study.time_budget=14s")
    assert code == 0, err[-3000:]
    stopped = summary(study)["stopped"]
    assert stopped["rule"] == "time_budget" and stopped["paused"] >= 1, stopped
    paused = {r["trial_id"]: int(r["epochs"]) for r in results(study) if r["status"] == "paused"}
    assert all(0 < epochs < 200 for epochs in paused.values())
    assert "stopped on the time budget" in err

    code, err = sweep(tmp_path, LIGHTNING, *overrides, "hydra.sweeper.study.time_budget=10m")
    assert code == 0, err[-3000:]
    assert summary(study)["complete"]
    for row in results(study):
        assert row["status"] == "completed"
        raw = history(study, row["trial_id"])
        assert_trained_once(raw, 200)
        if row["trial_id"] in paused:  # replayed to its pause, trained on from there
            trained = [r["epoch"] for r in raw if not r.get("replayed")]
            assert trained == list(range(1, 201)), trained[:5]


def test_a_lightning_app_under_pbt_trains_on_with_each_copys_new_optimizer_settings(
    tmp_path: Path,
) -> None:
    """A copy restores the donor's trainer checkpoint (optimizer state included); hpray's
    callback puts the copy's own learning rate and weight decay on the restored optimizer."""
    from hpray.lightning import STATE_KEY  # the extra: imported where it is needed

    overrides = (
        "hparams_search=digits_pbt",
        "hydra.sweeper.study.num_samples=4",
        # At epoch 2 the bottom 2 copy the top 2 (keys the file does not set take a `+`).
        "+hydra.sweeper.scheduler.quantile_fraction=0.5",
        "+hydra.sweeper.scheduler.synch=true",
        "hydra.sweeper.resources={cpu:0.5,gpu:0}",  # one population of 4 on 2 CPUs
        "trainer.max_epochs=4",
        "test=false",
    )
    code, err = sweep(tmp_path, LIGHTNING, *overrides)
    assert code == 0, err[-3000:]
    study = tmp_path / "studies" / "digits_pbt"
    assert summary(study)["complete"]
    assert (study / "pbt_global.txt").read_text().strip(), "no trial was copied"
    copies = 0
    for row in results(study):
        raw = history(study, row["trial_id"])
        assert_trained_once(raw, 4)
        configs = [r["config"] for r in raw if "config" in r]
        if configs[0] == configs[-1]:
            continue
        copies += 1
        # The trainer's last checkpoint: the optimizer it trained epochs 3 and 4 with.
        last = max((study / f"trial_{row['trial_id']}").glob("checkpoint_*"))
        trainer = torch.load(
            io.BytesIO(stored_state(last)[STATE_KEY]), map_location="cpu", weights_only=False
        )
        group = trainer["optimizer_states"][0]["param_groups"][0]
        new = configs[-1]
        assert group["lr"] == pytest.approx(new["model.optimizer.lr"])
        assert group["weight_decay"] == pytest.approx(new["model.optimizer.weight_decay"])
        assert group["lr"] != pytest.approx(configs[0]["model.optimizer.lr"])
    assert copies >= 2  # the bottom half copied


def output_dirs(sweep_dir: Path) -> dict[str, Path]:
    """Each trial's Hydra output directory (``<sweep dir>/<hydra.job.num>``), by trial id
    (``hydra.job.id``, as its .hydra/hydra.yaml records it)."""
    return {
        yaml.safe_load(p.read_text())["hydra"]["job"]["id"]: p.parent.parent
        for p in sweep_dir.glob("*/.hydra/hydra.yaml")
    }


def killed_then_resumed(tmp_path: Path, study: Path, overrides: tuple[str, ...]) -> tuple[str, str]:
    """The Lightning app's sweep SIGKILLed once a trial has stored a checkpoint past its second
    epoch, then run again to its end (exit 0): each run's stderr. Only the last two checkpoints
    are kept, so any index from 2 on counts (an exact name can be gone between polls)."""
    first = Driver(study.parent, *overrides, f"hydra.sweep.dir={tmp_path}/sweep", app=LIGHTNING)
    try:
        first.wait_until(lambda: checkpoints_past(study, 2), timeout=300)
    finally:
        first.kill_group()
    assert not summary_complete(study)
    code, err = sweep(tmp_path, LIGHTNING, *overrides)
    assert code == 0, err[-3000:]
    return first.stderr, err


def checkpoints_past(study: Path, index: int) -> bool:
    found = (re.fullmatch(r"checkpoint_(\d+)", p.name) for p in study.glob("trial_*/checkpoint_*"))
    return any(int(m[1]) >= index for m in found if m)


def summary_complete(study: Path) -> bool:
    file = study / "summary.json"
    return file.is_file() and summary(study)["complete"]


@pytest.mark.parametrize(
    ("app", "override", "named"),
    [
        (PLAIN, "+hydra.sweeper.n_trails=3", "hydra.sweeper.n_trails"),
        (
            PLAIN,
            "+hydra.sweeper.space.model.depth={type:int,low:1,high:3}",
            "hydra.sweeper.space.model.depth: 'model.depth' is not a key",
        ),
        # A sweep on the command line joins the params: named as the user wrote it.
        (PLAIN, "model.hiden=choice(16,32)", "hydra.sweeper.params.model.hiden: 'model.hiden'"),
        (PLAIN, "hydra.sweeper.study.metric=val_rsme", "hydra.sweeper.study.metric"),
        # Returned by the app, which looks it up among what it logs (val/acc): never there.
        (LIGHTNING, "optimized_metric=val/accuracy", "optimized_metric: 'val/accuracy'"),
    ],
)
def test_bad_sweeper_input_exits_2_before_ray_naming_the_key(
    tmp_path: Path, app: Path, override: str, named: str
) -> None:
    ran = subprocess.run(
        [
            sys.executable,
            str(app),
            "-m",
            "hparams_search=diabetes" if app == PLAIN else "hparams_search=digits_optuna",
            override,
            f"hydra.sweeper.study.storage={tmp_path}/studies",
            f"hydra.sweep.dir={tmp_path}/sw",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2, ran.stderr[-2000:]
    assert named in ran.stderr and "Ray" not in ran.stderr
    assert not (tmp_path / "studies").exists() and not (tmp_path / "sw").exists()


def test_a_lightning_app_trains_each_trial_with_ddp_on_two_workers_and_resumes_after_sigkill(
    tmp_path: Path,
) -> None:
    """hparams_search=digits_ddp: the example's Optuna-style search with
    hydra.sweeper.resources.workers=2 and trainer=ray_ddp (Ray's DDP strategy and environment):
    each trial is a gang of two workers whose Lightning trainers train as ranks 0 and 1; the
    callback reports rank 0's metrics, and ASHA reads them. The sweep SIGKILLed mid-trial and run
    again: both ranks restore the trial's checkpoint (a rank that did not would train epochs
    the other never joins, and the gang would hang), and no epoch is trained twice."""
    overrides = (
        "hparams_search=digits_ddp",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=12",
        "test=false",
    )
    study = tmp_path / "studies" / "digits_lightning_ddp"
    first_err, err = killed_then_resumed(tmp_path, study, overrides)
    rows = results(study)
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"completed", "early_stopped"}
    resumed = 0
    for row in rows:
        raw = history(study, row["trial_id"])
        assert_trained_once(raw, int(row["epochs"]))
        resumed += any(r.get("replayed") for r in raw)
        assert {"val/acc", "val/loss"} <= set(raw[-1])
    assert resumed >= 1  # a gang went on from its trial's checkpoint
    assert "2 workers x (1 CPU + 0 GPU) per trial" in first_err
    # A gang per trial: Ray Train set up each one's process group (rank 0 of 2 says so).
    assert err.count("Setting up process group for: env:// [rank=0, world_size=2]") >= 1
    assert "[rank: 1]" in err  # Lightning ran as rank 1 of the group Ray Train set up
