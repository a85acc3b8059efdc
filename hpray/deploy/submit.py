"""``hpray submit``: run a study as a Ray job on an existing cluster (Ray's job submission).

The job's entrypoint is ``hpray tune`` with the user's overrides; the runtime environment asks
Ray to stop the job with SIGINT and to wait for it, so Tune saves the study before it exits and
the same submission resumes it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hpray.config.compose import compose, resolve
from hpray.config.settings import ray_settings, study_settings, trial_resources
from hpray.errors import EXIT_CONFIG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ConfigError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
STOP_WAIT_S = 120
# Credentials travel with the client's own environment, never in a job's runtime environment,
# which the dashboard shows to anyone who can read job details.
SECRET_ENV = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")

DESCRIPTION = """Submit `hpray tune OVERRIDES...` as a Ray job to an existing Ray cluster.

The cluster needs hpray installed on its nodes (or --ship-hpray), and study.storage must be a
path every node sees (with study.shared_storage=true) or a URI such as s3://bucket/studies.
Stopping the job (`ray job stop ID`) saves the study; submitting the same overrides again
resumes it. The token of a cluster with token authentication is read from RAY_AUTH_TOKEN,
RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, never from the command line.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hpray submit",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS,
        help="the cluster's job server (dashboard) URL; default $RAY_ADDRESS or %(default)s",
    )
    p.add_argument(
        "--working-dir",
        help="upload this directory with the job and run there (your own configs and code)",
    )
    p.add_argument(
        "--ship-hpray",
        action="store_true",
        help="upload this machine's hpray package with the job (for a cluster without it; "
        "its dependencies must be there or be named with --pip)",
    )
    p.add_argument(
        "--pip", action="append", default=[], metavar="REQ", help="pip requirement to install"
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="environment variable for the job (NAME alone passes this shell's value)",
    )
    p.add_argument(
        "--stop-wait",
        type=int,
        default=STOP_WAIT_S,
        metavar="S",
        help="seconds `ray job stop` waits for the study to save before killing it "
        "(default %(default)s)",
    )
    p.add_argument("--submission-id", help="the job's id (default hpray-<study>-<UTC time>)")
    p.add_argument(
        "--no-wait", action="store_true", help="return after submitting; do not follow the logs"
    )
    p.add_argument("--fresh", action="store_true", help="pass --fresh to hpray tune")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, exactly as for hpray tune")
    return p


def submit(args: list[str]) -> int:
    """``hpray submit``: check the config here, submit it, then follow the job to its end.

    Everything after ``--`` is a Hydra app's own command, submitted as it is
    (``hpray submit --working-dir . -- python src/train.py -m hparams_search=x``): its sweep
    runs with hpray's sweeper on the cluster, checked there.
    """
    app = args[args.index("--") + 1 :] if "--" in args else None
    args = args[: args.index("--")] if app is not None else args
    if any(a in ("-h", "--help") for a in args):
        parser().print_help()
        return EXIT_OK
    try:
        opts, hydra_flags = parser().parse_known_intermixed_args(args)
    except SystemExit as exit_:
        return EXIT_CONFIG if exit_.code else EXIT_OK
    # Hydra's own flags (--config-dir=DIR, --cfg job) go to Hydra here and to the job's command.
    opts.overrides = [*hydra_flags, *opts.overrides]
    if app is not None:
        return _submit_app(opts, app)
    # Hydra composes the overrides here first, so a typo fails in a second, not on the cluster.
    return compose(opts.overrides, lambda cfg: _submit(cfg, opts), prog="hpray submit")


def _submit(cfg: DictConfig, opts: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="hpray-ship-") as tmp:
        shipped = bundle_hpray(Path(tmp)) if opts.ship_hpray else None
        try:
            name = check_submittable(cfg)
            env = make_runtime_env(opts.working_dir, opts.pip, opts.env, opts.stop_wait, shipped)
        except ConfigError as err:
            print(f"hpray: invalid config: {err}", file=sys.stderr)
            return EXIT_CONFIG
        command = entrypoint(opts.overrides, fresh=opts.fresh, shipped=shipped is not None)
        return _send(opts, command, env, name)


def _submit_app(opts: argparse.Namespace, app: list[str]) -> int:
    """A Hydra app's sweep as the job: its command as it is, with hpray's job settings."""
    try:
        if not app or opts.overrides or opts.fresh:
            raise ConfigError(
                "--",
                "after -- goes the app's whole command and its overrides, before it only "
                "hpray submit's options: hpray submit --working-dir . -- python src/train.py "
                "-m hparams_search=<name>.",
            )
        with tempfile.TemporaryDirectory(prefix="hpray-ship-") as tmp:
            shipped = bundle_hpray(Path(tmp)) if opts.ship_hpray else None
            env = make_runtime_env(opts.working_dir, opts.pip, opts.env, opts.stop_wait, shipped)
            if shipped:  # and the sweeper the app's -m finds through Hydra's plugin namespace
                env["py_modules"].append(bundle_sweeper(Path(tmp)))
            name = Path(app[1]).stem if len(app) > 1 else "app"
            return _send(opts, shlex.join(app), env, name)
    except ConfigError as err:
        print(f"hpray: invalid config: {err}", file=sys.stderr)
        return EXIT_CONFIG


def _send(opts: argparse.Namespace, command: str, env: dict[str, Any], name: str) -> int:
    """Submit ``command`` as a job, then follow it to its end (unless --no-wait)."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    job_id = opts.submission_id or f"hpray-{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    try:
        client = JobSubmissionClient(opts.address)
        job_id = client.submit_job(entrypoint=command, runtime_env=env, submission_id=job_id)
    except AuthenticationError:
        print(
            f"hpray: the cluster at {opts.address} refused the submission: its token "
            "authentication did not accept this client. Set RAY_AUTH_TOKEN (or "
            "RAY_AUTH_TOKEN_PATH) to the cluster's token, e.g. from `ray get-auth-token` on the "
            "head node, and submit again.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except (ConnectionError, RuntimeError, ValueError) as err:
        print(f"hpray: could not submit to {opts.address}: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"[hpray] submitted job {job_id} to {opts.address}: {command}\n"
        f"[hpray]   follow: ray job logs --address {opts.address} -f {job_id}\n"
        f"[hpray]   stop:   ray job stop --address {opts.address} {job_id}  "
        "(the study is saved; submit the same command again, without --fresh, to resume it)",
        file=sys.stderr,
    )
    if opts.no_wait:
        return EXIT_OK
    try:
        asyncio.run(_follow(client, job_id))
    except KeyboardInterrupt:
        print(
            f"\n[hpray] stopped following; job {job_id} keeps running on the cluster",
            file=sys.stderr,
        )
        return EXIT_OK
    return job_exit_code(client.get_job_info(job_id))


async def _follow(client: Any, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        print(lines, end="", flush=True)


def job_exit_code(info: Any) -> int:
    """The contract's exit code for a finished job: hpray's own, or 75 for a stopped job."""
    status = str(getattr(info.status, "value", info.status))
    if status == "SUCCEEDED":
        return EXIT_OK
    if status == "STOPPED" and info.driver_exit_code == EXIT_OK:
        # The stop came as the study ended: the driver finished it, and said so.
        print("[hpray] the job was stopped after its study completed", file=sys.stderr)
        return EXIT_OK
    if status == "STOPPED":
        print(
            "[hpray] the job was stopped; submit the same overrides again to resume the study",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    code = info.driver_exit_code
    first_line = str(info.message or "").partition("\n")[0].rstrip(",: ")
    print(f"[hpray] job {info.submission_id} {status.lower()}: {first_line}", file=sys.stderr)
    return int(code) if code in (EXIT_CONFIG, EXIT_INTERRUPTED) else EXIT_ERROR


def check_submittable(cfg: DictConfig) -> str:
    """What can be checked away from the cluster; returns the study's name.

    Data files, user code and the cluster's nodes are checked by the job itself, where they are.
    """
    config = resolve(cfg)
    settings = study_settings(config)
    trial_resources(config)
    storage = settings.storage
    if "://" not in storage and not Path(storage).expanduser().is_absolute():
        raise ConfigError(
            "study.storage",
            f"{storage!r} is relative; a Ray job runs in a temporary directory on the cluster "
            "that is deleted afterwards. Give a URI (study.storage=s3://bucket/studies) or an "
            "absolute path every node mounts (study.storage=/mnt/shared/studies "
            "study.shared_storage=true).",
        )
    if ray_settings(config).address:
        raise ConfigError(
            "ray.address",
            "is set; a Ray job joins the cluster it was submitted to. Leave ray.address unset "
            "and pass the cluster with --address.",
        )
    return settings.name


def entrypoint(overrides: list[str], fresh: bool = False, shipped: bool = False) -> str:
    """The job's shell command: ``hpray tune`` with the overrides, each quoted for the shell."""
    command = ["python", "-m", "hpray"] if shipped else ["hpray"]
    return shlex.join([*command, "tune", *(["--fresh"] if fresh else []), *overrides])


def make_runtime_env(
    working_dir: str | None,
    pip: list[str],
    env: list[str],
    stop_wait_s: int = STOP_WAIT_S,
    shipped: str | None = None,
) -> dict[str, Any]:
    """Ray's runtime environment for the job: what it carries, and how it is stopped.

    ``shipped`` is a copy of the hpray package to upload (see ``bundle_hpray``).
    """
    env_vars = {"RAY_JOB_STOP_SIGNAL": "SIGINT", "RAY_JOB_STOP_WAIT_TIME_S": str(stop_wait_s)}
    for item in env:
        name, sep, value = item.partition("=")
        if name in SECRET_ENV:
            raise ConfigError(
                f"--env {name}",
                "would put the cluster's token in the job's runtime environment, which the "
                "dashboard shows; the cluster's nodes already hold it.",
            )
        if not sep and name not in os.environ:
            raise ConfigError(f"--env {name}", "is not set in this shell; give NAME=VALUE.")
        env_vars[name] = value if sep else os.environ[name]
    runtime_env: dict[str, Any] = {"env_vars": env_vars}
    if working_dir:
        if not Path(working_dir).is_dir():
            raise ConfigError(f"--working-dir {working_dir}", "no such directory.")
        runtime_env["working_dir"] = str(working_dir)
    if shipped:
        runtime_env["py_modules"] = [shipped]
    if pip:
        runtime_env["pip"] = list(pip)
    return runtime_env


def bundle_hpray(into: Path) -> str:
    """A copy of this hpray package with its configs inside, as Ray's py_modules uploads it.

    An editable install keeps the configs beside the package, not in it, so they are put back.
    """
    import hpray

    source, target = Path(hpray.__file__).parent, into / "hpray"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(source, target, ignore=skip)
    if not (target / "conf").is_dir():
        shutil.copytree(Path(str(files("hpray.conf"))), target / "conf", ignore=skip)
    return str(target)


def bundle_sweeper(into: Path) -> str:
    """A copy of hpray's Hydra sweeper plugin (``hydra_plugins/hpray_sweeper``) to upload."""
    import hydra_plugins.hpray_sweeper as plugin

    target = into / "hydra_plugins" / "hpray_sweeper"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(Path(plugin.__file__).parent, target, ignore=skip)
    return str(target.parent)
