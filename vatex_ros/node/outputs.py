"""ROS 2 output messages of one :class:`~vatex_ros.node.core.FrameResult` (mask, detections, overlay, and with
depth the target's point, cloud and 3D detection). Standard messages only.

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
from vatex_ros.node.core import FrameResult

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

    def by_topic(self) -> dict[str, Any]:
        """``{relative topic name: message}`` of the messages to publish."""
        return {name: msg for name, msg in (("mask", self.mask), ("detections", self.detections),
                                            ("overlay", self.overlay), ("target_point", self.target_point),
                                            ("target_cloud", self.target_cloud),
                                            ("detections_3d", self.detections_3d)) if msg is not None}


def build_outputs(result: FrameResult, with_overlay: bool) -> Outputs:
    """All output messages of one result; ``overlay`` is None unless ``with_overlay``."""
    bbox = _bbox(result.box)
    detections = Detection2DArray(header=result.header, detections=[])
    if result.found:
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=result.expression,
                                                                          score=result.score))
        detections.detections.append(Detection2D(header=result.header, results=[hypothesis], bbox=bbox,
                                                 id=str(result.target_id)))
    point = cloud = detections_3d = None
    if result.target_3d is not None:
        located = result.target_3d
        position = Point(*located.position.tolist())
        point = PointStamped(header=result.header, point=position)
        cloud = point_cloud(located.points, result.header)
        detections_3d = Detection3DArray(header=result.header, detections=[_detection_3d(result, position)])
    overlay = array_to_image(_overlay(result), "rgb8", result.header) if with_overlay else None
    return Outputs(mask=mask_to_image(result.mask, result.header), detections=detections, overlay=overlay,
                   target_point=point, target_cloud=cloud, detections_3d=detections_3d)


def _detection_3d(result: FrameResult, position: Point) -> Detection3D:
    """vision_msgs/Detection3D of a located target: centre = robust centroid, size = extent, axes = the camera's."""
    pose = Pose(position=position)  # identity orientation: an axis-aligned box in the optical frame
    hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=result.expression, score=result.score),
                                          pose=PoseWithCovariance(pose=pose))
    box = BoundingBox3D(center=pose, size=Vector3(*result.target_3d.extent.tolist()))
    return Detection3D(header=result.header, results=[hypothesis], bbox=box, id=str(result.target_id))


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
    """The frame with mask, box and "expression (score)" drawn, for people."""
    edges = None if result.box is None else (result.box[0], result.box[1], result.box[2] + 1, result.box[3] + 1)
    return draw_overlay(result.rgb, result.mask, edges, f"{result.expression} ({result.score:.2f})")


def _bbox(box: tuple[float, float, float, float] | None) -> BoundingBox2D:
    """vision_msgs box (centre + size, pixels) of inclusive pixel bounds; zeros for None."""
    if box is None:
        return BoundingBox2D()
    x_min, y_min, x_max, y_max = box
    center = Pose2D(position=Point2D(x=(x_min + x_max) / 2, y=(y_min + y_max) / 2), theta=0.0)
    return BoundingBox2D(center=center, size_x=x_max - x_min + 1, size_y=y_max - y_min + 1)
