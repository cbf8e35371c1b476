"""`sweeper compare SWEEP [SWEEP ...]`: the leaderboards of several sweeps side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from sweeper.results.leaderboard import METRIC_COLUMN, format_table, read_leaderboard

SUMMARY_COLUMNS = ["sweep", "trials", "completed", "pruned", "errored", "compute", "best_trial", "best"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="compare the leaderboards of several sweeps", description=__doc__)
    parser.add_argument("sweeps", nargs="+", help="sweep folders (results/<name>)")
    parser.add_argument("--metric", default="eval_macro_f1", choices=sorted(METRIC_COLUMN), help="rank by this metric")
    parser.add_argument("--top", type=int, default=10, help="rows of the merged leaderboard to print")
    parser.set_defaults(func=command)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def command(args: argparse.Namespace) -> int:
    column, mode = METRIC_COLUMN[args.metric]
    sign = 1.0 if mode == "max" else -1.0
    summaries, merged = [], []
    for folder in args.sweeps:
        name = Path(folder).name if Path(folder).is_dir() else Path(folder).parent.name
        rows = read_leaderboard(Path(folder))
        statuses = [row["status"] for row in rows]
        run = sum(int(_number(row.get("steps_done")) or 0) for row in rows)
        planned = sum(int(_number(row.get("max_steps")) or _number(row.get("steps_done")) or 0) for row in rows)
        scored = [row for row in rows if _number(row.get(column)) is not None]
        best = max(scored, key=lambda row: sign * _number(row[column]), default=None)
        summaries.append(
            {
                "sweep": name,
                "trials": len(rows),
                "completed": statuses.count("completed"),
                "pruned": statuses.count("pruned"),
                "errored": statuses.count("errored"),
                "compute": f"{run}/{planned} steps" if planned else "-",
                "best_trial": best["trial_id"] if best else None,
                "best": _number(best[column]) if best else None,
            }
        )
        merged += [{"sweep": name, **row} for row in scored]
    merged.sort(key=lambda row: -sign * _number(row[column]))
    print(format_table(summaries, SUMMARY_COLUMNS))
    print()
    columns = ["sweep", "trial_id", "status", "verdict", column, "best_eval_accuracy", "final_label_loss", "steps_done", "reason"]
    print(format_table(merged, columns, limit=args.top))
    return 0
