"""The ``hpray`` command: verbs and their arguments, nothing else."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpray.driver import signals
from hpray.errors import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK, ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

USAGE = """usage: hpray VERB [ARGS...]

verbs:
  tune [--fresh] [OVERRIDES...]
                        run the study composed from conf/ and the overrides; resumes an
                        unfinished study with the same name and storage; --fresh moves an
                        existing study aside and starts over
                        (hpray tune --help lists the config groups; --cfg job prints the config)
  submit [OPTIONS] [OVERRIDES...]
                        run the study as a Ray job on an existing cluster, with Ray's job
                        submission (hpray submit --help lists the options)
  report STUDY_DIR [--text [--top N]] [--pick TRIAL_ID]
                        the study's report.html (or with --text its state, best trial and top
                        trials), at any time (running, finished or interrupted); also writes
                        its best.yaml; --pick makes that trial the best (e.g. another point of
                        a Pareto front)
  retrain STUDY_DIR [--seeds N]
                        train the study's best config (best.yaml) on training + validation
                        data, score it once on the held-out test split: final.json + weights
  k8s [--out DIR] [OVERRIDES...]
                        write the study's Kubernetes manifests: a KubeRay RayJob, a batch Job
                        for one GPU node, and the volume they share

exit codes: 0 complete, 2 invalid config or input, 75 interrupted (resumable), 1 other error
"""


def main(argv: Sequence[str] | None = None) -> None:
    # First: a signal from here on, before Ray starts, stops the run with exit 75.
    signals.interrupting()
    try:
        _main(argv)
    except KeyboardInterrupt:
        print("hpray: interrupted; nothing was left half done", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


def _main(argv: Sequence[str] | None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        sys.exit(EXIT_OK if args else EXIT_CONFIG)
    verb, rest = args[0], args[1:]
    if verb == "tune":
        sys.exit(tune(rest))
    if verb == "submit":
        from hpray.deploy.submit import submit

        sys.exit(submit(rest))
    if verb == "k8s":
        from hpray.deploy.k8s import main as k8s_main

        sys.exit(k8s_main(rest))
    if verb == "report":
        from hpray.results.report import main as report_main

        sys.exit(report_main(rest))
    if verb == "retrain":
        from hpray.results.retrain import main as retrain_main

        sys.exit(retrain_main(rest))
    print(f"hpray: unknown verb {verb!r}\n\n{USAGE}", end="", file=sys.stderr)
    sys.exit(EXIT_CONFIG)


def tune(args: list[str]) -> int:
    """``hpray tune``: compose the config with Hydra's own command line, then run the study."""
    from hpray.config.compose import compose

    fresh = "--fresh" in args
    return compose(
        [a for a in args if a != "--fresh"], lambda cfg: run_task(cfg, fresh), prog="hpray tune"
    )


def run_task(cfg: DictConfig, fresh: bool = False) -> int:
    # Imported here so `hpray --help` and config errors stay fast (no torch or Ray import).
    from hpray.config.prepare import prepare
    from hpray.driver.run import run_reporting

    try:
        study = prepare(cfg)
    except ConfigError as err:
        print(f"hpray: invalid config: {err}", file=sys.stderr)
        return EXIT_CONFIG
    return run_reporting(study, fresh=fresh)


if __name__ == "__main__":
    main()
