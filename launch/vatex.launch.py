"""Launch the VATEX node: ``ros2 launch vatex_ros vatex.launch.py image:=/camera/image_raw``.

Parameters come from one YAML file (``params_file``, default config/vatex.yaml); topics are
relative to ``namespace`` (default ``vatex``), and the input topics (``image``, and ``depth`` /
``camera_info`` when ``use_depth`` is on) are remapped here. ``use_sim_time:=true`` takes time from
/clock (``ros2 bag play --clock``, simulators).
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    default_params = Path(get_package_share_directory("vatex_ros")) / "config" / "vatex.yaml"
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=str(default_params),
                              description="ROS 2 parameters file of vatex_node"),
        DeclareLaunchArgument("namespace", default_value="vatex", description="namespace of the node's topics"),
        DeclareLaunchArgument("image", default_value="image", description="camera topic to segment"),
        DeclareLaunchArgument("depth", default_value="depth",
                              description="aligned depth topic (used with the parameter use_depth)"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="camera info of the depth/colour camera (used with use_depth)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="take time from /clock (bag replay with --clock, simulators)"),
        Node(
            package="vatex_ros",
            executable="vatex_node",
            name="vatex_node",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"),
                        {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
            remappings=[(name, LaunchConfiguration(name)) for name in ("image", "depth", "camera_info")],
            output="screen",
            emulate_tty=True,
        ),
    ])
