"""RefCOCO/+/g reader against hand-built REFER fixtures and a synthetic round trip."""

from pathlib import Path

import numpy as np
import pytest

from training.data.refer import load_refer
from training.synthetic import export_refer, make_scenes


def _by_id(scenes):
    return {scene.scene_id: scene for scene in scenes}


def test_train_split_objects_and_merged_sentences(refer_data):
    scenes = load_refer(refer_data["root"], "refcoco", "train")
    assert [s.scene_id for s in scenes] == ["refcoco/1"]
    scene = scenes[0]
    assert scene.num_frames == 1
    assert [o.object_id for o in scene.objects] == ["10", "11", "12"]
    assert scene.get_object("10").expressions == ("red square", "square in the middle", "the big square")
    assert scene.get_object("11").expressions == ("top right block",)


@pytest.mark.parametrize("ann_id", [10, 11, 12])  # polygon, uncompressed RLE, compressed RLE
def test_masks_are_pixel_exact(refer_data, ann_id):
    scene = load_refer(refer_data["root"], "refcoco", "train")[0]
    mask = scene.load_mask(str(ann_id))
    assert mask.shape == (1, 40, 60) and mask.dtype == bool
    np.testing.assert_array_equal(mask[0], refer_data["masks"][ann_id])


def test_polygon_square_area(refer_data):
    scene = load_refer(refer_data["root"], "refcoco", "train")[0]
    assert scene.load_mask("10").sum() == 400  # polygon (10,10)-(30,30) covers pixels 10..29
    assert scene.load_mask("11").sum() == 100


def test_frames_rgb_uint8(refer_data):
    scene = load_refer(refer_data["root"], "refcoco", "train")[0]
    frames = scene.load_frames([0, 0])
    assert frames.shape == (2, 40, 60, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - np.array(refer_data["colours"][1])).max() <= 3


@pytest.mark.parametrize("split, expected", [("val", {"refcoco/2": ["20"]}), ("testA", {"refcoco/3": ["30"]}),
                                             ("testB", {})])
def test_split_selection(refer_data, split, expected):
    scenes = load_refer(refer_data["root"], "refcoco", split)
    assert {s.scene_id: [o.object_id for o in s.objects] for s in scenes} == expected
    if split == "val":
        np.testing.assert_array_equal(scenes[0].load_mask("20")[0], refer_data["masks"][20])


def test_refcocog_defaults_to_umd(refer_data):
    scenes = load_refer(refer_data["root"], "refcocog", "test")
    assert [(s.scene_id, s.objects[0].expressions) for s in scenes] == [("refcocog/2", ("a triangle",))]


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "refclef", "split": "train"}, "unknown dataset"),
    ({"dataset": "refcoco", "split": "test"}, "unknown split 'test'"),
    ({"dataset": "refcocog", "split": "testA"}, "unknown split 'testA'"),
    ({"dataset": "refcoco+", "split": "train", "split_by": "google"}, "no 'google' partition"),
])
def test_bad_arguments(refer_data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_refer(refer_data["root"], **kwargs)


def test_missing_files_are_named(refer_data):
    root: Path = refer_data["root"]
    with pytest.raises(FileNotFoundError, match=r"refs\(google\)\.p"):
        load_refer(root, "refcocog", "val", split_by="google")
    (root / "refcoco" / "instances.json").unlink()
    with pytest.raises(FileNotFoundError, match="instances.json"):
        load_refer(root, "refcoco", "train")


def test_missing_image_is_named(refer_data):
    scene = load_refer(refer_data["root"], "refcoco", "val", images_dir=refer_data["root"] / "nowhere")[0]
    with pytest.raises(FileNotFoundError, match="COCO_train2014_000000000002.jpg"):
        scene.load_frames()


def test_synthetic_round_trip(tmp_path, synthetic_cfg):
    train, val = make_scenes(synthetic_cfg, "train", 3, seed=1), make_scenes(synthetic_cfg, "val", 2, seed=1)
    export_refer(train, tmp_path)
    export_refer(val, tmp_path, split="val")
    for source, split in ((train, "train"), (val, "val")):
        loaded = load_refer(tmp_path, "refcoco", split)
        assert len(loaded) == len(source)
        for original, scene in zip(source, loaded):
            assert [o.expressions for o in scene.objects] == [o.expressions for o in original.objects]
            for a, b in zip(original.objects, scene.objects):
                np.testing.assert_array_equal(scene.load_mask(b.object_id), original.load_mask(a.object_id))
            error = np.abs(scene.load_frames().astype(int) - original.load_frames().astype(int)).mean()
            assert error < 8  # JPEG quality 95
