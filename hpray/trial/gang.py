"""A trial of several processes (``resources.workers`` > 1): Ray Train's workers, one gang.

The Tune trial's own process leads the trial. It restores the trial's newest checkpoint (and
reports the finished epochs again, as a one-process trial does), then runs a ``TorchTrainer``
whose workers each run the trial function, the trial API unchanged: Ray Train starts them in
one placement group and sets up the torch process group (gloo on CPU, NCCL on GPU). Rank 0's
reports come back through a relay actor and are reported to Ray Tune from the lead, their
checkpoints stored in the trial's directory as a one-process trial's are; the other ranks'
reports are checked and dropped. Ray Tune's scheduler, retries and resume act on the lead, and
the gang goes with it: a trial ended by the scheduler ends its workers, and a worker lost ends
the trial as a failure, retried from the newest checkpoint (``study.max_failures``).
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from hpray import internals
from hpray.store.layout import FUNCTION_STATE_FILE, rank_state_file
from hpray.trial.api import Session, TrialStopped, session
from hpray.trial.context import Member, joined
from hpray.trial.janitor import start_janitor
from hpray.trial.runner import wait_if_late
from hpray.trial.state import TrialState

Trainable = Callable[..., None]
Files = dict[str, bytes]  # a checkpoint directory's files, by name

GO, STOP = "go", "stop"
# A worker's process died (killed, its node lost): what Ray Train raises for it.
LOST = {"ActorDiedError", "RayActorError", "NodeDiedError", "WorkerHealthCheckFailedError"}
REPORT, END = "report", "end"
TAKE_S = 0.5  # how long the lead waits for a report before it looks at the gang again
# Ray Train's defaults that speak on the sweep's terminal, which the lead turns off (a user's
# own setting wins; Ray Train passes them on to its controller and workers): its patched print
# and the workers' structured logs (they reconfigure the root logger) would bypass an app's
# console.log; the preemption watcher logs an error line at every start on a cluster that
# preempts nothing. The controller's structured logs stay: they honour the run's log level.
QUIET = {
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    "RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
}


class GangStopped(Exception):
    """Rank 0 ended the trial early (a diverged metric, or the lead asked it to): raised on
    rank 0 so that Ray Train stops the other ranks with it, wherever they wait."""


class Relay:
    """Rank 0's reports to the lead, one at a time: rank 0 waits for the lead's answer, so a
    report is in Ray Tune (and its checkpoint stored) before the next epoch trains."""

    def __init__(self) -> None:
        self._reports: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._answers: queue.Queue[str] = queue.Queue(maxsize=1)
        self._deposits: dict[tuple[int, int], bytes] = {}  # (epoch, rank): its own state
        self._deposited = threading.Condition()

    def send(self, message: Any) -> str:
        self._reports.put(message)
        return self._answers.get()

    def take(self, timeout: float) -> Any:
        try:
            return self._reports.get(timeout=timeout)
        except queue.Empty:
            return None

    def answer(self, word: str) -> None:
        self._answers.put(word)

    def deposit(self, epoch: int, rank: int, state: bytes) -> None:
        """A rank's own state for ``epoch`` (``per_rank``), kept until rank 0's report."""
        with self._deposited:
            self._deposits[epoch, rank] = state
            self._deposited.notify_all()

    def collect(self, epoch: int, ranks: int, timeout: float) -> dict[int, bytes] | None:
        """Ranks 1.. ``ranks`` - 1's states for ``epoch``, once all are in (None: not yet)."""
        wanted = [(epoch, rank) for rank in range(1, ranks)]
        with self._deposited:
            if not self._deposited.wait_for(
                lambda: all(k in self._deposits for k in wanted), timeout
            ):
                return None
            return {rank: self._deposits.pop((epoch, rank)) for epoch, rank in wanted}


@dataclass
class Voice:
    """Rank 0's sink: what its session reports goes to the lead through the relay."""

    relay: Any  # the Relay's handle
    stopped: bool = False  # the trial ended early: the other ranks must be stopped

    def __call__(
        self,
        metrics: Mapping[str, Any],
        checkpoint: tune.Checkpoint | None = None,
        per_rank: bool = False,
    ) -> None:
        files = None if checkpoint is None else read_files(checkpoint.path)
        self.stopped = self.stopped or bool(metrics.get("diverged"))
        message = (REPORT, dict(metrics), files, per_rank)
        if ray.get(self.relay.send.remote(message)) == STOP:
            self.stopped = True
            raise TrialStopped("the trial's lead stopped it")

    def end(self) -> None:
        """The function returned: the gang is done (or, stopped early, is stopped)."""
        if self.stopped:
            raise GangStopped("the trial ended early on rank 0")
        ray.get(self.relay.send.remote((END, None, None, False)))


@dataclass
class Deposit:
    """The sink of every rank but 0: its reports are checked by its session, not reported;
    its own state (``per_rank``) goes to the lead, to be stored beside rank 0's."""

    relay: Any
    rank: int

    def __call__(
        self,
        metrics: Mapping[str, Any],
        checkpoint: tune.Checkpoint | None = None,
        per_rank: bool = False,
    ) -> None:
        if checkpoint is not None and per_rank:
            state = (Path(checkpoint.path) / FUNCTION_STATE_FILE).read_bytes()
            ray.get(self.relay.deposit.remote(int(metrics["epoch"]), self.rank, state))


@dataclass
class Restored:
    """The trial state the lead restored, handed to every rank: each gets the same state."""

    files: Files | None = None  # None: a fresh start
    copied: bool = False  # another trial's checkpoint (population based training)

    def load(self, state: TrialState, device: Any, rank: int = 0) -> bool:
        """Load the state into rank ``rank``'s session (onto its device): rank 0's, or its
        own where each rank stored one (``per_rank``); whether it was copied."""
        if self.files is not None:
            files = dict(self.files)
            own = files.get(rank_state_file(rank))
            if own is not None:
                files[FUNCTION_STATE_FILE] = own
            with tempfile.TemporaryDirectory() as directory:
                write_files(directory, files)
                state.load(directory, device)
        return self.copied


@dataclass
class Gang:
    """What a trial's gang is: its workers, each one's resources, and how they are placed."""

    workers: int
    cpu: float
    gpu: float
    placement: str = "pack"  # Ray's PACK or SPREAD, soft: a gang that cannot pack spreads

    @classmethod
    def of(cls, resources: Mapping[str, Any]) -> Gang:
        return cls(
            workers=int(resources["workers"]),
            cpu=float(resources["cpu"]),
            gpu=float(resources["gpu"]),
            placement=str(resources.get("placement", "pack")),
        )

    def scaling(self) -> Any:
        from ray.train import ScalingConfig

        per_worker = {"CPU": self.cpu, **({"GPU": self.gpu} if self.gpu else {})}
        return ScalingConfig(
            num_workers=self.workers,
            use_gpu=self.gpu > 0,
            resources_per_worker=per_worker,
            placement_strategy=self.placement.upper(),
        )


@dataclass
class Lead:
    """The lead's side of one run of the gang: reports in, answers out."""

    relay: Any
    workers: int
    ended: bool = False  # rank 0's function returned
    stopped: bool = False  # rank 0 reported a diverged metric: the gang was stopped on purpose
    errors: list[BaseException] = field(default_factory=list)

    def serve(self, fitting: threading.Thread) -> None:
        """Report rank 0's reports to Ray Tune until the gang is done."""
        try:
            while True:
                message = ray.get(self.relay.take.remote(TAKE_S))
                if message is None:
                    if not fitting.is_alive():
                        return
                    continue
                kind, metrics, files, per_rank = message
                if kind == END:
                    self.ended = True
                else:
                    self.stopped = self.stopped or bool(metrics.get("diverged"))
                    if files is not None and per_rank:
                        files = self.with_ranks(files, int(metrics["epoch"]), fitting)
                    report(metrics, files)
                ray.get(self.relay.answer.remote(GO))
        finally:
            if fitting.is_alive():  # the lead is ending first (Tune stopped the trial)
                self.relay.answer.remote(STOP)

    def with_ranks(self, files: Files, epoch: int, fitting: threading.Thread) -> Files:
        """Rank 0's checkpoint files with every other rank's own state for ``epoch``."""
        while fitting.is_alive():
            found = ray.get(self.relay.collect.remote(epoch, self.workers, TAKE_S))
            if found is not None:
                return {**files, **{rank_state_file(r): s for r, s in found.items()}}
        return files  # the gang ended meanwhile: its failure is what the trial reports


def report(metrics: dict[str, Any], files: Files | None) -> None:
    """Report to Ray Tune from the lead; a checkpoint's files are stored as the trial's."""
    if files is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        write_files(directory, files)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def lead(
    config: dict[str, Any],
    base: dict[str, Any],
    deadline: float | None = None,
    per_worker: Trainable | None = None,
) -> None:
    """The Ray Tune trial of a gang: ``per_worker`` (the one-process trial function, the runner's
    or an app's) runs on each of ``base["resources"]["workers"]`` Ray Train workers."""
    from ray.train import FailureConfig, LoggingConfig, RunConfig

    assert per_worker is not None
    wait_if_late(deadline)
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # a line per stored checkpoint
    gang = Gang.of(base["resources"])
    context = tune.get_context()
    opened = Session.of(base["study"], None, deadline=deadline, values=dict(config))
    with session(opened):
        opened.restore()
    restored = Restored(files_of(opened.trial) if opened.trial.history else None, opened.copied)
    relay = ray.remote(Relay).options(num_cpus=0, max_concurrency=4).remote()
    janitor = start_janitor()
    trainer = internals.torch_trainer(
        member,
        train_loop_config={
            "per_worker": per_worker,
            "config": config,
            "base": base,
            "deadline": deadline,
            "relay": relay,
            "janitor": janitor,
            "restored": restored,
            "trial": (context.get_trial_id(), context.get_trial_name(), trial_directory()),
        },
        scaling_config=gang.scaling(),
        # Train V2's RunConfig (ray.train's with V2 on, Ray's default); mypy reads V1's stubs.
        run_config=RunConfig(  # type: ignore[call-arg]
            name=f"gang_{context.get_trial_id()}",
            storage_path=str(Path(context.get_trial_dir()) / "gang"),
            failure_config=FailureConfig(max_failures=0),  # the trial is retried, by Tune
            # Its lines on starting each gang (resources, ranks, process group) would outnumber
            # the study's own; warnings and errors still reach the terminal.
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    led = Lead(relay, gang.workers)
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as err:
            led.errors.append(err)

    fitting = threading.Thread(target=fit, name="hpray-gang", daemon=True)
    fitting.start()
    try:
        led.serve(fitting)
        fitting.join()
    finally:
        janitor.done.remote()
    if led.errors and not (led.ended or led.stopped):
        raise first_failure(led.errors[0])


def member(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker of the gang: the trial function, rank 0's reports relayed."""
    import ray.train

    context = ray.train.get_context()
    rank = context.get_world_rank()
    voice = Voice(loop_config["relay"]) if rank == 0 else None
    group = ray.get_runtime_context().get_placement_group_id()
    if rank == 0 and group:
        loop_config["janitor"].watch.remote(group)
    trial_id, trial_name, trial_dir = loop_config["trial"]
    me = Member(
        rank=rank,
        size=context.get_world_size(),
        trial_id=trial_id,
        trial_name=trial_name,
        trial_dir=trial_dir,
        sink=voice or Deposit(loop_config["relay"], rank),
        restored=loop_config["restored"],
    )
    with joined(me):
        loop_config["per_worker"](
            loop_config["config"], loop_config["base"], loop_config["deadline"]
        )
    if voice is not None:
        voice.end()


def trial_directory() -> str:
    """The trial's directory for its workers: in the study's storage when that is a path
    (the same on every node of a cluster with shared storage), else Ray's local one."""
    import pyarrow.fs

    stored = internals.trial_storage()
    if stored is not None and isinstance(stored[0], pyarrow.fs.LocalFileSystem):
        return stored[1]
    return str(tune.get_context().get_trial_dir())


def first_failure(error: BaseException) -> BaseException:
    """What ended a failed gang, so that the trial's error names it: a worker lost (its
    process or node died; the other ranks' broken connections follow from it), else the
    lowest rank's own exception (what its function raised); Ray Train's error otherwise."""
    failures = getattr(error, "worker_failures", None) or {}
    if not failures:
        return error
    lost = [rank for rank, found in failures.items() if _lost(found)]
    found = failures[min(lost or failures)]
    cause = getattr(found, "cause", None)  # a RayTaskError wraps the function's exception
    return cause if isinstance(cause, BaseException) else found


def _lost(error: BaseException) -> bool:
    """Whether a worker's failure is its process's death (Ray Train's health check finds
    it), not an exception its function raised."""
    names = {type(e).__name__ for e in (error, error.__cause__) if e is not None}
    return bool(names & LOST)


def files_of(state: TrialState) -> Files:
    """A trial state as a checkpoint's files, to hand to every rank."""
    with tempfile.TemporaryDirectory() as directory:
        state.save(directory)
        return read_files(directory)


def read_files(directory: str) -> Files:
    return {p.name: p.read_bytes() for p in Path(directory).iterdir() if p.is_file()}


def write_files(directory: str, files: Files) -> None:
    for name, content in files.items():
        (Path(directory) / name).write_bytes(content)
