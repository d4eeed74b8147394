"""What rclpy from the registry's ROS 2 wheels needs in the environment, written once.

``pip install -e '.[ros]'`` lays a normal ROS 2 prefix at the venv root (``share/``, ``lib/``,
``include/``, the ament index), like ``/opt/ros/<distro>`` but without a ``setup.bash`` to source.
rclpy then needs:

- ``AMENT_PREFIX_PATH`` with the prefix: the ament index (``ros2 run``-style executable lookup,
  ``get_package_share_directory``, rosidl type support lookup, and cmake for ``vatex ros-interfaces``);
- ``LD_LIBRARY_PATH`` with ``<prefix>/lib`` (message libraries, also those ``vatex ros-interfaces``
  generates) and the wheels' ``site-packages/ros_*.libs``. The ``ros-wheels-bootstrapper`` wheel sets it
  by re-executing every Python of the venv once; children get it from here too;
- ``RMW_IMPLEMENTATION=rmw_fastrtps_cpp``: the only RMW the extra installs (ROS 2's default).

On a sourced ROS 2 install (``source /opt/ros/<distro>/setup.bash``) all of these are set already and
:func:`ros_environment` adds nothing but missing defaults. Used by the node's entry point, the tests,
``vatex ros-interfaces`` and README.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

RMW_IMPLEMENTATION = "rmw_fastrtps_cpp"
_ORDERED = ("AMENT_PREFIX_PATH", "LD_LIBRARY_PATH")  # path lists: our entries go first, the caller's are kept


def wheel_prefix() -> Path:
    """The ROS prefix the registry's wheels install into: the root of this Python's venv."""
    return Path(sys.prefix)


def has_ros_wheels(prefix: Path | None = None) -> bool:
    """True if rclpy's wheel laid its ament index entry under ``prefix`` (default: :func:`wheel_prefix`)."""
    prefix = wheel_prefix() if prefix is None else prefix
    return (prefix / "share" / "ament_index" / "resource_index" / "packages" / "rclpy").is_file()


def _library_dirs(prefix: Path) -> list[str]:
    """``<prefix>/lib`` and the wheels' bundled-library folders ``site-packages/ros_*.libs``."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = prefix / "lib" / version / "site-packages"
    return [str(prefix / "lib"), *sorted(str(p) for p in site_packages.glob("ros_*.libs") if p.is_dir())]


def ros_environment(environ: Mapping[str, str] | None = None, prefix: Path | None = None) -> dict[str, str]:
    """The variables rclpy from the wheels needs, merged with ``environ``.

    Args:
        environ: the environment to start from (default ``os.environ``); its values are kept: path lists
            get the prefix's entries in front, ``RMW_IMPLEMENTATION`` is only set when missing.
        prefix: the wheels' prefix (default :func:`wheel_prefix`). Nothing is added if it holds no ROS wheels
            (a sourced ROS 2 install provides the variables itself).

    Returns:
        Only the variables that change (empty when there is nothing to add).
    """
    environ = os.environ if environ is None else environ
    prefix = wheel_prefix() if prefix is None else prefix
    if not has_ros_wheels(prefix):
        return {}
    wanted = {"AMENT_PREFIX_PATH": [str(prefix)], "LD_LIBRARY_PATH": _library_dirs(prefix)}
    changes = {}
    for name in _ORDERED:
        present = [part for part in environ.get(name, "").split(os.pathsep) if part]
        merged = [*[p for p in wanted[name] if p not in present], *present]
        if merged != present:
            changes[name] = os.pathsep.join(merged)
    if not environ.get("RMW_IMPLEMENTATION"):
        changes["RMW_IMPLEMENTATION"] = RMW_IMPLEMENTATION
    return changes


def apply_ros_environment() -> dict[str, str]:
    """Set :func:`ros_environment` in this process before rclpy is imported; returns what changed.

    ``LD_LIBRARY_PATH`` set here reaches child processes only (the dynamic loader read it at start);
    in this process the bootstrapper's re-exec or a sourced setup already provides it.
    """
    changes = ros_environment()
    os.environ.update(changes)
    return changes
