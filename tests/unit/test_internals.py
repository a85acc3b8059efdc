"""The private names hpray fences in hpray/internals.py still exist in the installed libraries."""

from types import SimpleNamespace

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


def test_the_snapshot_period_adapts_to_lasting_cost_not_to_one_slow_snapshot() -> None:
    from types import SimpleNamespace

    from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as Manager

    from hpray.internals import snapshot_period_from

    manager = SimpleNamespace(_auto_checkpoint_enabled=True, _checkpoint_period=10.0)
    with snapshot_period_from(2.0):
        update = Manager._update_auto_checkpoint_time
        for taken in (0.01, 1.0, 0.01):  # a busy moment's snapshot among quick ones
            update(manager, taken)
            assert manager._checkpoint_period == 2.0
        for taken in (1.0, 1.0):  # a snapshot that stays slow: thousands of trials
            update(manager, taken)
        assert manager._checkpoint_period == 19.0
    fixed = SimpleNamespace(_auto_checkpoint_enabled=False, _checkpoint_period=2.0)
    Manager._update_auto_checkpoint_time(fixed, 5.0)  # TUNE_GLOBAL_CHECKPOINT_S=<s>: kept
    assert fixed._checkpoint_period == 2.0


def test_a_retried_trial_keeps_the_result_file_the_driver_wrote(tmp_path) -> None:
    import pyarrow.fs
    from ray.tune.logger import JsonLoggerCallback

    local, stored = tmp_path / "staging", tmp_path / "storage"
    local.mkdir()
    stored.mkdir()
    trial = SimpleNamespace(
        local_path=str(local),
        checkpoint=object(),  # Ray copies the stored file only for a trial with a checkpoint
        storage=SimpleNamespace(
            trial_fs_path=str(stored), storage_filesystem=pyarrow.fs.LocalFileSystem()
        ),
    )
    rows = '{"epoch": 1}\n{"epoch": 2}\n'
    (local / "result.json").write_text(rows)
    (stored / "result.json").write_text("")  # synced before the first report landed
    logger = JsonLoggerCallback()
    with internals.result_files_kept():
        logger._restore_from_remote("result.json", trial)
    assert (local / "result.json").read_text() == rows
    logger._restore_from_remote("result.json", trial)  # Ray's own: the lagging copy wins
    assert (local / "result.json").read_text() == ""
    (local / "result.json").unlink()  # a new run (a resumed study): the stored file is copied
    (stored / "result.json").write_text(rows)
    with internals.result_files_kept():
        logger._restore_from_remote("result.json", trial)
    assert (local / "result.json").read_text() == rows
