"""report.html redrawn while a study runs, so a long study can be followed in a browser.

A thread beside the fit redraws the page from the study's directory every ``report.every``
seconds (the same reading ``hpray report`` does: Ray's newest snapshot and each trial's
result.json), and the page asks the browser to reload it as often. The fit never waits for it,
and a study whose page takes long to draw (thousands of trials) is redrawn at most a tenth of
the time.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from hpray.driver.pause import pause_on
from hpray.driver.periodic import every
from hpray.results.report import html_report
from hpray.store.location import StudyDir


@contextlib.contextmanager
def live_report(directory: StudyDir, every_s: float) -> Iterator[None]:
    """Redraw ``directory``'s report.html every ``every_s`` seconds inside the block (0: never);
    a redraw under way when the block ends is finished first, so it never follows the final
    report."""
    if every_s <= 0:
        yield
        return
    failed = False

    def redraw() -> float:
        nonlocal failed
        started = time.monotonic()
        try:
            html_report(directory, live_s=every_s)
        except Exception as err:  # a report that cannot be drawn never stops a study
            if pause_on(err, directory):  # but a full disk pauses it
                failed = True
            if not failed:
                print(f"[hpray] live report.html not drawn: {err!r}", file=sys.stderr)
            failed = True
        return max(every_s, 9 * (time.monotonic() - started))

    with every(every_s, redraw, "hpray-live-report"):
        yield
