"""``python -m vatex_ros.rclpy``: what ``lib/vatex_ros/vatex_node`` runs (``ros2 run``, ``ros2 launch``).

Sets the environment rclpy from the registry's wheels needs (:mod:`vatex_ros.rclpy.environment`),
then runs the node; without rclpy it says how to get it and exits with status 1.
"""

import logging
import sys

from vatex_ros.rclpy.environment import apply_ros_environment

# The core logs through `logging` (warnings, the active expression); the node's own lines go through rclpy.
logging.basicConfig(level=logging.INFO, format="[%(levelname)s] [%(name)s]: %(message)s")
apply_ros_environment()
try:
    import rclpy  # noqa: F401 - only checks that ROS 2 is there
except ImportError as err:
    sys.exit(f"vatex_node needs ROS 2's rclpy ({err}): pip install -e '.[ros]' (then vatex ros-interfaces), "
             "or source your ROS 2 setup (e.g. /opt/ros/jazzy/setup.bash); without ROS 2, run the same node over "
             "DDS with `vatex node`")

from vatex_ros.rclpy.node import main  # noqa: E402 - after the check above

main(sys.argv)
