"""Every config option composes and builds; every bad input names its key."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining
from ray.tune.search import BasicVariantGenerator, SearchGenerator
from sklearn.base import BaseEstimator

from hpray.config.build import locate
from hpray.config.prepare import prepare
from hpray.errors import ConfigError
from tests.helpers.compose import params_of

CONF = resources.files("hpray.conf")


def options(group: str) -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in CONF.joinpath(group).iterdir()
        if p.name.endswith(".yaml")
    )


def test_the_packaged_tree_has_the_contracts_groups() -> None:
    assert options("model") == [
        "cnn",
        "gradient_boosting",
        "gradient_boosting_regressor",
        "logreg",
        "mlp",
        "random_forest",
        "random_forest_regressor",
        "ridge",
        "svm",
        "svr",
    ]
    assert options("data") == [
        "csv",
        "diabetes",
        "digits",
        "npz",
        "synthetic",
        "synthetic_regression",
    ]
    assert options("loss") == ["cross_entropy", "huber", "mae", "mse"]
    assert options("searcher") == ["bayes", "botorch", "gp", "grid", "nsga2", "random"]
    assert options("scheduler") == ["asha", "fifo", "pb2", "pbt"]
    assert options("resources") == ["auto", "cpu", "gpu", "gpu_shared"]
    assert set(options("model")) <= set(options("space"))  # each model's default space


def test_every_group_folder_ships_in_the_wheel() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    packages = set(pyproject["tool"]["setuptools"]["packages"])
    groups = {
        f"hpray.conf.{p.name}"
        for p in Path(str(CONF)).iterdir()
        if p.is_dir() and not p.name.startswith("__")
    }
    assert groups <= packages, f"add {sorted(groups - packages)} to pyproject's packages"


@pytest.fixture
def data_files(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 6)).astype(np.float32), rng.integers(0, 3, 200)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    lines = ["a,b,c,d,e,f,label"] + [
        ",".join(map(str, [*row, lab])) for row, lab in zip(x, y, strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(lines))
    return {"npz": str(tmp_path / "d.npz"), "csv": str(tmp_path / "d.csv")}


REGRESSORS = ("gradient_boosting_regressor", "random_forest_regressor", "ridge", "svr")
REGRESSION_DATA = ("diabetes", "synthetic_regression")
TORCH = ("cnn", "mlp")
# Every model on every data option of its task (the torch models on both; csv and npz hold
# either: their target is read as classes or values, as data.task says).
PAIRS = [
    (model, data, task)
    for model in options("model")
    for data in options("data")
    for task in ("classification", "regression")
    if (data in REGRESSION_DATA) == (task == "regression") or data in ("csv", "npz")
    if model in TORCH or (model in REGRESSORS) == (task == "regression")
]


@pytest.mark.parametrize(("model", "data", "task"), PAIRS)
def test_every_model_builds_on_every_data_option(
    study_cfg, data_files, model: str, data: str, task: str
) -> None:
    overrides = [
        f"model={model}",
        f"data={data}",
        f"data.task={task}",
        "data.source.n_samples=500" if data.startswith("synthetic") else "",
        *(["study.metric=val_rmse", "study.mode=min"] if task == "regression" else []),
    ]
    if data in data_files:
        overrides.append(f"data.source.path={data_files[data]}")
        if model == "cnn":
            overrides.append("data.shape=[1,2,3]")
    if data == "diabetes" and model == "cnn":
        overrides.append("data.shape=[1,2,5]")  # its 10 features as a tiny image
    study = prepare(study_cfg(*[o for o in overrides if o]))
    assert study.base["data"]["task"] == task
    built = locate("model._target_", study.base["model"]["_target_"])
    if model in ("mlp", "cnn"):
        assert built.__name__ == model.upper() and issubclass(built, torch.nn.Module)
        assert {p.path for p in params_of(study)} >= {"optim.lr"}
    else:  # scikit-learn: its default space tunes the estimator alone
        assert issubclass(built, BaseEstimator)
        assert {p.path.split(".")[0] for p in params_of(study)} == {"model"}
    assert "space" not in study.base


@pytest.mark.parametrize("searcher", options("searcher"))
@pytest.mark.parametrize("scheduler", options("scheduler"))
def test_every_searcher_and_scheduler_builds(study_cfg, searcher: str, scheduler: str) -> None:
    extra = ["space=grid"] if searcher == "grid" else []
    cfg = study_cfg(f"searcher={searcher}", f"scheduler={scheduler}", *extra)
    if scheduler in ("pbt", "pb2") and searcher not in ("random", "grid"):  # its own configs
        with pytest.raises(ConfigError) as err:
            prepare(cfg)
        assert err.value.key == "searcher"
        return
    if scheduler == "pb2" and searcher == "grid":  # a grid's values: none PB2 can move
        with pytest.raises(ConfigError) as err:
            prepare(cfg)
        assert err.value.key == "scheduler.mutate"
        return
    study = prepare(cfg)
    kind = {"grid": BasicVariantGenerator, "random": BasicVariantGenerator}.get(
        searcher, SearchGenerator
    )
    assert isinstance(study.plan.search_alg, kind)
    kinds = {
        "asha": ASHAScheduler,
        "fifo": FIFOScheduler,
        "pbt": PopulationBasedTraining,
        "pb2": PopulationBasedTraining,  # PB2 is one
    }
    assert isinstance(study.scheduler, kinds[scheduler])
    if searcher == "grid":  # 3 lr x 2 layers x 2 activations, once
        assert study.plan.num_samples == 1 and "12 combinations" in study.plan.description
    else:
        assert study.plan.num_samples == 20


@pytest.mark.parametrize("option", options("resources"))
def test_every_resources_option_validates(study_cfg, option: str) -> None:
    assert prepare(study_cfg(f"resources={option}")).config["resources"]["cpu"] == 1


def test_asha_budget_is_the_study_epochs(study_cfg) -> None:
    study = prepare(
        study_cfg("study.epochs=7", "scheduler.grace_period=1", "scheduler.reduction_factor=2")
    )
    assert study.config["scheduler"]["max_t"] == 7
    assert study.scheduler._max_t == 7 and study.scheduler._reduction_factor == 2


def test_fixed_space_values_go_into_the_base(study_cfg) -> None:
    study = prepare(study_cfg("space.model.layers=3", "space.optim.lr.high=0.05"))
    assert study.base["model"]["layers"] == 3
    assert "model.layers" not in {p.path for p in params_of(study)}
    assert next(p for p in params_of(study) if p.path == "optim.lr").high == 0.05


def test_experiment_overlay_composes(study_cfg) -> None:
    study = prepare(study_cfg("experiment=digits_cnn"))
    assert study.settings.name == "digits_cnn" and study.config["model"]["_target_"].endswith("CNN")
    assert {"model.channels", "model.blocks"} <= {p.path for p in params_of(study)}


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["space.optim.lr.low=1", "space.optim.lr.high=0.1"], "space.optim.lr"),
        (["study.epochs=0"], "study.epochs"),
        (["study.num_samples=-1"], "study.num_samples"),
        (["study.checkpoint_every=0"], "study.checkpoint_every"),
        (["searcher=grid"], "space.optim.lr"),
        (["study.metric=accuracy"], "study.metric"),
        (["study.mode=maximize"], "study.mode"),
        (["study.name=a/b"], "study.name"),
        (["data=npz"], "data.source.path"),
        (["data=npz", "data.source.path=/no/such.npz"], "data.source.path"),
        (["data=csv", "data.source.path=/no/such.csv"], "data.source.path"),
        (["+scheduler.grace=3"], "scheduler.grace"),
        (["scheduler.grace_period=0"], "scheduler"),
        (["study.epochs=1"], "scheduler.grace_period"),  # ASHA's default grace period is 2
        (["+space.optim.lr.hgh=3"], "space.optim.lr.hgh"),
        (["+space.optim.lrr=0.1"], "space.optim.lrr"),
        (["optim._target_=torch.optim.Adm", "~space.optim._target_"], "optim._target_"),
        (
            ["space.optim._target_.values=[torch.optim.SGD,torch.optim.Nope]"],
            "space.optim._target_",
        ),
        (["model=cnn", "data=synthetic", "data.shape=null"], "model"),
        (["+model.depth=3"], "model.depth"),
        (["~space.optim._target_", "optim._target_=torch.optim.Adam", "+optim.eps=-1"], "optim"),
        (
            [
                "searcher=bayes",
                "~space.model.dropout",
                "+space.model.dropout={type:normal,mean:0.1,std:0.05}",
            ],
            "space.model.dropout",
        ),
        (["resources.gpu=1.5"], "resources.gpu"),
        (["resources.cpu=0"], "resources.cpu"),
        (["searcher=grid", "space=grid", "searcher.repeats=0"], "searcher.repeats"),
        (["trainable=hpray.nope.train"], "trainable"),
        (["trainable=hpray.__version__"], "trainable"),  # not callable
        (["trainable=os.getcwd"], "trainable"),  # takes no config
        (["trainable=hpray.trial.context.trial_seed"], "trainable"),  # takes two other things
        (["study.cv_folds=1"], "study.cv_folds"),
        (["study.time_budget=2 hours"], "study.time_budget"),
        (["report.every=-1"], "report.every"),
        (["study.metric=[val_acc,val_acc]", "study.mode=[max,max]"], "study.metric"),
        (["study.metric=[val_acc,params]", "study.mode=max"], "study.mode"),
        (["study.metric=[val_acc,params]", "study.mode=[max,up]"], "study.mode"),
        (["study.metric=[val_acc,flops]", "study.mode=[max,min]"], "study.metric"),
        (["study.metric=[val_acc,params]", "study.mode=[max,min]"], "scheduler.metric"),
        (
            ["study.metric=[val_acc,params]", "study.mode=[max,min]", "scheduler.metric=f1"],
            "scheduler.metric",
        ),
        (
            [
                "study.metric=[val_acc,params]",
                "study.mode=[max,min]",
                "scheduler=fifo",
                "model=random_forest",
            ],
            "study.metric",
        ),
        (["study.time_budget=0s"], "study.time_budget"),
        (["study.trial_timeout=-5"], "study.trial_timeout"),
        (["study.storage_retry=forever"], "study.storage_retry"),
        (["study.cv_folds=500"], "study.cv_folds"),  # more folds than a class has rows
        (["model=random_forest", "+model.min_samples_split=-2"], "model"),
        (["model=svm", "+model.gama=0.1"], "model.gama"),
        # A regression study: its metrics, its models and its losses only.
        (["data=diabetes"], "study.metric"),  # val_acc is no regression metric
        (["study.metric=val_rmse", "study.mode=min"], "study.metric"),  # nor val_rmse digits'
        (["data=diabetes", "study.metric=val_rmse", "model=random_forest"], "model._target_"),
        (["model=ridge"], "model._target_"),  # a regressor on classes
        (["loss=mse"], "loss"),
        (["data=diabetes", "study.metric=val_rmse", "loss=cross_entropy"], "loss"),
        (["data.task=ranking"], "data.task"),
    ],
)
def test_bad_input_names_the_key(study_cfg, overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        prepare(study_cfg(*overrides))
    assert err.value.key == key, err.value


def test_the_dry_build_leaves_torch_s_compiler_unloaded_and_as_it_was() -> None:
    """A fresh interpreter: the unit tests' own process has long imported torch._dynamo."""
    check = (
        "import sys, torch\n"
        "from tests.helpers.compose import compose_study\n"
        "from hpray.config.prepare import prepare\n"
        "prepare(compose_study('/tmp/unused', 'model=cnn'))\n"
        "assert 'torch._dynamo' not in sys.modules, 'the dry build imported the compiler'\n"
        "wrapped = torch.optim.Optimizer.add_param_group.__wrapped__\n"
        "assert not hasattr(wrapped, '__dynamo_disable')\n"
        "torch.optim.Adam(torch.nn.Linear(2, 2).parameters())  # outside: wrapped as usual\n"
        "assert 'torch._dynamo' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_csv_without_the_label_column(study_cfg, data_files) -> None:
    with pytest.raises(ConfigError) as err:
        prepare(
            study_cfg("data=csv", f"data.source.path={data_files['csv']}", "data.source.target=y")
        )
    assert err.value.key == "data.source.target" and "label" in err.value.message


def test_tracking_adds_mlflow_s_logger_callback_when_asked(study_cfg) -> None:  # type: ignore[no-untyped-def]
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    assert prepare(study_cfg()).tracking == []  # TensorBoard: Ray Tune's own, always on
    (callback,) = prepare(study_cfg("tracking=mlflow", "study.name=tracked")).tracking
    assert isinstance(callback, MLflowLoggerCallback)
    assert callback.experiment_name == "tracked"
