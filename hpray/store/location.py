"""Where a study lives: a local or shared path, or a URI Ray Tune accepts (s3://, gs://).

``StudyDir`` gives hpray's own files one interface over both, through pyarrow's filesystems
(the ones Ray Tune itself writes trials with).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import posixpath
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from hpray.errors import ConfigError
from hpray.store.patient import patient

PATIENCE_S = 120.0  # study.storage_retry's default: 2m
# Where a file is one object, put whole or not at all (and a rename would be a copy).
OBJECT_STORES = ("s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "oss")


def is_uri(storage: str) -> bool:
    return "://" in storage


class StudyDir:
    """A directory on a pyarrow filesystem, with the few path operations hpray needs."""

    def __init__(self, fs: pafs.FileSystem, path: str, scheme: str = "") -> None:
        self.fs, self.path, self.scheme = fs, path.rstrip("/"), scheme

    @classmethod
    def at(cls, storage: str, name: str, patience_s: float = PATIENCE_S) -> StudyDir:
        """``<storage>/<name>``: storage is a path (relative to here) or a URI, whose calls
        are retried for up to ``patience_s`` while it does not answer (study.storage_retry)."""
        if is_uri(storage):
            try:
                fs, root = _filesystem(storage)
            except (OSError, ValueError) as err:  # pyarrow.lib.ArrowInvalid is a ValueError
                raise ConfigError("study.storage", f"{storage!r} is not usable: {err}") from err
            return cls(
                patient(fs, patience_s), posixpath.join(root, name), storage.split("://", 1)[0]
            )
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

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as stream:
            return bytes(stream.read())

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def write_bytes(self, content: bytes) -> None:
        """Replace the file whole: a reader sees the old content or the new, never half, and
        a crash (or a full disk) leaves the old one. A path: a temporary file beside it,
        flushed to disk, then renamed over it; an object store: one PUT, whole by nature."""
        if self.scheme in OBJECT_STORES:
            with self.fs.open_output_stream(self.path) as stream:
                stream.write(content)
            return
        # A path, or a filesystem behind a URI (HDFS, fsspec's): written beside, then moved.
        tmp = f"{self.path}.{uuid.uuid4().hex}.tmp"
        try:
            if self.local:
                with open(tmp, "wb") as out:
                    out.write(content)
                    out.flush()
                    os.fsync(out.fileno())  # the rename must not reach the disk before the data
                os.replace(tmp, self.path)
            else:
                with self.fs.open_output_stream(tmp) as stream:
                    stream.write(content)
                self.fs.move(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp)
            raise

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def unlink(self) -> None:
        if self.is_file():
            self.fs.delete_file(self.path)

    def rmdir(self) -> None:
        """Delete the directory and anything in it (pyarrow's delete_dir is recursive)."""
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


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for the URI (s3, gs, hdfs, file), or else the fsspec filesystem
    registered for its scheme (abfs, a drill's hpray-faults), as Ray Tune takes it too."""
    try:
        fs, root = pafs.FileSystem.from_uri(uri)
        return fs, str(root)
    except (OSError, ValueError) as err:
        import fsspec

        try:
            kind = fsspec.get_filesystem_class(uri.split("://", 1)[0])
        except (ImportError, ValueError):
            raise err from None
        fs = kind()
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), str(fs._strip_protocol(uri))


def as_dir(directory: StudyDir | Path) -> StudyDir:
    if isinstance(directory, StudyDir):
        return directory
    return StudyDir(pafs.LocalFileSystem(), str(Path(directory).resolve()))
