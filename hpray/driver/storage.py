"""The study's storage, checked before any trial starts: writable, and on a cluster seen by
every node."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from hpray.driver.pause import StoragePaused
from hpray.errors import ConfigError
from hpray.store import full
from hpray.store.layout import PROBE_PREFIX
from hpray.store.location import StudyDir

PROBE_TIMEOUT_S = 120.0


def check_writable(storage: StudyDir) -> None:
    """The storage takes new files.

    A path is checked without writing anything (the nearest folder that exists must be
    writable), so a refused study leaves no trace; behind a URI, a probe object is written and
    deleted, the only way to know.
    """
    if storage.local:
        existing = Path(storage.path)
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise ConfigError("study.storage", f"{existing} is a file, not a directory.")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(
                "study.storage",
                f"{existing} is not writable by this user (uid {os.getuid()}); pick a writable "
                "path with study.storage=... or fix its permissions.",
            )
        return
    probe = storage / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        probe.write_text("probe")
        probe.unlink()
    except Exception as err:  # each filesystem raises its own kinds
        what = full.fault(err, storage.path)
        if what is not None:  # there, but full: not the config's fault
            raise StoragePaused(full.pause_line(storage, what)) from err
        raise ConfigError(
            "study.storage",
            f"cannot write to {storage}: {err}. Check the URI, the bucket and the credentials "
            "(e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the node's role).",
        ) from err


def alive_nodes() -> list[dict[str, Any]]:
    return [node for node in ray.nodes() if node.get("Alive")]


def check_shared(storage: StudyDir, shared: bool) -> None:
    """On a cluster of several nodes, a path must be one every node sees.

    Trials write their checkpoints from whichever node runs them, and a retried trial reads
    them back on another; a node-local path would scatter the study and lose it with the node.
    A path declared shared is proven so: a file written here must be visible on every node.
    A URI is the same storage from everywhere.
    """
    if not storage.local:
        return
    nodes = alive_nodes()
    if len(nodes) < 2:
        return
    if not shared:
        raise ConfigError(
            "study.storage",
            f"{storage} is a path on this node, and the cluster has {len(nodes)} nodes whose "
            "trials must all write there. Use a URI (study.storage=s3://bucket/studies), or a "
            "path every node mounts (NFS, a Kubernetes volume) and declare it with "
            "study.shared_storage=true.",
        )
    root = Path(storage.path)
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    probe.write_text(socket.gethostname())
    try:
        checks = [
            _sees.options(
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(str(probe))
            for node in nodes
        ]
        seen = ray.get(checks, timeout=PROBE_TIMEOUT_S)
    finally:
        probe.unlink(missing_ok=True)
    blind = [
        f"{node['NodeManagerAddress']} ({host})"
        for node, (ok, host) in zip(nodes, seen, strict=True)
        if not ok
    ]
    if blind:
        raise ConfigError(
            "study.shared_storage",
            f"is true, but {storage} is not the same directory on every node: "
            f"{', '.join(blind)} cannot see a file written on this one. Mount the shared "
            "volume there, or use a URI (study.storage=s3://bucket/studies).",
        )


@ray.remote(num_cpus=0, max_retries=0)
def _sees(path: str) -> tuple[bool, str]:
    return Path(path).is_file(), socket.gethostname()
