"""End to end over DDS on loopback: this process publishes frames and expressions, `vatex node` runs in
another process with vatex_core's Predictor, and this process checks what comes back."""

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ros_fakes import DdsProbe, frame_msg, scene, stop_child, wait_until

pytestmark = [pytest.mark.dds, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# A `vatex node` process starts (torch import, model load) in seconds on an idle machine and in 90 s and more with
# both cores busy and another job running: the first answer may take that long, later ones not.
START_TIMEOUT = 300.0


@contextlib.contextmanager
def node_process(env: dict, params_yaml: str, tmp_path: Path):
    """`vatex node` in a child process; stopped with SIGINT (killed if it does not end)."""
    params = tmp_path / "params.yaml"
    params.write_text(params_yaml)
    log = open(tmp_path / "node.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "vatex_ros.cli", "node", "--params", str(params),
                             "--duration", "600"],
                            cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_child(proc, log, "vatex node log")
        log.close()


def _probe():
    from cyclonedds.domain import DomainParticipant

    from vatex_ros.dds.participant import domain_id_from_env

    return DdsProbe(DomainParticipant(domain_id_from_env()))


def _stream_until(probe, expression, predicate, msg, proc, timeout):
    """Stream ``msg`` until ``predicate()``, repeating ``expression`` until the node says it is active
    (the expression topic is volatile: one published before the node matched us is lost)."""
    deadline, said = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline and not predicate() and proc.poll() is None:
        active = probe.received["active_expression"]
        if (not active or active[-1].data != expression) and time.monotonic() - said > 1.0:
            probe.say(expression)
            said = time.monotonic()
        probe.image.write(msg)
        time.sleep(0.1)
    return predicate()


def test_node_process_wiring(dds_env, random_tiny_weights, tmp_path):
    yaml = (f"/**:\n  ros__parameters:\n    weights: '{random_tiny_weights}'\n    found_after: 1\n"
            "    score_threshold: 0.0\n    max_frame_age: 0.0\n")
    with node_process(dds_env, yaml, tmp_path) as proc, contextlib.closing(_probe()) as probe:
        msg = frame_msg(scene(), stamp=time.time(), frame_id="camera_optical")
        assert _stream_until(probe, "the red block", lambda: probe.detections_for("the red block"), msg, proc,
                             START_TIMEOUT)
        assert wait_until(lambda: probe.received["mask"], timeout=30)
        mask = probe.received["mask"][-1]
        assert mask.header == msg.header and mask.encoding == "mono8" and (mask.height, mask.width) == (48, 64)
        assert mask.step == 64 and set(np.unique(np.asarray(mask.data, np.uint8))) <= {0, 255}
        assert probe.detections_for("the red block")[-1].header == msg.header
        assert wait_until(lambda: probe.received["active_expression"][-1:] and
                          probe.received["active_expression"][-1].data == "the red block", timeout=30)

        assert _stream_until(probe, "the blue block", lambda: probe.detections_for("the blue block"), msg, proc, 60)
        assert wait_until(lambda: probe.received["active_expression"][-1].data == "the blue block", timeout=30)


def _switching_scene():
    """A held-out synthetic scene, with two of its objects' expressions and true masks, that the embedded
    model segments correctly when called directly (so this test checks the node's wiring, not the model's
    quality, which tests/training/test_embedded_model.py measures)."""
    from training.config import load_config
    from training.metrics import mask_iou
    from training.synthetic import make_scenes
    from vatex_core import Predictor

    data = load_config(ROOT / "training" / "configs" / "tiny-1.2.0" / "synthetic_tiny.yaml").data
    predictor = Predictor.from_pretrained()
    for candidate in make_scenes(data.synthetic, "test", 12, data.synthetic_seed):
        rgb = candidate.load_frames()[0]
        pairs = [(o.expressions[0], candidate.load_mask(o.object_id)[0]) for o in candidate.objects[:2]]
        if len(pairs) == 2 and all(mask_iou(predictor.predict(rgb, e).mask, m) > 0.5 for e, m in pairs):
            return rgb, dict(pairs)
    pytest.fail("the embedded model segments no pair of objects in the first 12 held-out scenes")


def test_named_object_is_segmented_and_a_new_expression_switches_the_target(dds_env, tmp_path):
    yaml = "/**:\n  ros__parameters:\n    max_frame_age: 0.0\n    found_after: 1\n"
    rgb, truth = _switching_scene()
    height, width = rgb.shape[:2]
    with node_process(dds_env, yaml, tmp_path) as proc, contextlib.closing(_probe()) as probe:
        for expression, expected in truth.items():
            assert _stream_until(probe, expression,
                                 lambda e=expression: probe.detections_for(e),
                                 frame_msg(rgb, frame_id=expression), proc, START_TIMEOUT)
            assert wait_until(lambda e=expression: any(m.header.frame_id == e for m in probe.received["mask"]))
            mask = next(m for m in reversed(probe.received["mask"]) if m.header.frame_id == expression)
            got = np.asarray(mask.data, np.uint8).reshape(height, width) > 0
            iou = (got & expected).sum() / max(1, (got | expected).sum())
            assert iou > 0.5, f"{expression}: IoU {iou:.2f}"
