"""Fits a temporal model's motion logit (``model.temporal.motion_logit``) on its own streams, the rest fixed.

Why not in the training loop: the motion logit decides between queries the model has already segmented
(on motion val, the best query's mask fits the named object far better than the picked one's), and
what it needs is many frames where the choice is at stake. A training step decodes a few 3-frame clips
(seconds on the CPU); here the frozen model, its motion term set to zero, runs each training motion video once
as the node runs it (a stream: its own masks, its own memory), every frame's queries are kept (the object
log-odds without the term, the displacement measured under each query's mask, the words' motion request), and
the head's few hundred numbers are fitted on thousands of such frames in seconds, full batch.

The objective is the decision itself: on frames where the named object is in view and a query covers it
(IoU >= ``min_iou``), cross-entropy over the queries towards the best-covering one; on every frame, the
found statistic (the highest object log-odds) against the found threshold, towards found where the
object is in view and not found where it is not (an expression naming nothing, or its object out of
view), so the term does not move the found/not-found calibration. The last ``held_out`` of the scenes
are not fitted: they choose the epoch by their frames' J at the found threshold (what a stream scores: the
picked query's IoU on found frames where the object is in view, 1 on not-found frames where it is not, 0
otherwise), and report it and the picked query's IoU against the model without the term.

    python -m training.fit_motion_logit --config training/configs/tiny-1.4.0/temporal_logit_4h.yaml --out W_FITTED \
        --frames-cache runs/r4h/streams   # a second fit of the same model and videos reads the streams from there
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from training.config import load_config
from training.data.types import RefScene
from training.stream_eval import motion_kind, query_ious
from training.synthetic import make_motion_scenes
from training.train import load_init_weights
from vatex_core import Predictor, build_vatex, save_weights
from vatex_core.model import Vatex
from vatex_core.temporal import MotionLogit

logger = logging.getLogger(__name__)

CACHE_KEYS = {"model": "model", "scenes": "set of videos", "found_threshold": "found threshold"}  # key -> in words
STAMP_STEP = 0.1  # seconds between the frames of a synthetic video (its frame_interval)


@dataclass
class FitConfig:
    """How the motion logit is fitted."""

    scenes: int = 80  # training motion videos run as streams
    held_out: float = 0.2  # the last fraction of them: not fitted, they choose the epoch
    epochs: int = 2000  # full-batch Adam steps
    lr: float = 1e-2
    weight_decay: float = 1e-4
    min_iou: float = 0.5  # a query covers the named object from this IoU on
    check_every: int = 50  # epochs between held-out checks
    seed: int = 0


@dataclass
class StreamFrames:
    """Every frame with a memory of the streams run, one row each (N queries, L words at most)."""

    logodds: torch.Tensor  # (F, N) object log-odds without the motion term
    displacement: torch.Tensor  # (F, N, 3) measured under each query's mask
    request: torch.Tensor  # (F, R) the expression's motion request (vatex_core.motion_words)
    ious: torch.Tensor  # (F, N) IoU of each query's mask with the named object (0 when not in view)
    present: torch.Tensor  # (F,) bool: the named object is in view
    kinds: list[str]  # the expression's motion kind, "none" for the rest

    def __len__(self) -> int:
        return len(self.kinds)


def collect(predictor: Predictor, scenes: Sequence[RefScene]) -> StreamFrames:
    """Runs every expression of ``scenes`` as a stream and keeps each frame after the first (its memory holds one)."""
    rows: dict[str, list] = defaultdict(list)
    items = [(scene, obj, expression) for scene in scenes for obj in scene.objects for expression in obj.expressions]
    for scene, obj, expression in tqdm(items, desc="streams", dynamic_ncols=True):
        frames = scene.load_frames()  # (T, H, W, 3)
        truth = np.zeros(frames.shape[:3], dtype=bool) if obj.no_target else scene.load_mask(obj.object_id)
        session = predictor.stream(expression)
        for t, frame in enumerate(frames):
            session.step(frame, stamp=t * STAMP_STEP)
            if t == 0:
                continue
            out = predictor.last_output  # every query's
            logits = out["pred_logits"][0].float()
            rows["logodds"].append(logits[:, 0] - logits[:, 1] - out["motion_logit"][0].float())
            rows["displacement"].append(out["query_displacement"][0].float())
            rows["request"].append(session.text.motion[0].float())
            present = bool(truth[t].any())
            ious = query_ious(predictor, frame, truth[t]) if present else np.zeros(len(logits))
            rows["ious"].append(torch.from_numpy(ious).float())
            rows["present"].append(present)
            rows["kinds"].append(motion_kind(expression) or "none")
    return StreamFrames(*(torch.stack(rows[name]) for name in ("logodds", "displacement", "request", "ious")),
                        torch.tensor(rows["present"]), rows["kinds"])


def model_digest(model: Vatex) -> str:
    """SHA-256 of every tensor that decides the streams (the motion logit's are left out: they are zero while the
    streams run)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith("temporal.motion_logit."):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def collect_cached(predictor: Predictor, scenes: Sequence[RefScene], cache: Path | None) -> StreamFrames:
    """``collect``, read from ``cache`` when it holds the same model, scenes and found threshold, else
    collected and written there (None: no cache). The streams are the slow part of a fit (~14 s a video on a
    2-core CPU); the fit itself takes seconds, so trying fit settings again reads them here.

    Raises:
        ValueError: ``cache`` holds the streams of another model, other scenes or another threshold.
    """
    key = {"model": model_digest(predictor.model), "scenes": [scene.scene_id for scene in scenes],
           "found_threshold": predictor.found_threshold}
    if cache is not None and cache.exists():
        saved = torch.load(cache, weights_only=True)
        if saved["key"] != key:
            differ = [CACHE_KEYS[name] for name in key if saved["key"].get(name) != key[name]]
            raise ValueError(f"{cache} holds the streams of a different {' and '.join(differ)}: delete it or give "
                             "another --frames-cache")
        logger.info("streams of %d scenes read from %s", len(scenes), cache)
        return StreamFrames(**saved["frames"])
    frames = collect(predictor, scenes)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "frames": dataclasses.asdict(frames)}, cache)
    return frames


def _by_kind(values: torch.Tensor, rows: torch.Tensor, frames: StreamFrames) -> dict[str, float]:
    """Mean of ``values`` (F,) over ``rows`` (F,) bool, overall and per motion kind (NaN where no row)."""
    result = {}
    for kind in ("all", *sorted(set(frames.kinds))):
        kept = rows & torch.tensor([kind in ("all", k) for k in frames.kinds])
        result[kind] = float(values[kept].mean()) if kept.any() else math.nan
    return result


def _picked(scores: torch.Tensor, frames: StreamFrames) -> torch.Tensor:
    """IoU of each frame's highest-scoring query with the named object -> (F,)."""
    return frames.ious.gather(1, scores.argmax(1, keepdim=True))[:, 0]


def picked_iou(scores: torch.Tensor, frames: StreamFrames) -> dict[str, float]:
    """Mean IoU of the highest-scoring query on the frames where the named object is in view, overall and by kind."""
    return _by_kind(_picked(scores, frames), frames.present, frames)


def frame_j(scores: torch.Tensor, frames: StreamFrames, bar: float) -> dict[str, float]:
    """Mean region similarity of every frame as a stream scores it, the found threshold ``bar`` in log-odds: the
    picked query's IoU where found and in view, 1 where not found and not in view, 0 otherwise; overall and by
    kind."""
    picked = _picked(scores, frames)  # (F,)
    found = scores.max(1).values >= bar
    j = torch.where(found, torch.where(frames.present, picked, 0.0), (~frames.present).to(picked.dtype))
    return _by_kind(j, torch.ones_like(frames.present), frames)


def fit(head: MotionLogit, train: StreamFrames, held_out: StreamFrames, cfg: FitConfig,
        found_threshold: float) -> dict[str, dict[str, float]]:
    """Fits ``head`` in place from a fresh start (``reset_parameters``, seeded by ``cfg.seed``); returns the
    held-out and training frame J and picked-query IoU without the term and with it at the chosen epoch (epoch 0
    is the model without the term: a fit that does not help leaves none)."""
    torch.manual_seed(cfg.seed)
    head.reset_parameters()
    bar = math.log(found_threshold / (1 - found_threshold))  # the found threshold as log-odds
    best_query = train.ious.argmax(1)
    decided = train.present & (train.ious.max(1).values >= cfg.min_iou)  # frames where a query covers the object
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def scores(frames: StreamFrames) -> torch.Tensor:
        remembered = torch.ones(len(frames), dtype=torch.bool)  # every kept frame comes after the stream's first
        return frames.logodds + head(frames.request, frames.displacement, frames.logodds, remembered)

    with torch.no_grad():
        chosen = (frame_j(scores(held_out), held_out, bar)["all"], 0, copy.deepcopy(head.state_dict()))
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="fit", dynamic_ncols=True):
        score = scores(train)
        choice = torch.nn.functional.cross_entropy(score[decided], best_query[decided])
        found = torch.nn.functional.binary_cross_entropy_with_logits(score.max(1).values - bar, train.present.float())
        optimizer.zero_grad()
        (choice + found).backward()
        optimizer.step()
        if epoch % cfg.check_every == 0:
            with torch.no_grad():
                held = frame_j(scores(held_out), held_out, bar)["all"]
            logger.info("epoch %d: choice %.4f found %.4f, held-out frame J %.4f", epoch, choice.item(),
                        found.item(), held)
            if held > chosen[0]:
                chosen = (held, epoch, copy.deepcopy(head.state_dict()))
    head.load_state_dict(chosen[2])
    logger.info("kept epoch %d (held-out frame J %.4f)", chosen[1], chosen[0])
    with torch.no_grad():
        results: dict[str, dict[str, float]] = {"epoch": {"chosen": chosen[1]}}
        for name, frames in (("held-out", held_out), ("train", train)):
            with_term = scores(frames)
            results[f"{name} J without"] = frame_j(frames.logodds, frames, bar)
            results[f"{name} J with"] = frame_j(with_term, frames, bar)
            results[f"{name} picked IoU without"] = picked_iou(frames.logodds, frames)
            results[f"{name} picked IoU with"] = picked_iou(with_term, frames)
        return results


def fit_motion_logit(model: Vatex, scenes: Sequence[RefScene], cfg: FitConfig, found_threshold: float,
                     frames_cache: Path | None = None) -> dict[str, dict[str, float]]:
    """Runs ``scenes`` as streams and fits the model's motion logit on them (the rest of the model is not touched).

    ``frames_cache``: a folder keeping the streams (``collect_cached``: train.pt and held_out.pt).
    """
    if model.temporal is None or model.temporal.motion_logit is None:
        raise ValueError("the model has no motion logit (model.temporal.motion_logit)")
    if not 0.0 < found_threshold < 1.0:
        raise ValueError(f"found_threshold must be strictly between 0 and 1 (the fit reads it as log-odds), "
                         f"got {found_threshold}")
    split = len(scenes) - max(1, round(cfg.held_out * len(scenes)))
    if split < 1:
        raise ValueError(f"{len(scenes)} scenes leave none to fit after holding out {cfg.held_out:.0%}")
    model.temporal.motion_logit.reset_parameters()  # the streams run without the term; the fit starts there
    predictor = Predictor(model, found_threshold=found_threshold)  # found frames feed the memory, as in the node
    train, held_out = (collect_cached(predictor, part, frames_cache and frames_cache / f"{name}.pt")
                       for name, part in (("train", scenes[:split]), ("held_out", scenes[split:])))
    logger.info("%d frames to fit (%d scenes), %d held out (%d scenes)", len(train), split, len(held_out),
                len(scenes) - split)
    head = model.temporal.motion_logit.float().train()
    results = fit(head, train, held_out, cfg, found_threshold)
    model.eval()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True,
                        help="training config: the model (preset, overrides, init_weights) and the motion videos")
    parser.add_argument("--weights", help="start from these weights instead of the config's init_weights")
    parser.add_argument("--out", required=True, help="where the model with the fitted motion logit goes")
    parser.add_argument("--found-threshold", type=float, default=0.5, help="the threshold its streams run at")
    parser.add_argument("--frames-cache", type=Path,
                        help="folder keeping the streams, so that another fit of the same model and videos skips them")
    for name, value in vars(FitConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fit_cfg = FitConfig(**{name: getattr(args, name) for name in vars(FitConfig())})
    train_cfg = load_config(args.config)
    data = train_cfg.data
    model = build_vatex(train_cfg.model.build_config(), *train_cfg.model.encoder_checkpoints())
    start = args.weights or train_cfg.model.init_weights
    if start is None:
        parser.error("the config has no model.init_weights: give --weights")
    load_init_weights(model, start)  # a file without the motion logit (or the correlation) gets them at zero
    scenes = make_motion_scenes(data.synthetic, "train", fit_cfg.scenes, data.synthetic_seed)
    results = fit_motion_logit(model, scenes, fit_cfg, args.found_threshold, args.frames_cache)
    for name, values in results.items():
        logger.info("%s: %s", name, ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    save_weights(model, args.out)
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
