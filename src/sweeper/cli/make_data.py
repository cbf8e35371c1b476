"""`sweeper make-data`: write the embedded demo dataset (3 classes with explanations) as JSONL."""

from __future__ import annotations

import argparse
from pathlib import Path

from sweeper.errors import SweeperError

DEFAULT_OUT = Path("data/explain-demo")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "make-data",
        help="write the demo dataset (train.jsonl, eval.jsonl)",
        description=(
            "Write the embedded demo dataset: 3-class reviews with explanations, ~5%% label noise in "
            "train, clean eval. The same seed always writes the same bytes."
        ),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0, the committed copy)")
    parser.set_defaults(func=command)
    return parser


def command(args: argparse.Namespace) -> int:
    from sweeper.data.demo import demo_records, write_demo_dataset

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SweeperError(f"--out {out}: is a file, not a folder")
    try:
        paths = write_demo_dataset(out, seed=args.seed)
    except OSError as error:
        raise SweeperError(f"--out {out}: cannot write: {error.strerror}") from None
    train, evals = demo_records(args.seed)
    print(f"wrote {paths.train} ({len(train)} examples) and {paths.eval} ({len(evals)} examples)")
    return 0
