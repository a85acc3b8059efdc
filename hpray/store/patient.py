"""Storage behind a URI that may stop answering for a while: an object store restarting, a
network between the cluster and its bucket that drops.

``patient(fs, bound_s)`` wraps a pyarrow filesystem so that every call the driver and the
trials make (Ray Tune's checkpoint uploads among them) is retried with backoff while the
storage does not answer, for up to ``study.storage_retry``; past that, the call fails with
``ETIMEDOUT`` naming the path, a storage fault the study pauses on (``hpray.store.full``).
Errors that retrying cannot cure (no such bucket, access denied, a missing file) are raised
at once. A file is written whole or not at all: its bytes are spooled here and sent in one
upload, which is what a retry repeats; an upload that fails is never taken for a stored
file, even where Arrow's ``copy_files`` drops the error (``copying``).
"""

from __future__ import annotations

import errno
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs

from hpray import internals

T = TypeVar("T")
SPOOL_BYTES = 64 * 1024 * 1024  # a larger file goes to a temporary file while it is retried
CHUNK = 8 * 1024 * 1024
FIRST_WAIT_S, LONGEST_WAIT_S = 0.5, 8.0
# How AWS's SDK (pyarrow's S3), Google's (GCS) and the OS word a storage that did not answer.
UNANSWERED = (
    "NETWORK_CONNECTION",
    "curlCode",
    "Could not connect",
    "SERVICE_UNAVAILABLE",
    "SLOW_DOWN",
    "REQUEST_TIMEOUT",
    "INTERNAL_FAILURE",
    "Throttl",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "Connection refused",
    "Connection reset",
    "timed out",
)
UNANSWERED_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
}


def unanswered(err: BaseException) -> bool:
    """Whether ``err`` says the storage did not answer (worth retrying), rather than refused."""
    if isinstance(err, (FileNotFoundError, FileExistsError, PermissionError)):
        return False
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    if not isinstance(err, OSError):
        return False
    return err.errno in UNANSWERED_ERRNOS or any(word in str(err) for word in UNANSWERED)


def patient(fs: pafs.FileSystem, bound_s: float) -> pafs.FileSystem:
    return pafs.PyFileSystem(Patient(inline(fs), bound_s))


def inline(fs: pafs.FileSystem) -> pafs.FileSystem:
    """S3 that writes in the calling thread. Arrow copies files (Ray Tune's checkpoint uploads)
    on its I/O threads, which call this module; an S3 upload that waited there for parts sent
    on the same, busy threads would wait for ever (Ray copies to a bare S3 without threads for
    this reason). A small file also goes in one PUT rather than a multipart upload."""
    if not isinstance(fs, pafs.S3FileSystem):
        return fs
    options = dict(fs.__reduce__()[1][0])  # the options it was made with, as pickling has them
    options["background_writes"] = False
    if "allow_delayed_open" in options:
        options["allow_delayed_open"] = True
    return pafs.S3FileSystem(**options)


class Patient(pafs.FileSystemHandler):  # type: ignore[misc]  # pyarrow is untyped
    """The handler of ``patient``'s filesystem: ``inner``'s calls, each retried up to
    ``bound_s`` seconds while the storage does not answer."""

    # Once a call has waited out the bound, this process's next calls are tried once each
    # until one is answered: a study pausing on its storage winds down without waiting again.
    # The process's, not a handler's: each StudyDir and each unpickled copy has its own.
    given_up = False

    def __init__(self, inner: pafs.FileSystem, bound_s: float) -> None:
        self.inner, self.bound_s = inner, float(bound_s)
        self.dropped: dict[str, BaseException] = {}  # path: why its upload failed
        internals.checked_copies(copying)  # in each process that stores with it

    def __reduce__(self) -> tuple[Any, ...]:  # each trial gets the driver's, pickled
        return Patient, (self.inner, self.bound_s)

    def _retried(self, path: str, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + (0.0 if Patient.given_up else self.bound_s)
        wait, since = FIRST_WAIT_S, time.monotonic()
        while True:
            try:
                answer = call()
            except Exception as err:
                if not unanswered(err):
                    raise
                if time.monotonic() + wait > deadline:
                    Patient.given_up = True
                    raise OSError(
                        errno.ETIMEDOUT,
                        f"the storage did not answer for {self.bound_s:.0f} s "
                        f"(study.storage_retry): {str(err).splitlines()[0]}",
                        path,
                    ) from err
                if wait == FIRST_WAIT_S:
                    _say(
                        f"the storage does not answer ({str(err).splitlines()[0]}); retrying "
                        f"for up to {self.bound_s:.0f} s (study.storage_retry)"
                    )
                time.sleep(wait * random.uniform(0.5, 1.0))  # trials do not retry in step
                wait = min(wait * 2, LONGEST_WAIT_S)
                continue
            Patient.given_up = False
            if wait != FIRST_WAIT_S:
                _say(f"the storage answers again, after {time.monotonic() - since:.0f} s")
            return answer

    def get_type_name(self) -> str:
        return f"patient+{self.inner.type_name}"

    def __eq__(self, other: object) -> bool:  # what pyarrow compares two of them by
        return isinstance(other, Patient) and bool(self.inner.equals(other.inner))

    def __hash__(self) -> int:
        return hash(self.inner.type_name)

    def equals(self, other: Any) -> bool:
        return bool(self == getattr(other, "handler", other))

    def normalize_path(self, path: str) -> str:
        return str(self.inner.normalize_path(path))

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self._retried(",".join(paths), lambda: self.inner.get_file_info(paths))

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self._retried(selector.base_dir, lambda: self.inner.get_file_info(selector))

    def create_dir(self, path: str, recursive: bool) -> None:
        self._retried(path, lambda: self.inner.create_dir(path, recursive=recursive))

    def delete_dir(self, path: str) -> None:
        self._retried(path, lambda: self.inner.delete_dir(path))

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._retried(
            path, lambda: self.inner.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)
        )

    def delete_root_dir_contents(self) -> None:
        self._retried("/", lambda: self.inner.delete_dir_contents("/", accept_root_dir=True))

    def delete_file(self, path: str) -> None:
        self._retried(path, lambda: self.inner.delete_file(path))

    def move(self, src: str, dest: str) -> None:
        self._retried(src, lambda: self.inner.move(src, dest))

    def copy_file(self, src: str, dest: str) -> None:
        self._retried(src, lambda: self.inner.copy_file(src, dest))

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(self._retried(path, lambda: self._fetched(path)), mode="r")

    def open_input_file(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(self._retried(path, lambda: self._fetched(path)), mode="r")

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        return pa.PythonFile(_Upload(self, path, metadata), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self._retried(path, lambda: self.inner.open_append_stream(path, metadata))

    def _fetched(self, path: str) -> IO[bytes]:
        """The whole file, read here: a read cut off half-way is retried from its start."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  # returned open
        try:
            with self.inner.open_input_stream(path) as stream:
                while chunk := stream.read(CHUNK):
                    spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def _upload(self, path: str, metadata: Any, spool: IO[bytes]) -> None:
        def send() -> None:
            spool.seek(0)
            with self.inner.open_output_stream(path, metadata=metadata) as out:
                while chunk := spool.read(CHUNK):
                    out.write(chunk)

        self._retried(path, send)


class _Upload:
    """A file being written: spooled here, uploaded whole (and retried) when it is closed."""

    def __init__(self, owner: Patient, path: str, metadata: Any) -> None:
        self.owner, self.path, self.metadata = owner, path, metadata
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  # closed by close
        self.closed = False

    def write(self, data: Any) -> int:
        return self.spool.write(data)

    def tell(self) -> int:
        return self.spool.tell()

    def flush(self) -> None:
        pass  # the upload happens once, at close

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.owner._upload(self.path, self.metadata, self.spool)
        except BaseException as err:
            self.owner.dropped[self.path] = err  # raised here too, where a caller reads it
            raise
        finally:
            self.spool.close()
        self.owner.dropped.pop(self.path, None)


@contextmanager
def copying(fs: Any, destination: str) -> Iterator[None]:
    """Around a copy of files to ``destination``: raises the first upload under it that
    failed, which Arrow's ``copy_files`` does not."""
    handler = getattr(fs, "handler", None)
    if not isinstance(handler, Patient):
        yield
        return
    under = destination.rstrip("/") + "/"

    def failed() -> list[str]:
        return [p for p in list(handler.dropped) if p == destination or p.startswith(under)]

    for path in failed():  # an earlier copy's, reported then
        handler.dropped.pop(path, None)
    yield
    lost = failed()
    if lost:
        errors = [handler.dropped.pop(path) for path in lost]
        raise errors[0]


def _say(line: str) -> None:
    print(f"[hpray] {line}", file=sys.stderr, flush=True)
