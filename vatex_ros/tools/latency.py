"""Latency measurement: per-stage model timers from forward hooks, and summary statistics.

The stage timers hook the model's components from outside (``register_forward_pre_hook`` /
``register_forward_hook``), so ``vatex_core`` is measured as shipped, not instrumented.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from torch import nn

# stage -> submodules (dotted paths of ``vatex_core.model.Vatex``) whose forward time it sums.
# The CLIP prior's image tower runs through ``patch_embeddings``, not the prior's forward, so it is hooked too.
MODEL_STAGES: dict[str, tuple[str, ...]] = {
    "backbone": ("backbone",),
    "clip_prior": ("clip_prior.clip_visual", "clip_prior"),
    "cmd": ("cmd",),
    "decoder": ("decoder",),
}


class StageTimer:
    """Wall time spent in model stages since the last :meth:`reset`; a context manager that removes its hooks.

    Args:
        model: the model whose submodules ``stages`` names; stages it lacks (e.g. no CLIP prior) are left out.
        stages: stage -> dotted submodule paths.
    """

    def __init__(self, model: nn.Module, stages: Mapping[str, Sequence[str]] = MODEL_STAGES):
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: dict[str, float] = {}
        self._handles = []
        for stage, paths in stages.items():
            for path in paths:
                module = _submodule(model, path)
                if module is None:
                    continue
                self._handles.append(module.register_forward_pre_hook(self._pre_hook(path)))
                self._handles.append(module.register_forward_hook(self._post_hook(stage, path)))

    def reset(self) -> None:
        """Start a new measurement (e.g. per frame)."""
        self.seconds.clear()

    def __enter__(self) -> StageTimer:
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre_hook(self, path: str):
        def hook(module, args):
            self._started[path] = time.perf_counter()
        return hook

    def _post_hook(self, stage: str, path: str):
        def hook(module, args, output):
            self.seconds[stage] += time.perf_counter() - self._started.pop(path)
        return hook


def _submodule(model: nn.Module, path: str) -> nn.Module | None:
    """``model.get_submodule(path)``, or None where the model has no such part (or it is None)."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def percentiles(values: Iterable[float], scale: float = 1000.0) -> dict[str, float | int | None]:
    """``{"p50", "p95", "mean", "n"}`` of ``values`` times ``scale`` (default: seconds -> ms); None when empty."""
    data = np.asarray(list(values), dtype=np.float64) * scale
    if data.size == 0:
        return {"p50": None, "p95": None, "mean": None, "n": 0}
    return {"p50": float(np.percentile(data, 50)), "p95": float(np.percentile(data, 95)),
            "mean": float(data.mean()), "n": int(data.size)}
