"""`sweeper diagnose PATH`: judge one training log by the shape of its raw loss curve.

Reads an HF trainer_state.json, a LLaMA-Factory trainer_log.jsonl, an ms-swift logging.jsonl, a
CSV (step,epoch,loss,...) or one trial of a sweep's curves.parquet, and prints the verdict
(divergence > staircase > plateau > healthy, or insufficient: too few points to judge) with the
evidence of every finding. The judgment is offline (sweeper.rules.judgment): it sees the whole curve
and may revise what the online rules found mid-run; on a sweep's trial it also shows what the
sweep's pruner decided online.
Only light modules are imported here: `--help` answers at once; matplotlib loads for --plot only.
"""

from __future__ import annotations

import argparse
import os
import json
import math
from typing import Any

from sweeper.errors import SweeperError

_FORMAT_NAMES = {
    "hf_trainer_state": "HF trainer_state.json",
    "hf_log_history": "HF log_history (JSON list)",
    "llamafactory_jsonl": "LLaMA-Factory trainer_log.jsonl",
    "swift_jsonl": "ms-swift logging.jsonl",
    "megatron_swift_jsonl": "Megatron-SWIFT logging.jsonl",
    "jsonl": "JSON lines",
    "console": "console log (printed dicts)",
    "csv": "CSV",
    "sweep_parquet": "sweep curves.parquet",
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "diagnose",
        help="judge one training log: divergence, staircase, plateau, healthy or insufficient",
        description=(
            "Judge one run by the shape of its own raw loss curve (label loss when logged). "
            "PATH: a trainer_state.json, trainer_log.jsonl, logging.jsonl, a CSV with step,epoch,loss "
            "columns, a run's output folder, or a sweep's results folder / curves.parquet with --trial."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the log file or folder to judge")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--plot", metavar="OUT.png", help="also write a PNG: raw loss, LLaMA-Factory's smoothed curve, eval loss, epochs, findings")
    parser.add_argument("--trial", metavar="ID", help="the trial to judge in a sweep's curves.parquet")
    parser.add_argument("--num-classes", type=int, metavar="C", help="classes of a classification target: judge the loss on [0, ln C]")
    parser.add_argument("--signal", choices=("auto", "label_loss", "loss"), default="auto",
                        help="judged value: label_loss when logged (auto, default), or always one of them")
    parser.set_defaults(func=command)
    return parser


def command(args: argparse.Namespace) -> int:
    try:
        return _judge(args)
    except SweeperError as error:
        if args.format == "json":  # a script reading stdout gets JSON either way; stderr has the line too
            print(json.dumps({"error": str(error), "path": args.path}))
        raise


def _judge(args: argparse.Namespace) -> int:
    from sweeper.logs import read_log

    if args.num_classes is not None and args.num_classes < 2:
        raise SweeperError(f"--num-classes must be >= 2, got {args.num_classes}")
    from sweeper.results.remote import readable

    with readable(args.path) as where:
        curve = read_log(str(where), trial=args.trial)
        decision = _sweep_decision(curve)
    result = judge_curve(curve, num_classes=args.num_classes, signal=args.signal)
    if args.plot:
        from sweeper.results.plots import plot_curve

        plot_curve(curve.points, args.plot, result.findings, title=f"{os.path.basename(curve.source)}: {result.verdict}")
    if args.format == "json":
        print(json.dumps(_as_json(curve, result, decision), allow_nan=False))
    else:
        print(_as_text(curve, result, args.plot, decision))
    return 0


def judge_curve(curve: Any, num_classes: int | None = None, signal: str = "auto") -> Any:
    """The offline judgment of one read log, as `diagnose` prints it (the benchmark uses it too)."""
    from sweeper.rules.judgment import judge

    return judge(curve.points, num_classes, signal=signal, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)


def _sweep_decision(curve: Any) -> dict[str, str] | None:
    """What the sweep recorded for this trial (its leaderboard row: status, verdict, reason), or None."""
    if curve.sweep_dir is None or curve.trial_id is None:
        return None
    from sweeper.results.leaderboard import read_leaderboard

    try:
        rows = read_leaderboard(os.path.join(curve.sweep_dir, "leaderboard.csv"))
    except SweeperError:
        return None  # a curves.parquet copied without its leaderboard: the judgment stands alone
    for row in rows:
        if row.get("trial_id") == curve.trial_id:
            return {key: row.get(key) or "" for key in ("status", "verdict", "reason")}
    return None


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _as_json(curve: Any, result: Any, decision: dict[str, str] | None) -> dict[str, Any]:
    return _clean(
        {
            "verdict": result.verdict,
            "findings": [f.as_dict() for f in result.findings],
            "points": result.points_count,
            "format": curve.format,
            "source": curve.source,
            "reason": result.reason,
            "notes": curve.notes,
            "sweep_decision": decision,
        }
    )


def _as_text(curve: Any, result: Any, plot: str | None, decision: dict[str, str] | None) -> str:
    epochs = [p.epoch for p in curve.points if p.epoch is not None and math.isfinite(p.epoch)]
    span = f", epochs {min(epochs):.2f}-{max(epochs):.2f}" if epochs else ", no epochs logged (no staircase judgement)"
    lines = [
        f"{curve.source}",
        f"  {_FORMAT_NAMES.get(curve.format, curve.format)}: {result.points_count} points "
        f"({curve.train_points} train, {curve.eval_points} eval), steps {curve.points[0].step}-{curve.points[-1].step}{span}",
    ]
    lines.extend(f"  note: {note}" for note in curve.notes)
    kind = result.kind
    lines.append(f"verdict: {result.verdict}" + (f" ({kind})" if kind else ""))
    if result.verdict == "insufficient":
        lines.append(f"  {result.reason}")
    elif not result.findings:
        lines.append("  no divergence, staircase or plateau found; judged on raw values, not smoothed ones")
    for finding in result.findings:
        where = f"step {finding.step}" + (f", epoch {finding.epoch:.3f}" if finding.epoch is not None and math.isfinite(finding.epoch) else "")
        lines.append(f"- {finding.verdict} ({finding.kind}) at {where}: {finding.message}")
    if decision is not None:
        lines.append(f"sweep decision (online, as the pruner saw it): {decision['status']}, {decision['verdict']}: {decision['reason']}")
    if plot:
        lines.append(f"plot: {plot}")
    return "\n".join(lines)
