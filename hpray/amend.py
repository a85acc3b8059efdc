"""Growing a study on resume: more trials for `study.num_samples`, history and searcher kept.

Ray Tune restores a search algorithm with the trial count it started with. These subclasses
take the study's current count after their state is restored, before the restored study runs:
random search chains one more draw of the same seeded generator (new, distinct trials), and a
searcher (Optuna) is simply asked for more, with everything it has learned.
"""

from __future__ import annotations

import itertools

from ray.tune.search import BasicVariantGenerator, SearchGenerator
from ray.tune.search.basic_variant import _TrialIterator

_target: int | None = None


def set_target(num_samples: int | None) -> None:
    """The trial count a restored search should reach (the driver sets it before fit)."""
    global _target
    _target = num_samples


class AmendableVariants(BasicVariantGenerator):
    """Ray Tune's BasicVariantGenerator (random search) whose count can grow on restore."""

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        have = sum(iterator.num_samples for iterator in self._iterators)
        if _target is None or _target <= have or not self._iterators:
            return
        extra = _TrialIterator(
            uuid_prefix=self._uuid_prefix,
            num_samples=_target - have,
            unresolved_spec=self._iterators[0].unresolved_spec,
            constant_grid_search=self._constant_grid_search,
            start=self._total_samples,
            # The generator's own RNG, as Ray's add_configurations passes it: the seeded
            # stream continues, so the new trials are new draws.
            random_state=self._random_state,  # type: ignore[arg-type]
        )
        self._iterators.append(extra)
        self._trial_generator = itertools.chain(self._trial_generator, extra)  # type: ignore[assignment]
        self._total_samples += _target - have
        self._finished = False


class AmendableSearchGenerator(SearchGenerator):
    """Ray Tune's SearchGenerator (wraps a Searcher) whose count can grow on restore."""

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        if _target is not None and _target > self._total_samples:
            self._total_samples = _target
            self._finished = False
