"""Contrastive pretraining of the tiny CLIP on synthetic object crops and phrases.

The paper's CLIP Prior relies on a CLIP that already aligns image patches with phrases. The
tiny preset has no such pretrained CLIP, so we make one from phrases "a photo of the {size
colour texture shape}" that mention a random subset of an object's attributes, with two
contrastive terms:

- crops: crops centred on objects (random amount of context) vs. phrases; a phrase is a
  positive for every crop whose object it describes (multi-positive InfoNCE), so "a photo of
  the circle" is not pushed away from a second circle;
- patches: each phrase vs. the patches of its whole scene; the patches covered by the objects
  it describes are the positives. A tiny CLIP trained on crops alone does not localise (its
  heatmap's hottest cell hit the object 8% of the time on validation scenes), and localising
  is all the CLIP Prior asks of it.

Run (the embedded model's recipe: training/configs/tiny-1.2.0/README.md)::

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
    scenes_per_step: int = 32  # whole scenes per step for the patch-level loss
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


def cell_coverage(mask: np.ndarray, grid: int) -> np.ndarray:
    """Fraction of each cell of a grid x grid partition of a (H, W) bool mask that the mask covers."""
    tensor = torch.from_numpy(mask).float()[None, None]
    return nn.functional.adaptive_avg_pool2d(tensor, grid)[0, 0].flatten().numpy()  # (grid*grid,)


class ClipTrainer:
    """Holds the CLIP model, its tokenizer and the synthetic scenes."""

    def __init__(self, cfg: ClipPretrainConfig) -> None:
        self.cfg = cfg
        self.clip_cfg = preset(cfg.preset).clip
        torch.manual_seed(cfg.seed)
        self.model = build_clip(self.clip_cfg)
        self.tokenizer = build_tokenizer(self.clip_cfg)
        scene_cfg = SyntheticConfig()
        logger.info("generating %d train and %d val scenes", cfg.train_scenes, cfg.val_scenes)
        self.train_scenes = make_scenes(scene_cfg, "train", cfg.train_scenes, seed=cfg.seed)
        self.train_items = _items(self.train_scenes)
        self.val_scenes = make_scenes(scene_cfg, "val", cfg.val_scenes, seed=cfg.seed)
        self.mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    def encode_text(self, descriptions: list[Description]) -> torch.Tensor:
        """(M, D) unit-norm embeddings of "a photo of the ..." phrases."""
        return nn.functional.normalize(self.model.text(self.tokenizer([phrase(d) for d in descriptions]))[0], dim=-1)

    def scene_patches(self, scenes: list[SyntheticScene]) -> torch.Tensor:
        """(S, P, D) unit-norm patch embeddings of whole scenes, as the CLIP Prior computes them."""
        frames = torch.stack([torch.from_numpy(s.load_frames([0])[0]) for s in scenes]).permute(0, 3, 1, 2)
        size = self.clip_cfg.image_size
        resized = nn.functional.interpolate(frames.float() / 255, size=(size, size), mode="bilinear",
                                            align_corners=False)
        _, patches = self.model.visual((resized - self.mean) / self.std)
        return nn.functional.normalize(patches @ self.model.visual.proj, dim=-1)

    def crop_loss(self, rng: np.random.Generator) -> torch.Tensor:
        """Multi-positive InfoNCE between object crops and phrases (pooled embeddings)."""
        picks = rng.choice(len(self.train_items), size=self.cfg.batch_size, replace=False)
        items = [self.train_items[i] for i in picks]
        size = self.clip_cfg.image_size
        crops = torch.stack([crop_object(it, size, rng.uniform(*self.cfg.context)) for it in items])
        descriptions = [random_description(it.truth, rng) for it in items]
        image = nn.functional.normalize(self.model.visual((crops - self.mean) / self.std)[0], dim=-1)  # pooled
        logits = self.model.logit_scale.exp().clamp(max=100) * image @ self.encode_text(descriptions).T  # (B, B)
        positives = torch.tensor([[d.matches(it.truth) for d in descriptions] for it in items])
        return multi_positive_loss(logits, positives)

    def patch_loss(self, rng: np.random.Generator) -> torch.Tensor:
        """Each phrase, over the patches of its scene: the patches of the objects it describes win.

        This is what the CLIP Prior reads (cosine of each patch with the prompt), trained directly.
        """
        picks = rng.choice(len(self.train_scenes), size=self.cfg.scenes_per_step, replace=False)
        scenes = [self.train_scenes[i] for i in picks]
        patches = self.scene_patches(scenes)  # (S, P, D)
        rows, targets, descriptions = [], [], []
        for row, scene in enumerate(scenes):
            truth = scene.truth[rng.integers(len(scene.truth))]
            description = random_description(truth, rng)
            coverage = sum(
                cell_coverage(scene.load_mask(t.object_id, [0])[0], self.clip_cfg.grid_size)
                for t in scene.truth
                if description.matches(t)
            )
            rows.append(row)
            targets.append(coverage / max(coverage.sum(), 1e-6))
            descriptions.append(description)
        text = self.encode_text(descriptions)  # (S, D)
        logits = self.model.logit_scale.exp().clamp(max=100) * torch.einsum("spd,sd->sp", patches[rows], text)
        target = torch.from_numpy(np.stack(targets)).float()  # (S, P)
        return -(target * logits.log_softmax(-1)).sum(-1).mean()

    @torch.no_grad()
    def pointing_accuracy(self) -> float:
        """How often the heatmap's hottest cell lies mostly on the object its full description names (val)."""
        self.model.eval()
        hits = total = 0
        for start in range(0, len(self.val_scenes), 32):
            scenes = self.val_scenes[start : start + 32]
            patches = self.scene_patches(scenes)  # (S, P, D)
            for scene, scene_patches in zip(scenes, patches):
                full = [Description(t.shape, t.size, t.colour, t.texture) for t in scene.truth]
                hottest = (self.encode_text(full) @ scene_patches.T).argmax(-1)  # (O,)
                for truth, cell in zip(scene.truth, hottest.tolist()):
                    coverage = cell_coverage(scene.load_mask(truth.object_id, [0])[0], self.clip_cfg.grid_size)
                    hits += bool(coverage[cell] >= 0.25)
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
        loss = trainer.crop_loss(rng) + trainer.patch_loss(rng)
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
