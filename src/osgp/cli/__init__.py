"""The ``osgp`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None``, which adds
its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Modules import heavy dependencies (pandapower, numpy, FastAPI) inside ``func`` so that
``osgp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

# One line per sub-command module; add yours here.
COMMAND_MODULES: tuple[str, ...] = (
    "osgp.cli.demo",
    "osgp.cli.meter",
    "osgp.cli.read",
    "osgp.cli.decode",
    "osgp.cli.lon",
    "osgp.cli.phy",
    "osgp.cli.security",
    "osgp.cli.simulate",
    "osgp.cli.tables",
    "osgp.cli.headend",
    "osgp.cli.device",
    "osgp.cli.audit",
    "osgp.cli.dc",
    "osgp.cli.faults",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osgp",
        description="Open Smart Grid Protocol: stack, devices, concentrator and head-end.",
    )
    from osgp import __version__

    parser.add_argument("--version", action="version", version=f"osgp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co., which stopped reading: not an error
        # Point stdout at /dev/null so that the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
