"""Real ROS 2 (rclpy on Fast DDS, from the registry's wheels) for the tests in this folder.

README's test command installs the wheels and runs `vatex ros-interfaces`; then nothing here is
skipped. Elsewhere (a venv without the ros extra) these tests are skipped with what to install,
except under CI, where a missing ROS 2 fails them.
"""

import os

import pytest
from rclpy_harness import not_ready_reason

NOT_READY = not_ready_reason()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/rclpy/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.rclpy)
            if NOT_READY and not os.environ.get("CI"):
                item.add_marker(pytest.mark.skip(reason=NOT_READY))


@pytest.fixture(autouse=True)
def _ros_2_required() -> None:
    if NOT_READY:
        pytest.fail(f"real ROS 2 is required under CI: {NOT_READY}")
