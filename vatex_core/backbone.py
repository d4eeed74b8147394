"""Visual encoder: a Swin transformer from timm, returning 4 feature levels (strides 4/8/16/32)."""

from __future__ import annotations

import timm
import torch
from torch import nn

from vatex_core.config import BackboneConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """Swin feature pyramid. Input RGB in [0, 1]; ImageNet normalisation happens here."""

    def __init__(self, cfg: BackboneConfig, pretrained_file: str | None = None) -> None:
        super().__init__()
        overrides = {
            key: value
            for key, value in (
                ("embed_dim", cfg.embed_dim),
                ("depths", cfg.depths),
                ("num_heads", cfg.num_heads),
                ("window_size", cfg.window_size),
            )
            if value is not None
        }
        self.body = timm.create_model(
            cfg.timm_name,
            pretrained=pretrained_file is not None,
            pretrained_cfg_overlay={"file": pretrained_file} if pretrained_file else None,
            features_only=True,
            strict_img_size=False,  # any input size that is a multiple of 32
            drop_path_rate=cfg.drop_path_rate,
            **overrides,
        )
        self.channels: list[int] = self.body.feature_info.channels()
        self.strides: list[int] = self.body.feature_info.reduction()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.grad_checkpointing = False  # recompute Swin's stages in backward (training memory); see Vatex
        for module in self.body.modules():  # any input size means timm makes the shifted-window masks per call
            if getattr(module, "dynamic_mask", False):
                module.get_attn_mask = _WindowMaskCache(module.get_attn_mask)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        # timm checkpoints its stages whenever the flag is set; we want it only while training
        self.body.set_grad_checkpointing(self.grad_checkpointing and mode)
        return self

    def set_fused_attention(self, enable: bool) -> None:
        """Window attention through ``scaled_dot_product_attention`` (one fused kernel) instead of
        matmul + softmax + matmul. timm keeps it off for Swin by default ("experimental"); the math
        is the same, only the rounding differs."""
        for module in self.body.modules():
            if hasattr(module, "fused_attn") and hasattr(module, "relative_position_bias_table"):
                module.fused_attn = enable

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) RGB in [0, 1] -> 4 maps (B, C_i, H / s_i, W / s_i), fine to coarse."""
        features = self.body((images - self.mean) / self.std)
        # timm's Swin returns NHWC; this is the one place we convert to NCHW.
        return [f.permute(0, 3, 1, 2).contiguous() for f in features]


    def encode_clip(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 3, H, W) clips -> 4 maps (B*T, C_i, H / s_i, W / s_i): each frame on its own."""
        return self(frames.flatten(0, 1))


class _WindowMaskCache:
    """Stands in for a timm Swin block's ``get_attn_mask``: the shifted-window attention mask depends only on
    the padded map size, so it is made once per size (timm's ``dynamic_mask`` makes it on every call, ~15
    small kernels per shifted block). Traced as before inside ``torch.compile``."""

    max_sizes = 16  # distinct input sizes kept

    def __init__(self, make_mask) -> None:
        self.make_mask = make_mask
        self.masks: dict[tuple, torch.Tensor | None] = {}

    def __call__(self, x: torch.Tensor | None = None, device=None, dtype=None) -> torch.Tensor | None:
        if x is None or torch.compiler.is_compiling():
            return self.make_mask(x, device, dtype)
        key = (x.shape[1], x.shape[2], x.dtype, x.device, torch.is_inference_mode_enabled())
        if key not in self.masks:
            if len(self.masks) >= self.max_sizes:
                self.masks.clear()
            self.masks[key] = self.make_mask(x)
        return self.masks[key]
