"""Register an editable checkout of vatex_ros in a ROS prefix's ament index, as colcon --symlink-install does.

``pip install -e .`` installs no ``data_files``, so the venv's ROS prefix would not know the package:
no ``share/ament_index/resource_index/packages/vatex_ros``, no ``lib/vatex_ros/vatex_node`` (where
``ros2 run`` and launch_ros look for the executable), no ``share/vatex_ros`` (launch file, parameters,
message definitions). :func:`register_package` links them into the prefix, pointing back at the source
tree, so edits show up without reinstalling. A regular ``pip install .`` or a colcon build installs the
same files itself; then there is nothing to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE = "vatex_ros"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout (package.xml, launch/, config/, msg/, scripts/)


def installed_paths(prefix: Path) -> dict[Path, Path]:
    """``{path in the prefix: source path}`` of everything the package installs (setup.py's data_files)."""
    share = prefix / "share" / PACKAGE
    return {
        prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE: SOURCE_ROOT / "resource" / PACKAGE,
        share / "package.xml": SOURCE_ROOT / "package.xml",
        share / "launch": SOURCE_ROOT / "launch",
        share / "config": SOURCE_ROOT / "config",
        share / "msg": SOURCE_ROOT / "msg",
        prefix / "lib" / PACKAGE / "vatex_node": SOURCE_ROOT / "scripts" / "vatex_node",
    }


def is_checkout() -> bool:
    """True when this vatex_ros runs from a source checkout (an editable install), not from an installed copy."""
    return (SOURCE_ROOT / "package.xml").is_file() and (SOURCE_ROOT / "scripts" / "vatex_node").is_file()


def register_package(prefix: Path) -> int:
    """Link the checkout's package files into ``prefix`` where they are missing.

    Returns:
        How many links were made (0 when all were there: installed by pip/colcon, or linked before).
    """
    if not is_checkout():
        return 0
    made = 0
    for target, source in installed_paths(prefix).items():
        if target.is_symlink() and target.resolve() == source.resolve():
            continue
        if target.exists() or target.is_symlink():
            logger.debug("%s exists (installed, not linked): kept", target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
        made += 1
    if made:
        logger.info("registered %s (%s) in the ament index of %s", PACKAGE, SOURCE_ROOT, prefix)
    return made
