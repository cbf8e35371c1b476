"""Diagnose benchmark: `sweeper diagnose`'s offline judgment against hand labels on real public runs.

    python -m benchmarks.diagnose [--corpus tests/diagnose_corpus/corpus.yaml]

The corpus (tests/diagnose_corpus/corpus.yaml) holds real fine-tuning logs copied byte for byte from
public repositories, each labelled by hand from its numbers (healthy, plateau, staircase,
divergence, insufficient) before any rule was run on it. A quarter is kept aside (`part: holdout`):
the rules were tuned on the `tune` part only. Each log is read and judged exactly as
`sweeper diagnose LOG` does (default settings, no --num-classes).

Prints, per part: the accuracy, whether every divergence was caught and whether any healthy run
was flagged, and a confusion table (rows: label, columns: verdict); then every miss with its reason.
Then the online side, per part: each log streamed point by point through the pruner
(`CurveMonitor`, default settings, the log's max_steps and steps per epoch, as a sweep would run
it): the runs it stops and what stopped them, the divergences it stops, and the runs it stops that
are labelled healthy or that the offline judgment of the whole log calls healthy (both must be 0:
online must never stop what a whole-curve judgment calls healthy).
Exit status 0 always: a benchmark reports, it does not gate.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from sweeper.errors import SweeperError

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "diagnose_corpus" / "corpus.yaml"
CLASSES = ("healthy", "plateau", "staircase", "divergence", "insufficient")
PARTS = ("tune", "holdout")


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    runs = yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]
    for run in runs:
        run["file"] = str(path.parent / run["file"])
    return runs


def judge_run(run: dict[str, Any]) -> tuple[str, str]:
    """(verdict, reason) of `sweeper diagnose` on one corpus log; "error" when it cannot be read."""
    from sweeper.cli.diagnose import judge_curve
    from sweeper.logs import read_log

    try:
        curve = read_log(run["file"])
    except SweeperError as error:
        return "error", str(error)
    result = judge_curve(curve)
    return result.verdict, result.reason


def stream_run(run: dict[str, Any]) -> tuple[str, int | None]:
    """(stopped_by, step) of the pruner streaming one corpus log, ("", None) when it runs to its end."""
    from sweeper.logs import read_log
    from sweeper.rules import CurveMonitor, PrunerSettings

    try:
        curve = read_log(run["file"])
    except SweeperError:
        return "", None
    monitor = CurveMonitor(PrunerSettings(), max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)
    for point in sorted(curve.points, key=lambda p: p.step):
        if monitor.observe(point).stop:
            return monitor.stopped_by, point.step
    return "", None


def score(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per part: right / total, confusion counts, divergences missed, healthy runs flagged, misses."""
    out: dict[str, Any] = {}
    for part in PARTS:
        chosen = [r for r in runs if r["part"] == part]
        confusion: Counter[tuple[str, str]] = Counter((r["label"], r["verdict"]) for r in chosen)
        out[part] = {
            "right": sum(1 for r in chosen if r["label"] == r["verdict"]),
            "total": len(chosen),
            "confusion": confusion,
            "divergence_missed": sum(1 for r in chosen if r["label"] == "divergence" and r["verdict"] != "divergence"),
            "healthy_flagged": sum(1 for r in chosen if r["label"] == "healthy" and r["verdict"] not in ("healthy", "insufficient")),
            "misses": [r for r in chosen if r["label"] != r["verdict"]],
        }
        if all("stopped_by" in r for r in chosen):
            stopped = [r for r in chosen if r["stopped_by"]]
            out[part].update(
                online_stopped=stopped,
                online_divergence_stopped=sum(1 for r in stopped if r["label"] == "divergence"),
                online_divergences=sum(1 for r in chosen if r["label"] == "divergence"),
                online_healthy_stopped=sum(1 for r in stopped if r["label"] == "healthy"),
                online_offline_healthy_stopped=sum(1 for r in stopped if r["verdict"] == "healthy"),
            )
    return out


def markdown(scores: dict[str, Any]) -> str:
    lines = []
    for part in PARTS:
        s = scores[part]
        verdicts = [c for c in CLASSES] + sorted({v for _, v in s["confusion"]} - set(CLASSES))
        lines.append(
            f"### {part}: {s['right']}/{s['total']} right; divergences missed: {s['divergence_missed']}; "
            f"healthy runs flagged: {s['healthy_flagged']}"
        )
        lines.append("")
        lines.append("| label \\ verdict | " + " | ".join(verdicts) + " |")
        lines.append("|---|" + "---|" * len(verdicts))
        for label in CLASSES:
            row = [str(s["confusion"].get((label, v), 0) or ".") for v in verdicts]
            lines.append(f"| {label} | " + " | ".join(row) + " |")
        lines.append("")
        for run in s["misses"]:
            lines.append(f"- miss `{run['id']}`: label {run['label']} ({run['reason']}); verdict {run['verdict']}: {run['why']}")
        lines.append("")
        if "online_stopped" in s:
            lines.append(
                f"online (the pruner, streamed): {len(s['online_stopped'])} of {s['total']} runs stopped; divergences stopped: "
                f"{s['online_divergence_stopped']} of {s['online_divergences']}; stopped but labelled healthy: "
                f"{s['online_healthy_stopped']}; stopped but healthy by the offline judgment: {s['online_offline_healthy_stopped']}"
            )
            lines.append("")
            for run in s["online_stopped"]:
                lines.append(f"- stopped `{run['id']}` at step {run['stopped_at']} ({run['stopped_by']}); label {run['label']}, offline {run['verdict']}")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    runs = load_corpus(args.corpus)
    for run in runs:
        run["verdict"], run["why"] = judge_run(run)
        run["stopped_by"], run["stopped_at"] = stream_run(run)
    repos = {run["source"].split("@")[0] for run in runs}
    print(f"diagnose benchmark: {len(runs)} real runs from {len(repos)} repositories ({args.corpus})\n")
    print(markdown(score(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
