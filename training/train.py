"""Train VATEX (paper §3.4, §4.1) from a YAML config. One process per GPU under torchrun.

Run commands::

    vatex train --config training/configs/tiny-1.2.0/synthetic_tiny.yaml   # CPU, about an hour
    vatex train --config training/configs/refcoco.yaml --max-steps 2 --out /tmp/dry \
        --set data.root=/path/to/refer batch_size=2 model.preset=tiny data.augment.short_side=64 \
        model.backbone_checkpoint=null model.clip_checkpoint=null
    vatex train --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --resume runs/synthetic_tiny
    torchrun --nproc_per_node 2 -m training.train --config training/configs/refcoco.yaml

Each step: a batch of MCC triplets (B clips x 3 expressions) -> model -> SetCriterion
(class + BCE + dice over every prediction set, + MCC) -> AdamW step with full-model
gradient clipping -> lr step schedule. Rank 0 writes ``<out>/train.log``,
``<out>/metrics.jsonl`` (mean losses per log interval) and atomic checkpoints in
``<out>/checkpoints/``. ``--max-steps`` stops early without changing the lr schedule, so a
later ``--resume`` continues the same run exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from training.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from training.config import TrainConfig, load_config, load_training_scenes
from training.criterion import SetCriterion
from training.data import ReferTransform, TripletDataset, collate_triplets
from training.motion_loss import clip_motion_loss
from training.optim import build_optimizer, build_scheduler, clip_gradients
from training.previous_masks import previous_masks
from vatex_core import Vatex, build_vatex, load_weights, read_config
from vatex_core.config import TemporalConfig
from vatex_core.weights import load_checked_state

logger = logging.getLogger(__name__)

HELP = "train VATEX from a YAML config (use torchrun for several GPUs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="YAML training config, e.g. training/configs/tiny-1.2.0/synthetic_tiny.yaml")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop after this many steps (the lr schedule is kept)")
    parser.add_argument("--resume", default=None, help="checkpoint directory, checkpoints/ folder or run directory")
    parser.add_argument("--out", default=None, help="run directory (overrides out_dir of the config)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. data.root=/data/refer batch_size=2 model.preset=tiny "
                             "(--set may be given several times)")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    if args.out is not None:
        cfg.out_dir = args.out
    train(cfg, max_steps=args.max_steps, resume=args.resume)
    return 0


@dataclass
class Distributed:
    """Where this process sits in a (possibly single-process) run."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Distributed:
    """Joins the torchrun process group when WORLD_SIZE > 1; one GPU per process, else CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, world_size, device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def freeze(vatex: Vatex, modules: list[str]) -> None:
    """Keeps the named modules of the model fixed (before the optimizer is built): top-level ones ("backbone")
    or parts of them by their dotted path ("temporal.body").

    Raises:
        ValueError: a name is not a module of the model.
    """
    named = dict(vatex.named_modules())
    unknown = sorted(name for name in set(modules) if not name or name not in named)  # "" names the whole model
    if unknown:
        raise ValueError(f"model.frozen names unknown modules {unknown}; the model has "
                         f"{sorted(dict(vatex.named_children()))} (and their parts, by dotted path)")
    for name in modules:
        named[name].requires_grad_(False)
    if modules:
        trainable = sum(p.numel() for p in vatex.parameters() if p.requires_grad)
        logger.info("frozen %s; %d parameters train", ", ".join(modules), trainable)


def load_init_weights(vatex: Vatex, path: str | Path) -> None:
    """Starting weights: a file of the same config, or one of a model without the temporal parts this one adds.

    A temporal model started from per-frame weights (e.g. 1.3.0) takes every tensor but the motion
    encoder's, and a model with ``temporal.query_motion``, ``temporal.correlation_radius`` or
    ``temporal.motion_logit`` started from a temporal model without them takes every tensor but theirs: the
    new parts keep their zero-initialised outputs, so the model starts as the one in the file.
    ``temporal.measured_motion`` changes where the queries' motion comes from, not the parameters: every tensor
    is taken. The input size is no tensor's shape: weights trained at one short side start a run at another.
    """
    saved = read_config(path)
    if saved.input != vatex.cfg.input:
        logger.info("weights from %s were trained at short side %d / max %d; this run trains at %d / %d", path,
                    saved.input.short_side, saved.input.max_size, vatex.cfg.input.short_side, vatex.cfg.input.max_size)
    added = _added_temporal_parts(saved.temporal, vatex.cfg.temporal)
    if added is None:  # the same model, maybe at another input size
        if saved.input == vatex.cfg.input:
            load_weights(vatex, path)
            return
        if saved != dataclasses.replace(vatex.cfg, input=saved.input):
            raise ValueError(f"{path} holds a model of another configuration than {vatex.cfg.name!r}")
        load_checked_state(vatex, path)
        return
    if saved != dataclasses.replace(vatex.cfg, temporal=saved.temporal, input=saved.input):
        raise ValueError(f"{path} holds a model of another configuration than {vatex.cfg.name!r}")
    missing, unexpected = vatex.load_state_dict(safetensors.torch.load_file(str(path)), strict=not added)
    if unexpected or any(not name.startswith(added) for name in missing):
        raise ValueError(f"{path} does not fit the model's other parts: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    logger.info("weights from %s; %s (the model in the file)", path,
                f"{', '.join(added)} start untrained" if added else "the queries' motion is measured")


def _added_temporal_parts(saved: TemporalConfig, wanted: TemporalConfig) -> tuple[str, ...] | None:
    """The parameter-name prefixes of the temporal parts ``wanted`` adds to ``saved``'s model; None when it adds
    nothing. ``measured_motion`` adds no parameter (an empty prefix tuple when it is all that is added)."""
    if wanted.memory_frames and not saved.memory_frames:
        return ("temporal.",)
    optional = {"query_motion": "temporal.query_motion.", "correlation_radius": "temporal.correlation.",
                "measured_motion": None, "motion_logit": "temporal.motion_logit."}
    added = [name for name in optional if getattr(wanted, name) and not getattr(saved, name)]
    if not added or dataclasses.replace(saved, **{name: getattr(wanted, name) for name in added}) != wanted:
        return None
    return tuple(optional[name] for name in added if optional[name])


class TrainingModel(nn.Module):
    """Text encoding + forward in one ``forward`` so that DDP sees (and syncs) every parameter."""

    def __init__(self, vatex: Vatex) -> None:
        super().__init__()
        self.vatex = vatex

    def forward(self, frames: torch.Tensor, expressions: list[str], previous: torch.Tensor | None = None) -> dict:
        """frames (B, T, 3, H, W), B*3 expressions -> the model's output dict.

        ``previous``: a temporal model's teacher-forced memory masks (B*3, T, H/4, W/4).
        """
        return self.vatex(frames, self.vatex.encode_text(expressions), previous_masks=previous)


class ResumableSampler(DistributedSampler):
    """A shuffling DistributedSampler (drop_last) that can start part-way into an epoch."""

    def __init__(self, dataset: TripletDataset, world: Distributed, seed: int) -> None:
        super().__init__(dataset, num_replicas=world.world_size, rank=world.rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.start = 0

    def start_epoch(self, epoch: int, start: int = 0) -> None:
        """Use the permutation of ``epoch`` and skip its first ``start`` samples of this rank."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


def triplet_batches(
    loader: DataLoader, sampler: ResumableSampler, dataset: TripletDataset, epoch: int, position: int
) -> Iterator[tuple[int, int, dict]]:
    """Endless (epoch, batch index in epoch, batch) from (epoch, position) on."""
    while True:
        sampler.start_epoch(epoch, position * loader.batch_size)
        dataset.set_epoch(epoch)
        for batch in loader:
            yield epoch, position, batch
            position += 1
        epoch, position = epoch + 1, 0


def past_frames(steps: int) -> int:
    """How many of a clip's last frames a temporal model's step uses: 1 .. T, uniformly (torch's RNG).

    A stream's memory holds fewer frames at its start and after a reset; training sees every count.
    """
    return int(torch.randint(1, steps + 1, ()).item())


def train_step(
    model: nn.Module,
    criterion: SetCriterion,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batch: dict,
    cfg: TrainConfig,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """One optimisation step (no lr-schedule step).

    Args:
        model: :class:`TrainingModel` (or its DDP wrapper) on the target device.
        criterion: the loss.
        optimizer: AdamW over the model's parameter groups.
        scaler: AMP gradient scaler (disabled on CPU / bf16).
        batch: output of ``collate_triplets`` on the model's device.
        cfg: run config (grad clipping).
        autocast_dtype: CUDA autocast dtype, None for full precision.

    Returns:
        Every loss as a float plus "grad_norm" (before clipping).
    """
    device = batch["frames"].device
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    vatex = model.module.vatex if isinstance(model, DistributedDataParallel) else model.vatex
    frames, masks, has_object, previous = batch["frames"], batch["masks"], batch["has_object"], None
    moved = None  # a temporal model with a memory: the rows' object masks over the clip (motion term)
    if vatex.temporal is not None:  # the clip's last frame is decoded; the frames before it are its memory
        frames = frames[:, -past_frames(frames.shape[1]):]
        if frames.shape[1] > 1:
            previous = previous_masks(masks[:, -2], cfg.previous_mask)
            moved = masks
        masks, has_object = masks[:, -1:], batch["frame_has_object"][:, -1]
    with amp:
        outputs = model(frames, batch["expressions"], previous)
    losses = criterion(outputs, masks, has_object)  # float32, outside autocast
    if cfg.loss.weight_motion > 0 and moved is not None:
        losses["loss_motion"] = clip_motion_loss(outputs["motion"], moved, batch["image_sizes"])
        losses["loss"] = losses["loss"] + cfg.loss.weight_motion * losses["loss_motion"]
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(losses["loss"]).backward()
    scaler.unscale_(optimizer)
    grad_norm = clip_gradients(model, cfg.optim)
    scaler.step(optimizer)
    scaler.update()
    return {**{k: v.item() for k, v in losses.items()}, "grad_norm": float(grad_norm)}


def train(cfg: TrainConfig, max_steps: int | None = None, resume: str | Path | None = None) -> Path:
    """Runs (or resumes) training and returns the last checkpoint directory.

    Args:
        cfg: the run.
        max_steps: stop once this many steps are done (default ``cfg.max_iters``).
        resume: checkpoint to continue from (weights, optimizer, scheduler, RNG, data position).

    Raises:
        FileNotFoundError: ``resume`` holds no checkpoint (before any data is made or loaded).
    """
    if resume is not None:
        resume = resolve_checkpoint(resume)
    world = setup_distributed()
    if not world.is_main:  # one process speaks: the others log warnings and errors only (and show no progress bar)
        logging.getLogger().setLevel(logging.WARNING)
    out_dir = Path(cfg.out_dir)
    log_handler = _setup_run_dir(out_dir, cfg) if world.is_main else None
    try:
        return _train(cfg, world, out_dir, max_steps, resume)
    finally:
        if log_handler is not None:
            logging.getLogger().removeHandler(log_handler)
            log_handler.close()


def _train(cfg: TrainConfig, world: Distributed, out_dir: Path, max_steps: int | None,
           resume: str | Path | None) -> Path:
    """The body of :func:`train`."""
    seed_everything(cfg.seed + world.rank)
    model_cfg = cfg.model.build_config()
    vatex = build_vatex(model_cfg, *cfg.model.encoder_checkpoints()).to(world.device)
    if ((cfg.data.augment.short_side, cfg.data.augment.max_size)
            != (model_cfg.input.short_side, model_cfg.input.max_size)):
        logger.warning("training at short side %d / max %d, but the model config (used at inference) says %d / %d",
                       cfg.data.augment.short_side, cfg.data.augment.max_size,
                       model_cfg.input.short_side, model_cfg.input.max_size)
    if model_cfg.name == "paper" and not (cfg.model.init_weights or cfg.model.backbone_checkpoint):
        logger.warning("paper preset without backbone_checkpoint / init_weights: encoders start from random weights")
    if cfg.model.init_weights and resume is None:
        load_init_weights(vatex, cfg.model.init_weights)
        logger.info("initialised from %s", cfg.model.init_weights)
    freeze(vatex, cfg.model.frozen)
    optimizer = build_optimizer(vatex, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, cfg.max_iters)
    use_amp = cfg.amp and world.device.type == "cuda"
    autocast_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if use_amp else None
    scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype == torch.float16)
    criterion = SetCriterion(cfg.loss).to(world.device)

    if cfg.batch_size % world.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world.world_size} processes")
    dataset = TripletDataset(
        load_training_scenes(cfg.data), ReferTransform(cfg.data.augment), cfg.data.num_frames, cfg.seed,
        cfg.data.absent_negative_rate, cfg.data.window_strides or None,
    )
    sampler = ResumableSampler(dataset, world, cfg.seed)
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size // world.world_size, sampler=sampler, num_workers=cfg.num_workers,
        collate_fn=collate_triplets, drop_last=True, pin_memory=world.device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # keeps the global RNG untouched by the loader
    )
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training items give no batch of {loader.batch_size} per process")

    step, epoch, position = 0, 0, 0
    if resume is not None:
        # Only rank 0's RNG state is saved: other ranks reseed (exact resume is single-process).
        state = load_checkpoint(resume, vatex, optimizer, scheduler, restore_rng=world.is_main)
        scaler.load_state_dict(state["scaler"])
        step, epoch, position = state["step"], state["data"]["epoch"], state["data"]["position"]
        if not world.is_main:
            seed_everything(cfg.seed + world.rank + step)
    model: nn.Module = TrainingModel(vatex)
    if world.world_size > 1:
        model = DistributedDataParallel(model, device_ids=[world.device.index] if world.device.type == "cuda" else None)
    model.train()

    def checkpoint() -> Path:
        train_state = {
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "data": {"epoch": epoch, "position": position}, "train_config": cfg.to_dict(),
        }
        return save_checkpoint(out_dir / "checkpoints", step, vatex, train_state, cfg.keep_checkpoints)

    last_steps = min(max_steps or cfg.max_iters, cfg.max_iters)
    batches = triplet_batches(loader, sampler, dataset, epoch, position)
    sums: dict[str, float] = defaultdict(float)
    interval_start, interval_steps, last = time.time(), 0, None
    progress = tqdm(total=last_steps, initial=step, desc="train", disable=not world.is_main, dynamic_ncols=True)
    while step < last_steps:
        epoch, position, batch = next(batches)
        batch = _to_device(batch, world.device)
        for name, value in train_step(model, criterion, optimizer, scaler, batch, cfg, autocast_dtype).items():
            sums[name] += value
        scheduler.step()
        step, position, interval_steps = step + 1, position + 1, interval_steps + 1  # position: batches done this epoch
        progress.update(1)
        if step % cfg.log_interval == 0 or step == last_steps:
            means = _mean_over_ranks(sums, interval_steps, world)
            if world.is_main:
                record = {"step": step, "epoch": epoch, "lr": max(g["lr"] for g in optimizer.param_groups),
                          **means, "sec_per_step": (time.time() - interval_start) / interval_steps}
                _log_metrics(out_dir, record)
                progress.set_postfix(loss=f"{record['loss']:.3f}")
            sums.clear()
            interval_start, interval_steps = time.time(), 0
        if world.is_main and (step % cfg.checkpoint_interval == 0 or step == last_steps):
            last = checkpoint()
    progress.close()
    if world.world_size > 1:
        dist.barrier()
    return last if last is not None else out_dir / "checkpoints"


def _mean_over_ranks(sums: dict[str, float], count: int, world: Distributed) -> dict[str, float]:
    """Per-step means of the summed losses, averaged over all processes (a collective under DDP)."""
    names = sorted(sums)
    values = torch.tensor([sums[name] for name in names], dtype=torch.float64, device=world.device)
    if world.world_size > 1:
        dist.all_reduce(values)
        values /= world.world_size
    return {name: value / count for name, value in zip(names, values.tolist())}


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _setup_run_dir(out_dir: Path, cfg: TrainConfig) -> logging.Handler:
    """Creates the run directory and ``config.json``; returns the ``train.log`` handler it added."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    handler = logging.FileHandler(out_dir / "train.log")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    logger.info("run directory %s", out_dir)
    return handler


# the final set's losses, logged each interval (metrics.jsonl gets every loss)
_LOGGED_LOSSES = ("loss", "loss_ce", "loss_mask", "loss_dice", "loss_mcc", "loss_found")


def _log_metrics(out_dir: Path, record: dict) -> None:
    with open(out_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    losses = " ".join(f"{k}={v:.4f}" for k, v in record.items() if k in _LOGGED_LOSSES)
    logger.info("step %d lr %.2e %s (%.2fs/step)", record["step"], record["lr"], losses, record["sec_per_step"])


def main(argv: list[str] | None = None) -> int:
    """``python -m training.train`` (what torchrun starts): ``vatex train`` without the ROS package's CLI."""
    parser = argparse.ArgumentParser(prog="python -m training.train", description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (OSError, ValueError) as error:  # bad input (files, values, environment): one line, no traceback
        logger.error("%s", " ".join(str(error).split())[:1000])
        return 2


if __name__ == "__main__":  # torchrun --nproc_per_node N -m training.train --config ...
    sys.exit(main())
