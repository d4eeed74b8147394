"""The per-frame VATEX forward as an ONNX graph (for onnxruntime, and TensorRT's ``trtexec``).

What the graph holds: the backbone, the CLIP Prior's image tower, the CMD and the decoder, for one frame
of a fixed size and one expression. What stays outside: tokenizing and encoding the expression (once per
expression, in PyTorch: :meth:`Vatex.encode_text`), resizing/padding the frame and upsampling the mask.

Inputs (all float32 unless said): ``image`` (1, 3, H, W) RGB in [0, 1], H and W multiples of 32;
``words`` (1, L, C) and ``padding_mask`` (1, L) bool, the expression's word features padded to
L = ``cfg.clip.context_length``; ``prompt`` (1, D) the CLIP-prior prompt embedding. Outputs: ``mask_logits``
(1, N, H/4, W/4) of the N queries, ``scores`` (1, N) their object probability; the answer is the query of the
highest score, its logits > 0 (as :class:`vatex_core.Predictor` decides).

A temporal model (``cfg.temporal.memory_frames > 0``) is refused: its memory of past frames is state the
caller would have to carry between calls; export its weights' per-frame model instead, or run it in PyTorch.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vatex_core.model import Vatex
from vatex_core.text_encoder import TextFeatures

logger = logging.getLogger(__name__)

INPUT_NAMES = ("image", "words", "padding_mask", "prompt")
OUTPUT_NAMES = ("mask_logits", "scores")
OPSET = 18


class FrameGraph(nn.Module):
    """``Vatex`` for one frame and one encoded expression, with tensors only in and out (what ONNX can hold)."""

    def __init__(self, model: Vatex) -> None:
        super().__init__()
        if model.temporal is not None:
            raise ValueError(f"model {model.cfg.name!r} is temporal (memory_frames {model.cfg.temporal.memory_frames}); "
                             f"only per-frame models are exported (the memory is state across calls)")
        self.model = model

    def forward(self, image: torch.Tensor, words: torch.Tensor, padding_mask: torch.Tensor,
                prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, H, W), (1, L, C), (1, L) bool, (1, D) -> mask logits (1, N, H/4, W/4), scores (1, N)."""
        out = self.model(image[:, None], TextFeatures(words, padding_mask, prompt))  # clip of T = 1
        scores = out["pred_logits"].softmax(-1)[..., 0]  # (1, N) object probability
        return out["pred_masks"][:, :, 0], scores  # (1, N, H/4, W/4): the one frame


@dataclass
class ExampleInputs:
    """One frame and one encoded expression, as the graph takes them."""

    image: torch.Tensor
    words: torch.Tensor
    padding_mask: torch.Tensor
    prompt: torch.Tensor

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        return self.image, self.words, self.padding_mask, self.prompt

    def as_numpy(self) -> dict[str, np.ndarray]:
        return {name: tensor.cpu().numpy() for name, tensor in zip(INPUT_NAMES, self.as_tuple())}


def example_inputs(model: Vatex, height: int, width: int, expression: str = "the red cup on the left",
                   seed: int = 0) -> ExampleInputs:
    """A random frame of (height, width) and ``expression`` encoded by the model, padded to the context length."""
    if height % 32 or width % 32:
        raise ValueError(f"the exported frame size must be a multiple of 32, got {width}x{height}")
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, height, width, generator=generator).to(model.device)
    with torch.inference_mode():
        text = model.encode_text([expression], prompts=[f"a photo of {expression}"]).padded(model.cfg.clip.context_length)
    return ExampleInputs(image, text.tokens.clone(), text.padding_mask.clone(), text.prompt.clone())


def export_onnx(model: Vatex, path: str | Path, height: int, width: int) -> dict:
    """Writes the per-frame graph of ``model`` for frames of (height, width) to ``path``.

    Args:
        model: a float32 per-frame model (``load_vatex``), on the CPU.
        path: the .onnx file to write (a ``.json`` beside it records names, shapes and the model config).
        height, width: the frame size the graph takes, multiples of 32 (e.g. 480x640).

    Returns:
        The description written beside the graph.

    Raises:
        ValueError: a temporal model, or a size that is no multiple of 32.
    """
    path = Path(path)
    graph = FrameGraph(model.float().eval())
    inputs = example_inputs(model, height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    for chatty in ("onnx_ir", "onnxscript"):  # a line per deduplicated initializer and per skipped constant fold
        logging.getLogger(chatty).setLevel(logging.ERROR)
    started = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about Python values turned into constants (sizes are fixed)
        torch.onnx.export(graph, inputs.as_tuple(), str(path), input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), opset_version=OPSET, dynamo=True, external_data=False)
    logger.info("exported %s in %.1f s", path, time.perf_counter() - started)
    description = {
        "inputs": {name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                   for name, t in zip(INPUT_NAMES, inputs.as_tuple())},
        "outputs": {"mask_logits": [1, model.cfg.head.num_queries, height // 4, width // 4],
                    "scores": [1, model.cfg.head.num_queries]},
        "opset": OPSET,
        "torch": torch.__version__,
        "config": model.cfg.to_dict(),
    }
    path.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")
    return description


def compare_with_torch(model: Vatex, path: str | Path, inputs: ExampleInputs, threads: int = 1) -> dict[str, float]:
    """Runs the graph in onnxruntime (CPU) and the model in PyTorch on ``inputs``; the largest differences.

    Returns:
        {"mask_logits": max |onnx - torch|, "scores": max |onnx - torch|, "same_query": 1.0 if both pick
        the same query else 0.0, "mask_agreement": share of pixels where both masks (logit > 0) agree}.
    """
    import onnxruntime

    session = _session(path, threads, onnxruntime)
    onnx_logits, onnx_scores = session.run(list(OUTPUT_NAMES), inputs.as_numpy())
    with torch.inference_mode():
        torch_logits, torch_scores = (t.cpu().numpy() for t in FrameGraph(model.float().eval())(*inputs.as_tuple()))
    best = int(torch_scores[0].argmax())
    return {
        "mask_logits": float(np.abs(onnx_logits - torch_logits).max()),
        "scores": float(np.abs(onnx_scores - torch_scores).max()),
        "same_query": float(int(onnx_scores[0].argmax()) == best),
        "mask_agreement": float(((onnx_logits[0, best] > 0) == (torch_logits[0, best] > 0)).mean()),
    }


def time_backends(model: Vatex, path: str | Path, inputs: ExampleInputs, threads: int = 1,
                  calls: int = 20) -> dict[str, float]:
    """Median milliseconds of one frame through onnxruntime (CPU) and through PyTorch, same inputs, same threads."""
    import onnxruntime

    session = _session(path, threads, onnxruntime)
    feeds = inputs.as_numpy()
    graph = FrameGraph(model.float().eval())
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            ort = _median_ms(lambda: session.run(list(OUTPUT_NAMES), feeds), calls)
            eager = _median_ms(lambda: graph(*inputs.as_tuple()), calls)
    finally:
        torch.set_num_threads(previous)
    return {"onnxruntime_ms": ort, "torch_ms": eager}


def _session(path: str | Path, threads: int, onnxruntime):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _median_ms(call, calls: int) -> float:
    call()  # first call: allocations, lazy initialisation
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))
