"""Parameter counts of a VATEX model, per component, as the paper reports them."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vatex_core.model import Vatex

# VATEX paper: 251M parameters, 165M of them trainable (Swin-B + CLIP ViT-B/16 + heads).
PAPER_TOTAL = 251e6
PAPER_TRAINABLE = 165e6


@dataclass
class ParameterCount:
    name: str
    total: int
    trainable: int


def _count(name: str, module: nn.Module) -> ParameterCount:
    params = list(module.parameters())
    return ParameterCount(name, sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad))


def parameter_counts(model: Vatex) -> list[ParameterCount]:
    """Counts for the encoders as the paper names them, VATEX's own heads, and the whole model (last)."""
    parts = [
        _count("visual backbone (Video Swin)" if model.cfg.backbone.video else "visual backbone (Swin)",
               model.backbone),
        _count("CLIP text tower", model.text_encoder.clip),
        _count("text projection FFN", model.text_encoder.project),
        _count("CMD", model.cmd),
        _count("masked-attention decoder", model.decoder),
    ]
    if model.clip_prior is not None:
        parts[1:1] = [_count("CLIP image tower (prior)", model.clip_prior.clip_visual)]
        parts.insert(4, _count("CLIP-prior FFN", model.clip_prior.embed))
    if model.temporal is not None:
        parts.append(_count("temporal memory (motion)", model.temporal))
    whole = _count("total", model)
    assert sum(p.total for p in parts) == whole.total, "a component is missing from the breakdown"
    return [*parts, whole]


def format_counts(counts: list[ParameterCount], compare_to_paper: bool) -> str:
    """A table of the counts in millions; with ``compare_to_paper``, the paper's totals beside ours."""
    lines = [f"{'component':<28}{'total (M)':>12}{'trainable (M)':>15}"]
    lines += [f"{c.name:<28}{c.total / 1e6:>12.2f}{c.trainable / 1e6:>15.2f}" for c in counts]
    if not compare_to_paper:
        return "\n".join(lines)
    whole = counts[-1]
    lines.append(
        f"{'paper':<28}{PAPER_TOTAL / 1e6:>12.2f}{PAPER_TRAINABLE / 1e6:>15.2f}"
        f"   (ours: {whole.total / PAPER_TOTAL - 1:+.1%} total, {whole.trainable / PAPER_TRAINABLE - 1:+.1%} trainable)"
    )
    return "\n".join(lines)
