"""Shared fixtures of the ROS-side tests: fake predictor, fake clock, loopback DDS environment."""

import os

import pytest
from ros_fakes import FakeClock, FakePredictor


@pytest.fixture
def fake_predictor() -> FakePredictor:
    return FakePredictor()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


LOOPBACK_XML = """<CycloneDDS><Domain id="any"><General><Interfaces><NetworkInterface name="lo"/></Interfaces>
<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>
<MaxAutoParticipantIndex>60</MaxAutoParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
</Domain></CycloneDDS>"""


@pytest.fixture(scope="session")
def dds_env():
    """Environment for DDS on loopback with a private domain id (also set in this process).

    Cyclone reads CYCLONEDDS_URI when a domain is first created, so it is set before any
    participant exists in this process; child processes inherit it.
    """
    domain = 100 + os.getpid() % 100  # private per test run; ROS uses 0..101, 215..232 safe too
    env = {"CYCLONEDDS_URI": LOOPBACK_XML, "ROS_DOMAIN_ID": str(domain)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield {**os.environ, **env}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
