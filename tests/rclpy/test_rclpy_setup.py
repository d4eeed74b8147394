"""The ros extra's install path: the environment rclpy needs, `vatex ros-interfaces`, the generated vision_msgs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vatex_ros.rclpy import interfaces
from vatex_ros.rclpy.environment import RMW_IMPLEMENTATION, ros_environment, wheel_prefix


def test_ros_environment_puts_the_prefix_first_and_keeps_the_callers_values():
    prefix = wheel_prefix()
    env = ros_environment({"AMENT_PREFIX_PATH": "/opt/other", "LD_LIBRARY_PATH": "/usr/local/lib"})
    assert env["AMENT_PREFIX_PATH"].split(os.pathsep) == [str(prefix), "/opt/other"]
    libs = env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert libs[0] == str(prefix / "lib") and libs[-1] == "/usr/local/lib"
    assert any(part.endswith("ros_rclpy.libs") for part in libs)
    assert env["RMW_IMPLEMENTATION"] == RMW_IMPLEMENTATION
    assert "RMW_IMPLEMENTATION" not in ros_environment({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"})
    complete = {**os.environ, **ros_environment({})}
    assert ros_environment(complete) == {}  # idempotent
    assert ros_environment({}, prefix=Path("/nonexistent")) == {}  # no wheels there: a sourced ROS sets it all


def test_export_include_dirs_point_at_this_python(tmp_path):
    """The wheels' rosidl_generator_py export targets name the wheel builder's Python; after the fix (which
    `vatex ros-interfaces` ran) every include directory exists, and the fix is idempotent."""
    exports = sorted(wheel_prefix().glob(interfaces._EXPORT_GLOB))
    assert exports
    for export in exports:
        for match in interfaces._INCLUDES.finditer(export.read_text()):
            for path in match[2].split(";"):
                assert Path(path).is_dir(), f"{export.name}: {path}"
    built_elsewhere = tmp_path / "share" / "std_msgs" / "cmake" / "export_std_msgs__rosidl_generator_pyExport.cmake"
    built_elsewhere.parent.mkdir(parents=True)
    built_elsewhere.write_text('  INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
                               '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"\n')
    assert interfaces.fix_generator_py_exports(tmp_path) == 1
    fixed = re.search(r'"([^"]*)"', built_elsewhere.read_text())[1].split(";")
    assert all(Path(path).is_dir() for path in fixed) and "/opt/python" not in built_elsewhere.read_text()
    assert interfaces.fix_generator_py_exports(tmp_path) == 0


def test_ros_interfaces_is_idempotent_and_stamped():
    command = [str(Path(sys.executable).parent / "vatex"), "ros-interfaces"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "up to date" in done.stderr, done.stderr
    assert interfaces.is_built(wheel_prefix(), interfaces.vision_msgs_files())


def test_missing_tools_give_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "cmake" else f"/usr/bin/{name}")
    with pytest.raises(interfaces.InterfaceBuildError, match="^cmake not found on PATH"):
        interfaces.check_tools(wheel_prefix())
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    with pytest.raises(interfaces.InterfaceBuildError, match="no ROS 2 wheels in"):
        interfaces.check_tools(tmp_path)


def test_generated_vision_msgs_have_the_msg_files_fields():
    """rclpy's generated classes, field for field, against msg/vision_msgs/ read by rosbags."""
    import importlib

    from vatex_ros.messages.definitions import ros2_typestore, vision_msgs

    typestore = ros2_typestore()
    generated = importlib.import_module("vision_msgs.msg")
    for name in vision_msgs():
        cls = getattr(generated, name.rsplit("/", 1)[1])
        _, fields = typestore.fielddefs[name]
        assert list(cls.get_fields_and_field_types()) == [field for field, _ in fields], name
    assert generated.BoundingBox2D.get_fields_and_field_types()["center"] == "vision_msgs/Pose2D"
