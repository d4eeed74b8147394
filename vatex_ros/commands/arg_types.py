"""Argument types shared by subcommands (``type=`` of ``add_argument``)."""

from __future__ import annotations

import argparse


def frame_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (width, height); argparse reports anything else as a usage error."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 640x480, got {text!r}") from None
    if width < 32 or height < 32:
        raise argparse.ArgumentTypeError(f"frames must be at least 32x32, got {text!r}")
    return width, height


def frame_sizes(text: str) -> list[tuple[int, int]]:
    """``"320x240,640x480"`` -> [(320, 240), (640, 480)]; each as :func:`frame_size`."""
    sizes = [frame_size(item.strip()) for item in text.split(",") if item.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected WxH[,WxH...], got {text!r}")
    return sizes


def thread_counts(text: str) -> tuple[int, ...]:
    """``"1,2"`` -> (1, 2): distinct positive thread counts, in order."""
    try:
        counts = tuple(dict.fromkeys(int(item) for item in text.split(",") if item.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N[,N...], e.g. 1,2, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be positive integers, got {text!r}")
    return counts
