"""Training augmentation and evaluation resizing shared by frames and masks.

Paper/authors' recipe: short side 480 (long side capped at 1333), colour jitter 0.9-1.1,
rotation +-15 degrees, and never a horizontal flip (expressions say "left"/"right").
One draw of random parameters is applied to every frame and every mask of an item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF


@dataclass
class AugmentConfig:
    """Parameters of :class:`ReferTransform`."""

    short_side: int = 480  # target length of the shorter image side
    max_size: int = 1333  # cap on the longer side after resizing
    color_jitter: float = 0.1  # brightness/contrast/saturation factors drawn in [1 - x, 1 + x]
    rotation_deg: float = 15.0  # rotation angle drawn in [-x, x] degrees
    train: bool = True  # False: resize only (evaluation)


def resized_shape(height: int, width: int, short_side: int, max_size: int) -> tuple[int, int]:
    """Size (H', W') with the short side at ``short_side`` unless the long side would pass ``max_size``."""
    scale = short_side / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


class ReferTransform:
    """Resize, colour-jitter and rotate a clip and its masks with one set of random parameters."""

    def __init__(self, cfg: AugmentConfig) -> None:
        """Keep the config; all randomness comes from the generator passed per call."""
        self.cfg = cfg

    def __call__(self, frames: np.ndarray, masks: np.ndarray,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform one item.

        Args:
            frames: (T, H, W, 3) uint8 RGB.
            masks: (K, T, H, W) bool (K may be 0).
            rng: source of every random parameter (same generator state -> same output).

        Returns:
            frames (T, 3, H', W') float32 in [0, 1] and masks (K, T, H', W') float32 0/1.
        """
        num_masks, num_frames, height, width = masks.shape
        if frames.shape[:3] != (num_frames, height, width):
            raise ValueError(f"frames {frames.shape} do not match masks {masks.shape}")
        size = list(resized_shape(height, width, self.cfg.short_side, self.cfg.max_size))
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255  # (T, 3, H, W)
        labels = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.uint8))
        labels = labels.reshape(num_masks * num_frames, 1, height, width)  # (K*T, 1, H, W)

        video = TF.resize(video, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
        labels = TF.resize(labels, size, interpolation=InterpolationMode.NEAREST_EXACT)
        if self.cfg.train:
            video = self._jitter(video, rng)
            angle = float(rng.uniform(-self.cfg.rotation_deg, self.cfg.rotation_deg))
            video = TF.rotate(video, angle, interpolation=InterpolationMode.BILINEAR, fill=0.0)
            labels = TF.rotate(labels, angle, interpolation=InterpolationMode.NEAREST, fill=0)
        labels = labels.reshape(num_masks, num_frames, *size).float()  # (K, T, H', W')
        return video.clamp_(0, 1).contiguous(), labels

    def _jitter(self, video: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Brightness, contrast and saturation in a random order; ``video`` is (T, 3, H, W) in [0, 1]."""
        x = self.cfg.color_jitter
        factors = rng.uniform(1 - x, 1 + x, size=3)
        adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
        for k in rng.permutation(3):
            video = adjust[k](video, float(factors[k]))
        return video
