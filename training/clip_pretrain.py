"""Contrastive pretraining of the tiny CLIP on synthetic object crops and phrases.

The paper's CLIP Prior relies on a CLIP that already aligns image patches with phrases. The
tiny preset has no such pretrained CLIP, so we make one: crops centred on synthetic objects
(with a random amount of context) paired with phrases "a photo of the {size colour texture
shape}" that mention a random subset of the object's attributes. A phrase is a positive for
every crop in the batch whose object it describes (multi-positive InfoNCE), so "a photo of the
circle" is not pushed away from a second circle.

Run (the embedded model's recipe; see README)::

    vatex pretrain-clip --out runs/clip_tiny --steps 4000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from training.synthetic.config import SyntheticConfig
from training.synthetic.language import Description
from training.synthetic.layout import ObjectTruth
from training.synthetic.scenes import SyntheticScene, make_scenes
from vatex_core.clip_model import build_clip, build_tokenizer
from vatex_core.clip_prior import CLIP_MEAN, CLIP_STD
from vatex_core.config import preset

HELP = "pretrain the tiny preset's CLIP contrastively on synthetic crops and phrases"
logger = logging.getLogger(__name__)


@dataclass
class ClipPretrainConfig:
    preset: str = "tiny"  # whose CLIP sizes to train
    steps: int = 4000
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.1
    warmup_steps: int = 200
    train_scenes: int = 3000  # synthetic train-split scenes the crops come from
    val_scenes: int = 200  # val-split scenes for the retrieval and pointing checks
    context: tuple[float, float] = (1.1, 3.0)  # crop half-size / object radius
    seed: int = 0
    log_every: int = 100


@dataclass
class _Item:
    scene: SyntheticScene
    truth: ObjectTruth


def _items(scenes: list[SyntheticScene]) -> list[_Item]:
    return [_Item(scene, truth) for scene in scenes for truth in scene.truth]


def random_description(truth: ObjectTruth, rng: np.random.Generator) -> Description:
    """A phrase naming the object by its shape (or just "shape") and a random subset of attributes."""
    return Description(
        noun=truth.shape if rng.random() < 0.85 else "shape",
        size=truth.size if rng.random() < 0.5 else None,
        colour=truth.colour if rng.random() < 0.6 else None,
        texture=truth.texture if rng.random() < 0.4 else None,
    )


def phrase(description: Description) -> str:
    return "a photo of the " + " ".join(description.words())


def crop_object(item: _Item, size: int, context: float) -> torch.Tensor:
    """(3, size, size) crop in [0, 1] centred on the object's first-frame centre."""
    frame = Image.fromarray(item.scene.load_frames([0])[0])
    x, y = item.truth.centers[0]
    half = item.truth.radius * context
    crop = frame.crop((round(x - half), round(y - half), round(x + half), round(y + half)))  # black outside
    pixels = np.asarray(crop.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255
    return torch.from_numpy(pixels).permute(2, 0, 1)


def multi_positive_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where row i's positives are ``positives[i]`` (B, B) bool (diagonal included)."""
    targets = positives.float()
    image_to_text = -(targets / targets.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(targets / targets.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


class ClipTrainer:
    """Holds the CLIP model, its tokenizer and the synthetic crops."""

    def __init__(self, cfg: ClipPretrainConfig) -> None:
        self.cfg = cfg
        self.clip_cfg = preset(cfg.preset).clip
        torch.manual_seed(cfg.seed)
        self.model = build_clip(self.clip_cfg)
        self.tokenizer = build_tokenizer(self.clip_cfg)
        scene_cfg = SyntheticConfig()
        logger.info("generating %d train and %d val scenes", cfg.train_scenes, cfg.val_scenes)
        self.train_items = _items(make_scenes(scene_cfg, "train", cfg.train_scenes, seed=cfg.seed))
        self.val_scenes = make_scenes(scene_cfg, "val", cfg.val_scenes, seed=cfg.seed)
        self.mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    def batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, list[Description], list[ObjectTruth]]:
        picks = rng.choice(len(self.train_items), size=self.cfg.batch_size, replace=False)
        items = [self.train_items[i] for i in picks]
        crops = torch.stack(
            [crop_object(it, self.clip_cfg.image_size, rng.uniform(*self.cfg.context)) for it in items]
        )
        return crops, [random_description(it.truth, rng) for it in items], [it.truth for it in items]

    def step_loss(self, crops: torch.Tensor, descriptions: list[Description], truths: list[ObjectTruth]) -> torch.Tensor:
        image = nn.functional.normalize(self.model.visual((crops - self.mean) / self.std)[0], dim=-1)  # pooled
        text = nn.functional.normalize(self.model.text(self.tokenizer([phrase(d) for d in descriptions]))[0], dim=-1)
        logits = self.model.logit_scale.exp().clamp(max=100) * image @ text.T  # (B, B)
        positives = torch.tensor([[d.matches(t) for d in descriptions] for t in truths])
        return multi_positive_loss(logits, positives)

    @torch.no_grad()
    def pointing_accuracy(self) -> float:
        """How often the heatmap's hottest patch lies on the object its full description names (val scenes)."""
        self.model.eval()
        hits = total = 0
        size, grid = self.clip_cfg.image_size, self.clip_cfg.grid_size
        for scene in self.val_scenes:
            frame = torch.from_numpy(scene.load_frames([0])[0]).permute(2, 0, 1).float()[None] / 255
            resized = nn.functional.interpolate(frame, size=(size, size), mode="bilinear", align_corners=False)
            _, patches = self.model.visual((resized - self.mean) / self.std)
            patches = nn.functional.normalize(patches @ self.model.visual.proj, dim=-1)[0]  # (P, D)
            prompts = [phrase(Description(t.shape, t.size, t.colour, t.texture)) for t in scene.truth]
            text = nn.functional.normalize(self.model.text(self.tokenizer(prompts))[0], dim=-1)  # (O, D)
            hottest = (text @ patches.T).argmax(-1)  # (O,)
            for truth, cell in zip(scene.truth, hottest.tolist()):
                row, col = divmod(cell, grid)
                y = int((row + 0.5) * scene.image_size[0] / grid)
                x = int((col + 0.5) * scene.image_size[1] / grid)
                hits += bool(scene.load_mask(truth.object_id, [0])[0, y, x])
                total += 1
        self.model.train()
        return hits / max(total, 1)

    def save(self, path: Path, step: int, metrics: dict[str, float]) -> None:
        metadata = {
            "clip_config": json.dumps(asdict(self.clip_cfg)),
            "pretrain_config": json.dumps(asdict(self.cfg)),
            "step": str(step),
            "metrics": json.dumps(metrics),
        }
        tmp = path.with_name(path.name + ".tmp")
        safetensors.torch.save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(tmp), metadata)
        tmp.replace(path)


def pretrain(cfg: ClipPretrainConfig, out_dir: Path) -> Path:
    """Trains the CLIP and writes ``out_dir/clip.safetensors``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = ClipTrainer(cfg)
    optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to zero
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    rng = np.random.default_rng(cfg.seed)
    path = out_dir / "clip.safetensors"
    log = (out_dir / "log.jsonl").open("a")
    running = 0.0
    for step in tqdm(range(cfg.steps), desc="CLIP pretraining"):
        loss = trainer.step_loss(*trainer.batch(rng))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running += loss.item()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            metrics = {"step": step + 1, "loss": running / cfg.log_every, "lr": scheduler.get_last_lr()[0]}
            if (step + 1) % (cfg.log_every * 10) == 0 or step + 1 == cfg.steps:
                metrics["pointing"] = trainer.pointing_accuracy()
                trainer.save(path, step + 1, metrics)
            logger.info("%s", metrics)
            log.write(json.dumps(metrics) + "\n")
            log.flush()
            running = 0.0
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (clip.safetensors, log.jsonl)")
    parser.add_argument("--steps", type=int, default=ClipPretrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=ClipPretrainConfig.batch_size)
    parser.add_argument("--train-scenes", type=int, default=ClipPretrainConfig.train_scenes)
    parser.add_argument("--val-scenes", type=int, default=ClipPretrainConfig.val_scenes)
    parser.add_argument("--seed", type=int, default=ClipPretrainConfig.seed)


def run(args: argparse.Namespace) -> int:
    cfg = ClipPretrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        train_scenes=args.train_scenes,
        val_scenes=args.val_scenes,
        seed=args.seed,
    )
    path = pretrain(cfg, args.out)
    print(f"wrote {path}")
    return 0
