"""Motion videos: words that match the motion, look-alikes, objects out of view, shake; the stream metrics."""

import hashlib

import numpy as np
import pytest

from training.stream_eval import StreamReport, _identities, _latencies, is_motion_expression, motion_kind
from training.synthetic import SyntheticConfig, make_motion_scenes, parse, referents
from training.synthetic.language import MOTIONS
from vatex_core import Prediction

CFG = SyntheticConfig(no_target_rate=0.35)


@pytest.fixture(scope="module")
def scenes():
    return make_motion_scenes(CFG, "val", 40, seed=0)


def _digest(scene) -> str:
    return hashlib.sha1(scene.load_frames().tobytes()).hexdigest()


def test_same_seed_same_videos_and_splits_apart():
    a, b = make_motion_scenes(CFG, "train", 3, seed=4), make_motion_scenes(CFG, "train", 3, seed=4)
    assert [_digest(s) for s in a] == [_digest(s) for s in b]
    assert [[o.expressions for o in s.objects] for s in a] == [[o.expressions for o in s.objects] for s in b]
    others = make_motion_scenes(CFG, "val", 3, seed=4)
    assert not {_digest(s) for s in a} & {_digest(s) for s in others}
    assert a[0].load_frames().shape == (CFG.motion.num_frames, CFG.height, CFG.width, 3)


def test_motion_words_say_how_the_object_moves(scenes):
    checked = 0
    for scene in scenes:
        truth = {t.object_id: t for t in scene.truth}
        for obj in scene.objects:
            for text in obj.expressions:
                expression = parse(text)
                if obj.no_target:  # names nothing: no object of the scene does what it says
                    assert referents(expression, scene.truth, scene.image_size) == frozenset()
                    continue
                if expression.motion is None:
                    continue
                velocity = ((truth[obj.object_id].centers[-1] - truth[obj.object_id].centers[0])
                            / (CFG.motion.num_frames - 1))
                dx, dy = velocity
                expected = {"left": dx < 0 and abs(dx) > abs(dy), "right": dx > 0 and abs(dx) > abs(dy),
                            "up": dy < 0 and abs(dy) > abs(dx), "down": dy > 0 and abs(dy) > abs(dx),
                            "still": not velocity.any(), "moving": bool(velocity.any())}[expression.motion]
                assert expected, (text, velocity)
                checked += 1
    assert checked > 100


def test_look_alikes_told_apart_by_motion_only(scenes):
    """Some motion expressions name one of two objects of the same shape and colour."""
    found = 0
    for scene in scenes:
        for obj in scene.objects:
            if obj.no_target:
                continue
            target = next(t for t in scene.truth if t.object_id == obj.object_id)
            twins = [t for t in scene.truth if t is not target and (t.shape, t.colour) == (target.shape, target.colour)]
            if twins and any(parse(e).motion in MOTIONS and parse(e).head.colour and parse(e).head.noun != "shape"
                             for e in obj.expressions if parse(e).motion):
                found += 1
    assert found >= 5


def test_objects_leave_the_view_or_hide_and_masks_follow(scenes):
    absent_frames = [t for s in scenes for o in s.objects if not o.no_target
                     for t, mask in enumerate(s.load_mask(o.object_id)) if not mask.any()]
    assert len(absent_frames) > 20  # some named objects are out of view for a while
    for scene in scenes:  # an object is seen at least once
        for obj in scene.objects:
            if not obj.no_target:
                assert scene.load_mask(obj.object_id).any()


def test_motion_expressions_are_recognised():
    assert is_motion_expression("the red circle moving left")
    assert is_motion_expression("the fastest blue square") and is_motion_expression("the star that is not moving")
    assert not is_motion_expression("the red circle on the left")
    assert motion_kind("the red circle moving left") == "direction"
    assert motion_kind("the star that is not moving") == motion_kind("the star that is moving") == "moving or still"
    assert motion_kind("the slowest green star") == "speed" and motion_kind("the biggest star") is None


def test_latencies_count_frames_to_found_and_to_lost():
    present = np.array([False, True, True, True, False, False, True])
    found = np.array([False, False, True, True, True, False, True])
    assert _latencies(present, found) == ([1, 0], [1])
    assert _latencies(np.array([True, True]), np.array([False, False])) == ([2], [])  # never found: to the end


def _prediction(mask: np.ndarray, found: bool = True) -> Prediction:
    return Prediction(mask, 0.9 if found else 0.1, None, None, found=found)


def test_identity_switches_count_changes_of_the_covered_object():
    a, b = np.zeros((3, 8, 8), bool), np.zeros((3, 8, 8), bool)
    a[:, :4, :4] = True
    b[:, 4:, 4:] = True
    predictions = [_prediction(a[0]), _prediction(b[1]), _prediction(np.zeros((8, 8), bool), found=False)]
    assert _identities(predictions, {"1": a, "2": b}) == ["1", "2", None]
    report = StreamReport()
    report.update("the red circle moving left", predictions, a, {"1": a, "2": b}, no_target=False)
    summary = report.summary()
    assert summary["switches"] == pytest.approx(100 * 1 / 2) and summary["sequences"] == 1
    assert summary["motion sequences"] == 1 and summary["T-acc"] == pytest.approx(200 / 3)  # found on 2 of 3
    assert summary["J&F direction"] == summary["J&F motion"] and np.isnan(summary["J&F speed"])
