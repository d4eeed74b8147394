"""A `vatex node` in a child process on loopback DDS, for the demo and the benchmark.

``loopback_env`` gives the DDS environment: the caller's ``CYCLONEDDS_URI`` if set, else a
loopback-only Cyclone configuration; the caller's ``ROS_DOMAIN_ID`` if set, else a random
private domain. ``NodeProcess`` starts the node with a parameters file and always stops it
(SIGINT, then kill) when the ``with`` block ends, errors and Ctrl-C included.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from vatex_ros.dds.cyclone_config import RECEIVE_BUFFER_XML
from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)

# Loopback only, unicast discovery: nothing leaves the machine and no multicast is needed; socket receive
# buffers for large frames as the node asks for them by default.
LOOPBACK_CYCLONEDDS_XML = f"""<CycloneDDS><Domain id="any"><General><Interfaces><NetworkInterface name="lo"/>
</Interfaces><AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>
<MaxAutoParticipantIndex>60</MaxAutoParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
{RECEIVE_BUFFER_XML}</Domain></CycloneDDS>"""
# Loopback carries UDP datagrams of up to 64 KiB: sending a large sample in 62 kB fragments instead of Cyclone's
# default 1344-byte fragments packed into 14720-byte datagrams moves a 1080p frame (6.2 MB) in about 100 datagrams
# instead of 420; `vatex bench` at 1920x1080 (load 6): DDS transport floor p50 26.4 -> 11.6 ms
# (docs/performance.md, "Large frames over DDS"). Off loopback the default suits networks with a 1500-byte MTU.
LOOPBACK_LARGE_MESSAGES_XML = ('<CycloneDDS><Domain id="any"><General><MaxMessageSize>65500B</MaxMessageSize>'
                               '<FragmentSize>62000B</FragmentSize></General></Domain></CycloneDDS>')
_PRIVATE_DOMAINS = (1, 101)  # ROS 2's safe range; its ports stay below Linux's ephemeral range


def loopback_env(environ: Mapping[str, str]) -> dict[str, str]:
    """DDS variables to add to ``environ``: loopback config (with large datagrams) and a private domain unless
    already set.

    Returns:
        Only the variables that were missing (empty if both are set), so the caller's choice wins.
    """
    env = {}
    if not environ.get("CYCLONEDDS_URI"):
        env["CYCLONEDDS_URI"] = f"{LOOPBACK_CYCLONEDDS_XML},{LOOPBACK_LARGE_MESSAGES_XML}"
    if not environ.get("ROS_DOMAIN_ID", "").strip():
        env["ROS_DOMAIN_ID"] = str(random.randint(*_PRIVATE_DOMAINS))
    return env


def write_params(params: NodeParams, path: Path) -> Path:
    """Write ``params`` as a ROS 2 parameters file that ``vatex node --params`` reads back."""
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": dataclasses.asdict(params)}}))
    return path


class NodeProcess:
    """`vatex node` in a child process with its output in a log file; a context manager.

    Args:
        params: node parameters (written next to the log).
        workdir: where ``node_params.yaml`` and the log (``LOG_NAME``) go.
        max_seconds: the node exits by itself after this long, even if this process is killed.
        env: environment of the child (DDS variables included).
    """

    LOG_NAME = "node.log"

    def __init__(self, params: NodeParams, workdir: Path, max_seconds: float, env: Mapping[str, str]):
        self.log_path = workdir / self.LOG_NAME
        self._params_path = write_params(params, workdir / "node_params.yaml")
        self._max_seconds = max_seconds
        self._env = dict(env)
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> NodeProcess:
        command = [sys.executable, "-m", "vatex_ros.cli", "node", "--params", str(self._params_path),
                   "--duration", f"{self._max_seconds:.0f}"]
        with open(self.log_path, "w") as log:
            self._proc = subprocess.Popen(command, env=self._env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)  # Ctrl-C reaches us, we stop the node
        logger.info("node started (pid %d, domain %s), log %s", self._proc.pid, self._env.get("ROS_DOMAIN_ID", "0"),
                    self.log_path)
        return self

    @property
    def pid(self) -> int:
        """Process id of the running node."""
        if self._proc is None:
            raise RuntimeError("the node process is not started")
        return self._proc.pid

    def running(self) -> bool:
        """True while the child is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __exit__(self, *exc) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                logger.warning("node did not stop within 15 s; killing it")
                self._proc.kill()
                self._proc.wait()
        logger.info("node stopped (exit code %s)", self._proc.returncode)
        self._proc = None


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, with this source tree importable by children."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, **extra, "PYTHONPATH": root + (os.pathsep + path if path else "")}
