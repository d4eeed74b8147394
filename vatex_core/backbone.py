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

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) RGB in [0, 1] -> 4 maps (B, C_i, H / s_i, W / s_i), fine to coarse."""
        features = self.body((images - self.mean) / self.std)
        # timm's Swin returns NHWC; this is the one place we convert to NCHW.
        return [f.permute(0, 3, 1, 2).contiguous() for f in features]
