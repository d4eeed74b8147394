"""Pictures of a prediction for people: mask tint, box, score, and the CLIP-prior heatmap."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

TINT = np.array([0, 200, 255], dtype=np.float32)  # cyan: visible on most scenes


def draw_overlay(
    rgb: np.ndarray, mask: np.ndarray, box: tuple[float, float, float, float] | None, label: str | None = None
) -> np.ndarray:
    """The frame with the mask tinted, the box outlined and an optional label.

    Args:
        rgb: (H, W, 3) uint8 frame.
        mask: (H, W) bool.
        box: (x_min, y_min, x_max, y_max) pixel edges (pixel i spans [i, i + 1)), or None.
        label: text written above the box (or at the top left without a box).

    Returns:
        (H, W, 3) uint8 image.
    """
    tinted = rgb.astype(np.float32)
    tinted[mask] = 0.5 * tinted[mask] + 0.5 * TINT
    image = Image.fromarray(tinted.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in TINT)
    if box is not None:
        x0, y0, x1, y1 = box
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=max(1, round(min(rgb.shape[:2]) / 200)))
    if label:
        x, y = (box[0], max(0, box[1] - 12)) if box is not None else (2, 2)
        draw.rectangle(draw.textbbox((x, y), label), fill=(0, 0, 0))
        draw.text((x, y), label, fill=colour)
    return np.asarray(image)


def heatmap_image(heatmap: np.ndarray, height: int) -> np.ndarray:
    """A (g, g) heatmap as a (height, height, 3) uint8 picture, dark blue (low) to yellow (high)."""
    low, high = float(heatmap.min()), float(heatmap.max())
    scaled = (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)
    colours = np.stack([scaled, scaled**0.5 * 0.9, 0.5 * (1 - scaled)], axis=-1)  # (g, g, 3)
    picture = Image.fromarray((colours * 255).astype(np.uint8)).resize((height, height), Image.NEAREST)
    return np.asarray(picture)


def side_by_side(*images: np.ndarray, gap: int = 4) -> np.ndarray:
    """Images of the same height next to each other, on a white background."""
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    x = 0
    for image in images:
        canvas[: image.shape[0], x : x + image.shape[1]] = image
        x += image.shape[1] + gap
    return canvas
