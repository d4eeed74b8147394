"""Large frames over loopback DDS: the Cyclone settings the node asks for, and 720p rgb8 at 15 Hz without loss."""

import subprocess
import sys

import numpy as np
import pytest

from vatex_ros.dds.cyclone_config import NODE_CYCLONEDDS_XML
from vatex_ros.tools.node_process import LOOPBACK_CYCLONEDDS_XML

pytestmark = pytest.mark.dds

_PROBE = """
import os
from cyclonedds.domain import DomainParticipant
DomainParticipant(int(os.environ["ROS_DOMAIN_ID"]))
print("ok")
"""


def test_node_default_config_is_accepted_by_cyclone(dds_env):
    # CYCLONEDDS_URI takes a comma-separated list: loopback first (this machine), then the node's default.
    env = {**dds_env, "CYCLONEDDS_URI": f"{LOOPBACK_CYCLONEDDS_XML},{NODE_CYCLONEDDS_XML}"}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert 'SocketReceiveBufferSize min="default" max="32MiB"' in LOOPBACK_CYCLONEDDS_XML


def test_vatex_node_asks_for_large_buffers_unless_configured(monkeypatch):
    import argparse
    import os

    from vatex_ros.commands import node as node_command

    seen = []

    class FakeNode:
        def __init__(self, *args, **kwargs):
            seen.append(os.environ.get("CYCLONEDDS_URI"))

        def close(self):
            pass

    monkeypatch.setattr("vatex_ros.dds.transport.DdsNode", FakeNode)
    monkeypatch.setattr("vatex_ros.node.predictor_loading.load_predictor", lambda params: None)
    monkeypatch.setattr(node_command.signal, "signal", lambda *args: None)  # keep pytest's own handlers
    args = argparse.Namespace(params=None, namespace="/vatex", remap=[], duration=0.01)
    monkeypatch.delenv("CYCLONEDDS_URI", raising=False)
    assert node_command.run(args) == 0
    monkeypatch.setenv("CYCLONEDDS_URI", "file:///etc/robot/cyclonedds.xml")
    assert node_command.run(args) == 0
    assert seen == [NODE_CYCLONEDDS_XML, "file:///etc/robot/cyclonedds.xml"]


def test_720p_rgb8_at_15_hz_loses_no_frame(dds_env):
    from vatex_ros.tools.bench import BenchConfig, measure_stream

    frame = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    published, received = measure_stream([frame], BenchConfig(width=1280, height=720, stream_frames=30))
    assert (published, received) == (30, 30)
