"""What a failed trial raised, read back from the ``error.txt`` Ray writes in its directory."""

from __future__ import annotations

from hpray.store.layout import ERROR_FILE
from hpray.store.location import StudyDir


def failure(trial_dir: StudyDir) -> str:
    """The exception a failed trial raised, its type and message on one line ("" if none)."""
    file = trial_dir / ERROR_FILE
    return exception_line(file.read_text()) if file.is_file() else ""


def exception_line(traceback: str) -> str:
    r"""``ValueError: the message`` from a Python traceback's text: the lines after its last
    frame (a frame's own lines are indented), a message of several lines joined by spaces.

    Example:
        >>> exception_line('  File "a.py", line 1, in f\n    x()\nValueError: no\n  more')
        'ValueError: no more'
    """
    lines = [line for line in traceback.splitlines() if line.strip()]
    frames = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
    tail = lines[frames[-1] + 1 :] if frames else lines[-1:]
    while tail and tail[0][:1].isspace():  # the frame's source line and its ^^^ marks
        tail = tail[1:]
    return " ".join(line.strip() for line in tail)[:300]
