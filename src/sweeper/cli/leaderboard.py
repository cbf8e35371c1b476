"""`sweeper leaderboard SWEEP_DIR`: print a sweep's leaderboard (works while it runs).

Completed trials come first, ranked by the sweep's metric at the kept checkpoint (score, with its
binomial standard error over the eval rows: score_se); running, pruned and errored trials follow.
"""

from __future__ import annotations

import argparse

from sweeper.errors import SweeperError
from sweeper.results.leaderboard import (
    format_csv,
    format_json,
    format_markdown,
    format_table,
    param_columns,
    pruning_summary,
    read_leaderboard,
    typed,
)

# The narrow table: what fits a terminal; every other format has every column and the full reason.
NARROW = ["trial_id", "status", "verdict", "stopped_by", "score", "score_se", "final_score", "steps_done", "max_steps",
          "saved_share", "final_label_loss", "final_explanation_loss"]
NARROW_TAIL = ["reason"]
ASCENDING_SUFFIXES = ("loss", "seconds", "steps_done", "samples_truncated", "samples_dropped", "score_se")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help="print a sweep's leaderboard", description=__doc__)
    parser.add_argument("sweep", help="a sweep folder (results/<name>, or s3://bucket/prefix/<name>) or its leaderboard.csv")
    parser.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table",
                        help="table: the narrow terminal view (reason cut); csv, json, markdown: every column")
    parser.add_argument("--sort", default=None, metavar="COLUMN",
                        help="sort by this column instead of the ranking (losses ascending, other numbers descending)")
    parser.add_argument("--status", default=None, metavar="S[,S...]",
                        help="only trials of these statuses (completed, pruned, errored, running, interrupted)")
    parser.add_argument("--top", type=int, default=None, help="print only the first N rows")
    parser.add_argument("--all-columns", action="store_true", help="table: every column, reasons in full")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from sweeper.results.remote import readable

    with readable(args.sweep) as where:
        raw = read_leaderboard(where)
    if not raw:
        print("no trials yet")
        return 0
    header = list(raw[0])
    rows = [typed(row) for row in raw]
    summary = pruning_summary(rows)
    if args.status:
        wanted = {s.strip() for s in args.status.split(",") if s.strip()}
        rows = [row for row in rows if row.get("status") in wanted]
    if args.sort:
        if args.sort not in header:
            raise SweeperError(f"--sort {args.sort}: no such column (columns: {', '.join(header)})")
        rows = sort_rows(rows, args.sort)
    if args.top:
        rows = rows[: args.top]
    if args.format == "table":
        if args.all_columns:
            print(format_table(rows, header, max_width=None))
        else:
            # duplicate_of only in a sweep that has duplicates (trials that repeated another's result)
            duplicates = ["duplicate_of"] if any(row.get("duplicate_of") for row in rows) else []
            columns = NARROW[:2] + duplicates + NARROW[2:4] + param_columns(header) + NARROW[4:] + NARROW_TAIL
            print(format_table(rows, [c for c in columns if c in header]))
        metric = raw[0].get("metric") or "the metric"
        print(f"\nscore: {metric} at the kept checkpoint (score_se: its binomial standard error). {summary.line()}")
    elif args.format == "csv":
        print(format_csv(rows, header))
    elif args.format == "json":
        print(format_json(rows, header))
    else:
        print(format_markdown(rows, header))
    return 0


def sort_rows(rows: list[dict], column: str) -> list[dict]:
    ascending = column.endswith(ASCENDING_SUFFIXES)
    present = [row for row in rows if row.get(column) is not None]
    missing = [row for row in rows if row.get(column) is None]
    try:
        present.sort(key=lambda row: row[column], reverse=not ascending)
    except TypeError:  # mixed types in one column: compare as text
        present.sort(key=lambda row: str(row[column]), reverse=not ascending)
    return present + missing
