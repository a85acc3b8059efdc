"""``hpray k8s``: the study's Kubernetes manifests, rendered from its composed config.

Two shapes run the same ``hpray tune`` command: a KubeRay ``RayJob`` (the operator creates a Ray
cluster whose head runs the driver and whose autoscaled GPU workers run the trials, then tears
it down) and a plain ``batch/v1`` ``Job`` (one pod, a local Ray on one GPU node). Both keep the
study on a shared ``PersistentVolumeClaim`` (or a URI), so a retry resumes it.
"""

from __future__ import annotations

import math
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hpray.config.compose import compose, resolve
from hpray.config.schema import K8sSettings, Pod
from hpray.config.settings import k8s_settings, study_settings, trial_resources
from hpray.deploy.submit import make_runtime_env
from hpray.errors import EXIT_CONFIG, EXIT_INTERRUPTED, ConfigError
from hpray.store.location import is_uri

# The Ray release the manifests and k8s/Dockerfile run; inside the package's ray pin.
RAY_VERSION = "2.60.0"
RAY_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311-gpu"
RAYJOB_NAME_MAX = 47  # KubeRay: a RayJob's name leaves room for its RayCluster's suffixes
CONTAINER = "hpray"
# Ray's images run as user "ray" (uid 1000, group users/100); fsGroup makes the claim writable.
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 100,
    "fsGroup": 100,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
HEADER = (
    "# Rendered by `hpray k8s` from the study's config: change the config (k8s.* and the study's\n"
    "# own keys) and render again rather than editing this file.\n"
)


def render(
    config: dict[str, Any], overrides: list[str], app: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """File name -> manifest, for the composed ``config`` and the user's ``overrides``; with
    ``app``, the pods run that Hydra app's command (its sweep, with hpray's sweeper)."""
    k8s, study = k8s_settings(config), study_settings(config)
    base = resource_name(study.name)
    labels = {"app.kubernetes.io/name": "hpray", "app.kubernetes.io/instance": base}
    if k8s.queue:
        labels["kueue.x-k8s.io/queue-name"] = k8s.queue
    claim = None if is_uri(study.storage) else k8s.claim
    if app is not None:
        on_workers = on_one_node = app_command(app, config)
    else:
        on_workers = command(overrides, config, k8s.workers.gpu)
        on_one_node = command(overrides, config, k8s.single.gpu)
    gangs = gang_sizing(config, k8s)
    if gangs is not None:  # trials of several workers: the group holds max_concurrent of them
        k8s.workers.max = gangs.pods
        k8s.workers.min = min(k8s.workers.min, gangs.pods)
    manifests = {
        "rayjob.yaml": rayjob(base, labels, on_workers, k8s, claim),
        "job.yaml": job(f"{base}-single", labels, on_one_node, k8s, claim),
    }
    if claim:
        manifests["pvc.yaml"] = pvc(claim, labels, k8s)
    return manifests


@dataclass(frozen=True)
class Gangs:
    """How the RayJob's worker group holds trials of several workers (``resources.workers``)."""

    at_once: int  # trials at a time
    workers: int  # Ray Train workers per trial
    per_pod: int  # workers a pod holds
    pods: int  # the group's most pods

    def note(self) -> str:
        """The manifest's comment on its worker group's size."""
        return (
            f"# The worker group holds {self.at_once} trials of {self.workers} workers at once "
            f"({self.per_pod} a pod): up to {self.pods} pods. A trial waits until all of its\n"
            "# workers fit; study.max_concurrent sets how many trials, resources.workers how "
            "many workers each.\n"
        )


def gang_sizing(config: dict[str, Any], k8s: K8sSettings) -> Gangs | None:
    """The worker group for trials of several workers, or None for one-process trials.

    With ``study.max_concurrent`` set, the group grows to hold that many trials' workers at
    once (the autoscaler adds pods as gangs wait); at 0, to ``k8s.workers.max`` pods and as
    many trials as those hold. A worker that no pod can hold is refused.
    """
    resources, study = trial_resources(config), study_settings(config)
    if resources.workers <= 1:
        return None
    gpu = resources.gpu if resources.gpu != "auto" else (1 if k8s.workers.gpu else 0)
    if gpu:
        per_pod = int(k8s.workers.gpu // float(gpu))
        what = f"{gpu:g} GPU a worker, k8s.workers.gpu={k8s.workers.gpu}"
    else:
        per_pod = int(cpu_cores(k8s.workers.cpu) // float(resources.cpu))
        what = f"{resources.cpu:g} CPU a worker, k8s.workers.cpu={k8s.workers.cpu}"
    if per_pod < 1:
        raise ConfigError("resources.workers", f"no worker pod holds a worker ({what}).")
    at_once = study.max_concurrent or max(1, k8s.workers.max * per_pod // resources.workers)
    pods = math.ceil(at_once * resources.workers / per_pod)
    return Gangs(at_once, resources.workers, per_pod, pods)


def cpu_cores(quantity: Any) -> float:
    """A Kubernetes CPU quantity in cores.

    Example:
        >>> cpu_cores(8), cpu_cores("500m"), cpu_cores("2")
        (8.0, 0.5, 2.0)
    """
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def comments(config: dict[str, Any]) -> dict[str, str]:
    """File name -> what its manifest says of itself, beyond what every one says."""
    gangs = gang_sizing(config, k8s_settings(config))
    return {"rayjob.yaml": gangs.note()} if gangs is not None else {}


def command(overrides: list[str], config: dict[str, Any], node_gpus: Any) -> list[str]:
    """The pods' ``hpray tune``: the user's overrides, less k8s.*, plus storage and GPUs.

    ``resources.gpu: auto`` looks at the cluster when the driver starts, and an autoscaled
    RayJob starts with no GPU worker yet: where the pods have GPUs, a trial asks for one.
    """
    kept = [o for o in overrides if not _key(o).startswith("k8s.")]
    if not is_uri(study_settings(config).storage):
        kept = [o for o in kept if _key(o) not in ("study.storage", "study.shared_storage")]
        kept += [f"study.storage={k8s_settings(config).mount}/studies", "study.shared_storage=true"]
    if trial_resources(config).gpu == "auto":
        kept.append(f"resources.gpu={1 if node_gpus else 0}")
    return ["hpray", "tune", *kept]


def app_command(app: list[str], config: dict[str, Any]) -> list[str]:
    """A Hydra app's command for the pods: its sweep's study on the shared volume (unless the
    study's storage is a URI). Its resources are its sweeper's, as its hparams_search says."""
    if is_uri(study_settings(config).storage):
        return [*app, f"hydra.sweeper.study.storage={study_settings(config).storage}"]
    mount = k8s_settings(config).mount
    return [
        *app,
        f"hydra.sweeper.study.storage={mount}/studies",
        "hydra.sweeper.study.shared_storage=true",
    ]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resource_name(study_name: str) -> str:
    """A DNS-1035 label from the study's name, short enough for KubeRay's derived names."""
    name = "hpray-" + re.sub(r"[^a-z0-9-]+", "-", study_name.lower())
    return name[:RAYJOB_NAME_MAX].rstrip("-")


def resources(spec: Pod) -> dict[str, Any]:
    """Requests equal to limits (the Guaranteed class: trials are not evicted for memory)."""
    amounts = {"cpu": str(spec.cpu), "memory": spec.memory}
    gpu = getattr(spec, "gpu", 0)  # the head has none
    if gpu:
        amounts["nvidia.com/gpu"] = str(gpu)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def volumes(claim: str | None) -> list[dict[str, Any]]:
    # Ray's object store lives in /dev/shm; a container's default 64 MiB is far too small.
    found: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    if claim:
        found.append({"name": "studies", "persistentVolumeClaim": {"claimName": claim}})
    return found


def mounts(claim: str | None, k8s: K8sSettings) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    if claim:
        found.append({"name": "studies", "mountPath": k8s.mount})
    return found


def container(name: str, k8s: K8sSettings, spec: Pod, claim: str | None) -> Any:
    return {
        "name": name,
        "image": k8s.image,
        "resources": resources(spec),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": mounts(claim, k8s),
    }


def pod_spec(
    containers: list[dict[str, Any]],
    claim: str | None,
    gpus: bool,
    k8s: K8sSettings,
    grace_s: int | None = None,
    shm: bool = True,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if k8s.service_account:
        spec["serviceAccountName"] = k8s.service_account
    spec.update(securityContext=POD_SECURITY, containers=containers)
    if gpus:
        spec["tolerations"] = [GPU_TOLERATION]
    if shm or claim:
        spec["volumes"] = volumes(claim)
    if grace_s is not None:
        spec["terminationGracePeriodSeconds"] = grace_s
    return spec


def rayjob(
    name: str,
    labels: dict[str, str],
    command: list[str],
    k8s: K8sSettings,
    claim: str | None,
) -> dict[str, Any]:
    """KubeRay RayJob: a new Ray cluster per attempt; the study resumes from shared storage."""
    grace = k8s.stop_wait_s + 30
    head = container("ray-head", k8s, k8s.head, claim)
    head["ports"] = [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
    ]
    worker = container("ray-worker", k8s, k8s.workers, claim)
    submitter = {
        "name": "ray-job-submitter",
        "image": k8s.image,
        "resources": resources(Pod(cpu="500m", memory="512Mi")),
        "securityContext": CONTAINER_SECURITY,
    }
    spec: dict[str, Any] = {
        "entrypoint": shlex.join(command),
        # `ray job stop`, a retry or the deadline sends SIGINT and waits: Tune saves the study.
        "runtimeEnvYAML": yaml.safe_dump(
            make_runtime_env(None, [], [], stop_wait_s=k8s.stop_wait_s), sort_keys=False
        ),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": k8s.ttl_s,
        "activeDeadlineSeconds": k8s.deadline_s,
        "backoffLimit": k8s.retries,
        "submissionMode": "K8sJobMode",
        "submitterPodTemplate": {
            "spec": {
                "restartPolicy": "Never",
                **pod_spec([submitter], None, gpus=False, k8s=k8s, shm=False),
            }
        },
        "rayClusterSpec": {
            "rayVersion": RAY_VERSION,
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {"idleTimeoutSeconds": 60, "securityContext": CONTAINER_SECURITY},
            "authOptions": {"mode": "token"},
            "headGroupSpec": {
                # The driver and the job server only: trials never land on the head.
                "rayStartParams": {"num-cpus": "0", "num-gpus": "0"},
                "template": {"spec": pod_spec([head], claim, gpus=False, k8s=k8s, grace_s=grace)},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "gpu",
                    "replicas": k8s.workers.min,
                    "minReplicas": k8s.workers.min,
                    "maxReplicas": k8s.workers.max,
                    "rayStartParams": {},
                    "template": {"spec": pod_spec([worker], claim, gpus=True, k8s=k8s)},
                }
            ],
        },
    }
    if k8s.queue:
        # Kueue admits a suspended RayJob (unsuspends it) once its queue has quota for it, and
        # reserves quota for a fixed size: the worker group runs at its maximum, not scaled.
        spec["suspend"] = True
        cluster = spec["rayClusterSpec"]
        cluster["enableInTreeAutoscaling"] = False
        del cluster["autoscalerOptions"]
        group = cluster["workerGroupSpecs"][0]
        group["replicas"] = group["minReplicas"] = group["maxReplicas"]
    return manifest("ray.io/v1", "RayJob", name, labels, k8s, spec)


def job(
    name: str,
    labels: dict[str, str],
    command: list[str],
    k8s: K8sSettings,
    claim: str | None,
) -> dict[str, Any]:
    """A batch Job: one pod, a local Ray on one GPU node; a retried pod resumes the study."""
    main = container(CONTAINER, k8s, k8s.single, claim)
    main["command"] = command
    spec: dict[str, Any] = {
        "backoffLimit": k8s.pod_retries,
        "activeDeadlineSeconds": k8s.deadline_s,
        "ttlSecondsAfterFinished": k8s.ttl_s,
        "podFailurePolicy": {
            "rules": [
                {  # invalid config: retrying cannot help
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [EXIT_CONFIG],
                    },
                },
                {  # evicted, preempted, drained: not the study's fault, retried for free
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
                {  # interrupted and saved: retried, and the retry resumes
                    "action": "Count",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [EXIT_INTERRUPTED],
                    },
                },
            ]
        },
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",  # podFailurePolicy requires it
                **pod_spec(
                    [main],
                    claim,
                    gpus=bool(k8s.single.gpu),
                    k8s=k8s,
                    grace_s=k8s.stop_wait_s + 30,
                ),
            },
        },
    }
    if k8s.queue:
        spec["suspend"] = True
    return manifest("batch/v1", "Job", name, labels, k8s, spec)


def manifest(
    api: str, kind: str, name: str, labels: dict[str, str], k8s: K8sSettings, spec: Any
) -> dict[str, Any]:
    """An object of ``kind`` in the study's namespace, with its labels."""
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": k8s.namespace, "labels": labels},
        "spec": spec,
    }


def pvc(name: str, labels: dict[str, str], k8s: K8sSettings) -> dict[str, Any]:
    """The studies' volume: ReadWriteMany, so the RayJob's head and workers all mount it."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": k8s.claim_size}},
    }
    if k8s.storage_class:
        spec["storageClassName"] = k8s.storage_class
    return manifest("v1", "PersistentVolumeClaim", name, labels, k8s, spec)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # plain YAML: a shared block is written out in full each time


def _text(dumper: yaml.SafeDumper, data: str) -> Any:
    style = "|" if "\n" in data else None  # embedded YAML stays readable as a block
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def dump(manifest: dict[str, Any], comment: str = "") -> str:
    return HEADER + comment + yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=100)


def write(
    manifests: dict[str, dict[str, Any]], out: Path, notes: dict[str, str] | None = None
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, manifest in manifests.items():
        path = out / file_name
        path.write_text(dump(manifest, (notes or {}).get(file_name, "")))
        written.append(path)
    return written


USAGE = """usage: hpray k8s [--out DIR] [OVERRIDES...] [-- APP COMMAND...]

Write the Kubernetes manifests for the study composed from the overrides (the same ones
`hpray tune` takes; k8s.* keys shape the manifests): rayjob.yaml (KubeRay), job.yaml (one GPU
node) and pvc.yaml (the shared volume, unless study.storage is a URI). DIR defaults to
./k8s-<study.name>.

After --, a Hydra app's own command: the pods run it instead of `hpray tune` (its image,
k8s.image, holds the app), e.g. hpray k8s k8s.image=me/app:1 study.name=mnist -- python
src/train.py -m hparams_search=mnist_optuna; study.name names the manifests.
"""


def main(args: list[str]) -> int:
    """``hpray k8s``: compose the study, render its manifests, write them."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE, end="")
        return 0
    app = args[args.index("--") + 1 :] if "--" in args else None
    args = args[: args.index("--")] if app is not None else args
    out: str | None = None
    rest = []
    for i, arg in enumerate(args):
        if arg.startswith("--out="):
            out = arg.split("=", 1)[1]
        elif arg == "--out" and i + 1 < len(args):
            out = args[i + 1]
        elif not (i > 0 and args[i - 1] == "--out"):
            rest.append(arg)

    def task(cfg: Any) -> int:
        try:
            config = resolve(cfg)
            study_settings(config)
            trial_resources(config)
            if app is not None and not app:
                raise ConfigError("--", "give the app's command after --.")
            manifests, notes = render(config, rest, app), comments(config)
        except ConfigError as err:
            print(f"hpray: invalid config: {err}", file=sys.stderr)
            return EXIT_CONFIG
        target = Path(out or f"k8s-{config['study']['name']}")
        for path in write(manifests, target, notes):
            print(f"[hpray] wrote {path}", file=sys.stderr)
        print(
            f"[hpray] apply one of them, after the claim:\n"
            f"  kubectl apply -f {target / 'pvc.yaml'}\n"
            f"  kubectl apply -f {target / 'rayjob.yaml'}   # KubeRay: a Ray cluster per run\n"
            f"  kubectl apply -f {target / 'job.yaml'}      # or: one pod on one GPU node",
            file=sys.stderr,
        )
        return 0

    return compose(rest, task, prog="hpray k8s")
