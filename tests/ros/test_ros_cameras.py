"""Several cameras and several expressions in one node core: one batched forward, silent cameras, list changes."""

import threading

import numpy as np
import pytest
from ros_fakes import COLOURS, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.messages.images import image_to_array
from vatex_ros.node.core import NodeCore
from vatex_ros.node.diagnostics import diagnostic_array
from vatex_ros.node.expressions import MAX_EXPRESSIONS
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NodeParams
from vatex_ros.messages.idl import Time


def make_core(predictor, clock, **params):
    results, expressions = [], []
    core = NodeCore(predictor, NodeParams.from_dict({"found_after": 1, **params}), results.append,
                    expressions.append, clock=clock, monotonic=clock)
    return core, results, expressions


def scene_with_green() -> np.ndarray:
    """:func:`scene` (red and blue squares) with a green square too."""
    rgb = scene()
    rgb[30:40, 20:30] = COLOURS["green"]
    return rgb


def test_two_cameras_two_expressions_share_one_batch(fake_predictor, fake_clock):
    core, results, expressions = make_core(fake_predictor, fake_clock, cameras=["head", "wrist"])
    assert core.cameras == ["head", "wrist"]
    assert core.set_expressions("the red block; the blue block")
    core.submit_frame(frame_msg(scene(), frame_id="head_optical"), "head")
    core.submit_frame(frame_msg(scene(), frame_id="wrist_optical"), "wrist")
    stepped = core.step_cameras()
    assert expressions == ["the red block; the blue block"]
    (batch,) = fake_predictor.batches  # both cameras, both expressions: one step_batch call
    assert len(batch) == 4 and len({session for session, _ in batch}) == 4  # a stream per (camera, expression)
    assert batch[0][1] == batch[1][1] != batch[2][1] == batch[3][1]  # one image object per camera frame
    assert [r.camera for r in stepped] == ["head", "wrist"] and results == stepped
    assert [r.header.frame_id for r in stepped] == ["head_optical", "wrist_optical"]
    for result in stepped:
        red, blue = result.targets
        assert (red.expression, blue.expression) == ("the red block", "the blue block")
        assert red.found and blue.found and red.area == 100 and blue.area == 300
        assert red.target_id and blue.target_id and red.target_id != blue.target_id
    # every (camera, expression) stream has its own target id
    assert len({t.target_id for r in stepped for t in r.targets}) == 4
    counts = core.diagnostics.counts()
    assert counts["batches"] == 1 and counts["head.frames_out"] == counts["wrist.frames_out"] == 1


def test_outputs_of_two_expressions(fake_predictor, fake_clock):
    core, _, _ = make_core(fake_predictor, fake_clock)
    core.set_expressions(["the red block", "the green block", "the blue block"])
    core.submit_frame(frame_msg(scene()))
    result = core.step()
    assert [t.found for t in result.targets] == [True, False, True]
    outputs = build_outputs(result, with_overlay=True, with_labels=True)
    detections = outputs.detections.detections
    assert [d.results[0].hypothesis.class_id for d in detections] == ["the red block", "the blue block"]
    assert [d.id for d in detections] == [str(result.targets[0].target_id), str(result.targets[2].target_id)]
    mask = image_to_array(outputs.mask)
    assert (mask == 255).sum() == 100 + 300 and set(np.unique(mask)) == {0, 255}  # the union of the found
    labels = image_to_array(outputs.labels)
    assert (labels == 1).sum() == 100 and (labels == 3).sum() == 300 and (labels == 2).sum() == 0
    assert labels[15, 10] == 1 and labels[30, 50] == 3 and labels[0, 0] == 0
    assert outputs.overlay.height == 48 and set(outputs.by_topic()) == {"mask", "detections", "labels", "overlay"}


def test_overlapping_targets_label_the_earlier_expression(fake_predictor, fake_clock):
    core, _, _ = make_core(fake_predictor, fake_clock)
    core.set_expressions("the blue block\nthe blue thing")  # both name the same pixels
    core.submit_frame(frame_msg(scene()))
    labels = image_to_array(build_outputs(core.step(), with_overlay=False, with_labels=True).labels)
    assert (labels == 1).sum() == 300 and (labels == 2).sum() == 0


def test_silent_camera_never_blocks_the_other(fake_clock):
    predictor = FakePredictor(delay=0.01)
    core, results, _ = make_core(predictor, fake_clock, cameras=["head", "wrist"], max_frame_age=0.0)
    core.set_expression("the red block")
    core.start()
    try:
        for index in range(5):  # the wrist camera sends nothing at all
            core.submit_frame(frame_msg(scene(), stamp=float(index + 1)), "head")
            assert wait_until(lambda: len(results) == index + 1, 10), core.diagnostics.counts()
        assert [r.camera for r in results] == ["head"] * 5
        core.submit_frame(frame_msg(scene(), stamp=6.0), "wrist")  # it wakes up: served next to the head
        assert wait_until(lambda: len(results) == 6, 10) and results[-1].camera == "wrist"
    finally:
        core.stop()
    assert core.diagnostics.counts().get("frame_too_old", 0) == 0


def test_slow_camera_frames_do_not_delay_the_other(fake_clock):
    """A camera whose frame is being processed gets its next one replaced, never queued; the other keeps its
    newest frame too and both go in the next batch."""
    predictor = FakePredictor(delay=0.05)
    core, results, _ = make_core(predictor, fake_clock, cameras=["head", "wrist"], max_frame_age=0.0)
    core.set_expression("the red block")
    core.start()
    try:
        for index in range(10):
            core.submit_frame(frame_msg(scene(), stamp=float(index + 1), frame_id=f"h{index}"), "head")
            if index % 5 == 0:
                core.submit_frame(frame_msg(scene(), stamp=float(index + 1), frame_id=f"w{index}"), "wrist")
        assert wait_until(lambda: {"h9", "w5"} <= {r.header.frame_id for r in results}, 10)
    finally:
        core.stop()
    wrist = [r.header.frame_id for r in results if r.camera == "wrist"]
    assert wrist[-1] == "w5" and set(wrist) <= {"w0", "w5"}  # w0 may be replaced by w5 before the worker took it
    head = [int(r.header.frame_id[1:]) for r in results if r.camera == "head"]
    assert head == sorted(head) and len(head) < 10  # newest frame wins: never a queue
    assert core.diagnostics.counts()["frames_replaced"] >= 1


def test_expression_list_change_keeps_the_streams_of_kept_expressions(fake_predictor, fake_clock):
    core, results, expressions = make_core(fake_predictor, fake_clock, cameras=["head", "wrist"])
    core.set_expressions("the red block; the blue block")
    for camera in core.cameras:
        core.submit_frame(frame_msg(scene()), camera)
    first = core.step_cameras()
    red_ids = [r.targets[0].target_id for r in first]
    assert len(fake_predictor.sessions) == 4
    core.set_expressions("the red block; the green block")  # blue dropped, green new, red kept
    for camera in core.cameras:
        core.submit_frame(frame_msg(scene_with_green()), camera)
    second = core.step_cameras()
    assert expressions[-1] == "the red block; the green block" and len(fake_predictor.sessions) == 6
    assert [t.expression for t in second[0].targets] == ["the red block", "the green block"]
    assert [r.targets[0].target_id for r in second] == red_ids  # the kept streams keep their ids
    assert core.diagnostics.counts()["memory_resets_expression"] == 2  # blue ended on both cameras
    core.set_expressions("the red block; the green block")  # re-sent: nothing changes
    core.set_expression("the red block")  # a single expression replaces the list
    for camera in core.cameras:
        core.submit_frame(frame_msg(scene()), camera)
    third = core.step_cameras()
    assert [len(r.targets) for r in third] == [1, 1] and expressions[-1] == "the red block"
    assert len(fake_predictor.sessions) == 6 and core.diagnostics.counts()["memory_resets_expression"] == 4
    assert [r.target_id for r in third] == red_ids


def test_expression_list_input_is_cleaned_and_bounded(fake_predictor, fake_clock):
    core, _, expressions = make_core(fake_predictor, fake_clock)
    assert not core.set_expressions(" ; \n ;")
    assert core.diagnostics.counts()["expression_empty"] == 1
    assert not core.set_expressions(b"\xff; red")
    assert core.set_expressions("  the  red block ; the red block;\nblue ")
    core.step()
    assert expressions == ["the red block; blue"]
    assert core.set_expressions(";".join(f"red {i}" for i in range(MAX_EXPRESSIONS + 3)))
    core.step()
    assert len(core.active_expressions()) == MAX_EXPRESSIONS
    assert core.diagnostics.counts()["expressions_dropped"] == 3


def test_rejected_expression_in_a_list_leaves_the_others(fake_predictor, fake_clock, monkeypatch):
    core, _, expressions = make_core(fake_predictor, fake_clock)
    real = fake_predictor.stream
    monkeypatch.setattr(fake_predictor, "stream", lambda e, max_gap=1.0: real("") if "bad" in e else real(e, max_gap))
    core.set_expressions("red; bad one; blue")
    core.submit_frame(frame_msg(scene()))
    result = core.step()
    assert [t.expression for t in result.targets] == ["red", "blue"] and expressions == ["red; blue"]
    assert core.diagnostics.counts()["expression_rejected"] == 1


def test_unknown_camera_is_an_error(fake_predictor, fake_clock):
    core, _, _ = make_core(fake_predictor, fake_clock, cameras=["head"])
    with pytest.raises(KeyError, match="no camera 'wrist'"):
        core.submit_frame(frame_msg(scene()), "wrist")


@pytest.mark.parametrize("cameras, problem", [(["head", "head"], "more than once"), (["1cam"], "not a camera name"),
                                              (["a/b"], "not a camera name"), ("head", "must be a list")])
def test_camera_names_are_checked(cameras, problem):
    with pytest.raises(ValueError, match=problem):
        NodeParams.from_dict({"cameras": cameras})


def test_per_camera_counters_are_traffic_not_faults():
    array = diagnostic_array({"frames_in": 2, "frames_out": 2, "head.frames_in": 1, "head.frames_out": 1},
                             Time(sec=1), "vatex_node", previous={})
    assert array.status[0].level == 0  # OK: per-camera traffic is no fault


def test_frames_of_many_cameras_are_answered_under_concurrent_submits(fake_clock):
    predictor = FakePredictor(delay=0.002)
    names = [f"cam{i}" for i in range(4)]
    core, results, _ = make_core(predictor, fake_clock, cameras=names, max_frame_age=0.0)
    core.set_expressions("red; blue")
    core.start()

    def camera(name: str) -> None:
        for index in range(20):
            core.submit_frame(frame_msg(scene(), stamp=float(index + 1), frame_id=f"{name}-{index}"), name)

    threads = [threading.Thread(target=camera, args=(name,)) for name in names]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert wait_until(lambda: {f"{n}-19" for n in names} <= {r.header.frame_id for r in results}, 10)
    finally:
        core.stop()
    assert max(len(batch) for batch in predictor.batches) > 2  # frames of several cameras went in together


def test_geometry_from_the_predictors_box_equals_the_geometry_of_the_mask():
    from vatex_core.predictor import mask_box
    from vatex_ros.node.core import _geometry

    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = np.zeros((40, 60), bool)
        y, x = rng.integers(0, 30), rng.integers(0, 50)
        mask[y:y + rng.integers(1, 10), x:x + rng.integers(1, 10)] = True
        mask &= rng.random(mask.shape) < 0.7  # holes; the box may shrink
        if mask.any():
            assert _geometry(mask, mask_box(mask)) == _geometry(mask)
