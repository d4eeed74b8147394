"""gRefCOCO reader against hand-built fixtures in the release's format (grefs(unc).json + instances.json)."""

import json

import numpy as np
import pytest

from training.config import DataConfig, load_scenes
from training.data import EvalDataset, TripletDataset, load_grefcoco


def test_refs_become_objects_with_no_target_flags(grefcoco_data):
    scenes = load_grefcoco(grefcoco_data["root"], "train")
    assert [s.scene_id for s in scenes] == ["grefcoco/1"]
    objects = scenes[0].objects
    assert [(o.object_id, o.expressions, o.no_target) for o in objects] == [
        ("ref0", ("left box",), False), ("ref1", ("all the boxes", "both boxes"), False),
        ("ref2", ("the purple cat",), True)]


@pytest.mark.parametrize("split, object_ids", [("train", ["ref0", "ref1", "ref2"]), ("val", ["ref3", "ref4"])])
def test_masks_are_unions_and_no_target_masks_empty(grefcoco_data, split, object_ids):
    scene = load_grefcoco(grefcoco_data["root"], split)[0]
    for object_id in object_ids:
        mask = scene.load_mask(object_id)
        assert mask.shape == (1, 40, 60) and mask.dtype == bool
        np.testing.assert_array_equal(mask[0], grefcoco_data["masks"][object_id])
    assert scene.load_frames().shape == (1, 40, 60, 3)


def test_multi_target_union_leaves_out_crowd_regions(grefcoco_data):
    scene = load_grefcoco(grefcoco_data["root"], "train")[0]
    assert scene.load_mask("ref1").sum() == 100 + 150  # polygon + RLE, not the crowd strip


def test_dataset_kind_reads_grefcoco_and_items_carry_the_flag(grefcoco_data):
    scenes = load_scenes(DataConfig(kind="grefcoco", root=str(grefcoco_data["root"])), "val")
    items = list(EvalDataset(scenes))
    assert [(i["expression"], i["no_target"], int(i["mask"].sum())) for i in items] == [
        ("corner box", False, 100), ("the dog on the sofa", True, 0)]
    triplet = TripletDataset(load_grefcoco(grefcoco_data["root"], "train"), seed=0)[3]  # "the purple cat"
    assert triplet["expressions"][0] == "the purple cat" and triplet["has_object"][:2].tolist() == [False, False]


def test_errors_name_the_problem(grefcoco_data, tmp_path):
    with pytest.raises(ValueError, match="unknown gRefCOCO split"):
        load_grefcoco(grefcoco_data["root"], "test")
    with pytest.raises(FileNotFoundError, match="gRefCOCO refs file"):
        load_grefcoco(tmp_path / "nowhere", "val")
    refs_path = grefcoco_data["root"] / "grefcoco" / "grefs(unc).json"
    refs = json.loads(refs_path.read_text())
    refs[2]["no_target"] = False  # flag disagrees with ann_id [-1]
    refs_path.write_text(json.dumps(refs))
    with pytest.raises(ValueError, match="no_target is False but ann_id is"):
        load_grefcoco(grefcoco_data["root"], "train")
