"""hpray's public trial API, without Ray: its face, its refusals, what a function may return."""

import pytest

import hpray
from hpray.config.prepare import prepare, trial_function
from hpray.errors import ConfigError
from hpray.trial.runner import final_metrics


def test_the_public_face_is_the_trial_api() -> None:
    assert hpray.__all__ == ["__version__", "get_checkpoint", "report"]
    assert callable(hpray.report) and callable(hpray.get_checkpoint)
    with pytest.raises(AttributeError):
        hpray.nothing  # noqa: B018


def test_outside_a_trial_the_api_lets_the_code_run_on_its_own() -> None:
    # An app that reports when tuned runs unchanged on its own: nothing to resume, nowhere to
    # report.
    assert hpray.report({"val_rmse": 1.0}, checkpoint={"epoch": 1}) is None
    assert hpray.get_checkpoint() is None


def test_a_trial_function_takes_one_argument_the_built_in_ones_too() -> None:
    for built_in in ("builtin.train", "objectives.evaluate", "faults.train_failing_once"):
        assert callable(trial_function(f"hpray.trial.{built_in}"))
    assert trial_function("builtins.print") is print  # takes one positional argument
    with pytest.raises(ConfigError, match=r"takes one argument, e\.g\. `def train\(cfg\)"):
        trial_function("os.getcwd")


def test_what_a_trial_function_returns_becomes_its_final_metrics() -> None:
    assert final_metrics(None, "val_rmse") is None
    assert final_metrics(3, "val_rmse") == {"val_rmse": 3.0}
    assert final_metrics({"val_rmse": 2.5, "val_mae": 2.0}, "val_rmse") == {
        "val_rmse": 2.5,
        "val_mae": 2.0,
    }
    with pytest.raises(TypeError, match=r"return nothing, a number .*val_rmse"):
        final_metrics("fine", "val_rmse")


def test_a_users_function_given_the_built_in_space_is_warned_of_it(study_cfg, capsys) -> None:
    mine = ("trainable=hpray.trial.faults.diverging", "study.metric=val_rmse", "+faults.lr=1.0")
    study = prepare(study_cfg(*mine))
    err = capsys.readouterr().err
    assert "warning: the space samples" in err and "optim.lr" in err
    assert "model" in study.config  # composed by study.yaml's defaults, but never built
    prepare(study_cfg(*mine, "~space", "+space.faults.lr={type:uniform,low:0.1,high:0.9}"))
    assert "warning" not in capsys.readouterr().err


def test_a_function_that_reports_nothing_and_returns_nothing_fails_naming_the_metric() -> None:
    """Found at the first trial's end, not as a study with no result: every trial would."""
    import torch

    from hpray.trial.api import Session, TrialState
    from hpray.trial.runner import in_session

    reported: list[dict[str, object]] = []

    def opened() -> Session:
        sink = lambda metrics, **_: reported.append(dict(metrics))  # noqa: E731
        return Session("val_rmse", 3, 1, torch.device("cpu"), sink=sink, trial=TrialState())

    with pytest.raises(ValueError, match=r"^study\.metric 'val_rmse' was never reported"):
        in_session(opened(), lambda: None)
    in_session(opened(), lambda: 2.5)  # a returned value is the metric, at the budget
    assert reported == [{"epoch": 3, "val_rmse": 2.5}]
