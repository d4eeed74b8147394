"""The scene interface every dataset reader (real or synthetic) returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RefObject:
    """One referred object of a scene."""

    object_id: str  # unique within its scene
    expressions: tuple[str, ...]  # every expression referring to this object
    no_target: bool = False  # the expressions name nothing in the scene (gRefCOCO "no_target"); mask empty


class RefScene(ABC):
    """An image (``num_frames == 1``) or a video with its referred objects.

    Subclasses set ``scene_id``, ``objects`` and ``num_frames`` and load pixels lazily.
    """

    scene_id: str
    objects: tuple[RefObject, ...]
    num_frames: int

    @abstractmethod
    def load_frames(self, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Load frames.

        Args:
            frame_indices: frames to load, in the order given; ``None`` = all frames.

        Returns:
            (T, H, W, 3) uint8 RGB.
        """

    @abstractmethod
    def load_mask(self, object_id: str, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """Load the ground-truth mask of one object.

        Args:
            object_id: an ``object_id`` of ``self.objects``.
            frame_indices: frames to load, in the order given; ``None`` = all frames.

        Returns:
            (T, H, W) bool.
        """

    def get_object(self, object_id: str) -> RefObject:
        """Return the object with this id; KeyError naming the scene if absent."""
        for obj in self.objects:
            if obj.object_id == object_id:
                return obj
        raise KeyError(f"scene {self.scene_id!r} has no object {object_id!r}")

    def _frame_list(self, frame_indices: Sequence[int] | None) -> list[int]:
        """Validate ``frame_indices`` against ``num_frames`` (``None`` = all frames)."""
        if frame_indices is None:
            return list(range(self.num_frames))
        indices = [int(i) for i in frame_indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f"scene {self.scene_id!r} has {self.num_frames} frames; got indices {bad}")
        return indices


class ArrayScene(RefScene):
    """A scene held in memory (synthetic data, tests)."""

    def __init__(
        self,
        scene_id: str,
        objects: Sequence[RefObject],
        frames: np.ndarray,
        masks: Mapping[str, np.ndarray],
    ) -> None:
        """Build a scene from arrays.

        Args:
            scene_id: unique id.
            objects: referred objects; each ``object_id`` must be a key of ``masks``.
            frames: (T, H, W, 3) uint8 RGB.
            masks: object_id -> (T, H, W) bool.
        """
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        for obj in objects:
            if obj.object_id not in masks:
                raise ValueError(f"no mask for object {obj.object_id!r} of scene {scene_id!r}")
            if masks[obj.object_id].shape != frames.shape[:3]:
                raise ValueError(f"mask of {obj.object_id!r} is {masks[obj.object_id].shape}, frames {frames.shape}")
        self.scene_id = scene_id
        self.objects = tuple(objects)
        self.num_frames = frames.shape[0]
        self._frames = frames
        self._masks = {key: np.asarray(value, dtype=bool) for key, value in masks.items()}

    def load_frames(self, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """See :meth:`RefScene.load_frames`."""
        return self._frames[self._frame_list(frame_indices)]

    def load_mask(self, object_id: str, frame_indices: Sequence[int] | None = None) -> np.ndarray:
        """See :meth:`RefScene.load_mask`."""
        self.get_object(object_id)
        return self._masks[object_id][self._frame_list(frame_indices)]
