"""The search space: the grammar of leaves and branches, and a trial's values applied to a config.

Holds ``leaves`` (one sampled hyperparameter), ``tree`` (a whole space parsed and validated) and
``values`` (a trial's config from the study's, the values a space can give). Imports nothing of
hpray but ``errors``, and no library but the standard one: the driver, the searchers and the
trials all read spaces.
"""

from hpray.space.leaves import Param
from hpray.space.tree import CONDITIONAL, WITH, Branch, Option, Space, check_paths, parse_space
from hpray.space.values import apply, examples, grid_points, grid_size, trial_base

__all__ = [
    "CONDITIONAL",
    "WITH",
    "Branch",
    "Option",
    "Param",
    "Space",
    "apply",
    "check_paths",
    "examples",
    "grid_points",
    "grid_size",
    "parse_space",
    "trial_base",
]
