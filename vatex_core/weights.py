"""Saving and loading VATEX weights as safetensors, with the model config in the file's metadata.

Weights are never unpickled: a safetensors file holds only tensors and strings.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from vatex_core.config import FORMAT_VERSION, VatexConfig, check_config
from vatex_core.model import Vatex, build_vatex

# The embedded default model (trained here on synthetic scenes; see README) and its manifest
# (version, SHA-256, how it was made, its measured quality, its calibrated "found" threshold).
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "vatex-tiny.safetensors"
DEFAULT_MANIFEST = DEFAULT_WEIGHTS.with_suffix(".json")
# Object probability at which a prediction counts as found, for weights whose manifest has no
# calibrated "found_threshold" (or that have no manifest beside them).
DEFAULT_FOUND_THRESHOLD = 0.5


def save_weights(model: Vatex, path: str | Path, dtype: torch.dtype | None = None) -> None:
    """Writes the model's state and config atomically (temp file, then rename).

    ``dtype`` (e.g. ``torch.float16``) converts floating-point tensors to save space; loading
    casts them back to the model's dtype.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format_version": str(FORMAT_VERSION), "config": json.dumps(model.cfg.to_dict())}
    tensors = {
        name: (tensor.to(dtype) if dtype is not None and tensor.is_floating_point()
               else tensor).detach().contiguous().cpu()
        for name, tensor in model.state_dict().items()
    }
    tmp = path.with_name(path.name + ".tmp")
    safetensors.torch.save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def read_config(path: str | Path) -> VatexConfig:
    """The model config stored in a weights file."""
    metadata = _metadata(path)
    raw_version = metadata.get("format_version", "-1")
    try:
        version = int(raw_version)
    except ValueError:
        raise ValueError(f"{path}: weights format version {raw_version[:80]!r} is not a number; this code reads "
                         f"version {FORMAT_VERSION}") from None
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: weights format version {version}, this code reads version {FORMAT_VERSION}")
    if "config" not in metadata:
        raise ValueError(f"{path}: no model config in the file's metadata; was it written by save_weights?")
    try:
        cfg = VatexConfig.from_dict(json.loads(metadata["config"]))
    except (json.JSONDecodeError, TypeError, ValueError) as err:  # TypeError: a section that is no mapping
        raise ValueError(f"{path}: unreadable model config in the file's metadata: {' '.join(str(err).split())[:300]}"
                         ) from None
    check_config(cfg, str(path))
    return cfg


def load_weights(model: Vatex, path: str | Path) -> None:
    """Loads a weights file into a model built from the same config; a mismatch is a ValueError."""
    saved = read_config(path)
    if saved != model.cfg:
        raise ValueError(
            f"{path} holds weights of preset {saved.name!r}, but the model is preset {model.cfg.name!r}"
            + ("" if saved.name != model.cfg.name else " with a different configuration")
        )
    load_checked_state(model, path)


def load_checked_state(model: Vatex, path: str | Path) -> None:
    """Loads a weights file's tensors, checked by ``check_state`` first; its config is the caller's to compare."""
    state = safetensors.torch.load_file(str(path), device=str(model.device))
    check_state(state, model, path)
    model.load_state_dict(state, strict=True)


def check_state(state: dict[str, torch.Tensor], model: Vatex, path: str | Path) -> None:
    """The file's tensors must be exactly the model's (names and shapes) and finite.

    Raises:
        ValueError: one line naming the file, the first few missing, unexpected, misshapen or non-finite tensors.
    """
    expected = model.state_dict()
    problems = []
    for label, names in (("missing", sorted(set(expected) - set(state))),
                         ("unexpected", sorted(set(state) - set(expected)))):
        if names:
            problems.append(f"{len(names)} {label} tensor(s) "
                            f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})")
    shapes = [f"{name} {tuple(state[name].shape)} != {tuple(tensor.shape)}" for name, tensor in expected.items()
              if name in state and state[name].shape != tensor.shape]
    if shapes:
        problems.append(f"{len(shapes)} tensor(s) of the wrong shape ({'; '.join(shapes[:3])})")
    if not problems:
        bad = [name for name, tensor in state.items()
               if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
        if bad:
            problems.append(f"{len(bad)} tensor(s) with NaN or infinity ({', '.join(bad[:3])})")
    if problems:
        raise ValueError(f"{path}: not weights for this model: " + "; ".join(problems))


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, if this machine has it.

    Raises:
        ValueError: not a device name, or a CUDA/MPS device this machine does not have.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown torch device {str(device)[:80]!r}: {err}") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"device {str(device)!r}: no such CUDA GPU on this machine "
                         f"({torch.cuda.device_count()} visible); use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r}: MPS is not available on this machine; use --device cpu")
    return device


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_default_weights() -> dict:
    """Checks the embedded weights against the SHA-256 in their manifest; returns the manifest."""
    if not DEFAULT_MANIFEST.is_file():
        raise FileNotFoundError(f"manifest of the embedded model not found: {DEFAULT_MANIFEST}")
    manifest = json.loads(DEFAULT_MANIFEST.read_text())
    _metadata(DEFAULT_WEIGHTS)  # a clear error if the weights file is missing or not safetensors
    actual = sha256(DEFAULT_WEIGHTS)
    if actual != manifest["sha256"]:
        raise ValueError(
            f"{DEFAULT_WEIGHTS} is damaged or replaced: SHA-256 {actual}, manifest says {manifest['sha256']}"
        )
    return manifest


def read_manifest(path: str | Path | None = None) -> dict:
    """The manifest beside a weights file (``<name>.json``; None = the embedded model's); {} if there is none."""
    manifest = DEFAULT_MANIFEST if path is None else Path(path).with_suffix(".json")
    if not manifest.is_file():
        return {}
    try:
        document = json.loads(manifest.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{manifest}: not a weights manifest (JSON): {' '.join(str(err).split())[:200]}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{manifest}: not a weights manifest (a JSON object), got {type(document).__name__}")
    return document


def calibrated_threshold(path: str | Path | None = None) -> float:
    """The object probability from which the weights' prediction counts as found.

    The manifest's ``found_threshold`` (calibrated on the validation split by ``vatex eval
    --calibrate`` and written by ``vatex release --calibration``), else DEFAULT_FOUND_THRESHOLD.
    """
    value = read_manifest(path).get("found_threshold", DEFAULT_FOUND_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        manifest = DEFAULT_MANIFEST if path is None else Path(path).with_suffix(".json")
        raise ValueError(f"{manifest}: found_threshold {str(value)[:80]!r} is not a number in [0, 1]")
    return float(value)


def load_vatex(path: str | Path | None = None, device: str | torch.device = "cpu") -> Vatex:
    """Builds the model a weights file describes and loads it (default: the embedded tiny model, checksum verified)."""
    if path is None:
        verify_default_weights()
    path = DEFAULT_WEIGHTS if path is None else Path(path)
    device = check_device(device)
    cfg = read_config(path)
    try:
        model = build_vatex(cfg).to(device)
    except (AssertionError, RuntimeError, TypeError, ValueError) as err:  # what torch/timm raise for a bad size
        raise ValueError(f"{path}: the model config cannot be built: {' '.join(str(err).split())[:300]}") from None
    load_weights(model, path)
    return model.eval()


def _metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        hint = (" (the embedded default model is missing; see README, section Embedded model)"
                if path == DEFAULT_WEIGHTS else "")
        raise FileNotFoundError(f"weights file not found: {path}{hint}")
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except safetensors.SafetensorError as error:
        raise ValueError(f"{path} is not a safetensors file ({error}); other formats are not loaded") from error
