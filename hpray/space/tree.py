"""The search-space YAML: its tree of fixed values, leaves and branches, parsed and validated.

A leaf (``leaves.py``) is a mapping whose ``type`` is one of ``LEAF_FIELDS``; any other mapping
nests, and any other value is fixed. Paths are dotted keys into the composed config (``optim.lr``).

A branch (``{type: branch, options: {NAME: NODE, ...}}``) makes a space conditional: a trial
picks one option, whose NODE becomes the config node at the branch's path, and samples only the
leaves inside it. ``_with_`` in an option holds entries at other paths (``optim``, ``data``...)
that apply only when that option is picked. A trial's values name the picked option under the
branch's path (``{"model": "random_forest", "model.max_depth": 7}``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hpray.errors import ConfigError
from hpray.space.leaves import BRANCH, Param, parse_leaf, plain

WITH = "_with_"  # in a branch option: entries at other paths, in force when the option is picked
CONDITIONAL = "_space_"  # in a trial's base config: the space, when it has branches


@dataclass
class Option:
    """One alternative of a branch: its node's fixed content, and what it samples."""

    node: dict[str, Any]  # the config node at the branch's path, leaves and branches left out
    space: Space  # its sampled leaves and nested branches (absolute paths), ``_with_`` included


@dataclass
class Branch:
    """A choice among options, at config path ``path`` (written at ``key``)."""

    path: str
    key: str
    options: dict[str, Option]


@dataclass
class Space:
    """A parsed space: fixed values and sampled leaves in force, and branches to choose from."""

    fixed: dict[str, Any] = field(default_factory=dict)
    params: list[Param] = field(default_factory=list)
    branches: list[Branch] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # where each fixed value is written

    @property
    def conditional(self) -> bool:
        return bool(self.branches)

    def all_params(self) -> list[Param]:
        """Every leaf a trial can sample, and each branch as a choice of its options' names.

        A path that several options sample appears once, its range the union of theirs: what
        a results column or a report axis needs.
        """
        found: dict[str, Param] = {}
        for param in self.every_param():
            seen = found.get(param.path)
            if seen is None:
                found[param.path] = param
            elif seen.type in ("choice", "grid"):
                more = [v for v in param.values if v not in seen.values]
                found[param.path] = replace(seen, values=(*seen.values, *more))
            else:
                found[param.path] = replace(
                    seen, low=min(seen.low, param.low), high=max(seen.high, param.high)
                )
        return list(found.values())

    def every_param(self) -> Iterator[Param]:
        """Every leaf of every option, once per place it is written; branches as choices."""
        return _every_param(self)

    def branch_paths(self) -> set[str]:
        return {b.path for b in _every_branch(self)}


def _every_branch(space: Space) -> Iterator[Branch]:
    for branch in space.branches:
        yield branch
        for option in branch.options.values():
            yield from _every_branch(option.space)


def _every_param(space: Space) -> Iterator[Param]:
    yield from space.params
    for branch in space.branches:
        yield Param(branch.path, "choice", values=tuple(branch.options), where=branch.key)
        for option in branch.options.values():
            yield from _every_param(option.space)


def parse_space(space: Mapping[str, Any]) -> Space:
    """The whole space, branches included, every leaf and branch validated.

    Example:
        >>> parsed = parse_space({"optim": {"lr": {"type": "loguniform", "low": 1e-4,
        ...     "high": 0.1}, "momentum": 0.9}})
        >>> parsed.fixed, [p.path for p in parsed.params]
        ({'optim.momentum': 0.9}, ['optim.lr'])
    """
    parsed = Space()
    _walk(space, "", "space.", parsed, None)
    _check_conditions(parsed)
    return parsed


def _is_leaf(node: Any) -> bool:
    return isinstance(node, Mapping) and isinstance(node.get("type"), str)


def _walk(
    node: Mapping[str, Any],
    prefix: str,
    where: str,
    into: Space,
    content: dict[str, Any] | None,
) -> None:
    """Parse ``node``, written at key ``where``, for config paths under ``prefix``.

    Fixed values go to ``content`` (a branch option's node) when given, else to ``into.fixed``.
    """
    for name, value in node.items():
        path, key = f"{prefix}{name}", f"{where}{name}"
        if _is_leaf(value) and value["type"] == BRANCH:
            into.branches.append(_branch(path, key, value))
        elif _is_leaf(value):
            into.params.append(
                replace(parse_leaf(path, value), where=key if where != "space." else "")
            )
        elif isinstance(value, Mapping) and value:
            sub = None if content is None else content.setdefault(str(name), {})
            _walk(value, f"{path}.", f"{key}.", into, sub)
        elif content is not None:
            content[str(name)] = plain(value)
        else:
            into.fixed[path] = value
            into.keys[path] = key


def _branch(path: str, key: str, node: Mapping[str, Any]) -> Branch:
    for field_name in node:
        if field_name not in ("type", "options"):
            raise ConfigError(f"{key}.{field_name}", "not a field of a branch (it takes: options).")
    options = node.get("options")
    if not isinstance(options, Mapping) or not options:
        raise ConfigError(
            f"{key}.options",
            "an empty branch: give it options, each the config node it stands for, e.g. "
            "options: {sgd: {_target_: torch.optim.SGD, lr: ...}, adamw: {...}}.",
        )
    branch = Branch(path, key, {})
    for name, option in options.items():
        where = f"{key}.options.{name}"
        if not isinstance(option, Mapping) or not option:
            raise ConfigError(
                where,
                "an empty option: give it the values of the node it stands for (its _target_ "
                "and arguments), or name an option of the config group at this path.",
            )
        branch.options[str(name)] = _option(path, where, option)
    return branch


def _option(path: str, where: str, node: Mapping[str, Any]) -> Option:
    option = Option({}, Space())
    own = {k: v for k, v in node.items() if k != WITH}
    _walk(own, f"{path}.", f"{where}.", option.space, option.node)
    also = node.get(WITH)
    if also is None:
        return option
    if not isinstance(also, Mapping):
        raise ConfigError(f"{where}.{WITH}", "must map config paths to values or leaves.")
    extra = Space()
    _walk(also, "", f"{where}.{WITH}.", extra, None)
    for entry, key in _entries(extra):
        if _overlaps(entry, path):
            raise ConfigError(
                key,
                f"sets {entry}, inside this branch's own node ({path}); put it in the option "
                f"itself, not under {WITH}.",
            )
    option.space.fixed.update(extra.fixed)
    option.space.keys.update(extra.keys)
    option.space.params.extend(extra.params)
    option.space.branches.extend(extra.branches)
    return option


def _entries(space: Space) -> list[tuple[str, str]]:
    """(path, key) of everything a space sets directly: fixed values, leaves, branches."""
    return (
        [(path, space.keys.get(path, f"space.{path}")) for path in space.fixed]
        + [(p.path, p.key) for p in space.params]
        + [(b.path, b.key) for b in space.branches]
    )


def _overlaps(a: str, b: str) -> bool:
    """Whether one path is the other or inside it (``model`` and ``model.units``)."""
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")


@dataclass(frozen=True)
class _Entry:
    path: str
    key: str
    picks: tuple[tuple[int, str], ...]  # (branch id, option) that must be picked for it to apply
    branch: int | None = None  # id of the branch it is, if it is one
    kind: tuple[Any, ...] = ()  # its distribution's identity, for leaves and branches


def _kind(param: Param) -> tuple[Any, ...]:
    """What must agree for two leaves to be one parameter: its type and scale.

    (Optuna also needs the same choices; its searchers check that, grid search does not.)
    """
    if param.type in ("choice", "grid"):
        return ("choice",)
    return (param.type if param.type in ("int", "normal") else "float", param.log)


def _collect(space: Space, picks: tuple[tuple[int, str], ...], out: list[_Entry]) -> None:
    for path in space.fixed:
        out.append(_Entry(path, space.keys.get(path, f"space.{path}"), picks))
    for param in space.params:
        out.append(_Entry(param.path, param.key, picks, kind=_kind(param)))
    for branch in space.branches:
        out.append(_Entry(branch.path, branch.key, picks, branch=id(branch), kind=("branch",)))
        for name, option in branch.options.items():
            _collect(option.space, (*picks, (id(branch), name)), out)


def _together(a: _Entry, b: _Entry) -> bool:
    """Whether one trial can hold both: no branch picked one way for a, another for b."""
    picked = dict(a.picks)
    return all(picked.get(branch, name) == name for branch, name in b.picks)


def _check_conditions(space: Space) -> None:
    """Refuse a space whose branches cannot merge into one set of parameters.

    The same path must be the same kind of parameter wherever it appears (a results column and
    an Optuna parameter: same type and scale, same choices); and nothing a trial can hold at
    once may set the same path twice, or a path inside a node a branch replaces.
    """
    entries: list[_Entry] = []
    _collect(space, (), entries)
    by_path: dict[str, _Entry] = {}
    for entry in entries:
        first = by_path.setdefault(entry.path, entry)
        if entry.kind and first.kind and entry.kind != first.kind:
            raise ConfigError(
                entry.key,
                f"samples {entry.path} unlike {first.key} does ({_describe(entry.kind)} vs "
                f"{_describe(first.kind)}); one config key must be one parameter wherever it "
                "appears: give both the same type and scale.",
            )
    for i, a in enumerate(entries):
        for b in entries[i + 1 :]:
            inside = (a.branch is not None and any(a.branch == br for br, _ in b.picks)) or (
                b.branch is not None and any(b.branch == br for br, _ in a.picks)
            )
            if not inside and _overlaps(a.path, b.path) and _together(a, b):
                raise ConfigError(
                    b.key,
                    f"sets {b.path}, and {a.key} sets {a.path} in the same trials; a trial "
                    "would get both. Set it in one place.",
                )


def _describe(kind: tuple[Any, ...]) -> str:
    if len(kind) == 1:
        return kind[0]  # type: ignore[no-any-return]
    return f"{kind[0]}{' (log scale)' if kind[1] else ''}"


def check_paths(space: Space, base: Mapping[str, Any], inside: tuple[str, ...] = ()) -> None:
    """Every space key must name an existing key of the composed config.

    Keys inside a branch option's node are that node's own (the option defines them).
    """
    for path, key in _entries(space):
        if any(_overlaps(path, node) and path != node for node in inside):
            continue
        config: Any = base
        for part in path.split("."):
            if not isinstance(config, Mapping) or part not in config:
                raise ConfigError(
                    key,
                    f"'{path}' is not a key of the composed config, so a sampled value would "
                    "change nothing. Check the spelling against `hpray tune --cfg job`.",
                )
            config = config[part]
    for branch in space.branches:
        for option in branch.options.values():
            check_paths(option.space, base, (*inside, branch.path))
