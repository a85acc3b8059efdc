"""Where a study lives: a local or shared path, or a URI Ray Tune accepts (s3://, gs://).

``StudyDir`` gives hpray's own files one interface over both, through pyarrow's filesystems
(the ones Ray Tune itself writes trials with). Before any trial starts the storage is checked
writable and, on a cluster, seen by every node.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import socket
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from hpray.errors import ConfigError

PROBE_TIMEOUT_S = 120.0


def is_uri(storage: str) -> bool:
    return "://" in storage


class StudyDir:
    """A directory on a pyarrow filesystem, with the few path operations hpray needs."""

    def __init__(self, fs: pafs.FileSystem, path: str, scheme: str = "") -> None:
        self.fs, self.path, self.scheme = fs, path.rstrip("/"), scheme

    @classmethod
    def at(cls, storage: str, name: str) -> StudyDir:
        """``<storage>/<name>``: storage is a path (relative to here) or a URI."""
        if is_uri(storage):
            try:
                fs, root = pafs.FileSystem.from_uri(storage)
            except (OSError, ValueError) as err:  # pyarrow.lib.ArrowInvalid is a ValueError
                raise ConfigError("study.storage", f"{storage!r} is not usable: {err}") from err
            return cls(fs, posixpath.join(root, name), storage.split("://", 1)[0])
        return cls(pafs.LocalFileSystem(), str(Path(storage).expanduser().resolve() / name))

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def parent(self) -> StudyDir:
        return StudyDir(self.fs, posixpath.dirname(self.path), self.scheme)

    def __truediv__(self, name: str) -> StudyDir:
        return StudyDir(self.fs, posixpath.join(self.path, name), self.scheme)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.path}" if self.scheme else self.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StudyDir) and (self.fs, self.path) == (other.fs, other.path)

    def __hash__(self) -> int:
        return hash(self.path)

    def _type(self) -> Any:
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        return bool(self._type() != pafs.FileType.NotFound)

    def is_file(self) -> bool:
        return bool(self._type() == pafs.FileType.File)

    def is_dir(self) -> bool:
        return bool(self._type() == pafs.FileType.Directory)

    def read_text(self) -> str:
        with self.fs.open_input_stream(self.path) as stream:
            return bytes(stream.read()).decode()

    def write_text(self, text: str) -> None:
        """Replace the file whole: a reader sees the old content or the new, never half."""
        if self.local:
            tmp = f"{self.path}.{uuid.uuid4().hex}.tmp"
            Path(tmp).write_text(text)
            os.replace(tmp, self.path)
            return
        with self.fs.open_output_stream(self.path) as stream:  # an object store PUT is whole
            stream.write(text.encode())

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def unlink(self) -> None:
        if self.is_file():
            self.fs.delete_file(self.path)

    def rmdir(self) -> None:
        self.fs.delete_dir(self.path)

    def iterdir(self) -> list[StudyDir]:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.path))
        except FileNotFoundError:
            return []
        return [StudyDir(self.fs, info.path, self.scheme) for info in infos]

    def glob(self, pattern: str) -> list[StudyDir]:
        """Entries matching ``pattern``, one path part at a time (``trial_*/checkpoint_*``)."""
        found = [self]
        for part in pattern.split("/"):
            found = [c for d in found for c in d.iterdir() if fnmatch.fnmatchcase(c.name, part)]
        return sorted(found, key=lambda d: d.path)

    def move_to(self, target: StudyDir) -> None:
        """Rename; on an object store, where directories are prefixes, copy then delete."""
        if self.local:
            os.rename(self.path, target.path)
            return
        pafs.copy_files(
            self.path, target.path, source_filesystem=self.fs, destination_filesystem=self.fs
        )
        self.fs.delete_dir(self.path)


def as_dir(directory: StudyDir | Path) -> StudyDir:
    if isinstance(directory, StudyDir):
        return directory
    return StudyDir(pafs.LocalFileSystem(), str(Path(directory).resolve()))


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
    probe = storage / f".hpray-probe-{uuid.uuid4().hex}"
    try:
        probe.write_text("probe")
        probe.unlink()
    except Exception as err:  # each filesystem raises its own kinds
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
    probe = root / f".hpray-probe-{uuid.uuid4().hex}"
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
