"""M cameras x N expressions in one step_batch: each image encoded once (clip-major rows), results as one by one."""

import numpy as np
import pytest
import torch

from vatex_core import Predictor
from vatex_core.config import preset
from vatex_core.model import build_vatex
from vatex_core.predictor import _clip_major

EXPRESSIONS = ["the red cup", "the big blue square on the far left"]


def _frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(count)]


def _grid(predictor, frames):
    """Sessions and images of every (camera, expression), camera by camera, as the node batches them."""
    sessions = [predictor.stream(expression) for _ in frames for expression in EXPRESSIONS]
    images = [frame for frame in frames for _ in EXPRESSIONS]
    return sessions, images


def test_clip_major_groups_rows_by_image_object():
    a, b = np.zeros(1), np.zeros(1)  # equal values, different objects: two images
    assert _clip_major([0, 1, 2, 3], [a, b, a, b]) == ([0, 2, 1, 3], 2)
    assert _clip_major([0, 1, 2], [a, a, b]) == ([0, 1, 2], 1)  # clips of unequal size: one clip per row
    assert _clip_major([0, 1], [a, a]) == ([0, 1], 2)


def test_two_cameras_two_expressions_encode_each_frame_once():
    predictor = Predictor.from_pretrained()
    frames = _frames(2)
    sessions, images = _grid(predictor, frames)
    encoded: list[int] = []
    hook = predictor.model.backbone.register_forward_hook(lambda module, args, out: encoded.append(args[0].shape[0]))
    try:
        batched = predictor.step_batch(sessions, images, [1.0] * len(sessions))
    finally:
        hook.remove()
    assert encoded == [2], "the backbone sees each camera frame once"
    for session, image, result in zip(_grid(predictor, frames)[0], images, batched):
        alone = session.step(image, 1.0)
        assert result.score == pytest.approx(alone.score, abs=1e-5)
        assert np.mean(result.mask != alone.mask) < 1e-3


def test_temporal_memories_stay_with_their_sessions_when_rows_are_reordered():
    torch.manual_seed(0)
    cfg = preset("tiny")
    cfg.temporal.memory_frames = 2
    model = build_vatex(cfg).eval()
    torch.nn.init.normal_(model.temporal.out.weight, std=0.2)  # untrained, the memory would add exactly zero
    predictor = Predictor(model, found_threshold=0.0)
    batched_sessions, _ = _grid(predictor, _frames(2))
    alone_sessions, _ = _grid(predictor, _frames(2))
    for step in range(3):
        frames = _frames(2, seed=step + 1)
        images = [frame for frame in frames for _ in EXPRESSIONS]
        batched = predictor.step_batch(batched_sessions, images, [float(step)] * len(images))
        for session, image, result in zip(alone_sessions, images, batched):
            alone = session.step(image, float(step))
            assert result.score == pytest.approx(alone.score, abs=1e-4), f"frame {step}"
    assert all(session.memory is not None for session in batched_sessions)
