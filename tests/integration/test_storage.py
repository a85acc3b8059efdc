"""Storage behind a URI that cannot be written is refused before anything starts."""

from __future__ import annotations

import pytest

from tests.helpers.drivers import Driver

pytestmark = pytest.mark.integration


def test_storage_that_cannot_be_written_is_refused(s3: dict[str, str]) -> None:
    driver = Driver("s3://no-such-bucket/studies", "study.num_samples=1", env=s3)
    assert driver.finish() == 2, driver.stderr
    assert "study.storage: cannot write to s3://no-such-bucket/studies" in driver.stderr
