"""`sweeper compare SWEEP [SWEEP ...]`: does a setting help? Each categorical parameter's best and
median per value, the answer line for include_explanation, parameter importance, and a warning
listing the fixed settings that differ between the sweeps."""

from __future__ import annotations

import argparse
import contextlib
import sys

from sweeper.results.leaderboard import format_table

GROUP_COLUMNS = ["value", "completed", "pruned", "best", "best_se", "best_trial", "median", "median_low", "median_high",
                 "label_loss", "explanation_loss"]
SUMMARY_COLUMNS = ["sweep", "trials", "completed", "pruned", "errored", "best_trial", "best", "best_se"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="compare sweeps: does a setting help?", description=__doc__)
    parser.add_argument("sweeps", nargs="+", help="sweep folders (results/<name>)")
    parser.add_argument("--top", type=int, default=10, help="rows of the merged ranking to print")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from sweeper.results.compare import compare
    from sweeper.results.remote import readable
    from sweeper.results.sweep_view import SweepView

    with contextlib.ExitStack() as mirrors:
        result = compare([SweepView.load(mirrors.enter_context(readable(folder))) for folder in args.sweeps])
    if result.differing:
        listed = "; ".join(
            f"{key} ({', '.join(f'{sweep}: {value}' for sweep, value in values.items())})"
            for key, values in result.differing.items()
        )
        print(f"warning: fixed settings differ between the sweeps: {listed}", file=sys.stderr)
    print(result.answer)
    print()
    print(format_table(result.sweeps, SUMMARY_COLUMNS))
    for name, rows in result.groups.items():
        print(f"\n{name} (score: {result.views[0].metric} at the kept checkpoint; median over completed trials, bootstrap 95%)")
        print(format_table(rows, GROUP_COLUMNS))
    print()
    if result.importance:
        print(f"importance ({result.importance_note}): "
              + ", ".join(f"{name} {value:.2f}" for name, value in result.importance.items()))
    else:
        print(result.importance_note)
    if result.same_config:
        print("\nthe same configuration across sweeps (best score in each)")
        keys = list(dict.fromkeys(key for entry in result.same_config for key in entry))
        print(format_table(result.same_config, keys))
    factors = list(result.groups)
    print()
    columns = ["sweep", "trial_id", "status", "stopped_by", *factors, "score", "score_se", "final_label_loss", "steps_done", "reason"]
    print(format_table(result.trials, columns, limit=args.top))
    return 0
