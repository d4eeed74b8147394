"""The VATEX forward for one frame as an ONNX graph (for onnxruntime, and TensorRT's ``trtexec``).

What the graph holds: the backbone, the CLIP Prior's image tower, the CMD and the decoder (and a temporal
model's motion encoder), for one frame of a fixed size and one expression. What stays outside: tokenizing
and encoding the expression (once per expression, in PyTorch: :meth:`Vatex.encode_text`), resizing/padding
the frame and upsampling the mask.

Inputs (all float32 unless said): ``image`` (1, 3, H, W) RGB in [0, 1], H and W multiples of 32;
``words`` (1, L, C) and ``padding_mask`` (1, L) bool, the expression's word features padded to
L = ``cfg.clip.context_length``; ``prompt`` (1, D) the CLIP-prior prompt embedding; with a motion logit
(``cfg.temporal.motion_logit``) ``motion_request`` (1, R), the expression's motion words
(``vatex_core.motion_words``). Outputs: ``mask_logits``
(1, N, H/4, W/4) of the N queries, ``scores`` (1, N) their object probability, and with a CLIP Prior
``prior_heatmap`` (1, g, g); the answer is the query of the highest score, its logits > 0 (as
:class:`vatex_core.Predictor` decides).

A temporal model (``cfg.temporal.memory_frames`` K > 0) keeps its memory outside the graph, as the
caller's state (:class:`vatex_core.temporal.FrameMemory`): three more inputs, ``memory_features``
(1, K, C0, H/4, W/4), ``memory_valid`` (1, K) bool and ``memory_target`` (1, 1, H/4, W/4), and one more
output, ``frame_features`` (1, C0, H/4, W/4), this frame's entry in the memory.
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
from vatex_core.motion_words import MOTION_REQUESTS
from vatex_core.temporal import FrameMemory
from vatex_core.text_encoder import TextFeatures

logger = logging.getLogger(__name__)

INPUT_NAMES = ("image", "words", "padding_mask", "prompt")
MOTION_INPUT_NAMES = ("motion_request",)
MEMORY_INPUT_NAMES = ("memory_features", "memory_valid", "memory_target")
OPSET = 18


def input_names(model: Vatex) -> tuple[str, ...]:
    """The graph's inputs, in order: the frame and the expression (with a motion logit its motion request), then a
    temporal model's memory."""
    return (INPUT_NAMES + (MOTION_INPUT_NAMES if reads_motion_words(model) else ())
            + (MEMORY_INPUT_NAMES if model.temporal is not None else ()))


def reads_motion_words(model: Vatex) -> bool:
    """Whether the model's decision reads the expression's motion request (a motion logit)."""
    return model.temporal is not None and model.temporal.motion_logit is not None


def output_names(model: Vatex) -> tuple[str, ...]:
    """The graph's outputs, in order: the masks and scores, the prior's heatmap, a temporal model's frame features."""
    return ("mask_logits", "scores", *(("prior_heatmap",) if model.clip_prior is not None else ()),
            *(("frame_features",) if model.temporal is not None else ()))


class FrameGraph(nn.Module):
    """``Vatex`` for one frame and one encoded expression, with tensors only in and out (what ONNX can hold)."""

    def __init__(self, model: Vatex) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, words: torch.Tensor, padding_mask: torch.Tensor, prompt: torch.Tensor,
                *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(1, 3, H, W), (1, L, C), (1, L) bool, (1, D)[, motion request (1, R)][, memory (1, K, C0, H/4, W/4),
        (1, K) bool, (1, 1, H/4, W/4)] -> the tensors of :func:`output_names`."""
        if reads_motion_words(self.model):
            motion, memory = rest[0], rest[1:]
        else:  # the request is read by the motion logit only
            motion, memory = words.new_zeros(len(words), len(MOTION_REQUESTS)), rest
        state = FrameMemory(*memory) if memory else None
        out = self.model(image[:, None], TextFeatures(words, padding_mask, prompt, motion), state)  # clip of T = 1
        scores = out["pred_logits"].softmax(-1)[..., 0]  # (1, N) object probability
        heatmap = () if out["prior_heatmap"] is None else (out["prior_heatmap"],)
        features = (out["frame_features"],) if "frame_features" in out else ()
        return out["pred_masks"][:, :, 0], scores, *heatmap, *features  # masks (1, N, H/4, W/4): the one frame


@dataclass
class ExampleInputs:
    """One frame and one encoded expression (and a temporal model's memory), as the graph takes them."""

    image: torch.Tensor
    words: torch.Tensor
    padding_mask: torch.Tensor
    prompt: torch.Tensor
    motion: torch.Tensor | None = None  # with a motion logit
    memory: FrameMemory | None = None

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        motion = () if self.motion is None else (self.motion,)
        memory = () if self.memory is None else (self.memory.features, self.memory.valid, self.memory.target)
        return self.image, self.words, self.padding_mask, self.prompt, *motion, *memory

    def as_numpy(self) -> dict[str, np.ndarray]:
        names = (INPUT_NAMES + (MOTION_INPUT_NAMES if self.motion is not None else ())
                 + (MEMORY_INPUT_NAMES if self.memory is not None else ()))
        return {name: tensor.cpu().numpy() for name, tensor in zip(names, self.as_tuple())}


def example_inputs(model: Vatex, height: int, width: int, expression: str = "the red cup on the left",
                   seed: int = 0) -> ExampleInputs:
    """A random frame of (height, width) and ``expression`` encoded by the model, padded to the context length.

    A temporal model also gets a random memory whose newest slot holds a frame (older slots at random).
    """
    if height % 32 or width % 32:
        raise ValueError(f"the exported frame size must be a multiple of 32, got {width}x{height}")
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, height, width, generator=generator).to(model.device)
    with torch.inference_mode():
        text = model.encode_text([expression], prompts=[f"a photo of {expression}"])
        text = text.padded(model.cfg.clip.context_length)
    memory = None
    if model.temporal is not None:
        slots, channels = model.cfg.temporal.memory_frames, model.backbone.channels[0]
        features = torch.randn(1, slots, channels, height // 4, width // 4, generator=generator)
        valid = torch.rand(1, slots, generator=generator) < 0.5
        valid[:, 0] = True
        target = torch.rand(1, 1, height // 4, width // 4, generator=generator)
        memory = FrameMemory(features.to(model.device), valid.to(model.device), target.to(model.device))
    motion = text.motion.clone() if reads_motion_words(model) else None
    return ExampleInputs(image, text.tokens.clone(), text.padding_mask.clone(), text.prompt.clone(), motion, memory)


def export_onnx(model: Vatex, path: str | Path, height: int, width: int) -> dict:
    """Writes the one-frame graph of ``model`` for frames of (height, width) to ``path``.

    Args:
        model: a float32 model (``load_vatex``), on the CPU.
        path: the .onnx file to write (a ``.json`` beside it records names, shapes and the model config).
        height, width: the frame size the graph takes, multiples of 32 (e.g. 480x640).

    Returns:
        The description written beside the graph.

    Raises:
        ValueError: a size that is no multiple of 32.
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
        torch.onnx.export(graph, inputs.as_tuple(), str(path), input_names=list(input_names(model)),
                          output_names=list(output_names(model)), opset_version=OPSET, dynamo=True, external_data=False,
                          verbose=False)
    logger.info("exported %s in %.1f s", path, time.perf_counter() - started)
    with torch.inference_mode():
        outputs = graph(*inputs.as_tuple())
    description = {
        "inputs": {name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                   for name, t in zip(input_names(model), inputs.as_tuple())},
        "outputs": {name: list(t.shape) for name, t in zip(output_names(model), outputs)},
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
        the same query else 0.0, "mask_agreement": share of pixels where both masks (logit > 0) agree},
        and "frame_features" (max |onnx - torch|) for a temporal model.
    """
    session = open_session(path, threads)
    names = output_names(model)
    onnx_out = dict(zip(names, session.run(list(names), inputs.as_numpy())))
    with torch.inference_mode():
        torch_outputs = FrameGraph(model.float().eval())(*inputs.as_tuple())
        torch_out = {name: t.cpu().numpy() for name, t in zip(names, torch_outputs)}
    best = int(torch_out["scores"][0].argmax())
    differences = {name: float(np.abs(onnx_out[name] - torch_out[name]).max())
                   for name in ("mask_logits", "scores", "frame_features") if name in names}
    return {
        **differences,
        "same_query": float(int(onnx_out["scores"][0].argmax()) == best),
        "mask_agreement": float(((onnx_out["mask_logits"][0, best] > 0)
                                 == (torch_out["mask_logits"][0, best] > 0)).mean()),
    }


def time_backends(model: Vatex, path: str | Path, inputs: ExampleInputs, threads: int = 1,
                  calls: int = 20) -> dict[str, float]:
    """Median milliseconds of one frame through onnxruntime (CPU) and through PyTorch, same inputs, same threads."""
    session = open_session(path, threads)
    feeds = inputs.as_numpy()
    names = list(output_names(model))
    graph = FrameGraph(model.float().eval())
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            ort = _median_ms(lambda: session.run(names, feeds), calls)
            eager = _median_ms(lambda: graph(*inputs.as_tuple()), calls)
    finally:
        torch.set_num_threads(previous)
    return {"onnxruntime_ms": ort, "torch_ms": eager}


def open_session(path: str | Path, threads: int):
    """An onnxruntime CPU session of the graph at ``path`` with ``threads`` intra-op threads."""
    import onnxruntime  # an optional dependency (the export extra)

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
