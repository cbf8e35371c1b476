"""`sweeper validate SPEC`: run every check a sweep runs before it starts, and summarise the sweep."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sweeper.cli._spec_args import add_spec_arguments, spec_from_args

if TYPE_CHECKING:
    from sweeper.orchestrate.preflight import Overlength


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
    print(f"  sweep      {spec.name} -> {spec.sweep_uri}")
    print(f"  model      {spec.model}")
    trials, size = planned_trials(search, spec.train), space_size(search, spec.train)
    print(f"  search     {search.algorithm}, {trials} trials, space size {size}, "
          f"metric {search.metric} ({search.resolved_mode})")
    for name, dim in search.space.items():
        print(f"    {name:<28} {dim.kind} {dim.values}")
    print(f"  resources  {spec.resources.cpu:g} cpu, {spec.resources.gpu:g} gpu per trial")
    test = f", {data.test} test (held out)" if data.test else ""
    combined = f" ({data.combined_targets} read from the target)" if data.combined_targets else ""
    print(f"  data       {data.train} train, {data.eval} eval ({data.eval_source}){test}, "
          f"{data.with_explanation} with explanation{combined}")
    print(f"  labels     train {data.train_label_counts}, eval {data.eval_label_counts}")
    print(f"  overlength {spec.dataset.overlength}: {_OVERLENGTH_MEANS[spec.dataset.overlength]}")
    for entry in checked.overlength:
        print(f"    {_overlength_line(entry, spec.dataset.overlength)}")
    for note in checked.notes:
        print(f"  note       {note}")
    for warning in data.warnings:
        print(f"  warning    {warning}")
    return 0


_OVERLENGTH_MEANS = {
    "truncate": "samples longer than cutoff_len are cut at the end; every trial counts them (samples_truncated)",
    "drop": "samples longer than cutoff_len are left out; every trial counts them (samples_dropped)",
    "error": "a sample longer than cutoff_len is an error",
}
_OVERLENGTH_VERB = {"truncate": "truncated", "drop": "dropped", "error": "refused"}


def _overlength_line(entry: "Overlength", mode: str) -> str:
    head = f"cutoff_len {entry.cutoff_len}, {entry.target}:"
    if entry.count == 0:
        return f"{head} none of {entry.total} samples is longer (longest {entry.longest} tokens)"
    return (
        f"{head} {entry.count} of {entry.total} samples {_OVERLENGTH_VERB[mode]} "
        f"({entry.train} train, {entry.eval} eval; first {entry.first}, {entry.first_length} tokens; "
        f"longest {entry.longest})"
    )
