"""Growing a study on resume: more trials for `study.num_samples`, history and searcher kept.

Ray Tune restores a search algorithm with the trial count it started with, and its restore
takes no new count. These subclasses take the count the driver grows the study to (the block
``growing_to`` opens around the fit) after their state is restored: random search chains more
draws of the same seeded generator (new, distinct trials), and a searcher (Optuna) is simply
asked for more, with everything it has learned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ray.tune.search import BasicVariantGenerator, SearchGenerator

from hpray import internals
from hpray.search import rules, slots

# The count a restored search grows to; set only inside `growing_to`, which Ray's restore of
# the search algorithm runs within (restore_from_dir is called by Tuner.fit).
_target: int | None = None


@contextlib.contextmanager
def growing_to(num_samples: int) -> Iterator[None]:
    """A search restored inside the block grows to ``num_samples`` trials."""
    global _target
    _target = num_samples
    try:
        yield
    finally:
        _target = None


class Variants(BasicVariantGenerator):
    """Ray Tune's BasicVariantGenerator (random and grid search), which creates no trial once
    the study's time budget is spent (the rest are created when the study continues)."""

    def next_trial(self) -> Any:
        limit = slots.gang_limit()
        if limit is not None:
            self.max_concurrent = limit
        return None if rules.closed() else super().next_trial()


class AmendableVariants(Variants):
    """Random search whose count can grow on restore."""

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        if _target is not None:
            internals.grow_variants(self, _target)


class AmendableSearchGenerator(SearchGenerator):
    """Ray Tune's SearchGenerator (wraps a Searcher) whose count can grow on restore, and
    which asks for no trial once the study's time budget is spent."""

    def next_trial(self) -> Any:
        return None if rules.closed() else super().next_trial()

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        if _target is not None:
            internals.grow_search(self, _target)
