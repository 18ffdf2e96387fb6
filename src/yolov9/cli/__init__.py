"""Command line: ``yolov9 predict|val|info|convert|demo ...`` (``yolov9 COMMAND --help``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from yolov9.cli import deploy, model_tools, predict, train, val
from yolov9.errors import YOLOv9Error


def build_parser() -> argparse.ArgumentParser:
    from yolov9 import __version__

    parser = argparse.ArgumentParser(
        prog="yolov9", description="YOLOv9 (GELAN + PGI) object detection."
    )
    parser.add_argument("--version", action="version", version=f"yolov9 {__version__}")
    parser.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=0
    )
    parser.add_argument("-v", "--verbose", action="store_const", const=1, dest="verbosity")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    predict.add_parser(sub)
    val.add_parser(sub)
    deploy.add_parsers(sub)
    model_tools.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from yolov9.utils.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbosity)
    try:
        return int(args.handler(args))
    except (YOLOv9Error, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
