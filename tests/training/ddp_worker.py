"""``python -m training.train`` as torchrun starts it, with two test seams; run by tests/training/test_distributed.py.

1. The random point coordinates of the matcher and the mask losses become one fixed set of points for every
   mask. The loss of a sample then no longer depends on which process drew which random numbers, so one
   process and two at the same global batch must agree to float rounding (with random points they agree only
   in expectation: each process draws its own).
2. Rank 0 writes the full gradient of each step (after DDP's all-reduce, before clipping) to
   ``$VATEX_TEST_RECORD/grads_<step>.pt``, and every call of ``save_checkpoint`` appends the caller's rank to
   ``$VATEX_TEST_RECORD/saves.txt``.

Usage: ``torchrun --nproc_per_node 2 tests/training/ddp_worker.py --config C ...`` (the arguments of
``vatex train``).
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import torch

import training.matcher
import training.point_sampling
import training.train

RECORD = Path(os.environ["VATEX_TEST_RECORD"])
RANK = int(os.environ.get("RANK", "0"))


def fixed_rand(*size, device=None, dtype=None, generator=None) -> torch.Tensor:
    """``torch.rand`` for point coordinates (..., P, 2): the same P points, from seed 0, in every row."""
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
    points = torch.rand(size[-2:], generator=torch.Generator().manual_seed(0))  # (P, 2)
    return points.expand(size).clone().to(device=device, dtype=dtype or points.dtype)


class _TorchFixedRand(types.ModuleType):
    """``torch`` as the two point-sampling modules see it, with :func:`fixed_rand` for ``rand``."""

    rand = staticmethod(fixed_rand)

    def __getattr__(self, name: str):
        return getattr(torch, name)


training.matcher.torch = _TorchFixedRand("torch")
training.point_sampling.torch = _TorchFixedRand("torch")

_clip_gradients = training.train.clip_gradients
_save_checkpoint = training.train.save_checkpoint
_steps = {"done": 0}


def recording_clip_gradients(model, cfg):
    """Rank 0 keeps the whole gradient of the step (all-reduced already), then clips as training does."""
    _steps["done"] += 1
    if RANK == 0:
        module = model.module if hasattr(model, "module") else model
        grads = {name: p.grad.detach().clone() for name, p in module.named_parameters() if p.grad is not None}
        torch.save(grads, RECORD / f"grads_{_steps['done']}.pt")
    return _clip_gradients(model, cfg)


def recording_save_checkpoint(*args, **kwargs):
    with open(RECORD / "saves.txt", "a") as handle:
        handle.write(f"{RANK}\n")
    return _save_checkpoint(*args, **kwargs)


training.train.clip_gradients = recording_clip_gradients
training.train.save_checkpoint = recording_save_checkpoint

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--resume" in args:  # the step counter continues from the checkpoint's step
        checkpoint = Path(args[args.index("--resume") + 1])
        _steps["done"] = int(checkpoint.name.split("_")[-1])
    torch.set_num_threads(1)
    sys.exit(training.train.main(args))
