"""Fixtures every test may use; the helpers themselves live in tests/helpers/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.compose import compose_study


@pytest.fixture
def study_cfg(tmp_path: Path):  # type: ignore[no-untyped-def]
    """compose(*overrides) -> DictConfig, storing studies under the test's tmp_path."""
    return lambda *overrides: compose_study(tmp_path / "studies", *overrides)
