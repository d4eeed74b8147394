"""Node parameters: one dataclass, read from a ROS 2 parameters file and validated.

The same file (``config/vatex.yaml``) configures the rclpy node (``ros2 launch``) and the DDS
node (``vatex node --params``). Field metadata (help text, numeric range, choices) also
builds the rclpy parameter descriptors, so limits are written once.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vatex_ros.echo import shorten
from vatex_ros.node.frame_age import FRAME_AGE_MODES

NODE_NAME = "vatex_node"
NAMESPACE = "/vatex"  # the launch file's default; the node's full name is /vatex/vatex_node
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")
MAX_PARAMS_FILE_BYTES = 1 << 20  # a parameters file is a few kB; anything this big is not one


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases: a few hundred bytes of nested ``*refs`` ("billion laughs")
    would otherwise expand to gigabytes. ROS 2 parameter files have no use for them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted in a parameters file",
                                              mark)
        return super().compose_node(parent, index)


def read_yaml(path: str | Path) -> Any:
    """A YAML file's document, safely: no tags beyond plain data, no aliases, at most 1 MiB.

    Raises:
        ValueError: the file is too large or not valid (safe, alias-free) YAML; one line naming the file.
        OSError: the file cannot be read (missing, a directory, no permission).
    """
    path = Path(path)
    if path.stat().st_size > MAX_PARAMS_FILE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes is too large for a parameters file "
                         f"(at most {MAX_PARAMS_FILE_BYTES})")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - safe loader
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ValueError(f"{path}: not a valid parameters file{line}: {shorten(problem)}") from None
_FRAME_SIZE = re.compile(r"^[1-9]\d{0,4}x[1-9]\d{0,4}$")
_CAMERA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # one ROS name token: it becomes a sub-namespace
MAX_CAMERAS = 16


def _param(default: Any, doc: str, *, bounds: tuple[float, float] | None = None,
           choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": doc, "range": bounds, "choices": choices})


@dataclass(frozen=True)
class NodeParams:
    """Everything the node is configured with (``/**: ros__parameters:`` in the YAML)."""

    weights: str = _param("", "model weights file; empty = the embedded default of the preset")
    preset: str = _param("tiny", "model preset the weights must be", choices=("tiny", "paper"))
    device: str = _param("cpu", "torch device: cpu, cuda, cuda:N or mps")
    cpu_threads: int = _param(1, "torch intra-op threads on the CPU (set once for the process); 1 suits the tiny "
                                 "model, whose ops are too small to split (2 threads gave 0.57x the masks/s on a "
                                 "2-core machine); raise it for the paper preset; 0 = torch's default (one per "
                                 "core)", bounds=(0, 1024))
    input_size: int = _param(0, "short side (pixels) frames are resized to for the model (mask returned at "
                                "full size); 0 = the size the weights were trained at", bounds=(0, 4096))
    precision: str = _param("fp32", "inference precision: the model is converted to this dtype once at start-up "
                                    "(bf16 / fp16 for GPUs)", choices=("fp32", "bf16", "fp16"))
    backend: str = _param("torch", "what runs the model: torch, or onnxruntime (CPU, fp32: about 1.8x faster than "
                                   "PyTorch on the model call; exports a graph per input size the first time it "
                                   "meets one, tens of seconds, then loads it from $VATEX_ONNX_CACHE or "
                                   "~/.cache/vatex/onnx)", choices=("torch", "onnxruntime"))
    compile: bool = _param(False, "torch.compile the model (CUDA graphs on CUDA) for compile_frame_size; "
                                  "compiled and warmed up at start-up, not on the first frame")
    compile_frame_size: str = _param("640x480", "camera frame size WxH the model is warmed up for at start-up, so "
                                                "the first frame is not slow (with compile: compiled for; frames of "
                                                "another size compile on their first use)")
    score_threshold: float = _param(-1.0, "object probability from which a frame's prediction is found (and counts "
                                          "as a hit); -1 = the threshold calibrated for the weights (their "
                                          "manifest); the rclpy node applies a change from the next frame",
                                    bounds=(-1.0, 1.0))
    max_frame_age: float = _param(1.0, "skip frames whose stamp is older than this (s); 0 = no check",
                                  bounds=(0.0, 3600.0))
    frame_age_mode: str = _param("clock", "how max_frame_age measures age: clock = node clock - stamp (camera and "
                                          "node share a clock, or use_sim_time); offset = relative to the smallest "
                                          "delay of the last 100 frames (a camera clock off by a fixed amount)",
                                 choices=FRAME_AGE_MODES)
    publish_overlay: bool = _param(True, "publish the overlay image for people")
    found_after: int = _param(2, "consecutive hits before the target is reported found", bounds=(1, 1000))
    lost_after: int = _param(3, "consecutive misses before a found target is reported lost", bounds=(1, 1000))
    score_smoothing: float = _param(0.6, "EMA weight of the newest score; 1 = no smoothing", bounds=(0.01, 1.0))
    memory_max_gap: float = _param(1.0, "temporal model: seconds between two frames' stamps from which its memory "
                                   "of past frames starts afresh (a stamp going back always resets it)",
                                   bounds=(0.01, 3600.0))
    max_expression_length: int = _param(1000, "longer expressions are truncated (with a warning)",
                                        bounds=(1, 100_000))
    image_format: str = _param("raw", "type on the image topic: raw = sensor_msgs/Image, "
                                      "compressed = sensor_msgs/CompressedImage", choices=("raw", "compressed"))
    cameras: tuple[str, ...] = _param((), "camera names, each a sub-namespace with its own inputs (`<name>/image`, "
                                          "`<name>/depth`, `<name>/camera_info`) and outputs (`<name>/mask`, ...); "
                                          "frames of the cameras that are ready together share one batched forward; "
                                          "empty = one camera on the node's own topics")
    qos_depth: int = _param(10, "history depth of the reliable output topics", bounds=(1, 1000))
    warn_interval: float = _param(5.0, "minimum seconds between two warnings of the same kind",
                                  bounds=(0.0, 3600.0))
    use_depth: bool = _param(False, "subscribe to `depth` (aligned to the colour camera) and `camera_info` and "
                                    "publish the target in 3D (`target_point`, `target_cloud`, `detections_3d`)")
    depth_sync_tolerance: float = _param(0.02, "largest |colour stamp - depth stamp| (s) for a depth image to pair "
                                               "with a frame", bounds=(0.0, 10.0))
    depth_queue_size: int = _param(30, "depth and camera_info messages kept each for pairing (oldest dropped); "
                                       "cover the inference time at the depth rate", bounds=(1, 1000))
    depth_erosion: int = _param(2, "pixels eroded off the mask before the depth statistics, to keep off object "
                                   "edges", bounds=(0, 50))
    depth_outlier_mads: float = _param(3.0, "masked depths farther than this many scaled MADs from the median are "
                                            "outliers (background at the edges)", bounds=(0.5, 100.0))
    depth_min_points: int = _param(10, "fewer valid depth points than this: no 3D for the frame",
                                   bounds=(1, 1_000_000))
    depth_extent_percentile: float = _param(1.0, "extent = span between this percentile and 100 minus it, per axis",
                                            bounds=(0.0, 25.0))
    use_sim_time: bool = _param(False, "frame age and diagnostics stamps on the simulated clock (/clock, e.g. a bag "
                                       "replayed with --clock); rclpy declares this parameter itself")
    autostart: bool = _param(True, "rclpy lifecycle node: configure and activate at start (plain ros2 run/launch); "
                                   "false leaves it unconfigured for a lifecycle manager")
    expression: str = _param("", "expression in force from the start (survives a restart); the expression topic "
                                 "replaces it; empty = wait for one")
    max_input_pixels: int = _param(16_777_216, "frames with more pixels (width * height, read from the header "
                                               "before decoding) are skipped; a larger JPEG is decoded downscaled "
                                               "(1/2 to 1/8) when that fits", bounds=(1024, 1 << 31))
    diagnostics_period: float = _param(1.0, "seconds between two diagnostic_msgs/DiagnosticArray on /diagnostics; "
                                            "0 = none", bounds=(0.0, 3600.0))

    def __post_init__(self) -> None:
        problems = [p for f in dataclasses.fields(self) if (p := _check(f, getattr(self, f.name)))]
        if isinstance(self.score_threshold, (int, float)) and -1.0 < self.score_threshold < 0.0:
            problems.append(f"score_threshold must be -1 (calibrated) or in [0, 1], got {self.score_threshold}")
        if self.input_size and self.input_size < 32:
            problems.append(f"input_size must be 0 or >= 32, got {self.input_size}")
        if isinstance(self.compile_frame_size, str) and not _FRAME_SIZE.match(self.compile_frame_size):
            problems.append(f"compile_frame_size must be WxH, e.g. 640x480, got {self.compile_frame_size!r}")
        if isinstance(self.cameras, tuple):
            problems += _camera_problems(self.cameras)
        if isinstance(self.device, str) and not _DEVICE.match(self.device):
            problems.append(f"device must be cpu, cuda, cuda:N or mps, got {shorten(repr(self.device))}")
        if self.backend == "onnxruntime" and (self.device != "cpu" or self.precision != "fp32" or self.compile):
            problems.append(f"backend onnxruntime runs fp32 on the cpu, without compile; got device {self.device!r}, "
                            f"precision {self.precision!r}, compile {self.compile}")
        if problems:
            raise ValueError("invalid vatex_node parameters: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NodeParams:
        """Build from a ``ros__parameters`` mapping; unknown names are errors (typos must not pass)."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown vatex_node parameter(s) {shorten(unknown)}; known: {sorted(cls.names())}")
        floats = {f.name for f in dataclasses.fields(cls) if type(f.default) is float}
        lists = {f.name for f in dataclasses.fields(cls) if type(f.default) is tuple}
        return cls(**{k: float(v) if k in floats and type(v) is int else tuple(v) if k in lists and
                      isinstance(v, list) else v for k, v in values.items()})

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> NodeParams:
        """A validated copy with ``changes`` applied (used for parameter updates at run time)."""
        return self.from_dict({**dataclasses.asdict(self), **changes})


def _camera_problems(cameras: tuple) -> list[str]:
    """What is wrong with a ``cameras`` list: names that are no ROS name token, repeats, too many."""
    problems = [f"cameras: {shorten(repr(name))} is not a camera name (a letter, then letters, digits or _)"
                for name in cameras if not (isinstance(name, str) and _CAMERA_NAME.match(name))]
    repeated = sorted({name for name in cameras if isinstance(name, str) and cameras.count(name) > 1})
    if repeated:
        problems.append(f"cameras: {shorten(repeated)} named more than once")
    if len(cameras) > MAX_CAMERAS:
        problems.append(f"cameras: {len(cameras)} names, at most {MAX_CAMERAS}")
    return problems


def _check(f: dataclasses.Field, value: Any) -> str | None:
    """Type/range/choice problem of one field value, or None."""
    kind = type(f.default)
    ok_type = (isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float else (
        type(value) is kind)
    if not ok_type:
        expected = "a list" if kind is tuple else kind.__name__
        return f"{f.name} must be {expected}, got {type(value).__name__} {shorten(repr(value))}"
    low_high, choices = f.metadata["range"], f.metadata["choices"]
    if low_high and not low_high[0] <= value <= low_high[1]:
        return f"{f.name} must be in [{low_high[0]}, {low_high[1]}], got {value!r}"
    if choices and value not in choices:
        return f"{f.name} must be one of {list(choices)}, got {shorten(repr(value))}"
    return None


def section_matches(key: str, full_name: str) -> bool:
    """Whether a parameters-file key applies to the node ``full_name`` (``/ns/name``), as rcl matches them.

    rcl puts a ``/`` in front of a key without one (so ``vatex_node:`` means ``/vatex_node``, which a
    namespaced node does not match); ``*`` stands for one name token, ``**`` for any number of them.
    """
    key = key if key.startswith("/") else "/" + key
    pattern = "".join("(/[^/]+)*" if token == "**" else "/[^/]+" if token == "*" else "/" + re.escape(token)
                      for token in key.strip("/").split("/"))
    return re.fullmatch(pattern, full_name) is not None


def load_params(path: str | Path, node_name: str = NODE_NAME, namespace: str = NAMESPACE) -> NodeParams:
    """Read a ROS 2 parameters file (``key: ros__parameters: {...}``) into NodeParams.

    Keys are matched against the node's full name ``namespace/node_name`` as rcl does
    (:func:`section_matches`): ``/**``, ``/**/vatex_node`` and ``/vatex/vatex_node`` all apply to the
    default node. Sections with wildcards apply first, the full name's last, each in file order.

    Raises:
        ValueError: no section applies to the node (rcl would ignore the file silently), or a value is invalid.
    """
    document = read_yaml(path) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping of node names, got {type(document).__name__}")
    full_name = f"{namespace.rstrip('/')}/{node_name}" if namespace.strip("/") else f"/{node_name}"
    matching = [key for key in document if section_matches(str(key), full_name)]
    if not matching:
        raise ValueError(f"{path}: no section applies to node {full_name} "
                         f"(found {shorten(sorted(map(str, document)))}); "
                         f"key it '/**:' or '/**/{node_name}:' or '{full_name}:'")
    values: dict[str, Any] = {}
    for key in sorted(matching, key=lambda k: "*" not in str(k)):  # stable: wildcards first, in file order
        section = document[key]
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ValueError(f"{path}: section {shorten(repr(key))} needs a 'ros__parameters' mapping")
        values.update(section["ros__parameters"])
    try:
        return NodeParams.from_dict(values)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
