"""ROS 2 output messages of one :class:`~vatex_ros.node.results.FrameResult` (mask, detections, label image,
overlay, and with depth the target's point, cloud and 3D detection). Standard messages only.

With several expressions in force: ``mask`` is the union of the found targets, ``labels`` tells them apart (pixel
= 1-based index of the expression in the list; where targets overlap, the earlier expression's), ``detections``
holds one Detection2D per found target (class_id = its expression, id = its target id), ``detections_3d`` one per
target located in 3D; ``target_point`` and ``target_cloud`` are the first expression's (a planner following one
point must not have it switch objects when the first target is lost). With one expression everything is as it
always was.

All outputs carry the source frame's header object unchanged (3D ones are in its optical frame). Built as
:mod:`vatex_ros.messages.idl` types; the rclpy transport converts them field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vatex_core.visualize import draw_overlay
from vatex_ros.messages.images import array_to_image, mask_to_image, octets
from vatex_ros.messages.idl import (
    BoundingBox2D, BoundingBox3D, Detection2D, Detection2DArray, Detection3D, Detection3DArray, Header, Image,
    ObjectHypothesis, ObjectHypothesisWithPose, Point, Point2D, PointCloud2, PointField, PointStamped, Pose, Pose2D,
    PoseWithCovariance, Vector3,
)
from vatex_ros.node.results import FrameResult, TargetResult

_XYZ_FIELDS = [PointField(name=axis, offset=4 * i, datatype=PointField.FLOAT32, count=1)
               for i, axis in enumerate("xyz")]


@dataclass(frozen=True)
class Outputs:
    """Messages for the ``mask``, ``detections`` and optional topics (None = not published).

    ``overlay`` needs ``publish_overlay``; ``target_point``, ``target_cloud`` and ``detections_3d`` exist for
    frames with a 3D result only (a planner must never receive a made-up point).
    """

    mask: Image
    detections: Detection2DArray
    overlay: Image | None
    target_point: PointStamped | None = None
    target_cloud: PointCloud2 | None = None
    detections_3d: Detection3DArray | None = None
    labels: Image | None = None

    def by_topic(self) -> dict[str, Any]:
        """``{relative topic name: message}`` of the messages to publish."""
        return {name: msg for name, msg in (("mask", self.mask), ("detections", self.detections),
                                            ("labels", self.labels), ("overlay", self.overlay),
                                            ("target_point", self.target_point), ("target_cloud", self.target_cloud),
                                            ("detections_3d", self.detections_3d)) if msg is not None}


def build_outputs(result: FrameResult, with_overlay: bool, with_labels: bool = False) -> Outputs:
    """All output messages of one result; ``overlay`` and ``labels`` are None unless asked for (each costs a
    full-size image)."""
    header, found = result.header, [target for target in result.targets if target.found]
    detections = Detection2DArray(header=header, detections=[_detection_2d(target, header) for target in found])
    point = cloud = None
    first = result.targets[0].target_3d
    if first is not None:
        point = PointStamped(header=header, point=Point(*first.position.tolist()))
        cloud = point_cloud(first.points, header)
    located = [_detection_3d(target, header) for target in result.targets if target.target_3d is not None]
    detections_3d = Detection3DArray(header=header, detections=located) if located else None
    overlay = array_to_image(_overlay(result), "rgb8", header) if with_overlay else None
    labels = array_to_image(label_image(result), "mono8", header) if with_labels else None
    return Outputs(mask=mask_to_image(_union(result, found), header), detections=detections, overlay=overlay,
                   target_point=point, target_cloud=cloud, detections_3d=detections_3d, labels=labels)


def _union(result: FrameResult, found: list[TargetResult]) -> np.ndarray:
    """(H, W) bool: the one target's mask, or with several expressions the union of the found ones."""
    if len(result.targets) == 1 or not found:
        return result.targets[0].mask
    if len(found) == 1:
        return found[0].mask
    return np.logical_or.reduce([target.mask for target in found])


def label_image(result: FrameResult) -> np.ndarray:
    """(H, W) uint8: 1-based index of the expression whose found target covers a pixel, 0 = none; where targets
    overlap, the earlier expression in the list wins. At most 255 expressions (the node keeps 8)."""
    labels = np.zeros(result.rgb.shape[:2], dtype=np.uint8)
    for index in range(len(result.targets), 0, -1):  # last first: earlier ones paint over later ones
        target = result.targets[index - 1]
        if target.found and target.box is not None:
            x_min, y_min, x_max, y_max = (int(v) for v in target.box)
            window = (slice(y_min, y_max + 1), slice(x_min, x_max + 1))  # only the box: no full-frame pass
            labels[window][target.mask[window]] = index
    return labels


def _detection_2d(target: TargetResult, header: Header) -> Detection2D:
    """vision_msgs/Detection2D of a found target: class_id = expression, id = target id."""
    hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=target.expression, score=target.score))
    return Detection2D(header=header, results=[hypothesis], bbox=_bbox(target.box), id=str(target.target_id))


def _detection_3d(target: TargetResult, header: Header) -> Detection3D:
    """vision_msgs/Detection3D of a located target: centre = robust centroid, size = extent, axes = the camera's."""
    pose = Pose(position=Point(*target.target_3d.position.tolist()))  # identity orientation: camera axes
    hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=target.expression, score=target.score),
                                          pose=PoseWithCovariance(pose=pose))
    box = BoundingBox3D(center=pose, size=Vector3(*target.target_3d.extent.tolist()))
    return Detection3D(header=header, results=[hypothesis], bbox=box, id=str(target.target_id))


def point_cloud(points: np.ndarray, header: Header) -> PointCloud2:
    """An unordered sensor_msgs/PointCloud2 with float32 x, y, z (little endian, 12 bytes a point).

    Args:
        points: (N, 3) coordinates, metres (finite ones from :mod:`vatex_ros.node.depth`).
        header: used as is.

    ``data`` views ``points`` when they are C-contiguous little-endian float32 (serializing copies them once).
    """
    data = np.ascontiguousarray(points, dtype="<f4")  # (N, 3)
    return PointCloud2(header=header, height=1, width=len(data), fields=list(_XYZ_FIELDS), is_bigendian=False,
                       point_step=12, row_step=12 * len(data), data=octets(data),
                       is_dense=bool(np.isfinite(data).all()))  # dense = no invalid point


def _overlay(result: FrameResult) -> np.ndarray:
    """The frame with each target's mask, box and "expression (score)" drawn, for people."""
    picture = result.rgb
    for target in result.targets:
        edges = None if target.box is None else (target.box[0], target.box[1], target.box[2] + 1, target.box[3] + 1)
        if target.found or len(result.targets) == 1:  # one expression: its name and score even when not found
            picture = draw_overlay(picture, target.mask, edges, f"{target.expression} ({target.score:.2f})")
    return picture


def _bbox(box: tuple[float, float, float, float] | None) -> BoundingBox2D:
    """vision_msgs box (centre + size, pixels) of inclusive pixel bounds; zeros for None."""
    if box is None:
        return BoundingBox2D()
    x_min, y_min, x_max, y_max = box
    center = Pose2D(position=Point2D(x=(x_min + x_max) / 2, y=(y_min + y_max) / 2), theta=0.0)
    return BoundingBox2D(center=center, size_x=x_max - x_min + 1, size_y=y_max - y_min + 1)
