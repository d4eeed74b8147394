"""Meaning Consistency Constraint (MCC) triplets for training, and per-expression items for evaluation.

A training item is (anchor, positive, negative) expressions of one scene: the positive is
another expression of the anchor's object (the anchor itself if it has only one), the negative
an expression of another object of the same scene, or the literal string "None" (empty target)
when the scene has a single object. All three are segmentation targets.

A no-target anchor (its object has ``no_target``: the expression names nothing in the scene)
has an empty target; its positive is the anchor itself (two phrases naming different absent
things mean different things) and its negative an expression of a real object. Negatives are
expressions of real objects (or "None"), except that with ``absent_negative_rate`` > 0 a
referring anchor's negative is, at that rate, one of the scene's no-target expressions (empty
target): every such triplet then also trains "not here" on a phrase close to the scene's objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from training.data.types import RefScene

logger = logging.getLogger(__name__)

NO_OBJECT = "None"  # negative expression of a scene with one object; its target is empty
PAD_MULTIPLE = 32  # frames are padded to a multiple of the backbone's largest stride

# (frames (T,H,W,3) uint8, masks (K,T,H,W) bool, rng) -> (frames (T,3,H',W') float, masks (K,T,H',W') float)
Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]


def to_tensors(frames: np.ndarray, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Untransformed conversion: (T,H,W,3) uint8, (K,T,H,W) bool -> (T,3,H,W) float [0,1], (K,T,H,W) float."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
    return video, torch.from_numpy(np.ascontiguousarray(masks)).float()


def sample_frame_indices(num_available: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """Draw ``num_frames`` frame indices in temporal (sorted) order.

    Distinct frames when the scene has enough, else drawn with replacement (an image gives
    ``[0] * num_frames``). Sorting keeps the clip's temporal order.
    """
    replace = num_available < num_frames
    return sorted(int(i) for i in rng.choice(num_available, size=num_frames, replace=replace))


def sample_window(num_available: int, num_frames: int, strides: tuple[int, ...],
                  rng: np.random.Generator) -> list[int]:
    """``num_frames`` evenly spaced frame indices (a stretch of video as a stream sees it).

    The stride is drawn from ``strides`` among those that fit (1 if none does; an image gives
    ``[0] * num_frames``), then the start uniformly.
    """
    if num_available == 1:
        return [0] * num_frames
    fitting = [s for s in strides if (num_frames - 1) * s < num_available] or [1]
    stride = int(fitting[rng.integers(len(fitting))])
    span = min((num_frames - 1) * stride, num_available - 1)
    start = int(rng.integers(num_available - span))
    return [min(start + i * stride, num_available - 1) for i in range(num_frames)]


def _expression_index(scenes: Sequence[RefScene]) -> list[tuple[int, int, int]]:
    """(scene, object, expression) index triples, one per expression."""
    return [(s, o, e) for s, scene in enumerate(scenes) for o, obj in enumerate(scene.objects)
            for e in range(len(obj.expressions))]


class TripletDataset(Dataset):
    """One MCC triplet per (scene, object, expression); sampling is a function of (seed, epoch, index)."""

    def __init__(self, scenes: Sequence[RefScene], transform: Transform | None = None,
                 num_frames: int = 1, seed: int = 0, absent_negative_rate: float = 0.0,
                 window_strides: tuple[int, ...] | None = None) -> None:
        """Index every expression of ``scenes``.

        Args:
            scenes: scenes from any reader or the synthetic generator.
            transform: e.g. :class:`training.data.transforms.ReferTransform`; ``None`` converts only.
            num_frames: frames per item (T).
            seed: base seed of every random choice.
            absent_negative_rate: chance that a referring anchor's negative is a no-target
                expression of its scene (when the scene has one).
            window_strides: None = ``num_frames`` distinct frames anywhere in the scene, in order;
                else evenly spaced frames with a stride drawn from these (temporal models: the
                clip looks like a stream at some frame rate).
        """
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if not 0 <= absent_negative_rate <= 1:
            raise ValueError(f"absent_negative_rate must be in [0, 1], got {absent_negative_rate}")
        self.absent_negative_rate = absent_negative_rate
        self.scenes = list(scenes)
        self.transform = transform
        self.num_frames = num_frames
        self.window_strides = window_strides
        self.seed = seed
        self.epoch = 0
        self.items = _expression_index(self.scenes)
        logger.info("TripletDataset: %d scenes, %d expressions", len(self.scenes), len(self.items))

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (positive, negative, frames, augmentation) for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """Build the triplet of item ``index``.

        Returns:
            dict with "frames" (T, 3, H, W) float32 in [0, 1]; "expressions" [anchor, positive,
            negative]; "masks" (3, T, H, W) float32 0/1; "has_object" (3,) bool (False: empty
            target, nothing referred); "frame_has_object" (3, T) bool (the referred object is in
            view on that frame: hidden or outside the picture, it is not); "scene_id" str.
        """
        scene_idx, obj_idx, exp_idx = self.items[index]
        scene = self.scenes[scene_idx]
        target = scene.objects[obj_idx]
        rng = np.random.default_rng([self.seed, self.epoch, index])

        anchor = target.expressions[exp_idx]
        others = [] if target.no_target else [e for j, e in enumerate(target.expressions) if j != exp_idx]
        positive = others[rng.integers(len(others))] if others else anchor
        absent = ([e for obj in scene.objects if obj.no_target for e in obj.expressions]
                  if self.absent_negative_rate > 0 and not target.no_target else [])
        if absent and rng.random() < self.absent_negative_rate:
            negative_id, negative = None, absent[rng.integers(len(absent))]  # names nothing: empty target
        else:
            pool = [(obj.object_id, e) for obj in scene.objects if obj.object_id != target.object_id
                    and not obj.no_target for e in obj.expressions]
            negative_id, negative = pool[rng.integers(len(pool))] if pool else (None, NO_OBJECT)

        if self.window_strides:
            indices = sample_window(scene.num_frames, self.num_frames, self.window_strides, rng)
        else:
            indices = sample_frame_indices(scene.num_frames, self.num_frames, rng)
        frames = scene.load_frames(indices)  # (T, H, W, 3)
        target_mask = scene.load_mask(target.object_id, indices)  # (T, H, W)
        negative_mask = (scene.load_mask(negative_id, indices) if negative_id is not None
                         else np.zeros_like(target_mask))
        masks = np.stack([target_mask, target_mask, negative_mask])  # (3, T, H, W)
        video, labels = self.transform(frames, masks, rng) if self.transform else to_tensors(frames, masks)
        has_object = torch.tensor([not target.no_target, not target.no_target, negative_id is not None])
        return {
            "frames": video,
            "expressions": [anchor, positive, negative],
            "masks": labels,
            "has_object": has_object,
            "frame_has_object": has_object[:, None] & (labels > 0.5).flatten(2).any(-1),  # (3, T): in view there
            "scene_id": scene.scene_id,
        }


def _pad_to(tensor: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Zero-pad the last two dims at the bottom/right."""
    return F.pad(tensor, (0, width - tensor.shape[-1], 0, height - tensor.shape[-2]))


def collate_triplets(batch: list[dict]) -> dict:
    """Stack triplet items, zero-padding at the bottom/right to a multiple of 32.

    Returns:
        dict with "frames" (B, T, 3, Hp, Wp); "masks" (B*3, T, Hp, Wp) ordered
        [b0 anchor, b0 positive, b0 negative, b1 anchor, ...]; "has_object" (B*3,) bool;
        "frame_has_object" (B*3, T) bool;
        "expressions" list of B*3 str in the same order; "image_sizes" list of B (H, W)
        before padding; "scene_ids" list of B str.
    """
    sizes = [tuple(item["frames"].shape[-2:]) for item in batch]
    height = -(-max(h for h, _ in sizes) // PAD_MULTIPLE) * PAD_MULTIPLE
    width = -(-max(w for _, w in sizes) // PAD_MULTIPLE) * PAD_MULTIPLE
    return {
        "frames": torch.stack([_pad_to(item["frames"], height, width) for item in batch]),
        "masks": torch.cat([_pad_to(item["masks"], height, width) for item in batch]),  # (B*3, T, Hp, Wp)
        "has_object": torch.cat([item["has_object"] for item in batch]),
        "frame_has_object": torch.cat([item["frame_has_object"] for item in batch]),
        "expressions": [e for item in batch for e in item["expressions"]],
        "image_sizes": sizes,
        "scene_ids": [item["scene_id"] for item in batch],
    }


class EvalDataset(Dataset):
    """One item per (scene, object, expression) with every frame of the scene."""

    def __init__(self, scenes: Sequence[RefScene], transform: Transform | None = None) -> None:
        """Index every expression; ``transform`` (eval mode: resize only) applies to frames only."""
        self.scenes = list(scenes)
        self.transform = transform
        self.items = _expression_index(self.scenes)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """Return one expression's item.

        Returns:
            dict with "frames" (T, 3, H', W') float32 in [0, 1] (transformed resolution);
            "expression" str; "mask" (T, H, W) bool at the ORIGINAL resolution (metrics are
            computed there: upsample predictions to it; empty for a no-target expression);
            "no_target" bool; "scene_id"; "object_id".
        """
        scene_idx, obj_idx, exp_idx = self.items[index]
        scene = self.scenes[scene_idx]
        obj = scene.objects[obj_idx]
        frames = scene.load_frames()
        no_masks = np.zeros((0, *frames.shape[:3]), dtype=bool)
        if self.transform is not None:
            video, _ = self.transform(frames, no_masks, np.random.default_rng(index))
        else:
            video, _ = to_tensors(frames, no_masks)
        return {
            "frames": video,
            "expression": obj.expressions[exp_idx],
            "mask": torch.from_numpy(scene.load_mask(obj.object_id)),
            "no_target": obj.no_target,
            "scene_id": scene.scene_id,
            "object_id": obj.object_id,
        }
