"""Domain randomization of synthetic scenes (issue 29): image size, object scale, backgrounds,
colour within each name, grey levels of black and white, texture patterns, outlines, shading and shadows,
soft edges, lighting and camera effects.

A scene's randomization is a :class:`SceneStyle`, drawn from streams of the scene seed that
nothing else uses: effect ``k`` of ``EFFECTS`` draws from
``SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, RANDOMIZE_STREAM, k))``. So switching
an effect on or off changes no layout, no expression and no other effect of any scene; only a
random image size changes the layout, which the generator then draws at that size. With every
chance at 0 (the default) the style is the identity and scenes are pixel-identical to the
generator without randomization.

The effects never move a mask: colour, grey levels, texture patterns, outline, shading and soft edges change
pixels under (or at the border of) each object's visible mask, shadows fall on the background only, the rest
act on the whole image, and the image size and object scale go into the scene's config before its layout is
drawn. Shape variants (rotation and stretch, ``shape_prob``) are drawn into the layout's attributes from their
own stream, so the masks follow them; with the same layout the expressions are the same (they read centres and
areas, which a pose keeps), though a layout attempt may now pass or fail the occlusion check differently.
Expressions are therefore checked on the exact geometry of the final scene, as without randomization.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from training.synthetic.config import COLOURS, RandomizeConfig, SyntheticConfig
from training.synthetic.layout import ObjectTruth
from training.synthetic.photos import photo_background
from training.synthetic.render import PLAIN_PATTERN, TexturePattern

RANDOMIZE_STREAM = 2  # spawn-key entry of the randomization streams (1: the no-target expressions')
EFFECTS = ("size", "scale", "background", "colour", "outline", "antialias", "lighting", "vignette",
           "chromatic", "blur", "motion_blur", "noise", "jpeg", "shape",
           "texture", "shadow", "achromatic")  # append only: indices are stream keys


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 255] -> (..., 3) HSV: hue in [0, 1), saturation and value in [0, 1]."""
    rgb = rgb / 255.0
    value = rgb.max(axis=-1)
    spread = value - rgb.min(axis=-1)
    saturation = np.where(value > 0, spread / np.maximum(value, 1e-12), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(spread, 1e-12)
    hue = np.where(value == r, (g - b) / safe, np.where(value == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = np.where(spread > 0, (hue / 6.0) % 1.0, 0.0)
    return np.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv`: (..., 3) HSV -> (..., 3) RGB in [0, 255]."""
    hue, saturation, value = hsv[..., 0] * 6.0, hsv[..., 1], hsv[..., 2]
    # each channel is value minus a ramp that depends on the hue's distance from the channel's own hue
    k = (np.array([5.0, 3.0, 1.0]) + hue[..., None]) % 6.0  # (..., 3)
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return 255.0 * (value[..., None] - value[..., None] * saturation[..., None] * ramp)


class SceneStyle:
    """The randomization of one scene: its config changes (size, scale), background and pixel effects."""

    def __init__(self, cfg: RandomizeConfig, seed: np.random.SeedSequence) -> None:
        """Keep the config and the scene seed; every draw comes from the effect's own stream."""
        self.cfg = cfg
        self._seed = seed

    def _stream(self, effect: str) -> np.random.Generator:
        key = (*self._seed.spawn_key, RANDOMIZE_STREAM, EFFECTS.index(effect))
        return np.random.default_rng(np.random.SeedSequence(self._seed.entropy, spawn_key=key))

    def _happens(self, effect: str) -> np.random.Generator | None:
        """The effect's stream if this scene gets the effect (one coin per scene), else None."""
        chance = getattr(self.cfg, f"{effect}_prob")
        if chance <= 0:
            return None
        rng = self._stream(effect)
        return rng if rng.random() < chance else None

    def scene_config(self, cfg: SyntheticConfig) -> SyntheticConfig:
        """``cfg`` with this scene's image size and object radius ranges (``cfg`` itself if unchanged)."""
        changes: dict = {}
        if rng := self._happens("size"):
            short = round(_log_uniform(rng, *self.cfg.short_side))
            aspect = _log_uniform(rng, *self.cfg.aspect)  # width / height
            long = round(short * max(aspect, 1 / aspect))
            changes["height"], changes["width"] = (short, long) if aspect >= 1 else (long, short)
        if rng := self._happens("scale"):
            side = min(changes.get("height", cfg.height), changes.get("width", cfg.width))
            factor = max(_log_uniform(rng, *self.cfg.scale), self.cfg.min_radius_px / (cfg.small_radius[0] * side))
            changes["small_radius"] = tuple(r * factor for r in cfg.small_radius)
            changes["big_radius"] = tuple(r * factor for r in cfg.big_radius)
        return dataclasses.replace(cfg, **changes) if changes else cfg

    def shape_stream(self) -> np.random.Generator | None:
        """The stream of the objects' rotations and stretches (``layout.sample_attributes``), or None
        when ``shape_prob`` is 0 (upright shapes, scenes unchanged). Take it once per scene: every
        layout attempt continues it."""
        return self._stream("shape") if self.cfg.shape_prob > 0 else None

    def texture_patterns(self, count: int) -> list[TexturePattern]:
        """Per object (own coin): its stripes' or dots' spacing, width and contrast; the generator's own
        pattern for the others (solid objects ignore theirs)."""
        if self.cfg.texture_prob <= 0:
            return [PLAIN_PATTERN] * count
        rng = self._stream("texture")
        patterns = []
        for _ in range(count):
            contrast = rng.uniform(*self.cfg.texture_contrast)
            drawn = TexturePattern(period=PLAIN_PATTERN.period * _log_uniform(rng, *self.cfg.texture_period),
                                   stripe_duty=rng.uniform(*self.cfg.stripe_duty),
                                   dot_radius=rng.uniform(*self.cfg.dot_radius), darken=contrast, lighten=contrast)
            patterns.append(drawn if rng.random() < self.cfg.texture_prob else PLAIN_PATTERN)
        return patterns

    def background(self, image: np.ndarray) -> np.ndarray:
        """A flat or photographic background in place of ``image`` (or ``image`` itself).

        Args:
            image: (H, W, 3) float64 RGB in [0, 255], the generator's background.

        Returns:
            (H, W, 3) float64 RGB in [0, 255].
        """
        if self.cfg.flat_prob + self.cfg.photo_prob <= 0:
            return image
        rng = self._stream("background")
        draw = rng.random()
        height, width = image.shape[:2]
        if draw < self.cfg.flat_prob:
            colour = rng.uniform(55, 200) + rng.uniform(-18, 18, size=3)  # grey, slightly tinted
            return np.broadcast_to(np.clip(colour, 0, 255), image.shape).copy()
        if draw < self.cfg.flat_prob + self.cfg.photo_prob:
            return photo_background(rng, height, width, self.cfg.photo_contrast)
        return image

    def frames(self, frames: np.ndarray, truth: Sequence[ObjectTruth], visible: np.ndarray) -> np.ndarray:
        """Apply the pixel effects to a composited scene (masks unchanged).

        Args:
            frames: (T, H, W, 3) uint8 RGB.
            truth: the scene's objects, in depth order (later ones in front).
            visible: (N, T, H, W) bool visible mask of each object.

        Returns:
            (T, H, W, 3) uint8 RGB (``frames`` itself when no effect is on).
        """
        if not self.cfg.enabled:
            return frames
        image = frames.astype(np.float32)
        image = self._colour(image, truth, visible)
        image = self._achromatic(image, truth, visible)
        image = self._outline(image, truth, visible)
        image = self._shadow(image, truth, visible)
        image = self._antialias(image, visible)
        image = self._lighting(image)
        image = self._vignette(image)
        image = self._chromatic(image)
        image = self._blur(image)
        image = self._motion_blur(image)
        image = self._noise(image)
        out = np.clip(np.round(image), 0, 255).astype(np.uint8)
        return self._jpeg(out)

    def _colour(self, image: np.ndarray, truth: Sequence[ObjectTruth], visible: np.ndarray) -> np.ndarray:
        """Per object (own coin): hue, saturation and value jitter of its pixels, bounded to keep its name."""
        if self.cfg.colour_prob <= 0:
            return image
        rng = self._stream("colour")
        for obj, mask in zip(truth, visible):
            shift = rng.uniform(*self.cfg.hue_shift_range(obj.colour)) / 360.0
            saturation = rng.uniform(*self.cfg.saturation)
            value = rng.uniform(max(self.cfg.value[0], 0.9) if obj.colour == "white" else self.cfg.value[0],
                                self.cfg.value[1])
            if rng.random() >= self.cfg.colour_prob or not mask.any():
                continue
            hsv = rgb_to_hsv(image[mask])  # (K, 3) the object's pixels over all frames
            hsv[:, 0] = (hsv[:, 0] + shift) % 1.0
            hsv[:, 1] = np.clip(hsv[:, 1] * saturation, 0.0, 1.0)
            hsv[:, 2] = np.clip(hsv[:, 2] * value, 0.0, 1.0)
            image[mask] = hsv_to_rgb(hsv)
        return image

    def _achromatic(self, image: np.ndarray, truth: Sequence[ObjectTruth], visible: np.ndarray) -> np.ndarray:
        """Per black or white object (own coin): its grey level and a slight tint redrawn. A black object is
        shifted (its lighter stripes and dots move with it), a white one scaled (its darker ones too)."""
        if self.cfg.achromatic_prob <= 0:
            return image
        rng = self._stream("achromatic")
        for obj, mask in zip(truth, visible):
            level = rng.uniform(*(self.cfg.black_level if obj.colour == "black" else self.cfg.white_level))
            tint = rng.uniform(-self.cfg.achromatic_tint, self.cfg.achromatic_tint, size=3)
            if rng.random() >= self.cfg.achromatic_prob or obj.colour not in ("black", "white") or not mask.any():
                continue
            base = float(COLOURS[obj.colour][0])
            pixels = image[mask] + (level - base) if obj.colour == "black" else image[mask] * (level / base)
            image[mask] = np.clip(pixels + tint, 0.0, 255.0)
        return image

    def _outline(self, image: np.ndarray, truth: Sequence[ObjectTruth], visible: np.ndarray) -> np.ndarray:
        """Per object (own coin): a band inside its outline, in a darker (black: lighter) shade."""
        if self.cfg.outline_prob <= 0:
            return image
        rng = self._stream("outline")
        front = np.zeros(visible.shape[1:], dtype=bool)  # (T, H, W) pixels of objects in front
        for n in range(len(truth) - 1, -1, -1):
            obj, mask = truth[n], visible[n]
            width = int(rng.integers(self.cfg.outline_px[0], self.cfg.outline_px[1] + 1))
            draw = rng.random() < self.cfg.outline_prob
            width = min(width, int(obj.radius / 4))
            if draw and width > 0:
                # the object's own border, not the edge where an object in front hides it
                inner = ndimage.binary_erosion(mask | front, structure=np.ones((1, 3, 3), bool), iterations=width)
                band = mask & ~inner
                base = np.asarray(COLOURS[obj.colour], dtype=np.float32)
                shade = base + (255 - base) * 0.4 if base.max() < 60 else base * 0.45
                image[band] = shade
            front |= mask
        return image

    def _shadow(self, image: np.ndarray, truth: Sequence[ObjectTruth], visible: np.ndarray) -> np.ndarray:
        """One light direction for the scene: each object's pixels brighter towards the light and darker away
        from it, and a soft shadow of each object offset away from the light, on background pixels only."""
        if (rng := self._happens("shadow")) is None:
            return image
        angle = rng.uniform(0, 2 * math.pi)
        away = np.array([math.cos(angle), math.sin(angle)])  # (x, y) unit vector from the light
        background = ~visible.any(axis=0)  # (T, H, W)
        darkening = np.zeros(visible.shape[1:], dtype=np.float32)  # (T, H, W) shadow strength per pixel
        for obj, masks in zip(truth, visible):
            gradient = rng.uniform(*self.cfg.object_gradient)
            offset = max(1.0, rng.uniform(*self.cfg.shadow_offset) * obj.radius)
            strength = rng.uniform(*self.cfg.shadow_strength)
            for t, mask in enumerate(masks):
                if not mask.any():
                    continue
                y, x = np.nonzero(mask)
                along = ((x - x.mean()) * away[0] + (y - y.mean()) * away[1]) / max(obj.radius, 1.0)
                image[t][y, x] *= (1.0 - gradient * np.clip(along, -1.0, 1.0))[:, None].astype(np.float32)
                moved = ndimage.shift(mask.astype(np.float32), (offset * away[1], offset * away[0]), order=1, cval=0.0)
                soft = ndimage.gaussian_filter(moved, sigma=offset / 2)
                darkening[t] = np.maximum(darkening[t], strength * soft)
        image *= (1.0 - darkening * background)[..., None]
        return image

    def _antialias(self, image: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """Soft edges: pixels on either side of an object border mixed with their 3x3 neighbourhood."""
        if self._happens("antialias") is None:
            return image
        labels = np.zeros(visible.shape[1:], dtype=np.int16)  # (T, H, W): 0 background, n + 1 object n
        for n, mask in enumerate(visible):
            labels[mask] = n + 1
        edge = np.zeros_like(labels, dtype=bool)
        across_x = labels[:, :, 1:] != labels[:, :, :-1]
        across_y = labels[:, 1:, :] != labels[:, :-1, :]
        edge[:, :, 1:] |= across_x
        edge[:, :, :-1] |= across_x
        edge[:, 1:, :] |= across_y
        edge[:, :-1, :] |= across_y
        smooth = ndimage.uniform_filter(image, size=(1, 3, 3, 1), mode="nearest")
        image[edge] = 0.5 * image[edge] + 0.5 * smooth[edge]
        return image

    def _lighting(self, image: np.ndarray) -> np.ndarray:
        """Global gain, white balance, an illumination gradient, then gamma."""
        if (rng := self._happens("lighting")) is None:
            return image
        height, width = image.shape[1:3]
        gain = rng.uniform(*self.cfg.gain)
        balance = 1.0 + rng.uniform(-self.cfg.white_balance, self.cfg.white_balance, size=3)
        direction = rng.uniform(0, 2 * math.pi)
        amplitude = rng.uniform(0, self.cfg.shading)
        gamma = _log_uniform(rng, *self.cfg.gamma)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = (x / width - 0.5) * math.cos(direction) + (y / height - 0.5) * math.sin(direction)  # (H, W)
        ramp /= 0.5 * (abs(math.cos(direction)) + abs(math.sin(direction)))  # in [-1, 1]
        factor = (gain * (1.0 + amplitude * ramp))[..., None] * balance.astype(np.float32)  # (H, W, 3)
        return 255.0 * np.clip(image / 255.0 * factor, 0.0, 1.0) ** gamma

    def _vignette(self, image: np.ndarray) -> np.ndarray:
        """Brightness falling off quadratically from the centre to the corners."""
        if (rng := self._happens("vignette")) is None:
            return image
        height, width = image.shape[1:3]
        strength = rng.uniform(*self.cfg.vignette)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        radius2 = ((x + 0.5) / width - 0.5) ** 2 + ((y + 0.5) / height - 0.5) ** 2  # 0.5 at the corners
        return image * (1.0 - strength * 2.0 * radius2)[..., None]

    def _chromatic(self, image: np.ndarray) -> np.ndarray:
        """Red channel shifted one way, blue the other (edge pixels repeated)."""
        if (rng := self._happens("chromatic")) is None:
            return image
        shift = int(rng.integers(self.cfg.chromatic_px[0], self.cfg.chromatic_px[1] + 1))
        dx, dy = [(shift, 0), (0, shift), (shift, shift)][int(rng.integers(3))]
        for channel, sign in ((0, 1), (2, -1)):
            image[..., channel] = _shifted(image[..., channel], sign * dy, sign * dx)
        return image

    def _blur(self, image: np.ndarray) -> np.ndarray:
        """Gaussian blur (defocus)."""
        if (rng := self._happens("blur")) is None:
            return image
        sigma = rng.uniform(*self.cfg.blur_sigma)
        return ndimage.gaussian_filter(image, sigma=(0, sigma, sigma, 0), mode="nearest")

    def _motion_blur(self, image: np.ndarray) -> np.ndarray:
        """Mean of copies shifted along a line (camera shake), the same on every frame."""
        if (rng := self._happens("motion_blur")) is None:
            return image
        length = int(rng.integers(self.cfg.motion_blur_px[0], self.cfg.motion_blur_px[1] + 1))
        angle = rng.uniform(0, math.pi)
        steps = np.linspace(-(length - 1) / 2, (length - 1) / 2, length)
        offsets = {(round(s * math.sin(angle)), round(s * math.cos(angle))) for s in steps}  # (dy, dx)
        return sum(_shifted(image, dy, dx) for dy, dx in offsets) / len(offsets)

    def _noise(self, image: np.ndarray) -> np.ndarray:
        """Gaussian noise, independent per pixel, channel and frame."""
        if (rng := self._happens("noise")) is None:
            return image
        sigma = rng.uniform(*self.cfg.noise_sigma)
        return image + sigma * rng.standard_normal(image.shape, dtype=np.float32)

    def _jpeg(self, frames: np.ndarray) -> np.ndarray:
        """Each frame through a JPEG encoder and decoder."""
        if (rng := self._happens("jpeg")) is None:
            return frames
        quality = int(rng.integers(self.cfg.jpeg_quality[0], self.cfg.jpeg_quality[1] + 1))
        out = np.empty_like(frames)
        for t, frame in enumerate(frames):
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
            out[t] = np.asarray(Image.open(buffer).convert("RGB"))
        return out


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` (T, H, W[, C]) moved by (dy, dx) pixels, the uncovered border repeating the edge."""
    height, width = image.shape[1:3]
    pad = [(0, 0), (abs(dy), abs(dy)), (abs(dx), abs(dx))] + [(0, 0)] * (image.ndim - 3)
    padded = np.pad(image, pad, mode="edge")
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top : top + height, left : left + width]


def scene_style(cfg: SyntheticConfig, seed: np.random.SeedSequence) -> tuple[SyntheticConfig, SceneStyle]:
    """One scene's config (its size and object scale) and the rest of its randomization.

    Args:
        cfg: the generator's config; ``cfg.randomize`` says which effects may happen.
        seed: the scene's seed sequence (the randomization uses child streams of it only).

    Returns:
        The scene's config (``cfg`` itself when size and scale are unchanged) and its style.
    """
    style = SceneStyle(cfg.randomize, seed)
    return style.scene_config(cfg), style
