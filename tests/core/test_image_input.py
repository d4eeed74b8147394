"""The model's input and output at the caller's size: uint8 resizing against the float reference, and
predictions through it equivalent to predictions through the reference."""

import warnings

import numpy as np
import pytest
import torch

from vatex_core import Predictor
from vatex_core import predictor as predictor_module
from vatex_core.image_input import prepare_frames, resized_size


def _reference_prepare(frames, short_side, max_size):
    """The float path prepare_frames replaced: scale to [0, 1] at full size, then resize."""
    height, width = frames[0].shape[:2]
    size = resized_size(height, width, short_side, max_size)
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255  # (T, 3, H, W)
    batch = torch.nn.functional.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return torch.nn.functional.pad(batch, (0, (-size[1]) % 32, 0, (-size[0]) % 32))[None].clamp_(0, 1), size


@pytest.mark.parametrize("shape, count", [((37, 53), 1), ((37, 53), 3), ((480, 640), 1), ((128, 171), 1),
                                          ((1080, 1920), 2), ((5, 300), 1), ((720, 1280), 1)])
def test_uint8_resize_is_within_one_level_of_the_float_reference(shape, count):
    rng = np.random.default_rng(sum(shape))
    frames = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(count)]
    batch, size = prepare_frames(frames, 128, 256)
    reference, reference_size = _reference_prepare(frames, 128, 256)
    assert size == reference_size and batch.shape == reference.shape and batch.dtype == torch.float32
    assert batch.is_contiguous() and float((batch - reference).abs().max()) <= 1 / 255 + 1e-6


def test_read_only_frames_are_read_without_warning_or_copy_error():
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frame.flags.writeable = False  # as a view of a received message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch, _ = prepare_frames([frame], 128, 256)
    assert torch.equal(batch, prepare_frames([frame.copy()], 128, 256)[0])


def test_predictions_match_the_reference_path(monkeypatch):
    from training.synthetic import SyntheticConfig, make_video_scenes

    predictor = Predictor.from_pretrained()  # the embedded model: masks worth comparing
    scenes = make_video_scenes(SyntheticConfig(height=240, width=320, num_frames=2), "test", 3, 5)
    cases = [(frame, obj.expressions[0]) for scene in scenes for frame in scene.load_frames()
             for obj in scene.objects[:1]]
    ours = [predictor.predict(frame, expression) for frame, expression in cases]
    monkeypatch.setattr(predictor_module, "prepare_frames", _reference_prepare)
    reference = [predictor.predict(frame, expression) for frame, expression in cases]
    for a, b in zip(ours, reference):
        union = (a.mask | b.mask).sum()
        assert union == 0 or (a.mask & b.mask).sum() / union >= 0.98
        assert a.score == pytest.approx(b.score, abs=0.02)
    assert sum(p.mask.any() for p in ours) >= len(cases) // 2  # the comparison is about real masks
