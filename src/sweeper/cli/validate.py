"""`sweeper validate SPEC`: run every check a sweep runs before it starts, and summarise the sweep."""

from __future__ import annotations

import argparse

from sweeper.cli._spec_args import add_spec_arguments, spec_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help="check a spec and its data without running", description=__doc__)
    add_spec_arguments(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    from sweeper.orchestrate.preflight import preflight
    from sweeper.orchestrate.space import planned_trials, space_size

    checked = preflight(spec)
    data = checked.data
    search = spec.search
    print(f"{args.spec}: ok")
    print(f"  sweep      {spec.name} -> {spec.sweep_dir}")
    print(f"  model      {spec.model}")
    print(f"  search     {search.algorithm}, {planned_trials(search)} trials, space size {space_size(search)}, "
          f"metric {search.metric} ({search.resolved_mode})")
    for name, dim in search.space.items():
        print(f"    {name:<28} {dim.kind} {dim.values}")
    print(f"  resources  {spec.resources.cpu:g} cpu, {spec.resources.gpu:g} gpu per trial")
    print(f"  data       {data.train} train, {data.eval} eval ({data.eval_source}), "
          f"{data.with_explanation} with explanation")
    print(f"  labels     train {data.train_label_counts}, eval {data.eval_label_counts}")
    for warning in data.warnings:
        print(f"  warning    {warning}")
    return 0
