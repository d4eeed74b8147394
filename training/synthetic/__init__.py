"""Seeded synthetic referring dataset: shapes with colours, sizes and textures on cluttered
backgrounds, still or moving, each with several expressions checked to be unambiguous."""

from training.synthetic.config import SyntheticConfig
from training.synthetic.export import export_refer, export_ytvos
from training.synthetic.language import Expression, parse, picks_exactly, referents
from training.synthetic.layout import ObjectTruth
from training.synthetic.scenes import SyntheticScene, make_motion_scenes, make_scenes, make_video_scenes

__all__ = [
    "Expression",
    "ObjectTruth",
    "SyntheticConfig",
    "SyntheticScene",
    "export_refer",
    "export_ytvos",
    "make_motion_scenes",
    "make_scenes",
    "make_video_scenes",
    "parse",
    "picks_exactly",
    "referents",
]
