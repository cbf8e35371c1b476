"""`sweeper leaderboard SWEEP_DIR`: print a sweep's leaderboard (works while it runs)."""

from __future__ import annotations

import argparse

from sweeper.results.leaderboard import format_table, read_leaderboard

DEFAULT_COLUMNS = [
    "trial_id", "status", "verdict", "steps_done", "best_eval_accuracy", "best_eval_macro_f1", "final_label_loss",
    "samples_truncated", "samples_dropped",
]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help="print a sweep's leaderboard", description=__doc__)
    parser.add_argument("sweep", help="a sweep folder (results/<name>) or its leaderboard.csv")
    parser.add_argument("--top", type=int, default=None, help="print only the best N rows")
    parser.add_argument("--all-columns", action="store_true", help="print every column")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    rows = read_leaderboard(args.sweep)
    if not rows:
        print("no trials yet")
        return 0
    header = list(rows[0])
    if args.all_columns:
        columns = header
    else:
        params = header[header.index("reason") + 1 : header.index("steps_done")] if "steps_done" in header else []
        columns = DEFAULT_COLUMNS[:3] + params + DEFAULT_COLUMNS[3:] + ["reason"]
    print(format_table(rows, [c for c in columns if c in header], limit=args.top))
    return 0
