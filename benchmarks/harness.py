"""What every benchmark shares: one `hpray tune` run in a subprocess, with its own local Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hpray.checkpoint import result_rows


def tune(storage: Path, name: str, *overrides: str) -> tuple[dict[str, Any], str]:
    """Run study `name` under `storage` to the end; returns its summary.json and stderr."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as temp_dir:
        args = [
            sys.executable,
            "-m",
            "hpray.cli",
            "tune",
            f"study.name={name}",
            f"study.storage={storage}",
            f"ray.temp_dir={temp_dir}",
            *overrides,
        ]
        done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"study {name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads((storage / name / "summary.json").read_text())
    return summary, done.stderr


def trial_results(directory: Path) -> list[list[dict[str, Any]]]:
    """Each trial's reports (its result.json under `directory`), torn lines skipped."""
    return [
        result_rows(f.read_text().splitlines()) for f in sorted(directory.glob("*/result.json"))
    ]


def write_record(
    out: Path,
    name: str,
    record: dict[str, Any],
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    footer: str = "",
) -> None:
    """Write `<name>.json` (the record) and `<name>.md` (a titled table), and print the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [title, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    if footer:
        lines += ["", footer]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
