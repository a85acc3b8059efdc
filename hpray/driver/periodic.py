"""A thread that does one thing every few seconds while a block of the driver runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def every(first_s: float, step: Callable[[], float], name: str) -> Iterator[None]:
    """Call ``step`` after ``first_s`` seconds, then after the seconds each call returns,
    until the block ends; a call under way then is finished first."""
    stop = threading.Event()

    def loop() -> None:
        wait = first_s
        while not stop.wait(wait):
            wait = step()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
