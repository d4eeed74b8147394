"""Multi-scale encoder inside the CMD: 6 layers over the strides 32/16/8 (Mask2Former's pixel decoder).

Attention is either multi-scale deformable attention (Deformable DETR), written in pure PyTorch
with ``grid_sample`` so it runs anywhere, or — switchable in ``HeadConfig.encoder_attention`` —
plain dense attention over the tokens of all levels, a substitute that is simpler but quadratic
in the number of tokens.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from vatex_core.layers import cell_centers, flatten_map, position_embedding, run_layer, unflatten_map


def ms_deform_attn(
    value: torch.Tensor,
    shapes: list[tuple[int, int]],
    locations: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Multi-scale deformable attention core.

    Args:
        value: (B, S, heads, Dh) values of all levels, concatenated; S = sum(H_l * W_l).
        shapes: (H_l, W_l) of every level.
        locations: (B, Q, heads, levels, points, 2) sampling points, (x, y) in [0, 1].
        weights: (B, Q, heads, levels, points) attention weights (softmaxed over levels*points).

    Returns:
        (B, Q, heads * Dh), in the dtype of ``value``.

    Sampling runs in float32 whatever the model's dtype: bf16 has 8 bits of mantissa, too few for
    locations on a 60x80 map (about 0.3 cells of error), and grid_sample needs one dtype for both.
    """
    batch, _, heads, head_dim = value.shape
    _, queries, _, levels, points, _ = locations.shape
    dtype = value.dtype
    values = value.float().split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations.float() - 1  # grid_sample wants [-1, 1]
    sampled = []
    for level, (height, width) in enumerate(shapes):
        v = values[level].permute(0, 2, 3, 1).reshape(batch * heads, head_dim, height, width)
        g = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (B*heads, Q, points, 2)
        sampled.append(
            nn.functional.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )  # (B*heads, Dh, Q, points)
    stacked = torch.stack(sampled, dim=-2)  # (B*heads, Dh, Q, levels, points)
    w = weights.transpose(1, 2).reshape(batch * heads, 1, queries, levels, points).float()
    out = (stacked * w).sum(dim=(-1, -2))  # (B*heads, Dh, Q)
    return out.view(batch, heads * head_dim, queries).transpose(1, 2).to(dtype)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (Zhu et al., Deformable DETR)."""

    def __init__(self, dim: int, heads: int, levels: int, points: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.levels, self.points = heads, levels, points
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Offsets start on a ring of directions, one per head, growing with the point index.
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.heads, dtype=torch.float32) * (2 * math.pi / self.heads)
        grid = torch.stack([angles.cos(), angles.sin()], dim=-1)
        grid = grid / grid.abs().max(dim=-1, keepdim=True).values
        grid = grid.view(self.heads, 1, 1, 2).repeat(1, self.levels, self.points, 1)
        grid = grid * torch.arange(1, self.points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value: torch.Tensor,
        shapes: list[tuple[int, int]],
        level_sizes: torch.Tensor,
    ) -> torch.Tensor:
        """query (B, Q, C), reference points (B, Q, 2) float32 in [0, 1], value (B, S, C) -> (B, Q, C).

        ``level_sizes``: (levels, 2) float32 (W_l, H_l), the offset normaliser (cached per set of sizes).
        """
        batch, queries, _ = query.shape
        value = self.value_proj(value).view(batch, value.shape[1], self.heads, -1)  # (B, S, heads, Dh)
        offsets = self.sampling_offsets(query).view(batch, queries, self.heads, self.levels, self.points, 2)
        weights = self.attention_weights(query).view(batch, queries, self.heads, self.levels * self.points)
        weights = weights.softmax(-1).view(batch, queries, self.heads, self.levels, self.points)
        # float32 locations (see ms_deform_attn): reference points and normaliser are float32 already
        offsets = offsets.float() / level_sizes[None, None, None, :, None, :]
        locations = reference_points[:, :, None, None, None, :] + offsets  # (B, Q, heads, levels, points, 2)
        return self.output_proj(ms_deform_attn(value, shapes, locations, weights))


class EncoderLayer(nn.Module):
    """Post-norm encoder layer: (deformable or dense) self-attention over all levels, then FFN."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, levels: int, points: int, attention: str) -> None:
        super().__init__()
        if attention == "deformable":
            self.deformable = MSDeformAttn(dim, heads, levels, points)
        elif attention == "dense":
            self.dense = nn.MultiheadAttention(dim, heads, batch_first=True)
        else:
            raise ValueError(f"encoder attention must be 'deformable' or 'dense', got {attention!r}")
        self.attention = attention
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(
        self,
        tokens: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        shapes: list[tuple[int, int]],
        level_sizes: torch.Tensor,
    ) -> torch.Tensor:
        """tokens, pos (B, S, C); reference points (B, S, 2) float32; level_sizes (levels, 2) -> (B, S, C)."""
        if self.attention == "deformable":
            attended = self.deformable(tokens + pos, reference_points, tokens, shapes, level_sizes)
        else:
            attended, _ = self.dense(tokens + pos, tokens + pos, tokens, need_weights=False)
        tokens = self.norm1(tokens + attended)
        return self.norm2(tokens + self.ffn(tokens))


class PixelEncoder(nn.Module):
    """Encoder over several feature levels of equal width C (coarse to fine)."""

    def __init__(
        self, dim: int, heads: int, ffn_dim: int, num_layers: int, levels: int, points: int, attention: str
    ) -> None:
        super().__init__()
        self.level_embed = nn.Parameter(torch.zeros(levels, dim))
        nn.init.normal_(self.level_embed)
        self.layers = nn.ModuleList(
            EncoderLayer(dim, heads, ffn_dim, levels, points, attention) for _ in range(num_layers)
        )
        self.grad_checkpointing = False  # recompute each layer in backward (training memory); see Vatex

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Maps (B, C, H_l, W_l) -> maps of the same shapes, after the encoder layers."""
        shapes = [(m.shape[-2], m.shape[-1]) for m in maps]
        tokens = torch.cat([flatten_map(m) for m in maps], dim=1)  # (B, S, C)
        dim, device, dtype = tokens.shape[-1], tokens.device, tokens.dtype
        # position tables in the tokens' dtype (a float32 table would promote bf16 tokens to float32)
        pos = torch.cat(
            [position_embedding(h, w, dim, device, dtype) + self.level_embed[i] for i, (h, w) in enumerate(shapes)]
        )[None]  # (1, S, C)
        reference, level_sizes = _level_tables(tuple(shapes), device)  # (1, S, 2), (levels, 2) float32
        reference = reference.expand(tokens.shape[0], -1, -1)  # (B, S, 2)
        checkpointed = self.grad_checkpointing and self.training
        for layer in self.layers:
            tokens = run_layer(layer, tokens, pos, reference, shapes, level_sizes, checkpointed=checkpointed)
        out = tokens.split([h * w for h, w in shapes], dim=1)
        return [unflatten_map(t, h, w) for t, (h, w) in zip(out, shapes)]


def _level_tables(shapes: tuple[tuple[int, int], ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference points (1, S, 2) and offset normaliser (levels, 2), float32, for maps of ``shapes``.

    Cached per set of sizes (no per-call host-to-device copy); traced into the graph under torch.compile.
    """
    if torch.compiler.is_compiling():
        return _make_level_tables(shapes, device)
    return _cached_level_tables(shapes, device, torch.is_inference_mode_enabled())


@functools.lru_cache(maxsize=64)
def _cached_level_tables(
    shapes: tuple[tuple[int, int], ...], device: torch.device, inference: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    return _make_level_tables(shapes, device)


def _make_level_tables(shapes: tuple[tuple[int, int], ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    reference = torch.cat([cell_centers(h, w, device) for h, w in shapes])[None]  # (1, S, 2)
    sizes = torch.tensor([[w, h] for h, w in shapes], dtype=torch.float32, device=device)  # (levels, 2)
    return reference, sizes

