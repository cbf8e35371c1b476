"""A real two-node Ray cluster on loopback for tests: a head and a worker node, each its own
`ray start --block` process with its own ports (30000-31999) and the temp dir under the test's
tmp_path, token authentication on. Teardown kills only the process trees it started, by PID:
never `ray stop` (other Ray instances run on this machine), never by name."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PORT_RANGE = (30000, 32000)
BLOCK = 100  # ports per cluster: see _ports
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 120.0
READY_LINE = "This command will now block forever"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _free_block() -> int:
    """The first block of BLOCK ports in our range that nobody listens on (a cluster of an earlier
    test may linger for a minute, and other engineers' clusters use other ranges)."""
    for base in range(PORT_RANGE[0], PORT_RANGE[1], BLOCK):
        if all(_free(port) for port in range(base, base + BLOCK)):
            return base
    raise RuntimeError(f"no free block of {BLOCK} ports in {PORT_RANGE}")


def _ports(base: int, offset: int) -> list[str]:
    """One node's ports: base+offset .. +9 for Ray's services, 30 worker ports above base+20."""
    at = base + offset
    workers = base + 20 + (offset // 10) * 30
    return [
        f"--node-manager-port={at + 1}",
        f"--object-manager-port={at + 2}",
        f"--dashboard-agent-listen-port={at + 4}",
        f"--dashboard-agent-grpc-port={at + 5}",
        f"--runtime-env-agent-port={at + 6}",
        f"--metrics-export-port={at + 7}",
        f"--min-worker-port={workers}",
        f"--max-worker-port={workers + 29}",
    ]


@dataclass
class LocalCluster:
    root: Path  # Ray's temp dir and the token file
    logs: Path  # the nodes' `ray start` output
    address: str = ""
    env: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)  # node name -> its `ray start --block`

    def start(self, head_cpus: int = 1, worker_cpus: int = 1) -> "LocalCluster":
        base = _free_block()
        self.address = f"127.0.0.1:{base}"
        token = self.root / "token"
        token.write_text(secrets.token_hex(32))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token),
            "RAY_ADDRESS": self.address,  # every process, Ray's own included, finds this cluster only
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        common = ["--block", "--node-ip-address=127.0.0.1", "--object-store-memory=100000000", "--disable-usage-stats"]
        self._start(
            "head",
            ["--head", f"--port={base}", f"--num-cpus={head_cpus}", f"--temp-dir={self.root / 'ray'}",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={base + 3}", f"--ray-client-server-port={base + 8}",
             *_ports(base, 0), *common],
        )
        self._start(
            "worker",
            [f"--address={self.address}", f"--num-cpus={worker_cpus}", "--resources=" + json.dumps({"workernode": 1}),
             *_ports(base, 10), *common],
        )
        return self

    def _start(self, name: str, arguments: list[str]) -> None:
        log = self.logs / f"ray-start-{name}.log"
        with open(log, "w") as out:
            self.nodes[name] = subprocess.Popen(
                [RAY, "start", f"--node-name={name}", *arguments],
                stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_LINE not in log.read_text(errors="replace"):
            if self.nodes[name].poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start ({name}) failed:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)

    def processes(self, name: str) -> list[psutil.Process]:
        try:
            return psutil.Process(self.nodes[name].pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def raylet(self, name: str) -> psutil.Process:
        (raylet,) = [p for p in self.processes(name) if p.name() == "raylet"]
        return raylet

    def stop(self) -> None:
        for starter in self.nodes.values():
            tree = self.processes_of(starter.pid)
            for process in tree:
                try:
                    process.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
            try:
                os.killpg(starter.pid, signal.SIGKILL)  # its session: what a killed parent left orphaned
            except ProcessLookupError:
                pass
            starter.wait()

    @staticmethod
    def processes_of(pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
