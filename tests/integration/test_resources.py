"""GPU scheduling, tested on CPU: a local Ray declares logical GPUs and Ray packs trials by them.

The trials still train on the CPU (no CUDA here); what is checked is how many Ray runs at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.studies import results, run_study, start_ray

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def ray_with_one_logical_gpu() -> Iterator[None]:
    # Plenty of logical CPUs, so the GPU share is what limits concurrency.
    yield from start_ray(num_cpus=8, num_gpus=1)


def peak(err: str) -> int:
    return int(re.search(r"ran up to (\d+) trials at a time", err).group(1))  # type: ignore[union-attr]


# Bayesian search under ASHA fills every slot too, by default (searcher.max_concurrent: auto).
@pytest.mark.parametrize(
    ("resources", "search", "expected"),
    [("gpu_shared", ("bayes", "asha"), 4), ("auto", ("random", "fifo"), 1)],
)
def test_gpu_share_sets_concurrency(
    tmp_path: Path, capfd, resources: str, search: tuple[str, str], expected: int
) -> None:
    code, directory = run_study(
        tmp_path,
        f"resources={resources}",
        f"searcher={search[0]}",
        f"scheduler={search[1]}",
        "study.num_samples=8",
        "study.epochs=3",
        "data=synthetic",
        "data.source.n_samples=4000",
    )
    err = capfd.readouterr().err
    assert code == 0 and len(results(directory)) == 8
    gpu = {"gpu_shared": 0.25, "auto": 1}[resources]
    said = f"{expected} at a time (the cluster fits {expected}); 1 CPU + {gpu:g} GPU per trial"
    assert said in err
    assert peak(err) == expected
