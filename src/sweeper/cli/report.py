"""`sweeper report SWEEP_DIR [SWEEP_DIR ...] [-o report.html]`: one self-contained HTML page
(no network needed): the answer, the with/without-explanations table, the leaderboard, every
trial's raw and smoothed curves, metric against the parameters, parameter importance."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="write an HTML report of one or more sweeps", description=__doc__)
    parser.add_argument("sweeps", nargs="+", help="sweep folders (results/<name>)")
    parser.add_argument("-o", "--out", default=None, help="the HTML file (default: report.html in the first sweep's folder)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from sweeper.results.remote import readable
    from sweeper.results.report import write_report
    from sweeper.results.sweep_view import SweepView
    from sweeper.uri import is_uri

    with contextlib.ExitStack() as mirrors:
        views = [SweepView.load(mirrors.enter_context(readable(folder))) for folder in args.sweeps]
        if args.out:
            out = Path(args.out)
        elif is_uri(args.sweeps[0]):
            out = Path(f"report-{views[0].name}.html")  # here: the sweep's own folder is in a bucket
        else:
            out = views[0].folder / "report.html"
        write_report(views, out)
    print(f"report: {out}")
    return 0
