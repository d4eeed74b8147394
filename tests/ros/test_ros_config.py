"""Parameters file, launch file, the rclpy module without rclpy, and the `vatex node` CLI surface."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from vatex_ros.rclpy import node as rclpy_node
from vatex_ros.cli import build_parser
from vatex_ros.messages.idl import Header, Image, Time
from vatex_ros.node.params import NodeParams, load_params
from vatex_ros.rclpy.convert import from_ros

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_yaml_parses_to_the_defaults():
    assert load_params(ROOT / "config" / "vatex.yaml") == NodeParams()


@pytest.mark.parametrize(
    "body, message",
    [
        ("vatex_node:\n  ros__parameters:\n    score_threshold: 1.5\n", r"score_threshold must be in \[-1.0, 1.0\]"),
        ("vatex_node:\n  ros__parameters:\n    score_threshold: -0.5\n", r"must be -1 \(calibrated\) or in \[0, 1\]"),
        ("vatex_node:\n  ros__parameters:\n    device: gpu\n", "device must be"),
        ("vatex_node:\n  ros__parameters:\n    presett: tiny\n", r"unknown vatex_node parameter\(s\) \['presett'\]"),
        ("vatex_node:\n  ros__parameters:\n    found_after: 'two'\n", "found_after must be int"),
        ("vatex_node:\n  ros__parameters:\n    input_size: 16\n", "input_size must be 0 or >= 32"),
        ("other_node:\n  ros__parameters: {}\n", "no section for node 'vatex_node'"),
        ("vatex_node:\n  score_threshold: 0.3\n", "needs a 'ros__parameters' mapping"),
    ],
)
def test_bad_params_files_fail_clearly(tmp_path, body, message):
    path = tmp_path / "p.yaml"
    path.write_text(body)
    with pytest.raises(ValueError, match=message):
        load_params(path)


def test_namespaced_and_wildcard_sections(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("/**:\n  ros__parameters:\n    device: cuda\n"
                    "/vatex/vatex_node:\n  ros__parameters:\n    score_threshold: 1\n")
    params = load_params(path)
    assert params.device == "cuda" and params.score_threshold == 1.0 and isinstance(params.score_threshold, float)


def test_replace_validates():
    with pytest.raises(ValueError, match="lost_after"):
        NodeParams().replace(lost_after=0)


def _run_launch_file(monkeypatch) -> SimpleNamespace:
    """Executes launch/vatex.launch.py against stand-ins of the launch API; returns what it built."""
    built = SimpleNamespace(arguments={}, nodes=[])

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def __eq__(self, other):
            return isinstance(other, LaunchConfiguration) and other.name == self.name

    def declare(name, default_value, description):
        built.arguments[name] = default_value
        return ("argument", name)

    def node(**kwargs):
        built.nodes.append(kwargs)
        return ("node", kwargs)

    stand_ins = {
        "ament_index_python.packages": SimpleNamespace(get_package_share_directory=lambda package: str(ROOT)),
        "launch": SimpleNamespace(LaunchDescription=list),
        "launch.actions": SimpleNamespace(DeclareLaunchArgument=declare),
        "launch.substitutions": SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        "launch_ros.actions": SimpleNamespace(Node=node),
    }
    for name, module in stand_ins.items():
        monkeypatch.setitem(sys.modules, name, module)
    namespace: dict = {}
    exec(compile((ROOT / "launch" / "vatex.launch.py").read_text(), "vatex.launch.py", "exec"), namespace)
    built.description = namespace["generate_launch_description"]()
    built.config = LaunchConfiguration
    return built


def test_launch_file_uses_the_yaml_and_remaps_the_inputs(monkeypatch):
    built = _run_launch_file(monkeypatch)
    (node,) = built.nodes
    assert node["package"] == "vatex_ros" and node["executable"] == "vatex_node" and node["name"] == "vatex_node"
    assert node["parameters"] == [built.config("params_file")]
    assert load_params(built.arguments["params_file"]) == NodeParams()  # the shipped YAML is the default
    remapped = dict(node["remappings"])
    assert remapped == {name: built.config(name) for name in ("image", "depth", "camera_info")}
    assert set(built.arguments) == {"params_file", "namespace", "image", "depth", "camera_info"}
    assert node["namespace"] == built.config("namespace") and built.arguments["namespace"] == "vatex"


def test_rclpy_node_imports_without_rclpy_and_explains():
    if "rclpy" in sys.modules:
        pytest.skip("rclpy is installed here")
    with pytest.raises(ImportError, match="vatex_node needs ROS 2's rclpy.*vatex node"):
        rclpy_node.main([])


def test_launcher_script_runs_the_rclpy_main():
    script = (ROOT / "scripts" / "vatex_node").read_text()
    assert script.startswith("#!/usr/bin/env python3") and "from vatex_ros.rclpy.node import main" in script
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "vatex_node")], capture_output=True, text=True,
                            timeout=30, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "vatex_node needs ROS 2's rclpy" in result.stderr


def test_from_ros_copies_an_rclpy_like_image():
    import array

    header = SimpleNamespace(stamp=SimpleNamespace(sec=3, nanosec=4), frame_id="cam")
    msg = SimpleNamespace(header=header, height=1, width=2, encoding="mono8", is_bigendian=0, step=2,
                          data=array.array("B", [0, 255]))
    assert from_ros(msg, Image) == Image(header=Header(stamp=Time(sec=3, nanosec=4), frame_id="cam"), height=1,
                                         width=2, encoding="mono8", step=2, data=b"\x00\xff")


def test_node_subcommand_arguments():
    args = build_parser().parse_args(["node", "--params", "x.yaml", "--remap", "image:=/cam/rgb", "--duration", "2"])
    assert args.remap == [("image", "/cam/rgb")] and args.duration == 2.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["node", "--remap", "image"])


def test_package_xml_declares_every_ros_package_the_node_uses():
    import xml.etree.ElementTree as ElementTree

    from vatex_ros.node import topics
    from vatex_ros.messages.definitions import own_msgs

    root = ElementTree.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "vatex_ros"
    declared = {e.text for e in root if e.tag in ("depend", "exec_depend")}
    used = {t.ros_type.split("/")[0] for t in vars(topics).values() if isinstance(t, topics.Topic)}
    used |= {"builtin_interfaces", "rclpy", "launch", "launch_ros", "ament_index_python"}
    used.discard("vatex_ros")  # our own messages (msg/)
    assert used <= declared, f"missing from package.xml: {sorted(used - declared)}"
    assert own_msgs()  # msg/ holds our definitions
