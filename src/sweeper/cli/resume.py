"""`sweeper resume DIR`: continue a stopped sweep where it stopped (DIR is `<storage>/<name>`).

Finished trials are not run again; interrupted ones continue from their last checkpoint.
`--set search.num_samples=N` extends a finished or interrupted sweep to N trials.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("resume", help="continue a stopped sweep", description=__doc__)
    parser.add_argument("sweep", help="the sweep's folder, <storage>/<name>")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="search.num_samples=N (extend the sweep) or resources.max_retries=N (repeatable)",
    )
    parser.add_argument("--address", default=None, help="join a Ray cluster at this address (default: the spec's cluster.address, else start Ray here)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs Ray may use here (default: all)")
    parser.add_argument("--top", type=int, default=10, help="leaderboard rows to print at the end")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from sweeper.cli.run import print_outcome
    from sweeper.orchestrate.resume import resume_sweep

    outcome = resume_sweep(args.sweep, args.overrides, address=args.address, num_cpus=args.num_cpus)
    return print_outcome(outcome, top=args.top)
