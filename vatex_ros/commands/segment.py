"""`vatex segment IMAGE EXPRESSION`: segment the named object in one photo and save pictures of it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "segment the object an expression names in an image file; writes the mask (empty if not found) and an overlay"
MAX_PIXELS = 16_777_216  # as the node's max_input_pixels: larger photos are refused before decoding
logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="a JPEG/PNG photo (any size; gray or RGBA are converted)")
    parser.add_argument("expression", help='what to segment, e.g. "the red cup on the left"')
    parser.add_argument("--weights", type=Path, default=None, help="safetensors weights (default: embedded tiny model)")
    parser.add_argument("--out-dir", type=Path, default=Path("."), help="where to write the PNGs (default: .)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                        help="inference precision; the model is converted to it once (default: fp32)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from vatex_core import Predictor
    from vatex_core.visualize import draw_overlay, heatmap_image, side_by_side

    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise ValueError(f"--out-dir {args.out_dir} exists and is not a directory")
    rgb = read_image(args.image)
    predictor = Predictor.from_pretrained(args.weights, args.device, precision=args.precision)
    result = predictor.predict(rgb, args.expression)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.image.stem
    mask_path, overlay_path = args.out_dir / f"{stem}_mask.png", args.out_dir / f"{stem}_overlay.png"
    Image.fromarray(result.mask.astype(np.uint8) * 255).save(mask_path)
    label = f"{args.expression} ({result.score:.2f}{'' if result.found else ', not found'})"
    overlay = draw_overlay(rgb, result.mask, result.box, label)
    panels = [rgb, overlay] + ([] if result.heatmap is None else [heatmap_image(result.heatmap, rgb.shape[0])])
    Image.fromarray(side_by_side(*panels)).save(overlay_path)
    print(f"found {result.found}  score {result.score:.3f}  box {result.box}  mask {mask_path}  overlay {overlay_path}")
    return 0


def read_image(path: Path, max_pixels: int = MAX_PIXELS):
    """RGB uint8 (H, W, 3) of a JPEG/PNG file, its size checked from the header before decoding.

    Raises:
        ValueError: one line naming the file: not an image, truncated or corrupt, or more than ``max_pixels``.
        OSError: the file cannot be opened (missing, a directory, no permission).
    """
    from PIL import Image, UnidentifiedImageError

    from vatex_core.image_input import to_rgb_uint8

    try:
        with Image.open(path) as img:  # lazy: the header only
            if img.width * img.height > max_pixels:
                raise ValueError(f"{path}: {img.width}x{img.height} pixels is more than {max_pixels}; scale it down")
            return to_rgb_uint8(img)
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None
    except OSError as err:
        if isinstance(err, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"{path}: damaged image ({err})") from None
