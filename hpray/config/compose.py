"""The study config: composed by Hydra from conf/ and the overrides, resolved to plain values."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from hpray.config.branch_groups import expand
from hpray.errors import EXIT_CONFIG, EXIT_OK, ConfigError


def compose(args: list[str], task: Callable[[DictConfig], int], prog: str) -> int:
    """Compose the study config from ``args`` with Hydra's command line and hand it to ``task``.

    Hydra's own flags (``--help``, ``--cfg job``, ``--config-dir``) behave as usual; the exit
    code is ``task``'s, or 2 when Hydra refuses the overrides.
    """
    if "-m" in args or "--multirun" in args:
        print(
            "hpray: Hydra multirun is not how hpray tunes; put the values to search under "
            "space.* (e.g. space.optim.lr.high=0.05) and run `hpray tune`.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    outcome = {"entered": False, "code": EXIT_OK}

    @hydra.main(config_path="pkg://hpray.conf", config_name="study", version_base="1.3")
    def entered(cfg: DictConfig) -> None:
        outcome["entered"] = True
        try:
            cfg = expand(cfg, HydraConfig.get().job.config_name or "study")
        except ConfigError as err:
            print(f"hpray: invalid config: {err}", file=sys.stderr)
            outcome["code"] = EXIT_CONFIG
            return
        outcome["code"] = task(cfg)

    sys.argv = [prog, *args]
    try:
        entered()
    except SystemExit as exit_:
        # Hydra reports a composition error (unknown option or key, bad override) and exits 1
        # before the task runs: that is invalid input.
        if exit_.code == 1 and not outcome["entered"]:
            return EXIT_CONFIG
        raise
    return int(outcome["code"])


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as plain, resolved values (Ray gets plain dicts, never DictConfig)."""
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(
            str(err.full_key), f"is required; set it, e.g. {err.full_key}=..."
        ) from err
    except OmegaConfBaseException as err:
        raise ConfigError(str(getattr(err, "full_key", "") or "config"), str(err)) from err
    assert isinstance(plain, dict)
    return plain  # type: ignore[return-value]
