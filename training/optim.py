"""AdamW parameter groups, the step lr schedule and gradient clipping (paper §4.1, §7.3).

Groups: pretrained encoders (``backbone.*`` and the CLIP text tower ``text_encoder.clip.*``)
train at the backbone lr (1e-5), everything else at 1e-4. Frozen parameters (the CLIP image
tower of the prior, ``requires_grad=False``) are left out. Weight decay 0.05 except for the
no-decay set, decided per parameter by its module type and name:

- weights and biases of normalisation layers (LayerNorm, GroupNorm, BatchNorm, ...);
- embeddings: ``nn.Embedding`` weights and parameters named like an embedding or position
  table (``positional_embedding``, ``relative_position_bias_table``, ``absolute_pos_embed``,
  ``level_embed``, ``class_embedding``, query embeddings, ...);
- all biases (1-d, incl. attention `in_proj_bias`; decaying them only shrinks offsets).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

logger = logging.getLogger(__name__)

BACKBONE_PREFIXES = ("backbone.", "text_encoder.clip.")
NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.LocalResponseNorm, nn.RMSNorm)
# Parameter-name fragments of embeddings / position tables (matched against the last name part).
EMBEDDING_NAMES = ("embed", "bias_table", "query_feat", "cls_token")


@dataclass
class OptimConfig:
    """AdamW, lr schedule and clipping settings."""

    lr: float = 1e-4  # heads, fusion and decoder
    backbone_lr: float = 1e-5  # Swin backbone and CLIP text tower
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    lr_steps: list[float] = field(default_factory=lambda: [2 / 3])  # fractions of max iters where lr *= gamma
    gamma: float = 0.1
    clip_grad_norm: float = 0.01  # full-model L2 norm; 0 disables
    temporal_lr: float | None = None  # the temporal memory (``temporal.*``) when it should learn faster; None = lr


def is_no_decay(module: nn.Module, param_name: str, param: nn.Parameter) -> bool:
    """Whether a parameter belongs to the no-weight-decay set (see module docstring).

    Args:
        module: the module that owns the parameter directly.
        param_name: the parameter's name inside that module (e.g. "weight").
        param: the parameter.
    """
    if isinstance(module, NORM_TYPES) or isinstance(module, nn.Embedding):
        return True
    if param_name.endswith("bias") and param.ndim == 1:  # also MultiheadAttention in_proj_bias
        return True
    return any(fragment in param_name for fragment in EMBEDDING_NAMES)


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Split the trainable parameters into the (lr, decay) groups: four, six with ``cfg.temporal_lr``.

    Args:
        model: the VATEX model (unwrapped, not DDP).
        cfg: optimiser settings.

    Returns:
        Non-empty groups for ``torch.optim.AdamW``, each with "params", "lr",
        "weight_decay" and "name" (one of backbone/decay, backbone/no_decay, head/decay,
        head/no_decay, and temporal/decay, temporal/no_decay with ``cfg.temporal_lr``) plus
        "param_names" for inspection.
    """
    groups: dict[str, dict] = {}
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            full_name = f"{module_name}.{param_name}" if module_name else param_name
            part = _part(full_name, cfg)
            decay = "no_decay" if is_no_decay(module, param_name, param) else "decay"
            name = f"{part}/{decay}"
            group = groups.setdefault(
                name,
                {
                    "name": name,
                    "params": [],
                    "param_names": [],
                    "lr": {"backbone": cfg.backbone_lr, "temporal": cfg.temporal_lr, "head": cfg.lr}[part],
                    "weight_decay": cfg.weight_decay if decay == "decay" else 0.0,
                },
            )
            group["params"].append(param)
            group["param_names"].append(full_name)
    for group in groups.values():
        logger.info("param group %s: %d tensors, %d values", group["name"], len(group["params"]),
                    sum(p.numel() for p in group["params"]))
    return list(groups.values())


def _part(name: str, cfg: OptimConfig) -> str:
    """Which lr a parameter trains at: "backbone", "temporal" or "head"."""
    if name.startswith(BACKBONE_PREFIXES):
        return "backbone"
    if cfg.temporal_lr is not None and name.startswith("temporal."):
        return "temporal"
    return "head"


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (shared parameters are counted once)."""
    return torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig,
                    max_iters: int) -> torch.optim.lr_scheduler.MultiStepLR:
    """Step schedule: lr *= gamma at each fraction of ``max_iters`` in ``cfg.lr_steps``.

    The scheduler steps once per iteration.
    """
    milestones = sorted({max(1, round(fraction * max_iters)) for fraction in cfg.lr_steps})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=cfg.gamma)


def clip_gradients(model: nn.Module, cfg: OptimConfig) -> torch.Tensor:
    """Clip the L2 norm of all gradients of the model together; returns the norm before clipping."""
    params = [p for p in model.parameters() if p.grad is not None]
    if cfg.clip_grad_norm <= 0:
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    return torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad_norm)
