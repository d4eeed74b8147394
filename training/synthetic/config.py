"""Configuration and vocabulary of the synthetic referring dataset."""

from __future__ import annotations

from dataclasses import dataclass

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
SIZES = ("small", "big")
TEXTURES = ("solid", "striped", "dotted")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}  # mixed into every scene seed: splits never share one


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
    num_frames: int = 8  # frames of video scenes
    motion_speed: float = 0.03  # object displacement per frame (fraction of the shorter side)
    max_attempts: int = 50  # layouts tried before giving up on a scene

    def __post_init__(self) -> None:
        unknown = (set(self.shapes) - set(SHAPES)) | (set(self.colours) - set(COLOURS)) | (
            set(self.textures) - set(TEXTURES))
        if unknown:
            raise ValueError(f"unknown shapes/colours/textures {sorted(unknown)}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")
        if not 0 <= self.no_target_rate <= 1:
            raise ValueError(f"no_target_rate must be in [0, 1], got {self.no_target_rate}")
        if not 0 <= self.max_occlusion < 1:
            raise ValueError(f"max_occlusion must be in [0, 1), got {self.max_occlusion}")
