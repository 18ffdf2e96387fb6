"""Command line: ``yolov9 train|predict|val|export|benchmark|info|convert|demo|serve ...``
(``yolov9 COMMAND --help``).

Building the parser imports nothing heavy (no torch), so ``--help`` and argument errors are
instant; each command imports what it needs when it runs. Errors a user can fix (our
:class:`~yolov9.errors.YOLOv9Error` types) are printed as one line, exit code 2 (``-v`` adds
the traceback); anything else is a bug and propagates with its traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from yolov9.cli import deploy, model_tools, predict, serve, train, val
from yolov9.errors import YOLOv9Error
from yolov9.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yolov9", description="YOLOv9 (GELAN + PGI) object detection."
    )
    parser.add_argument("--version", action="version", version=f"yolov9 {__version__}")
    parser.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=0
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=1,
        dest="verbosity",
        help="debug logging, and tracebacks with error messages",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    predict.add_parser(sub)
    val.add_parser(sub)
    deploy.add_parsers(sub)
    model_tools.add_parsers(sub)
    serve.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from yolov9.utils.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbosity)
    try:
        return int(args.handler(args))
    except YOLOv9Error as e:
        if args.verbosity > 0:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
