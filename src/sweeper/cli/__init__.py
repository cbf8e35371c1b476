"""`sweeper` command line: one module per command, each with `add_parser(subparsers)` and `command(args) -> int`.

Exit codes: 0 ok, 1 the job failed, 2 bad usage or bad input (one line on stderr, no traceback).
Heavy packages (torch, ray, peft) are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from sweeper.errors import SweeperError

COMMANDS = ("run", "resume", "validate", "init", "diagnose", "leaderboard", "compare", "report", "export", "make-data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweeper",
        description="LoRA hyperparameter sweeps that judge each run by the shape of its raw loss curve.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"sweeper.cli.{name.replace('-', '_')}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a closed pipe (`| head -1`) is then caught below
        return code
    except BrokenPipeError:
        # The reader went away (`sweeper diagnose LOG | head -1`): not an error, and no traceback
        # when Python flushes stdout again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SweeperError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
