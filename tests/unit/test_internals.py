"""The private names hpray fences in hpray/internals.py still exist in the installed libraries."""

from hpray import internals


def test_every_fenced_private_name_is_still_there() -> None:
    gone = internals.missing()
    assert gone == [], (
        f"hpray.internals relies on private names this installation lacks: {gone}. A library "
        "moved them; update hpray/internals.py (and the version it says it was checked against)."
    )


def test_a_moved_name_is_named() -> None:
    fenced = internals.FENCED
    try:
        internals.FENCED = (*fenced, ("ray.tune.search.basic_variant", "_NoSuchIterator"))
        assert internals.missing() == ["ray.tune.search.basic_variant:_NoSuchIterator"]
    finally:
        internals.FENCED = fenced


def test_nothing_outside_the_fence_imports_a_private_module_of_a_library() -> None:
    import re
    from pathlib import Path

    package = Path(internals.__file__).parent
    private = re.compile(r"^\s*(from|import) (ray|torch|sklearn|optuna)\S*\._", re.M)
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "internals.py" and private.search(path.read_text())
    ]
    assert offenders == []
