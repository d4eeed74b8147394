"""CLIP Prior (paper section 3.1): a heatmap of the main object from the frozen CLIP image tower.

The heatmap is the cosine similarity between each projected patch token of the image and the
CLIP embedding of the prompt "a photo of {main noun phrase}", L2-normalised over the patches
(paper eq. 1). An FFN turns the (grid x grid) heatmap into a C-dim vector added to the queries.
"""

from __future__ import annotations

import torch
from torch import nn

from vatex_core.config import ClipConfig, HeadConfig
from vatex_core.layers import MLP

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def center_crop_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size): resize the short side to ``size``, then crop the center."""
    height, width = images.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = nn.functional.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[..., top : top + size, left : left + size]


class ClipPrior(nn.Module):
    """Frozen CLIP image tower + trainable FFN from heatmap to query embedding."""

    def __init__(self, clip_visual: nn.Module, clip_cfg: ClipConfig, head_cfg: HeadConfig) -> None:
        super().__init__()
        self.image_size = clip_cfg.image_size
        self.grid_size = clip_cfg.grid_size
        self.clip_visual = clip_visual.requires_grad_(False).eval()
        cells = self.grid_size**2
        self.embed = nn.Sequential(
            MLP(cells, head_cfg.prior_ffn_dim, head_cfg.hidden_dim, num_layers=2),
            nn.LayerNorm(head_cfg.hidden_dim),
        )
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ClipPrior:
        super().train(mode)
        self.clip_visual.eval()  # frozen: no dropout, fixed statistics, whatever the model's mode
        return self

    @torch.no_grad()
    def patch_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, grid*grid, D) L2-normalised patch embeddings (CLS dropped)."""
        crops = center_crop_square(images, self.image_size)
        _, patches = self.clip_visual((crops - self.mean) / self.std)  # (B, grid*grid, vision_width)
        return nn.functional.normalize(patches @ self.clip_visual.proj, dim=-1)  # (B, grid*grid, D)

    def heatmap(self, patches: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        """Patches (B, T, P, D) of each frame and prompts (B, D), row-paired -> (B, T, P), unit L2 norm per frame."""
        similarity = torch.einsum("btpd,bd->btp", patches, prompt)  # cosine: both are unit vectors
        return nn.functional.normalize(similarity, dim=-1)

    def forward(self, patches: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the query embedding (B, C) and the heatmap (B, grid, grid), both averaged over the T frames."""
        heat = self.heatmap(patches, prompt).mean(dim=1)  # (B, P)
        return self.embed(heat), heat.view(-1, self.grid_size, self.grid_size)
