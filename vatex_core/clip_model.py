"""Builds the CLIP model (open_clip) whose towers VATEX uses, optionally from a local checkpoint."""

from __future__ import annotations

from pathlib import Path

import open_clip

from vatex_core.config import ClipConfig


def build_clip(cfg: ClipConfig, checkpoint: str | Path | None = None) -> open_clip.CustomTextCLIP:
    """Builds an open_clip model with separate towers that also return per-token features.

    Args:
        cfg: sizes; the paper preset matches open_clip's ``ViT-B-16``.
        checkpoint: a local open_clip / OpenAI checkpoint file (never downloaded).
    """
    model = open_clip.CustomTextCLIP(
        embed_dim=cfg.embed_dim,
        vision_cfg={
            "image_size": cfg.image_size,
            "patch_size": cfg.patch_size,
            "width": cfg.vision_width,
            "layers": cfg.vision_layers,
            "head_width": cfg.vision_head_width,
            "pool_type": cfg.vision_pool,
            "output_tokens": True,
        },
        text_cfg={
            "context_length": cfg.context_length,
            "vocab_size": cfg.vocab_size,
            "width": cfg.text_width,
            "heads": cfg.text_heads,
            "layers": cfg.text_layers,
            "output_tokens": True,
        },
    )
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"CLIP checkpoint not found: {checkpoint}")
        open_clip.load_checkpoint(model, str(checkpoint))
    return model


def build_tokenizer(cfg: ClipConfig) -> open_clip.SimpleTokenizer:
    """CLIP's BPE tokenizer (its vocabulary ships with open_clip), padded to ``cfg.context_length``."""
    if cfg.vocab_size != 49408:
        raise ValueError(f"CLIP's BPE tokenizer has 49408 tokens, config says {cfg.vocab_size}")
    return open_clip.SimpleTokenizer(context_length=cfg.context_length)
