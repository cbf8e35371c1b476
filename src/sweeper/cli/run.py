"""`sweeper run SPEC`: run a sweep and print its leaderboard."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sweeper.cli._spec_args import add_spec_arguments, spec_from_args

TOP_COLUMNS_BEFORE = ["trial_id", "status", "verdict", "stopped_by"]
TOP_COLUMNS_AFTER = ["score", "score_se", "final_score", "steps_done", "max_steps", "final_label_loss", "reason"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a sweep", description=__doc__)
    add_spec_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace the results of an earlier sweep of this name")
    parser.add_argument(
        "--address",
        default=None,
        help="join a Ray cluster at this address (HOST:PORT or auto; default: the spec's cluster.address, else start Ray here)",
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs Ray may use here (default: all)")
    parser.add_argument("--top", type=int, default=10, help="leaderboard rows to print at the end")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    from sweeper.orchestrate.preflight import preflight
    from sweeper.orchestrate.sweep import cluster_address, run_sweep

    # Every input check before Ray starts: a mistake is one line and exit 2 within seconds.
    address = cluster_address(spec, args.address)
    checked = preflight(spec, local_devices=address is None)
    for warning in checked.data.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    worst = max(checked.overlength, key=lambda entry: entry.count, default=None)
    if worst is not None and worst.count:
        print(
            f"note: up to {worst.count} of {worst.total} samples are longer than cutoff_len "
            f"(dataset.overlength: {spec.dataset.overlength}); each trial counts them "
            "(samples_truncated, samples_dropped); `sweeper validate` shows where",
            file=sys.stderr,
        )
    outcome = run_sweep(spec, overwrite=args.overwrite, address=address, num_cpus=args.num_cpus, checked=checked)
    return print_outcome(outcome, top=args.top)


def print_outcome(outcome: Any, top: int) -> int:
    """The leaderboard's top rows and the summary of a sweep that ran (or was resumed); its exit code."""
    from sweeper.results.leaderboard import format_table, pruning_summary

    columns = TOP_COLUMNS_BEFORE + outcome.param_names + TOP_COLUMNS_AFTER
    print()
    print(format_table(outcome.rows, columns, limit=top))
    counts = outcome.counts
    print()
    print(
        f"{len(outcome.rows)} trials: {counts.get('completed', 0)} completed, {counts.get('pruned', 0)} pruned, "
        f"{counts.get('errored', 0)} errored"
        + (f", {counts['duplicate']} duplicates (the same settings as an earlier trial: not trained)"
           if counts.get("duplicate") else "")
        + f". Compute: {pruning_summary(outcome.rows).line()}"
    )
    overlength = [r for r in outcome.rows if (r.get("samples_truncated") or 0) or (r.get("samples_dropped") or 0)]
    if overlength:
        print(
            f"Overlength: {len(overlength)} of {len(outcome.rows)} trials had samples longer than cutoff_len, up to "
            f"{max(int(r.get('samples_truncated') or 0) for r in overlength)} truncated and "
            f"{max(int(r.get('samples_dropped') or 0) for r in overlength)} dropped per trial "
            "(leaderboard.csv: samples_truncated, samples_dropped)."
        )
    print(f"Results: {outcome.sweep_dir} (leaderboard.csv, curves.parquet, curves.png, tensorboard/)")
    print(f"Look at them: sweeper report {outcome.sweep_dir}   tensorboard --logdir {outcome.sweep_dir}/tensorboard")
    if counts.get("interrupted"):
        print(
            f"Interrupted: {counts['interrupted']} trials were stopped in flight (status interrupted); "
            f"finished trials are kept in {outcome.sweep_dir}/ledger.jsonl. "
            f"Continue with: sweeper resume {outcome.sweep_dir}"
        )
    elif outcome.exit_code == 1:
        print("Every trial errored: the reason column says why (the full text is in each trial's error.txt)")
    return outcome.exit_code
