"""Arguments shared by the commands that read a sweep spec."""

from __future__ import annotations

import argparse

from sweeper.spec import SweepSpec, load_spec


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the sweep spec, a YAML file (see sweeps/explain.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a field of the spec, e.g. --set train.learning_rate=1e-4 (repeatable)",
    )


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    return load_spec(args.spec, args.overrides)
