"""An independent renderer of the synthetic vocabulary, for evaluation only (issue 29).

Different code from ``training.synthetic`` (it imports only the vocabulary): its own drawing
(anti-aliased PIL shapes, shading, shadows, outlines, other photographs), its own scene sampler
and its own, stricter checker of what a phrase picks. Its val and test splits hold present
objects and absent ones (no-target phrases), as images and as short videos with motion phrases.
"""

from training.independent.scenes import SPLIT_SCENES, make_independent_scenes
from training.independent.videos import SPLIT_VIDEOS, make_independent_videos

__all__ = ["SPLIT_SCENES", "SPLIT_VIDEOS", "make_independent_scenes", "make_independent_videos"]
