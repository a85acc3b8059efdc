"""`hpray submit`'s checks, entrypoint and runtime environment, before any cluster is reached."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from ray.job_submission import JobStatus

from hpray.deploy.submit import (
    bundle_hpray,
    check_submittable,
    entrypoint,
    job_exit_code,
    make_runtime_env,
    submit,
)
from hpray.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NOWHERE = "--address=http://127.0.0.1:9"  # nothing listens: a check must stop us before it


def test_the_entrypoint_is_hpray_tune_with_each_override_quoted() -> None:
    command = entrypoint(["study.name=a", "+data.note=two words", "model=cnn"], fresh=True)
    assert shlex.split(command) == [
        "hpray",
        "tune",
        "--fresh",
        "study.name=a",
        "+data.note=two words",
        "model=cnn",
    ]
    assert shlex.split(entrypoint([], shipped=True)) == ["python", "-m", "hpray", "tune"]


def test_the_runtime_env_stops_the_job_with_sigint_and_waits() -> None:
    env = make_runtime_env(None, [], ["MY_FLAG=1", "HOME"], stop_wait_s=30)
    assert env == {
        "env_vars": {
            "RAY_JOB_STOP_SIGNAL": "SIGINT",
            "RAY_JOB_STOP_WAIT_TIME_S": "30",
            "MY_FLAG": "1",
            "HOME": str(Path.home()),
        }
    }


def test_jobs_runtime_env_yaml_matches_what_submit_sends() -> None:
    documented = yaml.safe_load((REPO / "jobs" / "runtime_env.yaml").read_text())
    assert documented == make_runtime_env(None, [], [])


def test_the_token_never_goes_into_the_runtime_env() -> None:
    for name in ("RAY_AUTH_TOKEN=abc", "RAY_AUTH_TOKEN_PATH=/x"):
        with pytest.raises(ConfigError, match="token") as err:
            make_runtime_env(None, [], [name])
        assert "abc" not in str(err.value)


def test_the_runtime_env_carries_the_project(tmp_path: Path) -> None:
    shipped = bundle_hpray(tmp_path / "ship")
    env = make_runtime_env(str(tmp_path), ["scikit-learn"], [], shipped=shipped)
    assert env["working_dir"] == str(tmp_path)
    assert env["pip"] == ["scikit-learn"]
    assert env["py_modules"] == [shipped]
    # The package with its configs inside, whichever way this one is installed.
    assert (Path(shipped) / "cli.py").is_file()
    assert (Path(shipped) / "conf" / "study.yaml").is_file()
    assert (Path(shipped) / "conf" / "model" / "mlp.yaml").is_file()
    assert not list(Path(shipped).rglob("__pycache__"))
    with pytest.raises(ConfigError, match="--working-dir"):
        make_runtime_env(str(tmp_path / "missing"), [], [])
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        make_runtime_env(None, [], ["NOT_SET_ANYWHERE"])


def test_storage_must_be_a_uri_or_an_absolute_path(study_cfg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"study.storage: '\./studies' is relative"):
        check_submittable(study_cfg("study.storage=./studies"))
    assert check_submittable(study_cfg("study.storage=/mnt/shared", "study.name=x")) == "x"
    assert check_submittable(study_cfg("study.storage=s3://bucket/studies")) == "digits_mlp"
    with pytest.raises(ConfigError, match=r"ray\.address"):
        check_submittable(study_cfg("study.storage=/mnt/s", "ray.address=127.0.0.1:6379"))


def test_bad_input_exits_2_before_reaching_a_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert submit([NOWHERE, "model=nope"]) == 2
    assert submit([NOWHERE, "study.storage=studies"]) == 2
    assert "study.storage: 'studies' is relative" in capsys.readouterr().err
    assert submit([NOWHERE, "--stop-wait=soon"]) == 2


def test_a_job_s_end_maps_to_the_contract_s_exit_codes() -> None:
    def info(status: JobStatus, code: int | None) -> SimpleNamespace:
        return SimpleNamespace(
            status=status, driver_exit_code=code, message="exit code", submission_id="j"
        )

    assert job_exit_code(info(JobStatus.SUCCEEDED, 0)) == 0
    assert job_exit_code(info(JobStatus.STOPPED, None)) == 75
    assert job_exit_code(info(JobStatus.STOPPED, 75)) == 75
    assert job_exit_code(info(JobStatus.STOPPED, 0)) == 0  # stopped as its study completed
    assert job_exit_code(info(JobStatus.FAILED, 2)) == 2
    assert job_exit_code(info(JobStatus.FAILED, 75)) == 75
    assert job_exit_code(info(JobStatus.FAILED, 1)) == 1
    assert job_exit_code(info(JobStatus.FAILED, None)) == 1  # e.g. the supervisor died


def test_an_app_s_command_goes_after_the_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    assert submit([NOWHERE, "--"]) == 2
    assert submit([NOWHERE, "study.name=x", "--", "python", "train.py", "-m"]) == 2
    assert "after -- goes the app's whole command" in capsys.readouterr().err
    # Its command itself is not composed here: a job that cannot reach the cluster is exit 1.
    assert submit([NOWHERE, "--no-wait", "--", "python", "src/train.py", "-m", "a=b"]) == 1
    assert "could not submit to http://127.0.0.1:9" in capsys.readouterr().err
