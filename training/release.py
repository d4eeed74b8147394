"""`vatex release`: turns a trained checkpoint into the embedded model: fp16 safetensors + manifest.

The manifest (``vatex_core/weights/vatex-tiny.json``) records the version, the SHA-256 that
``load_vatex`` verifies, the recipe that made the weights, if given their measured quality, and
the "found" threshold calibrated on the validation split (``vatex eval --calibrate``), which
the Predictor and the node use by default.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from vatex_core.weights import DEFAULT_WEIGHTS, load_vatex, save_weights, sha256

HELP = "write a checkpoint as the embedded model (float16 safetensors + manifest with version and SHA-256)"
logger = logging.getLogger(__name__)


def release(checkpoint: Path, out: Path, version: str, recipe: str, quality: dict | None,
            calibration: dict | None = None) -> dict:
    """Writes ``out`` (float16 weights) and ``out.with_suffix('.json')``; returns the manifest.

    ``calibration``: the "calibration" entry of a ``vatex eval --calibrate`` JSON; its threshold
    becomes the manifest's ``found_threshold`` (without it, readers use DEFAULT_FOUND_THRESHOLD).
    """
    model = load_vatex(checkpoint)
    trained_size = model.cfg.input.short_side
    if calibration is not None and calibration.get("input_size", trained_size) != trained_size:
        raise SystemExit(f"the calibration was made at input size {calibration['input_size']}, but {checkpoint} runs "
                         f"at {trained_size} by default: calibrate without --input-size")
    save_weights(model, out, dtype=torch.float16)
    manifest = {
        "file": out.name,
        "version": version,
        "sha256": sha256(out),
        "preset": model.cfg.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": recipe,
        "quality": quality or {},
    }
    if calibration is not None:
        manifest["found_threshold"] = calibration["threshold"]
        manifest["calibration"] = calibration
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="model.safetensors of a training checkpoint")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS,
                        help="output weights file (default: the embedded model)")
    parser.add_argument("--version", required=True, help="version of the released weights, e.g. 1.0.0")
    parser.add_argument("--recipe", default="training/recipes/embedded_tiny.sh", help="how the weights were made")
    parser.add_argument("--quality", type=Path, default=None, help="JSON written by `vatex eval --out` to record")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="JSON of `vatex eval --calibrate --out` on the validation split: its found threshold")


def run(args: argparse.Namespace) -> int:
    quality = json.loads(args.quality.read_text()) if args.quality else None
    if quality is not None:  # every expression's score and IoU (``--calibrate``) stay in the evaluation's file
        quality.pop("scores", None)
        quality.pop("ious", None)
    calibration = None
    if args.calibration:
        calibration = json.loads(args.calibration.read_text()).get("calibration")
        if calibration is None:
            raise SystemExit(f"{args.calibration} has no calibration; run `vatex eval --calibrate --out` on val")
    manifest = release(args.checkpoint, args.out, args.version, args.recipe, quality, calibration)
    print(json.dumps(manifest, indent=2))
    return 0
