"""Masked-attention transformer decoder (Mask2Former) with a parallel text cross-attention.

Each layer: the queries attend to one level of the CMD pyramid (masked by the previous
prediction; the first layer is unmasked) and, in parallel, to the vision-aware words;
LN(q + vision + text); then self-attention; then an FFN. Every layer, and the initial queries,
make a prediction: object/no-object logits and mask logits (auxiliary losses use all of them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vatex_core.config import HeadConfig
from vatex_core.layers import MLP, flatten_map, position_embedding, run_layer


class DecoderLayer(nn.Module):
    """Parallel vision/text cross-attention, self-attention, FFN; post-norm as in Mask2Former."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.vision_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.text_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_norm = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.self_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, dim))
        self.ffn_norm = nn.LayerNorm(dim)

    def forward(
        self,
        queries: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        attn_mask: torch.Tensor | None,
        words: torch.Tensor,
        padding_mask: torch.Tensor,
    ) -> torch.Tensor:
        """queries (B, N, C); memory (B, S, C); attn_mask (B*heads, N, S) bool, True = blocked; words (B, L, C)."""
        q = queries + query_pos
        vision, _ = self.vision_attn(q, memory + memory_pos, memory, attn_mask=attn_mask, need_weights=False)
        text, _ = self.text_attn(q, words, words, key_padding_mask=padding_mask, need_weights=False)
        queries = self.cross_norm(queries + vision + text)
        q = queries + query_pos
        attended, _ = self.self_attn(q, q, queries, need_weights=False)
        queries = self.self_norm(queries + attended)
        return self.ffn_norm(queries + self.ffn(queries))


class MaskedAttentionDecoder(nn.Module):
    """Refines the queries over the CMD pyramid (strides 32, 16, 8, round robin) and predicts masks."""

    def __init__(self, cfg: HeadConfig, levels: int = 3) -> None:
        super().__init__()
        dim = cfg.hidden_dim
        self.heads = cfg.num_heads
        self.grad_checkpointing = False  # recompute each layer in backward (training memory); see Vatex
        self.query_pos = nn.Embedding(cfg.num_queries, dim)
        self.level_embed = nn.Embedding(levels, dim)
        self.layers = nn.ModuleList(
            DecoderLayer(dim, cfg.num_heads, cfg.decoder_ffn_dim) for _ in range(cfg.decoder_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.class_head = nn.Linear(dim, 2)  # index 0: object, 1: no object
        self.mask_head = MLP(dim, dim, dim, num_layers=3)

    def predict(
        self, queries: torch.Tensor, mask_features: torch.Tensor, attn_size: tuple[int, int] | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Class logits (B, N, 2), mask logits (B, N, T, H4, W4), and the next layer's attention mask.

        mask_features: (B, T, C, H4, W4). The attention mask (B*heads, N, T*h*w) blocks the
        memory cells where the resized prediction is below 0.5; a query with nothing left sees all.
        """
        decoded = self.norm(queries)
        logits = self.class_head(decoded)
        masks = torch.einsum("bnc,btchw->bnthw", self.mask_head(decoded), mask_features)
        if attn_size is None:
            return logits, masks, None
        batch, queries_n, frames = masks.shape[:3]
        small = nn.functional.interpolate(masks.flatten(1, 2), size=attn_size, mode="bilinear", align_corners=False)
        blocked = small.sigmoid().view(batch, queries_n, -1).detach() < 0.5  # (B, N, T*h*w)
        blocked = blocked & ~blocked.all(-1, keepdim=True)  # elementwise, not blocked[...] = False: no host sync
        return logits, masks, blocked.repeat_interleave(self.heads, dim=0)

    def forward(
        self,
        queries: torch.Tensor,
        prior: torch.Tensor,
        pyramid: list[torch.Tensor],
        mask_features: torch.Tensor,
        words: torch.Tensor,
        padding_mask: torch.Tensor,
        query_motion: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Runs the decoder.

        Args:
            queries: (B, N, C) initial queries (the vision-aware sentence feature, repeated).
            prior: (B, C) CLIP-prior embedding, added to the queries after the first prediction.
            pyramid: (B, T, C, h_l, w_l) memory maps, coarse to fine.
            mask_features: (B, T, C, H4, W4).
            words: (B, L, C) vision-aware words; padding_mask (B, L) bool.
            query_motion: a temporal model's per-query motion (``vatex_core.temporal.QueryMotion``): the last
                mask logits (B, N, T, H4, W4) -> (B, N, C), added to the queries before every layer.

        Returns:
            (class logits, mask logits) for the initial queries and after every layer.
        """
        batch, frames = mask_features.shape[:2]
        dim = queries.shape[-1]
        query_pos = self.query_pos.weight[None].expand(batch, -1, -1)
        memories, positions, sizes = [], [], []
        for level, feature in enumerate(pyramid):
            height, width = feature.shape[-2:]
            memories.append(flatten_map(feature.flatten(0, 1)).reshape(batch, frames * height * width, dim))
            pos = position_embedding(height, width, dim, feature.device, feature.dtype) + self.level_embed.weight[level]
            positions.append(pos.repeat(frames, 1)[None])  # (1, T*h*w, C)
            sizes.append((height, width))

        logits, masks, _ = self.predict(queries, mask_features, None)
        predictions = [(logits, masks)]
        queries = queries + prior[:, None, :]
        attn_mask = None  # the first layer sees the whole image
        for index, layer in enumerate(self.layers):
            level = index % len(pyramid)
            if query_motion is not None:
                queries = queries + query_motion(masks)
            queries = run_layer(
                layer, queries, query_pos, memories[level], positions[level], attn_mask, words, padding_mask,
                checkpointed=self.grad_checkpointing and self.training,
            )
            next_size = sizes[(index + 1) % len(pyramid)]
            logits, masks, attn_mask = self.predict(queries, mask_features, next_size)
            predictions.append((logits, masks))
        return predictions
