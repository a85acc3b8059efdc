"""A Hydra sweeper's ``params:`` (Hydra's override grammar) as an hpray search space.

Apps tuned with Hydra's Optuna sweeper describe their space as ``params:`` entries in Hydra's
own grammar: ``choice(...)``, ``range(...)``, ``interval(...)``, ``tag(log, interval(...))``.
Each becomes the hpray leaf with the meaning Hydra's Optuna sweeper gives it, so an
``hparams_search`` file written for that sweeper means the same study here:

- ``choice(a, b)``: a choice of the values;
- ``range(start, stop, step)``: whole numbers from ``start`` to ``stop``, ``stop`` included (as
  Optuna's integer distribution takes it); with a float, a quantized uniform; ``shuffle(...)``
  of a range: a choice of its values;
- ``interval(low, high)``: uniform between them (Hydra reads its bounds as floats); whole
  numbers with ``int(interval(...))``; with the ``log`` tag, on a log scale;
- a plain value: fixed.

Keys stay dotted config paths (``model.optimizer.lr``), as in the app's config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException

from hpray.errors import ConfigError

WHERE = "hydra.sweeper.params"


def space_from_params(params: Mapping[str, Any], where: str = WHERE) -> dict[str, Any]:
    """The hpray space (nested by the keys' dots) of a sweeper's ``params``.

    Example:
        >>> space_from_params({"model.lr": "tag(log, interval(1e-4, 1e-1))",
        ...                    "model.units": "choice(32, 64)", "trainer.epochs": 5})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'model': {'lr': {'type': 'loguniform', 'low': 0.0001, 'high': 0.1},
                   'units': {'type': 'choice', 'values': [32, 64]}},
         'trainer': {'epochs': 5}}
    """
    parser = OverridesParser.create()
    space: dict[str, Any] = {}
    for key, text in params.items():
        try:
            override = parser.parse_override(f"{key}={text}")
        except HydraException as err:
            raise ConfigError(f"{where}.{key}", f"{text!r} is not Hydra's grammar: {err}") from err
        node = space
        *parents, last = str(key).split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = leaf(override, f"{where}.{key}")
    return space


def leaf(override: Override, key: str) -> Any:
    """The hpray leaf (or fixed value) of one parsed override."""
    if not override.is_sweep_override():
        return override.value()
    value = override.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        values = list(override.sweep_iterator(transformer=Transformer.identity))
        return {"type": "choice", "values": values}
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if any(isinstance(v, float) for v in (start, stop, step)):
            return {"type": "uniform", "low": start, "high": stop, "q": step}
        whole = {"type": "int", "low": int(start), "high": int(stop)}  # type: ignore[arg-type]
        return whole if step == 1 else {**whole, "q": int(step)}
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if isinstance(low, int) and isinstance(high, int):
            return {"type": "int", "low": low, "high": high, **({"log": True} if log else {})}
        return {"type": "loguniform" if log else "uniform", "low": low, "high": high}
    raise ConfigError(
        key,
        f"{override.input_line!r}: hpray takes choice(...), range(...) and interval(...) "
        "(with tag(log, ...)), as Hydra's Optuna sweeper does; write the search as one of them.",
    )
