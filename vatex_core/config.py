"""Configuration of the VATEX model: one small dataclass per component, and the two presets.

The presets are the single place where sizes are defined. ``paper`` is the configuration of the
VATEX paper (Swin-B + CLIP ViT-B/16, C=256, 9 decoder layers, 5 queries); ``tiny`` builds the
same modules with small widths so that it trains on a CPU.
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

FORMAT_VERSION = 1  # bumped when the meaning of a saved config or state dict changes
# Parts whose activations can be recomputed in backward: Swin's stages, the CMD's multi-scale
# encoder layers, the transformer decoder's layers.
CHECKPOINTABLE = ("backbone", "cmd", "decoder")


def check_checkpointable(parts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``parts`` as a tuple; ValueError if one is not in CHECKPOINTABLE."""
    unknown = sorted(set(parts) - set(CHECKPOINTABLE))
    if unknown:
        raise ValueError(f"grad_checkpointing names unknown parts {unknown}; choose from {list(CHECKPOINTABLE)}")
    return tuple(parts)


@dataclass
class BackboneConfig:
    """Visual backbone (Swin) built with timm."""

    timm_name: str = "swin_base_patch4_window12_384"  # timm architecture to build
    embed_dim: int | None = None  # overrides of the timm architecture; None keeps timm's value
    depths: tuple[int, ...] | None = None
    num_heads: tuple[int, ...] | None = None
    window_size: int | None = None
    drop_path_rate: float = 0.3  # stochastic depth, as Mask2Former uses for Swin-B
    # True: Video Swin-B (torchvision swin3d_b) over each clip, as the paper does for video (Table 3);
    # timm_name and the size overrides above are then unused
    video: bool = False


@dataclass
class ClipConfig:
    """The CLIP model (open_clip): frozen image tower for the prior, text tower as text encoder."""

    embed_dim: int = 512  # joint image-text embedding width
    image_size: int = 224  # the prior sees a center crop of this size
    patch_size: int = 16  # heatmap has (image_size / patch_size)^2 cells
    vision_width: int = 768
    vision_layers: int = 12
    vision_head_width: int = 64
    vision_pool: str = "tok"  # CLIP ViT pools the CLS token; "avg" pools the patches (trains them directly)
    context_length: int = 77  # max tokens, SOT and EOT included
    vocab_size: int = 49408  # CLIP BPE vocabulary
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12
    freeze_text: bool = False  # the paper trains the text tower at the backbone lr; True freezes it

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size


@dataclass
class HeadConfig:
    """Everything VATEX adds on top of the encoders: CLIP-prior FFN, CMD, transformer decoder."""

    hidden_dim: int = 256  # C in the paper
    num_heads: int = 8
    text_ffn_dim: int = 256  # text projection FFN: text_width -> text_ffn_dim -> hidden_dim
    prior_ffn_dim: int = 256  # prior FFN: heatmap cells -> prior_ffn_dim -> hidden_dim
    encoder_layers: int = 6  # multi-scale encoder inside the CMD
    encoder_ffn_dim: int = 1024
    encoder_attention: str = "deformable"  # "deformable" (paper) or "dense" (plain multi-scale attention)
    deformable_points: int = 4  # sampling points per head, level and query
    decoder_layers: int = 9
    decoder_ffn_dim: int = 2048
    num_queries: int = 5
    groupnorm_groups: int = 32
    use_clip_prior: bool = True  # False = the paper's ablation baseline: queries from text features only


@dataclass
class TemporalConfig:
    """Causal memory of a video stream (``vatex_core.temporal``); 0 frames = the per-frame model."""

    memory_frames: int = 0  # K past frames whose stride-4 features are kept (motion); 0 turns the memory off
    motion_dim: int = 64  # width of the motion encoder
    # each decoder query also reads the motion under its own mask (``QueryMotion``): direction and speed
    # reach the query that scores the object, not only the stride-8 map
    query_motion: bool = False
    # with r > 0 the motion encoder also reads, per memory slot, the cosine similarity of each stride-4 cell with
    # the past frame's cells up to r cells away ((2r+1)^2 channels): which way a thing moved, not only that it did
    correlation_radius: int = 0
    # the queries' motion (query_motion) is measured, not learnt: the correlation (correlation_radius) averaged
    # under each query's mask peaks where that query's object was in each past frame (``measured_motion``)
    measured_motion: bool = False
    # the decision reads the memory too: each query's displacement measured under its final mask (as with
    # measured_motion) is compared with what the motion words ask for ("moving left", "not moving", "fastest";
    # a lexicon, ``vatex_core.motion_words``), and the match is added to its object logit (``MotionLogit``); needs
    # correlation_radius
    motion_logit: bool = False
    motion_logit_hidden: int = 16  # width of the motion logit's MLP
    # the motion encoder: a residual for the stride-8 map from the memory's frames (what 4a-4g trained); off, the
    # memory only measures (motion_logit), adds nothing to the features and costs only the measurement
    motion_encoder: bool = True
    # seconds between the frames the memory keeps, whatever the camera's rate (a frame that comes sooner
    # updates only the target mask); the synthetic training videos are 10 frames a second
    frame_interval: float = 0.1


@dataclass
class InputConfig:
    """Image size the model is trained and run at (frames are then padded to a multiple of 32)."""

    short_side: int = 480  # the paper resizes the short side to 480
    max_size: int = 1333  # cap on the long side


@dataclass
class VatexConfig:
    """A whole VATEX model. ``asdict(cfg)`` is stored with every checkpoint."""

    name: str = "paper"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    input: InputConfig = field(default_factory=InputConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)  # absent in files before 1.4.0: off
    # Gradient checkpointing (training memory, not architecture): parts of CHECKPOINTABLE whose
    # activations are recomputed in backward instead of kept. Left out of ``==``: a file trained
    # with it loads into a model built without it.
    grad_checkpointing: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        self.grad_checkpointing = check_checkpointable(self.grad_checkpointing)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VatexConfig:
        """Builds a config from ``to_dict`` output; unknown keys are an error, not ignored."""
        return dataclass_from_dict(cls, data, cls.__name__)


def dataclass_from_dict(kind: type, data: dict[str, Any], where: str = "config") -> Any:
    """Nested dicts (e.g. YAML or ``asdict`` output) -> the dataclass ``kind``.

    Recurses where a field's default is a dataclass, turns lists into tuples where the default is
    a tuple, and refuses unknown keys: a typo must not silently keep a default.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}")
    defaults = kind()
    unknown = set(data) - {f.name for f in fields(kind)}
    if unknown:
        raise ValueError(f"unknown keys in {where}: {sorted(unknown)}")
    values = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        if is_dataclass(default):
            value = dataclass_from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(value, list) and (isinstance(default, tuple) or default is None):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        values[name] = value
    return kind(**values)


_PRESETS: dict[str, VatexConfig] = {
    "paper": VatexConfig(name="paper"),
    "tiny": VatexConfig(
        name="tiny",
        backbone=BackboneConfig(
            timm_name="swin_tiny_patch4_window7_224",
            embed_dim=32,
            depths=(1, 1, 2, 1),
            num_heads=(1, 2, 4, 8),
            window_size=4,
            drop_path_rate=0.0,
        ),
        clip=ClipConfig(
            embed_dim=64,
            image_size=64,
            patch_size=8,
            vision_width=64,
            vision_layers=2,
            vision_head_width=32,
            vision_pool="avg",  # our tiny CLIP is trained here; mean pooling puts the signal in the patches
            context_length=24,
            text_width=64,
            text_heads=2,
            text_layers=2,
        ),
        head=HeadConfig(
            hidden_dim=64,
            num_heads=4,
            text_ffn_dim=64,
            prior_ffn_dim=64,
            encoder_layers=2,
            encoder_ffn_dim=128,
            decoder_layers=6,
            decoder_ffn_dim=256,
            num_queries=5,
            groupnorm_groups=8,
        ),
        input=InputConfig(short_side=128, max_size=256),
    ),
}

PRESET_NAMES = tuple(_PRESETS)


def preset(name: str) -> VatexConfig:
    """Returns a fresh copy of a named preset (``paper`` or ``tiny``)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    return copy.deepcopy(_PRESETS[name])


# --- checking a config that comes from a file (a weights file's metadata) -------------------------------------

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TIMM_NAME = re.compile(r"^[a-z0-9_]{1,100}$")  # a plain architecture name: no "hf-hub:", no path, nothing to fetch
# (low, high) of every number, per component; chosen so that any config within them builds a model that fits
# in a workstation's memory (the paper preset is well inside), and a bad file fails here, not in torch.
_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "backbone": {"embed_dim": (8, 1024), "depths": (1, 32), "num_heads": (1, 64), "window_size": (1, 64),
                 "drop_path_rate": (0.0, 1.0)},
    "clip": {"embed_dim": (8, 4096), "image_size": (16, 1024), "patch_size": (1, 64), "vision_width": (8, 4096),
             "vision_layers": (1, 64), "vision_head_width": (8, 512), "context_length": (2, 1024),
             "vocab_size": (1, 1_000_000), "text_width": (8, 4096), "text_heads": (1, 64), "text_layers": (1, 64)},
    "head": {"hidden_dim": (8, 4096), "num_heads": (1, 64), "text_ffn_dim": (8, 16384), "prior_ffn_dim": (8, 16384),
             "encoder_layers": (0, 32), "encoder_ffn_dim": (8, 16384), "deformable_points": (1, 32),
             "decoder_layers": (1, 32), "decoder_ffn_dim": (8, 16384), "num_queries": (1, 100),
             "groupnorm_groups": (1, 4096)},
    "input": {"short_side": (32, 4096), "max_size": (32, 8192)},
    "temporal": {"memory_frames": (0, 16), "motion_dim": (8, 4096), "frame_interval": (0.0, 10.0),
                 "correlation_radius": (0, 8), "motion_logit_hidden": (1, 1024)},
}
_CHOICES = {("clip", "vision_pool"): ("tok", "avg"), ("head", "encoder_attention"): ("deformable", "dense")}


def check_config(cfg: VatexConfig, where: str = "config") -> None:
    """Checks a config against the presets' schema and sane bounds, before anything is built from it.

    Every value must have the type the presets give the field (ints stay ints: ``"64"`` is refused), lie
    within the bounds above, and fit the architecture (widths divisible by head counts, the CLIP image by
    its patches, four Swin stages). ``backbone.timm_name`` must be a plain timm architecture name registered
    in this install: hub names (``hf-hub:...``) would make timm download at run time.

    Raises:
        ValueError: one line naming ``where`` and every problem found.
    """
    problems = []
    for section, bounds in _BOUNDS.items():
        part = getattr(cfg, section)
        for f in fields(part):
            value, allowed = getattr(part, f.name), _preset_types(section, f.name)
            if value is None and type(None) in allowed:
                continue
            if isinstance(value, tuple) and tuple in allowed:
                items = value
            elif type(value) in allowed or (float in allowed and type(value) is int):
                items = (value,)
            else:
                problems.append(f"{section}.{f.name} must be {'/'.join(sorted(t.__name__ for t in allowed))}, "
                                f"got {type(value).__name__} {_echo(value)}")
                continue
            if f.name in bounds:
                low, high = bounds[f.name]
                if not all(type(v) in (int, float) and low <= v <= high for v in items):
                    problems.append(f"{section}.{f.name} must be in [{low:g}, {high:g}], got {_echo(value)}")
            choices = _CHOICES.get((section, f.name))
            if choices and value not in choices:
                problems.append(f"{section}.{f.name} must be one of {list(choices)}, got {_echo(value)}")
    if not problems:
        problems += _architecture_problems(cfg)
    if problems:
        raise ValueError(f"{where}: invalid model config: " + "; ".join(problems))


def _architecture_problems(cfg: VatexConfig) -> list[str]:
    """What a well-typed, in-bounds config still gets wrong for this architecture."""
    import timm

    problems = []
    if not _NAME.match(cfg.name):
        problems.append(f"name must be 1-64 letters, digits, '_', '.', '-', got {_echo(cfg.name)}")
    name = cfg.backbone.timm_name
    if not _TIMM_NAME.match(name) or not name.startswith("swin") or not timm.is_model(name):
        problems.append(f"backbone.timm_name must be a Swin architecture registered in timm (nothing is "
                        f"downloaded), got {_echo(name)}")
    for key in ("depths", "num_heads"):
        value = getattr(cfg.backbone, key)
        if value is not None and len(value) != 4:
            problems.append(f"backbone.{key} must have 4 stages, got {len(value)}")
    if cfg.backbone.video and any(getattr(cfg.backbone, key) is not None
                                  for key in ("embed_dim", "depths", "num_heads", "window_size")):
        problems.append("backbone.video builds Video Swin-B as it is: embed_dim, depths, num_heads and window_size "
                        "must be null")
    clip, head, size = cfg.clip, cfg.head, cfg.input
    if clip.image_size % clip.patch_size:
        problems.append(f"clip.image_size {clip.image_size} is not a multiple of clip.patch_size {clip.patch_size}")
    if clip.vision_width % clip.vision_head_width or clip.text_width % clip.text_heads:
        problems.append("clip widths must be multiples of their head width / head count")
    if head.hidden_dim % head.num_heads or head.hidden_dim % head.groupnorm_groups:
        problems.append(f"head.hidden_dim {head.hidden_dim} must be a multiple of head.num_heads {head.num_heads} "
                        f"and head.groupnorm_groups {head.groupnorm_groups}")
    if size.max_size < size.short_side:
        problems.append(f"input.max_size {size.max_size} < input.short_side {size.short_side}")
    if problem := temporal_parts_problem(cfg.temporal):
        problems.append(problem)
    if cfg.temporal.memory_frames and cfg.temporal.motion_dim % head.groupnorm_groups:
        problems.append(f"temporal.motion_dim {cfg.temporal.motion_dim} must be a multiple of head.groupnorm_groups "
                        f"{head.groupnorm_groups}")
    return problems


def temporal_parts_problem(temporal: TemporalConfig) -> str:
    """The problem of a config whose temporal parts lack what they read (the memory, the correlation); "" if none."""
    if (temporal.query_motion or temporal.correlation_radius) and not temporal.memory_frames:
        return ("temporal.query_motion and temporal.correlation_radius read the memory: they need "
                "temporal.memory_frames > 0")
    if temporal.measured_motion and not (temporal.query_motion and temporal.correlation_radius):
        return ("temporal.measured_motion measures the queries' motion in the correlation: it needs "
                "temporal.query_motion and temporal.correlation_radius > 0")
    if not temporal.motion_encoder and temporal.query_motion:
        return ("temporal.query_motion reads the motion encoder's residual or its correlation: it needs "
                "temporal.motion_encoder")
    if temporal.motion_logit and not temporal.correlation_radius:
        return ("temporal.motion_logit measures each query's motion in the correlation: it needs "
                "temporal.correlation_radius > 0")
    return ""


def _preset_types(section: str, name: str) -> set[type]:
    """The types the presets (and the dataclass default) give a field."""
    default = getattr(type(getattr(VatexConfig(), section))(), name)
    return {type(getattr(getattr(p, section), name)) for p in _PRESETS.values()} | {type(default)}


def _echo(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: values come from files that may be hostile."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"
