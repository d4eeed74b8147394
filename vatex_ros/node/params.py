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

NODE_NAME = "vatex_node"
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")
_FRAME_SIZE = re.compile(r"^[1-9]\d{0,4}x[1-9]\d{0,4}$")


def _param(default: Any, doc: str, *, bounds: tuple[float, float] | None = None,
           choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": doc, "range": bounds, "choices": choices})


@dataclass(frozen=True)
class NodeParams:
    """Everything the node is configured with (``vatex_node: ros__parameters:`` in the YAML)."""

    weights: str = _param("", "model weights file; empty = the embedded default of the preset")
    preset: str = _param("tiny", "model preset the weights must be", choices=("tiny", "paper"))
    device: str = _param("cpu", "torch device: cpu, cuda, cuda:N or mps")
    input_size: int = _param(0, "short side (pixels) frames are resized to for the model (mask returned at "
                                "full size); 0 = the size the weights were trained at", bounds=(0, 4096))
    precision: str = _param("fp32", "inference precision: the model is converted to this dtype once at start-up "
                                    "(bf16 / fp16 for GPUs)", choices=("fp32", "bf16", "fp16"))
    compile: bool = _param(False, "torch.compile the model (CUDA graphs on CUDA) for compile_frame_size; "
                                  "compiled and warmed up at start-up, not on the first frame")
    compile_frame_size: str = _param("640x480", "camera frame size WxH the compiled model is warmed up for "
                                                "(frames of another size compile on their first use)")
    score_threshold: float = _param(0.5, "smoothed score needed to count a frame as a hit", bounds=(0.0, 1.0))
    max_frame_age: float = _param(1.0, "skip frames whose stamp is older than this (s); 0 = no check",
                                  bounds=(0.0, 3600.0))
    publish_overlay: bool = _param(True, "publish the overlay image for people")
    found_after: int = _param(2, "consecutive hits before the target is reported found", bounds=(1, 1000))
    lost_after: int = _param(3, "consecutive misses before a found target is reported lost", bounds=(1, 1000))
    score_smoothing: float = _param(0.6, "EMA weight of the newest score; 1 = no smoothing", bounds=(0.01, 1.0))
    max_expression_length: int = _param(1000, "longer expressions are truncated (with a warning)",
                                        bounds=(1, 100_000))
    image_format: str = _param("raw", "type on the image topic: raw = sensor_msgs/Image, "
                                      "compressed = sensor_msgs/CompressedImage", choices=("raw", "compressed"))
    qos_depth: int = _param(10, "history depth of the reliable output topics", bounds=(1, 1000))
    warn_interval: float = _param(5.0, "minimum seconds between two warnings of the same kind",
                                  bounds=(0.0, 3600.0))
    use_depth: bool = _param(False, "subscribe to `depth` (aligned to the colour camera) and `camera_info` and "
                                    "publish the target in 3D (`target_point`, `target_cloud`, VatexTarget 3D fields)")
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

    def __post_init__(self) -> None:
        problems = [p for f in dataclasses.fields(self) if (p := _check(f, getattr(self, f.name)))]
        if self.input_size and self.input_size < 32:
            problems.append(f"input_size must be 0 or >= 32, got {self.input_size}")
        if isinstance(self.compile_frame_size, str) and not _FRAME_SIZE.match(self.compile_frame_size):
            problems.append(f"compile_frame_size must be WxH, e.g. 640x480, got {self.compile_frame_size!r}")
        if isinstance(self.device, str) and not _DEVICE.match(self.device):
            problems.append(f"device must be cpu, cuda, cuda:N or mps, got {self.device!r}")
        if problems:
            raise ValueError("invalid vatex_node parameters: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NodeParams:
        """Build from a ``ros__parameters`` mapping; unknown names are errors (typos must not pass)."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown vatex_node parameter(s) {unknown}; known: {sorted(cls.names())}")
        floats = {f.name for f in dataclasses.fields(cls) if type(f.default) is float}
        return cls(**{k: float(v) if k in floats and type(v) is int else v for k, v in values.items()})

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> NodeParams:
        """A validated copy with ``changes`` applied (used for parameter updates at run time)."""
        return self.from_dict({**dataclasses.asdict(self), **changes})


def _check(f: dataclasses.Field, value: Any) -> str | None:
    """Type/range/choice problem of one field value, or None."""
    kind = type(f.default)
    ok_type = (isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float else (
        type(value) is kind)
    if not ok_type:
        return f"{f.name} must be {kind.__name__}, got {type(value).__name__} {value!r}"
    low_high, choices = f.metadata["range"], f.metadata["choices"]
    if low_high and not low_high[0] <= value <= low_high[1]:
        return f"{f.name} must be in [{low_high[0]}, {low_high[1]}], got {value!r}"
    if choices and value not in choices:
        return f"{f.name} must be one of {list(choices)}, got {value!r}"
    return None


def load_params(path: str | Path, node_name: str = NODE_NAME) -> NodeParams:
    """Read a ROS 2 parameters file (``node: ros__parameters: {...}``) into NodeParams.

    Entries under ``/**`` apply first, then those under ``node_name`` or any ``/ns/node_name``.

    Raises:
        ValueError: the file has no section for the node, or a value is invalid.
    """
    document = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping of node names, got {type(document).__name__}")
    wildcard = [key for key in document if key == "/**"]
    named = [key for key in document if key.lstrip("/").split("/")[-1] == node_name]
    if not wildcard + named:
        raise ValueError(f"{path}: no section for node {node_name!r} (found {sorted(document)})")
    values: dict[str, Any] = {}
    for key in wildcard + named:
        section = document[key]
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ValueError(f"{path}: section {key!r} needs a 'ros__parameters' mapping")
        values.update(section["ros__parameters"])
    try:
        return NodeParams.from_dict(values)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
