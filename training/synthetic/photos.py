"""Photographs as backgrounds of synthetic scenes (the ones scikit-image ships in ``skimage.data``).

Only photographs without flat coloured shapes that the vocabulary could name are used (the
astronaut's flag has white stars, the retina is a red disc). The independent renderer of
``training.independent`` uses other photographs, so evaluating on it never shows a training one.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

TRAINING_PHOTOS = ("chelsea", "coffee", "rocket", "grass", "gravel", "brick", "camera")  # skimage.data names


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """One photograph of ``skimage.data`` (read once per process).

    Returns:
        (H, W, 3) uint8 RGB (grey photographs are repeated over the channels).
    """
    import skimage.data  # only scenes with photographs need scikit-image

    image = np.asarray(getattr(skimage.data, name)())
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def photo_background(rng: np.random.Generator, height: int, width: int, contrast: tuple[float, float],
                     names: tuple[str, ...] = TRAINING_PHOTOS) -> np.ndarray:
    """A random crop of a random photograph at the image's aspect, resized to it.

    Args:
        rng: draws the photograph, crop, mirror and contrast.
        height, width: the background's size in pixels.
        contrast: range of the factor blending the crop towards its mean colour (1 = unchanged).
        names: photographs to choose from (``skimage.data`` function names).

    Returns:
        (H, W, 3) float64 RGB in [0, 255].
    """
    photo = load_photo(names[int(rng.integers(len(names)))])
    rows, cols = photo.shape[:2]
    crop_w = min(cols, rows * width / height) * rng.uniform(0.35, 1.0)  # largest crop of this aspect, scaled
    crop_h = crop_w * height / width
    x0, y0 = rng.uniform(0, cols - crop_w), rng.uniform(0, rows - crop_h)
    crop = Image.fromarray(photo).resize((width, height), Image.BILINEAR, box=(x0, y0, x0 + crop_w, y0 + crop_h))
    image = np.asarray(crop, dtype=np.float64)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    mean = image.mean(axis=(0, 1))
    return mean + rng.uniform(*contrast) * (image - mean)
