"""The typed settings blocks of a study config, as Hydra structured configs.

``study``, ``resources``, ``ray`` and ``k8s`` are dataclasses registered in Hydra's ConfigStore
(``hpray_settings``, first in ``conf/study.yaml``'s defaults list), so a value of the wrong type
or a key the block does not have is refused by Hydra as the config is composed, naming the key.
The values and their comments live in the YAML, which sets every field; ranges and rules across
fields are checked in ``settings.py``. Importing this module registers the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

SCHEMA = "hpray_settings"


@dataclass
class StudySettings:
    """``study:``: what the study is called, where it lives, what it optimises, its budgets."""

    name: str = MISSING
    storage: str = MISSING
    shared_storage: bool = MISSING
    storage_retry: Any = MISSING  # a duration: how long calls to a URI's storage are retried
    seed: int = MISSING
    num_samples: int = MISSING
    metric: Any = MISSING  # a metric's name, or a list of them (several objectives)
    mode: Any = MISSING  # "min" or "max", or one per metric
    epochs: int = MISSING
    cv_folds: int = MISSING
    checkpoint_every: int = MISSING
    max_concurrent: int = MISSING
    max_failures: int = MISSING
    reuse_actors: bool = MISSING
    time_budget: Any = None  # a duration ("2h", "30m", "90s") or seconds; None: no budget
    stop_at: float | None = None  # the metric's value that ends the study once reached
    trial_timeout: Any = None  # a duration, or seconds: a trial running longer is stopped
    enqueue: list[Any] = field(default_factory=list)  # configurations to evaluate first
    warm_start: str | None = None  # an earlier study's directory, whose trials the searcher sees

    @property
    def metrics(self) -> list[str]:
        """The objectives' metrics: the first is the one a single-metric view shows."""
        return [str(m) for m in self.metric] if isinstance(self.metric, list) else [self.metric]

    @property
    def modes(self) -> list[str]:
        return [str(m) for m in self.mode] if isinstance(self.mode, list) else [self.mode]

    @property
    def several(self) -> bool:
        return len(self.metrics) > 1


@dataclass
class Resources:
    """``resources:``: per trial; ``gpu`` is ``auto``, a fraction of one GPU, or whole GPUs."""

    cpu: float = MISSING  # per worker process of a trial
    gpu: Any = MISSING  # a number or "auto": OmegaConf has no union type
    workers: int = 1  # processes per trial, data-parallel on Ray Train (> 1: a gang)
    placement: str = "pack"  # a gang's workers on as few nodes as fit (pack) or spread


@dataclass
class RaySettings:
    """``ray:``: the cluster to join, or the local Ray to start."""

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    dashboard: bool = False
    temp_dir: str | None = None


@dataclass
class ReportSettings:
    """``report:``: report.html while the study runs."""

    every: float = 60.0  # seconds between redraws (0: drawn at the end only)


@dataclass
class Pod:
    """Kubernetes requests (and limits) of a pod; ``cpu`` is a number or a quantity ("500m")."""

    cpu: Any = MISSING
    memory: str = MISSING


@dataclass
class GpuPod(Pod):
    gpu: int = MISSING


@dataclass
class WorkerGroup(GpuPod):
    """The RayJob's autoscaled GPU worker group."""

    min: int = MISSING
    max: int = MISSING


@dataclass
class K8sSettings:
    """``k8s:``: what ``hpray k8s`` renders (see k8s/README.md)."""

    namespace: str = MISSING
    image: str = MISSING
    service_account: str | None = None
    claim: str = MISSING
    claim_size: str = MISSING
    storage_class: str | None = None
    mount: str = MISSING
    queue: str | None = None
    head: Pod = field(default_factory=Pod)
    workers: WorkerGroup = field(default_factory=WorkerGroup)
    single: GpuPod = field(default_factory=GpuPod)
    retries: int = MISSING
    pod_retries: int = MISSING
    deadline_s: int = MISSING
    ttl_s: int = MISSING
    stop_wait_s: int = MISSING


def register() -> None:
    """Store the schema under ``hpray_settings``, as Hydra's own schema examples do."""
    ConfigStore.instance().store(
        name=SCHEMA,
        node={
            "study": StudySettings,
            "resources": Resources,
            "ray": RaySettings,
            "k8s": K8sSettings,
            "report": ReportSettings,
        },
    )


register()
