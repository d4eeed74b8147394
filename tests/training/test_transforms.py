"""ReferTransform: sizes, no flip, frame/mask consistency, determinism."""

import numpy as np
import pytest
import torch

from training.data.transforms import AugmentConfig, ReferTransform, resized_shape


def _clip(height=48, width=80, num_frames=2):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(num_frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((2, num_frames, height, width), dtype=bool)
    masks[0, :, 10:30, 4:24] = True  # left half
    masks[1, :, 20:40, 50:70] = True  # right half
    return frames, masks


@pytest.mark.parametrize("size, short, cap, expected", [
    ((48, 80), 64, 1333, (64, 107)), ((80, 48), 64, 1333, (107, 64)), ((100, 1000), 480, 1333, (133, 1333)),
    ((480, 640), 480, 1333, (480, 640))])
def test_resized_shape(size, short, cap, expected):
    assert resized_shape(*size, short, cap) == expected


def test_output_shapes_and_types():
    frames, masks = _clip()
    out_frames, out_masks = ReferTransform(AugmentConfig(short_side=64))(frames, masks, np.random.default_rng(1))
    assert out_frames.shape == (2, 3, 64, 107) and out_frames.dtype == torch.float32
    assert out_masks.shape == (2, 2, 64, 107) and out_masks.dtype == torch.float32
    assert 0 <= out_frames.min() and out_frames.max() <= 1
    assert set(out_masks.unique().tolist()) <= {0.0, 1.0}


def test_eval_mode_only_resizes():
    frames, masks = _clip()
    transform = ReferTransform(AugmentConfig(short_side=48, train=False))
    a_frames, a_masks = transform(frames, masks, np.random.default_rng(1))
    b_frames, b_masks = transform(frames, masks, np.random.default_rng(2))
    assert torch.equal(a_frames, b_frames) and torch.equal(a_masks, b_masks)
    torch.testing.assert_close(a_frames.permute(0, 2, 3, 1) * 255, torch.from_numpy(frames).float(), atol=0.5, rtol=0)
    assert torch.equal(a_masks.bool(), torch.from_numpy(masks))


def _centroid_x(mask: torch.Tensor) -> float:
    return float(mask.nonzero()[:, -1].float().mean())


@pytest.mark.parametrize("rotation", [0.0, 15.0])
def test_never_flips(rotation):
    frames, masks = _clip()
    transform = ReferTransform(AugmentConfig(short_side=48, rotation_deg=rotation))
    for seed in range(20):
        _, out = transform(frames, masks, np.random.default_rng(seed))
        width = out.shape[-1]
        if rotation == 0:
            assert out[0, :, :, width // 2:].sum() == 0 and out[1, :, :, :width // 2].sum() == 0
        assert _centroid_x(out[0]) < width / 2 < _centroid_x(out[1])


def test_frames_and_masks_move_together():
    height, width = 48, 80
    masks = np.zeros((1, 1, height, width), dtype=bool)
    masks[0, 0, 8:28, 10:40] = True
    frames = np.where(masks[0, ..., None], 255, 0).astype(np.uint8).repeat(3, axis=-1)
    transform = ReferTransform(AugmentConfig(short_side=48, color_jitter=0.0, rotation_deg=15.0))
    for seed in range(10):
        out_frames, out_masks = transform(frames, masks, np.random.default_rng(seed))
        bright, target = out_frames[0, 0] > 0.5, out_masks[0, 0].bool()
        assert (bright & target).sum() / (bright | target).sum() > 0.9


def test_deterministic_for_a_generator_state():
    frames, masks = _clip()
    transform = ReferTransform(AugmentConfig(short_side=48))
    a = transform(frames, masks, np.random.default_rng(5))
    b = transform(frames, masks, np.random.default_rng(5))
    c = transform(frames, masks, np.random.default_rng(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_colour_jitter_stays_in_range():
    frames = np.full((1, 32, 32, 3), 128, dtype=np.uint8)
    masks = np.zeros((0, 1, 32, 32), dtype=bool)
    transform = ReferTransform(AugmentConfig(short_side=32, rotation_deg=0.0, color_jitter=0.1))
    means = [float(transform(frames, masks, np.random.default_rng(s))[0].mean()) for s in range(20)]
    assert all(0.5 * 0.85 < m < 0.5 * 1.15 for m in means) and max(means) - min(means) > 0.01
