"""Inference precision: bf16 / fp16 models (converted once) give the fp32 results within a stated tolerance."""

import numpy as np
import pytest
import torch

from training.synthetic import SyntheticConfig, make_scenes
from vatex_core import Predictor, load_vatex
from vatex_core.layers import position_embedding, sine_position_embedding

# Tolerances vs fp32 on held-out synthetic scenes with the embedded model (measured: bf16 IoU min 0.978,
# mean 0.997, score diff max 0.002; fp16 IoU min 0.997, score diff max 0.0003).
TOLERANCE = {  # precision: (min IoU of any mask, min mean IoU, max score difference)
    "bf16": (0.95, 0.99, 0.01),
    "fp16": (0.99, 0.998, 0.002),
}


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(SyntheticConfig(), "test", 5, 0)


@pytest.fixture(scope="module")
def fp32_predictor():
    return Predictor(load_vatex())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_matches_fp32(precision, scenes, fp32_predictor):
    predictor = Predictor(load_vatex(), precision=precision)
    ious, score_diffs, found = [], [], 0
    for scene in scenes:
        frame = scene.load_frames()[0]
        for obj in scene.objects[:2]:
            reference = fp32_predictor.predict(frame, obj.expressions[0])
            reduced = predictor.predict(frame, obj.expressions[0])
            union = (reference.mask | reduced.mask).sum()
            ious.append((reference.mask & reduced.mask).sum() / union if union else 1.0)
            score_diffs.append(abs(reference.score - reduced.score))
            found += bool(reference.mask.any())
    min_iou, mean_iou, max_diff = TOLERANCE[precision]
    assert found >= len(ious) // 2, "the comparison needs scenes where the model finds something"
    assert min(ious) >= min_iou and np.mean(ious) >= mean_iou, (min(ious), np.mean(ious))
    assert max(score_diffs) <= max_diff, max(score_diffs)


def _casts_in_one_forward(predictor: Predictor, autocast: torch.dtype | None = None) -> tuple[int, dict]:
    text = predictor.encode("the red cup")
    frames = torch.rand(1, 1, 3, 128, 160)
    with torch.inference_mode():
        predictor.run_model(frames, text)  # the first call of a size makes its position tables
    with torch.inference_mode(), torch.autocast("cpu", dtype=autocast, enabled=autocast is not None), \
            torch.profiler.profile() as profile:
        out = predictor.run_model(frames, text)
    return sum(event.count for event in profile.key_averages() if event.key == "aten::_to_copy"), out


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_the_model_is_converted_once_and_the_forward_casts_no_weight(precision, dtype):
    predictor = Predictor(load_vatex(), precision=precision)
    tensors = [*predictor.model.parameters(), *predictor.model.buffers()]
    assert all(t.dtype == dtype for t in tensors if t.is_floating_point())
    casts, out = _casts_in_one_forward(predictor)
    assert out["pred_masks"].dtype == dtype
    fp32 = Predictor(load_vatex())
    fp32_casts, _ = _casts_in_one_forward(fp32)
    autocast_casts, _ = _casts_in_one_forward(fp32, autocast=dtype)  # what issue 12 measured: weights re-cast
    # The converted model adds only the float32 round trip of deformable sampling (values, locations,
    # weights, result per encoder layer) and a few casts inside kernels (measured: 27 more than fp32);
    # autocast re-casts every weight (measured: 580 more).
    assert casts - fp32_casts <= 40 < 200 < autocast_casts - fp32_casts, (fp32_casts, casts, autocast_casts)


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        Predictor.from_pretrained(precision="int8")


def test_position_tables_are_made_once_per_size_and_dtype():
    device = torch.device("cpu")
    table = position_embedding(6, 8, 32, device, torch.bfloat16)
    assert position_embedding(6, 8, 32, device, torch.bfloat16) is table
    assert torch.equal(table, sine_position_embedding(6, 8, 32, device).to(torch.bfloat16))
    with torch.inference_mode():  # tables made for inference are never handed to autograd
        assert position_embedding(6, 8, 32, device, torch.bfloat16) is not table
