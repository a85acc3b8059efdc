"""Fixtures of the integration tests: a real local Ray per test module, started and ended by
this process (never by a command that stops every Ray process on the machine), and a local S3.

Each integration module marks itself (``pytestmark``); tests/unit/test_markers.py checks that
``pytest -m integration`` collects every one of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.s3 import s3_server
from tests.helpers.studies import start_ray


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """Two CPUs, no GPU: the CI machine."""
    yield from start_ray(num_cpus=2, num_gpus=0)


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """The environment that points AWS clients (pyarrow's too) at a fresh local S3 server."""
    with s3_server() as env:
        yield env
