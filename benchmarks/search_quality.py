"""Search quality at k trials in parallel: regret on Branin and Hartmann6, hpray's Bayesian
searchers next to Optuna asked the same way.

    python benchmarks/search_quality.py                                   # 10 seeds, k = 1 2 8 32
    python benchmarks/search_quality.py --seeds 2 --parallel 1 8 --rounds 4   # the small run
    python benchmarks/search_quality.py --searchers botorch --parallel 1 8 \
        --name search_quality_botorch                                   # BoTorch (slow asks)

A cluster user sees two things: the regret after the same number of evaluations (what a trial
costs), and after the same number of rounds (the wall time: k trials end per round). For each
function, searcher and k, one hpray study (``experiment=branin`` / ``hartmann6``, the full
driver, Ray Tune, the searcher's defaults, ``study.max_concurrent=k``, all on one local Ray that
declares max(k) CPUs) runs max(E, R x k) trials; regret after B evaluations is the best value
among the first B trials in the order the searcher proposed them, minus the known minimum. The
counterpart is Optuna alone with the same sampler settings and seeds, asked k at a time
(ask/tell, the oldest told first: how trials end when they take the same time).
Writes search_quality.json and search_quality.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import ray
from harness import write_record
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from hpray.config.branch_groups import expand
from hpray.config.prepare import prepare
from hpray.driver.run import run
from hpray.trial.objectives import FUNCTIONS

DOMAINS = {"branin": [(-5.0, 10.0), (0.0, 15.0)], "hartmann6": [(0.0, 1.0)] * 6}
EVALUATIONS = {"branin": 50, "hartmann6": 100}  # the budgets: easy and harder


def study_config(overrides: list[str]) -> Any:
    with initialize_config_module("hpray.conf", version_base="1.3"):
        return expand(compose("study", overrides))


def hpray_values(storage: Path, name: str, overrides: list[str]) -> list[float]:
    """Run one study through the driver; the function's values in trial-creation order."""
    study = prepare(study_config([f"study.storage={storage}", f"study.name={name}", *overrides]))
    quiet = io.StringIO()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        code = run(study)
    if code != 0:
        raise SystemExit(f"study {name} exited {code}:\n{quiet.getvalue()[-3000:]}")
    # The Optuna study OptunaSearch keeps holds the values told, in the order asked.
    state = sorted((storage / name).glob("searcher-state-*.pkl"))[-1]
    told = pickle.loads(state.read_bytes())["_ot_study"].trials
    return [float(t.value) for t in sorted(told, key=lambda t: t.number) if t.value is not None]


def optuna_values(function: str, searcher: str, seed: int, budget: int, k: int) -> list[float]:
    """Optuna alone with hpray's sampler settings for ``searcher``, ``k`` trials pending."""
    config = study_config([f"experiment={function}", f"searcher={searcher}", f"study.seed={seed}"])
    sampler = instantiate(config.searcher.sampler) if "sampler" in config.searcher else None
    fn, _ = FUNCTIONS[function]
    domain = DOMAINS[function]
    space = {
        f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(domain)
    }
    study = optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=seed))
    pending: list[optuna.Trial] = []
    values: list[float] = []
    while len(values) < budget:
        while len(pending) < k and len(values) + len(pending) < budget:
            pending.append(study.ask(space))
        trial = pending.pop(0)  # the oldest finishes first
        values.append(fn(*(trial.params[f"x{i}"] for i in range(len(domain)))))
        study.tell(trial, values[-1])
    return values


def summarise(regrets: list[float]) -> dict[str, Any]:
    q = statistics.quantiles(regrets, n=4, method="inclusive") if len(regrets) > 1 else regrets * 3
    return {"regrets": regrets, "median": statistics.median(regrets), "q1": q[0], "q3": q[2]}


def fmt(cell: dict[str, Any]) -> str:
    def one(value: float) -> str:
        return f"{value:.2g}" if value < 0.01 else f"{value:.3f}"

    return f"{one(cell['median'])} [{one(cell['q1'])}, {one(cell['q3'])}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 8, 32])
    parser.add_argument("--rounds", type=int, default=4, help="R: the equal-wall-time budget")
    parser.add_argument("--functions", nargs="+", default=list(DOMAINS))
    parser.add_argument("--searchers", nargs="+", default=["bayes", "gp"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="search_quality", help="of the .json and .md written")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    record: dict[str, Any] = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "name")},
        "evaluations": EVALUATIONS,
        "machine": f"{os.cpu_count()} CPUs",
        "versions": {"ray": ray.__version__, "optuna": optuna.__version__},
        "results": {},
    }
    os.environ.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as temp_dir:
        ray.init(num_cpus=max(args.parallel), include_dashboard=False, _temp_dir=temp_dir)
        try:
            with tempfile.TemporaryDirectory() as storage:
                for function in args.functions:
                    minimum = FUNCTIONS[function][1]
                    evals = EVALUATIONS[function]
                    for searcher in args.searchers:
                        for k in args.parallel:
                            trials = max(evals, args.rounds * k)
                            cell: dict[str, Any] = {}
                            for side in ("hpray", "optuna"):
                                runs = [
                                    hpray_values(
                                        Path(storage),
                                        f"{function}_{searcher}_{k}_{seed}",
                                        [
                                            f"experiment={function}",
                                            f"searcher={searcher}",
                                            f"study.seed={seed}",
                                            f"study.num_samples={trials}",
                                            f"study.max_concurrent={k}",
                                        ],
                                    )
                                    if side == "hpray"
                                    else optuna_values(function, searcher, seed, trials, k)
                                    for seed in range(args.seeds)
                                ]
                                for budget, at in ((evals, "evals"), (args.rounds * k, "rounds")):
                                    cell[f"{side}_{at}"] = summarise(
                                        [min(v[:budget]) - minimum for v in runs]
                                    )
                            record["results"][f"{function}/{searcher}/{k}"] = cell
                            print(
                                f"{function}/{searcher}/k={k}: hpray {fmt(cell['hpray_evals'])}, "
                                f"Optuna {fmt(cell['optuna_evals'])} at {evals} evaluations; "
                                f"{time.monotonic() - started:.0f} s",
                                flush=True,
                            )
        finally:
            ray.shutdown()
    record["wall_s"] = round(time.monotonic() - started, 1)
    rows = []
    for key, cell in record["results"].items():
        function, searcher, k = key.split("/")
        alone = record["results"].get(f"{function}/{searcher}/1")
        rows.append(
            [
                function,
                searcher,
                k,
                fmt(cell["hpray_evals"]),
                fmt(cell["optuna_evals"]),
                f"{cell['hpray_evals']['median'] / alone['hpray_evals']['median']:.2f}x"
                if alone
                else "-",
                f"{EVALUATIONS[function] / int(k):.3g}",
                f"{fmt(cell['hpray_rounds'])} ({args.rounds * int(k)})",
                fmt(cell["optuna_rounds"]),
            ]
        )
    write_record(
        args.out,
        args.name,
        record,
        f"Median regret [quartiles] over {args.seeds} seeds, k trials at a time; "
        f"{record['machine']}, Ray {ray.__version__}, Optuna {optuna.__version__}; "
        f"{record['wall_s']} s in all",
        [
            "function",
            "searcher",
            "k",
            "hpray, at E evaluations",
            "Optuna, at E",
            "hpray vs its k=1",
            "rounds to E",
            f"hpray, after {args.rounds} rounds (evaluations)",
            f"Optuna, after {args.rounds} rounds",
        ],
        rows,
        f"E: Branin {EVALUATIONS['branin']}, Hartmann6 {EVALUATIONS['hartmann6']} evaluations. "
        "Samplers as hpray's options set them (bayes: TPE, multivariate, constant liar, 10 "
        "random trials first; gp: Optuna's GPSampler, which models running trials; botorch: "
        "BoTorch's q-log expected improvement with the running trials as pending points, 10 "
        "random trials first). Known "
        "minima: Branin 0.397887, Hartmann6 -3.32237.",
    )


if __name__ == "__main__":
    main()
