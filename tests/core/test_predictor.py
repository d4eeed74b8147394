import numpy as np
import pytest
from PIL import Image

from vatex_core import Predictor
from vatex_core.image_input import resized_size, to_rgb_uint8
from vatex_core.predictor import mask_box


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return Predictor(tiny_model)


def _check(prediction, height, width):
    assert prediction.mask.shape == (height, width) and prediction.mask.dtype == bool
    assert 0.0 <= prediction.score <= 1.0
    assert prediction.box == mask_box(prediction.mask)
    assert prediction.heatmap.shape == (8, 8)


@pytest.mark.parametrize(
    "image",
    [
        np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8),  # odd size
        np.random.default_rng(1).integers(0, 255, (37, 53), dtype=np.uint8),  # grayscale
        np.random.default_rng(2).integers(0, 255, (37, 53, 1), dtype=np.uint8),
        np.random.default_rng(3).integers(0, 255, (37, 53, 4), dtype=np.uint8),  # RGBA
        np.random.default_rng(4).integers(0, 65535, (37, 53, 3), dtype=np.uint16),
        np.random.default_rng(5).random((37, 53, 3)),  # float in [0, 1]
        np.zeros((37, 53), dtype=bool),
    ],
    ids=["rgb", "gray", "gray1", "rgba", "uint16", "float", "bool"],
)
def test_any_ordinary_image_gives_a_mask_at_its_resolution(predictor, image):
    _check(predictor.predict(image, "the red circle"), 37, 53)


def test_pil_images_and_large_frames(predictor):
    _check(predictor.predict(Image.new("RGBA", (640, 480)), "the cup"), 480, 640)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros((2, 10, 10, 3), np.uint8), "shape"),
        (np.full((10, 10, 3), 2.0), r"\[0, 1\]"),
        (np.full((10, 10, 3), np.nan), "NaN"),
        (np.zeros((10, 10, 3), np.int64), "dtype"),
        (np.zeros((10, 10, 3), np.complex64), "dtype"),
    ],
)
def test_bad_images_are_clear_errors(predictor, image, message):
    with pytest.raises(ValueError, match=message):
        predictor.predict(image, "the cup")


def test_not_an_image():
    with pytest.raises(TypeError, match="numpy array or PIL"):
        to_rgb_uint8([[1, 2], [3, 4]])


@pytest.mark.parametrize("expression, error", [("", ValueError), ("   ", ValueError), ("x" * 1001, ValueError),
                                               (b"cup", TypeError)])
def test_bad_expressions_are_clear_errors(predictor, expression, error):
    with pytest.raises(error):
        predictor.predict(np.zeros((32, 32, 3), np.uint8), expression)


def test_stream_session_encodes_the_expression_once(tiny_model):
    predictor = Predictor(tiny_model)
    session = predictor.stream("the green star")
    frames = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8) for i in range(3)]
    results = [session.step(frame) for frame in frames]
    assert predictor._encode_cached.cache_info().misses == 1
    direct = predictor.predict(frames[1], "the green star")
    assert np.array_equal(direct.mask, results[1].mask) and direct.score == pytest.approx(results[1].score)
    assert set(results[0].timings) == {"text", "preprocess", "model", "postprocess"}


def test_mask_box_edges():
    mask = np.zeros((5, 6), bool)
    assert mask_box(mask) is None
    mask[1:3, 2:5] = True
    assert mask_box(mask) == (2.0, 1.0, 5.0, 3.0)


def test_resized_size_respects_short_side_and_cap():
    assert resized_size(480, 640, 128, 256) == (128, 171)
    assert resized_size(100, 1000, 128, 256) == (26, 256)


def test_short_side_override_changes_the_model_input_not_the_mask_size(tiny_model):
    predictor = Predictor(tiny_model, short_side=64)
    assert (predictor.short_side, predictor.max_size) == (64, 128)  # tiny trains at 128 / 256
    assert predictor.predict(np.zeros((120, 160, 3), np.uint8), "the cup").mask.shape == (120, 160)


@pytest.mark.parametrize("offset, found", [(-1e-3, True), (0.0, True), (1e-3, False)],
                         ids=["just_below_the_score", "at_the_score", "just_above_the_score"])
def test_found_is_the_score_against_the_threshold_and_not_found_masks_are_empty(tiny_model, offset, found):
    """Thresholds around this frame's own score (not only 0 and 1, which every score passes or fails): found iff
    score >= threshold; a found mask is the model's, a not-found one empty."""
    image = np.random.default_rng(7).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    reference = Predictor(tiny_model, found_threshold=0.0).predict(image, "the cup")
    assert 2e-3 < reference.score < 1 - 2e-3 and reference.mask.any(), "pick another image: the score must be inside"
    threshold = reference.score + offset
    prediction = Predictor(tiny_model, found_threshold=threshold).predict(image, "the cup")
    assert prediction.score == reference.score and prediction.found is found
    if found:
        assert np.array_equal(prediction.mask, reference.mask) and prediction.box is not None
    else:
        assert not prediction.mask.any() and prediction.box is None


def test_found_threshold_outside_0_1_is_refused(tiny_model):
    with pytest.raises(ValueError, match="found_threshold"):
        Predictor(tiny_model, found_threshold=1.5)


def test_from_pretrained_uses_the_manifests_calibrated_threshold(tiny_model, tmp_path):
    import json

    from vatex_core import save_weights
    from vatex_core.weights import DEFAULT_FOUND_THRESHOLD

    weights = tmp_path / "model.safetensors"
    save_weights(tiny_model, weights)
    assert Predictor.from_pretrained(weights).found_threshold == DEFAULT_FOUND_THRESHOLD  # no manifest
    weights.with_suffix(".json").write_text(json.dumps({"found_threshold": 0.83}))
    assert Predictor.from_pretrained(weights).found_threshold == 0.83
    assert Predictor.from_pretrained(weights, found_threshold=0.2).found_threshold == 0.2  # explicit wins
