"""Branch options named after a config group's options, filled in from the group.

In ``space.model: {type: branch, options: {mlp: {...}, random_forest: {...}}}`` the option
names are options of the ``model`` group: each option's node is ``conf/model/<name>.yaml``
(composed by Hydra, so a user's ``--config-dir`` options count) with the option's own values
and leaves laid over it. An option the group does not have is refused unless it writes its
whole node (its ``_target_`` and arguments) itself. This runs where the study config is
composed, so the space the driver records in config.yaml holds every option's whole node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from hpray.errors import ConfigError
from hpray.space import WITH
from hpray.space.leaves import BRANCH


def expand(cfg: DictConfig, config_name: str = "study") -> DictConfig:
    """``cfg`` with the group-named options of its space's branches filled in."""
    space = cfg.get("space")
    if not isinstance(space, DictConfig) or not GlobalHydra.instance().is_initialized():
        return cfg
    plain: dict[str, Any] = OmegaConf.to_container(space, resolve=False)  # type: ignore[assignment]
    if not _fill(plain, "", "space.", config_name):
        return cfg
    with open_dict(cfg):
        cfg.space = OmegaConf.create(plain)
    return cfg


def _fill(node: dict[str, Any], prefix: str, where: str, config_name: str) -> bool:
    """Fill the branches under ``node`` (config paths under ``prefix``); True if any."""
    found = False
    for name, value in node.items():
        if not isinstance(value, dict):
            continue
        path, key = f"{prefix}{name}", f"{where}{name}"
        if value.get("type") == BRANCH:
            found = True
            options = value.get("options")
            if isinstance(options, dict):
                for option, content in options.items():
                    at = f"{key}.options.{option}"
                    filled = _option(path, at, str(option), content, config_name)
                    options[option] = filled
                    if isinstance(filled, dict):
                        _fill(filled, f"{path}.", f"{at}.", config_name)
                        if isinstance(filled.get(WITH), dict):
                            _fill(filled[WITH], "", f"{at}.{WITH}.", config_name)
        elif not isinstance(value.get("type"), str):
            found |= _fill(value, f"{path}.", f"{key}.", config_name)
    return found


def _option(path: str, key: str, name: str, content: Any, config_name: str) -> Any:
    group = path.replace(".", "/")
    available = GlobalHydra.instance().config_loader().get_group_options(group)
    if not available:
        return content  # not a group: the option is its whole node
    if name not in available:
        if isinstance(content, Mapping) and "_target_" in content:
            return content  # a node written out in full
        raise ConfigError(
            key,
            f"'{name}' is not an option of the config group {group} "
            f"({', '.join(available)}); name one of those, or write this option's whole node "
            "with its _target_.",
        )
    composed = compose(config_name, overrides=[f"{group}={name}", "~space"])
    node: dict[str, Any] = OmegaConf.to_container(  # type: ignore[assignment]
        OmegaConf.select(composed, path), resolve=False
    )
    return _lay_over(node, content or {})


def _lay_over(node: dict[str, Any], content: Mapping[str, Any]) -> dict[str, Any]:
    """The group option's ``node`` with the branch option's values and leaves set over it."""
    out = dict(node)
    for name, value in content.items():
        nests = isinstance(value, Mapping) and not isinstance(value.get("type"), str)
        if nests and name != WITH and isinstance(out.get(name), dict):
            out[name] = _lay_over(out[name], value)
        else:
            out[name] = value
    return out
