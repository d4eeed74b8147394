"""`vatex demo` as a user runs it: node, camera and person processes over DDS on loopback, untrained model;
and its 3D scoring on answers made up from the generator's truth."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from vatex_ros.tools.demo_report import Answer, summarize
from vatex_ros.tools.demo_stream import DemoConfig, build_script, object_depths, render_frame_depth
from vatex_ros.node.depth import DepthConfig, locate_target
from vatex_ros.tools.depth_scene import synthetic_camera_info, visible_surface_point
from vatex_ros.messages.images import mask_to_image
from vatex_ros.messages.idl import (
    Detection2D, Detection2DArray, Header, ObjectHypothesis, ObjectHypothesisWithPose, Point, PointStamped, Time,
)
from vatex_ros.dds.client import Received

ROOT = Path(__file__).resolve().parents[2]


def test_demo_depth_stream_and_3d_error_against_truth():
    cfg = DemoConfig(frames=4, frames_per_target=2)
    scenes, steps = build_script(cfg)
    info = synthetic_camera_info(cfg.width, cfg.height, Header())
    offsets = [0.0, 0.005, None, 0.002]  # metres off the truth along x; None: no target_point received
    answers = []
    for step, offset in zip(steps, offsets):
        scene = scenes[step.scene]
        header = Header(stamp=Time(sec=100 + step.index), frame_id=cfg.frame_id)
        mask = scene.load_mask(step.object_id, [step.frame])[0]
        depth = object_depths(cfg, scene)[step.object_id]
        assert cfg.near <= depth <= cfg.far
        truth = visible_surface_point(mask, depth, info)
        depth_msg, frame_info = render_frame_depth(cfg, scene, step.frame, header)  # what the camera publishes
        assert depth_msg.encoding == "16UC1" and depth_msg.header is header and frame_info.header is header
        located = locate_target(mask, depth_msg, frame_info, DepthConfig())  # a perfect mask -> the truth
        assert np.linalg.norm(located.position - truth) < 0.001
        point = None if offset is None else Received(PointStamped(header=header, point=Point(
            truth[0] + offset, truth[1], truth[2])), 0.0)
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=step.expression, score=0.9))
        detections = Detection2DArray(header=header, detections=[Detection2D(header=header, results=[hypothesis])])
        answers.append(Answer(step, Received(mask_to_image(mask, header), 0.0), Received(detections, 0.0),
                              step.expression, None, point))

    summary = summarize(cfg, scenes, len(steps), answers)
    assert summary["mean_iou"] == 1.0
    target_3d = summary["target_3d"]
    assert (target_3d["found_frames"], target_3d["with_point"], target_3d["error_mm"]["n"]) == (4, 3, 3)
    assert target_3d["error_mm"]["mean"] == pytest.approx(7 / 3, abs=1e-6)  # (0 + 5 + 2) mm / 3
    assert target_3d["error_mm"]["p95"] == pytest.approx(4.7, abs=1e-6)


@pytest.mark.dds
@pytest.mark.slow
def test_demo_writes_summary_and_gif(dds_env, random_tiny_weights, tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "vatex_ros.cli", "demo", "--frames", "12", "--fps", "6",
                           "--weights", str(random_tiny_weights), "--out", str(out), "--seed", "3"],
                          cwd=tmp_path, env={**dds_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    print(done.stdout, done.stderr)  # shown by pytest on failure
    assert done.returncode == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_in"] == 12 and 0 < summary["frames_out"] <= 12
    assert summary["dropped"] == summary["frames_in"] - summary["frames_out"]
    stats = summary["latency_ms"]["stamp_to_receive"]
    assert stats["n"] > 0 and 0 < stats["p50"] <= stats["p95"]
    assert summary["iou_frames"] > 0 and 0.0 <= summary["mean_iou"] <= 1.0
    assert 0.0 <= summary["found_rate"] <= 1.0
    assert {e["expression"] for e in summary["expressions"]} and summary["config"]["size"] == "160x128"
    with Image.open(out / "demo.gif") as gif:
        assert gif.n_frames == summary["gif_frames"] == summary["frames_out"]
        assert gif.size[0] > 2 * 160 and gif.size[1] == 128  # camera | node overlay
    target_3d = summary["target_3d"]  # an untrained model may find nothing: then only the counts are checked
    assert target_3d["with_point"] <= target_3d["found_frames"] <= summary["iou_frames"]
    assert target_3d["error_mm"]["n"] == target_3d["with_point"]
    if target_3d["with_point"]:
        assert 0.0 <= target_3d["error_mm"]["mean"] < float("inf")
    assert "frames in 12" in done.stdout and "3D: target_point on" in done.stdout
    params = yaml.safe_load((out / "node_params.yaml").read_text())["/**"]["ros__parameters"]
    assert params["use_depth"] is True
    log = (out / "node.log").read_text()
    assert "diagnostics:" in log  # the node was shut down cleanly
    diagnostics = log.split("diagnostics:")[-1]
    assert "'depth_in'" in diagnostics and "'camera_info_in'" in diagnostics  # the camera streamed depth
