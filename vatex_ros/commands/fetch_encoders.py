"""`vatex fetch-encoders`: download a preset's pretrained encoders (timm Swin, open_clip CLIP) once, explicitly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("download the pretrained encoders of a preset (Swin-B ImageNet-22k, CLIP ViT-B/16) through timm and "
        "open_clip into a local folder with a manifest; training configs then name them `fetched`")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="paper", help="model preset whose encoders to fetch (default: paper)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="parent folder (default: $VATEX_ENCODERS, else ~/.cache/vatex/encoders)")


def run(args: argparse.Namespace) -> int:
    from vatex_core.encoders import MANIFEST_NAME, default_folder, fetch_encoders

    folder = args.dir if args.dir is not None else default_folder()
    manifest = fetch_encoders(args.preset, folder)
    for name, entry in manifest["files"].items():
        print(f"{name}: {entry['source']} ({entry['library']} {entry['library_version']}), "
              f"{entry['bytes'] / 1e6:.1f} MB, sha256 {entry['sha256']}")
    print(f"manifest: {folder / args.preset / MANIFEST_NAME}")
    if args.dir is not None:
        print(f"configs find them with: export VATEX_ENCODERS={json.dumps(str(args.dir.resolve()))}")
    return 0
