"""The independent renderer (evaluation only): determinism, splits, exact masks, phrases that pick
exactly one object or none, agreement with the training grammar, and the embedded model on it."""

import hashlib

import numpy as np
import pytest

from training.independent import make_independent_scenes
from training.independent.grammar import things_of
from training.synthetic.language import parse, referents
from training.synthetic.layout import ObjectTruth
from vatex_core import Predictor

# Fixed before the shipped model was measured on this renderer (issue 29's bar for 1.4.0).
MIN_FOUND, MIN_NOT_FOUND = 0.95, 0.95
MODEL_SCENES = 30  # the first test scenes the model check reads


@pytest.fixture(scope="module")
def val_scenes():
    return make_independent_scenes("val", 40)


def _digest(scene) -> str:
    return hashlib.sha1(scene.load_frames().tobytes()
                        + repr([o.expressions for o in scene.objects]).encode()).hexdigest()


def test_same_split_same_scenes_and_prefix_stable():
    a, b = make_independent_scenes("test", 5), make_independent_scenes("test", 3)
    assert [_digest(s) for s in a[:3]] == [_digest(s) for s in b]
    assert [s.scene_id for s in b] == [f"independent/test/{i:06d}" for i in range(3)]


def test_splits_are_disjoint_and_there_is_no_train_split(val_scenes):
    test = make_independent_scenes("test", 40)
    assert not {_digest(s) for s in val_scenes} & {_digest(s) for s in test}
    with pytest.raises(ValueError, match="evaluation only"):
        make_independent_scenes("train", 1)


def test_masks_are_exact_and_disjoint(val_scenes):
    for scene in val_scenes:
        real = [o for o in scene.objects if not o.no_target]
        masks = np.stack([scene.load_mask(o.object_id)[0] for o in real])  # (N, H, W)
        assert masks.any(axis=(1, 2)).all() and (masks.sum(axis=0) <= 1).all()
        for obj in scene.objects:
            if obj.no_target:
                assert obj.object_id == "absent" and not scene.load_mask(obj.object_id).any()
        things = things_of([o.object_id for o in real],
                           [(t.shape, t.colour, t.size, t.texture) for t in scene.things[0]],
                           masks)
        assert things == scene.things[0]  # the checker saw the masks the scene holds


def test_both_present_and_absent_objects_are_asked_for(val_scenes):
    targets = sum(len(o.expressions) for s in val_scenes for o in s.objects if not o.no_target)
    absent = sum(len(o.expressions) for s in val_scenes for o in s.objects if o.no_target)
    assert targets >= 200 and absent >= 60
    sizes = {s.load_frames().shape[1:3] for s in val_scenes}
    assert len(sizes) >= 4  # several image sizes and aspects


def test_phrases_are_in_the_training_grammar_and_its_checker_agrees(val_scenes):
    """Independent code, same language: the training checker reads every phrase the same way."""
    for scene in val_scenes:
        truth = [ObjectTruth(t.object_id, t.shape, t.colour, t.size, t.texture,
                             radius=1.2 * t.extent, texture_angle=0.0,
                             area=t.area, centers=np.array([[t.x, t.y]]), centroids=np.array([[t.x, t.y]]),
                             bboxes=np.zeros((1, 4), dtype=np.int64), visible_fraction=np.ones(1))
                 for t in scene.things[0]]
        size = scene.load_frames().shape[1:3]
        for obj in scene.objects:
            for text in obj.expressions:
                assert parse(text).text() == text
                expected = frozenset() if obj.no_target else frozenset({obj.object_id})
                assert referents(text, truth, size) == expected, (scene.scene_id, text)


@pytest.fixture(scope="module")
def model_outcomes():
    predictor = Predictor.from_pretrained()
    found = {False: [], True: []}  # no_target -> found per expression
    for scene in make_independent_scenes("test", MODEL_SCENES):
        frame = scene.load_frames()[0]
        for obj in scene.objects:
            for text in obj.expressions:
                found[obj.no_target].append(predictor.predict(frame, text).found)
    return found


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="1.3.0 is fitted to its own renderer (issue 29): it finds 93.8% of the 304 "
                                       "present objects here (80% of plain descriptions); 1.4.0 is to pass this")
def test_present_objects_are_found(model_outcomes):
    found = model_outcomes[False]
    assert len(found) >= 280  # 304 in the first 30 test scenes
    assert sum(found) / len(found) >= MIN_FOUND


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="1.3.0 is fitted to its own renderer (issue 29): it leaves only 58.4% of the "
                                       "77 absent objects not found here; 1.4.0 is to pass this")
def test_absent_objects_are_not_found(model_outcomes):
    found = model_outcomes[True]
    assert len(found) >= 70  # 77 in the first 30 test scenes
    assert 1 - sum(found) / len(found) >= MIN_NOT_FOUND
