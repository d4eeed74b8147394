"""Ref-YouTube-VOS and Ref-DAVIS17 readers against hand-built palette-PNG fixtures."""

import numpy as np
import pytest

from training.data.davis import DAVIS_ANNOTATIONS, load_davis
from training.data.ytvos import load_ytvos
from training.synthetic import export_ytvos


def test_ytvos_objects_grouped_in_expression_id_order(ytvos_data):
    scenes = {s.scene_id: s for s in load_ytvos(ytvos_data["root"], "train")}
    assert sorted(scenes) == ["ref-youtube-vos/vidA", "ref-youtube-vos/vidB"]
    vid_a = scenes["ref-youtube-vos/vidA"]
    assert vid_a.num_frames == 3
    assert [(o.object_id, o.expressions) for o in vid_a.objects] == [
        ("1", ("a cat", "the cat on the left")), ("2", ("a dog running",))]
    # ids sort numerically ("9" before "10"), not as strings
    assert scenes["ref-youtube-vos/vidB"].objects[0].expressions == ("a still box", "a moving box")


def test_ytvos_masks_follow_palette_ids(ytvos_data):
    scene = next(s for s in load_ytvos(ytvos_data["root"]) if s.scene_id.endswith("vidA"))
    labels = ytvos_data["labels"]["vidA"]
    for obj_id in ("1", "2"):
        mask = scene.load_mask(obj_id)
        assert mask.shape == (3, 16, 24) and mask.dtype == bool
        np.testing.assert_array_equal(mask, labels == int(obj_id))
    moving = scene.load_mask("2", [2, 0])  # order of the request is kept
    np.testing.assert_array_equal(moving, labels[[2, 0]] == 2)
    assert moving[0, 10, 12] and not moving[1, 10, 12]


def test_ytvos_frames_in_requested_order(ytvos_data):
    scene = next(s for s in load_ytvos(ytvos_data["root"]) if s.scene_id.endswith("vidA"))
    frames = scene.load_frames([1, 2])
    assert frames.shape == (2, 16, 24, 3) and frames.dtype == np.uint8
    expected = np.array(ytvos_data["colours"]["vidA"][1:])[:, None, None, :]
    assert np.abs(frames.astype(int) - expected).max() <= 3
    with pytest.raises(IndexError, match="3 frames"):
        scene.load_frames([3])


def test_ytvos_errors(ytvos_data, tmp_path):
    with pytest.raises(ValueError, match="unknown ref-youtube-vos split 'val'"):
        load_ytvos(ytvos_data["root"], "val")
    with pytest.raises(ValueError, match="has no obj_id"):
        load_ytvos(ytvos_data["root"], "valid")
    with pytest.raises(FileNotFoundError, match="meta_expressions.json"):
        load_ytvos(tmp_path / "empty")
    scene = load_ytvos(ytvos_data["root"])[0]
    (scene.annotation_dir / "00005.png").unlink()
    with pytest.raises(FileNotFoundError, match="00005.png"):
        scene.load_mask("1")
    with pytest.raises(KeyError, match="no object '7'"):
        scene.load_mask("7")


def test_davis_reads_all_four_annotations(davis_data):
    scenes = load_davis(davis_data["root"])
    assert [s.scene_id for s in scenes] == ["ref-davis/bike"]
    objects = scenes[0].objects
    assert [o.object_id for o in objects] == ["1", "2"]
    assert objects[1].expressions == ("object 2 a1 first", "object 2 a1 full", "object 2 a2 first", "object 2 a2 full")
    np.testing.assert_array_equal(scenes[0].load_mask("2"), davis_data["labels"] == 2)


@pytest.mark.parametrize("kind", range(4))
def test_davis_annotation_kind(davis_data, kind):
    scene = load_davis(davis_data["root"], annotation=DAVIS_ANNOTATIONS[kind])[0]
    suffix = ("a1 first", "a1 full", "a2 first", "a2 full")[kind]
    assert [o.expressions for o in scene.objects] == [(f"object 1 {suffix}",), (f"object 2 {suffix}",)]


def test_davis_errors(davis_data):
    with pytest.raises(ValueError, match="unknown ref-davis split 'test'"):
        load_davis(davis_data["root"], "test")
    with pytest.raises(ValueError, match="unknown Ref-DAVIS17 annotation"):
        load_davis(davis_data["root"], annotation="annot3")
    with pytest.raises(FileNotFoundError, match="train"):
        load_davis(davis_data["root"], "train")


def test_synthetic_video_round_trip(tmp_path, synthetic_videos):
    export_ytvos(synthetic_videos, tmp_path)
    loaded = load_ytvos(tmp_path)
    assert len(loaded) == len(synthetic_videos)
    for original, scene in zip(synthetic_videos, loaded):
        assert scene.num_frames == original.num_frames
        assert [(o.object_id, o.expressions) for o in scene.objects] == [
            (o.object_id, o.expressions) for o in original.objects]
        for obj in original.objects:
            np.testing.assert_array_equal(scene.load_mask(obj.object_id), original.load_mask(obj.object_id))
        assert np.abs(scene.load_frames().astype(int) - original.load_frames().astype(int)).mean() < 8
