"""A Hydra app that writes a file by a relative path, with where it ran and where Hydra says
the run started: what a sweep of it must leave where a Hydra multirun would."""

from __future__ import annotations

import json
import os

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="app")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    print(f"the app's own line, x={cfg.x}")  # the trial's console.log, not the sweep's terminal
    ran = {"x": cfg.x, "cwd": os.getcwd(), "runtime_cwd": hydra_cfg.runtime.cwd}
    with open("ran.txt", "a") as out:
        out.write(json.dumps({**ran, "num": hydra_cfg.job.num, "id": hydra_cfg.job.id}) + "\n")
    return float((cfg.x - 0.25) ** 2)


if __name__ == "__main__":
    main()
