"""Scoring and pictures of a demo run: what the node answered for each frame the camera sent.

Frames and outputs are matched by header stamp (the node copies the source header into every
output). IoU is computed against the generator's truth for the expression the node reports
having used, and only where that is the expression the person had said for that frame; a frame
answered with the previous expression (the switch had not reached the node yet) is counted as
``expression_lag`` instead. On the same frames, the node's ``target_point`` is compared with the
generator's 3D truth of the named object (millimetres). Frames where the person named something
not in view are scored apart: the right answer is an empty mask (not found); a non-empty one is a
false "found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from training.stream_eval import is_motion_expression
from vatex_core.visualize import draw_overlay, side_by_side
from vatex_ros.node import topics
from vatex_ros.tools.demo_stream import DemoConfig, DemoStep, object_depths
from vatex_ros.tools.depth_scene import synthetic_camera_info, visible_surface_point
from vatex_ros.messages.images import image_to_array, msg_to_rgb
from vatex_ros.tools.latency import percentiles
from vatex_ros.messages.idl import Header
from vatex_ros.dds.client import Received, stamp_key

TRUTH_COLOUR = (60, 230, 60)  # green outline of the true object


@dataclass(frozen=True)
class Answer:
    """The node's outputs for one published frame."""

    step: DemoStep
    mask: Received  # sensor_msgs/Image mono8
    detections: Received | None  # vision_msgs/Detection2DArray; None if it was not received
    expression: str | None  # the expression the node answered with (see :func:`answered_expression`)
    overlay: Received | None  # sensor_msgs/Image rgb8 (None when not received)
    point: Received | None = None  # geometry_msgs/PointStamped target_point; only for found targets with 3D

    @property
    def found(self) -> bool:
        """The node reported the target present (a non-empty ``detections``)."""
        return self.detections is not None and bool(self.detections.msg.detections)

    @property
    def score(self) -> float | None:
        """The found target's score, or None."""
        return self.detections.msg.detections[0].results[0].hypothesis.score if self.found else None


def answered_expression(detections: Received | None, mask: Received,
                        active: Sequence[Received]) -> str | None:
    """The expression a frame was answered with: the detection's class_id when found, else the last
    ``active_expression`` received before the frame's mask (the node publishes it before the frame)."""
    if detections is not None and detections.msg.detections:
        return detections.msg.detections[0].results[0].hypothesis.class_id
    earlier = [a.msg.data for a in active if a.wall_time <= mask.wall_time]
    return earlier[-1] if earlier else None


def match_answers(steps: Sequence[DemoStep], published: Mapping[tuple[int, int], int],
                  received: Mapping[str, list[Received]]) -> list[Answer]:
    """One :class:`Answer` per published frame whose mask came back, in stream order.

    Args:
        steps: the demo script.
        published: stamp (sec, nanosec) -> step index, for every frame sent.
        received: the node client's samples by output topic name.
    """
    by_stamp = {topic.name: {stamp_key(r.msg.header): r for r in received.get(topic.name, [])}
                for topic in (topics.MASK, topics.DETECTIONS, topics.OVERLAY, topics.TARGET_POINT)}
    active = received.get(topics.ACTIVE_EXPRESSION.name, [])
    answers = []
    for stamp, mask in sorted(by_stamp[topics.MASK.name].items()):
        if stamp in published:
            detections = by_stamp[topics.DETECTIONS.name].get(stamp)
            answers.append(Answer(steps[published[stamp]], mask, detections,
                                  answered_expression(detections, mask, active),
                                  by_stamp[topics.OVERLAY.name].get(stamp),
                                  by_stamp[topics.TARGET_POINT.name].get(stamp)))
    return answers


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks; 1 when both are empty."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def summarize(cfg: DemoConfig, scenes: Sequence[Any], frames_in: int, answers: Sequence[Answer]) -> dict:
    """The demo's numbers: frame counts, latencies (ms), IoU against truth, found rate, per expression, and the
    3D error (mm) of ``target_point`` on found frames."""
    ious: dict[str, list[float]] = {}
    errors: list[float] = []  # metres, per found frame with a target_point
    errors_on_target: list[float] = []  # the same, where the mask is on the named object (IoU >= 0.5)
    lag = found = absent_frames = false_found = 0
    camera_info = synthetic_camera_info(cfg.width, cfg.height, Header())
    for answer in answers:
        step = answer.step
        if answer.detections is None or answer.expression != step.expression:
            lag += answer.detections is not None and answer.expression is not None
            continue
        got = image_to_array(answer.mask.msg) > 0
        if step.absent:  # the node publishes an empty mask when the named object is not found
            absent_frames += 1
            false_found += bool(got.any())
            continue
        truth = scenes[step.scene].load_mask(step.object_id, [step.frame])[0]
        overlap = iou(got, truth)
        ious.setdefault(step.expression, []).append(overlap)
        found += answer.found
        if answer.found and answer.point is not None:
            depth = object_depths(cfg, scenes[step.scene])[step.object_id]
            point = answer.point.msg.point
            error = np.array([point.x, point.y, point.z]) - visible_surface_point(truth, depth, camera_info)
            errors.append(float(np.linalg.norm(error)))
            if overlap >= 0.5:
                errors_on_target.append(errors[-1])
    answered = [a for a in answers if a.detections is not None]
    all_ious = [value for values in ious.values() for value in values]
    motion_ious = [value for expression, values in ious.items() if is_motion_expression(expression) for value in values]
    return {
        "frames_in": frames_in,
        "frames_out": len(answers),
        "dropped": frames_in - len(answers),
        "expression_lag": lag,
        "latency_ms": {
            "stamp_to_receive": percentiles(a.mask.wall_time - _seconds(a.mask.msg.header) for a in answers),
        },
        "mean_iou": float(np.mean(all_ious)) if all_ious else None,
        "iou_frames": len(all_ious),
        # frames whose object was named by how it moves ("the red circle moving left"): a temporal model's part
        "motion_mean_iou": float(np.mean(motion_ious)) if motion_ious else None,
        "motion_iou_frames": len(motion_ious),
        "found_rate": float(np.mean([a.found for a in answered])) if answered else None,
        "expressions": [{"expression": e, "frames": len(v), "mean_iou": float(np.mean(v))} for e, v in ious.items()],
        # frames whose named object was not in view, and how many of them the node answered "found"
        "absent": {"frames": absent_frames, "false_found": false_found,
                   "false_found_rate": false_found / absent_frames if absent_frames else None},
        "target_3d": {"found_frames": found, "with_point": len(errors),  # of the IoU frames
                      "error_mm": percentiles(errors),  # |target_point - truth|, p50/p95/mean/n
                      # the 3D step's own accuracy: frames whose mask is on the named object
                      "error_mm_mask_on_target": percentiles(errors_on_target)},
        "config": {"frames": cfg.frames, "fps": cfg.fps, "seed": cfg.seed, "size": f"{cfg.width}x{cfg.height}"},
    }


def write_gif(path: Path, scenes: Sequence[Any], answers: Sequence[Answer], fps: float, max_frames: int = 200) -> int:
    """Animated GIF: camera frame with the true object outlined | the node's overlay; returns frames written."""
    picked = answers if len(answers) <= max_frames else [answers[i] for i in
                                                         np.linspace(0, len(answers) - 1, max_frames).astype(int)]
    pictures = [PILImage.fromarray(_panel(scenes, answer)) for answer in picked]
    if pictures:
        pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0)
    return len(pictures)


def _panel(scenes: Sequence[Any], answer: Answer) -> np.ndarray:
    step = answer.step
    scene = scenes[step.scene]
    rgb = scene.load_frames([step.frame])[0]
    truth = scene.load_mask(step.object_id, [step.frame])[0]
    camera = np.array(draw_overlay(rgb, np.zeros_like(truth), None, f"said: {step.expression}"))  # writable
    camera[_outline(truth)] = TRUTH_COLOUR
    if answer.overlay is not None:
        node = msg_to_rgb(answer.overlay.msg)
    else:  # no overlay came back for this frame; draw the same picture from the mask
        label = f"{answer.expression} ({answer.score:.2f})" if answer.found else answer.expression
        node = draw_overlay(rgb, image_to_array(answer.mask.msg) > 0, None, label)
    return side_by_side(camera, node)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of a (H, W) bool mask with a 4-neighbour outside it."""
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def _seconds(header: Any) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def format_summary(summary: dict) -> str:
    """The summary as a few lines for the terminal."""
    def ms(stats: dict) -> str:
        return "n/a" if stats["p50"] is None else f"p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms"

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def mm(stats: dict) -> str:
        return "n/a" if stats["n"] == 0 else f"p50 {stats['p50']:.1f} mm, p95 {stats['p95']:.1f} mm (n {stats['n']})"

    latency, target_3d, absent = summary["latency_ms"], summary["target_3d"], summary["absent"]
    return "\n".join([
        f"frames in {summary['frames_in']}, out {summary['frames_out']}, dropped {summary['dropped']} "
        f"({summary['expression_lag']} answered with the previous expression)",
        f"latency stamp->mask received: {ms(latency['stamp_to_receive'])}",
        f"mean IoU vs truth {number(summary['mean_iou'])} over {summary['iou_frames']} frames; "
        f"found rate {number(summary['found_rate'])}",
        f"named by its motion: mean IoU {number(summary['motion_mean_iou'])} "
        f"over {summary['motion_iou_frames']} frames",
        f"named object not in view: {absent['frames']} frames, false found on {absent['false_found']}",
        f"3D: target_point on {target_3d['with_point']} of {target_3d['found_frames']} found frames; "
        f"centroid error {mm(target_3d['error_mm'])}; with the mask on the named object (IoU >= 0.5) "
        f"{mm(target_3d['error_mm_mask_on_target'])}",
    ])
