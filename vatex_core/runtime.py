"""How the model runs for inference: its precision (weights converted once) and an optional compiled forward.

A model is converted to the inference dtype once (``model.to(dtype)``), not wrapped in autocast:
autocast re-casts every weight on every call (about 1600 extra copy kernels per paper-size frame
on a GPU, measured in issue 12), a converted model casts nothing. Operations that need float32
(deformable attention's sampling locations) cast only their own inputs; see ``pixel_encoder``.

The compiled forward (``torch.compile``; CUDA graphs with ``mode="reduce-overhead"`` on CUDA) is
specialised for one input shape. Text is padded to CLIP's context length so that a new expression
never changes a shape; padded words are masked everywhere, so results do not change.
"""

from __future__ import annotations

import logging
import time

import torch

from vatex_core.model import Vatex
from vatex_core.temporal import FrameMemory
from vatex_core.text_encoder import TextFeatures

logger = logging.getLogger(__name__)

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_dtype(precision: str) -> torch.dtype:
    """``"fp32" | "bf16" | "fp16"`` -> the torch dtype; ValueError for anything else."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


class ModelRunner:
    """Calls a VATEX model in its inference form: converted to ``precision``, optionally compiled.

    Args:
        model: the model; converted in place to the precision's dtype and put in eval mode.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        compile: run ``torch.compile(model)`` (CUDA graphs on CUDA) for fixed input shapes.
    """

    def __init__(self, model: Vatex, precision: str = "fp32", compile: bool = False) -> None:
        self.dtype = precision_dtype(precision)
        self.precision = precision
        self.model = model.to(self.dtype).eval()
        if self.model.device.type == "cuda":
            self.model.backbone.set_fused_attention(True)  # one SDPA kernel per window attention
        self.compiled = compile
        self._shapes: set[tuple] = set()
        self._forward = self.model
        if compile:
            mode = "reduce-overhead" if self.model.device.type == "cuda" else "default"
            self._forward = torch.compile(self.model, mode=mode, dynamic=False)
            logger.info("model compiled lazily with torch.compile(mode=%r) for fixed input shapes", mode)

    def __call__(self, frames: torch.Tensor, text: TextFeatures, memory: FrameMemory | None = None) -> dict:
        """``model(frames, text, memory)`` with the frames (B, T, 3, H, W) moved and cast to the model's device and dtype.

        ``memory``: a temporal model's stream memory (see ``Vatex.forward``); None for a per-frame model.
        """
        frames = frames.to(self.model.device, self.dtype)
        if not self.compiled:
            return self._forward(frames, text, memory)
        text = text.padded(self.model.cfg.clip.context_length)
        shape = (tuple(frames.shape), len(text), memory is None)
        if shape not in self._shapes:  # the first call of a shape compiles: say so, it takes long
            logger.info("compiling the model for frames %s and %d expressions", tuple(frames.shape), len(text))
            started = time.perf_counter()
            out = self._forward(frames, text, memory)
            self._shapes.add(shape)
            logger.info("compiled in %.1f s", time.perf_counter() - started)
            return out
        return self._forward(frames, text, memory)
