"""`sweeper export SWEEP_DIR --optuna sqlite:///PATH.db`: the sweep as an Optuna study.

Open it with `optuna-dashboard sqlite:///PATH.db` (intermediate values: the raw label loss by
training step; states PRUNED / COMPLETE / FAIL; verdict and reason as user attributes)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="write a sweep as an Optuna study", description=__doc__)
    parser.add_argument("sweep", help="a sweep folder (results/<name>)")
    parser.add_argument("--optuna", required=True, metavar="STORAGE", help="an Optuna storage URL, e.g. sqlite:///sweep.db")
    parser.add_argument("--study-name", default=None, help="the study's name (default: the sweep's name)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from sweeper.results.optuna_export import export_study
    from sweeper.results.remote import readable
    from sweeper.results.sweep_view import SweepView

    with readable(args.sweep) as where:
        study = export_study(SweepView.load(where), args.optuna, args.study_name)
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    print(f"study {study.study_name!r} in {args.optuna}: {len(study.trials)} trials ({counts})")
    print(f"open it: optuna-dashboard {args.optuna}")
    return 0
