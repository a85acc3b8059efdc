"""SIGTERM and SIGINT at any moment of a run: exit 75 with the study saved, or 0 if complete.

- From the process's start to Ray's (composing, checking): nothing is written yet, so the run
  stops where it is (``interrupting``: SIGTERM raises KeyboardInterrupt, as SIGINT does).
- Ray's start: ``ray.init`` puts in a SIGTERM handler of its own that exits with code 15; the
  driver takes that exit as an interruption (``run.run_reporting``), and one Python dropped
  is noticed after the start (``watched``).
- The trials: SIGTERM becomes SIGINT, on which Ray Tune saves the experiment and returns
  (``run._sigterm_as_sigint``).
- Ray's shutdown and the outputs: a signal waits (``Deferred``) until results.csv,
  summary.json and the report are written; the exit code then says whether the study was
  complete. Once it is decided, a later signal changes nothing.

Imports nothing but the standard library: the command line installs it before its imports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_decided: list[int] = []  # the run's exit code, once its outputs are written


def interrupting() -> None:
    """From here on SIGTERM stops the run as SIGINT does (a KeyboardInterrupt)."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    if not _decided:  # after the outputs are written the process only exits
        raise KeyboardInterrupt


@contextlib.contextmanager
def watched() -> Iterator[Callable[[], bool]]:
    """Whether SIGINT or SIGTERM arrived in the block, even if its handler's exception was lost.

    Python drops an exception raised in an at-fork hook ("Exception ignored in _releaseLock"),
    and Ray's start forks its processes: a signal there would go unnoticed. The interpreter
    writes every signal's number to the wakeup fd, whatever its handler does with it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write)
    try:
        yield lambda: any(n in SIGNALS for n in _drain(read))
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)


def _drain(fd: int) -> bytes:
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 512):
            data += chunk
    return data


def rearm() -> None:
    """Put the handlers in place again at the C level: Ray's shutdown resets SIGTERM's to the
    default (the process would die of it) while Python still lists its own handler."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.getsignal(signum))


def rearm_when_lost(worker: threading.Thread, limit_s: float = 5.0) -> None:
    """While ``worker`` shuts Ray down, put SIGTERM's handler back as soon as Ray drops it
    (Linux shows it in /proc/self/status), so no signal finds the default there."""
    deadline = time.monotonic() + limit_s
    while worker.is_alive() and time.monotonic() < deadline and _caught(signal.SIGTERM):
        time.sleep(0.002)
    rearm()


def _caught(signum: int) -> bool:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False  # cannot tell: put the handlers back at once


def decide(code: int) -> None:
    """The run's exit code is settled: signals from now on are ignored by ``interrupting``."""
    _decided[:] = [code]


def handlers() -> dict[int, object]:
    """The handlers now in place, to put back after a run (Ray's start replaces SIGTERM's)."""
    return {signum: signal.getsignal(signum) for signum in SIGNALS}


class Deferred:
    """A signal interrupts (KeyboardInterrupt) until ``defer()``, then waits: ``received``
    holds it. On leaving, ``restore`` (else the handlers found on entering) are put back.

    Entered before Ray Tune's fit, which puts in handlers of its own; ``defer()``, called as
    fit returns and before those are gone, leaves no moment where a signal finds Ray's.
    """

    def __init__(self, restore: dict[int, object] | None = None) -> None:
        self.received: list[int] = []
        self.deferring = False
        self._restore = restore

    def __enter__(self) -> Deferred:
        if threading.current_thread() is threading.main_thread():
            found = handlers()
            for signum in SIGNALS:
                signal.signal(signum, self._handle)
            self._restore = self._restore or found
        return self

    def __exit__(self, *exc: object) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in (self._restore or {}).items():
                signal.signal(signum, handler)  # type: ignore[arg-type]

    def defer(self) -> None:
        self.deferring = True
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:  # Ray Tune leaves its SIGINT handler in place after fit
                signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.deferring:
            raise KeyboardInterrupt
        self.received.append(signum)
