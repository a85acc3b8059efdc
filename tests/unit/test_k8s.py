"""The Kubernetes manifests `hpray k8s` renders: in sync with k8s/, valid offline, and saying
what they must (non-root, GPUs, retries that resume, Kueue)."""

from __future__ import annotations

import gzip
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from hpray.config.prepare import resolve
from hpray.deploy.k8s import RAY_IMAGE, RAY_VERSION, dump, render
from hpray.deploy.k8s import main as k8s_main
from hpray.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
# KubeRay v1.7.0's RayJob CRD (ray-operator/config/crd/bases/ray.io_rayjobs.yaml), v1 schema.
RAYJOB_SCHEMA = json.loads(
    gzip.decompress((REPO / "tests/data/kuberay-v1.7.0-rayjob.schema.json.gz").read_bytes())
)
# The oldest Kubernetes minor still supported upstream, and the newest the validator knows.
K8S_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())


def manifests(study_cfg: Any, *overrides: str) -> dict[str, dict[str, Any]]:
    return render(resolve(study_cfg(*overrides)), list(overrides))


def test_k8s_holds_the_defaults_rendering(study_cfg) -> None:  # type: ignore[no-untyped-def]
    rendered = manifests(study_cfg)
    assert sorted(rendered) == ["job.yaml", "pvc.yaml", "rayjob.yaml"]
    for name, manifest in rendered.items():
        assert (REPO / "k8s" / name).read_text() == dump(manifest), (
            f"k8s/{name} is stale: run `hpray k8s --out k8s` from the repository's root"
        )


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_built_in_kinds_pass_strict_validation(study_cfg, version: str) -> None:  # type: ignore[no-untyped-def]
    for overrides in ((), ("k8s.queue=team-a",)):
        for manifest in manifests(study_cfg, *overrides).values():
            if manifest["apiVersion"] != "ray.io/v1":
                kubernetes_validate.validate(manifest, version, strict=True)
    broken = manifests(study_cfg)["job.yaml"]
    broken["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Fields the schema does not define (the API server would drop them silently)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        known = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if known is not None and key in known:
                yield from unknown_fields(item, known[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, f"{path}.{key}")
            elif known is not None:  # no properties at all: metadata, checked by the server
                yield f"{path}.{key}"
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}[{i}]")


def operator_rules(rayjob: dict[str, Any]) -> list[str]:
    """KubeRay's own checks (validation.go, v1.7.0) on the fields these manifests use."""
    spec, cluster = rayjob["spec"], rayjob["spec"]["rayClusterSpec"]
    broken = []
    name = rayjob["metadata"]["name"]
    if len(name) > 47 or not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        broken.append("name: a DNS-1035 label of at most 47 characters")
    if spec.get("suspend") and not spec.get("shutdownAfterJobFinishes"):
        broken.append("suspend needs shutdownAfterJobFinishes")
    if spec.get("ttlSecondsAfterFinished", 0) < 0:
        broken.append("ttlSecondsAfterFinished >= 0")
    if spec.get("activeDeadlineSeconds", 1) <= 0:
        broken.append("activeDeadlineSeconds > 0")
    if spec.get("backoffLimit", 0) < 0:
        broken.append("backoffLimit >= 0")
    yaml.safe_load(spec.get("runtimeEnvYAML", ""))  # must parse
    if not cluster["headGroupSpec"]["template"]["spec"].get("containers"):
        broken.append("head needs a container")
    autoscaling = cluster.get("enableInTreeAutoscaling", False)
    for group in cluster["workerGroupSpecs"]:
        low, high = group.get("minReplicas"), group.get("maxReplicas")
        if not autoscaling and (low is None or high is None):
            broken.append(f"{group['groupName']}: min/max replicas without autoscaling")
        if low is not None and high is not None and not 0 <= low <= high:
            broken.append(f"{group['groupName']}: 0 <= minReplicas <= maxReplicas")
        if autoscaling and group.get("suspend"):
            broken.append(f"{group['groupName']}: no suspended group with autoscaling")
        if "labels" in group.get("rayStartParams", {}):
            broken.append("rayStartParams labels")
    if cluster.get("authOptions", {}).get("mode") == "token":
        version = tuple(int(p) for p in cluster["rayVersion"].split("."))
        if version < (2, 52, 0):
            broken.append("token auth needs Ray 2.52+")
    return broken


def test_the_rayjob_fits_kuberay_v1(study_cfg) -> None:  # type: ignore[no-untyped-def]
    for overrides in ((), ("k8s.queue=team-a",), ("study.storage=s3://bucket/studies",)):
        rayjob = manifests(study_cfg, *overrides)["rayjob.yaml"]
        jsonschema.validate(rayjob, RAYJOB_SCHEMA)
        assert list(unknown_fields(rayjob, RAYJOB_SCHEMA)) == [], overrides
        assert operator_rules(rayjob) == [], overrides
    # The checks can fail: a misspelt field, a wrong type, a rule the operator enforces.
    rayjob = manifests(study_cfg)["rayjob.yaml"]
    rayjob["spec"]["shutdownAfterJobFinish"] = True
    assert list(unknown_fields(rayjob, RAYJOB_SCHEMA)) == [".spec.shutdownAfterJobFinish"]
    rayjob["spec"]["backoffLimit"] = "3"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rayjob, RAYJOB_SCHEMA)
    rayjob["spec"].update(backoffLimit=3, suspend=True, shutdownAfterJobFinishes=False)
    assert "suspend needs shutdownAfterJobFinishes" in operator_rules(rayjob)


def pod_specs(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = manifest["spec"]
    if manifest["kind"] == "Job":
        yield spec["template"]["spec"]
    elif manifest["kind"] == "RayJob":
        yield spec["submitterPodTemplate"]["spec"]
        yield spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
        for group in spec["rayClusterSpec"]["workerGroupSpecs"]:
            yield group["template"]["spec"]


def test_every_pod_runs_as_non_root_without_privilege_escalation(study_cfg) -> None:  # type: ignore[no-untyped-def]
    found = 0
    for manifest in manifests(study_cfg).values():
        for pod in pod_specs(manifest):
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                found += 1
    autoscaler = manifests(study_cfg)["rayjob.yaml"]["spec"]["rayClusterSpec"]["autoscalerOptions"]
    assert autoscaler["securityContext"]["allowPrivilegeEscalation"] is False
    assert found == 4  # submitter, head, worker, the Job's pod


def test_gpus_go_to_the_workers_and_the_head_only_drives(study_cfg) -> None:  # type: ignore[no-untyped-def]
    rendered = manifests(study_cfg, "k8s.workers.max=8", "k8s.workers.gpu=2")
    cluster = rendered["rayjob.yaml"]["spec"]["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["authOptions"] == {"mode": "token"} and cluster["rayVersion"] == RAY_VERSION
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "0", "num-gpus": "0"}
    assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
    (group,) = cluster["workerGroupSpecs"]
    assert (group["minReplicas"], group["maxReplicas"]) == (0, 8)
    worker = group["template"]["spec"]
    for kind in ("requests", "limits"):
        assert worker["containers"][0]["resources"][kind]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker[
        "tolerations"
    ]
    job = rendered["job.yaml"]["spec"]["template"]["spec"]
    assert job["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_both_run_the_same_hpray_tune_on_the_shared_claim(study_cfg) -> None:  # type: ignore[no-untyped-def]
    overrides = ("model=cnn", "study.name=Big_Study", "k8s.image=reg/hpray:1", "study.storage=x")
    rendered = manifests(study_cfg, *overrides)
    command = rendered["job.yaml"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "hpray",
        "tune",
        "model=cnn",
        "study.name=Big_Study",
        "study.storage=/mnt/hpray/studies",
        "study.shared_storage=true",
        "resources.gpu=1",
    ]
    assert shlex.split(rendered["rayjob.yaml"]["spec"]["entrypoint"]) == command
    assert rendered["rayjob.yaml"]["metadata"]["name"] == "hpray-big-study"
    assert rendered["job.yaml"]["metadata"]["name"] == "hpray-big-study-single"
    assert rendered["pvc.yaml"]["spec"]["accessModes"] == ["ReadWriteMany"]
    for manifest in ("rayjob.yaml", "job.yaml"):
        for pod in pod_specs(rendered[manifest]):
            for container in pod["containers"]:
                assert container["image"] == "reg/hpray:1"
    runtime_env = yaml.safe_load(rendered["rayjob.yaml"]["spec"]["runtimeEnvYAML"])
    assert runtime_env["env_vars"]["RAY_JOB_STOP_SIGNAL"] == "SIGINT"


def test_a_uri_needs_no_claim(study_cfg) -> None:  # type: ignore[no-untyped-def]
    rendered = manifests(
        study_cfg, "study.storage=s3://bucket/studies", "k8s.service_account=s3-writer"
    )
    assert "pvc.yaml" not in rendered
    pod = rendered["job.yaml"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"][2:] == [
        "study.storage=s3://bucket/studies",
        "resources.gpu=1",
    ]
    assert [v["name"] for v in pod["volumes"]] == ["dshm"]
    # The pods reach the bucket with the service account's cloud role, not a stored key.
    for manifest in ("rayjob.yaml", "job.yaml"):
        for spec in pod_specs(rendered[manifest]):
            assert spec["serviceAccountName"] == "s3-writer"


def test_the_job_fails_at_once_on_bad_config_and_retries_interruptions(study_cfg) -> None:  # type: ignore[no-untyped-def]
    spec = manifests(study_cfg)["job.yaml"]["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    rules = {
        tuple(r["onExitCodes"]["values"]) if "onExitCodes" in r else "disruption": r["action"]
        for r in spec["podFailurePolicy"]["rules"]
    }
    assert rules == {(2,): "FailJob", "disruption": "Ignore", (75,): "Count"}
    # A stopped pod gets the time Tune needs to save the study before it is killed.
    grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > 120


def test_a_queue_makes_both_kueue_ready(study_cfg) -> None:  # type: ignore[no-untyped-def]
    rendered = manifests(study_cfg, "k8s.queue=team-a")
    for name in ("rayjob.yaml", "job.yaml"):
        assert rendered[name]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
        assert rendered[name]["spec"]["suspend"] is True
    cluster = rendered["rayjob.yaml"]["spec"]["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is False  # Kueue reserves quota for a fixed size
    group = cluster["workerGroupSpecs"][0]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 4
    assert "suspend" not in manifests(study_cfg)["rayjob.yaml"]["spec"]


def test_the_image_is_ray_s_gpu_image_of_the_pinned_release() -> None:
    dockerfile = (REPO / "k8s" / "Dockerfile").read_text()
    assert f"ARG RAY_IMAGE={RAY_IMAGE}" in dockerfile
    pin = re.search(r'"ray\[[^\]]*\]>=([\d.]+),<([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert pin is not None
    low, high = (tuple(int(p) for p in v.split(".")) for v in pin.groups())
    assert low <= tuple(int(p) for p in RAY_VERSION.split(".")) < high
    assert "USER ray" in dockerfile


def test_trials_ask_for_the_gpus_the_pods_have(study_cfg) -> None:  # type: ignore[no-untyped-def]
    """`resources.gpu: auto` would see no GPU when an autoscaled RayJob starts with no worker."""

    def commands(*overrides: str) -> tuple[list[str], list[str]]:
        rendered = manifests(study_cfg, *overrides)
        rayjob = shlex.split(rendered["rayjob.yaml"]["spec"]["entrypoint"])
        return rayjob, rendered["job.yaml"]["spec"]["template"]["spec"]["containers"][0]["command"]

    rayjob, job = commands("k8s.workers.gpu=0")
    assert rayjob[-1] == "resources.gpu=0" and job[-1] == "resources.gpu=1"
    rayjob, job = commands("resources=gpu_shared")  # an explicit share travels as it is
    assert not any(a.startswith("resources.gpu=") for a in rayjob + job)
    assert "resources=gpu_shared" in rayjob and "resources=gpu_shared" in job


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("k8s.workers.min=5", "k8s.workers.min"),
        ("k8s.retries=-1", "k8s.retries"),
        ("k8s.deadline_s=0", "k8s.deadline_s"),
        ("k8s.image=''", "k8s.image"),
    ],
)
def test_bad_k8s_settings_are_refused_naming_the_key(study_cfg, override: str, key: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=re.escape(key)):
        manifests(study_cfg, override)


def test_hpray_k8s_exits_2_on_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    from hpray.deploy.k8s import main

    out = tmp_path / "out"
    assert main([f"--out={out}", "k8s.workers.max=-2"]) == 2
    assert main([f"--out={out}", "model=nope"]) == 2
    assert not out.exists()
    assert main([f"--out={out}", "study.name=ok"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["job.yaml", "pvc.yaml", "rayjob.yaml"]


def test_the_pods_can_run_a_hydra_app_s_own_sweep(tmp_path: Path) -> None:
    from hpray.deploy.k8s import main

    out = tmp_path / "out"
    app = ["python", "src/train.py", "-m", "hparams_search=mnist_optuna"]
    assert main([f"--out={out}", "study.name=mnist", "k8s.image=me/app:1", "--", *app]) == 0
    job = yaml.safe_load((out / "job.yaml").read_text())
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    stored = [
        "hydra.sweeper.study.storage=/mnt/hpray/studies",
        "hydra.sweeper.study.shared_storage=true",
    ]
    assert command == [*app, *stored]
    rayjob = yaml.safe_load((out / "rayjob.yaml").read_text())
    assert shlex.split(rayjob["spec"]["entrypoint"]) == command
    assert rayjob["metadata"]["name"] == "hpray-mnist"
    assert main([f"--out={tmp_path / 'none'}", "--"]) == 2


def test_trials_of_several_workers_size_the_worker_group_for_max_concurrent_of_them(
    study_cfg, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """4 trials of 2 one-GPU workers on pods of 1 GPU: 8 pods, and the manifest says so; pods
    of 4 GPUs hold two workers' gangs each. A worker no pod holds is refused."""
    workers = ("resources.workers=2", "resources.gpu=1", "study.max_concurrent=4")
    group = manifests(study_cfg, *workers, "k8s.workers.gpu=1")["rayjob.yaml"]["spec"]
    group = group["rayClusterSpec"]["workerGroupSpecs"][0]
    assert group["maxReplicas"] == 8 and group["minReplicas"] == 0
    wide = manifests(study_cfg, *workers, "k8s.workers.gpu=4")["rayjob.yaml"]["spec"]
    assert wide["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplicas"] == 2
    code = k8s_main(["--out", str(tmp_path), *workers, "k8s.workers.gpu=1"])
    assert code == 0
    text = (tmp_path / "rayjob.yaml").read_text()
    assert "# The worker group holds 4 trials of 2 workers at once (1 a pod): up to 8 pods." in text
    with pytest.raises(ConfigError, match=r"resources\.workers: no worker pod holds a worker"):
        manifests(study_cfg, "resources.workers=2", "resources.gpu=2", "k8s.workers.gpu=1")
