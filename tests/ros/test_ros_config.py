"""Parameters file, launch file, the rclpy module without rclpy, and the `vatex node` CLI surface."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

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
        ("/**:\n  ros__parameters:\n    score_threshold: 1.5\n", r"score_threshold must be in \[-1.0, 1.0\]"),
        ("/**:\n  ros__parameters:\n    score_threshold: -0.5\n", r"must be -1 \(calibrated\) or in \[0, 1\]"),
        ("/**:\n  ros__parameters:\n    device: gpu\n", "device must be"),
        ("/**:\n  ros__parameters:\n    presett: tiny\n", r"unknown vatex_node parameter\(s\) \['presett'\]"),
        ("/**:\n  ros__parameters:\n    found_after: 'two'\n", "found_after must be int"),
        ("/**:\n  ros__parameters:\n    input_size: 16\n", "input_size must be 0 or >= 32"),
        ("other_node:\n  ros__parameters: {}\n", "no section applies to node /vatex/vatex_node"),
        ("vatex_node:\n  ros__parameters: {}\n", "key it '/\\*\\*:'"),  # rcl reads it as /vatex_node
        ("/**/vatex_node:\n  score_threshold: 0.3\n", "needs a 'ros__parameters' mapping"),
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


@pytest.mark.parametrize("key, applies", [
    ("/**", True), ("/**/vatex_node", True), ("/vatex/vatex_node", True), ("/*/vatex_node", True),
    ("/vatex/*", True), ("vatex/vatex_node", True), ("vatex_node", False), ("/vatex_node", False),
    ("/other/vatex_node", False), ("/**/other_node", False), ("/vatex/vatex_node/x", False),
])
def test_section_keys_match_the_node_full_name_as_rcl_does(key, applies):
    from vatex_ros.node.params import section_matches

    assert section_matches(key, "/vatex/vatex_node") is applies


def test_sections_apply_wildcards_first_then_the_full_name(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("/vatex/vatex_node:\n  ros__parameters:\n    found_after: 4\n"
                    "/**:\n  ros__parameters:\n    found_after: 7\n    lost_after: 5\n")
    params = load_params(path)
    assert (params.found_after, params.lost_after) == (4, 5)
    assert load_params(path, namespace="/robot").found_after == 7  # the named section is another node's


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
        "launch_ros.parameter_descriptions": SimpleNamespace(
            ParameterValue=lambda value, value_type: ("ParameterValue", value, value_type)),
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
    assert node["parameters"] == [built.config("params_file"),
                                  {"use_sim_time": ("ParameterValue", built.config("use_sim_time"), bool)}]
    assert load_params(built.arguments["params_file"]) == NodeParams()  # the shipped YAML is the default
    remapped = dict(node["remappings"])
    assert remapped == {name: built.config(name) for name in ("image", "depth", "camera_info")}
    assert set(built.arguments) == {"params_file", "namespace", "image", "depth", "camera_info", "use_sim_time"}
    assert built.arguments["use_sim_time"] == "false"
    assert node["namespace"] == built.config("namespace") and built.arguments["namespace"] == "vatex"


def test_vatex_node_without_rclpy_says_how_to_get_it(tmp_path):
    """The installed executable (a shell script) runs `python -m vatex_ros.rclpy`; without rclpy it explains."""
    script = ROOT / "scripts" / "vatex_node"
    assert script.read_text().startswith("#!/bin/sh") and "-m vatex_ros.rclpy" in script.read_text()
    fake_prefix = tmp_path / "lib" / "vatex_ros"  # no <prefix>/bin/python: the python3 on PATH runs it
    fake_prefix.mkdir(parents=True)
    (fake_prefix / "vatex_node").symlink_to(script)
    result = subprocess.run([str(fake_prefix / "vatex_node")], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "vatex_node needs ROS 2's rclpy" in result.stderr, result.stderr


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
    from vatex_ros.messages.definitions import vision_msgs

    root = ElementTree.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "vatex_ros"
    declared = {e.text for e in root if e.tag in ("depend", "exec_depend")}
    used = {t.ros_type.split("/")[0] for t in vars(topics).values() if isinstance(t, topics.Topic)}
    used |= {"builtin_interfaces", "rclpy", "launch", "launch_ros", "ament_index_python"}
    assert used <= declared, f"missing from package.xml: {sorted(used - declared)}"
    assert vision_msgs()  # msg/vision_msgs/ holds the definitions
