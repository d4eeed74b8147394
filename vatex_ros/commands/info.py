"""`vatex info`: a preset's configuration and parameter counts per component."""

from __future__ import annotations

import argparse
import json

HELP = "print a model preset's configuration and parameter counts (paper: 251M total, 165M trainable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="paper", help="model preset: paper or tiny (default: paper)")
    parser.add_argument("--config", action="store_true", help="also print the full configuration as JSON")
    parser.add_argument("--video-backbone", action="store_true",
                        help="Video Swin-B (torchvision swin3d_b) instead of the image Swin, "
                             "as the paper uses for video")
    parser.add_argument("--memory-frames", type=int, default=0,
                        help="past frames of the temporal memory (0 = the per-frame model)")


def run(args: argparse.Namespace) -> int:
    from vatex_core import build_vatex, preset
    from vatex_core.summary import format_counts, parameter_counts

    cfg = preset(args.preset)
    cfg.backbone.video = args.video_backbone
    if args.video_backbone:
        cfg.backbone.embed_dim = cfg.backbone.depths = cfg.backbone.num_heads = cfg.backbone.window_size = None
    cfg.temporal.memory_frames = args.memory_frames
    if args.config:
        print(json.dumps(cfg.to_dict(), indent=2))
    print(f"VATEX preset {cfg.name!r}")
    print(format_counts(parameter_counts(build_vatex(cfg)), compare_to_paper=cfg.name == "paper"))
    return 0
