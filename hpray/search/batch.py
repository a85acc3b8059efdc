"""The acquisition ``searcher=botorch`` proposes with: BoTorch's, through Optuna's integration.

Running trials enter it as pending points (``consider_running_trials``), so the trials proposed
while others run are chosen jointly with them. For one objective the integration then picks
q-expected improvement, whose gradients vanish far from the incumbent (BoTorch warns on every
proposal and recommends its log form); q-log expected improvement is used instead. For two or
three objectives it picks q-expected hypervolume improvement, which took 28 s a proposal with
three pending points on 2 cores; its noisy form (qNEHVI) takes under 2 s, and beyond three
objectives ParEGO's random scalarisations in log form.
"""

from __future__ import annotations

import warnings
from typing import Any


def candidates(train_x: Any, train_obj: Any, train_con: Any, bounds: Any, pending_x: Any) -> Any:
    """BoTorchSampler's ``candidates_func``: the next point, given the pending ones."""
    from optuna.exceptions import ExperimentalWarning
    from optuna_integration import botorch

    objectives = int(train_obj.size(-1))
    if objectives == 1:
        chosen = botorch.qlogei_candidates_func
    elif objectives <= 3:
        chosen = botorch.qnehvi_candidates_func
    else:
        chosen = botorch.qlogei_parego_candidates_func
    with warnings.catch_warnings():  # "experimental", on every proposal: chosen knowingly
        warnings.simplefilter("ignore", ExperimentalWarning)
        return chosen(train_x, train_obj, train_con, bounds, pending_x)
