"""The model's one-frame forward through onnxruntime (CPU): the ``backend: onnxruntime`` of the Predictor and the node.

onnxruntime runs the exported graph (:mod:`vatex_core.onnx_export`) about 1.8x faster than PyTorch eager
on a CPU (docs/train_real_data.md). A graph holds one input size, so the runner exports one per size the
Predictor feeds (the camera's frame size resized and padded to /32) the first time it meets it, and keeps
it in a cache folder under a key of the weights, the exporter and the size: the next start loads it
(about 0.1 s) instead of exporting again (seconds). Frames go through the graph one (frame, expression)
row at a time; a temporal model's memory goes in and its frame features come out, as in PyTorch.

What stays in PyTorch: the text encoder (once per expression), and a per-frame model's clips of several
frames (``predict_clip``), which decode with queries shared over the clip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from vatex_core.model import Vatex
from vatex_core.onnx_export import OPSET, export_onnx, input_names, open_session, output_names, reads_motion_words
from vatex_core.runtime import ModelRunner
from vatex_core.temporal import FrameMemory
from vatex_core.text_encoder import TextFeatures

logger = logging.getLogger(__name__)

CACHE_ENV = "VATEX_ONNX_CACHE"  # where exported graphs are kept; default $XDG_CACHE_HOME/vatex/onnx


def default_cache_dir() -> Path:
    """``$VATEX_ONNX_CACHE``, else ``$XDG_CACHE_HOME/vatex/onnx`` (``~/.cache/vatex/onnx``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vatex" / "onnx"


def model_key(model: Vatex) -> str:
    """A short hash of what an exported graph depends on: the weights, the config, torch and the opset."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model.cfg.to_dict(), sort_keys=True).encode())
    digest.update(f"{torch.__version__} opset {OPSET}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class OnnxRunner:
    """Calls a VATEX model the way :class:`vatex_core.runtime.ModelRunner` does, through onnxruntime on the CPU.

    Args:
        model: a model on the CPU; converted in place to float32 and put in eval mode.
        cache_dir: folder of exported graphs (None: :func:`default_cache_dir`).
        threads: onnxruntime intra-op threads (None: ``torch.get_num_threads()``, the node's ``cpu_threads``).
    """

    precision = "fp32"
    compiled = False

    def __init__(self, model: Vatex, cache_dir: str | Path | None = None, threads: int | None = None) -> None:
        if model.device.type != "cpu":
            raise ValueError(f"the onnxruntime backend runs on the CPU; the model is on {model.device}")
        self._clips = ModelRunner(model)  # float32; decodes a per-frame model's clips of several frames
        self.model = self._clips.model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.threads = threads or torch.get_num_threads()
        self._key = model_key(self.model)
        self._inputs = input_names(self.model)
        self._reads_motion_words = reads_motion_words(self.model)
        self._outputs = output_names(self.model)
        self._sessions: dict[tuple[int, int], object] = {}

    def __call__(self, frames: torch.Tensor, text: TextFeatures, memory: FrameMemory | None = None) -> dict:
        """``ModelRunner``'s call: frames (B, T, 3, H, W), B*K expressions, a temporal model's memory (B*K rows).

        Returns "scores" (BK, N), "pred_masks" (BK, N, 1, H/4, W/4), "prior_heatmap" (BK, g, g) or None, and
        for a temporal model "frame_features" (BK, C0, H/4, W/4).
        """
        clips, steps, _, height, width = frames.shape
        if steps > 1:
            return self._clips(frames, text, memory)
        session = self.session(height, width)
        text = text.padded(self.model.cfg.clip.context_length)
        per_clip = len(text) // clips
        images = frames[:, 0].to(torch.float32).cpu().numpy()  # (B, 3, H, W)
        words, padding, prompt, motion = (t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy()
                                          for t in (text.tokens, text.padding_mask, text.prompt, text.motion))
        if self.model.temporal is not None and memory is None:
            memory = self._empty_memory(len(text), height, width)
        rows = []
        for row in range(len(text)):
            feeds = [images[row // per_clip][None], words[row : row + 1], padding[row : row + 1], prompt[row : row + 1]]
            if self._reads_motion_words:
                feeds.append(motion[row : row + 1])
            if memory is not None:
                feeds += [memory.features[row : row + 1].float().numpy(), memory.valid[row : row + 1].numpy(),
                          memory.target[row : row + 1].float().numpy()]
            rows.append(session.run(list(self._outputs), dict(zip(self._inputs, feeds))))
        out = {name: torch.from_numpy(np.concatenate([row[index] for row in rows]))
               for index, name in enumerate(self._outputs)}
        return {
            "scores": out["scores"],
            "pred_masks": out["mask_logits"][:, :, None],
            "prior_heatmap": out.get("prior_heatmap"),
            **({"frame_features": out["frame_features"]} if "frame_features" in out else {}),
        }

    def session(self, height: int, width: int):
        """The onnxruntime session for frames of (height, width): loaded from the cache, else exported into it."""
        if (height, width) not in self._sessions:
            path = self.cache_dir / f"{self.model.cfg.name}-{self._key}-{width}x{height}.onnx"
            if not path.is_file():
                self._export(path, height, width)
            self._sessions[(height, width)] = open_session(path, self.threads)
            logger.info("onnxruntime: graph for %dx%d model input from %s, %d thread(s)", width, height, path,
                        self.threads)
        return self._sessions[(height, width)]

    def _export(self, path: Path, height: int, width: int) -> None:
        logger.info("onnxruntime: exporting the graph for %dx%d model input to %s (once per size and weights)",
                    width, height, self.cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:  # renamed when whole: another process
            written = Path(scratch) / path.name                       # never loads a half-written graph
            export_onnx(self.model, written, height, width)
            written.with_suffix(".json").replace(path.with_suffix(".json"))
            written.replace(path)

    def _empty_memory(self, rows: int, height: int, width: int) -> FrameMemory:
        like = torch.zeros(self.model.backbone.channels[0], height // 4, width // 4)
        return FrameMemory.empty(rows, self.model.cfg.temporal.memory_frames, like)
