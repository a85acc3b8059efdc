"""A study submitted with `hpray submit` to a real three-node Ray cluster on this machine.

The head (127.0.0.4) has no CPUs, so it runs the job server and the driver and no trial; the
two workers (127.0.0.2, 127.0.0.3) have one CPU each. Tests run in file order; the last two
kill a worker each (the last adds two first).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpray.trial.faults import GANG_LOG
from hpray.trial.state import result_rows
from tests.helpers.cluster import Cluster
from tests.helpers.studies import assert_trained_once, summary

pytestmark = pytest.mark.integration

WORKERS = ("127.0.0.2", "127.0.0.3")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# A fixed, quick model: the tests are about where trials run and how they survive, not scores.
STUDY = (
    "scheduler=fifo",
    "resources=cpu",
    "space.model.layers=1",
    "space.data.batch_size=32",
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        c.start_head(num_cpus=0)
        c.wait_for({c.HEAD})
        for ip in WORKERS:  # joining side by side
            c.start_worker(ip, num_cpus=1)
        c.wait_for({c.HEAD, *WORKERS})
        yield c
    finally:
        c.close()


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "shared"


def finish(proc: Any, timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def raw_history(trial_dir: Path) -> list[dict[str, Any]]:
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def check_complete(directory: Path, trials: int, epochs: int) -> None:
    """Every trial trained each epoch once: resumed trials went on from their checkpoints."""
    assert summary(directory)["complete"] is True
    trial_dirs = sorted(directory.glob("trial_*"))
    assert len(trial_dirs) == trials
    for trial_dir in trial_dirs:
        assert_trained_once(raw_history(trial_dir), epochs)


def test_a_wrong_token_is_refused_and_never_printed(cluster: Cluster, tmp_path: Path) -> None:
    wrong = "0" * 64
    env = {**cluster.env, "RAY_AUTH_TOKEN": wrong}
    code, out = finish(cluster.submit(tmp_path, f"study.storage={tmp_path}", env=env))
    assert code == 2, out
    assert "token authentication did not accept this client" in out
    assert wrong not in out and cluster.token not in out
    jobs = cluster.run("ray", "job", "list")
    assert jobs.returncode == 0, jobs.stderr
    assert "hpray-" not in jobs.stdout  # nothing was submitted


def test_a_node_local_path_is_refused_on_a_cluster(cluster: Cluster, storage: Path) -> None:
    """Submitted with Ray's own CLI (jobs/submit.sh), so jobs/ is exercised as users run it."""
    script = Path(__file__).resolve().parents[2] / "jobs" / "submit.sh"
    done = subprocess.run(
        [str(script), f"study.storage={storage}", "study.num_samples=4", *STUDY],
        capture_output=True,
        text=True,
        env={**cluster.env, "RAY_ADDRESS": cluster.address},
        cwd=storage.parent,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "failed with exit code 2" in out  # hpray tune's exit code for invalid input
    assert "study.storage:" in out and "study.shared_storage=true" in out
    assert not storage.exists()  # refused before anything was written


def test_trials_spread_over_the_workers_and_the_study_completes(
    cluster: Cluster, storage: Path
) -> None:
    # The project travels as the job's working directory: here, a config of the user's own.
    project = storage.parent / "project"
    (project / "my_conf" / "experiment").mkdir(parents=True)
    (project / "my_conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nstudy:\n  name: from_my_project\n  epochs: 3\n"
    )
    args = (
        "--working-dir=.",
        "--config-dir=my_conf",
        "experiment=mine",
        f"study.storage={storage}",
        "study.shared_storage=true",
        "study.num_samples=4",
        *STUDY,
    )
    code, out = finish(cluster.submit(project, *args))
    assert code == 0, out
    directory = storage / "from_my_project"
    check_complete(directory, trials=4, epochs=3)
    nodes = {r["node_ip"] for d in directory.glob("trial_*") for r in raw_history(d)}
    assert nodes == set(WORKERS), nodes  # both workers, and never the CPU-less head
    assert "2 at a time (the cluster fits 2)" in out  # a slot on each worker, none on the head
    assert cluster.token not in out


@pytest.mark.parametrize("chdir", [False, True])
def test_a_hydra_app_s_sweep_runs_on_the_cluster_as_a_job(
    cluster: Cluster, storage: Path, chdir: bool
) -> None:
    """`hpray submit --working-dir . -- python train.py -m ...`: the app travels as the job's
    working directory; its trials run on the workers. A relative path is, as in a Hydra
    multirun there, the job's working directory with hydra.job.chdir=false, the trial's output
    directory (numbered by hydra.job.num) with true; never a trial's folder of Ray's."""
    project = storage.parent / "app"
    weights = f"model_chdir_{chdir}.pt"  # the module's cluster may hold the other case's
    shutil.copytree(EXAMPLES / "hydra_plain", project)
    code, out = finish(
        cluster.submit(
            project,
            "--working-dir=.",
            "--",
            "python",
            "train.py",
            "-m",
            "hparams_search=diabetes",
            f"hydra.sweeper.study.storage={storage}",
            "hydra.sweeper.study.shared_storage=true",
            "hydra.sweeper.study.num_samples=2",
            "hydra.sweeper.scheduler=fifo",
            "epochs=2",
            f"hydra.job.chdir={str(chdir).lower()}",
            f"output.weights={weights}",
        )
    )
    assert code == 0, out
    directory = storage / "diabetes_plain"
    check_complete(directory, trials=2, epochs=2)
    nodes = {r["node_ip"] for d in directory.glob("trial_*") for r in raw_history(d)}
    assert nodes <= set(WORKERS) and nodes, nodes  # never the CPU-less head
    assert (directory / "best.yaml").is_file()
    written = sorted(Path(cluster.temp_dir).rglob(weights))
    assert written, "no trial wrote its weights"
    # <temp>/.../runtime_resources/working_dir_files/_ray_pkg_<hash>/ (chdir: then
    # multirun/<day>/<time>/<hydra.job.num>/)
    runs = [p.parent.parent.parent.parent if chdir else p for p in written]
    assert all(p.parent.name.startswith("_ray_pkg_") for p in runs), written
    assert all("working_dirs" not in p.parts for p in written), written
    if chdir:
        assert [p.parent.name for p in written] == ["0", "1"]


def wait_until(ready: Any, proc: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        if proc.poll() is not None:
            raise AssertionError(f"submit exited early ({proc.returncode}):\n{proc.stdout.read()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return found


def test_a_stopped_job_saves_the_study_and_a_resubmission_resumes_it(
    cluster: Cluster, storage: Path
) -> None:
    epochs = 60  # a quarter of a second each, however busy the machine: the stop lands mid-study
    args = (
        f"study.storage={storage}",
        "study.shared_storage=true",
        f"study.epochs={epochs}",
        "study.name=stopped",
        "resources=cpu",
        "scheduler=fifo",
        # A function on the API whose epochs sleep: 2 trials, one per worker.
        "trainable=hpray.trial.faults.paced",
        "searcher=grid",
        "study.metric=val_rmse",
        "study.mode=min",
        "+faults.lr=1.0",
        "+faults.epoch_s=0.25",
        "~space",
        "+space.faults.lr={type:choice,values:[0.5,1.0]}",
    )
    directory = storage / "stopped"
    proc = cluster.submit(storage.parent, "--submission-id=hpray-stop-test", *args)
    wait_until(lambda: len(list(directory.glob("trial_*/checkpoint_*"))) >= 2, proc)
    stop = cluster.run("ray", "job", "stop", "hpray-stop-test")
    assert stop.returncode == 0, stop.stderr
    code, out = finish(proc)
    assert code == 75, out
    assert "submit the same overrides again to resume" in out
    assert summary(directory)["complete"] is False

    code, out = finish(cluster.submit(storage.parent, *args))
    assert code == 0, out
    assert "resuming the unfinished study" in out
    check_complete(directory, trials=2, epochs=epochs)


def test_trials_of_a_lost_worker_resume_on_the_other(cluster: Cluster, storage: Path) -> None:
    epochs = 20
    args = (
        f"study.storage={storage}",
        "study.shared_storage=true",
        f"study.epochs={epochs}",
        "study.name=lost",
        "study.num_samples=3",  # one on each worker, then one left for the worker that stays
        *(o for o in STUDY if not o.startswith("space.data.batch_size")),
        "space.data.batch_size=2",  # slow epochs: seconds per trial, for the kill to land in
    )
    directory = storage / "lost"
    lost, kept = WORKERS[1], WORKERS[0]
    proc = cluster.submit(storage.parent, *args)

    def mid_trial_on_lost_node() -> Path | None:
        # The node from the trial's result file (it reaches the study with each snapshot, every
        # 2 s), how far the trial is from its checkpoints (the trial writes them as it goes).
        for trial_dir in directory.glob("trial_*"):
            if not (trial_dir / "result.json").exists():
                continue
            rows = result_rows((trial_dir / "result.json").read_text().splitlines())
            saved = [int(c.name[-6:]) + 1 for c in trial_dir.glob("checkpoint_*[0-9]")]
            if rows and rows[-1]["node_ip"] == lost and 2 <= max(saved, default=0) <= epochs - 8:
                return trial_dir
        return None

    victim = wait_until(mid_trial_on_lost_node, proc)
    cluster.kill(lost)
    code, out = finish(proc)
    assert code == 0, out
    check_complete(directory, trials=3, epochs=epochs)
    history = [(r["node_ip"], r["epoch"]) for r in raw_history(victim) if not r.get("replayed")]
    after = [epoch for node, epoch in history if node == kept]
    assert after and after[0] > 1, history  # went on from its checkpoint on the other worker
    assert (victim / "error.txt").exists(), sorted(p.name for p in victim.iterdir())


DASHBOARD = """
import sys, time
import ray
from ray._private.worker import get_dashboard_url
from hpray.config.schema import RaySettings
from hpray.driver.tuner import connect
connect(RaySettings(dashboard=True, num_cpus=1, num_gpus=0, temp_dir=sys.argv[1]))
print(get_dashboard_url(), flush=True)
time.sleep(60)
"""


def listening(port: int) -> set[str]:
    """The local addresses a TCP port listens on, from /proc/net/tcp (IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_a_dashboard_hpray_starts_listens_on_loopback_only() -> None:
    temp_dir = tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
    proc = subprocess.Popen(
        [sys.executable, "-c", DASHBOARD, temp_dir],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ray's processes join its group: one killpg ends them all
    )
    try:
        url = (proc.stdout.readline() if proc.stdout else "").strip()
        host, _, port = url.rpartition(":")
        assert host == "127.0.0.1", url
        assert listening(int(port)) == {"127.0.0.1"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_two_node_trial_whose_node_is_lost_restarts_on_the_nodes_left(
    cluster: Cluster, storage: Path
) -> None:
    """A trial of two workers spread over two nodes, submitted with `hpray submit`: the node
    holding one rank is killed mid-trial; the trial's gang starts again on the two nodes left,
    every rank from the trial's newest checkpoint, and the study completes."""
    extra = ("127.0.0.5", "127.0.0.6")
    for ip in extra:  # three one-CPU workers (the previous test lost one): one to lose
        cluster.start_worker(ip, num_cpus=1)
    alive = {cluster.HEAD, WORKERS[0], *extra}
    cluster.wait_for(alive)
    epochs = 16
    args = (
        f"study.storage={storage}",
        "study.shared_storage=true",
        "study.name=gang",
        f"study.epochs={epochs}",
        "study.max_failures=1",
        "trainable=hpray.trial.faults.gang_member",
        "resources=cpu",
        "resources.workers=2",
        "resources.placement=spread",
        "scheduler=fifo",
        "searcher=grid",
        "study.metric=val_rmse",
        "study.mode=min",
        "+faults.lr=1.0",
        "+faults.epoch_s=0.5",
        "~space",
        "+space.faults.lr={type:choice,values:[1.0]}",
    )
    directory = storage / "gang"
    proc = cluster.submit(storage.parent, *args)

    def rank_1_mid_trial() -> str | None:
        log = next(directory.glob(f"trial_*/{GANG_LOG}"), None)
        saved = len(list(directory.glob("trial_*/checkpoint_*[0-9]")))
        if log is None or saved < 2:
            return None
        started = [json.loads(line) for line in log.read_text().splitlines()]
        return next((s["node"] for s in started if s["rank"] == 1), None)

    lost = wait_until(rank_1_mid_trial, proc)
    cluster.kill(lost)
    code, out = finish(proc)
    assert code == 0, out
    check_complete(directory, trials=1, epochs=epochs)
    (trial_dir,) = directory.glob("trial_*")
    started = [json.loads(line) for line in (trial_dir / GANG_LOG).read_text().splitlines()]
    first, again = started[:2], started[2:]
    assert len({s["node"] for s in first}) == 2, first  # spread: a rank on each of two nodes
    assert sorted(s["rank"] for s in again) == [0, 1], started
    assert len({s["node"] for s in again}) == 2 and lost not in {s["node"] for s in again}
    (state,) = {json.dumps(s["state"]) for s in again}  # every rank, the same checkpoint
    assert json.loads(state)["epoch"] >= 2, again
    assert (trial_dir / "error.txt").exists()  # the lost node counted as the trial's failure
