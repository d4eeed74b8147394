"""Configuration and vocabulary of the synthetic referring dataset."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

SHAPES = ("circle", "square", "triangle", "star", "ring", "diamond")
COLOURS = {  # name -> RGB
    "red": (215, 35, 35),
    "green": (40, 170, 50),
    "blue": (35, 70, 215),
    "yellow": (240, 220, 30),
    "purple": (135, 40, 175),
    "orange": (245, 135, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
CHROMATIC_HUES_DEG = {  # name -> hue of its RGB above, degrees
    name: colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0] * 360 for name, rgb in COLOURS.items()
    if name not in ("white", "black")}
SIZES = ("small", "big")
TEXTURES = ("solid", "striped", "dotted")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}  # mixed into every scene seed: splits never share one


_FACTOR_RANGES = ("short_side", "aspect", "scale", "gain", "gamma", "stretch", "texture_period", "jpeg_quality")
_FRACTION_RANGES = ("photo_contrast", "vignette", "object_gradient", "shadow_strength")  # of a brightness


def _check_hue_ranges(intervals: dict[str, tuple[float, float]]) -> None:
    """Raises if a hue interval is reversed, wider than half the circle, or overlaps another name's."""
    bad = {name: interval for name, interval in intervals.items() if not 0 <= interval[1] - interval[0] <= 180}
    if bad:
        raise ValueError(f"hue ranges must be (low, high) with low <= high, at most 180 degrees wide; got {bad}")
    names = sorted(intervals)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (a_low, a_high), (b_low, b_high) = intervals[a], intervals[b]
            apart = abs((((a_low + a_high) - (b_low + b_high)) / 2 + 180) % 360 - 180)  # between the middles
            if apart < ((a_high - a_low) + (b_high - b_low)) / 2:
                raise ValueError(f"the hue ranges of {a} ({a_low:.0f}..{a_high:.0f} degrees) and {b} "
                                 f"({b_low:.0f}..{b_high:.0f}) overlap: a hue would fit both names")


@dataclass
class RandomizeConfig:
    """Domain randomization of synthetic scenes (issue 29): each effect has its own chance per scene.

    Every chance is 0 by default, and then scenes are pixel-identical to those of a generator
    without this config. Each effect draws from an RNG stream of its own (``training.synthetic.randomize``),
    so switching one on or off changes neither the layouts and expressions nor the other effects'
    draws (only a random image size changes the layout, which is drawn at that size; shape variants
    change the masks, and so which layout attempts pass the occlusion check).
    """

    size_prob: float = 0.0  # chance of a random image size instead of (height, width)
    short_side: tuple[int, int] = (96, 480)  # pixels of the shorter side, drawn log-uniform
    aspect: tuple[float, float] = (0.75, 1.8)  # width / height, drawn log-uniform
    scale_prob: float = 0.0  # chance of scaling both object radius ranges of the scene by one factor
    scale: tuple[float, float] = (0.6, 1.4)  # that factor, log-uniform (small stays smaller than big)
    min_radius_px: float = 6.0  # the scale never makes a small object's radius smaller than this
    flat_prob: float = 0.0  # background: one flat colour, grey or slightly tinted
    photo_prob: float = 0.0  # background: a crop of a photograph (else the cluttered background)
    photo_contrast: tuple[float, float] = (0.5, 1.0)  # the photo blended towards its mean colour
    colour_prob: float = 0.0  # per object: hue/saturation/value jitter that keeps its colour name
    hue_deg: float = 8.0  # hue shift in [-x, x] degrees (red 0, orange 30, yellow 55: names stay apart)
    # per colour name: its own hue shift range in degrees (low, high), instead of [-hue_deg, hue_deg]; the
    # names' hue intervals around their base colours must stay apart (a camera's "green" spans far more
    # than a camera's "orange" can)
    hue_range_deg: dict[str, tuple[float, float]] = field(default_factory=dict)
    saturation: tuple[float, float] = (0.75, 1.1)  # saturation factor
    value: tuple[float, float] = (0.8, 1.1)  # value (brightness) factor; white never below 0.9
    outline_prob: float = 0.0  # per object: a darker outline inside its mask
    outline_px: tuple[int, int] = (1, 3)  # outline width (at most a quarter of the object's radius)
    antialias_prob: float = 0.0  # soft object edges (boundary pixels blended, masks unchanged)
    lighting_prob: float = 0.0  # global gain, gamma, white balance and an illumination gradient
    gain: tuple[float, float] = (0.8, 1.2)
    gamma: tuple[float, float] = (0.8, 1.25)
    white_balance: float = 0.08  # per-channel gain in [1 - x, 1 + x]
    shading: float = 0.2  # illumination gradient: factor 1 +- this across the image
    vignette_prob: float = 0.0  # darker corners
    vignette: tuple[float, float] = (0.15, 0.45)  # brightness lost at the corners
    chromatic_prob: float = 0.0  # red and blue channels shifted apart (lateral chromatic aberration)
    chromatic_px: tuple[int, int] = (1, 2)
    blur_prob: float = 0.0  # Gaussian blur (defocus)
    blur_sigma: tuple[float, float] = (0.4, 1.4)  # pixels
    motion_blur_prob: float = 0.0  # linear blur along one direction (camera shake)
    motion_blur_px: tuple[int, int] = (3, 9)  # kernel length in pixels
    noise_prob: float = 0.0  # Gaussian sensor noise, new on every frame
    noise_sigma: tuple[float, float] = (2.0, 12.0)  # grey levels
    jpeg_prob: float = 0.0  # JPEG compression artefacts
    jpeg_quality: tuple[int, int] = (25, 90)
    shape_prob: float = 0.0  # per object: its shape rotated and stretched (masks follow; area kept)
    rotation_deg: float = 12.0  # squares, diamonds, rings, circles: rotation in [-x, x] (at 45 a square is a diamond)
    pointed_rotation_deg: float = 20.0  # triangles and stars: in [-x, x] (a triangle's apex stays up)
    stretch: tuple[float, float] = (0.9, 1.12)  # width factor, log-uniform; the height is divided by it
    texture_prob: float = 0.0  # per striped or dotted object: its pattern's spacing, width and contrast redrawn
    texture_period: tuple[float, float] = (0.6, 1.8)  # factor on the pattern's spacing, log-uniform
    stripe_duty: tuple[float, float] = (0.3, 0.6)  # fraction of each stripe period in the second colour
    dot_radius: tuple[float, float] = (0.2, 0.38)  # dot radius, fraction of the spacing
    texture_contrast: tuple[float, float] = (0.35, 0.75)  # how far the second colour moves from the base
    shadow_prob: float = 0.0  # per scene: one light side; each object brighter towards it, a soft shadow behind
    object_gradient: tuple[float, float] = (0.1, 0.3)  # an object's brightness, 1 +- this from its lit to its far side
    shadow_offset: tuple[float, float] = (0.08, 0.2)  # the shadow's offset away from the light, fraction of the radius
    shadow_strength: tuple[float, float] = (0.2, 0.45)  # brightness the background loses under the shadow's core
    achromatic_prob: float = 0.0  # per black or white object: its grey level redrawn (a camera's black is dark grey)
    black_level: tuple[float, float] = (5.0, 60.0)  # a black object's grey level (the generator's black: 15)
    white_level: tuple[float, float] = (185.0, 255.0)  # a white object's (the generator's white: 250)
    achromatic_tint: float = 8.0  # and a per-channel offset in [-x, x] grey levels (a bluish black, a warm white)

    def __post_init__(self) -> None:
        chances = {name: value for name, value in vars(self).items() if name.endswith("_prob")}
        bad = {name: value for name, value in chances.items() if not 0 <= value <= 1}
        if bad:
            raise ValueError(f"chances must be in [0, 1], got {bad}")
        if self.flat_prob + self.photo_prob > 1:
            raise ValueError(f"flat_prob + photo_prob must be <= 1, got {self.flat_prob} + {self.photo_prob}")
        ranges = {name: value for name, value in vars(self).items() if isinstance(value, (tuple, list))}
        unordered = {name: value for name, value in ranges.items() if len(value) != 2 or not 0 <= value[0] <= value[1]}
        if unordered:
            raise ValueError(f"ranges must be (low, high) with 0 <= low <= high, got {unordered}")
        zero = {name: ranges[name] for name in _FACTOR_RANGES if ranges[name][0] == 0}
        over = {name: ranges[name] for name in _FRACTION_RANGES if ranges[name][1] > 1}
        if zero or over:
            raise ValueError(f"factors must be above 0 ({', '.join(_FACTOR_RANGES)}) and fractions at most 1 "
                             f"({', '.join(_FRACTION_RANGES)}); got {zero | over}")
        duty, dots, contrast = self.stripe_duty, self.dot_radius, self.texture_contrast  # ordered, >= 0: above
        if not (0 < duty[0] and duty[1] < 1 and 0 < dots[0] and dots[1] <= 0.5 and contrast[1] <= 1):
            raise ValueError("texture patterns: stripe_duty within (0, 1), dot_radius within (0, 0.5], "
                             f"texture_contrast within [0, 1]; got {duty}, {dots}, {contrast}")
        if not self.black_level[1] < self.white_level[0] <= self.white_level[1] <= 255:
            raise ValueError("grey levels: black_level below white_level, both within [0, 255]; got "
                             f"{self.black_level}, {self.white_level}")
        unknown = set(self.hue_range_deg) - set(CHROMATIC_HUES_DEG)
        malformed = {name: value for name, value in self.hue_range_deg.items()
                     if not isinstance(value, (tuple, list)) or len(value) != 2}
        if unknown or malformed:
            raise ValueError(f"hue_range_deg: chromatic colour names ({', '.join(CHROMATIC_HUES_DEG)}) to "
                             f"(low, high) degrees; got unknown {sorted(unknown)}, malformed {malformed}")
        self.hue_range_deg = {name: (float(low), float(high)) for name, (low, high) in self.hue_range_deg.items()}
        _check_hue_ranges(self.hue_intervals())
        if not (0 <= self.rotation_deg < 45 and 0 <= self.pointed_rotation_deg < 60):
            raise ValueError("rotations must stay below 45 (squares) and 60 (triangles) degrees: "
                             f"got {self.rotation_deg}, {self.pointed_rotation_deg}")

    def hue_shift_range(self, colour: str) -> tuple[float, float]:
        """Degrees: the range an object of this colour name has its hue shifted within."""
        return self.hue_range_deg.get(colour, (-self.hue_deg, self.hue_deg))

    def hue_intervals(self) -> dict[str, tuple[float, float]]:
        """Degrees: the hues each chromatic colour name can take (white and black have none)."""
        return {name: (base + low, base + high) for name, base in CHROMATIC_HUES_DEG.items()
                for low, high in [self.hue_shift_range(name)]}

    @property
    def enabled(self) -> bool:
        """Whether any effect can happen (False: the generator behaves as without randomization)."""
        return any(value > 0 for name, value in vars(self).items() if name.endswith("_prob"))


@dataclass
class MotionConfig:
    """Motion videos (``training.synthetic.motion``): what makes time matter."""

    num_frames: int = 12  # frames per motion video
    still_prob: float = 0.35  # chance an object does not move
    axis_prob: float = 0.8  # chance a moving object heads along an axis (+- 12 degrees), else anywhere
    speed: tuple[float, float] = (0.015, 0.06)  # displacement per frame of moving objects, fraction of the short side
    lookalike_prob: float = 0.6  # chance an object copies an earlier one's shape and colour
    exit_prob: float = 0.5  # chance one moving object enters or leaves the view during the clip
    occluder_prob: float = 0.3  # chance of a static band in front of everything (objects pass behind it)
    shake_prob: float = 0.3  # chance of camera shake
    shake: float = 0.015  # largest shake offset, fraction of the short side
    motion_expressions: int = 3  # motion expressions kept per object (the rest are image kinds)


@dataclass
class SyntheticConfig:
    """Parameters of the generator (sizes are fractions of the shorter image side unless noted)."""

    height: int = 128  # image height in pixels
    width: int = 128  # image width in pixels
    min_objects: int = 2  # objects per scene, inclusive range
    max_objects: int = 5
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    textures: tuple[str, ...] = TEXTURES
    small_radius: tuple[float, float] = (0.07, 0.10)  # circumradius range of "small" objects
    big_radius: tuple[float, float] = (0.15, 0.20)  # of "big" objects (disjoint from small on purpose)
    repeat_prob: float = 0.35  # chance an object copies an earlier one's shape and colour (forces spatial language)
    clutter: bool = True  # noise, gradient and faint background shapes; False = flat grey
    max_occlusion: float = 0.35  # an object may lose at most this fraction of its area to objects in front
    max_expressions: int = 5  # expressions kept per object
    no_target_rate: float = 0.0  # chance per target expression of one more no-target expression in the scene
    # no-target expressions: chance each other attribute of the changed object is said too (0: at most one, as 1.3.0)
    absent_kept_prob: float = 0.0
    num_frames: int = 8  # frames of video scenes
    motion: MotionConfig = field(default_factory=MotionConfig)  # motion videos only
    motion_speed: float = 0.03  # object displacement per frame (fraction of the shorter side)
    max_attempts: int = 50  # layouts tried before giving up on a scene
    randomize: RandomizeConfig = field(default_factory=RandomizeConfig)  # domain randomization, off by default

    def __post_init__(self) -> None:
        unknown = (set(self.shapes) - set(SHAPES)) | (set(self.colours) - set(COLOURS)) | (
            set(self.textures) - set(TEXTURES))
        if unknown:
            raise ValueError(f"unknown shapes/colours/textures {sorted(unknown)}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")
        if not 0 <= self.no_target_rate <= 1:
            raise ValueError(f"no_target_rate must be in [0, 1], got {self.no_target_rate}")
        if not 0 <= self.absent_kept_prob <= 1:
            raise ValueError(f"absent_kept_prob must be in [0, 1], got {self.absent_kept_prob}")
        if not 0 <= self.max_occlusion < 1:
            raise ValueError(f"max_occlusion must be in [0, 1), got {self.max_occlusion}")
