"""Shared fixtures of the ROS-side tests: fake predictor, fake clock, loopback DDS environment."""

import itertools
import os
from pathlib import Path

import pytest
from ros_fakes import FakeClock, FakePredictor

from vatex_ros.tools.node_process import LOOPBACK_CYCLONEDDS_XML


@pytest.fixture
def fake_predictor() -> FakePredictor:
    return FakePredictor()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def random_tiny_weights(tmp_path_factory) -> Path:
    """Untrained tiny-preset weights: wiring tests need a model, not a good one."""
    from vatex_core import build_vatex, preset, save_weights

    path = tmp_path_factory.mktemp("weights") / "tiny-untrained.safetensors"
    save_weights(build_vatex(preset("tiny")), path)
    return path


_DOMAINS = itertools.count()


@pytest.fixture
def dds_env():
    """Environment for DDS on loopback with a private domain id per test (also set in this process).

    A fresh domain per test keeps the participants and writers that earlier tests leave in this
    process (Cyclone frees them at exit) out of the next test's discovery. Cyclone reads
    CYCLONEDDS_URI when a domain is first created, so it is set before any participant of the
    domain exists; child processes inherit it.
    """
    domain = 102 + (os.getpid() * 13 + next(_DOMAINS)) % 113  # 102..214: clear of ROS's usual 0..101
    env = {"CYCLONEDDS_URI": LOOPBACK_CYCLONEDDS_XML, "ROS_DOMAIN_ID": str(domain)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield {**os.environ, **env}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

