"""A real multi-node Ray cluster on this machine: `ray start` processes on loopback addresses.

Each node is a `ray start --block` in its own session, so ending a node is one killpg of its
process group; never a command that stops every Ray process on the machine. Token
authentication is on, with a token made for this cluster alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Cluster:
    """A head node and workers, each on its own loopback address.

    Ray replaces 127.0.0.1 as a node address with the machine's network address, so the head
    takes another loopback address, HEAD.
    """

    HEAD = "127.0.0.4"

    def __init__(self) -> None:
        self.token = secrets.token_hex(32)
        # Short: Ray's unix sockets live under it and their paths have a length limit.
        self.temp_dir = tempfile.mkdtemp(prefix="hpray-rc-", dir="/tmp")
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
        }
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.token,
        )
        self.env = env
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, args: list[str]) -> None:
        log = Path(self.temp_dir) / f"{name}.log"
        with log.open("wb") as out:
            self.nodes[name] = subprocess.Popen(
                [
                    str(BIN / "ray"),
                    "start",
                    *args,
                    f"--dashboard-agent-listen-port={free_port()}",
                    f"--metrics-export-port={free_port()}",
                    "--num-gpus=0",
                    "--block",
                    "--disable-usage-stats",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    def start_head(self, num_cpus: int = 0) -> None:
        """The head runs the job server and the drivers; num_cpus=0 keeps trials off it."""
        self._start(
            "head",
            [
                "--head",
                f"--node-ip-address={self.HEAD}",
                f"--port={self.gcs_port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                f"--ray-client-server-port={free_port()}",
                f"--num-cpus={num_cpus}",
                f"--temp-dir={self.temp_dir}",
            ],
        )

    def start_worker(self, ip: str, num_cpus: int = 1) -> None:
        self._start(
            ip,
            [
                f"--address={self.HEAD}:{self.gcs_port}",
                f"--node-ip-address={ip}",
                f"--num-cpus={num_cpus}",
                # A session directory of its own, as on a separate machine: nodes sharing one
                # unpack a job's working directory over each other's.
                f"--temp-dir={Path(self.temp_dir) / ip}",
            ],
        )

    def alive_nodes(self) -> set[str]:
        """The addresses of the nodes the cluster counts as alive."""
        done = self.run("ray", "list", "nodes", "--format=json", "--filter", "state=ALIVE")
        try:
            nodes = json.loads(done.stdout) if done.returncode == 0 else []
        except ValueError:  # "No resource in the cluster" while the head starts
            nodes = []
        return {node["node_ip"] for node in nodes}

    def wait_for(self, addresses: set[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_nodes() != addresses:
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster nodes {self.alive_nodes()} != {addresses}")
            for name, proc in self.nodes.items():
                if proc.poll() is not None:
                    raise AssertionError(f"node {name} exited:\n{self.log(name)[-3000:]}")
            time.sleep(1)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command of the venv (ray, hpray) against this cluster, to completion."""
        return subprocess.run(
            [str(BIN / args[0]), *args[1:], *self._address_flag(args)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )

    def submit(
        self, cwd: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """`hpray submit` following its job, in the background; stdout and stderr merged."""
        return subprocess.Popen(
            [str(BIN / "hpray"), "submit", f"--address={self.address}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env or self.env,
            cwd=cwd,
            start_new_session=True,
        )

    def _address_flag(self, args: tuple[str, ...]) -> list[str]:
        if args[0] == "ray" and args[1] in ("list", "job"):
            return [f"--address={self.address}"]
        return []

    def log(self, name: str) -> str:
        return (Path(self.temp_dir) / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL a node's every process: a machine lost mid-study.

        Ray's worker processes (the trials) run in process groups of their own, so the node's
        whole process tree is ended, not only its group.
        """
        proc = self.nodes.pop(name)
        for pid in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        """Workers first, then the head, each as `kill` ends it: the cluster holds nothing to
        save, and Ray's graceful stop of a node takes about 4 s."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            self.kill(name)
        self.nodes.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
