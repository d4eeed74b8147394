"""The `vatex` command. Each subcommand lives in its own module, imported only when used.

A subcommand module defines ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vatex_ros.echo import MAX_ECHO, shorten

# name -> module implementing it; imported lazily so `vatex info` never loads DDS or training code.
COMMANDS: dict[str, str] = {
    "info": "vatex_ros.commands.info",
    "train": "training.train",
    "eval": "training.evaluate",
    "segment": "vatex_ros.commands.segment",
    "scene": "vatex_ros.commands.scene",
    "pretrain-clip": "training.clip_pretrain",
    "release": "training.release",
    "node": "vatex_ros.commands.node",
    "demo": "vatex_ros.commands.demo",
    "bag": "vatex_ros.commands.bag",
    "bench": "vatex_ros.commands.bench",
    "ros-interfaces": "vatex_ros.commands.ros_interfaces",
    "soak": "vatex_ros.commands.soak",
    "fetch-encoders": "vatex_ros.commands.fetch_encoders",
    "data": "vatex_ros.commands.data",
    "export": "vatex_ros.commands.export",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser. Only ``command``'s module is imported; None imports all (for the overview help)."""
    parser = argparse.ArgumentParser(prog="vatex", description="VATEX referring segmentation for robots")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if command not in (None, name):
            subparsers.add_parser(name)
            continue
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except (OSError, ValueError) as error:  # bad user input (files, values, environment): say what, no traceback
        logging.getLogger("vatex").error("%s", shorten(error, 4 * MAX_ECHO))
        return 2


if __name__ == "__main__":
    sys.exit(main())
