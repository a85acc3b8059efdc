from collections.abc import Iterator

import pytest
import ray


@pytest.fixture(autouse=True)
def _no_ray() -> Iterator[None]:
    """Unit tests stay fast: none of them may start Ray."""
    yield
    assert not ray.is_initialized(), "a unit test started Ray; move it to tests/integration"
