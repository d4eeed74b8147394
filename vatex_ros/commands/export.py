"""`vatex export --format onnx`: the model's one-frame forward as an ONNX graph, checked against PyTorch in
onnxruntime."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from vatex_ros.commands.arg_types import frame_size

HELP = ("export the model's one-frame forward to ONNX (frame + encoded expression [+ a temporal model's memory] in; "
        "mask logits and scores out), checked against PyTorch with onnxruntime on the CPU")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="output format (default: onnx)")
    parser.add_argument("--weights", default=None, help="VATEX .safetensors (default: the embedded tiny model)")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write (a .json goes beside it)")
    parser.add_argument("--camera", type=frame_size, default=frame_size("640x480"),
                        help="camera frame size WxH the graph is made for (default 640x480); the graph takes the "
                             "frame as the Predictor feeds the model: short side at the model's input size, "
                             "padded to /32")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison with PyTorch")
    parser.add_argument("--bench", type=int, default=0, metavar="CALLS",
                        help="also time CALLS frames through onnxruntime and PyTorch (CPU, --threads each)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of both backends (default 1)")


def model_input_size(camera: tuple[int, int], short_side: int, max_size: int) -> tuple[int, int]:
    """(height, width) the model sees for a camera frame (width, height): resized as the Predictor does, padded
    to /32."""
    from vatex_core.image_input import resized_size

    height, width = resized_size(camera[1], camera[0], short_side, max_size)
    return math.ceil(height / 32) * 32, math.ceil(width / 32) * 32


def run(args: argparse.Namespace) -> int:
    import torch

    from vatex_core import load_vatex
    from vatex_core.onnx_export import compare_with_torch, example_inputs, export_onnx, time_backends

    torch.set_num_threads(args.threads)
    model = load_vatex(args.weights)
    height, width = model_input_size(args.camera, model.cfg.input.short_side, model.cfg.input.max_size)
    print(f"exporting {model.cfg.name} model for {args.camera[0]}x{args.camera[1]} camera frames: graph input "
          f"{width}x{height}")
    description = export_onnx(model, args.out, height, width)
    description["camera"] = list(args.camera)
    description["weights"] = str(args.weights or "embedded")
    if not args.no_check:
        inputs = example_inputs(model, height, width, seed=1)  # not the export's inputs
        description["check"] = compare_with_torch(model, args.out, inputs, args.threads)
        check = description["check"]
        print(f"onnxruntime vs PyTorch (CPU): max |diff| mask logits {check['mask_logits']:.3g}, scores "
              f"{check['scores']:.3g}; same query: {bool(check['same_query'])}; masks agree on "
              f"{100 * check['mask_agreement']:.2f}% of pixels")
    if args.bench:
        inputs = example_inputs(model, height, width, seed=2)
        description["bench"] = {**time_backends(model, args.out, inputs, args.threads, args.bench),
                                "threads": args.threads, "calls": args.bench}
        bench = description["bench"]
        print(f"one frame, median of {args.bench}, {args.threads} thread(s): "
              f"onnxruntime {bench['onnxruntime_ms']:.1f} ms, "
              f"PyTorch {bench['torch_ms']:.1f} ms")
    args.out.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) and {args.out.with_suffix('.json')}")
    return 0
