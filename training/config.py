"""The training configuration: one dataclass tree, loaded from YAML (training/configs/, e.g. tiny-1.3.0/*.yaml).

Unknown keys are errors (a typo must not silently train the default). ``asdict(cfg)`` is
stored in every checkpoint and in the run directory. :func:`load_scenes` is the one place
mapping a dataset kind to its reader.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.criterion import LossConfig
from training.data import AugmentConfig, RefScene, load_davis, load_grefcoco, load_refer, load_ytvos
from training.independent import make_independent_scenes, make_independent_videos
from training.optim import OptimConfig
from training.previous_masks import PreviousMaskConfig
from training.synthetic import SyntheticConfig, make_motion_scenes, make_scenes, make_video_scenes
from vatex_core import VatexConfig, preset
from vatex_core.config import dataclass_from_dict, temporal_parts_problem
from vatex_core.encoders import FETCHED, fetched_encoders

REFER_KINDS = ("refcoco", "refcoco+", "refcocog")
DATASET_KINDS = (*REFER_KINDS, "grefcoco", "ytvos", "davis", "synthetic", "synthetic_video", "synthetic_motion",
                 "independent", "independent_motion")


@dataclass
class ModelSpec:
    """Which VATEX to build and where its starting weights come from."""

    preset: str = "tiny"  # vatex_core preset name
    overrides: dict[str, Any] = field(default_factory=dict)  # nested, e.g. {"head": {"decoder_layers": 3}}
    # local timm Swin weights (ImageNet); "fetched" = those of `vatex fetch-encoders`; None = random init
    backbone_checkpoint: str | None = None
    # local open_clip / OpenAI CLIP weights; "fetched" = those of `vatex fetch-encoders`; None = random init
    clip_checkpoint: str | None = None
    init_weights: str | None = None  # VATEX .safetensors to start from (Ref-YTVOS starts from RefCOCO)
    # modules of the model kept fixed (requires_grad False, no backward through them): top-level ones or their
    # parts by dotted path, e.g. [backbone, text_encoder, cmd] to fine-tune only the decoder, or [temporal.body];
    # [] = train everything
    frozen: list[str] = field(default_factory=list)
    # parts (backbone, cmd, decoder) whose activations are recomputed in backward: less memory, ~30% more time
    grad_checkpointing: tuple[str, ...] = ()

    def encoder_checkpoints(self) -> tuple[str | None, str | None]:
        """(backbone, CLIP) checkpoint files, with "fetched" resolved to the files of ``vatex fetch-encoders``.

        Raises:
            FileNotFoundError: "fetched" but nothing was fetched for this preset (the message gives the command).
            ValueError: the fetched files do not match their manifest.
        """
        if FETCHED not in (self.backbone_checkpoint, self.clip_checkpoint):
            return self.backbone_checkpoint, self.clip_checkpoint
        files = fetched_encoders(self.preset)
        return tuple(str(getattr(files, part)) if value == FETCHED else value  # type: ignore[return-value]
                     for part, value in (("backbone", self.backbone_checkpoint), ("clip", self.clip_checkpoint)))

    def build_config(self) -> VatexConfig:
        """The preset with ``overrides`` merged in, and the gradient checkpointing switch."""
        merged = _merge(preset(self.preset).to_dict(), self.overrides)
        return VatexConfig.from_dict({**merged, "grad_checkpointing": list(self.grad_checkpointing)})


@dataclass
class DataConfig:
    """Training / evaluation data."""

    kind: str = "synthetic"  # one of DATASET_KINDS
    root: str | None = None  # dataset folder (not used by the synthetic kinds)
    split: str = "train"
    eval_split: str = "val"  # default split of `vatex eval --config`
    split_by: str | None = None  # REFER partition (unc / umd / google); None = the usual one
    num_frames: int = 1  # frames per training clip (T)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    synthetic_scenes: dict[str, int] = field(default_factory=lambda: {"train": 2000, "val": 200, "test": 200})
    synthetic_seed: int = 0
    absent_negative_rate: float = 0.0  # training: chance a referring anchor's negative is a no-target expression
    # training: frames of a clip evenly spaced with one of these strides (temporal models); () = anywhere, in order
    window_strides: tuple[int, ...] = ()
    train_motion_scenes: int = 0  # training: motion videos (synthetic_motion) added to the training scenes
    scene_workers: int = 1  # processes drawing synthetic scenes (the same scenes for any number)


@dataclass
class TrainConfig:
    """A whole training run."""

    name: str = "synthetic_tiny"
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    previous_mask: PreviousMaskConfig = field(default_factory=PreviousMaskConfig)  # temporal models' memory in training
    batch_size: int = 24  # global batch of triplets; each of W processes takes batch_size / W
    max_iters: int = 100_000  # optimisation steps; lr steps are fractions of this
    amp: bool = True  # mixed precision; only used when CUDA is available
    out_dir: str = "runs/synthetic_tiny"  # logs, metrics.jsonl, checkpoints/
    checkpoint_interval: int = 1000  # steps between checkpoints (one is always written at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept; 0 keeps all
    log_interval: int = 20  # steps between log lines / metrics.jsonl records
    seed: int = 0
    num_workers: int = 2  # DataLoader worker processes per training process

    def __post_init__(self) -> None:
        if self.data.kind not in DATASET_KINDS:
            raise ValueError(f"unknown dataset kind {self.data.kind!r}; choose one of {', '.join(DATASET_KINDS)}")
        if self.batch_size < 1 or self.max_iters < 1:
            raise ValueError("batch_size and max_iters must be >= 1")
        temporal = self.model.build_config().temporal
        if self.loss.weight_motion > 0 and not temporal.memory_frames:
            raise ValueError("loss.weight_motion trains a temporal memory: set model.temporal.memory_frames > 0")
        if self.loss.weight_motion > 0 and not temporal.motion_encoder:
            raise ValueError("loss.weight_motion trains the motion encoder's residual: set "
                             "model.temporal.motion_encoder true")
        if problem := temporal_parts_problem(temporal):
            raise ValueError(f"model.{problem}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Reads a YAML training config; missing keys keep their defaults, unknown keys raise.

    A config may start from another with ``base: other.yaml`` (a path relative to the config's
    folder): its own keys are merged into the base's, nested mappings key by key.

    Args:
        path: YAML file.
        overrides: "dotted.key=value" strings applied on top, values parsed as YAML, e.g.
            ``["batch_size=2", "model.preset=tiny", "data.root=/data/refer"]``.
    """
    data = _read_yaml(Path(path))
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ValueError(f"override must look like key.sub=value, got {override!r}")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return config_from_dict(data)


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as nested dicts, with its ``base`` chain merged in."""
    if path.resolve() in seen:
        raise ValueError(f"config base cycle: {' -> '.join(str(p) for p in (*seen, path.resolve()))}")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    base = data.pop("base", None)
    if base is None:
        return data
    return _merge(_read_yaml(path.parent / base, (*seen, path.resolve())), data)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Builds a :class:`TrainConfig` from nested dicts (YAML or ``to_dict`` output)."""
    return dataclass_from_dict(TrainConfig, data, "config")


def load_scenes(data: DataConfig, split: str) -> list[RefScene]:
    """Reads (or generates) the scenes of one split of the configured dataset.

    Raises:
        ValueError: a real dataset without ``root``, or an unknown kind.
    """
    if data.kind in ("synthetic", "synthetic_video", "synthetic_motion"):
        make = {"synthetic": make_scenes, "synthetic_video": make_video_scenes,
                "synthetic_motion": make_motion_scenes}[data.kind]
        if split not in data.synthetic_scenes:
            raise ValueError(f"no scene count for synthetic split {split!r}; have {sorted(data.synthetic_scenes)}")
        return make(data.synthetic, split, data.synthetic_scenes[split], data.synthetic_seed, data.scene_workers)
    if data.kind == "independent":  # the evaluation-only renderer: its own val/test scenes and seeds
        return make_independent_scenes(split)
    if data.kind == "independent_motion":  # its motion videos (evaluation only, compared as streams)
        return make_independent_videos(split)
    if data.root is None:
        raise ValueError(f"dataset {data.kind!r} needs data.root (the dataset folder)")
    root = Path(data.root)
    if data.kind in REFER_KINDS:
        return load_refer(root, data.kind, split, data.split_by)
    if data.kind == "grefcoco":
        return load_grefcoco(root, split, data.split_by or "unc")
    if data.kind == "ytvos":
        return load_ytvos(root, split)
    if data.kind == "davis":
        return load_davis(root, split)
    raise ValueError(f"unknown dataset kind {data.kind!r}")


def load_training_scenes(data: DataConfig) -> list[RefScene]:
    """The training split's scenes, plus ``train_motion_scenes`` motion videos when asked for."""
    scenes = load_scenes(data, data.split)
    if data.train_motion_scenes:
        if data.kind != "synthetic":
            raise ValueError(f"train_motion_scenes adds synthetic motion videos to synthetic scenes, "
                             f"not to {data.kind!r}")
        scenes += make_motion_scenes(data.synthetic, data.split, data.train_motion_scenes, data.synthetic_seed,
                                     data.scene_workers)
    return scenes


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
