"""`python -m ivr ...`: the operator's command line.

Each area registers its own sub-commands from a module in this package, so commands live
beside nothing else. A command returns an exit code; errors meant for the operator are raised
as CLIError and printed as one line.
"""
from __future__ import annotations

import argparse
import logging
import importlib
import sys
from typing import Sequence

from ..config import ConfigError

# Modules in this package that define `register(subparsers)`.
COMMAND_MODULES = [
    "serve",
    "db",
    "kb",
    "orders",
    "calls",
    "simulate",
    "speech",
    "doctor",
    "prompts",
    "users",
    "tickets",
    "recordings",
    "report",
    "hours",
]


class CLIError(Exception):
    """A problem the operator can fix; printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ivr", description="Self-hosted IVR help desk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in {"serve", "worker"}:
        # Commands print their own results; only warnings and errors are logged.
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (CLIError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
