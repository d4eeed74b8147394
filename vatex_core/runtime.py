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
BACKENDS = ("torch", "onnxruntime")  # onnxruntime: vatex_core.onnx_runner (CPU, float32)


def precision_dtype(precision: str) -> torch.dtype:
    """``"fp32" | "bf16" | "fp16"`` -> the torch dtype; ValueError for anything else."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def check_backend(backend: str, precision: str, compile: bool) -> None:
    """ValueError for an unknown backend, or for onnxruntime with another precision than fp32 or with compile."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and (precision != "fp32" or compile):
        raise ValueError("the onnxruntime backend runs float32 on the CPU: use precision fp32 and no compile")


def build_runner(model: Vatex, precision: str = "fp32", compile: bool = False, backend: str = "torch"):
    """The runner of ``model`` for ``backend``: :class:`ModelRunner` (torch) or ``OnnxRunner`` (onnxruntime)."""
    check_backend(backend, precision, compile)
    if backend == "onnxruntime":
        from vatex_core.onnx_runner import OnnxRunner  # onnxruntime is an optional dependency

        return OnnxRunner(model)
    return ModelRunner(model, precision, compile)


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
        """``model(frames, text, memory)`` with the frames (B, T, 3, H, W) moved and cast to the model's device and
        dtype.

        ``memory``: a temporal model's stream memory (see ``Vatex.forward``); None for a per-frame model.
        The model's outputs, and "scores" (BK, N): each query's object probability.
        """
        out = self._call(frames.to(self.model.device, self.dtype), text, memory)
        out["scores"] = out["pred_logits"].softmax(-1)[..., 0]
        return out

    def _call(self, frames: torch.Tensor, text: TextFeatures, memory: FrameMemory | None) -> dict:
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
