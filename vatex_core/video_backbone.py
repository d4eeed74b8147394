"""Spatio-temporal visual encoder: Video Swin-B (torchvision ``swin3d_b``), as the paper uses for video (Table 3).

It sees a clip at once: 3D patches of 2 frames x 4 x 4 pixels and shifted 3D windows of 8 x 7 x 7,
so each frame's features carry its neighbours'. It returns the same four levels as the image
backbone (strides 4/8/16/32 in space, one map per input frame: a temporal patch of two frames is
shared by both), so everything after it is unchanged. A clip of one frame (a stream's frame) is
that frame twice: a still clip, not a frame beside a black one. Weights come from a local torchvision
checkpoint file (e.g. the Kinetics-400 weights of ``Swin3D_B_Weights``); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.video import swin3d_b
from torchvision.ops import StochasticDepth

from vatex_core.backbone import IMAGENET_MEAN, IMAGENET_STD
from vatex_core.config import BackboneConfig

TEMPORAL_PATCH = 2  # frames per 3D patch of swin3d_b
SWIN3D_B_DROP_PATH = 0.1  # torchvision's stochastic depth rate of swin3d_b (its last block's)


class VideoBackbone(nn.Module):
    """Video Swin-B feature pyramid over clips. Input RGB in [0, 1]; normalisation happens here."""

    def __init__(self, cfg: BackboneConfig, pretrained_file: str | None = None) -> None:
        super().__init__()
        self.body = swin3d_b(weights=None)
        for module in self.body.modules():  # torchvision's rate rises linearly to 0.1 over the blocks; scale it
            if isinstance(module, StochasticDepth):
                module.p *= cfg.drop_path_rate / SWIN3D_B_DROP_PATH
        self.body.head = nn.Identity()  # the Kinetics classifier is not used
        if pretrained_file is not None:
            _load(self.body, Path(pretrained_file))
        self.channels = [self.body.patch_embed.proj.out_channels * 2**level for level in range(4)]
        self.strides = [4, 8, 16, 32]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)
        self.grad_checkpointing = False  # recompute each stage in backward (training memory); see Vatex

    def set_fused_attention(self, enable: bool) -> None:
        """torchvision's 3D window attention has no switch; kept for the image backbone's interface."""

    def encode_clip(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 3, H, W) RGB in [0, 1] -> 4 maps (B*T, C_i, H / s_i, W / s_i), fine to coarse, frame-major per
        clip."""
        clips, steps = frames.shape[:2]
        video = frames.transpose(1, 2)  # (B, 3, T, H, W)
        if steps == 1:
            video = video.expand(-1, -1, TEMPORAL_PATCH, -1, -1)
        x = self.body.pos_drop(self.body.patch_embed((video - self.mean) / self.std))  # (B, T', H/4, W/4, C)
        levels = []
        for index, layer in enumerate(self.body.features):
            if self.grad_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            if index % 2 == 0:  # a stage (odd indices are patch merging)
                levels.append(self.body.norm(x) if index == len(self.body.features) - 1 else x)
        # (B, T', h, w, C) -> one NCHW map per input frame: frame t lies in temporal patch t // 2
        index = torch.arange(steps, device=frames.device) // TEMPORAL_PATCH
        return [level[:, index].flatten(0, 1).permute(0, 3, 1, 2).contiguous() for level in levels]


def _load(body: nn.Module, path: Path) -> None:
    """A torchvision swin3d_b state dict (optionally under "state_dict"/"model"); the classifier is skipped."""
    if not path.is_file():
        raise FileNotFoundError(f"video backbone checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {name: value for name, value in state.items() if not name.startswith("head.")}
    try:
        missing, unexpected = body.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes that do not fit
        raise ValueError(f"{path} is not a torchvision swin3d_b checkpoint: "
                         f"{str(err).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ValueError(f"{path} is not a torchvision swin3d_b checkpoint: {len(missing)} missing tensors "
                         f"({', '.join(missing[:3])}), {len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
