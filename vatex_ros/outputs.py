"""ROS 2 output messages of one :class:`~vatex_ros.node_core.FrameResult` (mask, detections, target, overlay).

All outputs carry the source frame's header object unchanged. Built as
:mod:`vatex_ros.messages` types; the rclpy transport converts them field by field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vatex_core.visualize import draw_overlay
from vatex_ros.image_conversion import array_to_image, mask_to_image
from vatex_ros.messages import (
    BoundingBox2D, Detection2D, Detection2DArray, Image, ObjectHypothesis, ObjectHypothesisWithPose, Point2D,
    Pose2D, VatexTarget,
)
from vatex_ros.node_core import FrameResult

@dataclass(frozen=True)
class Outputs:
    """Messages for the ``mask``, ``detections``, ``target`` and (optionally) ``overlay`` topics."""

    mask: Image
    detections: Detection2DArray
    target: VatexTarget
    overlay: Image | None


def build_outputs(result: FrameResult, with_overlay: bool) -> Outputs:
    """All output messages of one result; ``overlay`` is None unless ``with_overlay``."""
    bbox = _bbox(result.box)
    detections = Detection2DArray(header=result.header, detections=[])
    if result.found:
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=result.expression,
                                                                          score=result.score))
        detections.detections.append(Detection2D(header=result.header, results=[hypothesis], bbox=bbox,
                                                 id=result.expression))
    centroid = Point2D(*result.centroid) if result.centroid else Point2D()
    target = VatexTarget(header=result.header, expression=result.expression, found=result.found,
                         score=result.score, bbox=bbox, centroid=centroid, area=result.area,
                         latency=result.latency)
    overlay = array_to_image(_overlay(result), "rgb8", result.header) if with_overlay else None
    return Outputs(mask=mask_to_image(result.mask, result.header), detections=detections, target=target,
                   overlay=overlay)


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
