"""Search quality: regret on Branin and Hartmann6, hpray's searchers next to standalone Optuna.

    python benchmarks/search_quality.py                       # 10 seeds, 50 and 100 evaluations
    python benchmarks/search_quality.py --seeds 2 --budgets 20 40   # the small run

Each hpray study is a full `hpray tune` run (experiment=branin / hartmann6: the driver, Ray
Tune, the searcher, trials that evaluate the function), `--parallel` trials at a time, all on
one local Ray started here. Regret at budget B is the best value among the first B trials (in
the order the searcher proposed them) minus the known minimum. The standalone counterparts are
Optuna's samplers with the same seeds and budgets, run sequentially (`study.optimize`) and
asked `--parallel` at a time (ask/tell, the oldest told first: the same parallelism as hpray's
studies, without Ray or hpray). Grid
search is deterministic: one run per budget, with L levels per dimension where L^d <= B.
Writes search_quality.json and search_quality.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import ray
from harness import write_record
from hydra import compose, initialize_config_module
from ray.tune import ExperimentAnalysis

from hpray.config.branch_groups import expand
from hpray.config.prepare import prepare
from hpray.driver.run import run
from hpray.trial.objectives import FUNCTIONS

DOMAINS = {"branin": [(-5.0, 10.0), (0.0, 15.0)], "hartmann6": [(0.0, 1.0)] * 6}
COUNTERPART = {"random": "RandomSampler", "bayes": "TPESampler", "gp": "GPSampler"}


def hpray_values(storage: Path, name: str, overrides: list[str]) -> list[float]:
    """Run one study through the driver; the function's values in trial-creation order."""
    with initialize_config_module("hpray.conf", version_base="1.3"):
        cfg = expand(
            compose("study", [f"study.storage={storage}", f"study.name={name}", *overrides])
        )
    study = prepare(cfg)
    quiet = io.StringIO()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        code = run(study)
    if code != 0:
        raise SystemExit(f"study {name} exited {code}:\n{quiet.getvalue()[-3000:]}")
    analysis = ExperimentAnalysis(str(storage / name))
    # Ray's snapshot lists trials in the order the searcher proposed them.
    return [float(t.last_result["value"]) for t in analysis.trials if t.last_result]


def grid_overrides(function: str, budget: int) -> tuple[list[str], int]:
    """A grid of L levels (cell centres) per dimension, L^d <= budget."""
    domain = DOMAINS[function]
    levels = max(1, int(budget ** (1 / len(domain)) + 1e-9))
    out = []
    for i, (low, high) in enumerate(domain, start=1):
        values = [round(low + (k + 0.5) * (high - low) / levels, 6) for k in range(levels)]
        out += [
            f"~space.objective.x{i}",
            f"+space.objective.x{i}={{type:grid,values:[{','.join(map(str, values))}]}}",
        ]
    return out, levels ** len(domain)


def optuna_values(
    function: str, sampler: str, seed: int, budget: int, parallel: int = 1
) -> list[float]:
    """Standalone Optuna with its default sampler settings, `parallel` trials pending at a time."""
    fn, _ = FUNCTIONS[function]
    domain = DOMAINS[function]
    space = {
        f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(domain)
    }
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=getattr(optuna.samplers, sampler)(seed=seed))
    pending: list[optuna.Trial] = []
    values: list[float] = []
    while len(values) < budget:
        while len(pending) < parallel and len(values) + len(pending) < budget:
            pending.append(study.ask(space))
        trial = pending.pop(0)  # the oldest finishes first
        values.append(fn(*(trial.params[f"x{i}"] for i in range(len(domain)))))
        study.tell(trial, values[-1])
    return values


def regret(values: list[float], budget: int, minimum: float) -> float:
    return min(values[:budget]) - minimum


def summarise(regrets: list[float]) -> dict[str, float]:
    q = (
        statistics.quantiles(regrets, n=4, method="inclusive")
        if len(regrets) > 1
        else [regrets[0]] * 3
    )
    return {"median": statistics.median(regrets), "q1": q[0], "q3": q[2]}


def fmt(value: float) -> str:
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--functions", nargs="+", default=list(DOMAINS))
    parser.add_argument("--searchers", nargs="+", default=["grid", "random", "bayes", "gp"])
    parser.add_argument("--parallel", type=int, default=2, help="hpray trials at a time")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    top = max(args.budgets)
    started = time.monotonic()
    record: dict[str, Any] = {
        "seeds": args.seeds,
        "budgets": args.budgets,
        "parallel": args.parallel,
        "machine": f"{os.cpu_count()} CPUs",
        "versions": {"ray": ray.__version__, "optuna": optuna.__version__},
        "results": {},
    }
    os.environ.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as temp_dir:
        ray.init(num_cpus=args.parallel, include_dashboard=False, _temp_dir=temp_dir)
        try:
            with tempfile.TemporaryDirectory() as storage:
                for function in args.functions:
                    minimum = FUNCTIONS[function][1]
                    for searcher in args.searchers:
                        entry: dict[str, Any] = {"hpray": {}, "optuna": {}, "optuna_parallel": {}}
                        base = [
                            f"experiment={function}",
                            f"searcher={searcher}",
                            f"study.max_concurrent={args.parallel}",
                        ]
                        if searcher == "grid":
                            for budget in args.budgets:
                                extra, points = grid_overrides(function, budget)
                                values = hpray_values(
                                    Path(storage), f"{function}_grid_{budget}", base + extra
                                )
                                entry["hpray"][str(budget)] = {
                                    "points": points,
                                    "regrets": [regret(values, budget, minimum)],
                                }
                        else:
                            if searcher != "random":
                                base.append(f"searcher.max_concurrent={args.parallel}")
                            runs = [
                                hpray_values(
                                    Path(storage),
                                    f"{function}_{searcher}_{seed}",
                                    [*base, f"study.seed={seed}", f"study.num_samples={top}"],
                                )
                                for seed in range(args.seeds)
                            ]
                            sequential = [
                                optuna_values(function, COUNTERPART[searcher], seed, top)
                                for seed in range(args.seeds)
                            ]
                            together = [
                                optuna_values(
                                    function, COUNTERPART[searcher], seed, top, args.parallel
                                )
                                for seed in range(args.seeds)
                            ]
                            for budget in args.budgets:
                                for side, values in (
                                    ("hpray", runs),
                                    ("optuna", sequential),
                                    ("optuna_parallel", together),
                                ):
                                    entry[side][str(budget)] = {
                                        "regrets": [regret(v, budget, minimum) for v in values]
                                    }
                        for side in entry.values():
                            for cell in side.values():
                                cell.update(summarise(cell["regrets"]))
                        record["results"][f"{function}/{searcher}"] = entry
                        print(
                            f"{function}/{searcher}: {time.monotonic() - started:.0f} s", flush=True
                        )
        finally:
            ray.shutdown()
    record["wall_s"] = round(time.monotonic() - started, 1)
    rows = []
    for key, entry in record["results"].items():
        function, searcher = key.split("/")
        for budget in args.budgets:
            mine = entry["hpray"][str(budget)]
            cells = [entry[side].get(str(budget)) for side in ("optuna", "optuna_parallel")]
            rows.append(
                [
                    function,
                    searcher + (f" ({mine['points']} points)" if "points" in mine else ""),
                    budget,
                    f"{fmt(mine['median'])} [{fmt(mine['q1'])}, {fmt(mine['q3'])}]",
                    *(
                        f"{fmt(c['median'])} [{fmt(c['q1'])}, {fmt(c['q3'])}]" if c else "-"
                        for c in cells
                    ),
                    *(
                        f"{mine['median'] / c['median']:.2f}" if c and c["median"] > 0 else "-"
                        for c in cells
                    ),
                ]
            )
    write_record(
        args.out,
        "search_quality",
        record,
        f"Median regret [quartiles] over {args.seeds} seeds; hpray runs {args.parallel} trials "
        f"at a time through the full driver, Optuna sequentially and {args.parallel} at a time; "
        f"{record['machine']}, "
        f"Ray {ray.__version__}, Optuna {optuna.__version__}; {record['wall_s']} s in all",
        [
            "function",
            "hpray searcher",
            "evaluations",
            "hpray regret",
            "Optuna regret, sequential",
            f"Optuna regret, {args.parallel} at a time",
            "ratio to sequential",
            f"ratio to {args.parallel} at a time",
        ],
        rows,
        "Counterparts: random - RandomSampler, bayes - TPESampler, gp - GPSampler (Optuna's "
        "defaults). Known minima: Branin 0.397887, Hartmann6 -3.32237.",
    )


if __name__ == "__main__":
    main()
