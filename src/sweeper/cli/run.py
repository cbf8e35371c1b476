"""`sweeper run SPEC`: run a sweep and print its leaderboard."""

from __future__ import annotations

import argparse

from sweeper.cli._spec_args import add_spec_arguments, spec_from_args

TOP_COLUMNS_BEFORE = ["trial_id", "status", "verdict"]
TOP_COLUMNS_AFTER = ["steps_done", "max_steps", "best_eval_accuracy", "best_eval_macro_f1", "final_label_loss", "reason"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a sweep", description=__doc__)
    add_spec_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace the results of an earlier sweep of this name")
    parser.add_argument("--address", default=None, help="join a Ray cluster at this address (default: start Ray here)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs Ray may use here (default: all)")
    parser.add_argument("--top", type=int, default=10, help="leaderboard rows to print at the end")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    from sweeper.orchestrate.sweep import run_sweep
    from sweeper.results.leaderboard import format_table

    outcome = run_sweep(spec, overwrite=args.overwrite, address=args.address, num_cpus=args.num_cpus)
    columns = TOP_COLUMNS_BEFORE + list(spec.search.space) + TOP_COLUMNS_AFTER
    print()
    print(format_table(outcome.rows, columns, limit=args.top))
    counts = outcome.counts
    saved = 1 - outcome.steps_run / outcome.steps_planned if outcome.steps_planned else 0.0
    print()
    print(
        f"{len(outcome.rows)} trials: {counts.get('completed', 0)} completed, {counts.get('pruned', 0)} pruned, "
        f"{counts.get('errored', 0)} errored. Compute: {outcome.steps_run} of {outcome.steps_planned} configured "
        f"steps run ({saved:.0%} saved by pruning)."
    )
    print(f"Results: {outcome.sweep_dir} (leaderboard.csv, curves.parquet, curves.png)")
    return 0
