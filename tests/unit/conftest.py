from collections.abc import Iterator

import pytest
import ray
import yaml

from hpray.config import Study, prepare
from hpray.resume import CONFIG_FILE


@pytest.fixture(autouse=True)
def _no_ray() -> Iterator[None]:
    """Unit tests stay fast: none of them may start Ray."""
    yield
    assert not ray.is_initialized(), "a unit test started Ray; move it to tests/integration"


def stored(study_cfg, *overrides: str) -> Study:  # type: ignore[no-untyped-def]
    """A study directory holding only its config record, as `hpray tune` writes it first."""
    study = prepare(study_cfg(*overrides))
    study.directory.mkdir(parents=True)
    (study.directory / CONFIG_FILE).write_text(yaml.safe_dump(study.config))
    return study
