"""Small building blocks shared by the VATEX components."""

from __future__ import annotations

import functools
import math

import torch
import torch.utils.checkpoint
from torch import nn

# Position tables depend only on the map size: computed once per (size, width, device, dtype) and
# reused, so a forward launches no kernels for them (the paper-size model has 8 such tables per frame).
_TABLE_CACHE_SIZE = 64


class MLP(nn.Module):
    """Linear layers with ReLU in between (none after the last)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def run_layer(layer: nn.Module, *args: object, checkpointed: bool) -> torch.Tensor:
    """``layer(*args)``; with ``checkpointed`` (and autograd recording) its activations are recomputed in backward.

    Gradient checkpointing trades one more forward of the layer for not keeping its activations:
    the gradients are the same (dropout's random state is replayed).
    """
    if checkpointed and torch.is_grad_enabled():
        return torch.utils.checkpoint.checkpoint(layer, *args, use_reentrant=False)
    return layer(*args)


def sine_position_embedding(height: int, width: int, dim: int, device: torch.device) -> torch.Tensor:
    """DETR's 2-D sine position embedding, normalised to the map size: (H*W, dim)."""
    if dim % 4:
        raise ValueError(f"position embedding width must be a multiple of 4, got {dim}")
    quarter = dim // 4
    y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 * math.pi
    x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 * math.pi
    freq = 10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    y = y[:, None] / freq  # (H, quarter)
    x = x[:, None] / freq  # (W, quarter)
    y = torch.cat([y.sin(), y.cos()], dim=-1)[:, None, :].expand(height, width, 2 * quarter)
    x = torch.cat([x.sin(), x.cos()], dim=-1)[None, :, :].expand(height, width, 2 * quarter)
    return torch.cat([y, x], dim=-1).reshape(height * width, dim)  # (H*W, dim)


@functools.lru_cache(maxsize=_TABLE_CACHE_SIZE)
def _cached_position_embedding(
    height: int, width: int, dim: int, device: torch.device, dtype: torch.dtype, inference: bool
) -> torch.Tensor:
    return sine_position_embedding(height, width, dim, device).to(dtype)


def position_embedding(height: int, width: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """:func:`sine_position_embedding` in ``dtype``, computed once per size and reused: (H*W, dim).

    Computed in float32 and rounded once, so a bf16 model adds the same table as a cast fp32 one.
    Tables made under ``torch.inference_mode`` are kept apart: autograd refuses them in training.
    Inside ``torch.compile`` the table is traced into the graph instead (a cache lookup would break it).
    """
    if torch.compiler.is_compiling():
        return sine_position_embedding(height, width, dim, device).to(dtype)
    return _cached_position_embedding(height, width, dim, device, dtype, torch.is_inference_mode_enabled())


@functools.lru_cache(maxsize=_TABLE_CACHE_SIZE)
def _cached_cell_centers(height: int, width: int, device: torch.device, inference: bool) -> torch.Tensor:
    return _cell_centers(height, width, device)


def _cell_centers(height: int, width: int, device: torch.device) -> torch.Tensor:
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=-1)


def cell_centers(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(H*W, 2) float32 normalised (x, y) centres of the cells of an H x W map, computed once per size.

    Always float32: sampling locations of deformable attention need more than bf16's 8 bits.
    """
    if torch.compiler.is_compiling():
        return _cell_centers(height, width, device)
    return _cached_cell_centers(height, width, device, torch.is_inference_mode_enabled())


def flatten_map(feature: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C) tokens."""
    return feature.flatten(2).transpose(1, 2)


def unflatten_map(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H*W, C) tokens -> (B, C, H, W)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], height, width)
