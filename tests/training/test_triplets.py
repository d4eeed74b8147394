"""MCC triplets, their collation and the evaluation items."""

import numpy as np
import pytest
import torch

from training.data.transforms import AugmentConfig, ReferTransform
from training.data.triplets import NO_OBJECT, EvalDataset, TripletDataset, collate_triplets
from training.data.types import ArrayScene, RefObject


def _scene(scene_id, expressions, height=20, width=30, num_frames=1):
    """Object k occupies column block k; frame t has every pixel value t (frame identity)."""
    frames = np.broadcast_to(np.arange(num_frames, dtype=np.uint8)[:, None, None, None],
                             (num_frames, height, width, 3)).copy()
    objects, masks = [], {}
    for k, exps in enumerate(expressions):
        mask = np.zeros((num_frames, height, width), dtype=bool)
        mask[:, :, 5 * k:5 * k + 4] = True
        for t in range(num_frames):
            mask[t, :t, 5 * k] = False  # frame t: t pixels removed, so a mask identifies its frame
        objects.append(RefObject(str(k), tuple(exps)))
        masks[str(k)] = mask
    return ArrayScene(scene_id, objects, frames, masks)


@pytest.fixture
def scenes():
    return [_scene("multi", [("a0", "a1"), ("b0",), ("c0", "c1", "c2")]), _scene("single", [("s0",)])]


def _owner(scene, expression):
    return next(o.object_id for o in scene.objects if expression in o.expressions)


def test_one_item_per_expression_and_triplet_semantics(scenes):
    dataset = TripletDataset(scenes, seed=1)
    assert len(dataset) == 7
    for index in range(len(dataset)):
        item = dataset[index]
        scene = scenes[0] if item["scene_id"] == "multi" else scenes[1]
        anchor, positive, negative = item["expressions"]
        owner = _owner(scene, anchor)
        assert _owner(scene, positive) == owner
        assert positive != anchor or len(scene.get_object(owner).expressions) == 1
        assert item["frames"].shape == (1, 3, 20, 30) and item["frames"].dtype == torch.float32
        assert item["masks"].shape == (3, 1, 20, 30) and item["masks"].dtype == torch.float32
        target = torch.from_numpy(scene.load_mask(owner)).float()
        torch.testing.assert_close(item["masks"][0], target)
        torch.testing.assert_close(item["masks"][1], target)
        if scene.scene_id == "single":
            assert negative == NO_OBJECT
            assert item["has_object"].tolist() == [True, True, False]
            assert item["masks"][2].sum() == 0
        else:
            assert _owner(scene, negative) != owner
            assert item["has_object"].tolist() == [True, True, True]
            torch.testing.assert_close(item["masks"][2],
                                       torch.from_numpy(scene.load_mask(_owner(scene, negative))).float())


def test_sampling_is_deterministic_per_seed_and_epoch(scenes):
    def draws(seed, epoch):
        dataset = TripletDataset(scenes, seed=seed)
        dataset.set_epoch(epoch)
        return [tuple(dataset[i]["expressions"]) for i in range(len(dataset))]

    assert draws(0, 0) == draws(0, 0)
    epochs = {tuple(draws(0, e)) for e in range(6)}
    seeds = {tuple(draws(s, 0)) for s in range(6)}
    assert len(epochs) > 1 and len(seeds) > 1


def test_video_frames_sorted_and_masks_match_frames():
    scene = _scene("video", [("x",), ("y",)], num_frames=12)
    dataset = TripletDataset([scene], num_frames=5, seed=4)
    for epoch in range(4):
        dataset.set_epoch(epoch)
        item = dataset[0]
        frame_ids = (item["frames"][:, 0, 0, 0] * 255).round().long()  # (T,) original frame indices
        assert frame_ids.tolist() == sorted(set(frame_ids.tolist()))  # distinct, temporal order
        removed = 20 * 4 - item["masks"][0].sum(dim=(1, 2))  # pixels removed = frame index
        assert removed.long().tolist() == frame_ids.tolist()


def test_short_scene_repeats_frames_in_order():
    dataset = TripletDataset([_scene("image", [("x",), ("y",)])], num_frames=3)
    assert dataset[0]["frames"].shape == (3, 3, 20, 30)


def test_transform_applies_one_draw_to_frames_and_masks():
    height, width = 40, 60
    frames = np.zeros((2, height, width, 3), dtype=np.uint8)
    mask = np.zeros((2, height, width), dtype=bool)
    mask[:, 10:30, 5:25] = True
    frames[mask] = 255
    scene = ArrayScene("painted", [RefObject("1", ("white box",))], frames, {"1": mask})
    transform = ReferTransform(AugmentConfig(short_side=48, color_jitter=0.0, rotation_deg=15.0))
    dataset = TripletDataset([scene], transform=transform, num_frames=2)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        item = dataset[0]
        bright = item["frames"][:, 0] > 0.5  # (T, H', W')
        target = item["masks"][0].bool()
        iou = (bright & target).sum() / (bright | target).sum()
        assert iou > 0.9
        assert torch.equal(item["frames"][0], item["frames"][1])  # same draw on every frame


def test_collate_pads_to_32_and_orders_triplets():
    scenes = [_scene("a", [("a0",), ("a1",)], height=40, width=50), _scene("b", [("b0",)], height=33, width=70)]
    dataset = TripletDataset(scenes)
    batch = collate_triplets([dataset[0], dataset[2]])
    assert batch["frames"].shape == (2, 1, 3, 64, 96)
    assert batch["masks"].shape == (6, 1, 64, 96)
    assert batch["expressions"] == ["a0", "a0", "a1", "b0", "b0", NO_OBJECT]
    assert batch["has_object"].tolist() == [True, True, True, True, True, False]
    assert batch["image_sizes"] == [(40, 50), (33, 70)]
    assert batch["scene_ids"] == ["a", "b"]
    torch.testing.assert_close(batch["masks"][2, :, :40, :50], dataset[0]["masks"][2])  # b0 negative
    torch.testing.assert_close(batch["masks"][3, :, :33, :70], dataset[2]["masks"][0])
    assert batch["masks"][3, :, 33:].sum() == 0 and batch["masks"][0, :, :, 50:].sum() == 0
    assert batch["frames"][1, :, :, 33:].abs().sum() == 0 and batch["frames"][1, :, :, :, 70:].abs().sum() == 0
    assert batch["frames"][0, 0, 0, :40, :50].equal(dataset[0]["frames"][0, 0])


def test_eval_dataset_items(scenes):
    dataset = EvalDataset(scenes, transform=ReferTransform(AugmentConfig(short_side=40, train=False)))
    assert len(dataset) == 7
    item = dataset[3]  # "c0"
    assert (item["expression"], item["scene_id"], item["object_id"]) == ("c0", "multi", "2")
    assert item["frames"].shape == (1, 3, 40, 60)
    assert item["mask"].dtype == torch.bool and item["mask"].shape == (1, 20, 30)  # original resolution
    assert torch.equal(item["mask"], torch.from_numpy(scenes[0].load_mask("2")))
