"""Contextual Multimodal Decoder (paper section 3.2).

Building block: the bidirectional attention block (BAT). Words attend to the image and are gated
by themselves (eq. 2); the image attends to these vision-aware words and is gated by itself
(eq. 3). The CMD applies early-fusion BATs on strides 32/16/8, a multi-scale encoder, then four
progressive BAT levels (strides 32, 16, 8, 4) that carry the words from level to level and build
a feature pyramid (eq. 4). The last level gives the mask features and the vision-aware words.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vatex_core.config import HeadConfig
from vatex_core.layers import flatten_map, position_embedding, unflatten_map
from vatex_core.pixel_encoder import PixelEncoder


def masked_mean(words: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """Sentence feature (paper eq. 5): mean of the words (B, L, C) over real tokens -> (B, C)."""
    keep = (~padding_mask).unsqueeze(-1).to(words.dtype)  # (B, L, 1)
    return (words * keep).sum(1) / keep.sum(1).clamp(min=1)


class BidirectionalAttention(nn.Module):
    """BAT: text' = MHA(text, vision) * text; vision' = MHA(vision, text') * vision."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.text_from_vision = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.vision_from_text = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(
        self, vision: torch.Tensor, vision_pos: torch.Tensor, words: torch.Tensor, padding_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """vision (B, HW, C), vision_pos (1, HW, C), words (B, L, C), padding_mask (B, L) bool.

        Returns the text-guided vision (B, HW, C) and the vision-aware words (B, L, C).
        """
        if padding_mask.dtype != torch.bool:
            raise TypeError(f"padding mask must be bool (True = padding), got {padding_mask.dtype}")
        context, _ = self.text_from_vision(words, vision + vision_pos, vision, need_weights=False)
        words = context * words  # eq. 2
        context, _ = self.vision_from_text(
            vision + vision_pos, words, words, key_padding_mask=padding_mask, need_weights=False
        )
        return context * vision, words  # eq. 3


def _conv_gn(in_dim: int, out_dim: int, kernel: int, groups: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_dim, out_dim, kernel, padding=kernel // 2, bias=False),
        nn.GroupNorm(groups, out_dim),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


@dataclass
class CMDOutput:
    pyramid: list[torch.Tensor]  # text-guided maps (B, C, H/s, W/s) for s = 32, 16, 8 (decoder memory)
    mask_features: torch.Tensor  # (B, C, H/4, W/4)
    words: torch.Tensor  # (B, L, C) vision-aware words of the last level
    level_sentences: list[torch.Tensor]  # (B, C) sentence feature (eq. 5) at levels 0 (input) .. 4


class ContextualMultimodalDecoder(nn.Module):
    """CMD over backbone features of strides 4/8/16/32."""

    def __init__(self, backbone_channels: list[int], cfg: HeadConfig) -> None:
        super().__init__()
        dim, groups = cfg.hidden_dim, cfg.groupnorm_groups
        coarse = backbone_channels[1:][::-1]  # strides 32, 16, 8
        self.input_proj = nn.ModuleList(_conv_gn(c, dim, 1, groups, relu=False) for c in coarse)
        self.early_fusion = nn.ModuleList(BidirectionalAttention(dim, cfg.num_heads) for _ in coarse)
        self.encoder = PixelEncoder(
            dim,
            cfg.num_heads,
            cfg.encoder_ffn_dim,
            cfg.encoder_layers,
            levels=len(coarse),
            points=cfg.deformable_points,
            attention=cfg.encoder_attention,
        )
        lateral_in = [dim] * len(coarse) + [backbone_channels[0]]  # strides 32, 16, 8, 4
        self.lateral = nn.ModuleList(_conv_gn(c, dim, 1, groups, relu=False) for c in lateral_in)
        self.fusion = nn.ModuleList(BidirectionalAttention(dim, cfg.num_heads) for _ in lateral_in)
        self.output = nn.ModuleList(_conv_gn(dim, dim, 3, groups, relu=True) for _ in lateral_in)
        self.mask_features = nn.Conv2d(dim, dim, 1)

    def forward(self, features: list[torch.Tensor], words: torch.Tensor, padding_mask: torch.Tensor) -> CMDOutput:
        """features: backbone maps, strides 4/8/16/32; words (B, L, C); padding_mask (B, L) bool."""
        fused = []
        for proj, bat, feature in zip(self.input_proj, self.early_fusion, features[1:][::-1]):
            projected = proj(feature)
            vision, _ = bat(*_tokens_and_pos(projected), words, padding_mask)
            fused.append(projected + unflatten_map(vision, *projected.shape[-2:]))
        encoded = self.encoder(fused)  # strides 32, 16, 8

        sentences = [masked_mean(words, padding_mask)]
        pyramid: list[torch.Tensor] = []
        previous = None
        for lateral, bat, output, level_input in zip(self.lateral, self.fusion, self.output, encoded + [features[0]]):
            lateral_map = lateral(level_input)
            vision, words = bat(*_tokens_and_pos(lateral_map), words, padding_mask)
            merged = unflatten_map(vision, *lateral_map.shape[-2:])
            if previous is not None:
                merged = merged + nn.functional.interpolate(
                    previous, size=merged.shape[-2:], mode="bilinear", align_corners=False
                )
            previous = output(merged)  # eq. 4
            pyramid.append(previous)
            sentences.append(masked_mean(words, padding_mask))
        return CMDOutput(pyramid[:3], self.mask_features(pyramid[3]), words, sentences)


def _tokens_and_pos(feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    height, width = feature.shape[-2:]
    pos = position_embedding(height, width, feature.shape[1], feature.device, feature.dtype)[None]  # (1, HW, C)
    return flatten_map(feature), pos
