"""Inference API: ``Predictor.predict(image, expression)`` and streaming sessions for camera frames.

Text features (words and the CLIP-prior prompt) depend only on the expression, so they are
computed once per expression and cached; a ``StreamSession`` holds them for a stream of frames.

"Found" has one rule, used by evaluation, the CLI and the node alike: the object probability of
the chosen query is at least ``found_threshold`` (the weights' calibrated value, see
``vatex_core.weights.calibrated_threshold``). A prediction that is not found has an empty mask.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vatex_core.image_input import mask_to_input_size, prepare_frames, to_rgb_uint8
from vatex_core.model import Vatex
from vatex_core.text_encoder import TextFeatures
from vatex_core.weights import DEFAULT_FOUND_THRESHOLD, calibrated_threshold, load_vatex

logger = logging.getLogger(__name__)

MAX_EXPRESSION_CHARS = 1000  # longer text is no referring expression; CLIP reads 77 tokens anyway


@dataclass
class Prediction:
    """The referred object in one frame."""

    mask: np.ndarray  # (H, W) bool at the input image's resolution; empty when not found
    score: float  # object probability of the chosen query, in [0, 1]
    box: tuple[float, float, float, float] | None  # (x_min, y_min, x_max, y_max) in pixels; None if mask empty
    heatmap: np.ndarray | None  # (g, g) float32 CLIP-prior heatmap (center crop); None without a prior
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    found: bool = True  # score >= the predictor's found_threshold: the named object is there


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Tight box (x_min, y_min, x_max, y_max) around a mask, pixel edges included; None if empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def check_expression(expression: str) -> str:
    """Returns the stripped expression; ValueError if it is empty, not text, or absurdly long."""
    if not isinstance(expression, str):
        raise TypeError(f"expression must be a string, got {type(expression).__name__}")
    stripped = expression.strip()
    if not stripped:
        raise ValueError("expression is empty")
    if len(stripped) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression has {len(stripped)} characters; at most {MAX_EXPRESSION_CHARS} are accepted")
    return stripped


class Predictor:
    """Runs a VATEX model on images given as numpy arrays (HWC RGB uint8, or convertible) or PIL images."""

    def __init__(self, model: Vatex, text_cache_size: int = 64, short_side: int | None = None,
                 found_threshold: float = DEFAULT_FOUND_THRESHOLD) -> None:
        """``short_side``: the size frames are resized to for the model; None = the size it was trained at.
        ``found_threshold``: object probability from which a prediction is found (``from_pretrained``
        reads the weights' calibrated one)."""
        if not 0.0 <= found_threshold <= 1.0:
            raise ValueError(f"found_threshold must be in [0, 1], got {found_threshold}")
        self.found_threshold = found_threshold
        self.model = model.eval()
        trained = model.cfg.input
        self.short_side = short_side or trained.short_side
        # keep the trained aspect-ratio cap when running at another size
        self.max_size = round(trained.max_size * self.short_side / trained.short_side)
        self._encode_cached = functools.lru_cache(maxsize=text_cache_size)(self._encode)

    @classmethod
    def from_pretrained(
        cls, weights: str | Path | None = None, device: str = "cpu", short_side: int | None = None,
        found_threshold: float | None = None,
    ) -> Predictor:
        """Loads a weights file written by ``save_weights``; None loads the embedded tiny model.

        ``found_threshold`` None = the threshold calibrated for these weights (their manifest).
        """
        threshold = found_threshold if found_threshold is not None else calibrated_threshold(weights)
        return cls(load_vatex(weights, device), short_side=short_side, found_threshold=threshold)

    @torch.inference_mode()
    def _encode(self, expression: str) -> TextFeatures:
        return self.model.encode_text([expression])

    def encode(self, expression: str) -> TextFeatures:
        """Text features of an expression, from the cache when it was seen recently."""
        return self._encode_cached(check_expression(expression))

    def predict(self, image: np.ndarray | Image.Image, expression: str) -> Prediction:
        """Segments the object that ``expression`` names in ``image`` (any size; gray/RGBA converted)."""
        return self.predict_clip([image], expression)[0]

    def stream(self, expression: str) -> StreamSession:
        """A session that segments ``expression`` in frame after frame, encoding the text once."""
        return StreamSession(self, expression)

    @torch.inference_mode()
    def predict_clip(
        self, frames: Sequence[np.ndarray | Image.Image], expression: str | TextFeatures
    ) -> list[Prediction]:
        """Segments the referred object in a clip of frames that share the queries (video mode)."""
        if len(frames) == 0:
            raise ValueError("no frames given")
        start = time.perf_counter()
        text = expression if isinstance(expression, TextFeatures) else self.encode(expression)
        encoded = time.perf_counter()
        rgb = [to_rgb_uint8(frame) for frame in frames]
        batch, resized = prepare_frames(rgb, self.short_side, self.max_size)
        prepared = time.perf_counter()
        out = self.model(batch.to(self.model.device), text)
        inferred = time.perf_counter()

        probabilities = out["pred_logits"][0].softmax(-1)[:, 0]  # (N,) object probability per query
        best = int(probabilities.argmax())
        logits = mask_to_input_size(out["pred_masks"][0, best].float(), resized, rgb[0].shape[:2])  # (T, H, W)
        masks = (logits > 0).cpu().numpy()
        heatmap = None if out["prior_heatmap"] is None else out["prior_heatmap"][0].float().cpu().numpy()
        done = time.perf_counter()
        timings = {
            "text": encoded - start,
            "preprocess": prepared - encoded,
            "model": inferred - prepared,
            "postprocess": done - inferred,
        }
        score = float(probabilities[best])
        found = score >= self.found_threshold
        if not found:
            masks = np.zeros_like(masks)
        return [Prediction(mask, score, mask_box(mask), heatmap, dict(timings), found) for mask in masks]


class StreamSession:
    """Segments one expression in a stream of frames; the expression's text features are computed once."""

    def __init__(self, predictor: Predictor, expression: str) -> None:
        self.predictor = predictor
        self.expression = check_expression(expression)
        self.text = predictor.encode(self.expression)

    def step(self, image: np.ndarray | Image.Image) -> Prediction:
        """Segments the session's expression in one frame."""
        return self.predictor.predict_clip([image], self.text)[0]
