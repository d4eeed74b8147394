"""Atomic checkpoints with exact resume.

A checkpoint is one directory ``<root>/step_<N>/`` holding

- ``model.safetensors``: the model weights written by ``vatex_core.save_weights`` (its metadata
  carries the format version and the model config, so the file alone rebuilds the model:
  ``vatex_core.load_vatex(path)``; loading it into another preset fails and says so);
- ``train_state.pt``: step, data position, optimizer, scheduler, the python / numpy / torch
  (and CUDA) RNG states and the training config. Only tensors and plain python values are
  stored, so it loads with ``torch.load(weights_only=True)``.

The directory is written under a temporary name and renamed into place (``os.replace``), and
``<root>/latest`` (the name of the newest checkpoint) is replaced atomically after it, so a
crash never leaves a half-written checkpoint behind the ``latest`` pointer.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vatex_core import Vatex, load_weights, save_weights

logger = logging.getLogger(__name__)

STATE_FORMAT_VERSION = 1  # of train_state.pt
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "train_state.pt"
LATEST_FILE = "latest"


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA RNG states as tensors and plain values."""
    version, py_state, gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores the states saved by :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    root: str | Path,
    step: int,
    model: Vatex,
    train_state: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Writes ``<root>/step_<step>/`` atomically and points ``<root>/latest`` at it.

    Args:
        root: checkpoint directory of the run.
        step: optimisation steps done.
        model: the unwrapped model (not DDP).
        train_state: optimizer / scheduler state dicts, data position, training config...;
            tensors and plain python values only. RNG states and the step are added here.
        keep: newest checkpoints to keep (older ones are deleted); 0 keeps all.

    Returns:
        The checkpoint directory.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}"
    final = root / name
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_weights(model, tmp / WEIGHTS_FILE)
    torch.save({**train_state, "step": step, "rng": rng_state(), "format_version": STATE_FORMAT_VERSION},
               tmp / STATE_FILE)
    _fsync_dir_files(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_atomic(root / LATEST_FILE, name)
    _prune(root, keep)
    logger.info("saved checkpoint %s", final)
    return final


def resolve_checkpoint(path: str | Path) -> Path:
    """Accepts a checkpoint directory, a checkpoint root (uses ``latest``) or a run directory."""
    path = Path(path)
    for candidate in (path, path / "checkpoints"):
        if (candidate / WEIGHTS_FILE).is_file():
            return candidate
        if (candidate / LATEST_FILE).is_file():
            return candidate / (candidate / LATEST_FILE).read_text().strip()
    raise FileNotFoundError(f"no checkpoint at {path} (expected {WEIGHTS_FILE} or a '{LATEST_FILE}' file)")


def load_checkpoint(
    path: str | Path,
    model: Vatex,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Loads weights (and optionally optimizer, scheduler, RNG) from a checkpoint.

    Args:
        path: anything :func:`resolve_checkpoint` accepts.
        model: unwrapped model built from the stored config (``vatex_core.read_config``).
        optimizer: restored from "optimizer" when given.
        scheduler: restored from "scheduler" when given.
        restore_rng: restore the python / numpy / torch RNG states.

    Returns:
        The training state dict (step, data position, training config, ...).
    """
    directory = resolve_checkpoint(path)
    load_weights(model, directory / WEIGHTS_FILE)
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    if state["format_version"] > STATE_FORMAT_VERSION:
        raise ValueError(f"{directory / STATE_FILE}: format {state['format_version']}, "
                         f"this code reads {STATE_FORMAT_VERSION}")
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng:
        set_rng_state(state["rng"])
    logger.info("resumed from %s at step %d", directory, state["step"])
    return state


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir_files(directory: Path) -> None:
    for file in directory.iterdir():
        with open(file, "rb") as f:
            os.fsync(f.fileno())


def _prune(root: Path, keep: int) -> None:
    if keep <= 0:
        return
    for old in sorted(root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
