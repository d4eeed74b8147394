"""Shared fixtures of the ROS-side tests: fake predictor, fake clock, loopback DDS environment."""

import os
from pathlib import Path

import pytest
from ros_fakes import FakeClock, FakePredictor

from vatex_ros.local_node import LOOPBACK_CYCLONEDDS_XML


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


@pytest.fixture(scope="session")
def dds_env():
    """Environment for DDS on loopback with a private domain id (also set in this process).

    Cyclone reads CYCLONEDDS_URI when a domain is first created, so it is set before any
    participant exists in this process; child processes inherit it.
    """
    domain = 100 + os.getpid() % 100  # private per test run; ROS uses 0..101, 215..232 safe too
    env = {"CYCLONEDDS_URI": LOOPBACK_CYCLONEDDS_XML, "ROS_DOMAIN_ID": str(domain)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield {**os.environ, **env}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
