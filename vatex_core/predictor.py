"""Inference API: ``Predictor.predict(image, expression)`` and streaming sessions for camera frames.

Text features (words and the CLIP-prior prompt) depend only on the expression, so they are
computed once per expression and cached; a ``StreamSession`` (:mod:`vatex_core.stream`) holds them
for a stream of frames, with the temporal memory of a temporal model and the target id.

"Found" has one rule, used by evaluation, the CLI and the node alike: the object probability of
the chosen query is at least ``found_threshold`` (the weights' calibrated value, see
``vatex_core.weights.calibrated_threshold``). A prediction that is not found has an empty mask.
"""

from __future__ import annotations

import functools
import itertools
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
from vatex_core.runtime import build_runner, check_backend, precision_dtype
from vatex_core.stream import DEFAULT_MAX_GAP, StreamSession
from vatex_core.temporal import FrameMemory
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
    target_id: int = 0  # streams: the followed object's id (same object, same id); 0 = not found / no stream


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

    def __init__(
        self,
        model: Vatex,
        text_cache_size: int = 64,
        short_side: int | None = None,
        found_threshold: float = DEFAULT_FOUND_THRESHOLD,
        precision: str = "fp32",
        compile: bool = False,
        backend: str = "torch",
    ) -> None:
        """Wraps a model for inference.

        Args:
            model: the model; put in eval mode and converted in place to the precision's dtype.
            text_cache_size: expressions whose text features are kept.
            short_side: the size frames are resized to for the model; None = the size it was trained at.
            found_threshold: object probability from which a prediction is found (``from_pretrained``
                reads the weights' calibrated one).
            precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``: the dtype the weights are converted to once.
            compile: ``torch.compile`` the model (CUDA graphs on CUDA) for fixed input sizes; call
                :meth:`warmup` at start-up so that the first frame does not compile.
            backend: ``"torch"``, or ``"onnxruntime"`` (CPU, fp32; :mod:`vatex_core.onnx_runner`: a graph exported
                per input size, cached on disk; call :meth:`warmup` at start-up so that the first frame does not
                export).
        """
        if not 0.0 <= found_threshold <= 1.0:
            raise ValueError(f"found_threshold must be in [0, 1], got {found_threshold}")
        self.found_threshold = found_threshold
        self._runner = build_runner(model, precision, compile, backend)
        self.backend = backend
        self.model = self._runner.model
        self.precision = precision
        trained = model.cfg.input
        self.short_side = short_side or trained.short_side
        # keep the trained aspect-ratio cap when running at another size
        self.max_size = round(trained.max_size * self.short_side / trained.short_side)
        self._encode_cached = functools.lru_cache(maxsize=text_cache_size)(self._encode)
        self._target_ids = itertools.count(1)
        # the model's outputs of the newest stream forward, every query's (probes and fits read them); the next
        # call replaces them (a CUDA-graph run overwrites them in place)
        self.last_output: dict | None = None

    @classmethod
    def from_pretrained(
        cls,
        weights: str | Path | None = None,
        device: str = "cpu",
        short_side: int | None = None,
        found_threshold: float | None = None,
        precision: str = "fp32",
        compile: bool = False,
        backend: str = "torch",
    ) -> Predictor:
        """Loads a weights file written by ``save_weights``; None loads the embedded tiny model.

        ``found_threshold`` None = the threshold calibrated for these weights (their manifest).
        """
        precision_dtype(precision)  # a bad name or combination fails before the weights are read
        check_backend(backend, precision, compile)
        threshold = found_threshold if found_threshold is not None else calibrated_threshold(weights)
        return cls(load_vatex(weights, device), short_side=short_side, found_threshold=threshold,
                   precision=precision, compile=compile, backend=backend)

    def warmup(self, frame_size: tuple[int, int], streams: int = 1, calls: int = 3) -> float:
        """Runs ``calls`` frames of ``frame_size`` (height, width) through ``streams`` sessions; returns seconds.

        Compiles the model for that size (and records its CUDA graphs), so the first real frame is
        as fast as the others. Call it at start-up with the camera's frame size.
        """
        started = time.perf_counter()
        frame = np.zeros((*frame_size, 3), dtype=np.uint8)
        sessions = [self.stream("warm-up") for _ in range(streams)]
        for _ in range(calls):
            if streams == 1:
                sessions[0].step(frame)
            else:
                self.step_batch(sessions, [frame] * streams)
        seconds = time.perf_counter() - started
        logger.info("warmed up for %dx%d frames, %d stream(s), in %.1f s", frame_size[1], frame_size[0], streams,
                    seconds)
        return seconds

    @torch.inference_mode()
    def _encode(self, expression: str) -> TextFeatures:
        return self.model.encode_text([expression])

    def encode(self, expression: str) -> TextFeatures:
        """Text features of an expression, from the cache when it was seen recently."""
        return self._encode_cached(check_expression(expression))

    def predict(self, image: np.ndarray | Image.Image, expression: str) -> Prediction:
        """Segments the object that ``expression`` names in ``image`` (any size; gray/RGBA converted)."""
        return self.predict_clip([image], expression)[0]

    def stream(self, expression: str, max_gap: float = DEFAULT_MAX_GAP) -> StreamSession:
        """A session that segments ``expression`` in frame after frame, encoding the text once.

        ``max_gap``: seconds between frame stamps beyond which a temporal model's memory resets.
        """
        return StreamSession(self, expression, max_gap)

    def next_target_id(self) -> int:
        """A target id no session of this predictor has used (1, 2, ...)."""
        return next(self._target_ids)

    @torch.inference_mode()
    def predict_clip(
        self, frames: Sequence[np.ndarray | Image.Image], expression: str | TextFeatures
    ) -> list[Prediction]:
        """Segments the referred object in a clip of frames (video mode).

        A temporal model runs the clip as a stream, frame after frame, each frame seeing only its
        past (the same computation as the node's). A per-frame model decodes the clip at once with
        queries shared over its frames.
        """
        if len(frames) == 0:
            raise ValueError("no frames given")
        if self.model.temporal is not None:
            session = StreamSession(self, expression)
            return [session.step(frame) for frame in frames]
        start = time.perf_counter()
        text = expression if isinstance(expression, TextFeatures) else self.encode(expression)
        encoded = time.perf_counter()
        rgb = [to_rgb_uint8(frame) for frame in frames]
        batch, resized = prepare_frames(rgb, self.short_side, self.max_size)
        prepared = time.perf_counter()
        out = self._runner(batch, text)
        inferred = time.perf_counter()

        probabilities = out["scores"][0]  # (N,) object probability per query
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


    def run_model(self, frames: torch.Tensor, text: TextFeatures) -> dict:
        """The bare model call as this predictor makes it: ``model(frames, text)`` in its precision and backend,
        compiled or not.

        frames: (B, T, 3, H, W) RGB in [0, 1], H and W multiples of 32 (any device and dtype).
        Outputs of a CUDA-graph run are overwritten by the next call: read them first.
        """
        return self._runner(frames, text)

    @torch.inference_mode()
    def step_batch(
        self,
        sessions: Sequence[StreamSession],
        images: Sequence[np.ndarray | Image.Image],
        stamps: Sequence[float | None] | None = None,
    ) -> list[Prediction]:
        """One frame for each of several sessions (N cameras, or N expressions on one camera), in shared forwards.

        Frames of one size share one forward. Sessions given the same image object share it: when every
        image object of a size is given to the same number of sessions (N expressions on each of M cameras),
        the forward has M clips of N expressions each, so the backbone and the CLIP image tower run once per
        image, not once per session.
        Results equal ``session.step(image)`` one by one, up to float rounding.

        Args:
            sessions: streams of this predictor.
            images: ``images[i]`` is the frame for ``sessions[i]`` (any size; gray/RGBA converted).
            stamps: ``stamps[i]`` is that frame's time in seconds, or None (no time checks); see
                :mod:`vatex_core.stream` for the resets they cause.

        Returns:
            one Prediction per session, in order; ``timings["model"]`` is the shared forward's time.
        """
        if len(sessions) != len(images):
            raise ValueError(f"{len(sessions)} sessions but {len(images)} images")
        if any(session.predictor is not self for session in sessions):
            raise ValueError("every session must belong to this predictor")
        if stamps is not None and len(stamps) != len(sessions):
            raise ValueError(f"{len(sessions)} sessions but {len(stamps)} stamps")
        if len({id(session) for session in sessions}) != len(sessions):
            raise ValueError("a session can take one frame per call")
        rgb = [to_rgb_uint8(image) for image in images]
        for session, frame, stamp in zip(sessions, rgb, stamps or [None] * len(rgb)):
            session.before_frame(frame.shape[:2], stamp)
        groups: dict[tuple[int, int], list[int]] = {}
        for row, frame in enumerate(rgb):
            groups.setdefault(frame.shape[:2], []).append(row)
        results: list[Prediction | None] = [None] * len(rgb)
        for rows in groups.values():
            rows, per_clip = _clip_major(rows, images)
            for row, prediction in zip(rows, self._forward_group(sessions, rgb, rows, per_clip)):
                results[row] = prediction
        return results

    def _forward_group(
        self, sessions: Sequence[StreamSession], rgb: list[np.ndarray], rows: list[int], per_clip: int
    ) -> list[Prediction]:
        """One forward for the sessions ``rows`` whose frames have one size: clips of ``per_clip`` consecutive
        rows that share one image (see :func:`_clip_major`)."""
        start = time.perf_counter()
        clip_frames = [rgb[rows[first]] for first in range(0, len(rows), per_clip)]
        batch, resized = prepare_frames(clip_frames, self.short_side, self.max_size)  # (1, B, 3, Hp, Wp)
        frames = batch.transpose(0, 1)  # (B, 1, 3, Hp, Wp): each frame is a clip of one frame
        text = TextFeatures.cat([sessions[row].text for row in rows])
        memory = self._group_memory([sessions[row] for row in rows], frames.shape[-2:])
        prepared = time.perf_counter()
        out = self._runner(frames, text, memory)
        self.last_output = out
        inferred = time.perf_counter()
        probabilities = out["scores"]  # (N_rows, queries) object probability
        best = probabilities.argmax(-1)  # (N_rows,)
        picked = out["pred_masks"][torch.arange(len(rows), device=best.device), best, 0]  # (N_rows, H4, W4)
        logits = mask_to_input_size(picked.float(), resized, rgb[rows[0]].shape[:2])  # (N_rows, H, W)
        masks = (logits > 0).cpu().numpy()
        scores = probabilities.gather(1, best[:, None])[:, 0].float().cpu().tolist()
        heatmaps = None if out["prior_heatmap"] is None else out["prior_heatmap"].float().cpu().numpy()
        found = [score >= self.found_threshold for score in scores]
        if self.model.temporal is not None:
            self._remember([sessions[row] for row in rows], memory, out["frame_features"], picked, found)
        done = time.perf_counter()
        timings = {"text": 0.0, "preprocess": prepared - start, "model": inferred - prepared,
                   "postprocess": done - inferred}
        masks = [mask if hit else np.zeros_like(mask) for mask, hit in zip(masks, found)]
        predictions = [
            Prediction(mask, score, mask_box(mask), None if heatmaps is None else heatmaps[index], dict(timings), hit)
            for index, (mask, score, hit) in enumerate(zip(masks, scores, found))
        ]
        for row, prediction in zip(rows, predictions):
            sessions[row].after_frame(prediction)
        return predictions

    def _group_memory(self, sessions: list[StreamSession], padded: torch.Size) -> FrameMemory | None:
        """The sessions' memories stacked for one forward; None when the model has none or no session remembers."""
        if self.model.temporal is None or all(session.memory is None for session in sessions):
            return None
        like = next(session.memory for session in sessions if session.memory is not None)
        empty = FrameMemory.empty(1, like.features.shape[1], like.features[0, 0])
        if like.features.shape[-2:] != (padded[0] // 4, padded[1] // 4):
            raise RuntimeError("a session's memory does not fit its frame size (the frame_size reset should have run)")
        return FrameMemory.cat([session.memory or empty for session in sessions])

    def _remember(self, sessions: list[StreamSession], memory: FrameMemory | None, features: torch.Tensor,
                  mask_logits: torch.Tensor, found: list[bool]) -> None:
        """Each session's memory after this frame: its target mask if found, its stride-4 features if kept.

        features: (N_rows, C0, H4, W4); mask_logits: (N_rows, H4, W4) of the chosen queries.
        """
        if memory is None:
            memory = FrameMemory.empty(len(sessions), self.model.cfg.temporal.memory_frames, features[0])
        hits = torch.tensor(found, device=mask_logits.device, dtype=mask_logits.dtype)[:, None, None]
        target = (mask_logits.sigmoid() * hits)[:, None]  # (N_rows, 1, H4, W4); zeros where not found
        target = target.clone()  # clone: a CUDA-graph run reuses its outputs
        pushed = memory.pushed(features.clone(), target)
        for row, session in enumerate(sessions):
            rows, kept = slice(row, row + 1), session.keeps_frame()
            session.remember(pushed.index(rows) if kept else
                             FrameMemory(memory.features[rows], memory.valid[rows], target[rows]), kept)


def _clip_major(rows: list[int], images: Sequence[object]) -> tuple[list[int], int]:
    """``rows`` ordered as the model pairs clips and expressions (clip-major), and the expressions per clip.

    Rows given the same image object form one clip. When every clip has the same number K of rows, returns
    them clip by clip and K (the model encodes each image once and pairs row r with clip r // K); otherwise
    ``rows`` unchanged and 1 (one clip per row).
    """
    clips: dict[int, list[int]] = {}
    for row in rows:
        clips.setdefault(id(images[row]), []).append(row)
    sizes = {len(clip) for clip in clips.values()}
    if len(sizes) != 1:
        return rows, 1
    return [row for clip in clips.values() for row in clip], sizes.pop()
